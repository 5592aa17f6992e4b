"""Connection reuse for remote delivery (issue 6 item 2): sealpostd keeps a connection open after
a transaction and sends the next message to the same destination over it, under the same TLS
requirement only. The receivers (aiosmtpd, remote_lab.py) count TCP connections, so every test
can fail: more connections than expected, or fewer where reuse would cross a boundary.

The DNSSEC lab (dnslab.py), every MX host on one port and told apart by loopback address:

    127.0.0.1  mx.reuse.test (signed, TLSA 3 1 1 matching: policy dane)
    127.0.0.2  mx.drop.test: closes a connection idle for 2 s (aiosmtpd timeout)
    127.0.0.3  mx.refuse.test: answers 421 to a connection's second MAIL FROM
    127.0.0.4  mx.shared.test: MX of may.test (default chain: `may`) and of verify.test
               (tls_policy verify); mx.other.test (MX of other.test) has the same address

One delivery worker ([queue] workers = 1), so messages go one after the other, and each is
received before the next is submitted. Covered: four messages over one connection (one TLS
handshake, EHLO twice), each logged with verified=dane-ee and its TLS fields, three with
conn=reused; the idle limit closes the connection with QUIT and the next message opens a new
one; a receiver that dropped the idle connection, or answers the next MAIL FROM with 421, gets
the next message over a fresh connection with no deferral and one log line; a `may`
connection never carries `verify` mail, nor mail for another MX host name on the same address.
The smarthost (test_20_smarthost.py's second sealpostd): three messages, one AUTH, and each
relay line says conn=reused after the first.
"""

from __future__ import annotations

import re
import time

import pytest

import harness
from dnslab import DnsLab

pytest.importorskip("aiosmtpd.controller")

from remote_lab import Receiver, log_lines, server_context, start_receiver  # noqa: E402
from test_16_remote import spki_sha256  # noqa: E402
from test_19_daemon_remote import remote_daemon, send  # noqa: E402
import test_20_smarthost  # noqa: E402
from test_20_smarthost import CAROL, relay_lines, relaying, smarthost  # noqa: E402
from test_20_smarthost import send as relay_send  # noqa: E402

localhost_pki = test_20_smarthost.localhost_pki  # the smarthost's certificates (a fixture)

REUSE, DROP, REFUSE, SHARED = "127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"
WAIT = 60
KEEP = {"connection_cache_time_limit": 30}  # long enough for a slow machine


class OneMessagePerConnection(Receiver):
    """Takes one transaction per connection; the next MAIL FROM gets a 421, as a server might
    say when it dropped a connection it considered idle."""

    refused = 0

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        session.mails = getattr(session, "mails", 0) + 1
        if session.mails > 1:
            self.refused += 1
            return "421 4.4.2 one message per connection"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"


class Lab:
    def __init__(self, root, pki, dns, port):
        self.root, self.pki, self.dns, self.port = root, pki, dns, port
        self.rx: dict[str, Receiver] = {}


@pytest.fixture(scope="module")
def lab(tmp_path_factory, pki):
    root = tmp_path_factory.mktemp("reuse")
    names = ["mx.reuse.test", "mx.drop.test", "mx.refuse.test", "mx.shared.test", "mx.other.test"]
    cert, key, _ = pki.make_leaf(root / "mx-pki", "mx", names[0],
                                 ",".join(f"DNS:{n}" for n in names), "ec")
    [port] = harness.free_ports(1)
    dns = DnsLab(root)
    dns.add_zone("reuse.test", ["@ MX 10 mx", f"mx A {REUSE}",
                                f"_{port}._tcp.mx TLSA 3 1 1 {spki_sha256(cert)}"])
    for zone, address in {"drop.test": DROP, "refuse.test": REFUSE, "shared.test": SHARED,
                          "other.test": SHARED}.items():
        dns.add_zone(zone, ["@ MX 10 mx", f"mx A {address}"], signed=False)
    for zone in ("may.test", "verify.test"):
        dns.add_zone(zone, ["@ MX 10 mx.shared.test."], signed=False)
    dns.start()

    lab = Lab(root, pki, dns, port)
    controllers = []
    try:
        ctx = server_context(cert, key)
        for address, name, rx, kw in [
                (REUSE, "mx.reuse.test", Receiver(), {}),
                (DROP, "mx.drop.test", Receiver(), {"timeout": 2}),
                (REFUSE, "mx.refuse.test", OneMessagePerConnection(), {}),
                (SHARED, "mx.shared.test", Receiver(), {})]:
            controllers.append(start_receiver(rx, address, port, ctx, name, **kw))
            lab.rx[address] = rx
        yield lab
    finally:
        for c in controllers:
            c.stop()
        dns.stop()


def daemon(make_daemon, lab: Lab, **outbound):
    return remote_daemon(make_daemon, lab, queue={"workers": 1},
                         domains={"verify.test": ["verify"]}, outbound={**KEEP, **outbound})


def deliver(d: harness.Daemon, rx: Receiver, rcpt: str) -> str:
    """Submits one message to rcpt, waits until rx has it and sealpostd logged the delivery;
    returns the attempt's log line."""
    qid, _ = send(d, [rcpt], f"reuse {rcpt}")
    rx.wait_for(rcpt, timeout=WAIT, log=d.log)
    d.wait_for_log(rf"delivery: {qid} to=<{re.escape(rcpt)}> delivered", timeout=WAIT)
    domain = rcpt.split("@")[1]
    lines = log_lines(d, rf"remote delivery: domain={re.escape(domain)} ")
    return lines[-1]


def test_several_messages_over_one_connection(make_daemon, lab):
    rx = lab.rx[REUSE]
    before = (rx.connections, rx.ehlos, len(rx.messages), rx.disconnects)
    d = daemon(make_daemon, lab)
    lines = [deliver(d, rx, f"r{i}@reuse.test") for i in range(4)]
    assert len(rx.messages) - before[2] == 4
    # One TCP connection, one TLS handshake: EHLO before and after STARTTLS, then MAIL only.
    assert rx.connections - before[0] == 1, d.log()
    assert rx.ehlos - before[1] == 2, d.log()
    assert len(log_lines(d, r"remote delivery: domain=reuse\.test ")) == 4, d.log()
    for i, line in enumerate(lines):
        # Every line says how the peer was verified, with the (kept) session's TLS fields.
        assert re.search(rf"mx=mx\.reuse\.test address={REUSE} policy=dane tls=TLSv1\.[23] "
                         r"cipher=\S+ verified=dane-ee result=delivered=1\b", line), line
        assert line.endswith(" conn=reused") == (i > 0), line
    # Shutdown closes the idle connection (QUIT without waiting for the reply) and is not held
    # up by it.
    assert rx.disconnects == before[3], "the kept connection was closed early"
    started = time.monotonic()
    assert d.stop() == 0
    assert time.monotonic() - started < 10
    deadline = time.monotonic() + 10
    while rx.disconnects == before[3] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rx.disconnects == before[3] + 1, d.log()


def test_idle_limit_closes_with_quit(make_daemon, lab):
    rx = lab.rx[REUSE]
    d = daemon(make_daemon, lab, connection_cache_time_limit=1)
    connections, quits = rx.connections, rx.quits
    first = deliver(d, rx, "idle1@reuse.test")
    deadline = time.monotonic() + 15
    while rx.quits == quits and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rx.quits == quits + 1, "the idle connection was not closed with QUIT"
    second = deliver(d, rx, "idle2@reuse.test")
    assert rx.connections - connections == 2
    assert "conn=reused" not in first and "conn=reused" not in second, (first, second)


def test_connection_dropped_while_idle_is_replaced(make_daemon, lab):
    rx = lab.rx[DROP]
    d = daemon(make_daemon, lab)
    connections = rx.connections
    deliver(d, rx, "a@drop.test")
    time.sleep(4)  # the receiver closes the kept connection after 2 idle seconds
    line = deliver(d, rx, "b@drop.test")
    assert rx.connections - connections == 2, d.log()
    assert "conn=reused" not in line, line
    # Not a failed attempt: one line per message, and nothing deferred.
    assert len(log_lines(d, r"remote delivery: domain=drop\.test ")) == 2, d.log()
    assert not log_lines(d, r"> deferred: "), d.log()


def test_421_to_the_next_mail_from_is_replaced(make_daemon, lab):
    rx = lab.rx[REFUSE]
    d = daemon(make_daemon, lab)
    connections, refused = rx.connections, rx.refused
    deliver(d, rx, "a@refuse.test")
    line = deliver(d, rx, "b@refuse.test")
    # The kept connection was tried (a second MAIL FROM), refused, and replaced.
    assert rx.refused - refused == 1, d.log()
    assert rx.connections - connections == 2, d.log()
    assert "conn=reused" not in line, line
    assert len(log_lines(d, r"remote delivery: domain=refuse\.test ")) == 2, d.log()
    assert not log_lines(d, r"> deferred: "), d.log()
    assert len(rx.to("b@refuse.test")) == 1


def test_no_reuse_across_tls_requirements_or_hosts(make_daemon, lab):
    rx = lab.rx[SHARED]
    d = daemon(make_daemon, lab)
    connections = rx.connections
    may1 = deliver(d, rx, "a@may.test")
    assert rx.connections - connections == 1
    # Same MX host and address, a stronger requirement: a connection of its own.
    verify1 = deliver(d, rx, "b@verify.test")
    assert re.search(r"policy=verify tls=TLSv1\.[23] cipher=\S+ verified=pkix ", verify1), verify1
    assert rx.connections - connections == 2, d.log()
    # Same address, another MX host name (another reference identity): its own too.
    other = deliver(d, rx, "c@other.test")
    assert rx.connections - connections == 3, d.log()
    # Each requirement's own connection is reused.
    may2 = deliver(d, rx, "d@may.test")
    verify2 = deliver(d, rx, "e@verify.test")
    assert rx.connections - connections == 3, d.log()
    assert re.search(r"policy=may tls=TLSv1\.[23] ", may2), may2
    assert re.search(r"policy=verify tls=TLSv1\.[23] cipher=\S+ verified=pkix ", verify2), verify2
    reused = [line.endswith(" conn=reused") for line in (may1, verify1, other, may2, verify2)]
    assert reused == [False, False, False, True, True], d.log()


def test_smarthost_connection_is_reused_with_its_authentication(make_daemon, localhost_pki):
    b = smarthost(make_daemon, localhost_pki)
    a = relaying(make_daemon, b.ports["implicit"], start=False)
    text = a.config_path.read_text(encoding="utf-8")
    assert "connect_timeout = 10\n" in text
    a.config_path.write_text(
        text.replace("connect_timeout = 10\n", "connect_timeout = 10\n"
                     "connection_cache_time_limit = 30\n"), encoding="utf-8")
    a.start(timeout=30)
    for i in range(3):
        qid, _ = relay_send(a, f"relay reuse {i}")
        b.wait_for_maildir(CAROL, i + 1, timeout=WAIT)
        a.wait_for_log(rf"delivery: {qid} to=<{re.escape(CAROL)}> delivered", timeout=WAIT)
    lines = relay_lines(a)
    assert len(lines) == 3, a.log()
    for i, line in enumerate(lines):
        assert re.search(r" tls=TLSv1\.[23] cipher=\S+ verified=pkix "
                         r"auth=relay@relay\.test/SCRAM-SHA-256(-PLUS)? result=delivered=1\b",
                         line), line
        assert line.endswith(" conn=reused") == (i > 0), line
    # One session at the smarthost: one AUTH for three messages.
    b.sync_log()  # every AUTH line B logged is in its log file
    auths = re.findall(r"AUTH SCRAM-SHA-256(?:-PLUS)? succeeded: user=relay@relay\.test", b.log())
    assert len(auths) == 1, b.log()
