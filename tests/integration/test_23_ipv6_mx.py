"""sealpostd's remote delivery to IPv6 MX addresses (issue 6 test gaps): mail submitted with
smtplib goes through the DNSSEC lab (dnslab.py) to aiosmtpd receivers (remote_lab.py) on
[::1] or 127.0.0.1, with test_19's remote_daemon. The engine resolves AAAA before A and tries
the addresses in that order, one log line each (`mx=... address=... verified=...`).

Two ports, each free on both ::1 and 127.0.0.1, and a daemon per test whose [outbound] mx_port
picks one (the TLSA records name both ports):

    V6 port: a receiver on [::1] only, 127.0.0.1 refuses
        v6only.test   MX mx, mx AAAA ::1, TLSA 3 1 1 matching         -> ::1, dane-ee
        wrong6.test   MX mx, mx AAAA ::1, TLSA 3 1 1 not matching     -> 4.7.5, nothing sent
        dual.test     MX mx, mx AAAA ::1 + A 127.0.0.1 (refused)      -> ::1 first, A untried
        v4v6.test     MX 10 mx4 (A 127.0.0.1, refused), MX 20 mx6 (AAAA ::1) -> both tried
    V4 port: a receiver on 127.0.0.1 only, [::1] refuses
        dual.test     AAAA ::1 refused (4.4.1), then A 127.0.0.1          -> both tried

Skipped with the reason when ::1 cannot be bound here (no IPv6 loopback).
"""

from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass

import pytest

import harness
from dnslab import DnsLab

pytest.importorskip("aiosmtpd.controller")

from remote_lab import Receiver, server_context, start_receiver  # noqa: E402
from test_16_remote import spki_sha256  # noqa: E402
from test_19_daemon_remote import (assert_exact, attempt_lines, remote_daemon,  # noqa: E402
                                   send, wait_deferred, wait_removed)

WAIT = 60  # seconds: the machine is slow and loaded; every wait is bounded by this or less


def ipv6_loopback_missing() -> str | None:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError as e:
        return f"no IPv6 loopback here (binding [::1]:0: {e})"
    return None


def port_free_on_both(tries: int = 50) -> int:
    """A TCP port free on ::1 and on 127.0.0.1 (bound on both at once, then closed)."""
    for _ in range(tries):
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s6:
            s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s6.bind(("::1", 0))
            port = s6.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s4:
                try:
                    s4.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise AssertionError(f"no port free on both ::1 and 127.0.0.1 in {tries} tries")


@dataclass
class Lab:
    """What test_19's remote_daemon reads (pki, dns, port), one per mx_port."""
    pki: harness.Pki
    dns: DnsLab
    port: int


@dataclass
class Env:
    pki: harness.Pki
    dns: DnsLab
    v6_port: int  # receiver on [::1] only
    v4_port: int  # receiver on 127.0.0.1 only
    rx6: Receiver
    rx4: Receiver

    def lab(self, port: int) -> Lab:
        return Lab(self.pki, self.dns, port)


@pytest.fixture(scope="module")
def env(tmp_path_factory, pki):
    if why := ipv6_loopback_missing():
        pytest.skip(why)
    root = tmp_path_factory.mktemp("ipv6-mx")
    cert, key, _ = pki.make_leaf(root / "mx-pki", "mx", "mx.v6only.test",
                                 "DNS:mx.v6only.test,DNS:mx.dual.test,DNS:mx6.v4v6.test", "ec")
    v6_port, v4_port = port_free_on_both(), port_free_on_both()
    while v4_port == v6_port:
        v4_port = port_free_on_both()
    good = spki_sha256(cert)

    def tlsa(host: str, data: str = good) -> list[str]:
        return [f"_{p}._tcp.{host} TLSA 3 1 1 {data}" for p in (v6_port, v4_port)]

    dns = DnsLab(root)
    dns.add_zone("v6only.test", ["@ MX 10 mx", "mx AAAA ::1", *tlsa("mx")])
    dns.add_zone("wrong6.test", ["@ MX 10 mx", "mx AAAA ::1", *tlsa("mx", "00" * 32)])
    dns.add_zone("dual.test", ["@ MX 10 mx", "mx AAAA ::1", "mx A 127.0.0.1", *tlsa("mx")])
    dns.add_zone("v4v6.test", ["@ MX 10 mx4", "@ MX 20 mx6", "mx4 A 127.0.0.1", "mx6 AAAA ::1",
                               *tlsa("mx4"), *tlsa("mx6")])
    rx6, rx4 = Receiver(), Receiver()
    ctl6 = ctl4 = None
    try:
        dns.start()
        ctl6 = start_receiver(rx6, "::1", v6_port, server_context(cert, key), "mx.v6only.test")
        ctl4 = start_receiver(rx4, "127.0.0.1", v4_port, server_context(cert, key),
                              "mx.dual.test")
        yield Env(pki, dns, v6_port, v4_port, rx6, rx4)
    finally:
        for ctl in (ctl4, ctl6):
            if ctl is not None:
                ctl.stop()
        dns.stop()


# The end of an attempt line: delivered under DANE-EE; refused by a closed port (4.4.1).
DELIVERED = (r"policy=dane tls=TLSv1\.[23] cipher=\S+ verified=dane-ee "
             r'result=delivered=1 deferred=0 bounced=0 reason="dane: verified by dane-ee"$')
REFUSED = r"verified=none result=451 4\.4\.1 [^\n]*[Cc]onnection refused"


def deliver_and_check(d: harness.Daemon, rx: Receiver, rcpt: str, subject: str) -> None:
    qid, msg = send(d, [rcpt], subject)
    [m] = rx.wait_for(rcpt, timeout=WAIT, log=d.log)
    assert m.rcpts == [rcpt] and m.tls and m.helo == "out.mail.test", m
    assert_exact(d, m.content, qid, msg)
    d.wait_for_log(rf"delivery: {qid} to=<{re.escape(rcpt)}> delivered", timeout=WAIT)
    wait_removed(d, qid)


# --------------------------------------------------------------------------------------------


def test_ipv6_only_mx_dane_delivers_byte_exact(make_daemon, env):
    d = remote_daemon(make_daemon, env.lab(env.v6_port))
    rcpt = "six@v6only.test"
    deliver_and_check(d, env.rx6, rcpt, "ipv6 only")
    [line] = attempt_lines(d, "v6only.test")
    assert re.search(r"mx=mx\.v6only\.test address=::1 " + DELIVERED, line), line
    time.sleep(1)
    assert len(env.rx6.to(rcpt)) == 1 and env.rx6.rcpts_tried(rcpt) == ["250 2.1.5 OK"]


def test_ipv6_tlsa_mismatch_defers_nothing_sent(make_daemon, env):
    """The control for the test above: over IPv6 too, DANE is checked before any envelope."""
    d = remote_daemon(make_daemon, env.lab(env.v6_port))
    rcpt = "w6@wrong6.test"
    qid, _ = send(d, [rcpt], "ipv6 wrong tlsa")
    reply = wait_deferred(d, qid, rcpt)
    assert reply.startswith("451 4.7.5 "), reply
    [line] = attempt_lines(d, "wrong6.test")
    assert "mx=mx.wrong6.test address=::1 policy=dane " in line, line
    assert "verified=none" in line and "does not match the TLSA records" in line, line
    assert env.rx6.rcpts_tried(rcpt) == [] and env.rx6.to(rcpt) == []


def test_dual_stack_aaaa_first_a_not_tried(make_daemon, env):
    """A 127.0.0.1 (refused) and AAAA ::1 (up): AAAA is tried first and takes the message, so
    the A address is never tried (one attempt line)."""
    d = remote_daemon(make_daemon, env.lab(env.v6_port))
    rcpt = "first6@dual.test"
    deliver_and_check(d, env.rx6, rcpt, "dual aaaa first")
    [line] = attempt_lines(d, "dual.test")
    assert re.search(r"mx=mx\.dual\.test address=::1 " + DELIVERED, line), line
    assert env.rx4.rcpts_tried(rcpt) == []


@pytest.mark.parametrize("case", [
    # AAAA ::1 (refused) and A 127.0.0.1 (up): ::1 first, 4.4.1, then 127.0.0.1 delivers.
    ("fallback4@dual.test", "dual.test", "6", r"mx=mx\.dual\.test address=::1",
     r"mx=mx\.dual\.test address=127\.0\.0\.1"),
    # MX 10 has only A 127.0.0.1 (refused), MX 20 only AAAA ::1 (up): IPv4, then IPv6.
    ("fallback6@v4v6.test", "v4v6.test", "4", r"mx=mx4\.v4v6\.test address=127\.0\.0\.1",
     r"mx=mx6\.v4v6\.test address=::1"),
], ids=["dual-stack-ipv6-refused-to-ipv4", "ipv4-mx-refused-to-ipv6-mx"])
def test_refused_address_falls_back_to_the_other_family(make_daemon, env, case):
    rcpt, domain, refused_family, refused, delivered = case
    up_port, rx_up, rx_refused = ((env.v4_port, env.rx4, env.rx6) if refused_family == "6"
                                  else (env.v6_port, env.rx6, env.rx4))
    d = remote_daemon(make_daemon, env.lab(up_port))
    deliver_and_check(d, rx_up, rcpt, f"fallback {domain}")
    first, second = attempt_lines(d, domain)
    assert re.search(refused + " policy=dane tls=none cipher=- " + REFUSED, first), first
    assert re.search(delivered + " " + DELIVERED, second), second
    assert rx_refused.rcpts_tried(rcpt) == []
