"""Helpers for testing sealpostd's remote delivery end to end (test_19_daemon_remote.py).

- `Receiver`: an aiosmtpd handler that keeps every message (envelope, exact bytes, TLS or not)
  and answers RCPT from a per-address script ("451 once, then accept"), logging every RCPT;
- `start_receiver`: an aiosmtpd Controller with STARTTLS on a given loopback address and port,
  counting TCP connections (a STARTTLS upgrade is not a new one) into `Receiver.connections`
  and their ends into `Receiver.disconnects`;
- `StripProxy`: a TCP proxy that deletes STARTTLS from the server's EHLO reply (the downgrade
  attack RFC 3207 §6 and RFC 7672 §1.3 are about) and records what the client sent;
- `queue_listing`: `sealpost queue list --json`, parsed.

test_16_remote.py has the DNSSEC lab fixture and a receiver for the remote_deliver_probe; its
`spki_sha256` is reused from there. Its Collector is not: the daemon's retries need a receiver
whose answers change between attempts, and that records RCPT commands as well as messages.
Mail is submitted with `harness.submit` (smtplib over implicit TLS with AUTH PLAIN).
"""

from __future__ import annotations

import json
import re
import select
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import harness

try:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP
except ImportError:  # pragma: no cover - the test module skips itself
    Controller = SMTP = None


# --------------------------------------------------------------------------------------------
# Receiving side


@dataclass
class Received:
    mail_from: str
    rcpts: list[str]
    content: bytes  # exactly what arrived after DATA (dot-unstuffed, CRLF kept)
    tls: bool
    helo: str


@dataclass
class Receiver:
    """aiosmtpd handler. `script[address]` is a list of RCPT replies used in turn, the last one
    sticky; "250" accepts. Addresses without a script are accepted. Thread-safe enough for
    reading from the test thread: lists are only appended to."""

    script: dict[str, list[str]] = field(default_factory=dict)
    messages: list[Received] = field(default_factory=list)
    rcpt_log: list[tuple[str, str, str]] = field(default_factory=list)  # (rcpt, reply, from)
    ehlos: int = 0
    connections: int = 0  # TCP connections accepted (start_receiver counts them)
    disconnects: int = 0  # ... and closed
    quits: int = 0

    def expect(self, address: str, *replies: str) -> None:
        self.script[address.lower()] = list(replies)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.ehlos += 1
        session.host_name = hostname
        return responses

    async def handle_QUIT(self, server, session, envelope):
        self.quits += 1
        return "221 2.0.0 Bye"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        replies = self.script.get(address.lower())
        reply = "250 2.1.5 OK"
        if replies:
            reply = replies.pop(0) if len(replies) > 1 else replies[0]
            if reply == "250":
                reply = "250 2.1.5 OK"
        self.rcpt_log.append((address, reply, envelope.mail_from))
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                      bytes(envelope.original_content), session.ssl is not None,
                                      session.host_name or ""))
        return "250 2.0.0 queued"

    def to(self, rcpt: str) -> list[Received]:
        """Every message that was accepted for rcpt."""
        return [m for m in self.messages if rcpt in m.rcpts]

    def rcpts_tried(self, rcpt: str) -> list[str]:
        """The replies given to each RCPT TO:<rcpt>, in order."""
        return [reply for address, reply, _ in self.rcpt_log if address.lower() == rcpt.lower()]

    def senders_for(self, rcpt: str) -> list[str]:
        """The MAIL FROM of each transaction that tried RCPT TO:<rcpt>, in order."""
        return [sender for address, _, sender in self.rcpt_log
                if address.lower() == rcpt.lower()]

    def wait_for(self, rcpt: str, count: int = 1, timeout: float = 30.0,
                 log=lambda: "") -> list[Received]:
        deadline = time.monotonic() + timeout
        while True:
            got = self.to(rcpt)
            if len(got) >= count:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"{rcpt}: {len(got)} message(s) received, wanted {count} "
                                     f"within {timeout}s\n{log()}")
            time.sleep(0.05)


if SMTP is not None:
    class _CountingSMTP(SMTP):
        def connection_made(self, transport):
            if self._original_transport is None:  # a new TCP connection, not the TLS upgrade
                self.event_handler.connections += 1
            super().connection_made(transport)

        def connection_lost(self, error):
            if not getattr(self, "_counted_lost", False):
                self._counted_lost = True
                self.event_handler.disconnects += 1
            super().connection_lost(error)

    class _CountingController(Controller):
        def factory(self):
            return _CountingSMTP(self.handler, **self.SMTP_kwargs)


def start_receiver(handler: Receiver, host: str, port: int, tls_context: ssl.SSLContext | None,
                   name: str, **smtp_kwargs):
    """An aiosmtpd Controller on host:port (STARTTLS offered when tls_context is given);
    smtp_kwargs go to aiosmtpd's SMTP (timeout=N: close a connection idle for N seconds)."""
    kw = {"tls_context": tls_context, "require_starttls": False} if tls_context else {}
    ctl = _CountingController(handler, hostname=host, port=port, server_hostname=name,
                              ready_timeout=30, **kw, **smtp_kwargs)
    ctl.start()
    return ctl


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


# --------------------------------------------------------------------------------------------
# STARTTLS stripping


class StripProxy:
    """Listens on (host, port) and relays every connection to upstream, removing the STARTTLS
    line from every multi-line 250 reply (the EHLO reply) and fixing up the continuation marks.
    Anything the client sends passes unchanged and is recorded in `client_bytes`."""

    def __init__(self, host: str, port: int, upstream: tuple[str, int]):
        self.upstream = upstream
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, port))
        self.listener.listen(16)
        self.listener.settimeout(0.2)
        self.connections = 0
        self.client_bytes = b""
        self.stripped = 0  # EHLO replies that lost their STARTTLS line
        self._stop = threading.Event()
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            t = threading.Thread(target=self._relay, args=(client,), daemon=True)
            t.start()
            self._threads.append(t)

    def _relay(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            client.close()
            return
        with self._lock:
            self._socks += [client, server]
        from_server = b""
        deadline = time.monotonic() + 120  # bounded: no connection outlives a test
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                ready, _, _ = select.select([client, server], [], [], 0.2)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    if s is client:
                        self.client_bytes += data
                        server.sendall(data)
                    else:
                        from_server += data
                        out, from_server = self._filter(from_server)
                        client.sendall(out)
        except OSError:
            return
        finally:
            client.close()
            server.close()

    def _filter(self, buf: bytes) -> tuple[bytes, bytes]:
        """Complete replies out of buf, STARTTLS removed; the incomplete rest stays."""
        out = b""
        while True:
            lines, pos, done = [], 0, False
            while True:
                end = buf.find(b"\r\n", pos)
                if end < 0:
                    break
                lines.append(buf[pos:end])
                pos = end + 2
                if len(lines[-1]) < 4 or lines[-1][3:4] != b"-":
                    done = True
                    break
            if not done:
                return out, buf
            buf = buf[pos:]
            kept = [l for l in lines if l[4:].strip().upper() != b"STARTTLS"]
            if len(kept) != len(lines):
                self.stripped += 1
            for i, line in enumerate(kept):
                mark = b" " if i == len(kept) - 1 else b"-"
                out += line[:3] + mark + line[4:] + b"\r\n"

    def stop(self) -> None:
        self._stop.set()
        self.listener.close()
        with self._lock:
            for s in self._socks:
                try:
                    s.close()
                except OSError:
                    pass
        for t in self._threads:
            t.join(timeout=5)


# --------------------------------------------------------------------------------------------
# Looking at the queue


def queue_listing(daemon: "harness.Daemon") -> dict[str, dict]:
    """`sealpost queue list --json` through the control socket: queue id -> message object."""
    r = daemon.sealpost("queue", "list", "--json")
    objects = [json.loads(line) for line in r.stdout.decode().splitlines() if line.strip()]
    return {m["queue_id"]: m for m in objects}


def log_lines(daemon: "harness.Daemon", pattern: str) -> list[str]:
    rx = re.compile(pattern)
    return [line for line in daemon.log().splitlines() if rx.search(line)]
