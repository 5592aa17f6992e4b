"""Helpers for the crash and disk-full tests (crash_test.py, test_07_crash.py, test_09_disk_full.py).

Black-box: everything goes through the wire (implicit TLS, role mx: no AUTH) and the Maildirs.

* `make_content(seed, size, eight_bit)`: a deterministic message (headers with a unique
  Message-ID and X-Crash-Id, CRLF lines <= 998 octets, no bare CR/LF, no NUL, some lines that
  start with "." to exercise dot-stuffing, optionally 8-bit octets). Only (seed, size, eight_bit)
  and a SHA-256 are kept per message, so a long run does not hold every body in memory.
* `Ledger`: what every client saw for every message: `unsent` (no body octet written),
  `unknown` (body written, no final reply: the connection died), `acked` (250 with a queue id),
  `rejected` (any other final reply).
* `send_message(client, msg, method)`: one pipelined transaction (MAIL+RCPT+DATA, or
  MAIL+RCPT+BDAT chunks ... LAST in one write), recording the state transitions in the ledger.
* `verify(ledger, daemon)`: reads the Maildirs and proves the crash-safety properties; returns a
  `Verdict` with the counts and every violation spelled out.
"""

from __future__ import annotations

import hashlib
import random
import re
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

import harness
from harness import RawSMTP, dot_stuff, queue_id_of

RCPTS = ["demo@localhost", "user@mail.test"]
CRASH_DOMAIN = "crash.test"

# Body octets: printable ASCII, TAB and all 8-bit octets; never CR, LF or NUL.
_ALLOWED_8BIT = bytes([9]) + bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100))
_ALLOWED_7BIT = bytes([9]) + bytes(range(0x20, 0x7F))
_TABLE_8BIT = bytes(_ALLOWED_8BIT[i % len(_ALLOWED_8BIT)] for i in range(256))
_TABLE_7BIT = bytes(_ALLOWED_7BIT[i % len(_ALLOWED_7BIT)] for i in range(256))

NETWORK_ERRORS = (OSError, EOFError, ssl.SSLError, TimeoutError)


def make_content(cid: str, seed: int, size: int, eight_bit: bool) -> bytes:
    """A complete message of about `size` octets, deterministic in (cid, seed, size, eight_bit)."""
    rng = random.Random(seed)
    header = (
        f"From: Crash Client <crash@example.org>\r\n"
        f"To: <demo@localhost>\r\n"
        f"Subject: crash test {cid}\r\n"
        f"Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n"
        f"Message-ID: <{cid}@{CRASH_DOMAIN}>\r\n"
        f"X-Crash-Id: {cid}\r\n"
        f"MIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: {'8bit' if eight_bit else '7bit'}\r\n"
        f"\r\n").encode()
    want = max(size - len(header), 2)
    raw = rng.randbytes(want).translate(_TABLE_8BIT if eight_bit else _TABLE_7BIT)
    lines = []
    pos = 0
    while pos < len(raw):
        # Mostly short lines, some long ones (up to 990), some empty, some starting with ".".
        r = rng.random()
        n = rng.randint(0, 78) if r < 0.85 else rng.randint(79, 990)
        line = raw[pos:pos + n]
        pos += max(n, 1) if n else 1
        if rng.random() < 0.03:
            line = b"." + line[:989]
        lines.append(line)
    if rng.random() < 0.1:
        lines.append(b".")  # a lone dot line: must be stuffed, never end the DATA early
    return header + b"\r\n".join(lines) + b"\r\n"


@dataclass
class Msg:
    cid: str
    seed: int
    size: int
    eight_bit: bool
    rcpts: list[str]
    method: str  # "data" or "bdat"
    digest: bytes = b""
    length: int = 0
    state: str = "unsent"  # unsent | unknown | acked | rejected
    qid: str | None = None
    reply: str = ""

    def content(self) -> bytes:
        return make_content(self.cid, self.seed, self.size, self.eight_bit)


class Ledger:
    """Thread-safe record of every message a client generated."""

    def __init__(self):
        self.lock = threading.Lock()
        self.msgs: dict[str, Msg] = {}
        self.protocol_errors: list[str] = []  # unexpected replies while the daemon was up

    def add(self, m: Msg) -> None:
        with self.lock:
            assert m.cid not in self.msgs, m.cid
            self.msgs[m.cid] = m

    def protocol_error(self, text: str) -> None:
        with self.lock:
            self.protocol_errors.append(text)

    def count(self, state: str) -> int:
        with self.lock:
            return sum(m.state == state for m in self.msgs.values())


def new_message(ledger: Ledger, rng: random.Random, cid: str, *, large_fraction: float,
                bdat_fraction: float, large_range=(100 * 1024, 1536 * 1024)) -> tuple[Msg, bytes]:
    """Picks a size, recipients, 7/8-bit and DATA/BDAT; registers the message; returns it and
    its content. Large sizes straddle the spool's 1 MiB spill threshold: inline and spilled."""
    if rng.random() < large_fraction:
        size = rng.randint(*large_range)
    else:
        size = rng.choice([rng.randint(300, 1500), rng.randint(1500, 8000),
                           rng.randint(8000, 40000)])
    r = rng.random()
    rcpts = [RCPTS[0]] if r < 0.5 else [RCPTS[1]] if r < 0.8 else list(RCPTS)
    m = Msg(cid=cid, seed=rng.getrandbits(64), size=size, eight_bit=rng.random() < 0.5,
            rcpts=rcpts, method="bdat" if rng.random() < bdat_fraction else "data")
    content = m.content()
    m.digest = hashlib.sha256(content).digest()
    m.length = len(content)
    ledger.add(m)
    return m, content


class Refused(Exception):
    """MAIL/RCPT/DATA not accepted before any body octet was sent (not a crash artefact)."""


def send_message(c: RawSMTP, m: Msg, content: bytes, rng: random.Random,
                 timeout: float = 15.0) -> None:
    """One pipelined transaction; m.state moves unsent -> unknown -> acked|rejected.

    Network errors propagate (m.state stays `unknown` once a body octet may have gone out)."""
    mail = f"MAIL FROM:<crash@example.org> SIZE={len(content)}"
    if m.eight_bit:
        mail += " BODY=8BITMIME"
    envelope = "".join(f"{line}\r\n" for line in [mail] + [f"RCPT TO:<{r}>" for r in m.rcpts])
    if m.method == "data":
        c.send(envelope.encode() + b"DATA\r\n")
        replies = [c.reply(timeout) for _ in range(2 + len(m.rcpts))]
        if [r.code for r in replies] != [250] * (1 + len(m.rcpts)) + [354]:
            if replies[-1].code == 354:  # cannot happen without a recipient; end it cleanly
                c.send(b".\r\n")
                c.reply(timeout)
            raise Refused(" / ".join(str(r).strip() for r in replies))
        m.state = "unknown"
        c.send(dot_stuff(content) + b".\r\n")
        final = c.reply(timeout)
    else:
        # 1 to 4 chunks, everything pipelined in one write after the envelope.
        n_chunks = rng.randint(1, 4)
        cuts = sorted(rng.sample(range(1, len(content)), min(n_chunks - 1, len(content) - 1)))
        bounds = [0] + cuts + [len(content)]
        wire = envelope.encode()
        for i in range(len(bounds) - 1):
            chunk = content[bounds[i]:bounds[i + 1]]
            last = " LAST" if i == len(bounds) - 2 else ""
            wire += f"BDAT {len(chunk)}{last}\r\n".encode() + chunk
        m.state = "unknown"
        c.send(wire)
        replies = [c.reply(timeout) for _ in range(1 + len(m.rcpts))]
        chunk_replies = [c.reply(timeout) for _ in range(len(bounds) - 1)]
        final = chunk_replies[-1]
        if [r.code for r in replies] != [250] * (1 + len(m.rcpts)):
            m.state = "rejected"
            m.reply = " / ".join(str(r).strip() for r in replies + chunk_replies)
            raise Refused(m.reply)
        for r in chunk_replies[:-1]:
            if r.code != 250:
                m.state = "rejected"
                m.reply = str(r).strip()
                raise Refused(m.reply)
    m.reply = str(final).strip()
    if final.code == 250:
        m.qid = queue_id_of(final.text)
        m.state = "acked"
    else:
        m.state = "rejected"


def open_session(daemon, port: int, context: ssl.SSLContext, timeout: float = 10.0) -> RawSMTP:
    c = RawSMTP.implicit(daemon, port=port, timeout=timeout, context=context)
    try:
        r = c.reply()
        if r.code != 220:
            raise Refused(f"greeting {str(r).strip()}")
        c.ehlo("crash-client.example")
    except BaseException:
        c.close()
        raise
    return c


# --------------------------------------------------------------------------------------------
# Verification

RECEIVED_ID_RX = re.compile(r" id ([0-9A-F]+)")
CRASH_ID_RX = re.compile(rb"^X-Crash-Id: (\S+)\r$", re.M)


@dataclass
class Verdict:
    cycles: int = 0
    sent: int = 0  # at least one body octet written
    acked: int = 0
    delivered: int = 0  # distinct messages found in a Maildir (acked or not)
    lost: int = 0  # acked, but a recipient has no copy
    partial: int = 0  # a Maildir file that is not byte-exact what was sent
    duplicates: int = 0  # extra copies of one (message, recipient)
    unacked_delivered: int = 0  # no 250 seen (connection died), delivered complete: allowed
    rejected: int = 0
    rejected_delivered: int = 0
    phantom: int = 0  # a file for a message never sent
    unknown: int = 0
    files: int = 0
    violations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"cycles={self.cycles} sent={self.sent} acked={self.acked} "
                f"delivered={self.delivered} lost={self.lost} partial={self.partial} "
                f"duplicates={self.duplicates} unacked_delivered={self.unacked_delivered} "
                f"unknown={self.unknown} rejected={self.rejected} "
                f"rejected_delivered={self.rejected_delivered} phantom={self.phantom} "
                f"files={self.files}")

    @property
    def ok(self) -> bool:
        return not self.violations


def _describe_mismatch(expected: bytes, got: bytes) -> str:
    n = min(len(expected), len(got))
    first = next((i for i in range(n) if expected[i] != got[i]), n)
    kind = ("truncated prefix" if got == expected[:len(got)] else
            "extended" if got[:len(expected)] == expected else "differs")
    return (f"{kind}: expected {len(expected)} octets, got {len(got)}, first difference at "
            f"{first}: expected {expected[first:first + 40]!r} got {got[first:first + 40]!r}")


def scan_maildirs(daemon) -> dict[tuple[str, str], list[tuple[Path, bytes]]]:
    """(crash id or '?<file>', recipient) -> [(path, file bytes)] over every Maildir."""
    found: dict[tuple[str, str], list[tuple[Path, bytes]]] = {}
    for rcpt in RCPTS:
        for path in daemon.maildir_files(rcpt):
            data = path.read_bytes()
            head = data.split(b"\r\n\r\n", 1)[0]
            m = CRASH_ID_RX.search(head)
            cid = m.group(1).decode("ascii", errors="replace") if m else f"?{path.name}"
            found.setdefault((cid, rcpt), []).append((path, data))
    return found


def count_files(daemon) -> int:
    return sum(len(daemon.maildir_files(r)) for r in RCPTS)


def verify(ledger: Ledger, daemon, cycles: int) -> Verdict:
    v = Verdict(cycles=cycles)
    found = scan_maildirs(daemon)
    v.files = sum(len(x) for x in found.values())
    msgs = ledger.msgs
    v.sent = sum(m.state != "unsent" for m in msgs.values())
    v.acked = sum(m.state == "acked" for m in msgs.values())
    v.unknown = sum(m.state == "unknown" for m in msgs.values())
    v.rejected = sum(m.state == "rejected" for m in msgs.values())

    def bad(kind: str, text: str) -> None:
        if sum(x.startswith(kind) for x in v.violations) < 50:
            v.violations.append(f"{kind}: {text}")

    # Files that belong to no message of ours.
    for (cid, rcpt), copies in found.items():
        if cid not in msgs or rcpt not in msgs[cid].rcpts or msgs[cid].state == "unsent":
            v.phantom += len(copies)
            for path, data in copies:
                bad("phantom", f"{path} ({len(data)} octets) was never sent to {rcpt}: "
                    f"{data[:300]!r}")

    for m in msgs.values():
        copies_by_rcpt = {r: found.get((m.cid, r), []) for r in m.rcpts}
        if not any(copies_by_rcpt.values()):
            if m.state == "acked":
                v.lost += 1
                bad("lost", f"{m.cid} acked as {m.qid} ({m.length} octets, {m.method}, "
                    f"rcpts {m.rcpts}) never delivered")
            continue
        if m.state == "unsent":
            continue  # counted as phantom above
        v.delivered += 1
        if m.state == "unknown":
            v.unacked_delivered += 1
        if m.state == "rejected":
            v.rejected_delivered += 1
            bad("rejected_delivered", f"{m.cid} got '{m.reply}' but was delivered")
        expected = None
        qids = set()
        for rcpt, copies in copies_by_rcpt.items():
            if not copies:
                # Delivered to one recipient, not another: the message was committed, so the
                # missing copy is lost, acked or not.
                v.lost += 1
                bad("lost", f"{m.cid} ({m.state}, queue id {m.qid}) delivered to some "
                    f"recipients but not to {rcpt}")
                continue
            if len(copies) > 1:
                v.duplicates += len(copies) - 1
                bad("duplicate", f"{m.cid} to {rcpt}: {len(copies)} copies: "
                    f"{[p.name for p, _ in copies]}")
            for path, data in copies:
                rx = harness.RECEIVED_RX.match(data)
                if not rx:
                    v.partial += 1
                    bad("partial", f"{path}: no Received header at the top: {data[:200]!r}")
                    continue
                header = rx.group(0).decode("utf-8", errors="replace")
                body = data[rx.end():]
                idm = RECEIVED_ID_RX.search(header)
                hid = idm.group(1) if idm else None
                qids.add(hid)
                if hashlib.sha256(body).digest() != m.digest or len(body) != m.length:
                    if expected is None:
                        expected = m.content()
                    v.partial += 1
                    bad("partial", f"{path} ({m.cid}, {m.state}, {m.method}): "
                        f"{_describe_mismatch(expected, body)}")
                if hid is None or f".Q{hid}R" not in path.name:
                    bad("naming", f"{path.name}: not named after the queue id {hid} of its "
                        f"Received header {header!r}")
                if m.state == "acked" and hid != m.qid:
                    bad("queue_id", f"{m.cid}: 250 said queue id {m.qid}, {path.name} has "
                        f"Received id {hid}")
        if len(qids) > 1:
            bad("queue_id", f"{m.cid}: copies carry different queue ids {sorted(map(str, qids))}")
    if ledger.protocol_errors:
        v.notes.append(f"{len(ledger.protocol_errors)} unexpected replies while the daemon was "
                       f"up, e.g. {ledger.protocol_errors[:3]}")
    return v
