#!/usr/bin/env python3
"""Server memory per idle TLS session (issue 4 target: < 32 KiB each at 10,000 sessions).

Starts sealpostd (and, with --postfix, nothing else: Postfix's figure is measured by run.sh's
instance if wanted) on free loopback ports with an implicit-TLS role-mx listener, opens N TLS
sessions that each read the greeting and send EHLO, keeps them all open and idle, and reports
the daemon's memory (RSS and PSS from /proc/PID/smaps_rollup) before and after, per session.

    sudo bench/idle_sessions.py --build build-bench-release -n 10000

Needs: the sealpostd binary, openssl CLI. Raises RLIMIT_NOFILE for itself and the daemon.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory_kib(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        parts = line.split()
        if parts and parts[0] in ("Rss:", "Pss:", "Private_Dirty:", "Anonymous:"):
            out[parts[0].rstrip(":").lower()] = int(parts[1])
    return out


def make_pki(d: Path) -> tuple[Path, Path]:
    key, cert = d / "server.key", d / "server.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=mail.bench.test",
                    "-addext", "subjectAltName=DNS:mail.bench.test,IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=30)
    return cert, key


def read_reply(sock: ssl.SSLSocket, deadline: float) -> bytes:
    """Reads one (possibly multiline) SMTP reply."""
    data = b""
    while True:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("server closed the connection")
        data += chunk
        lines = data.split(b"\r\n")
        for line in lines[:-1]:
            if len(line) >= 4 and line[3:4] == b" ":
                return data


def open_session(port: int, ctx: ssl.SSLContext) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s = ctx.wrap_socket(raw, server_hostname="mail.bench.test")
    deadline = time.monotonic() + 30
    if not read_reply(s, deadline).startswith(b"220"):
        raise RuntimeError("no 220 greeting")
    s.sendall(b"EHLO idle.bench.test\r\n")
    if not read_reply(s, deadline).startswith(b"250"):
        raise RuntimeError("EHLO refused")
    return s


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--sessions", type=int, default=10000)
    ap.add_argument("--build", default=os.environ.get("SEALPOST_BUILD_DIR", "build"))
    ap.add_argument("--threads", type=int, default=0, help="sealpostd event loops (0 = per core)")
    ap.add_argument("--settle", type=float, default=2.0, help="seconds idle before measuring")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    want = args.sessions + 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
        except (ValueError, PermissionError):
            sys.exit(f"RLIMIT_NOFILE hard limit {hard} < {want}: run as root or lower -n")
    else:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))

    sealpostd = Path(args.build).resolve() / "src" / "daemon" / "sealpostd"
    work = Path(tempfile.mkdtemp(prefix="sealpost-idle-"))
    cert, key = make_pki(work)
    port = free_port()
    config = work / "sealpost.toml"
    config.write_text(f"""hostname = "mail.bench.test"
state_dir = "{work / 'state'}"
threads = {args.threads}
log_level = "warn"

[pki.main]
cert = "{cert}"
key = "{key}"

[[listen]]
address = "127.0.0.1:{port}"
tls = "implicit"
role = "mx"
pki = ["main"]

[domains]
local = ["bench.test"]

[limits]
max_connections = {args.sessions + 100}
max_connections_per_ip = {args.sessions + 100}
idle_timeout = 600
""")
    log = open(work / "sealpostd.log", "wb")
    daemon = subprocess.Popen([str(sealpostd), "--config", str(config)], stdout=log,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    sessions: list[ssl.SSLSocket] = []
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or daemon.poll() is not None:
                    sys.exit(f"sealpostd did not start; see {work}/sealpostd.log")
                time.sleep(0.05)

        ctx = ssl.create_default_context(cafile=str(cert))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        # Warm up: the first sessions allocate per-thread buffers and OpenSSL's tables, which
        # are not per-session costs.
        warm = [open_session(port, ctx) for _ in range(32)]
        for s in warm:
            s.close()
        time.sleep(args.settle)
        before = memory_kib(daemon.pid)

        started = time.monotonic()
        for i in range(args.sessions):
            sessions.append(open_session(port, ctx))
        opened = time.monotonic() - started
        time.sleep(args.settle)
        after = memory_kib(daemon.pid)
        alive = sum(1 for s in sessions if s.fileno() >= 0)
        fds = len(os.listdir(f"/proc/{daemon.pid}/fd"))
        result = {
            "sessions": args.sessions,
            "open_seconds": round(opened, 1),
            "daemon_fds": fds,
            "rss_before_kib": before["rss"],
            "rss_after_kib": after["rss"],
            "pss_before_kib": before["pss"],
            "pss_after_kib": after["pss"],
            "rss_per_session_kib": round((after["rss"] - before["rss"]) / args.sessions, 2),
            "pss_per_session_kib": round((after["pss"] - before["pss"]) / args.sessions, 2),
            "pss_total_per_session_kib": round(after["pss"] / args.sessions, 2),
            "client_sessions_open": alive,
        }
        if args.json:
            print(json.dumps(result))
        else:
            print(" ".join(f"{k}={v}" for k, v in result.items()))
        return 0
    finally:
        for s in sessions:
            try:
                s.close()
            except OSError:
                pass
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=20)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()


if __name__ == "__main__":
    sys.exit(main())
