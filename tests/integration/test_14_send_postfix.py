"""`sealpost send` against a real Postfix (issue 5, Tests): implicit TLS (smtpd_tls_wrappermode)
verified against the test CA with the host name checked, AUTH with the strongest mechanism both
sides support (Postfix's Cyrus SASL offers SCRAM-SHA-256 without channel binding), the message
delivered byte-exact apart from Postfix's trace headers, Date/Message-ID added by send, -t with
Bcc stripped, a wrong password, STARTTLS on Postfix's STARTTLS port, 8BITMIME and SMTPUTF8, and
refusals that send nothing. One Postfix per module (its start-up is most of the time); each test has its own
mailbox, so counts stay exact.
"""

from __future__ import annotations

import email.utils
import os
import re
import subprocess
import time
from datetime import datetime, timezone

import pytest

import postfix_peer
from harness import SEALPOST
from postfix_peer import PostfixPeer, header_fields

EX_DATAERR, EX_UNAVAILABLE = 65, 69  # sysexits(3), as src/cli/send/send_driver.cpp maps them
USER, PASSWORD = "alice@mail.test", "alice-Secret-1"
BOXES = ("exact@mail.test", "dated@mail.test", "to@mail.test", "cc@mail.test", "bcc1@mail.test",
         "bcc2@mail.test", "wrongpw@mail.test", "starttls@mail.test", "plain@mail.test",
         "refused@mail.test", "big@mail.test", "prose@mail.test", "dup@mail.test",
         "eight@mail.test", "j\u00f6rg@mail.test", "utf8hdr@mail.test", "noutf8@mail.test",
         "n\u00f6utf8@mail.test")
SIZE_LIMIT = 200_000  # Postfix's message_size_limit here: advertised as SIZE


@pytest.fixture(scope="module")
def peer(tmp_path_factory, pki):
    if postfix_peer.needs_root():
        pytest.skip("a private Postfix needs root")
    if why := postfix_peer.missing():  # a test dependency (scripts/install-deps.sh test)
        pytest.fail(why)
    p = PostfixPeer(tmp_path_factory.mktemp("postfix"), pki.files["ecdsa.pem"],
                    pki.files["ecdsa.key"], mailboxes=BOXES, users={USER: PASSWORD},
                    main_cf={"message_size_limit": str(SIZE_LIMIT)},
                    # the STARTTLS listener offers neither 8BITMIME nor SMTPUTF8: 8-bit and
                    # UTF-8 mail must not go there
                    smtp_options={"smtpd_discard_ehlo_keywords": "8bitmime,smtputf8"})
    p.ca = pki.ca_cert  # what send verifies the peer's certificate against
    try:
        p.start()
        yield p
    finally:
        p.stop()


def send(peer: PostfixPeer, *args: str, input: bytes, password: str = PASSWORD,
         port: str = "smtps", server_name: str = "mail.test") -> subprocess.CompletedProcess:
    env = dict(os.environ, SP_PW=password, HOME="/nonexistent")  # no client.toml of this host
    env.pop("SEALPOST_CLIENT_CONFIG", None)
    cmd = [str(SEALPOST), "send", "-v", "--server", f"127.0.0.1:{peer.ports[port]}",
           "--server-name", server_name, "--ca", str(peer.ca), "--user", USER,
           "--password-env", "SP_PW", *args]
    return subprocess.run(cmd, input=input, capture_output=True, timeout=60, env=env)


# Postfix's trace fields at the top of a delivered message (virtual(8) adds Return-Path,
# X-Original-To and Delivered-To; smtpd adds Received). Everything after them is what was sent.
TRACE = ("return-path", "x-original-to", "delivered-to", "received")


def split_delivered(msg: bytes) -> tuple[list[bytes], list[bytes], bytes]:
    """(trace fields, the sender's header fields, body); Maildir files have LF line ends."""
    head, sep, body = msg.partition(b"\n\n")
    assert sep, msg[:300]
    fields = header_fields(head)
    n = 0
    while n < len(fields) and fields[n].split(b":", 1)[0].lower().decode() in TRACE:
        n += 1
    return fields[:n], fields[n:], body


def lf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


def smtpd_line(peer: PostfixPeer, queue_id: str) -> str:
    [m] = peer.wait_for_log(rf"smtpd\[\d+\]: {queue_id}: client=[^\n]*")
    return m.group(0)


def queue_id(result: subprocess.CompletedProcess) -> str:
    m = re.search(rb"queued as ([0-9A-F]+)", result.stderr)
    assert m, result.stderr.decode()
    return m.group(1).decode()


def assert_nothing_for(peer: PostfixPeer, address: str, queued_before: int) -> None:
    time.sleep(0.5)  # a delivery would take Postfix a few ms: give it the chance to show
    assert peer.messages(address) == [], peer.log()
    assert peer.queued() == queued_before, peer.log()


# -- delivery -----------------------------------------------------------------------------------

def test_implicit_tls_scram_byte_exact(peer):
    msg = (b"From: Alice <alice@mail.test>\n"
           b"To: Exact <exact@mail.test>\n"
           b"Subject: byte-exact\n"
           b"Date: Mon, 01 Jan 2024 00:00:00 +0000\n"
           b"Message-ID: <exact@mail.test>\n"
           b"X-Folded: one\n\ttwo\n  three\n"
           b"MIME-Version: 1.0\n"
           b"Content-Type: text/plain; charset=utf-8\n"
           b"Content-Transfer-Encoding: 8bit\n"
           b"\n"
           b"Line one.\n"
           b".\n"
           b"..two dots\n"
           b"\n"
           b"Gr\xc3\xbc\xc3\x9fe, \xe2\x82\xac 8-bit body\n"
           b"trailing spaces   \n"
           + b"x" * 900 + b"\n")
    r = send(peer, "-f", USER, "exact@mail.test", input=msg)
    assert r.returncode == 0, r.stderr.decode()
    assert b"TLSv1.3" in r.stderr
    [got] = peer.wait_for_messages(1, address="exact@mail.test")
    trace, fields, body = split_delivered(got)
    sent_head, _, sent_body = msg.partition(b"\n\n")
    assert fields == header_fields(sent_head)  # header by header, in order
    assert body == sent_body
    assert [f.split(b":")[0] for f in trace] == [b"Return-Path", b"X-Original-To",
                                                  b"Delivered-To", b"Received"]
    assert trace[0] == b"Return-Path: <alice@mail.test>"
    received = trace[3].decode()
    assert "(using TLSv1.3 with cipher" in received and "with ESMTPSA id" in received
    # the strongest mechanism both support: Postfix/Cyrus has no -PLUS (no channel binding)
    line = smtpd_line(peer, queue_id(r))
    assert "sasl_method=SCRAM-SHA-256," in line and f"sasl_username={USER}" in line
    assert b"authenticated with SCRAM-SHA-256\n" in r.stderr


def test_adds_date_and_message_id(peer):
    msg = b"From: alice@mail.test\nTo: dated@mail.test\nSubject: no date\n\nBody.\n"
    before = datetime.now(timezone.utc)
    r = send(peer, "dated@mail.test", input=msg)
    assert r.returncode == 0, r.stderr.decode()
    [got] = peer.wait_for_messages(1, address="dated@mail.test")
    _, fields, body = split_delivered(got)
    assert body == b"Body.\n"
    # the sender's fields, byte-exact and first; send's two after them; Postfix adds none
    assert fields[:3] == header_fields(b"From: alice@mail.test\nTo: dated@mail.test\n"
                                       b"Subject: no date")
    assert len(fields) == 5, fields
    name, _, value = fields[3].partition(b": ")
    assert name == b"Date"
    date = email.utils.parsedate_to_datetime(value.decode())
    assert abs((date - before).total_seconds()) < 120, value
    name, _, value = fields[4].partition(b": ")
    assert name == b"Message-ID"
    assert re.fullmatch(rb"<[0-9a-f]{32}@mail\.test>", value), value
    assert f"message-id={value.decode()}" in peer.log()


def test_t_recipients_bcc_stripped(peer):
    msg = (b"From: Alice <alice@mail.test>\n"
           b"To: \"To, Person\" <to@mail.test>\n"
           b"Cc: cc@mail.test (the cc),\n"
           b"\tList: bcc1@mail.test;\n"
           b"Bcc: bcc2@mail.test\n"
           b"Subject: -t\n"
           b"Date: Mon, 01 Jan 2024 00:00:00 +0000\n"
           b"Message-ID: <t@mail.test>\n"
           b"\n"
           b"Hi.\n")
    r = send(peer, "-t", "-oi", input=msg)
    assert r.returncode == 0, r.stderr.decode()
    want_fields = header_fields(lf(msg).partition(b"\n\n")[0].replace(
        b"Bcc: bcc2@mail.test\n", b""))
    for box in ("to@mail.test", "cc@mail.test", "bcc1@mail.test", "bcc2@mail.test"):
        [got] = peer.wait_for_messages(1, address=box)
        _, fields, body = split_delivered(got)
        assert fields == want_fields, box  # the sender's fields minus Bcc, byte-exact
        assert not any(f.lower().startswith(b"bcc") for f in fields)
        assert body == b"Hi.\n"
    qid = queue_id(r)
    logged = re.findall(rf"{qid}: to=<([^>]+)>.*status=sent", peer.log())
    assert sorted(logged) == ["bcc1@mail.test", "bcc2@mail.test", "cc@mail.test", "to@mail.test"]


def test_duplicate_recipients_once(peer):
    msg = b"From: alice@mail.test\nTo: dup@mail.test\nCc: dup@mail.test\n\nOnce.\n"
    r = send(peer, "-t", "dup@mail.test", input=msg)
    assert r.returncode == 0, r.stderr.decode()
    peer.wait_for_messages(1, address="dup@mail.test")
    qid = queue_id(r)
    m = re.search(rf"{qid}: from=<[^>]*>, size=\d+, nrcpt=(\d+)", peer.log())
    assert m and m.group(1) == "1", peer.log()  # one RCPT, not three
    time.sleep(0.3)
    assert len(peer.messages("dup@mail.test")) == 1


def test_forced_plain_mechanism(peer):
    msg = b"From: alice@mail.test\nTo: plain@mail.test\nSubject: plain\n\nx\n"
    r = send(peer, "--mechanism", "PLAIN", "plain@mail.test", input=msg)
    assert r.returncode == 0, r.stderr.decode()
    peer.wait_for_messages(1, address="plain@mail.test")
    assert "sasl_method=PLAIN," in smtpd_line(peer, queue_id(r))


def test_starttls_submission(peer):
    msg = b"From: alice@mail.test\nTo: starttls@mail.test\nSubject: starttls\n\nvia 587\n"
    r = send(peer, "--starttls", "starttls@mail.test", input=msg, port="smtp")
    assert r.returncode == 0, r.stderr.decode()
    assert b"TLS started" in r.stderr
    [got] = peer.wait_for_messages(1, address="starttls@mail.test")
    assert split_delivered(got)[2] == b"via 587\n"
    qid = queue_id(r)
    assert "sasl_method=SCRAM-SHA-256," in smtpd_line(peer, qid)
    # the session that carried this message: EHLO twice around STARTTLS, then AUTH
    pid = re.search(rf"smtpd\[(\d+)\]: {qid}: client=", peer.log()).group(1)
    assert re.search(rf"smtpd\[{pid}\]: disconnect from \S+ ehlo=2 starttls=1 auth=1 mail=1 "
                     rf"rcpt=1 data=1 quit=1", peer.log()), peer.log()


# -- refusals: nothing delivered ---------------------------------------------------------------

def test_wrong_password(peer):
    queued = peer.settled_queued()
    r = send(peer, "-f", USER, "wrongpw@mail.test", input=b"Subject: x\n\nx\n",
             password="not-the-password")
    assert r.returncode == EX_UNAVAILABLE, r.stderr.decode()
    last = r.stderr.decode().strip().splitlines()[-1]
    assert "535" in last and "message not sent" in last, last
    peer.wait_for_log(r"SASL SCRAM-SHA-256 authentication failed")
    assert_nothing_for(peer, "wrongpw@mail.test", queued)


# (Not here: --starttls against the implicit port. Both sides then wait for the other to speak
# first, send for the greeting for the RFC 5321 §4.5.3.2 five minutes: --connect-timeout
# bounds only the TCP connect.)
@pytest.mark.parametrize("case", ["wrong-name", "implicit-to-starttls-port"])
def test_refused_sends_nothing(peer, case):
    queued = peer.settled_queued()
    msg = b"To: refused@mail.test\nSubject: refused\n\nx\n"
    if case == "wrong-name":
        r = send(peer, "refused@mail.test", input=msg, server_name="other.test")
        assert r.returncode == EX_UNAVAILABLE, r.stderr.decode()
        assert b"certificate" in r.stderr
    else:  # a TLS handshake against a plaintext greeting
        r = send(peer, "refused@mail.test", input=msg, port="smtp")
        assert r.returncode == EX_UNAVAILABLE, r.stderr.decode()
    assert b"nothing sent" in r.stderr or b"message not sent" in r.stderr, r.stderr.decode()
    assert_nothing_for(peer, "refused@mail.test", queued)


def test_message_over_size_limit(peer):
    queued = peer.settled_queued()
    body = (b"y" * 99 + b"\n") * (SIZE_LIMIT // 100 + 10)
    r = send(peer, "big@mail.test", input=b"Subject: big\n\n" + body)
    assert r.returncode == EX_DATAERR, r.stderr.decode()
    assert_nothing_for(peer, "big@mail.test", queued)


def test_first_line_that_is_no_header(peer):
    # "Hi Bob: ..." has a colon but no field name (RFC 5322 §2.2: no spaces in a name): it is
    # body text, and the fields send adds must come before it, not after it.
    msg = b"Hi Bob: the numbers are in.\nSee you.\n"
    r = send(peer, "-f", USER, "prose@mail.test", input=msg)
    assert r.returncode == 0, r.stderr.decode()
    [got] = peer.wait_for_messages(1, address="prose@mail.test")
    _, fields, body = split_delivered(got)
    assert [f.split(b":")[0] for f in fields] == [b"From", b"Date", b"Message-ID"], got
    assert body == msg


# -- 8-bit and SMTPUTF8 -------------------------------------------------------------------------

def test_eight_bit_body_needs_8bitmime(peer):
    queued = peer.settled_queued()
    msg = b"From: alice@mail.test\nSubject: 8bit\n\nGr\xc3\xbc\xc3\x9fe\n"
    r = send(peer, "--starttls", "eight@mail.test", input=msg, port="smtp")
    assert r.returncode == EX_DATAERR, r.stderr.decode()
    assert b"8BITMIME" in r.stderr
    assert_nothing_for(peer, "eight@mail.test", queued)
    # the same listener takes the 7-bit message
    r = send(peer, "--starttls", "eight@mail.test", input=msg.replace(b"\xc3\xbc\xc3\x9f", b"ue"),
             port="smtp")
    assert r.returncode == 0, r.stderr.decode()
    peer.wait_for_messages(1, address="eight@mail.test")


def received_with(msg: bytes) -> str:
    trace, _, _ = split_delivered(msg)
    received = next(f for f in trace if f.startswith(b"Received:")).decode()
    return re.search(r" with (\S+) id ", received).group(1)


def test_utf8_recipient_uses_smtputf8(peer):
    box = "j\u00f6rg@mail.test"
    msg = ("From: alice@mail.test\nTo: " + box + "\nSubject: utf8\n\nx\n").encode()
    r = send(peer, box, input=msg)
    assert r.returncode == 0, r.stderr.decode()
    [got] = peer.wait_for_messages(1, address=box)
    assert received_with(got) == "UTF8SMTPSA"  # Postfix's word for SMTPUTF8 + TLS + AUTH
    assert split_delivered(got)[1][:2] == header_fields(msg.partition(b"\n\n")[0])[:2]


def test_utf8_header_uses_smtputf8(peer):
    msg = "From: alice@mail.test\nSubject: Gr\u00fc\u00dfe\n\nascii body\n".encode()
    r = send(peer, "utf8hdr@mail.test", input=msg)
    assert r.returncode == 0, r.stderr.decode()
    [got] = peer.wait_for_messages(1, address="utf8hdr@mail.test")
    assert received_with(got) == "UTF8SMTPSA", got.decode()


@pytest.mark.parametrize("what", ["header", "recipient"])
def test_utf8_without_smtputf8_is_data_error(peer, what):
    # RFC 6531 §3.2: no downgrade; a UTF-8 header field is refused like a UTF-8 address, before
    # MAIL FROM, with EX_DATAERR.
    queued = peer.settled_queued()
    rcpt = "noutf8@mail.test" if what == "header" else "n\u00f6utf8@mail.test"
    subject = "Gr\u00fc\u00dfe" if what == "header" else "ascii"
    msg = f"From: alice@mail.test\nSubject: {subject}\n\nascii body\n".encode()
    r = send(peer, "--starttls", rcpt, input=msg, port="smtp")
    assert r.returncode == EX_DATAERR, r.stderr.decode()
    assert b"SMTPUTF8" in r.stderr
    assert b"MAIL FROM" not in r.stderr  # -v shows the dialogue: no transaction was begun
    assert_nothing_for(peer, rcpt, queued)
