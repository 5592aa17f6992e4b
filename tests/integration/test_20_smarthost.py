"""The smarthost ([relay], issue 6 item 4): sealpostd A relays every non-local recipient to a
second sealpostd B, the smarthost, over implicit TLS (RFC 8314 §3.3) or required STARTTLS, with
B's certificate verified by PKIX + the relay host name and AUTH before any mail.

The relay host is "localhost" (getaddrinfo: ::1 and/or 127.0.0.1; B listens on 127.0.0.1), so
B serves a certificate from the test CA that names localhost. B's local domain relay.test holds
carol@relay.test; its account relay@relay.test may send as alice@mail.test, A's user.

Covered: a message submitted to A for carol@relay.test arrives in B's Maildir byte-exact under
B's Received header (ESMTPSA, TLS) and A's; the attempt's log line on A; a wrong password
leaves the message deferred on A with a 4.7.0 reply about authentication and nothing on B; a
certificate without the relay host name, and one from a CA A does not trust, defer with nothing
sent and no AUTH seen by B; `tls = "starttls"` against B's STARTTLS listener; a password file
readable by others stops A at start-up with exit 78.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

import harness
from harness import Account, check_received, split_received, submit, tricky_message
from remote_lab import log_lines, queue_listing

ALICE = Account("alice@mail.test", "alice-Secret-1")
RELAY_USER = Account("relay@relay.test", "relay-Secret-9", aliases=("alice@mail.test",))
CAROL = "carol@relay.test"
WAIT = 60  # seconds: the machine is slow and loaded; every wait is bounded by this or less


@pytest.fixture(scope="module")
def localhost_pki(tmp_path_factory, pki) -> dict[str, Path]:
    """ECDSA and RSA leaves of the test CA for mail.test, localhost and 127.0.0.1."""
    root = tmp_path_factory.mktemp("smarthost-pki")
    sans = "DNS:mail.test,DNS:localhost,IP:127.0.0.1"
    files = {}
    for stem, keytype in (("ecdsa", "ec"), ("rsa", "rsa")):
        cert, key, _ = pki.make_leaf(root, stem, "localhost", sans, keytype)
        files[f"{stem}.pem"], files[f"{stem}.key"] = cert, key
    return files


def append(d: harness.Daemon, text: list[str]) -> None:
    with open(d.config_path, "a", encoding="utf-8") as f:
        f.write("\n" + "\n".join(text) + "\n")


def smarthost(make_daemon, certs: dict[str, Path] | None) -> harness.Daemon:
    """B: relay.test is local (carol), relay@relay.test may send as alice@mail.test. `certs`
    replaces the default mail.test certificates (None keeps them: no localhost in them)."""
    # The domain and mailbox go in before the account: `sealpost user add` checks the config.
    b = make_daemon(start=False, name="b", accounts=[])
    for name, path in (certs or {}).items():
        (b.tls_dir / name).write_bytes(path.read_bytes())
    text = b.config_path.read_text(encoding="utf-8")
    for old, new in (('local = ["localhost", "mail.test"]',
                      'local = ["localhost", "mail.test", "relay.test"]'),
                     ('[[mailbox]]\naddress = "demo@localhost"',
                      f'[[mailbox]]\naddress = "{CAROL}"\n\n[[mailbox]]\naddress = "demo@localhost"')):
        assert old in text
        text = text.replace(old, new)
    b.config_path.write_text(text, encoding="utf-8")
    b.mailboxes.append(CAROL)
    b.add_user(RELAY_USER.name, RELAY_USER.password, aliases=RELAY_USER.aliases)
    return b.start(timeout=30)


def relaying(make_daemon, port: int, *, password: str = RELAY_USER.password,
             tls: str = "implicit", ca_file: Path | None = None, mode: int = 0o600,
             start: bool = True) -> harness.Daemon:
    """A: alice submits; [relay] localhost:port with relay@relay.test and `password` (in a
    file of `mode`); retries far away, so the first attempt is the one the test sees."""
    a = make_daemon(start=False, name="a", accounts=[ALICE])
    password_file = a.root / "relay-password"
    password_file.write_text(password + "\n", encoding="utf-8")
    password_file.chmod(mode)
    append(a, [
        "[outbound]",
        f"ca_file = {harness.toml_str(ca_file or a.pki.ca_cert)}",
        'helo_name = "out.mail.test"',
        "timeout = 30",
        "connect_timeout = 10",
        "",
        "[relay]",
        'host = "localhost"',
        f"port = {port}",
        f"tls = {harness.toml_str(tls)}",
        f"user = {harness.toml_str(RELAY_USER.name)}",
        f"password_file = {harness.toml_str(password_file)}",
        "",
        "[queue]",
        "first_retry = 600",
        "max_retry = 600",
    ])
    return a.start(timeout=30) if start else a


def send(a: harness.Daemon, subject: str) -> tuple[str, bytes]:
    msg = tricky_message(subject, CAROL)
    return submit(a, ALICE.name, ALICE.password, ALICE.name, [CAROL], msg), msg


def relay_lines(a: harness.Daemon) -> list[str]:
    return log_lines(a, r"relay delivery: relay=localhost:")


def wait_deferred(a: harness.Daemon, qid: str) -> dict:
    """The queue entry once the first attempt has failed (bounded by WAIT)."""
    deadline = time.monotonic() + WAIT
    while True:
        entry = queue_listing(a).get(qid)
        if entry is not None and entry.get("attempts", 0) >= 1:
            return entry
        assert time.monotonic() < deadline, f"{qid}: no failed attempt\n{a.log()}"
        time.sleep(0.2)


def assert_relayed(b: harness.Daemon, qid_a: str, msg: bytes) -> None:
    """B's Received (ESMTPSA, from A's HELO name), A's Received, then exactly what was sent."""
    [stored] = b.wait_for_maildir(CAROL, 1, timeout=WAIT)
    header_b, rest = split_received(stored)
    qid_b = re.search(r" id ([0-9A-F]+)", header_b)[1]
    m = check_received(header_b, queue_id=qid_b, with_="ESMTPSA", helo="out.mail.test")
    assert m["version"] in ("TLSv1.2", "TLSv1.3")
    header_a, rest = split_received(rest)
    check_received(header_a, queue_id=qid_a, with_="ESMTPSA", helo="client.example")
    assert rest == msg


def assert_nothing_sent(b: harness.Daemon) -> None:
    b.assert_no_more_mail(CAROL, 0, settle=0.5)
    b.sync_log()
    assert not re.search(r"\bAUTH\b", b.log(since_start=True)), b.log()


# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tls,port_name", [("implicit", "implicit"), ("starttls", "starttls")])
def test_relayed_byte_exact(make_daemon, localhost_pki, tls, port_name):
    b = smarthost(make_daemon, localhost_pki)
    a = relaying(make_daemon, b.ports[port_name], tls=tls)
    qid, msg = send(a, f"relay {tls}")
    assert_relayed(b, qid, msg)
    b.wait_for_log(r"AUTH SCRAM-SHA-256(-PLUS)? succeeded: user=relay@relay\.test")
    a.wait_for_log(r"relay delivery: relay=localhost:[^\n]* result=delivered", timeout=WAIT)
    [line] = [ln for ln in relay_lines(a) if "result=delivered" in ln]
    assert " address=127.0.0.1 " in line and " verified=pkix " in line, line
    assert re.search(r" tls=TLSv1\.[23] cipher=\S+ ", line), line
    assert re.search(r" auth=relay@relay\.test/SCRAM-SHA-256(-PLUS)? ", line), line
    deadline = time.monotonic() + WAIT
    while qid in queue_listing(a):
        assert time.monotonic() < deadline, a.log()
        time.sleep(0.2)


def test_wrong_password_defers(make_daemon, localhost_pki):
    b = smarthost(make_daemon, localhost_pki)
    a = relaying(make_daemon, b.ports["implicit"], password="not-the-password")
    qid, _ = send(a, "wrong password")
    entry = wait_deferred(a, qid)
    assert entry["status"] == "deferred", entry
    [rcpt] = entry["recipients"]
    assert rcpt["address"] == CAROL
    assert re.match(r"4\d\d 4\.7\.0 authentication at smarthost localhost failed",
                    rcpt["delay_reason"]), entry
    assert "535" in rcpt["delay_reason"], entry
    b.wait_for_log(r"AUTH SCRAM-SHA-256(-PLUS)? failed: user=relay@relay\.test")
    b.assert_no_more_mail(CAROL, 0, settle=0.5)
    a.wait_for_log(r"relay delivery: relay=localhost:[^\n]*4\.7\.0", timeout=WAIT)
    [line] = [ln for ln in relay_lines(a) if "4.7.0" in ln]
    assert " auth=relay@relay.test/failed " in line, line


def other_ca(directory: Path) -> Path:
    """A CA certificate that signed nothing B serves."""
    key, cert = directory / "other-ca.key", directory / "other-ca.pem"
    harness.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                 "ec_paramgen_curve:P-256", "-out", str(key)])
    harness.run(["openssl", "req", "-x509", "-new", "-key", str(key), "-subj", "/CN=Other CA",
                 "-days", "30", "-sha256", "-out", str(cert),
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    return cert


@pytest.mark.parametrize("case", ["wrong-name", "unknown-ca"])
def test_unverified_smarthost_gets_nothing(make_daemon, localhost_pki, tmp_path, case):
    if case == "wrong-name":  # B's certificates name mail.test, not localhost
        b = smarthost(make_daemon, None)
        a = relaying(make_daemon, b.ports["implicit"])
    else:
        b = smarthost(make_daemon, localhost_pki)
        a = relaying(make_daemon, b.ports["implicit"], ca_file=other_ca(tmp_path))
    qid, _ = send(a, f"unverified {case}")
    entry = wait_deferred(a, qid)
    assert entry["status"] == "deferred", entry
    [rcpt] = entry["recipients"]
    assert re.match(r"4\d\d 4\.7\.5 verify: certificate not verified for localhost",
                    rcpt["delay_reason"]), entry
    assert "nothing was sent" in rcpt["delay_reason"], entry
    assert_nothing_sent(b)
    a.wait_for_log(r"relay delivery: relay=localhost:\S+ address=127\.0\.0\.1 ", timeout=WAIT)
    [line] = [ln for ln in relay_lines(a) if " address=127.0.0.1 " in ln]
    assert " verified=none " in line and " auth=relay@relay.test/- " in line, line


def test_password_file_readable_by_others(make_daemon):
    a = relaying(make_daemon, 1, mode=0o644, start=False)
    result = harness.run([str(harness.SEALPOSTD), "--config", str(a.config_path)],
                         check=False, timeout=30, cwd=a.root)
    err = result.stderr.decode(errors="replace") + result.stdout.decode(errors="replace")
    assert result.returncode == 78, err
    assert "relay.password_file" in err and "chmod 600" in err, err
