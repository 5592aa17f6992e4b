"""sealpostd's remote delivery end to end: mail submitted with smtplib (implicit TLS, AUTH PLAIN)
is routed by the daemon to the MX hosts of the DNSSEC lab (dnslab.py) and arrives at aiosmtpd
receivers on loopback (remote_lab.py), or stays queued, or is bounced.

All MX hosts listen on one port ([outbound] mx_port, so every TLSA record is _PORT._tcp.mx.DOMAIN)
and are told apart by their loopback address:

    127.0.0.1  the receiver (STARTTLS, lab certificate): dane.test (TLSA 3 1 1 matching),
               wrongtlsa.test (TLSA not matching), verify.test, reject.test (unsigned)
    127.0.0.3  retry.test (signed, TLSA matching): nobody listens until test_retry_* starts one
    127.0.0.4  a proxy to 127.0.0.1 that strips STARTTLS: strip.test (policy verify),
               stripmay.test (default chain: unsigned, so `may`)

Covered: DANE-EE delivery byte-exact (verified=dane-ee in the log); a TLSA mismatch defers with
nothing sent, `sealpost queue list --json` shows the 4.7.5 reply; stripped STARTTLS defers under
`verify` and goes in cleartext under `may`; a receiver that is down, then up after `sealpost queue
flush`; a 550 for one recipient bounces (DSN parsed with `email`) while a 451 for another is
retried and the accepted one is never sent again; expiry after [queue] lifetime (60 s, the
minimum; about 65 s of the run) bounces with 4.4.7; mail from <> that fails (an authenticated
submission: the mx listener refuses <> to a remote recipient as relaying), and a bounce whose
remote recipient rejects it, are never bounced. SMTPUTF8 to a receiver without it: an
all-ASCII message goes without the parameter, UTF-8 headers bounce 5.6.9, a UTF-8 address
5.6.7 (RFC 6531, RFC 6533 report types). A restart between attempts repeats neither the
recipient already delivered nor the one already bounced (finished records in the spool).
"""

from __future__ import annotations

import email
import email.message
import re
import socket
import time

import pytest

import harness
from dnslab import DnsLab
from harness import Account, check_received, split_received, submit, tricky_message

pytest.importorskip("aiosmtpd.controller")

from remote_lab import (Receiver, StripProxy, log_lines, queue_listing,  # noqa: E402
                        server_context, start_receiver)
from test_16_remote import spki_sha256  # noqa: E402

ALICE = Account("alice@mail.test", "alice-Secret-1", aliases=("alice@reject.test",))
MAILBOXES = harness.DEFAULT_MAILBOXES + ["alice@mail.test"]
RECEIVER, RETRY_HOST, PROXY_HOST = "127.0.0.1", "127.0.0.3", "127.0.0.4"
ZONES_SIGNED = ["dane.test", "wrongtlsa.test", "retry.test"]
ZONES_UNSIGNED = {"verify.test": RECEIVER, "reject.test": RECEIVER, "strip.test": PROXY_HOST,
                  "stripmay.test": PROXY_HOST}
WAIT = 60  # seconds: the machine is slow and loaded; every wait is bounded by this or less


class Lab:
    def __init__(self, root, pki, dns, port, cert, key, rx, receiver, proxy):
        self.root, self.pki, self.dns, self.port = root, pki, dns, port
        self.cert, self.key = cert, key
        self.rx, self.receiver, self.proxy = rx, receiver, proxy


@pytest.fixture(scope="module")
def lab(tmp_path_factory, pki):
    root = tmp_path_factory.mktemp("daemon-remote")
    sans = ",".join(f"DNS:mx.{z}" for z in ZONES_SIGNED + list(ZONES_UNSIGNED))
    cert, key, _ = pki.make_leaf(root / "mx-pki", "mx", "mx.dane.test", sans, "ec")
    [port] = harness.free_ports(1)
    good = spki_sha256(cert)

    dns = DnsLab(root)
    dns.add_zone("dane.test", ["@ MX 10 mx", f"mx A {RECEIVER}",
                               f"_{port}._tcp.mx TLSA 3 1 1 {good}"])
    dns.add_zone("wrongtlsa.test", ["@ MX 10 mx", f"mx A {RECEIVER}",
                                    f"_{port}._tcp.mx TLSA 3 1 1 {'00' * 32}"])
    dns.add_zone("retry.test", ["@ MX 10 mx", f"mx A {RETRY_HOST}",
                                f"_{port}._tcp.mx TLSA 3 1 1 {good}"])
    for zone, address in ZONES_UNSIGNED.items():
        dns.add_zone(zone, ["@ MX 10 mx", f"mx A {address}"], signed=False)
    dns.start()

    rx = Receiver()
    receiver = proxy = None
    try:
        receiver = start_receiver(rx, RECEIVER, port, server_context(cert, key), "mx.dane.test")
        proxy = StripProxy(PROXY_HOST, port, (RECEIVER, port))
        yield Lab(root, pki, dns, port, cert, key, rx, receiver, proxy)
    finally:
        if proxy is not None:
            proxy.stop()
        if receiver is not None:
            receiver.stop()
        dns.stop()


def remote_daemon(make_daemon, lab: Lab, *, queue: dict | None = None,
                  domains: dict[str, list[str]] | None = None, mx_port: int | None = None,
                  timeout: int = 30, outbound: dict | None = None) -> harness.Daemon:
    """A sealpostd with alice (may send as alice@mail.test and alice@reject.test), resolving
    through the lab, delivering to port lab.port (or mx_port); [queue] from `queue` (retries far
    away unless given, so only `sealpost queue flush` retries), per-domain policies from
    `domains`, [outbound] timeout per attempt and any other [outbound] keys from `outbound`. The
    lab's CA is trusted when it has a `pki`."""
    d = make_daemon(start=False, accounts=[ALICE], mailboxes=MAILBOXES)
    queue = {"first_retry": 600, "max_retry": 600, "workers": 4, **(queue or {})}
    text = [
        "",
        "[dns]",
        f"forwarders = [{harness.toml_str(lab.dns.resolver_address)}]",
        f"trust_anchors = [{harness.toml_str(lab.dns.trust_anchor_file)}]",
        "",
        "[outbound]",
        f"mx_port = {mx_port or lab.port}",
        *([f"ca_file = {harness.toml_str(lab.pki.ca_cert)}"] if getattr(lab, "pki", None) else []),
        'helo_name = "out.mail.test"',
        f"timeout = {timeout}",
        "connect_timeout = 10",
    ] + [f"{k} = {harness.toml_value(v)}" for k, v in (outbound or {}).items()] + [""]
    for name, chain in (domains or {}).items():
        text += ["[[outbound.domain]]", f"name = {harness.toml_str(name)}",
                 "tls_policy = [" + ", ".join(harness.toml_str(p) for p in chain) + "]", ""]
    text += ["[queue]"] + [f"{k} = {harness.toml_value(v)}" for k, v in queue.items()]
    with open(d.config_path, "a", encoding="utf-8") as f:
        f.write("\n".join(text) + "\n")
    return d.start(timeout=30)


def send(d: harness.Daemon, rcpts: list[str], subject: str,
         mail_from: str = ALICE.name) -> tuple[str, bytes]:
    msg = tricky_message(subject, rcpts[0])
    return submit(d, ALICE.name, ALICE.password, mail_from, rcpts, msg), msg


def assert_exact(d: harness.Daemon, content: bytes, qid: str, msg: bytes,
                 with_: str = "ESMTPSA") -> None:
    """What arrived is sealpostd's Received header (for this queue id) + exactly what was sent."""
    header, rest = split_received(content)
    check_received(header, queue_id=qid, with_=with_, helo="client.example")
    assert rest == msg, d.log()


def wait_deferred(d: harness.Daemon, qid: str, rcpt: str, count: int = 1) -> str:
    """Waits for the count-th deferral of rcpt and the retry it schedules; returns the reply."""
    [*_, m] = d.wait_for_log(rf"delivery: {qid} to=<{re.escape(rcpt)}> deferred: ([^\n]*)",
                             timeout=WAIT, count=count)
    d.wait_for_log(rf"delivery: {qid} retry in", timeout=WAIT, count=count)
    return m.group(1)


def wait_removed(d: harness.Daemon, qid: str) -> None:
    """Waits until qid has left the spool, then until `sealpost queue list` agrees."""
    d.wait_for_log(rf"delivery: {qid} removed from spool", timeout=WAIT)
    deadline = time.monotonic() + 10
    while qid in queue_listing(d):
        assert time.monotonic() < deadline, f"{qid} still listed\n{d.log()}"
        time.sleep(0.1)


def attempt_lines(d: harness.Daemon, domain: str) -> list[str]:
    return log_lines(d, rf"remote delivery: domain={re.escape(domain)} ")


def parse_dsn(raw: bytes, qid: str) -> tuple[email.message.Message, list[email.message.Message],
                                   email.message.Message]:
    """A DSN as Python's email sees it: (report, per-recipient status blocks, attached original).
    Asserts the RFC 3464 / RFC 6522 shape on the way."""
    report = email.message_from_bytes(raw)
    assert report.get_content_type() == "multipart/report", raw[:400]
    assert report.get_param("report-type") == "delivery-status", report["Content-Type"]
    assert report["To"] == f"<{ALICE.name}>" or report["To"].endswith(f"<{ALICE.name}>")
    assert report["Auto-Submitted"] == "auto-replied"
    parts = report.get_payload()
    assert [p.get_content_type() for p in parts] == [
        "text/plain", "message/delivery-status", "message/rfc822"], raw.decode(errors="replace")
    blocks = parts[1].get_payload()
    assert blocks[0]["Reporting-MTA"] == "dns; mail.test", blocks[0].items()
    assert blocks[0]["X-Sealpost-Queue-ID"] == qid, blocks[0].items()
    [original] = parts[2].get_payload()
    return report, blocks[1:], original


# --------------------------------------------------------------------------------------------
# 1. DANE


def test_dane_delivers_byte_exact(make_daemon, lab):
    d = remote_daemon(make_daemon, lab)
    rcpt = "dane1@dane.test"
    qid, msg = send(d, [rcpt], "dane one")
    [m] = lab.rx.wait_for(rcpt, timeout=WAIT, log=d.log)
    assert m.rcpts == [rcpt] and m.mail_from == ALICE.name
    assert m.tls and m.helo == "out.mail.test"
    assert_exact(d, m.content, qid, msg)
    d.wait_for_log(rf"delivery: {qid} to=<{re.escape(rcpt)}> delivered", timeout=WAIT)
    wait_removed(d, qid)
    [line] = attempt_lines(d, "dane.test")
    assert re.search(rf"mx=mx\.dane\.test address={RECEIVER} policy=dane tls=TLSv1\.[23] "
                     r"cipher=\S+ verified=dane-ee result=delivered=1\b", line), line
    time.sleep(1)
    assert len(lab.rx.to(rcpt)) == 1 and lab.rx.rcpts_tried(rcpt) == ["250 2.1.5 OK"]


# --------------------------------------------------------------------------------------------
# 2. TLSA that does not match


def test_tlsa_mismatch_defers_nothing_sent(make_daemon, lab):
    d = remote_daemon(make_daemon, lab)
    rcpt = "w@wrongtlsa.test"
    qid, _ = send(d, [rcpt], "wrong tlsa")
    reply = wait_deferred(d, qid, rcpt)
    assert reply.startswith("451 4.7.5 "), reply
    [entry] = queue_listing(d).values()
    assert entry["queue_id"] == qid and entry["status"] == "deferred", entry
    assert entry["attempts"] == 1 and entry["sender"] == ALICE.name
    assert entry["recipients"] == [{"address": rcpt, "delay_reason": reply, "finished": False}], \
        entry
    assert re.match(r"4\d\d 4\.7\.\d ", entry["last_error"]), entry
    [line] = attempt_lines(d, "wrongtlsa.test")
    assert "policy=dane" in line and "verified=none" in line, line
    assert "does not match the TLSA records" in line, line
    assert "delivered=" not in line, line
    # Not one envelope command went to the impostor, let alone the message.
    assert lab.rx.rcpts_tried(rcpt) == [] and lab.rx.to(rcpt) == []


# --------------------------------------------------------------------------------------------
# 3. STARTTLS stripped on the way


def test_stripped_starttls_verify_defers_may_delivers_cleartext(make_daemon, lab):
    d = remote_daemon(make_daemon, lab,
                      domains={"strip.test": ["verify"], "verify.test": ["verify"]})
    # The control: under `verify` the receiver itself passes (PKIX, name mx.verify.test).
    direct, direct_msg = send(d, ["v@verify.test"], "verify direct")
    [m] = lab.rx.wait_for("v@verify.test", timeout=WAIT, log=d.log)
    assert m.tls
    assert_exact(d, m.content, direct, direct_msg)
    d.wait_for_log(rf"delivery: {direct} to=<v@verify\.test> delivered", timeout=WAIT)
    [line] = attempt_lines(d, "verify.test")
    assert re.search(r"policy=verify tls=TLSv1\.[23] cipher=\S+ verified=pkix", line), line

    stripped_before = lab.proxy.stripped
    qid, _ = send(d, ["s@strip.test"], "stripped verify")
    reply = wait_deferred(d, qid, "s@strip.test")
    assert reply.startswith("451 4.7.5 "), reply
    [line] = attempt_lines(d, "strip.test")
    assert "policy=verify tls=none" in line and "STARTTLS not offered" in line, line
    assert lab.proxy.stripped > stripped_before  # the proxy did strip it
    entry = queue_listing(d)[qid]
    assert entry["status"] == "deferred" and entry["last_error"] == reply, entry
    assert b"s@strip.test" not in lab.proxy.client_bytes  # no envelope in the clear
    assert lab.rx.rcpts_tried("s@strip.test") == [] and lab.rx.to("s@strip.test") == []

    qid2, msg2 = send(d, ["c@stripmay.test"], "stripped may")
    [m] = lab.rx.wait_for("c@stripmay.test", timeout=WAIT, log=d.log)
    assert not m.tls
    assert_exact(d, m.content, qid2, msg2)
    d.wait_for_log(rf"delivery: {qid2} to=<c@stripmay\.test> delivered", timeout=WAIT)
    [line] = attempt_lines(d, "stripmay.test")
    assert "policy=may tls=none" in line and "result=delivered=1" in line, line
    assert b"<c@stripmay.test>" in lab.proxy.client_bytes  # it did go through the proxy
    wait_removed(d, qid2)
    assert list(queue_listing(d)) == [qid]  # the verify one is still waiting


# --------------------------------------------------------------------------------------------
# 4. Receiver down, then up, then flushed


def test_retry_after_flush_delivers(make_daemon, lab):
    d = remote_daemon(make_daemon, lab)
    rcpt = "r@retry.test"
    qid, msg = send(d, [rcpt], "retry")
    reply = wait_deferred(d, qid, rcpt)
    assert reply.startswith("451 4.4.1 "), reply  # nobody listening at 127.0.0.3
    entry = queue_listing(d)[qid]
    assert entry["status"] == "deferred" and entry["attempts"] == 1, entry
    assert entry["recipients"] == [{"address": rcpt, "delay_reason": reply, "finished": False}]
    assert entry["next_attempt"] - time.time() > 300  # only the flush brings it forward

    rx = Receiver()
    ctl = start_receiver(rx, RETRY_HOST, lab.port, server_context(lab.cert, lab.key),
                         "mx.retry.test")
    try:
        r = d.sealpost("queue", "flush")
        assert r.stdout.decode() == "flushed 1 deferred message(s): due now\n", r.stdout
        [m] = rx.wait_for(rcpt, timeout=WAIT, log=d.log)
        assert m.tls and m.rcpts == [rcpt]
        assert_exact(d, m.content, qid, msg)
        d.wait_for_log(rf"delivery: {qid} to=<{re.escape(rcpt)}> delivered", timeout=WAIT)
        wait_removed(d, qid)
        assert queue_listing(d) == {}
        first, second = attempt_lines(d, "retry.test")
        assert "4.4.1" in first, first
        assert "verified=dane-ee" in second and "result=delivered=1" in second, second
        time.sleep(1)
        assert len(rx.messages) == 1
    finally:
        ctl.stop()


# --------------------------------------------------------------------------------------------
# 5. One recipient rejected for good, one deferred once, one accepted at once


def test_permanent_failure_bounces_and_delivered_recipient_is_not_resent(make_daemon, lab):
    d = remote_daemon(make_daemon, lab)
    ok, bad, later = "ok5@dane.test", "nobody5@dane.test", "later5@dane.test"
    lab.rx.expect(bad, "550 5.1.1 no such user")
    lab.rx.expect(later, "451 4.2.0 try later", "250")
    qid, msg = send(d, [ok, bad, later], "partial")

    [m] = lab.rx.wait_for(ok, timeout=WAIT, log=d.log)
    assert m.rcpts == [ok]
    assert_exact(d, m.content, qid, msg)
    d.wait_for_log(rf"delivery: {qid} to=<{re.escape(bad)}> failed: 550 5\.1\.1", timeout=WAIT)
    assert wait_deferred(d, qid, later).startswith("451 4.2.0"), d.log()
    d.wait_for_log(rf"delivery: {qid} bounce [0-9A-F]+ queued to <{ALICE.name}> for 1 "
                   r"recipient\(s\)", timeout=WAIT)
    entry = queue_listing(d)[qid]
    # Only the deferred recipient is pending.
    reasons = {r["address"]: r["delay_reason"] for r in entry["recipients"]}
    assert reasons[later].startswith("451 4.2.0") and reasons[ok] is None, entry
    # The delivered and the bounced one are recorded as finished (they survive a restart).
    finished = {r["address"]: r["finished"] for r in entry["recipients"]}
    assert finished == {ok: True, bad: True, later: False}, entry

    # The DSN lands in alice's Maildir.
    [raw] = d.wait_for_maildir(ALICE.name, 1, timeout=WAIT)
    _, statuses, original = parse_dsn(raw, qid)
    [status] = statuses
    assert status["Final-Recipient"] == f"rfc822;{bad}", status.items()
    assert status["Action"] == "failed" and status["Status"] == "5.1.1", status.items()
    assert "550 5.1.1 no such user" in status["Diagnostic-Code"], status.items()
    assert original["Subject"] == "partial" and original["Message-ID"] == "<partial@mail.test>"
    assert m.content in raw  # the original, whole: Received header + what alice sent

    # The retry: only the deferred recipient is tried again, and it is accepted.
    r = d.sealpost("queue", "flush")
    assert r.stdout.decode() == "flushed 1 deferred message(s): due now\n", r.stdout
    [m2] = lab.rx.wait_for(later, timeout=WAIT, log=d.log)
    assert m2.rcpts == [later]
    assert_exact(d, m2.content, qid, msg)
    d.wait_for_log(rf"delivery: {qid} to=<{re.escape(later)}> delivered", timeout=WAIT)
    wait_removed(d, qid)
    time.sleep(1)
    assert len(lab.rx.to(ok)) == 1 and lab.rx.rcpts_tried(ok) == ["250 2.1.5 OK"]
    assert lab.rx.rcpts_tried(bad) == ["550 5.1.1 no such user"]
    assert lab.rx.rcpts_tried(later) == ["451 4.2.0 try later", "250 2.1.5 OK"]
    assert len(lab.rx.to(later)) == 1
    assert len(d.messages(ALICE.name)) == 1  # one report, not one per attempt
    d.sync_log()
    assert len(log_lines(d, r"bounce [0-9A-F]+ queued")) == 1, d.log()


# --------------------------------------------------------------------------------------------
# 6. Expiry


def test_expiry_bounces_with_4_4_7(make_daemon, lab):
    d = remote_daemon(make_daemon, lab, queue={"first_retry": 1, "max_retry": 5,
                                               "lifetime": 60})
    rcpt = "expire6@dane.test"
    lab.rx.expect(rcpt, "451 4.2.0 never")
    start = time.monotonic()
    qid, msg = send(d, [rcpt], "expiry")
    d.wait_for_log(rf"delivery: {qid} expired after", timeout=90)
    elapsed = time.monotonic() - start
    assert 59 <= elapsed <= 85, elapsed
    [raw] = d.wait_for_maildir(ALICE.name, 1, timeout=WAIT)
    _, [status], original = parse_dsn(raw, qid)
    assert status["Final-Recipient"] == f"rfc822;{rcpt}", status.items()
    assert status["Action"] == "failed" and status["Status"] == "4.4.7", status.items()
    assert "451 4.2.0 never" in status["Diagnostic-Code"], status.items()
    assert original["Subject"] == "expiry"
    assert msg in raw
    wait_removed(d, qid)
    tries = len(lab.rx.rcpts_tried(rcpt))
    assert tries >= 8, tries  # retried at 1, 2, 4, 5, 5... seconds for a minute
    assert lab.rx.to(rcpt) == []
    time.sleep(2)
    assert len(lab.rx.rcpts_tried(rcpt)) == tries  # and never again


# --------------------------------------------------------------------------------------------
# 7. A bounce is never bounced


def test_null_sender_failure_is_not_bounced(make_daemon, lab):
    d = remote_daemon(make_daemon, lab)
    rcpt = "nobody7@dane.test"
    # On the mx listener <> is a fine sender but a remote recipient is relaying: refused. Mail
    # from <> to a remote recipient comes from an authenticated submission (or is a bounce).
    with harness.RawSMTP(d.ports["mx"]) as c:
        assert c.reply().code == 220
        c.ehlo()
        assert c.cmd("MAIL FROM:<>").code == 250
        assert c.cmd(f"RCPT TO:<{rcpt}>").code == 554
    lab.rx.expect(rcpt, "550 5.1.1 no such user")
    qid, _ = send(d, [rcpt], "null sender", mail_from="")
    d.wait_for_log(rf"delivery: {qid} to=<{re.escape(rcpt)}> failed: 550 5\.1\.1", timeout=WAIT)
    d.wait_for_log(rf"delivery: {qid} from=<> not bounced", timeout=WAIT)
    wait_removed(d, qid)
    assert lab.rx.senders_for(rcpt) == ["<>"]  # MAIL FROM:<> on the wire (aiosmtpd's "<>")
    time.sleep(1)
    d.sync_log()
    assert "bounce" not in "\n".join(log_lines(d, rf"delivery: {qid} bounce")), d.log()
    assert d.messages(ALICE.name) == [] and queue_listing(d) == {}


def test_bounce_rejected_by_remote_sender_is_not_bounced(make_daemon, lab):
    """alice sends as alice@reject.test; the recipient is refused, so a DSN goes to
    alice@reject.test, whose MX refuses it too: that failure is logged, not bounced."""
    d = remote_daemon(make_daemon, lab)
    rcpt, sender = "nobody7b@dane.test", "alice@reject.test"
    lab.rx.expect(rcpt, "550 5.1.1 no such user")
    lab.rx.expect(sender, "550 5.1.1 no bounces here")
    qid, _ = send(d, [rcpt], "bounce bounce", mail_from=sender)
    [m] = d.wait_for_log(rf"delivery: {qid} bounce ([0-9A-F]+) queued to <{re.escape(sender)}>",
                         timeout=WAIT)
    bounce = m.group(1)
    d.wait_for_log(rf"delivery: {bounce} to=<{re.escape(sender)}> failed: 550 5\.1\.1",
                   timeout=WAIT)
    d.wait_for_log(rf"delivery: {bounce} from=<> not bounced", timeout=WAIT)
    wait_removed(d, bounce)
    wait_removed(d, qid)
    assert lab.rx.senders_for(rcpt) == [sender]
    assert lab.rx.senders_for(sender) == ["<>"]  # the DSN went from <>, once
    time.sleep(1)
    d.sync_log()
    assert len(log_lines(d, r"bounce [0-9A-F]+ queued")) == 1, d.log()
    assert lab.rx.to(sender) == [] and d.messages(ALICE.name) == []
    assert queue_listing(d) == {}


# --------------------------------------------------------------------------------------------
# 8. SMTPUTF8 to a server without it (RFC 6531): no downgrade, and no needless bounce


def test_smtputf8_to_a_server_without_it(make_daemon, lab):
    """An aiosmtpd receiver with SMTPUTF8 off (8BITMIME on) on a port of its own, reached as the
    MX of verify.test (unsigned: opportunistic TLS). Flagged SMTPUTF8 but all ASCII: delivered
    without the parameter (aiosmtpd would refuse it). UTF-8 in the Subject: bounced 5.6.9, the
    original attached as message/global. A non-ASCII recipient: bounced 5.6.7. Neither is
    sent."""
    [port] = harness.free_ports(1)
    rx = Receiver()
    receiver = start_receiver(rx, RECEIVER, port, server_context(lab.cert, lab.key),
                              "mx.verify.test", enable_SMTPUTF8=False)
    try:
        smtputf8_bounces(remote_daemon(make_daemon, lab, mx_port=port), rx)
    finally:
        receiver.stop()


def smtputf8_bounces(d: harness.Daemon, rx: Receiver) -> None:
    utf8 = ("SMTPUTF8",)
    plain, header, address = "plain8@verify.test", "header8@verify.test", "j\u00f6rg8@verify.test"
    ascii_msg = tricky_message("flagged utf8", plain)
    qid_plain = submit(d, ALICE.name, ALICE.password, ALICE.name, [plain], ascii_msg, utf8)
    [m] = rx.wait_for(plain, timeout=WAIT, log=d.log)
    assert_exact(d, m.content, qid_plain, ascii_msg, with_="UTF8SMTPSA")  # RFC 6531 §3.7.3

    header_msg = ("From: alice@mail.test\r\nTo: header8@verify.test\r\n"
                  "Subject: Gr\u00fc\u00dfe\r\nMessage-ID: <utf8-subject@mail.test>\r\n\r\n"
                  "ascii body\r\n").encode()
    qid_header = submit(d, ALICE.name, ALICE.password, ALICE.name, [header], header_msg, utf8)
    qid_address = submit(d, ALICE.name, ALICE.password, ALICE.name, [address],
                         tricky_message("utf8 address", "jorg8@verify.test"), utf8)
    d.wait_for_log(rf"delivery: {qid_header} to=<{header}> failed: 554 5\.6\.9", timeout=WAIT)
    d.wait_for_log(rf"delivery: {qid_address} to=<{address}> failed: 554 5\.6\.7", timeout=WAIT)

    reports = {}
    for raw in d.wait_for_maildir(ALICE.name, 2, timeout=WAIT):
        [qid] = re.findall(rb"X-Sealpost-Queue-ID: ([0-9A-F]+)", raw)
        reports[qid.decode()] = raw

    raw = reports[qid_header]
    report = email.message_from_bytes(raw)
    assert report.get_content_type() == "multipart/report", raw[:400]
    _, status, original = report.get_payload()
    assert status.get_content_type() == "message/delivery-status"  # the report itself is ASCII
    [_, recipient] = status.get_payload()
    assert recipient["Status"] == "5.6.9" and recipient["Action"] == "failed", recipient.items()
    assert "SMTPUTF8" in recipient["Diagnostic-Code"], recipient.items()
    assert original.get_content_type() == "message/global"  # RFC 6532 §3.7
    assert header_msg in raw  # whole, after our Received header

    # RFC 6533: a UTF-8 address makes the report global (Python's email does not parse that
    # type into fields, so the bytes are checked).
    raw = reports[qid_address]
    parts = [p.get_content_type() for p in email.message_from_bytes(raw).get_payload()]
    assert parts == ["text/plain", "message/global-delivery-status", "message/global"], parts
    assert f"Final-Recipient: utf-8;{address}\r\n".encode() in raw, raw
    assert b"\r\nAction: failed\r\nStatus: 5.6.7\r\n" in raw, raw

    wait_removed(d, qid_header)
    wait_removed(d, qid_address)
    assert rx.to(header) == [] and rx.to(address) == []
    assert rx.rcpts_tried(header) == [] and rx.rcpts_tried(address) == []


# --------------------------------------------------------------------------------------------
# Beyond the list: a restart between attempts


def test_restart_does_not_repeat_finished_recipients(make_daemon, lab):
    d = remote_daemon(make_daemon, lab)
    ok, bad, later = "ok8@dane.test", "nobody8@dane.test", "later8@dane.test"
    lab.rx.expect(bad, "550 5.1.1 no such user")
    lab.rx.expect(later, "451 4.2.0 try later", "250")
    qid, msg = send(d, [ok, bad, later], "restart")
    lab.rx.wait_for(ok, timeout=WAIT, log=d.log)
    wait_deferred(d, qid, later)
    d.wait_for_maildir(ALICE.name, 1, timeout=WAIT)  # the DSN for nobody8
    assert d.stop() == 0
    d.start(timeout=30)  # recovery attempts the message again at once
    [m] = lab.rx.wait_for(later, timeout=WAIT, log=d.log)
    assert_exact(d, m.content, qid, msg)
    wait_removed(d, qid)
    time.sleep(1)
    facts = {"messages to ok8": len(lab.rx.to(ok)),
             "RCPTs for nobody8": len(lab.rx.rcpts_tried(bad)),
             "DSNs": len(d.messages(ALICE.name)), "last transaction": m.rcpts}
    assert facts == {"messages to ok8": 1, "RCPTs for nobody8": 1, "DSNs": 1,
                     "last transaction": [later]}, d.log()


# --------------------------------------------------------------------------------------------
# Shutdown with a delivery in flight


def test_sigterm_cuts_a_delivery_in_flight_short(make_daemon, lab):
    """An MX that accepts the connection and never greets holds an attempt until its deadline
    (300 s here); SIGTERM must not wait for that. The message stays queued for the next start."""
    tarpit = socket.socket()
    tarpit.bind((RECEIVER, 0))
    tarpit.listen(8)
    tarpit.settimeout(WAIT)
    held = []
    try:
        d = remote_daemon(make_daemon, lab, mx_port=tarpit.getsockname()[1], timeout=300)
        qid, _ = send(d, ["tarpit9@dane.test"], "tarpit")
        conn, _ = tarpit.accept()  # the attempt is in flight, waiting for a greeting
        held.append(conn)
        time.sleep(0.5)
        started = time.monotonic()
        assert d.stop(grace=WAIT) == 0, d.log()
        took = time.monotonic() - started
        assert took < 10, f"SIGTERM took {took:.1f} s with an attempt in flight\n{d.log()}"
        # Deferred, not lost: the spool still has it (read without the daemon).
        r = d.sealpost("queue", "list", "--json", check=True)
        assert qid in r.stdout.decode(), r.stdout.decode() + d.log()
    finally:
        for c in held:
            c.close()
        tarpit.close()
