"""Success DSNs and delay warnings (RFC 3461 NOTIFY, RFC 3464 reports) from a real sealpostd.

alice submits over implicit TLS with AUTH, with NOTIFY/ORCPT/RET/ENVID on her commands
(smtplib's mail/rcpt options); the reports come back to her local Maildir from <> and are
parsed with Python's email package:

(a) local delivery with NOTIFY=SUCCESS: Action: delivered, Status 2.0.0, headers only (no RET);
(b) remote delivery to an aiosmtpd receiver, which offers no DSN, with NOTIFY=SUCCESS and
    RET=FULL: Action: relayed with Remote-MTA and the receiver's 250, the whole message back;
(c) NOTIFY=DELAY to a receiver answering 451 with [queue] delay_warning = 3: exactly one
    delay warning (Action: delayed, Status 4.2.0, Will-Retry-Until = arrival + lifetime) for
    that recipient only (not the FAILURE-only one), while the message stays queued and retried;
(d) NOTIFY=NEVER, delivered locally, relayed and deferred past delay_warning: nothing at all.

The remote side is the DNSSEC lab (dnslab.py) with one zone, notify.test, whose MX is the
receiver on 127.0.0.1 (no TLSA, no MTA-STS: the default chain ends in `may`, cleartext).
A next hop that does offer DSN (no report from us; it reports itself) is test_21 (f), with a
second sealpostd as the MX: aiosmtpd refuses the DSN parameters.
"""

from __future__ import annotations

import email
import email.message
import email.utils
import re
import time

import pytest

import harness
from dnslab import DnsLab
from harness import SMTP_SSL, queue_id_of, tricky_message

pytest.importorskip("aiosmtpd.controller")

from remote_lab import Receiver, log_lines, queue_listing, start_receiver  # noqa: E402
from test_19_daemon_remote import ALICE, remote_daemon  # noqa: E402

RECEIVER = "127.0.0.1"
WAIT = 60  # seconds: every wait is bounded by this or less


class Lab:
    def __init__(self, dns: DnsLab, port: int, rx: Receiver):
        self.dns, self.port, self.rx = dns, port, rx


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("notify")
    [port] = harness.free_ports(1)
    dns = DnsLab(root)
    dns.add_zone("notify.test", ["@ MX 10 mx", f"mx A {RECEIVER}"])
    dns.start()
    rx = Receiver()
    receiver = None
    try:
        receiver = start_receiver(rx, RECEIVER, port, None, "mx.notify.test")
        yield Lab(dns, port, rx)
    finally:
        if receiver is not None:
            receiver.stop()
        dns.stop()


def notify_daemon(make_daemon, lab: Lab, **queue) -> harness.Daemon:
    """test_19's sealpostd with alice, resolving through the lab, delivering to lab.port; [queue]
    from the keyword arguments (two workers, retries far away unless given)."""
    return remote_daemon(make_daemon, lab, queue={"workers": 2, **queue})


def send(d: harness.Daemon, rcpts: dict[str, list[str]], subject: str,
         mail_options: list[str] | None = None) -> tuple[str, bytes]:
    """alice submits to rcpts (address -> RCPT parameters) with MAIL parameters mail_options;
    returns the queue id and the message."""
    msg = tricky_message(subject, next(iter(rcpts)))
    with SMTP_SSL("mail.test", d.ports["implicit"], context=d.client_context(),
                  timeout=30) as c:
        c.ehlo("client.example")
        assert c.has_extn("dsn")
        assert c.login(ALICE.name, ALICE.password)[0] == 235
        code, text = c.mail(ALICE.name, mail_options or [])
        assert code == 250, text
        for rcpt, options in rcpts.items():
            code, text = c.rcpt(rcpt, options)
            assert code == 250, (rcpt, text)
        code, text = c.data(msg)
        assert code == 250, text
        c.quit()
    return queue_id_of(text), msg


def parse_report(raw: bytes, qid: str, returned: str = "text/rfc822-headers"
                 ) -> tuple[email.message.Message, email.message.Message,
                            list[email.message.Message], email.message.Message]:
    """A DSN as Python's email sees it: (report, per-message block, per-recipient blocks,
    returned part). Asserts the RFC 3464 / RFC 6522 shape on the way."""
    report = email.message_from_bytes(raw)
    assert report.get_content_type() == "multipart/report", raw[:400]
    assert report.get_param("report-type") == "delivery-status", report["Content-Type"]
    assert report["To"] == f"<{ALICE.name}>", report["To"]
    assert report["Auto-Submitted"] == "auto-replied"
    parts = report.get_payload()
    assert [p.get_content_type() for p in parts] == [
        "text/plain", "message/delivery-status", returned], raw.decode(errors="replace")
    blocks = parts[1].get_payload()
    assert blocks[0]["Reporting-MTA"] == "dns; mail.test", blocks[0].items()
    assert blocks[0]["X-Sealpost-Queue-ID"] == qid, blocks[0].items()
    return report, blocks[0], blocks[1:], parts[2]


def report_sender(d: harness.Daemon, pattern: str) -> str:
    """The queue id of the report whose log line matches pattern, after it left the spool."""
    [m] = d.wait_for_log(pattern, timeout=WAIT)
    d.wait_for_log(rf"delivery: {m.group(1)} removed from spool", timeout=WAIT)
    return m.group(1)


# --------------------------------------------------------------------------------------------
# (a) local delivery: "delivered"


def test_local_delivery_with_notify_success_reports_delivered(make_daemon, lab):
    d = notify_daemon(make_daemon, lab)
    qid, msg = send(d, {"user@mail.test": ["NOTIFY=SUCCESS", "ORCPT=rfc822;User+2Bx@mail.test"],
                        "demo@localhost": []},
                    "local success", ["ENVID=env-a"])
    [stored] = d.wait_for_maildir("user@mail.test", 1, timeout=WAIT)
    assert stored.endswith(msg)
    d.wait_for_maildir("demo@localhost", 1, timeout=WAIT)
    report_id = report_sender(
        d, rf"delivery: {qid} success report ([0-9A-F]+) queued to <alice@mail\.test> "
           r"for 1 recipient\(s\)")
    [raw] = d.wait_for_maildir(ALICE.name, 1, timeout=WAIT)
    report, per_message, [status], returned = parse_report(raw, qid)
    assert report["Subject"] == "Successful Mail Delivery Report", report.items()
    assert per_message["Original-Envelope-Id"] == "env-a", per_message.items()
    assert per_message["Arrival-Date"], per_message.items()
    assert status["Original-Recipient"] == "rfc822;User+x@mail.test", status.items()
    assert status["Final-Recipient"] == "rfc822;user@mail.test", status.items()
    assert status["Action"] == "delivered" and status["Status"] == "2.0.0", status.items()
    assert status["Remote-MTA"] is None, status.items()  # our own mailbox: nobody remote
    # No RET: the header section only (RFC 3461 §4.3), not alice's body.
    headers = returned.get_payload()
    assert "Subject: local success" in headers and "Hello." not in headers, headers
    assert b"demo@localhost" not in raw  # no NOTIFY: no success report for demo
    wait_gone(d, qid)
    d.assert_no_more_mail(ALICE.name, 1, settle=1)
    assert report_id not in queue_listing(d)


def wait_gone(d: harness.Daemon, qid: str) -> None:
    d.wait_for_log(rf"delivery: {qid} removed from spool", timeout=WAIT)


# --------------------------------------------------------------------------------------------
# (b) remote delivery to a server without DSN: "relayed"


def test_remote_delivery_without_dsn_reports_relayed(make_daemon, lab):
    d = notify_daemon(make_daemon, lab)
    rcpt = "bob-b@notify.test"
    qid, msg = send(d, {rcpt: ["NOTIFY=SUCCESS,FAILURE"]}, "relayed success", ["RET=FULL"])
    [m] = lab.rx.wait_for(rcpt, timeout=WAIT, log=d.log)
    assert m.rcpts == [rcpt] and not m.tls
    d.wait_for_log(rf"delivery: {qid} to=<{re.escape(rcpt)}> delivered \(relayed\)",
                   timeout=WAIT)
    report_sender(d, rf"delivery: {qid} success report ([0-9A-F]+) queued to "
                     r"<alice@mail\.test> for 1 recipient\(s\)")
    [raw] = d.wait_for_maildir(ALICE.name, 1, timeout=WAIT)
    report, _, [status], returned = parse_report(raw, qid, returned="message/rfc822")
    assert report["Subject"] == "Successful Mail Delivery Report", report.items()
    assert status["Final-Recipient"] == f"rfc822;{rcpt}", status.items()
    assert status["Action"] == "relayed" and status["Status"] == "2.0.0", status.items()
    assert status["Remote-MTA"] == "dns; mx.notify.test", status.items()
    assert status["Diagnostic-Code"] == "smtp; 250 2.0.0 queued", status.items()
    # RET=FULL: the whole message comes back, as the receiver got it.
    [original] = returned.get_payload()
    assert original["Subject"] == "relayed success"
    assert m.content in raw
    wait_gone(d, qid)
    d.assert_no_more_mail(ALICE.name, 1, settle=1)


# --------------------------------------------------------------------------------------------
# (c) NOTIFY=DELAY, deferred past delay_warning: one warning


def test_delay_warning_once_while_the_message_stays_queued(make_daemon, lab):
    d = notify_daemon(make_daemon, lab, first_retry=1, max_retry=2, delay_warning=3)
    late, quiet = "late-c@notify.test", "quiet-c@notify.test"
    lab.rx.expect(late, "451 4.2.0 try later")
    lab.rx.expect(quiet, "451 4.2.0 try later")
    start = time.time()
    qid, _ = send(d, {late: ["NOTIFY=DELAY,FAILURE", "ORCPT=rfc822;Late-c@notify.test"],
                      quiet: ["NOTIFY=FAILURE"]},
                  "delayed", ["ENVID=env-c"])
    [m] = d.wait_for_log(rf"delivery: {qid} delay warning ([0-9A-F]+) queued to "
                         r"<alice@mail\.test> for 1 recipient\(s\)", timeout=WAIT)
    warned_at = time.time()
    assert warned_at - start >= 3, d.log()  # not before delay_warning
    d.wait_for_log(rf"delivery: {m.group(1)} removed from spool", timeout=WAIT)
    [raw] = d.wait_for_maildir(ALICE.name, 1, timeout=WAIT)
    report, per_message, [status], returned = parse_report(raw, qid)
    assert report["Subject"] == "Delayed Mail (still being retried)", report.items()
    assert per_message["Original-Envelope-Id"] == "env-c", per_message.items()
    assert status["Original-Recipient"] == "rfc822;Late-c@notify.test", status.items()
    assert status["Final-Recipient"] == f"rfc822;{late}", status.items()
    assert status["Action"] == "delayed" and status["Status"] == "4.2.0", status.items()
    assert "451 4.2.0 try later" in status["Diagnostic-Code"], status.items()
    # Will-Retry-Until: arrival + lifetime (the default, 5 days).
    until = email.utils.parsedate_to_datetime(status["Will-Retry-Until"]).timestamp()
    assert abs(until - (start + 5 * 86400)) < 120, status["Will-Retry-Until"]
    assert quiet.encode() not in raw  # FAILURE only: no delay warning for it
    assert "Hello." not in returned.get_payload()

    # Three more attempts later: still queued, still one warning.
    tries = len(lab.rx.rcpts_tried(late))
    deadline = time.monotonic() + WAIT
    while len(lab.rx.rcpts_tried(late)) < tries + 3:
        assert time.monotonic() < deadline, d.log()
        time.sleep(0.1)
    # Each attempt tried `late` once; its last log line is its retry: all of them are in.
    d.wait_for_log(rf"delivery: {qid} retry in", timeout=WAIT,
                   count=len(lab.rx.rcpts_tried(late)))
    entry = queue_listing(d)[qid]
    assert entry["status"] in ("deferred", "active", "queued"), entry
    assert len(d.messages(ALICE.name)) == 1
    assert len(log_lines(d, r"delay warning [0-9A-F]+ queued")) == 1, d.log()
    assert lab.rx.to(late) == [] and lab.rx.to(quiet) == []


# --------------------------------------------------------------------------------------------
# (d) NOTIFY=NEVER: nothing, whatever happens


def test_notify_never_gets_no_report(make_daemon, lab):
    d = notify_daemon(make_daemon, lab, first_retry=1, max_retry=2, delay_warning=2)
    ok, slow = "ok-d@notify.test", "slow-d@notify.test"
    lab.rx.expect(slow, "451 4.2.0 try later")
    start = time.time()
    qid, _ = send(d, {"user@mail.test": ["NOTIFY=NEVER"], ok: ["NOTIFY=NEVER"],
                      slow: ["NOTIFY=NEVER"]}, "never")
    d.wait_for_maildir("user@mail.test", 1, timeout=WAIT)
    lab.rx.wait_for(ok, timeout=WAIT, log=d.log)
    # Deferred past delay_warning, several attempts over.
    deadline = time.monotonic() + WAIT
    while time.time() - start < 5 or len(lab.rx.rcpts_tried(slow)) < 4:
        assert time.monotonic() < deadline, d.log()
        time.sleep(0.1)
    d.wait_for_log(rf"delivery: {qid} retry in", timeout=WAIT, count=4)
    assert qid in queue_listing(d)
    assert d.messages(ALICE.name) == []
    assert log_lines(d, rf"delivery: {qid} (success report|delay warning|bounce)") == [], d.log()
