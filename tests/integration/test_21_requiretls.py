"""REQUIRETLS (RFC 8689) end to end: alice submits to sealpostd S over implicit TLS with
`MAIL FROM:<...> REQUIRETLS`; S delivers to a second sealpostd R, the MX of the lab's domains,
which offers REQUIRETLS inside STARTTLS on its mx listener (aiosmtpd does not offer it at all).

    rtls-dane.test  signed zone, MX mx -> 127.0.0.1, TLSA 3 1 1 of R's two certificates
    rtls-may.test   unsigned zone, MX mx -> 127.0.0.1: S's default chain ends in `may`
    rtls-old.test   signed zone, MX mx -> 127.0.0.2, TLSA 3 1 1: an aiosmtpd receiver (DANE
                    passes, but it does not offer REQUIRETLS)
    rtls-bad.test   signed zone, MX mx -> 127.0.0.1, TLSA 3 1 0 with data that is no SPKI:
                    OpenSSL takes no record, which RFC 7672 §2.2 makes "TLS, unauthenticated"

R is one sealpostd for the module; each test has its own recipients and a fresh S from
test_19's remote_daemon. Covered: (a) a REQUIRETLS message to rtls-dane.test arrives in
R's Maildir byte-exact (R's Received header, then S's, then what alice sent), S's attempt line
says verified=dane-ee, and R's "queued" log line carries `requiretls`: the flag crossed the
hop; (b) the same to rtls-may.test is never sent (R sees no connection at all), S logs the
RFC 8689 §4.2.1 code 550 5.7.10, and the DSN in alice's Maildir has Status 5.7.10 and the
original's header section only, no body (§5), its queue line saying it went with REQUIRETLS;
(c) the control: the message without REQUIRETLS to rtls-may.test is delivered, and R's line
has no `requiretls`; (d) a DANE-authenticated MX that does not offer REQUIRETLS gets no RCPT
and no message (smtp::ClientSession), and the DSN says 5.7.30, the code RFC 8689 §4.2.1 names;
(e) an MX whose only TLSA record OpenSSL cannot use would be reached with unauthenticated TLS,
which a REQUIRETLS message must not take: nothing is sent (R offers REQUIRETLS and would take
it), 550 5.7.10; (f) not REQUIRETLS but the DSN extension: NOTIFY=SUCCESS and ORCPT reach R,
which offers DSN, so R sends alice the "delivered" report (with her ORCPT) and S sends none
(RFC 3461 §5.2.2).

R removes a delivered message from its spool at once (so `sealpost queue show` cannot be asked
there): R's log line is what shows the flag.
"""

from __future__ import annotations

import base64
import email
import re
import time

import pytest

import harness
from dnslab import DnsLab
from harness import check_received, split_received

pytest.importorskip("aiosmtpd.controller")  # test_19, whose helpers are used here, needs it

from remote_lab import Receiver, server_context, start_receiver  # noqa: E402
from test_16_remote import spki_sha256  # noqa: E402
from test_19_daemon_remote import (ALICE, assert_exact, attempt_lines,  # noqa: E402
                                   remote_daemon, wait_removed)

DANE, MAY, OLD, BAD = "rtls-dane.test", "rtls-may.test", "rtls-old.test", "rtls-bad.test"
BOB, CAROL, DAVE, ERIN = f"bob@{DANE}", f"carol@{MAY}", f"dave@{MAY}", f"erin@{OLD}"
FRANK, GRACE = f"frank@{BAD}", f"grace@{DANE}"
OLD_MX = "127.0.0.2"
SECRET = "the body is what REQUIRETLS protects"
WAIT = 60  # seconds: the machine is slow and loaded; every wait is bounded by this or less


class Lab:
    """What test_19's remote_daemon reads (pki, dns, port), plus R, the receiving sealpostd,
    and `old`, the aiosmtpd receiver without REQUIRETLS."""

    def __init__(self, pki, dns, port, rx, old):
        self.pki, self.dns, self.port, self.rx, self.old = pki, dns, port, rx, old


@pytest.fixture(scope="module")
def lab(tmp_path_factory, pki):
    root = tmp_path_factory.mktemp("requiretls")
    # R: the lab's domains are local, with a mailbox for each test's recipient.
    rx = harness.Daemon(root / "r", pki, mailboxes=harness.DEFAULT_MAILBOXES + [BOB, CAROL, DAVE, FRANK, GRACE, ALICE.name])
    text = rx.config_path.read_text(encoding="utf-8")
    old = 'local = ["localhost", "mail.test"]'
    assert old in text
    rx.config_path.write_text(
        text.replace(old, f'local = ["localhost", "mail.test", "{DANE}", "{MAY}", "{BAD}"]'),
        encoding="utf-8")
    port = rx.ports["mx"]  # S's [outbound] mx_port: every TLSA is _PORT._tcp.mx.DOMAIN
    tlsa = [f"_{port}._tcp.mx TLSA 3 1 1 {spki_sha256(rx.tls_dir / c)}"
            for c in ("ecdsa.pem", "rsa.pem")]  # R presents either, by the client's sigalgs
    dns = DnsLab(root)
    dns.add_zone(DANE, ["@ MX 10 mx", "mx A 127.0.0.1", *tlsa])
    dns.add_zone(MAY, ["@ MX 10 mx", "mx A 127.0.0.1"], signed=False)
    dns.add_zone(OLD, ["@ MX 10 mx", f"mx A {OLD_MX}", tlsa[0]])
    dns.add_zone(BAD, ["@ MX 10 mx", "mx A 127.0.0.1", f"_{port}._tcp.mx TLSA 3 1 0 00112233"])
    old, old_ctl = Receiver(), None
    try:
        dns.start()
        rx.start(timeout=30)
        old_ctl = start_receiver(old, OLD_MX, port, server_context(
            rx.tls_dir / "ecdsa.pem", rx.tls_dir / "ecdsa.key"), f"mx.{OLD}")
        yield Lab(pki, dns, port, rx, old)
    finally:
        if old_ctl is not None:
            old_ctl.stop()
        rx.stop(grace=10)
        dns.stop()


def message(subject: str, to: str) -> bytes:
    """Header lines to come back in a DSN, and a body that must not: with dot-stuffed lines."""
    return (f"From: Alice <{ALICE.name}>\r\n"
            f"To: <{to}>\r\n"
            f"Subject: {subject}\r\n"
            "Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n"
            f"Message-ID: <{subject.replace(' ', '-')}@mail.test>\r\n"
            "\r\n"
            f"{SECRET}.\r\n"
            ".a line that starts with a dot\r\n"
            ".\r\n"
            "end\r\n").encode()


def send(s: harness.Daemon, rcpt: str, subject: str, *, requiretls: bool,
         rcpt_params: str = "") -> tuple[str, bytes]:
    """alice submits over implicit TLS with AUTH PLAIN, REQUIRETLS on MAIL if asked and
    rcpt_params on RCPT; returns (S's queue id, the message)."""
    msg = message(subject, rcpt)
    plain = base64.b64encode(f"\0{ALICE.name}\0{ALICE.password}".encode()).decode()
    with harness.RawSMTP.implicit(s, timeout=30) as c:
        assert c.reply().code == 220
        assert "REQUIRETLS" in c.ehlo().lines  # offered: this session is TLS (RFC 8689 §2)
        assert c.cmd(f"AUTH PLAIN {plain}").code == 235
        r = c.cmd(f"MAIL FROM:<{ALICE.name}>" + (" REQUIRETLS" if requiretls else ""))
        assert r.code == 250, str(r)
        r = c.cmd(f"RCPT TO:<{rcpt}>" + (" " + rcpt_params if rcpt_params else ""))
        assert r.code == 250, str(r)
        assert c.cmd("DATA").code == 354
        r = c.cmd(harness.dot_stuff(msg) + b".")
        assert r.code == 250, str(r)
        c.cmd("QUIT")
    return harness.queue_id_of(r.text), msg


def arrived_at_r(lab: Lab, s: harness.Daemon, rcpt: str, qid: str, msg: bytes) -> str:
    """Waits for rcpt's message in R's Maildir, checks it is R's Received header (TLS, from S)
    + S's + exactly what alice sent; returns R's "queued" log line for it."""
    [content] = lab.rx.wait_for_maildir(rcpt, 1, timeout=WAIT)
    header, rest = split_received(content)
    rqid = re.search(r" id ([0-9A-F]+)", header).group(1)
    check_received(header, queue_id=rqid, with_="ESMTPS", helo="out.mail.test", rcpt=rcpt)
    assert_exact(s, rest, qid, msg)
    [m] = lab.rx.wait_for_log(rf"[^\n]*\b{rqid}: from=<{re.escape(ALICE.name)}> [^\n]*",
                              timeout=WAIT)
    return m[0]


# --------------------------------------------------------------------------------------------
# (a) DANE: delivered, and REQUIRETLS goes on to the next hop


def test_requiretls_to_dane_destination_is_delivered_with_requiretls(make_daemon, lab):
    s = remote_daemon(make_daemon, lab)
    qid, msg = send(s, BOB, "rtls dane", requiretls=True)
    s.wait_for_log(rf"{qid}: from=<{re.escape(ALICE.name)}> .* requiretls result=queued",
                   timeout=WAIT)
    line = arrived_at_r(lab, s, BOB, qid, msg)
    assert re.search(r" tls=TLSv1\.[23] user=- requiretls result=queued$", line), line
    s.wait_for_log(rf"delivery: {qid} to=<{re.escape(BOB)}> delivered", timeout=WAIT)
    wait_removed(s, qid)
    [attempt] = attempt_lines(s, DANE)
    assert re.search(rf"mx=mx\.{re.escape(DANE)} address=127\.0\.0\.1 policy=dane "
                     r"tls=TLSv1\.[23] cipher=\S+ verified=dane-ee result=delivered=1\b",
                     attempt), attempt
    time.sleep(1)
    assert len(lab.rx.messages(BOB)) == 1


# --------------------------------------------------------------------------------------------
# (b) `may`: nothing sent, a DSN with the header section only


def test_requiretls_to_may_destination_bounces_headers_only(make_daemon, lab):
    s = remote_daemon(make_daemon, lab)
    lab.rx.sync_log()  # R is shared by this module's tests: their lines are in by now
    rx_connects_before = lab.rx.log().count("connect (tls=")
    qid, _ = send(s, CAROL, "rtls may", requiretls=True)
    [failed] = s.wait_for_log(rf"delivery: {qid} to=<{re.escape(CAROL)}> failed: ([^\n]*)",
                              timeout=WAIT)
    # RFC 8689 §4.2.1: no TLS session that meets REQUIRETLS can be had: 5.7.10.
    assert failed.group(1).startswith(f"550 5.7.10 REQUIRETLS: {MAY} (MX mx.{MAY}) "), failed[0]
    [attempt] = attempt_lines(s, MAY)
    assert "address=- policy=may tls=none" in attempt and "result=550 5.7.10 " in attempt, attempt
    # RFC 8689 §5: the report goes with REQUIRETLS and returns the header section only.
    [bounce] = s.wait_for_log(rf"delivery: {qid} bounce ([0-9A-F]+) queued to "
                              rf"<{re.escape(ALICE.name)}> for 1 recipient\(s\) requiretls "
                              r"headers-only", timeout=WAIT)
    [raw] = s.wait_for_maildir(ALICE.name, 1, timeout=WAIT)
    report = email.message_from_bytes(raw)
    assert report.get_content_type() == "multipart/report", raw[:400]
    assert report.get_param("report-type") == "delivery-status", report["Content-Type"]
    parts = report.get_payload()
    assert [p.get_content_type() for p in parts] == [
        "text/plain", "message/delivery-status", "text/rfc822-headers"], raw.decode()
    per_message, status = parts[1].get_payload()
    assert per_message["X-Sealpost-Queue-ID"] == qid, per_message.items()
    assert status["Final-Recipient"] == f"rfc822;{CAROL}", status.items()
    assert status["Action"] == "failed" and status["Status"] == "5.7.10", status.items()
    assert "550 5.7.10 REQUIRETLS" in status["Diagnostic-Code"], status.items()
    headers = email.message_from_string(parts[2].get_payload())
    assert headers["Subject"] == "rtls may" and headers["Message-ID"] == "<rtls-may@mail.test>"
    assert SECRET.encode() not in raw and b"a line that starts with a dot" not in raw
    wait_removed(s, qid)
    wait_removed(s, bounce.group(1))
    # Nothing reached R: not a connection, let alone an RCPT or the message.
    time.sleep(1)
    lab.rx.sync_log()  # its own connection is the only one R may have had since
    assert lab.rx.log().count("connect (tls=") == rx_connects_before + 1, lab.rx.log()
    assert lab.rx.messages(CAROL) == []
    assert len(s.messages(ALICE.name)) == 1


# --------------------------------------------------------------------------------------------
# (c) the control: without REQUIRETLS, `may` delivers


def test_plain_message_to_may_destination_is_delivered(make_daemon, lab):
    s = remote_daemon(make_daemon, lab)
    qid, msg = send(s, DAVE, "plain may", requiretls=False)
    line = arrived_at_r(lab, s, DAVE, qid, msg)
    assert line.endswith(" user=- result=queued") and "requiretls" not in line, line
    s.wait_for_log(rf"delivery: {qid} to=<{re.escape(DAVE)}> delivered", timeout=WAIT)
    wait_removed(s, qid)
    [attempt] = attempt_lines(s, MAY)
    assert re.search(r"policy=may tls=TLSv1\.[23] cipher=\S+ verified=\S+ "
                     r"result=delivered=1\b", attempt), attempt
    assert s.messages(ALICE.name) == []  # no DSN


# --------------------------------------------------------------------------------------------
# (d) DANE passes, but the server does not offer REQUIRETLS


def test_requiretls_to_server_without_requiretls_bounces_5_7_30(make_daemon, lab):
    s = remote_daemon(make_daemon, lab)
    ehlos_before = lab.old.ehlos
    qid, _ = send(s, ERIN, "rtls old", requiretls=True)
    [failed] = s.wait_for_log(rf"delivery: {qid} to=<{re.escape(ERIN)}> failed: ([^\n]*)",
                              timeout=WAIT)
    assert failed.group(1).startswith("550 5.7.30 "), failed[0]
    [attempt] = attempt_lines(s, OLD)
    assert re.search(rf"address={re.escape(OLD_MX)} policy=dane tls=TLSv1\.[23] cipher=\S+ "
                     r"verified=dane-ee ", attempt), attempt
    s.wait_for_log(rf"delivery: {qid} bounce [0-9A-F]+ queued to <{re.escape(ALICE.name)}> "
                   r"for 1 recipient\(s\) requiretls headers-only", timeout=WAIT)
    [raw] = s.wait_for_maildir(ALICE.name, 1, timeout=WAIT)
    _, status = email.message_from_bytes(raw).get_payload()[1].get_payload()
    assert status["Status"] == "5.7.30", status.items()
    assert SECRET.encode() not in raw
    wait_removed(s, qid)
    # It got as far as EHLO (twice: before and after STARTTLS), and no further.
    assert lab.old.ehlos > ehlos_before
    assert lab.old.rcpts_tried(ERIN) == [] and lab.old.messages == []


# --------------------------------------------------------------------------------------------
# (e) DANE whose only TLSA record OpenSSL cannot use: unauthenticated, so not for REQUIRETLS


def test_requiretls_to_mx_without_usable_tlsa_is_not_sent(make_daemon, lab):
    s = remote_daemon(make_daemon, lab)
    qid, _ = send(s, FRANK, "rtls bad tlsa", requiretls=True)
    [failed] = s.wait_for_log(rf"delivery: {qid} to=<{re.escape(FRANK)}> failed: ([^\n]*)",
                              timeout=WAIT)
    assert failed.group(1).startswith(f"550 5.7.10 REQUIRETLS: MX mx.{BAD} has no usable TLSA "
                                      "record; nothing was sent"), failed[0]
    s.wait_for_log(rf"delivery: {qid} bounce [0-9A-F]+ queued to <{re.escape(ALICE.name)}> "
                   r"for 1 recipient\(s\) requiretls headers-only", timeout=WAIT)
    [raw] = s.wait_for_maildir(ALICE.name, 1, timeout=WAIT)
    _, status = email.message_from_bytes(raw).get_payload()[1].get_payload()
    assert status["Status"] == "5.7.10", status.items()
    wait_removed(s, qid)
    time.sleep(1)
    assert lab.rx.messages(FRANK) == []  # R would have taken it: it offers REQUIRETLS


# --------------------------------------------------------------------------------------------
# (f) DSN passed on: a next hop that offers DSN reports itself, S owes no "relayed" report


def test_notify_and_orcpt_go_on_to_a_next_hop_with_dsn_which_reports_itself(make_daemon, lab):
    s = remote_daemon(make_daemon, lab)
    qid, msg = send(s, GRACE, "dsn passed on", requiretls=False,
                    rcpt_params="NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Grace+2Bx@rtls-dane.test")
    arrived_at_r(lab, s, GRACE, qid, msg)
    # R (which offers DSN) got NOTIFY and ORCPT: it delivered to its Maildir and sends alice
    # the "delivered" report itself (to its own Maildir for her: mail.test is local at R too).
    [raw] = lab.rx.wait_for_maildir(ALICE.name, 1, timeout=WAIT)
    report = email.message_from_bytes(raw)
    assert report.get_content_type() == "multipart/report", report.get_content_type()
    _, status = report.get_payload()[1].get_payload()
    assert status["Action"] == "delivered", status.items()
    assert status["Final-Recipient"].lower() == f"rfc822;{GRACE}", status.items()
    assert status["Original-Recipient"] == "rfc822;Grace+x@rtls-dane.test", status.items()
    # S: delivered, and no report of its own (RFC 3461 §5.2.2: the next hop took DSN). The
    # report would have been queued before the message left S's spool.
    s.wait_for_log(rf"delivery: {qid} to=<{re.escape(GRACE)}> delivered", timeout=WAIT)
    wait_removed(s, qid)
    assert not re.search(rf"delivery: {qid} success report", s.log()), s.log()
    assert s.messages(ALICE.name) == []
