"""Disk full (issue 4 item 4): the spool cannot be written.

The daemon's state dir (which holds the spool, <state_dir>/spool) is a small tmpfs mounted
before the daemon starts; the Maildirs live outside it, so only accepting is affected. A filler
file takes the space. Then:

* a message (DATA or BDAT) gets `452 4.3.1`, the session and new connections keep working, the
  log names the error, and nothing of it is ever delivered (not after the space returns, not
  after a SIGKILL and restart that runs recovery);
* once the filler is removed the next message is accepted with 250 and delivered byte-exact;
* variant: 1 MiB left, a 2 MiB message arrives: 452 4.3.1 again, and the partial write does
  not stay behind on the file system (the free space comes back).

Needs root (mount); skips with the reason otherwise. The tmpfs is unmounted by path in the
teardown, after the daemon is stopped, whatever happened.
"""

from __future__ import annotations

import errno
import os
import re
import time
from pathlib import Path

import pytest

import harness
from crashlib import make_content
from harness import RawSMTP, dot_stuff, queue_id_of, split_received

MiB = 1 << 20
KiB = 1 << 10
TMPFS_SIZE = 8 * MiB
LISTENER = "mx_implicit"  # implicit TLS, role mx (no AUTH)
RCPT = "demo@localhost"
NO_SPACE_LOG = r"No space left on device|ENOSPC"


def _mounted(path: Path) -> bool:
    target = str(path.resolve())
    with open("/proc/self/mounts", encoding="utf-8") as f:
        return any(line.split()[1] == target for line in f)


@pytest.fixture
def tmpfs_daemon(make_daemon, tmp_path):
    """A daemon (not started) whose state dir is a fresh TMPFS_SIZE tmpfs."""
    if os.geteuid() != 0:
        pytest.skip("disk-full tests mount a tmpfs and need root")
    daemon = make_daemon(extra_listeners=[LISTENER], start=False,
                         mailboxes=[(RCPT, tmp_path / "maildirs" / "demo")])
    state = daemon.state_dir
    state.mkdir(parents=True, exist_ok=True)
    result = harness.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0700",
                          "sealpost-diskfull", str(state)], check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs at {state}: "
                    f"{result.stderr.decode(errors='replace').strip()}")
    try:
        yield daemon
    finally:
        daemon.kill()  # nothing may hold the mount busy
        if _mounted(state):
            r = harness.run(["umount", str(state)], check=False)
            if r.returncode != 0:
                harness.run(["umount", "-l", str(state)], check=False)
        assert not _mounted(state), f"{state} is still mounted"


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(directory: Path) -> Path:
    """Writes directory/filler until ENOSPC; returns its path."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (256 * KiB, 4 * KiB, 512, 1):
            block = b"\0" * size
            while True:
                try:
                    written = os.write(fd, block)
                except OSError as e:
                    assert e.errno == errno.ENOSPC, e
                    break
                if written < size:
                    break
        os.fsync(fd)
    finally:
        os.close(fd)
    assert free_bytes(directory) < 8 * KiB, free_bytes(directory)
    return filler


def leave_free(filler: Path, amount: int) -> None:
    """Shrinks the filler so that about `amount` octets are free."""
    os.truncate(filler, max(filler.stat().st_size - amount, 0))


def connect(daemon) -> RawSMTP:
    c = RawSMTP.implicit(daemon, port=daemon.ports[LISTENER], timeout=20)
    assert c.reply().code == 220
    c.ehlo()
    return c


def message(name: str, size: int) -> bytes:
    return make_content(name, seed=len(name) * 7919 + size, size=size, eight_bit=True)


def transact(c: RawSMTP, msg: bytes, method: str, chunk: int = 512 * KiB) -> list[harness.Reply]:
    """MAIL, RCPT, then DATA or BDAT chunks; returns the replies after the envelope (the DATA
    final reply, or one reply per chunk). The envelope must be accepted."""
    r = c.cmd(f"MAIL FROM:<sender@example.org> SIZE={len(msg)} BODY=8BITMIME")
    assert r.code == 250, str(r)
    r = c.cmd(f"RCPT TO:<{RCPT}>")
    assert r.code == 250, str(r)
    if method == "data":
        r = c.cmd("DATA")
        assert r.code == 354, str(r)
        c.send(dot_stuff(msg) + b".\r\n")
        return [c.reply()]
    pieces = [msg[i:i + chunk] for i in range(0, len(msg), chunk)]
    wire = b"".join(f"BDAT {len(p)}{' LAST' if i == len(pieces) - 1 else ''}\r\n".encode() + p
                    for i, p in enumerate(pieces))
    c.send(wire)
    return [c.reply() for _ in pieces]


def assert_storage_refusal(replies: list[harness.Reply], daemon) -> None:
    """The transaction failed with 452 4.3.1 (ENOSPC); no chunk after that was accepted."""
    codes = [(r.code, r.lines[-1].split(" ")[0]) for r in replies]
    first_bad = next((i for i, r in enumerate(replies) if r.code != 250), None)
    assert first_bad is not None, f"accepted on a full spool: {codes}\n{daemon.log()[-3000:]}"
    assert codes[first_bad] == (452, "4.3.1"), f"{codes}\n{daemon.log()[-3000:]}"
    assert all(r.code != 250 for r in replies[first_bad:]), codes


def send_ok(daemon, msg: bytes, method: str) -> str:
    with connect(daemon) as c:
        replies = transact(c, msg, method)
        assert all(r.code == 250 for r in replies), [str(r) for r in replies]
        return queue_id_of(replies[-1].text)


def assert_maildir(daemon, expected: dict[str, bytes], settle: float = 1.0) -> None:
    """The Maildir holds exactly the expected messages (queue id -> content), once each."""
    daemon.wait_for_maildir(RCPT, len(expected), timeout=20)
    time.sleep(settle)
    files = daemon.maildir_files(RCPT)
    got = {}
    for path in files:
        header, body = split_received(path.read_bytes())
        qid = re.search(r" id ([0-9A-F]+)", header).group(1)
        assert qid not in got, f"two files for {qid}: {[p.name for p in files]}"
        assert f".Q{qid}R0." in path.name, path.name
        got[qid] = body
    assert set(got) == set(expected), (sorted(got), sorted(expected), daemon.log()[-3000:])
    for qid, body in expected.items():
        assert got[qid] == body, f"{qid}: delivered {len(got[qid])} octets, sent {len(body)}"


@pytest.mark.parametrize("method", ["data", "bdat"])
def test_full_spool_refuses_with_452_and_recovers(tmpfs_daemon, method):
    daemon = tmpfs_daemon
    daemon.start()
    first = message(f"before-{method}", 2 * KiB)
    delivered = {send_ok(daemon, first, method): first}
    daemon.wait_for_maildir(RCPT, 1)

    filler = fill(daemon.state_dir)
    refused = message(f"refused-{method}", 3 * KiB)
    with connect(daemon) as c:
        assert_storage_refusal(transact(c, refused, method), daemon)
        # The same session goes on: the transaction was reset, not the connection.
        assert c.cmd("RSET").code == 250
        assert c.cmd("NOOP").code == 250
        assert_storage_refusal(transact(c, refused, method), daemon)
    daemon.wait_for_log(NO_SPACE_LOG)
    assert daemon.proc.poll() is None, daemon.log()
    with connect(daemon) as c:  # and new connections too
        assert c.cmd("NOOP").code == 250
        assert_storage_refusal(transact(c, refused, method), daemon)

    filler.unlink()
    after = message(f"after-{method}", 2 * KiB)
    delivered[send_ok(daemon, after, method)] = after
    assert_maildir(daemon, delivered)

    # Recovery after a SIGKILL must not find anything of the refused message either.
    daemon.kill()
    daemon.start()
    assert_maildir(daemon, delivered)


@pytest.mark.parametrize("method", ["data", "bdat"])
def test_space_runs_out_mid_message(tmpfs_daemon, method):
    daemon = tmpfs_daemon
    daemon.start()
    small = message(f"small-{method}", 2 * KiB)
    delivered = {send_ok(daemon, small, method): small}

    filler = fill(daemon.state_dir)
    leave_free(filler, 1 * MiB)
    before = free_bytes(daemon.state_dir)
    assert before >= 900 * KiB, before
    big = message(f"big-{method}", 2 * MiB)
    with connect(daemon) as c:
        assert_storage_refusal(transact(c, big, method), daemon)
        assert c.cmd("NOOP").code == 250
    daemon.wait_for_log(NO_SPACE_LOG)
    assert daemon.proc.poll() is None, daemon.log()
    # The partial write does not stay behind: (almost) all of the 1 MiB is free again.
    deadline = time.monotonic() + 5
    while free_bytes(daemon.state_dir) < before - 128 * KiB and time.monotonic() < deadline:
        time.sleep(0.1)
    assert free_bytes(daemon.state_dir) >= before - 128 * KiB, (
        f"free before the 2 MiB message: {before}, after its refusal: "
        f"{free_bytes(daemon.state_dir)}: the partial write stayed on disk")

    # What still fits is accepted while the disk is nearly full.
    fits = message(f"fits-{method}", 4 * KiB)
    delivered[send_ok(daemon, fits, method)] = fits

    filler.unlink()
    delivered[send_ok(daemon, big, method)] = big
    assert_maildir(daemon, delivered)

    daemon.kill()
    daemon.start()
    assert_maildir(daemon, delivered)
