"""The smarthost ([relay]) is a real Postfix (postfix_peer.py): sealpostd A relays to its
smtps listener (smtpd_tls_wrappermode=yes, RFC 8314 §3.3), verifies its certificate (the test
CA, name "localhost", the relay host) and authenticates with SCRAM-SHA-256 over Postfix's
Cyrus SASL (sasldb), the strongest mechanism both offer: Cyrus has no -PLUS. Postfix accepts
mail only after AUTH (smtpd_relay_restrictions = permit_sasl_authenticated, reject), even for
its own domain relay.test, so delivered mail shows the credentials were used.

test_20's `relaying` builds A (alice submits; [relay] host "localhost", user relay@relay.test);
"localhost" resolves (getaddrinfo) to 127.0.0.1, where Postfix listens, and maybe to ::1 too,
which refuses: only the 127.0.0.1 attempt line is checked.

Covered: the message arrives in Postfix's Maildir (virtual(8)) as Postfix's trace fields,
Postfix's Received (TLS, ESMTPSA, A's HELO name), A's Received, then exactly what alice sent
(the Maildir file has LF line ends, as virtual(8) writes them); A's attempt line says
tls=TLSv1.x verified=pkix auth=relay@relay.test/SCRAM-SHA-256; Postfix's smtpd logged the SASL
login. A wrong password is deferred on A with 4.7.0 and Postfix's 535, nothing delivered.
"""

from __future__ import annotations

import re
import time

import pytest

import postfix_peer
from harness import check_received, split_received
from postfix_peer import PostfixPeer, header_fields
from remote_lab import queue_listing
from test_20_smarthost import CAROL, RELAY_USER, relay_lines, relaying, send, wait_deferred

WAIT = 60  # seconds: the machine is slow and loaded; every wait is bounded by this or less


@pytest.fixture(scope="module")
def peer(tmp_path_factory, pki):
    if postfix_peer.needs_root():
        pytest.skip("a private Postfix needs root")
    if why := postfix_peer.missing():  # a test dependency (scripts/install-deps.sh test)
        pytest.fail(why)
    root = tmp_path_factory.mktemp("relay-postfix")
    cert, key, _ = pki.make_leaf(root, "smarthost", "localhost",
                                 "DNS:localhost,IP:127.0.0.1", "ec")
    p = PostfixPeer(root, cert, key, hostname="smarthost.relay.test", domains=("relay.test",),
                    mailboxes=(CAROL,), users={RELAY_USER.name: RELAY_USER.password},
                    smtp_tls=None,  # the smtps listener only
                    main_cf={"smtpd_relay_restrictions": "permit_sasl_authenticated, reject"})
    try:
        p.start()
        yield p
    finally:
        p.stop()


def test_relayed_through_postfix_byte_exact(make_daemon, peer):
    a = relaying(make_daemon, peer.ports["smtps"])
    qid, msg = send(a, "relay via postfix")
    [got] = peer.wait_for_messages(1, timeout=WAIT, address=CAROL)
    assert b"\r" not in got, got[:400]  # virtual(8) writes LF lines; the message had no bare CR

    # Postfix's trace fields: Return-Path, X-Original-To, Delivered-To (virtual), Received.
    head, _, _ = got.partition(b"\n\n")
    trace = header_fields(head)[:4]
    assert [f.split(b":")[0] for f in trace] == [b"Return-Path", b"X-Original-To",
                                                  b"Delivered-To", b"Received"], got[:600]
    assert trace[0] == b"Return-Path: <alice@mail.test>"
    received = trace[3].decode()
    assert received.startswith("Received: from out.mail.test "), received
    assert re.search(r"\(using TLSv1\.[23] with cipher \S+", received), received
    assert "by smarthost.relay.test (Postfix) with ESMTPSA id " in received, received
    pf_qid = re.search(r"with ESMTPSA id ([0-9A-F]+)", received)[1]

    # After them: A's Received header, then exactly what alice sent (CRLF back from LF).
    after = got[len(b"\n".join(trace)) + 1:]
    header_a, rest = split_received(after.replace(b"\n", b"\r\n"))
    check_received(header_a, queue_id=qid, with_="ESMTPSA", helo="client.example")
    assert rest == msg

    # Postfix saw the SASL login; A's line says how it went.
    [m] = peer.wait_for_log(rf"smtpd\[\d+\]: {pf_qid}: client=[^\n]*", timeout=WAIT)
    assert "sasl_method=SCRAM-SHA-256," in m[0] and f"sasl_username={RELAY_USER.name}" in m[0]
    peer.wait_for_log(rf"{pf_qid}: to=<{re.escape(CAROL)}>[^\n]*status=sent", timeout=WAIT)
    a.wait_for_log(rf"delivery: {qid} to=<{re.escape(CAROL)}> delivered", timeout=WAIT)
    [line] = [ln for ln in relay_lines(a) if "result=delivered" in ln]
    assert re.search(rf"relay delivery: relay=localhost:{peer.ports['smtps']} "
                     r"address=127\.0\.0\.1 tls=TLSv1\.[23] cipher=\S+ verified=pkix "
                     rf"auth={re.escape(RELAY_USER.name)}/SCRAM-SHA-256 "
                     r"result=delivered=1 deferred=0 bounced=0\b", line), line
    deadline = time.monotonic() + WAIT
    while qid in queue_listing(a):
        assert time.monotonic() < deadline, a.log()
        time.sleep(0.2)
    time.sleep(0.5)
    assert len(peer.messages(CAROL)) == 1, peer.log()


def test_wrong_password_at_postfix_defers(make_daemon, peer):
    delivered_before, queued_before = len(peer.messages(CAROL)), peer.settled_queued()
    a = relaying(make_daemon, peer.ports["smtps"], password="not-the-password")
    qid, _ = send(a, "wrong password at postfix")
    entry = wait_deferred(a, qid)
    assert entry["status"] == "deferred", entry
    [rcpt] = entry["recipients"]
    assert rcpt["address"] == CAROL
    reason = rcpt["delay_reason"]
    assert re.match(r"4\d\d 4\.7\.0 authentication at smarthost localhost failed", reason), entry
    assert "535 5.7.8" in reason and "nothing was sent" in reason, entry
    [line] = [ln for ln in relay_lines(a) if " address=127.0.0.1 " in ln]
    assert " address=127.0.0.1 " in line and " verified=pkix " in line, line
    assert f" auth={RELAY_USER.name}/failed " in line, line
    # Postfix's tally of the session: one failed AUTH, and no MAIL command at all.
    peer.wait_for_log(r"SASL SCRAM-SHA-256 authentication failed", timeout=WAIT)
    [m] = peer.wait_for_log(r"disconnect from [^\n]* auth=0/1[^\n]*", timeout=WAIT)
    assert " mail=" not in m[0] and " rcpt=" not in m[0] and " data=" not in m[0], m[0]
    time.sleep(0.5)
    assert len(peer.messages(CAROL)) == delivered_before and peer.queued() == queued_before
