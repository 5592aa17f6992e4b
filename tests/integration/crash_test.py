#!/usr/bin/python3
"""Crash test (issue 4 item 3): load, SIGKILL at random moments, restart, repeat; then prove.

    python3 tests/integration/crash_test.py --cycles 20          # the long run
    python3 tests/integration/crash_test.py --cycles 3 --clients 4 --seed 7 --keep

Each cycle starts sealpostd (or restarts it on the same state dir and ports), runs `--clients`
concurrent implicit-TLS clients on a role-mx listener (no AUTH) that send pipelined DATA or
BDAT transactions (1 to 4 chunks) with unique Message-ID / X-Crash-Id headers, bodies from a
few hundred octets to 320 KiB, half of them 8-bit, to one or both local mailboxes, and SIGKILLs
the daemon after a random delay. After the last cycle the daemon is restarted, delivery is
awaited, the daemon is stopped gracefully and started once more (a clean restart must not
redeliver), and the Maildirs are checked:

* every message that got a 250 after DATA / BDAT LAST is in every recipient's Maildir,
  byte-exact after the Received header, carrying the queue id of the 250 (`lost`, `partial`);
* no (message, recipient) has more than one file: the client sends each message once, so the
  only source of a second copy is a redelivery of the same queue id, which the queue-id based
  Maildir names must make detectable and prevent (`duplicates`, a violation, bound 0);
* a message whose connection died before the final reply is absent, or present complete and
  byte-exact (`unacked_delivered` counts these; a truncated one counts as `partial`);
* nothing is delivered that was never sent or that was answered with a 4xx/5xx (`phantom`,
  `rejected_delivered`); the daemon never dies on its own.

Prints one line `cycles=N sent=S acked=A delivered=D lost=0 partial=0 duplicates=X
unacked_delivered=U ...` and exits 1 on any violation (2 on a harness error). Every wait is
bounded; every sealpostd started is killed by PID in a finally. Importable: run_crash_test().
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
import crashlib  # noqa: E402
from crashlib import Ledger, Refused, Verdict  # noqa: E402

LISTENER = "mx_implicit"  # implicit TLS, role mx: never offers AUTH


def _client(daemon, port, context, ledger: Ledger, stop: threading.Event, rng: random.Random,
            prefix: str, opts: dict) -> None:
    seq = 0
    while not stop.is_set():
        try:
            c = crashlib.open_session(daemon, port, context)
        except Refused as e:
            ledger.protocol_error(str(e))
            time.sleep(0.05)
            continue
        except crashlib.NETWORK_ERRORS:
            time.sleep(0.02)  # daemon down (killed, restarting)
            continue
        try:
            for _ in range(rng.randint(1, opts["per_conn"])):
                if stop.is_set():
                    break
                seq += 1
                m, content = crashlib.new_message(
                    ledger, rng, f"{prefix}-{seq}", large_fraction=opts["large_fraction"],
                    bdat_fraction=opts["bdat_fraction"])
                try:
                    crashlib.send_message(c, m, content, rng)
                except Refused as e:
                    ledger.protocol_error(f"{m.cid}: {e}")
                    break
                if m.state == "rejected":
                    ledger.protocol_error(f"{m.cid}: {m.reply}")
            else:
                try:
                    c.cmd("QUIT", timeout=5)
                except crashlib.NETWORK_ERRORS:
                    pass
        except crashlib.NETWORK_ERRORS:
            pass  # the kill; the message in flight stays `unknown`
        except Exception as e:  # a malformed reply etc.: keep going, report it
            ledger.protocol_error(f"{type(e).__name__}: {e}")
        finally:
            c.close()


def _wait_quiet(daemon, want: set[tuple[str, str]], timeout: float, settle: float) -> str | None:
    """Until every wanted (cid, rcpt) has a file (bounded), then until the file count is stable
    for `settle` seconds. Returns an error text if the daemon died meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        have = set(crashlib.scan_maildirs(daemon))
        if want <= have:
            break
        if daemon.proc is None or daemon.proc.poll() is not None:
            return (f"daemon: exited ({daemon.proc.returncode}) while delivering:\n"
                    f"{daemon.log()[-3000:]}")
        time.sleep(0.2)
    last, stable_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        n = crashlib.count_files(daemon)
        if n != last:
            last, stable_since = n, time.monotonic()
        elif time.monotonic() - stable_since >= settle:
            break
        time.sleep(0.1)
    return None


def run_crash_test(daemon, *, cycles: int = 20, clients: int = 16, seed: int | None = None,
                   min_delay: float = 0.05, max_delay: float = 1.5, per_conn: int = 5,
                   large_fraction: float = 0.08, bdat_fraction: float = 0.3,
                   deliver_timeout: float = 120.0, log=print) -> Verdict:
    """Runs the cycles against `daemon` (a harness.Daemon with the mx_implicit listener, not
    started). The caller stops/kills the daemon afterwards (it is left running, or dead)."""
    seed = seed if seed is not None else random.SystemRandom().getrandbits(32)
    log(f"crash test: seed={seed} cycles={cycles} clients={clients} dir={daemon.root}")
    rng = random.Random(seed)
    ledger = Ledger()
    violations: list[str] = []
    port = daemon.ports[LISTENER]
    opts = dict(per_conn=per_conn, large_fraction=large_fraction, bdat_fraction=bdat_fraction)
    context = daemon.client_context()
    started = time.monotonic()

    def restart(when: str) -> bool:
        try:
            daemon.start()
            return True
        except harness.DaemonError as e:  # a restart that fails is a recovery bug
            violations.append(f"daemon: start failed {when}: {str(e)[-3000:]}")
            return False

    def finish() -> Verdict:
        verdict = crashlib.verify(ledger, daemon, cycles)
        verdict.violations[:0] = violations
        if verdict.acked == 0:
            verdict.violations.append("no message was acknowledged: the test proved nothing")
        verdict.notes.append(f"seed={seed} runtime={time.monotonic() - started:.1f}s")
        return verdict

    for cycle in range(cycles):
        if not restart(f"in cycle {cycle + 1}"):
            return finish()
        stop = threading.Event()
        threads = [threading.Thread(
            target=_client, name=f"crash-client-{cycle}-{i}",
            args=(daemon, port, context, ledger, stop, random.Random(rng.getrandbits(64)),
                  f"s{seed}c{cycle}k{i}", opts), daemon=True) for i in range(clients)]
        for t in threads:
            t.start()
        delay = rng.uniform(min_delay, max_delay)
        time.sleep(delay)
        if daemon.proc.poll() is not None:
            violations.append(f"daemon: exited on its own with status {daemon.proc.returncode} "
                              f"in cycle {cycle + 1}")
        daemon.kill()
        stop.set()
        for t in threads:
            t.join(timeout=30)
            if t.is_alive():
                raise harness.DaemonError(f"client thread {t.name} did not stop within 30 s")
        log(f"cycle {cycle + 1}/{cycles}: killed after {delay:.2f}s; so far "
            f"{len(ledger.msgs)} messages, {ledger.count('acked')} acked, "
            f"{ledger.count('unknown')} in flight at a kill")

    # Let everything be delivered, then a clean stop and start must not redeliver anything.
    if not restart("after the last cycle"):
        return finish()
    want = {(m.cid, r) for m in ledger.msgs.values() if m.state == "acked" for r in m.rcpts}
    if error := _wait_quiet(daemon, want, timeout=deliver_timeout, settle=1.5):
        violations.append(error)
        return finish()
    status = daemon.stop(grace=15)
    if status != 0:
        violations.append(f"daemon: graceful stop exited {status}")
    if restart("after the graceful stop"):
        if error := _wait_quiet(daemon, set(), timeout=10, settle=1.5):
            violations.append(error)
    return finish()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cycles", type=int, default=20)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--min-delay", type=float, default=0.05, help="seconds before a kill, min")
    ap.add_argument("--max-delay", type=float, default=1.5, help="seconds before a kill, max")
    ap.add_argument("--per-conn", type=int, default=5, help="messages per connection, max")
    ap.add_argument("--large-fraction", type=float, default=0.08,
                    help="share of 100-320 KiB messages")
    ap.add_argument("--bdat-fraction", type=float, default=0.3)
    ap.add_argument("--threads", type=int, default=2, help="sealpostd event loops")
    ap.add_argument("--dir", type=Path, default=None, help="work directory (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory on success")
    args = ap.parse_args(argv)

    if not harness.SEALPOSTD.exists():
        print(f"{harness.SEALPOSTD} is missing: build sealpostd or set SEALPOST_BUILD_DIR",
              file=sys.stderr)
        return 2
    work = args.dir or Path(tempfile.mkdtemp(prefix="sealpost-crash-"))
    work.mkdir(parents=True, exist_ok=True)
    daemon = None
    verdict = None
    # SIGTERM/SIGINT of this script: unwind through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
    try:
        pki = harness.make_pki(work / "pki")
        daemon = harness.Daemon(work / "daemon", pki, threads=args.threads,
                                extra_listeners=[LISTENER])
        verdict = run_crash_test(
            daemon, cycles=args.cycles, clients=args.clients, seed=args.seed,
            min_delay=args.min_delay, max_delay=args.max_delay, per_conn=args.per_conn,
            large_fraction=args.large_fraction, bdat_fraction=args.bdat_fraction,
            log=lambda s: print(s, file=sys.stderr, flush=True))
    except harness.DaemonError as e:
        print(f"harness error: {e}", file=sys.stderr)
        return 2
    finally:
        if daemon is not None:
            daemon.kill()
        harness.kill_all_tracked()
        if verdict is not None:
            for note in verdict.notes:
                print(f"note: {note}", file=sys.stderr)
            for v in verdict.violations:
                print(f"VIOLATION {v}", file=sys.stderr)
            print(verdict.line(), flush=True)
        if verdict is not None and verdict.ok and not args.keep and args.dir is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work directory kept: {work} (daemon log: "
                  f"{work / 'daemon' / 'sealpostd.log'})", file=sys.stderr)
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
