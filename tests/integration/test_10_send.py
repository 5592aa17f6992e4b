"""`sealpost send` (issue 5 item 2): sendmail-compatible SMTPS submission against sealpostd
and against small scripted servers on loopback: byte-exact delivery with AUTH (SCRAM, PLAIN),
added Date/Message-ID, -t with Bcc stripped, certificate and host name checks, STARTTLS
required (absent, or stripped by a man in the middle), sysexits codes for 4xx/5xx, the 0600
client configuration file, the argv[0] == "sendmail" mode, and --timeout (STARTTLS aimed at the
implicit port, a server silent in the TLS handshake).

Servers written here run in threads bound to 127.0.0.1 on free ports; every wait is bounded.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness import SEALPOST, Account, run, sample_message, split_received

ALICE = Account("alice@mail.test", "alice-Secret-1")
USERS = [ALICE]
RELAXED = {"delay_after": 100, "lockout_after": 1000}

EX_DATAERR, EX_UNAVAILABLE, EX_TEMPFAIL, EX_CONFIG = 65, 69, 75, 78


@pytest.fixture
def sd(make_daemon):
    return make_daemon(accounts=USERS, auth=RELAXED)


def send(*args: str, input: bytes, env: dict | None = None, argv0: str | None = None,
         timeout: float = 30) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e.pop("SEALPOST_CLIENT_CONFIG", None)
    e["HOME"] = "/nonexistent"  # no ~/.config/sealpost/client.toml from the machine
    e.update(env or {})
    cmd = [argv0, *args] if argv0 else [str(SEALPOST), "send", *args]
    return subprocess.run(cmd, input=input, capture_output=True, timeout=timeout, env=e)


def auth_args(d, *extra: str, port_name: str = "implicit") -> list[str]:
    return ["--server", f"127.0.0.1:{d.ports[port_name]}", "--ca", str(d.ca), "--user",
            ALICE.name, "--password-env", "SP_PW", *extra]


PW_ENV = {"SP_PW": ALICE.password}


def body_of(message: bytes) -> bytes:
    return split_received(message)[1]


# -- delivery ---------------------------------------------------------------------------------

@pytest.mark.parametrize("mechanism", [None, "SCRAM-SHA-256", "PLAIN"])
def test_implicit_tls_auth_byte_exact(sd, mechanism):
    msg = sample_message("send " + (mechanism or "default"), b"Line one.\r\n.dot line\r\n")
    unix = msg.replace(b"\r\n", b"\n")
    extra = ["--mechanism", mechanism] if mechanism else []
    r = send(*auth_args(sd, *extra), "-v", "-f", ALICE.name, "user@mail.test", input=unix,
             env=PW_ENV)
    assert r.returncode == 0, r.stderr.decode()
    [got] = sd.wait_for_maildir("user@mail.test")
    assert body_of(got) == msg
    if mechanism is None and b"SCRAM-SHA-256-PLUS" not in r.stderr:
        sd.wait_for_log(r"SCRAM-SHA-256-PLUS")  # TLS 1.3 with channel binding: the strongest


def test_adds_date_message_id_and_from(sd):
    unix = b"To: user@mail.test\nSubject: bare\n\nBody.\n"
    r = send(*auth_args(sd, "--server-name", "mail.test"), "-F", "Alice Example", "-f",
             ALICE.name, "user@mail.test", input=unix, env=PW_ENV)
    assert r.returncode == 0, r.stderr.decode()
    [got] = sd.wait_for_maildir("user@mail.test")
    body = body_of(got)
    header, _, text = body.partition(b"\r\n\r\n")
    assert header.startswith(b"To: user@mail.test\r\nSubject: bare\r\n")
    assert b"\r\nFrom: Alice Example <alice@mail.test>" in header
    assert b"\r\nDate: " in header
    assert b"\r\nMessage-ID: <" in header and b"@mail.test>" in header
    assert text == b"Body.\r\n"


def test_t_recipients_and_bcc_stripped(sd):
    unix = (b"From: alice@mail.test\nTo: User <user@mail.test>\nBcc: demo@localhost,\n"
            b" hidden@mail.test\nSubject: bcc\nDate: Mon, 01 Jan 2024 00:00:00 +0000\n"
            b"Message-ID: <bcc@mail.test>\n\nHi.\n")
    r = send(*auth_args(sd), "-t", "-oi", input=unix, env=PW_ENV)
    # hidden@mail.test does not exist: refused at RCPT, the others still get it
    assert r.returncode == EX_UNAVAILABLE, r.stderr.decode()
    assert b"hidden@mail.test" in r.stderr and b"55" in r.stderr
    for rcpt in ("user@mail.test", "demo@localhost"):
        [got] = sd.wait_for_maildir(rcpt)
        assert b"Bcc" not in got and b"hidden" not in got
        assert body_of(got) == unix.replace(b"Bcc: demo@localhost,\n hidden@mail.test\n",
                                            b"").replace(b"\n", b"\r\n")


def test_t_all_known(sd):
    unix = b"From: alice@mail.test\nTo: user@mail.test\nBcc: demo@localhost\n\nHi.\n"
    r = send(*auth_args(sd), "-t", input=unix, env=PW_ENV)
    assert r.returncode == 0, r.stderr.decode()
    for rcpt in ("user@mail.test", "demo@localhost"):
        [got] = sd.wait_for_maildir(rcpt)
        assert b"Bcc" not in got


def test_password_command_and_5xx_recipient(sd):
    r = send("--server", f"127.0.0.1:{sd.ports['implicit']}", "--ca", str(sd.ca), "--user",
             ALICE.name, "--password-command", f"printf '%s\\n' '{ALICE.password}'; echo junk",
             "-f", ALICE.name, "nobody@mail.test", input=b"Subject: x\n\nx\n")
    assert r.returncode == EX_UNAVAILABLE, r.stderr.decode()
    line = r.stderr.decode().strip().splitlines()[-1]
    assert "nobody@mail.test" in line and "55" in line


def test_wrong_password_is_5xx(sd):
    r = send(*auth_args(sd), "-f", ALICE.name, "user@mail.test", input=b"Subject: x\n\nx\n",
             env={"SP_PW": "wrong"})
    assert r.returncode == EX_UNAVAILABLE, r.stderr.decode()
    assert "535" in r.stderr.decode()
    sd.assert_no_more_mail("user@mail.test", 0)


# -- TLS refusals -------------------------------------------------------------------------------

def test_wrong_host_name_refused(sd):
    # wrong.test matches no certificate set: the server answers with mail.test's
    r = send(*auth_args(sd, "--server-name", "wrong.test"), "-f", ALICE.name, "user@mail.test",
             input=b"Subject: x\n\nx\n", env=PW_ENV)
    assert r.returncode == EX_UNAVAILABLE, r.stderr.decode()
    assert "certificate" in r.stderr.decode()
    sd.assert_no_more_mail("user@mail.test", 0)


def test_untrusted_ca_refused(sd):
    r = send("--server", f"127.0.0.1:{sd.ports['implicit']}", "--user", ALICE.name,
             "--password-env", "SP_PW", "-f", ALICE.name, "user@mail.test",
             input=b"Subject: x\n\nx\n", env=PW_ENV)
    assert r.returncode == EX_UNAVAILABLE, r.stderr.decode()
    assert "certificate" in r.stderr.decode()
    sd.assert_no_more_mail("user@mail.test", 0)


def test_pin_mismatch_refused(sd):
    pin = base64.b64encode(hashlib.sha256(b"not the key").digest()).decode()
    r = send(*auth_args(sd, "--pin-sha256", pin), "-f", ALICE.name, "user@mail.test",
             input=b"Subject: x\n\nx\n", env=PW_ENV)
    assert r.returncode == EX_UNAVAILABLE, r.stderr.decode()
    assert "pin" in r.stderr.decode()
    sd.assert_no_more_mail("user@mail.test", 0)


def test_starttls_with_sealpostd(sd):
    r = send(*auth_args(sd, "--starttls", port_name="starttls"), "-f", ALICE.name,
             "user@mail.test", input=b"Subject: starttls\n\nx\n", env=PW_ENV)
    assert r.returncode == 0, r.stderr.decode()
    sd.wait_for_maildir("user@mail.test")


def test_starttls_at_implicit_port_times_out(sd):
    # sealpostd's implicit port waits for a ClientHello, send --starttls for a greeting: only
    # --timeout ends it (once the 5-minute greeting wait), as one line, 75, nothing sent.
    start = time.monotonic()
    r = send(*auth_args(sd, "--starttls", "--timeout", "2"), "-f", ALICE.name,
             "user@mail.test", input=b"Subject: wrong port\n\nx\n", env=PW_ENV, timeout=30)
    elapsed = time.monotonic() - start
    assert r.returncode == EX_TEMPFAIL, r.stderr.decode()
    assert 1.9 <= elapsed < 10, elapsed
    [line] = r.stderr.decode().splitlines()
    assert "timed out after 2 s waiting for the server's greeting" in line, line
    assert not sd.messages("user@mail.test")


# -- scripted servers ---------------------------------------------------------------------------

def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Scripted:
    """One-connection SMTP server: canned replies, records every line the client sends."""

    def __init__(self, pki=None, ehlo=("PIPELINING", "8BITMIME"), replies=None):
        self.replies = {"MAIL": "250 2.1.0 ok", "RCPT": "250 2.1.5 ok", "DATA": "354 go",
                        ".": "250 2.0.0 queued", **(replies or {})}
        self.ehlo = ehlo
        self.ctx = None
        if pki is not None:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(pki.files["ecdsa.pem"], pki.files["ecdsa.key"])
        self.lines: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.listener.settimeout(15)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        conn.settimeout(15)
        if self.ctx is not None:
            conn = self.ctx.wrap_socket(conn, server_side=True)
        f = conn.makefile("rwb")

        def say(text):
            f.write(text.encode() + b"\r\n")
            f.flush()

        try:
            say("220 scripted ESMTP")
            in_data = False
            while True:
                line = f.readline()
                if not line:
                    return
                self.lines.append(line)
                if in_data:
                    if line == b".\r\n":
                        in_data = False
                        say(self.replies["."])
                    continue
                verb = line.split(b" ")[0].split(b":")[0].strip().upper().decode()
                if verb in ("EHLO", "HELO"):
                    say("\r\n".join([f"250-scripted"] + [f"250-{e}" for e in self.ehlo[:-1]]
                                    + [f"250 {self.ehlo[-1]}"]) if self.ehlo else "250 scripted")
                elif verb == "QUIT":
                    say("221 bye")
                    return
                elif verb in self.replies:
                    say(self.replies[verb])
                    if verb == "DATA" and self.replies["DATA"].startswith("354"):
                        in_data = True
                else:
                    say("502 5.5.1 no")
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def close(self):
        self.listener.close()
        self.thread.join(timeout=10)

    def sent(self, verb: bytes) -> bool:
        return any(line.upper().startswith(verb) for line in self.lines)


def scripted_send(server: Scripted, pki, *extra: str, input=b"Subject: x\n\nx\n"):
    try:
        return send("--server", f"127.0.0.1:{server.port}", "--ca", str(pki.ca_cert),
                    "-f", "a@mail.test", "b@mail.test", *extra, input=input)
    finally:
        server.close()


def test_starttls_required_but_not_offered(pki):
    server = Scripted(ehlo=("PIPELINING", "AUTH PLAIN"))
    r = scripted_send(server, pki, "--starttls")
    assert r.returncode == EX_UNAVAILABLE, r.stderr.decode()
    assert "STARTTLS" in r.stderr.decode().upper() or "tls" in r.stderr.decode().lower()
    assert not server.sent(b"MAIL") and not server.sent(b"AUTH")


@pytest.mark.parametrize("stage,reply,code", [
    ("MAIL", "451 4.3.0 try later", EX_TEMPFAIL),
    ("RCPT", "450 4.2.0 mailbox busy", EX_TEMPFAIL),
    (".", "452 4.3.1 full", EX_TEMPFAIL),
    ("MAIL", "550 5.7.1 sender refused", EX_UNAVAILABLE),
    ("RCPT", "550 5.1.1 no such user", EX_UNAVAILABLE),
    (".", "554 5.6.0 content refused", EX_DATAERR),
])
def test_reply_exit_codes(pki, stage, reply, code):
    server = Scripted(pki, replies={stage: reply})
    r = scripted_send(server, pki)
    assert r.returncode == code, r.stderr.decode()
    last = r.stderr.decode().strip().splitlines()[-1]
    assert reply in last


def test_connection_refused_is_tempfail(pki):
    r = send("--server", f"127.0.0.1:{free_port()}", "--ca", str(pki.ca_cert), "-f",
             "a@mail.test", "b@mail.test", input=b"x\n")
    assert r.returncode == EX_TEMPFAIL, r.stderr.decode()


def test_silent_server_tls_handshake_times_out(pki):
    # A listener that never answers the ClientHello (the kernel accepts for it): implicit TLS
    # waits --timeout for the handshake, not forever, and it is an outage (75), not a refusal.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        start = time.monotonic()
        r = send("--server", f"127.0.0.1:{silent.getsockname()[1]}", "--ca", str(pki.ca_cert),
                 "--timeout", "2", "-f", "a@mail.test", "b@mail.test", input=b"x\n", timeout=30)
        elapsed = time.monotonic() - start
    assert r.returncode == EX_TEMPFAIL, r.stderr.decode()
    assert 1.9 <= elapsed < 10, elapsed
    [line] = r.stderr.decode().splitlines()
    assert "timed out after 2 s waiting for the TLS handshake" in line, line


class StripProxy:
    """Loopback man in the middle: forwards to the daemon, removes STARTTLS from EHLO replies,
    records everything the client sends."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.client_bytes = b""
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.listener.settimeout(15)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            client, _ = self.listener.accept()
        except OSError:
            return
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=15)
        client.settimeout(0.1)
        upstream.settimeout(0.1)
        deadline = time.monotonic() + 20
        try:
            while time.monotonic() < deadline:
                try:
                    data = upstream.recv(65536)
                    if not data:
                        return
                    data = data.replace(b"STARTTLS", b"XXXXXXXX")  # the classic strip
                    client.sendall(data)
                except socket.timeout:
                    pass
                try:
                    data = client.recv(65536)
                    if not data:
                        return
                    self.client_bytes += data
                    upstream.sendall(data)
                except socket.timeout:
                    pass
        except OSError:
            pass
        finally:
            client.close()
            upstream.close()

    def close(self):
        self.listener.close()
        self.thread.join(timeout=25)


def test_starttls_stripping_proxy(sd):
    proxy = StripProxy(sd.ports["starttls"])
    try:
        r = send("--server", f"127.0.0.1:{proxy.port}", "--ca", str(sd.ca), "--starttls",
                 "--user", ALICE.name, "--password-env", "SP_PW", "-f", ALICE.name,
                 "user@mail.test", "-v", input=b"Subject: mitm\n\nsecret\n", env=PW_ENV)
    finally:
        proxy.close()
    assert r.returncode == EX_UNAVAILABLE, r.stderr.decode()
    assert b"EHLO" in proxy.client_bytes.upper()
    assert b"MAIL FROM" not in proxy.client_bytes.upper()
    assert b"AUTH" not in proxy.client_bytes.upper()
    assert b"secret" not in proxy.client_bytes
    sd.assert_no_more_mail("user@mail.test", 0)


# -- configuration ------------------------------------------------------------------------------

def write_client_config(path: Path, d, mode: int) -> Path:
    path.write_text(f'server = "127.0.0.1"\nport = {d.ports["implicit"]}\ntls = "implicit"\n'
                    f'user = "{ALICE.name}"\npassword = "{ALICE.password}"\nca = "{d.ca}"\n')
    path.chmod(mode)
    return path


def test_client_config_mode_enforced(sd, tmp_path):
    cfg = write_client_config(tmp_path / "client.toml", sd, 0o644)
    r = send("--client-config", str(cfg), "-f", ALICE.name, "user@mail.test",
             input=b"Subject: x\n\nx\n")
    assert r.returncode == EX_CONFIG, r.stderr.decode()
    assert str(cfg) in r.stderr.decode()
    sd.assert_no_more_mail("user@mail.test", 0)


def test_sendmail_symlink_with_config(sd, tmp_path):
    cfg = write_client_config(tmp_path / "client.toml", sd, 0o600)
    link = tmp_path / "sendmail"
    link.symlink_to(SEALPOST)
    msg = b"From: alice@mail.test\nTo: user@mail.test\nSubject: via sendmail\n\nHello.\n"
    r = send("-t", "-i", input=msg, argv0=str(link), env={"SEALPOST_CLIENT_CONFIG": str(cfg)})
    assert r.returncode == 0, r.stderr.decode()
    [got] = sd.wait_for_maildir("user@mail.test")
    assert b"Subject: via sendmail\r\n" in got and b"\r\n\r\nHello.\r\n" in got


def test_no_server_is_config_error():
    r = send("-f", "a@b", "c@d", input=b"x\n")
    assert r.returncode == EX_CONFIG, r.stderr.decode()


def test_plaintext_never_by_default_usage():
    r = send("--server", "127.0.0.1:1", "--starttls", "--plaintext-i-know", "c@d", input=b"x\n")
    assert r.returncode == 64


def test_pin_match_sends(sd):
    pins = []
    for name in ("ecdsa.pem", "rsa.pem"):
        pub = run(["openssl", "x509", "-in", str(sd.pki.files[name]), "-pubkey", "-noout"]).stdout
        der = run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub).stdout
        pins.append(base64.b64encode(hashlib.sha256(der).digest()).decode())
    r = send(*auth_args(sd, "--pin-sha256", pins[0]), "-f", ALICE.name, "user@mail.test",
             input=b"Subject: pinned\n\nx\n", env=PW_ENV)
    if r.returncode != 0:  # the server may have chosen its RSA certificate
        assert pins[1] in r.stderr.decode(), r.stderr.decode()
        r = send(*auth_args(sd, "--pin-sha256", pins[1]), "-f", ALICE.name, "user@mail.test",
                 input=b"Subject: pinned\n\nx\n", env=PW_ENV)
    assert r.returncode == 0, r.stderr.decode()
    sd.wait_for_maildir("user@mail.test")


def test_bare_cr_is_data_error(pki):
    r = send("--server", f"127.0.0.1:{free_port()}", "--ca", str(pki.ca_cert), "-f",
             "a@mail.test", "b@mail.test", input=b"Subject: x\n\nbad\rline\n")
    assert r.returncode == EX_DATAERR, r.stderr.decode()


def test_unresolvable_host():
    r = send("--server", "no-such-host.invalid", "-f", "a@b", "c@d", input=b"x\n")
    # 68 EX_NOHOST when the resolver answers NXDOMAIN; 75 if it cannot be reached at all
    assert r.returncode in (68, 75), r.stderr.decode()
    assert "no-such-host.invalid" in r.stderr.decode()


def test_oi_then_recipient_and_dot_line(sd):
    """-oi takes no recipient with it; a lone "." line is data, stdin is read to EOF."""
    unix = b"From: alice@mail.test\nSubject: dots\n\nbefore\n.\nafter\n"
    r = send(*auth_args(sd), "-oi", "user@mail.test", input=unix, env=PW_ENV)
    assert r.returncode == 0, r.stderr.decode()
    [got] = sd.wait_for_maildir("user@mail.test")
    assert got.endswith(b"\r\n\r\nbefore\r\n.\r\nafter\r\n")


@pytest.mark.parametrize("reply,code", [("454 4.7.0 TLS not available now", EX_TEMPFAIL),
                                        ("502 5.5.1 no STARTTLS here", EX_UNAVAILABLE)])
def test_starttls_refused(pki, reply, code):
    server = Scripted(ehlo=("STARTTLS", "AUTH PLAIN"), replies={"STARTTLS": reply})
    r = scripted_send(server, pki, "--starttls")
    assert r.returncode == code, r.stderr.decode()
    assert reply in r.stderr.decode()
    assert not server.sent(b"MAIL") and not server.sent(b"AUTH")
