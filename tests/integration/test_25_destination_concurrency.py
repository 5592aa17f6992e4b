"""[queue] destination_concurrency end to end: sealpostd with more delivery workers than the
limit never runs more transactions at once to one destination than the limit, and mail for
another destination is delivered meanwhile instead of waiting behind it.

The remote side is the DNSSEC lab (dnslab.py) with two unsigned zones (no TLSA, no MTA-STS: the
default chain ends in `may`, cleartext), each MX an aiosmtpd receiver of its own on one port:

    127.0.0.5  slow.test: holds every DATA until the test opens its gate
    127.0.0.6  fast.test: answers at once

The slow receiver counts the transactions in DATA at once. With 4 workers and a limit of 2,
six messages to slow.test put exactly 2 in DATA while the other 4 wait, listed as queued with
no attempt; mail to fast.test submitted then arrives while the gate is still shut (the free
workers take it), and once it opens every slow message arrives once, never more than 2 at a
time. The control without a limit gets all 4 workers stuck at slow.test, and the fast mail
waits for them, so both assertions can fail. The daemon is test_19's `remote_daemon`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import pytest

import harness
from dnslab import DnsLab

pytest.importorskip("aiosmtpd.controller")

from remote_lab import Receiver, queue_listing, start_receiver  # noqa: E402
from test_19_daemon_remote import Lab, remote_daemon, send  # noqa: E402

SLOW_HOST, FAST_HOST = "127.0.0.5", "127.0.0.6"
GATE_LIMIT = 40  # seconds a DATA is held at most, whatever the test does
WAIT = 60  # seconds: the machine is slow and loaded; every wait is bounded by this or less


@dataclass
class GatedReceiver(Receiver):
    """A Receiver that holds each DATA until `gate_open` (or GATE_LIMIT seconds) and counts the
    transactions in DATA at once. aiosmtpd runs every session on one event loop thread, so
    plain ints will do; the test thread only reads them and sets the gate."""

    gated: bool = False
    gate_open: bool = False
    in_data: int = 0
    most_in_data: int = 0

    async def handle_DATA(self, server, session, envelope):
        self.in_data += 1
        self.most_in_data = max(self.most_in_data, self.in_data)
        try:
            deadline = time.monotonic() + GATE_LIMIT
            while self.gated and not self.gate_open and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        finally:
            self.in_data -= 1
        return await super().handle_DATA(server, session, envelope)

    def reset(self) -> None:
        """For the next test, once what an earlier one left in DATA has gone."""
        self.gate_open = True
        deadline = time.monotonic() + 10
        while self.in_data and time.monotonic() < deadline:
            time.sleep(0.05)
        self.messages.clear()
        self.rcpt_log.clear()
        self.gate_open = False
        self.most_in_data = 0


@dataclass
class ConcurrencyLab:
    lab: Lab  # what remote_daemon reads: dns, port, pki
    slow: GatedReceiver
    fast: GatedReceiver


@pytest.fixture(scope="module")
def clab(tmp_path_factory, pki):
    root = tmp_path_factory.mktemp("destconc")
    [port] = harness.free_ports(1)
    dns = DnsLab(root)
    dns.add_zone("slow.test", ["@ MX 10 mx", f"mx A {SLOW_HOST}"], signed=False)
    dns.add_zone("fast.test", ["@ MX 10 mx", f"mx A {FAST_HOST}"], signed=False)
    dns.start()
    slow, fast = GatedReceiver(gated=True), GatedReceiver()
    controllers = []
    try:
        controllers.append(start_receiver(slow, SLOW_HOST, port, None, "mx.slow.test"))
        controllers.append(start_receiver(fast, FAST_HOST, port, None, "mx.fast.test"))
        lab = Lab(root, pki, dns, port, None, None, None, None, None)
        yield ConcurrencyLab(lab, slow, fast)
    finally:
        for c in controllers:
            c.stop()
        dns.stop()


@pytest.fixture
def rx(clab):
    clab.slow.reset()
    clab.fast.reset()
    yield clab
    clab.slow.gate_open = True  # a failed test leaves nothing held for the daemon's shutdown


def submit_slow_batch(d: harness.Daemon, n: int) -> dict[str, str]:
    """n messages to slow.test, one recipient each: rcpt -> queue id."""
    return {rcpt: send(d, [rcpt], f"slow {i}")[0]
            for i, rcpt in enumerate(f"s{i}@slow.test" for i in range(n))}


def wait_until(what: str, ok, d: harness.Daemon) -> None:
    deadline = time.monotonic() + WAIT
    while not ok():
        assert time.monotonic() < deadline, f"not within {WAIT}s: {what}\n{d.log()}"
        time.sleep(0.05)


def statuses(d: harness.Daemon, ids) -> list[dict]:
    listing = queue_listing(d)
    return [listing[q] for q in ids if q in listing]


def test_limit_per_destination_and_other_destinations_go_on(make_daemon, rx):
    d = remote_daemon(make_daemon, rx.lab,
                      queue={"workers": 4, "destination_concurrency": 2}, timeout=60)
    slow = submit_slow_batch(d, 6)
    wait_until("2 transactions in DATA at slow.test", lambda: rx.slow.in_data == 2, d)
    # The other 4 wait for a slot: queued, no attempt counted, no retry time.
    wait_until("4 messages queued", lambda: sum(
        m["status"] == "queued" for m in statuses(d, slow.values())) == 4, d)
    for m in statuses(d, slow.values()):
        assert m["status"] in ("queued", "active"), m
        assert m["attempts"] == 0 and m["next_attempt"] is None, m
    # Each has been looked at by a worker and parked: the listing says what it waits for.
    wait_until("4 messages waiting for slow.test", lambda: sum(
        m["waiting_for"] == "slow.test" for m in statuses(d, slow.values())) == 4, d)
    text = d.sealpost("queue", "list", check=True).stdout.decode()
    assert text.count("\n    waiting for a delivery slot to slow.test\n") == 4, text

    # Not starved: fast.test gets the workers slow.test may not use, while its gate is shut.
    fast = {rcpt: send(d, [rcpt], "fast")[0] for rcpt in ["f0@fast.test", "f1@fast.test"]}
    for rcpt in fast:
        rx.fast.wait_for(rcpt, timeout=WAIT, log=d.log)
    assert not rx.slow.messages and rx.slow.in_data == 2, d.log()

    rx.slow.gate_open = True
    for rcpt in slow:
        rx.slow.wait_for(rcpt, timeout=WAIT, log=d.log)
    for qid in list(slow.values()) + list(fast.values()):
        d.wait_for_log(rf"delivery: {qid} removed from spool", timeout=WAIT)
    assert rx.slow.most_in_data == 2, d.log()
    # Each slow message was attempted exactly once: waiting for a slot is no attempt.
    assert all(len(rx.slow.to(r)) == 1 for r in slow)
    assert len(rx.slow.rcpt_log) == len(slow), rx.slow.rcpt_log


def test_without_a_limit_every_worker_goes_to_one_destination(make_daemon, rx):
    d = remote_daemon(make_daemon, rx.lab,
                      queue={"workers": 4, "destination_concurrency": 0}, timeout=60)
    slow = submit_slow_batch(d, 6)
    # The control: all 4 workers end up at slow.test, so fast.test mail waits for them.
    wait_until("4 transactions in DATA at slow.test", lambda: rx.slow.in_data == 4, d)
    send(d, ["f0@fast.test"], "fast")
    time.sleep(2)
    assert not rx.fast.messages, d.log()
    rx.slow.gate_open = True
    rx.fast.wait_for("f0@fast.test", timeout=WAIT, log=d.log)
    for rcpt in slow:
        rx.slow.wait_for(rcpt, timeout=WAIT, log=d.log)
    assert rx.slow.most_in_data == 4, d.log()


def test_check_config_prints_the_limit(make_daemon):
    d = make_daemon(start=False)
    with open(d.config_path, "a", encoding="utf-8") as f:
        f.write("\n[queue]\ndestination_concurrency = 7\n")
    r = harness.run([str(harness.SEALPOSTD), "--check-config", str(d.config_path)])
    assert "\ndestination_concurrency = 7\n" in r.stdout.decode(), r.stdout
