"""Local delivery over LMTP (RFC 2033): sealpostd hands local recipients to a private Dovecot
LMTP server (`dovecot -c DIR/dovecot.conf -F`: its own base_dir, state_dir and log, a
passwd-file userdb, Maildirs under its directory, an lmtp unix_listener and an inet_listener
on a free loopback port) or to aiosmtpd's LMTP class, scripted.

1. `[delivery] lmtp = "unix:..."`: two recipients in ONE transaction (the same Dovecot session
   id in both Received headers, one log line), byte-exact after Dovecot's own header fields.
2. Per-mailbox `lmtp = "127.0.0.1:PORT"`: a user Dovecot does not know gets 550 5.1.1 at RCPT
   → a DSN to the sender (whose mailbox stays a Maildir) while the other recipient is delivered.
3. The LMTP server down: deferred 4.4.1, then delivered after `sealpost queue flush` once it is up.
4. aiosmtpd LMTP answering 452 for one recipient after DATA: that one is deferred and retried
   alone; the other is not delivered twice.
5. A hostile server after the data — garbage, a dropped connection, silence (lmtp_timeout 3):
   the recipient answered first is delivered, the other deferred 4.4.1 with the reason, within
   the timeout.
6. A UTF-8 mailbox (jörg) on Dovecot 2.3, which lacks SMTPUTF8: bounced 5.6.7 without being
   sent, while bob, on the same server in the same message, is delivered.

Dovecot refuses to deliver as root, so its directory is a mkdtemp under /tmp (0755, like
postfix_peer.py) with Maildirs owned by `nobody`; it is removed at teardown.
"""

from __future__ import annotations

import email
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

import harness
from harness import Account, check_received, split_received, submit, tricky_message

try:
    from aiosmtpd.controller import Controller
    from aiosmtpd.lmtp import LMTP
except ImportError:  # pragma: no cover
    Controller = LMTP = None

ALICE = Account("alice@mail.test", "alice-Secret-1")
WAIT = 60  # seconds: the machine is slow and loaded; every wait is bounded by this or less

pytestmark = pytest.mark.skipif(shutil.which("dovecot") is None or os.geteuid() != 0,
                                reason="needs dovecot-lmtpd and root")


class Dovecot:
    """A private Dovecot running only LMTP, with the given users (passwd-file userdb)."""

    def __init__(self, users: list[str]):
        self.root = Path(tempfile.mkdtemp(prefix="sealpost-dovecot-"))
        self.root.chmod(0o755)  # the mail user (nobody) must reach its Maildirs below
        self.mail = self.root / "mail"
        self.mail.mkdir()
        nobody = pwd.getpwnam("nobody")
        os.chown(self.mail, nobody.pw_uid, nobody.pw_gid)
        self.socket = self.root / "lmtp"
        self.log_path = self.root / "dovecot.log"
        self.port = harness.free_ports(1)[0]
        (self.root / "run").mkdir()
        (self.root / "state").mkdir()
        (self.root / "passwd").write_text("".join(f"{u}:::::::\n" for u in users))
        self.conf = self.root / "dovecot.conf"
        self.conf.write_text(f"""\
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.log_path}
protocols = lmtp
listen = 127.0.0.1
ssl = no
default_internal_user = dovecot
default_login_user = dovenull
mail_uid = {nobody.pw_uid}
mail_gid = {nobody.pw_gid}
mail_home = {self.root}/home/%u
mail_location = maildir:{self.mail}/%u
passdb {{
  driver = passwd-file
  args = {self.root}/passwd
}}
userdb {{
  driver = passwd-file
  args = {self.root}/passwd
}}
service lmtp {{
  unix_listener {self.socket} {{
    mode = 0600
  }}
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.port}
  }}
}}
""")
        (self.root / "home").mkdir()
        os.chown(self.root / "home", nobody.pw_uid, nobody.pw_gid)
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Dovecot":
        out = open(self.root / "dovecot.stdout", "wb")
        self.proc = subprocess.Popen(["dovecot", "-c", str(self.conf), "-F"], stdout=out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        out.close()
        harness._PROCESSES.append(self.proc)
        deadline = time.monotonic() + 20
        while True:
            assert self.proc.poll() is None, f"dovecot exited\n{self.log()}"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    s.settimeout(5)
                    if s.recv(100).startswith(b"220") and self.socket.exists():
                        return self
            except OSError:
                pass
            assert time.monotonic() < deadline, f"dovecot did not come up\n{self.log()}"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None:
            harness.kill_process(self.proc, grace=10)
            if self.proc in harness._PROCESSES:
                harness._PROCESSES.remove(self.proc)
            self.proc = None

    def log(self) -> str:
        text = ""
        for name in ("dovecot.log", "dovecot.stdout"):
            p = self.root / name
            if p.exists():
                text += p.read_text(errors="replace")
        return text

    def messages(self, user: str) -> list[bytes]:
        new = self.mail / user / "new"
        cur = self.mail / user / "cur"
        files = [p for d in (new, cur) if d.is_dir() for p in d.iterdir() if p.is_file()]
        return [p.read_bytes() for p in sorted(files)]

    def wait_for(self, user: str, count: int = 1, log=lambda: "") -> list[bytes]:
        deadline = time.monotonic() + WAIT
        while True:
            msgs = self.messages(user)
            if len(msgs) >= count:
                return msgs
            assert time.monotonic() < deadline, f"{user}: {len(msgs)} message(s)\n{log()}" \
                                                f"\n{self.log()}"
            time.sleep(0.05)


@pytest.fixture
def dovecot():
    made: list[Dovecot] = []

    def factory(users: list[str], start: bool = True) -> Dovecot:
        d = Dovecot(users)
        made.append(d)
        return d.start() if start else d

    yield factory
    for d in made:
        d.stop()
        shutil.rmtree(d.root, ignore_errors=True)


def lmtp_daemon(make_daemon, *, delivery: str = "", mailbox_lmtp: dict[str, str] | None = None,
                mailboxes: list[str] | None = None) -> harness.Daemon:
    """sealpostd with alice (a Maildir unless `delivery` sends everyone to LMTP), the given
    mailboxes, and [[mailbox]] entries with their own lmtp; retries only on `queue flush`."""
    d = make_daemon(start=False, accounts=[ALICE], mailboxes=["alice@mail.test"] + (mailboxes or []))
    text = ["", "[queue]", "first_retry = 600", "max_retry = 600", ""]
    if delivery:
        text += ["[delivery]", f"lmtp = {harness.toml_str(delivery)}", "lmtp_timeout = 30", ""]
    for address, target in (mailbox_lmtp or {}).items():
        text += ["[[mailbox]]", f"address = {harness.toml_str(address)}",
                 f"lmtp = {harness.toml_str(target)}", ""]
    with open(d.config_path, "a", encoding="utf-8") as f:
        f.write("\n".join(text) + "\n")
    return d.start(timeout=30)


def send(d: harness.Daemon, rcpts: list[str], subject: str) -> tuple[str, bytes]:
    msg = tricky_message(subject, rcpts[0])
    return submit(d, ALICE.name, ALICE.password, ALICE.name, rcpts, msg), msg


def split_dovecot(stored: bytes) -> tuple[str, bytes]:
    """Dovecot stores LF line ends and adds Return-Path (and its own Received "with LMTP");
    returns (those fields, the rest with CRLF restored)."""
    raw = stored.replace(b"\n", b"\r\n")
    added = []
    while True:
        m = re.match(rb"(Return-Path|Delivered-To|Received):[^\r]*\r\n(?:[ \t][^\r]*\r\n)*", raw)
        if not m or (m.group(1) == b"Received" and b"with LMTP" not in m.group(0)):
            break
        added.append(m.group(0).decode())
        raw = raw[m.end():]
    return "".join(added), raw


def assert_exact(d: harness.Daemon, stored: bytes, qid: str, msg: bytes,
                 with_: str = "ESMTPSA") -> str:
    added, rest = split_dovecot(stored)
    assert added.startswith(f"Return-Path: <{ALICE.name}>\r\n"), added
    header, body = split_received(rest)
    check_received(header, queue_id=qid, with_=with_, helo="client.example")
    assert body == msg, d.log()
    return added


def lmtp_lines(d: harness.Daemon, qid: str) -> list[str]:
    rx = re.compile(rf"delivery: {qid} lmtp=")
    return [line for line in d.log().splitlines() if rx.search(line)]


# --------------------------------------------------------------------------------------------
# 1. Two recipients, one transaction, byte-exact


def test_two_recipients_in_one_transaction_byte_exact(make_daemon, dovecot):
    dc = dovecot(["bob@mail.test", "carol@mail.test"])
    d = lmtp_daemon(make_daemon, delivery=f"unix:{dc.socket}",
                    mailboxes=["bob@mail.test", "carol@mail.test"])
    qid, msg = send(d, ["bob@mail.test", "carol@mail.test"], "lmtp one")
    [bob] = dc.wait_for("bob@mail.test", log=d.log)
    [carol] = dc.wait_for("carol@mail.test", log=d.log)
    added_bob = assert_exact(d, bob, qid, msg)
    added_carol = assert_exact(d, carol, qid, msg)
    # One LMTP session for both: Dovecot's Received names the same session id.
    ids = [re.search(r"with LMTP\r\n\tid (\S+?)(?::R\d+)?\r\n", a) for a in (added_bob, added_carol)]
    assert all(ids) and ids[0].group(1) == ids[1].group(1), (added_bob, added_carol)
    for rcpt in ("bob@mail.test", "carol@mail.test"):
        d.wait_for_log(rf"delivery: {qid} to=<{re.escape(rcpt)}> delivered", timeout=WAIT)
    d.wait_for_log(rf"delivery: {qid} removed from spool", timeout=WAIT)
    [line] = lmtp_lines(d, qid)
    assert re.search(rf"lmtp=unix:{re.escape(str(dc.socket))} 2 recipient\(s\) in one "
                     r"transaction: delivered=2 deferred=0 bounced=0", line), line
    assert not d.messages("bob@mail.test") and not d.messages("carol@mail.test")  # no Maildir
    assert dc.log().count("saved mail to INBOX") == 2, dc.log()


# --------------------------------------------------------------------------------------------
# 2. An unknown user: 550 from Dovecot, a DSN to the sender, the other delivered


def test_unknown_user_bounces_other_delivered(make_daemon, dovecot):
    dc = dovecot(["bob@mail.test"])
    target = f"127.0.0.1:{dc.port}"
    d = lmtp_daemon(make_daemon, mailbox_lmtp={"bob@mail.test": target,
                                               "ghost@mail.test": target})
    qid, msg = send(d, ["bob@mail.test", "ghost@mail.test"], "lmtp ghost")
    [bob] = dc.wait_for("bob@mail.test", log=d.log)
    assert_exact(d, bob, qid, msg)
    d.wait_for_log(rf"delivery: {qid} to=<ghost@mail\.test> failed: 550 5\.1\.1", timeout=WAIT)
    d.wait_for_log(rf"delivery: {qid} bounce [0-9A-F]+ queued to <{ALICE.name}>", timeout=WAIT)
    # The DSN lands in alice's Maildir (her mailbox has no lmtp).
    [raw] = d.wait_for_maildir(ALICE.name, 1, timeout=WAIT)
    report = email.message_from_bytes(raw)
    assert report.get_content_type() == "multipart/report", raw[:400]
    status = report.get_payload()[1].get_payload()[1]
    assert status["Final-Recipient"] == "rfc822;ghost@mail.test", status.items()
    assert status["Action"] == "failed" and status["Status"] == "5.1.1", status.items()
    assert "User doesn't exist" in status["Diagnostic-Code"], status.items()
    d.wait_for_log(rf"delivery: {qid} removed from spool", timeout=WAIT)
    [line] = lmtp_lines(d, qid)
    assert "delivered=1 deferred=0 bounced=1" in line, line
    assert len(dc.messages("bob@mail.test")) == 1


# --------------------------------------------------------------------------------------------
# 3. The LMTP server down: deferred, then delivered after a flush


def test_server_down_deferred_then_flushed(make_daemon, dovecot):
    dc = dovecot(["bob@mail.test"], start=False)
    d = lmtp_daemon(make_daemon, delivery=f"127.0.0.1:{dc.port}", mailboxes=["bob@mail.test"])
    qid, msg = send(d, ["bob@mail.test"], "lmtp down")
    [m] = d.wait_for_log(rf"delivery: {qid} to=<bob@mail\.test> deferred: ([^\n]*)", timeout=WAIT)
    assert m.group(1).startswith(f"451 4.4.1 LMTP 127.0.0.1:{dc.port}: cannot connect"), m.group(1)
    d.wait_for_log(rf"delivery: {qid} retry in", timeout=WAIT)
    dc.start()
    r = d.sealpost("queue", "flush")
    assert r.stdout.decode() == "flushed 1 deferred message(s): due now\n", r.stdout
    [bob] = dc.wait_for("bob@mail.test", log=d.log)
    assert_exact(d, bob, qid, msg)
    d.wait_for_log(rf"delivery: {qid} to=<bob@mail\.test> delivered", timeout=WAIT)
    d.wait_for_log(rf"delivery: {qid} removed from spool", timeout=WAIT)


# --------------------------------------------------------------------------------------------
# 4. aiosmtpd LMTP: 452 for one recipient after DATA, retried alone


class ScriptedLmtp:
    """handle_DATA answers one line per recipient (RFC 2033 §4.2) from `script`, a list of
    per-transaction maps rcpt -> reply (the last one sticky; default 250)."""

    def __init__(self, script: list[dict[str, str]]):
        self.script = script
        self.transactions: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        n = len(self.transactions)
        self.transactions.append((list(envelope.rcpt_tos), envelope.original_content))
        replies = self.script[min(n, len(self.script) - 1)]
        return "\r\n".join(replies.get(r, f"250 2.0.0 <{r}> ok") for r in envelope.rcpt_tos)


@pytest.mark.skipif(LMTP is None, reason="needs python3-aiosmtpd")
def test_aiosmtpd_452_after_data_is_retried_alone(make_daemon):
    class LmtpController(Controller):
        def factory(self):
            return LMTP(self.handler, **self.SMTP_kwargs)

    handler = ScriptedLmtp([{"carol@mail.test": "452 4.2.2 <carol@mail.test> mailbox full"}, {}])
    port = harness.free_ports(1)[0]
    ctl = LmtpController(handler, hostname="127.0.0.1", port=port, ready_timeout=30)
    ctl.start()
    try:
        d = lmtp_daemon(make_daemon, delivery=f"127.0.0.1:{port}",
                        mailboxes=["bob@mail.test", "carol@mail.test"])
        qid, msg = send(d, ["bob@mail.test", "carol@mail.test"], "lmtp 452")
        d.wait_for_log(rf"delivery: {qid} to=<bob@mail\.test> delivered", timeout=WAIT)
        [m] = d.wait_for_log(rf"delivery: {qid} to=<carol@mail\.test> deferred: ([^\n]*)",
                             timeout=WAIT)
        assert m.group(1) == "452 4.2.2 <carol@mail.test> mailbox full", m.group(1)
        d.wait_for_log(rf"delivery: {qid} retry in", timeout=WAIT)
        r = d.sealpost("queue", "flush")
        assert r.stdout.decode() == "flushed 1 deferred message(s): due now\n", r.stdout
        d.wait_for_log(rf"delivery: {qid} to=<carol@mail\.test> delivered", timeout=WAIT)
        d.wait_for_log(rf"delivery: {qid} removed from spool", timeout=WAIT)
        assert [t[0] for t in handler.transactions] == [
            ["bob@mail.test", "carol@mail.test"], ["carol@mail.test"]], handler.transactions
        for _, content in handler.transactions:
            header, body = split_received(content)
            check_received(header, queue_id=qid, with_="ESMTPSA", helo="client.example")
            assert body == msg
        d.sync_log()
        assert len(re.findall(rf"delivery: {qid} to=<bob@mail\.test> delivered", d.log())) == 1
    finally:
        ctl.stop()


# --------------------------------------------------------------------------------------------
# 5. A hostile LMTP server: garbage, a dropped connection or silence after the data


class RawLmtp:
    """A one-connection-at-a-time LMTP server on loopback that answers normally up to the end
    of data, then sends `after_data` and closes — or, `silent`, says nothing more."""

    def __init__(self, after_data: bytes, silent: bool):
        self.after_data = after_data
        self.silent = silent
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.transactions: list[list[str]] = []
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(30)
                try:
                    self._session(conn)
                except OSError:
                    pass

    def _session(self, conn: socket.socket) -> None:
        f = conn.makefile("rb")
        conn.sendall(b"220 raw LMTP\r\n")
        rcpts: list[str] = []
        while not self.stopping:
            line = f.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"LHLO":
                conn.sendall(b"250-raw\r\n250-8BITMIME\r\n250 PIPELINING\r\n")
            elif verb == b"MAIL":
                conn.sendall(b"250 2.1.0 ok\r\n")
            elif verb == b"RCPT":
                rcpts.append(line.decode().split("<", 1)[1].split(">", 1)[0])
                conn.sendall(b"250 2.1.5 ok\r\n")
            elif verb == b"DATA":
                conn.sendall(b"354 go\r\n")
                while f.readline() not in (b".\r\n", b""):
                    pass
                self.transactions.append(rcpts)
                conn.sendall(self.after_data)
                if self.silent:
                    while not self.stopping and conn.recv(100):
                        pass  # silence until the client gives up
                    return
                return
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"500 what\r\n")

    def stop(self) -> None:
        self.stopping = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.mark.parametrize("after_data, silent, why", [
    (b"250 2.0.0 first ok\r\n25X garbage\r\n", False, "unreadable reply"),
    (b"250 2.0.0 first ok\r\n", False, "server closed the connection"),
    (b"250 2.0.0 first ok\r\n", True, "timed out"),
])
def test_hostile_server_after_data(make_daemon, after_data, silent, why):
    """The first recipient's reply counts; the second, never properly answered, is deferred
    with a reason in the log (its message may have been delivered: at least once)."""
    server = RawLmtp(after_data, silent)
    try:
        d = make_daemon(start=False, accounts=[ALICE],
                        mailboxes=["alice@mail.test", "bob@mail.test", "carol@mail.test"])
        with open(d.config_path, "a", encoding="utf-8") as f:
            f.write("\n[queue]\nfirst_retry = 600\nmax_retry = 600\n\n[delivery]\n"
                    f'lmtp = "127.0.0.1:{server.port}"\nlmtp_timeout = 3\n')
        d.start(timeout=30)
        started = time.monotonic()
        qid, _ = send(d, ["bob@mail.test", "carol@mail.test"], "hostile")
        d.wait_for_log(rf"delivery: {qid} to=<bob@mail\.test> delivered", timeout=WAIT)
        [m] = d.wait_for_log(rf"delivery: {qid} to=<carol@mail\.test> deferred: ([^\n]*)",
                             timeout=WAIT)
        assert m.group(1).startswith(f"451 4.4.1 LMTP 127.0.0.1:{server.port}: "), m.group(1)
        assert why in m.group(1), m.group(1)
        assert time.monotonic() - started < 20  # bounded by lmtp_timeout, not the 10 min
        d.wait_for_log(rf"delivery: {qid} retry in", timeout=WAIT)
        [line] = lmtp_lines(d, qid)
        assert "delivered=1 deferred=1 bounced=0" in line, line
        assert server.transactions == [["bob@mail.test", "carol@mail.test"]]
    finally:
        server.stop()


# --------------------------------------------------------------------------------------------
# 6. A UTF-8 mailbox and an LMTP server without SMTPUTF8 (Dovecot 2.3): bounced 5.6.7, unsent;
#    the ASCII co-recipient on the same server is delivered (a transaction of its own)


def test_utf8_mailbox_without_smtputf8_bounces(make_daemon, dovecot):
    dc = dovecot(["bob@mail.test"])
    target = f"127.0.0.1:{dc.port}"
    d = lmtp_daemon(make_daemon, mailbox_lmtp={"bob@mail.test": target, "jörg@mail.test": target})
    msg = tricky_message("lmtp utf8", "bob@mail.test")
    qid = submit(d, ALICE.name, ALICE.password, ALICE.name, ["bob@mail.test", "jörg@mail.test"],
                 msg, mail_options=("SMTPUTF8",))
    d.wait_for_log(rf"delivery: {qid} to=<jörg@mail\.test> failed: 554 5\.6\.7 ", timeout=WAIT)
    # jörg has a transaction of his own (refused before MAIL FROM), so bob's goes through.
    [bob] = dc.wait_for("bob@mail.test", log=d.log)
    assert_exact(d, bob, qid, msg, with_="UTF8SMTPSA")  # RFC 6531 §4.3
    d.wait_for_log(rf"delivery: {qid} to=<bob@mail\.test> delivered", timeout=WAIT)
    d.wait_for_log(rf"delivery: {qid} removed from spool", timeout=WAIT)
    assert len(lmtp_lines(d, qid)) == 2, d.log()
