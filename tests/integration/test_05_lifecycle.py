"""Lifecycle: graceful shutdown, crash safety, recovery of spooled mail."""

from __future__ import annotations

import signal
import socket
import time

import pytest

from harness import RawSMTP, queue_id_of, sample_message, split_received


def greet(c: RawSMTP) -> None:
    assert c.reply().code == 220


def send_one(c: RawSMTP, msg: bytes, rcpt: str = "demo@localhost") -> str:
    c.envelope("a@example.org", [rcpt])
    assert c.cmd("DATA").code == 354
    c.send(msg + b".\r\n")
    r = c.reply()
    assert r.code == 250, str(r)
    return queue_id_of(r.text)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_shutdown_with_idle_sessions(daemon, sig):
    sessions = []
    try:
        implicit = RawSMTP.implicit(daemon)
        greet(implicit)
        implicit.ehlo()
        sessions.append(implicit)

        plain = RawSMTP(daemon.ports["starttls"])
        greet(plain)
        sessions.append(plain)

        mx = RawSMTP(daemon.ports["mx"])
        greet(mx)
        mx.ehlo()
        assert mx.cmd("STARTTLS").code == 220
        mx.starttls(daemon)
        mx.ehlo()
        mx.envelope("a@example.org", ["demo@localhost"])  # mid-transaction, but idle
        sessions.append(mx)

        start = time.monotonic()
        daemon.signal(sig)
        for c in sessions:
            r = c.reply(timeout=5)
            assert (r.code, r.lines[0]) == (421, "4.3.2 mail.test Service shutting down"), str(r)
            assert c.read_to_eof(timeout=5) == b""
        assert daemon.wait_exit(timeout=5) == 0
        assert time.monotonic() - start < 5
    finally:
        for c in sessions:
            c.close()
    assert "sealpostd stopped" in daemon.log()


def test_shutdown_finishes_message_in_progress(daemon):
    msg = sample_message("in flight", b"first half\r\n" * 100 + b"second half\r\n")
    cut = len(msg) // 2
    with RawSMTP.implicit(daemon) as c:
        greet(c)
        c.ehlo()
        c.envelope("a@example.org", ["demo@localhost"])
        assert c.cmd("DATA").code == 354
        c.send(msg[:cut])
        daemon.signal(signal.SIGTERM)
        daemon.wait_for_log(r"SIGTERM: shutting down")
        # No new connections while draining.
        time.sleep(0.2)
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", daemon.ports["implicit"]), timeout=2).close()
        c.send(msg[cut:] + b".\r\n")
        r = c.reply()
        assert r.code == 250, str(r)
        qid = queue_id_of(r.text)
        r = c.reply()
        assert (r.code, r.lines[0][:5]) == (421, "4.3.2"), str(r)
    assert daemon.wait_exit(timeout=10) == 0
    # Delivered before exit or recovered from the spool on the next start: exactly once.
    daemon.start()
    [stored] = daemon.wait_for_maildir("demo@localhost")
    daemon.assert_no_more_mail("demo@localhost", 1)
    assert split_received(stored)[1] == msg
    assert f"Q{qid}R0." in daemon.maildir_files("demo@localhost")[0].name


def test_sigkill_after_250_delivers_exactly_once(daemon):
    msgs = [sample_message(f"crash {i}") for i in range(5)]
    ids = []
    with RawSMTP.implicit(daemon) as c:
        greet(c)
        c.ehlo()
        for m in msgs:
            ids.append(send_one(c, m))
        daemon.kill()  # immediately after the last 250
    assert daemon.proc.returncode == -signal.SIGKILL
    daemon.start()
    stored = daemon.wait_for_maildir("demo@localhost", len(msgs))
    daemon.assert_no_more_mail("demo@localhost", len(msgs))
    assert sorted(split_received(s)[1] for s in stored) == sorted(msgs)
    names = [p.name for p in daemon.maildir_files("demo@localhost")]
    for qid in ids:
        assert sum(f"Q{qid}R0." in n for n in names) == 1, names


def test_sigkill_repeated_restarts(daemon):
    """Kill right after each 250, several times over; every message arrives exactly once."""
    msgs = []
    for round_ in range(3):
        with RawSMTP.implicit(daemon) as c:
            greet(c)
            c.ehlo()
            m = sample_message(f"round {round_}")
            send_one(c, m)
            msgs.append(m)
            daemon.kill()
        daemon.start()
    stored = daemon.wait_for_maildir("demo@localhost", len(msgs))
    daemon.assert_no_more_mail("demo@localhost", len(msgs))
    assert sorted(split_received(s)[1] for s in stored) == sorted(msgs)


def test_undeliverable_message_survives_restart(make_daemon, tmp_path):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where a directory should be\n")
    maildir = blocked / "Maildir"
    daemon = make_daemon(mailboxes=["demo@localhost", ("user@mail.test", maildir)])
    msg = sample_message("deferred")
    with RawSMTP.implicit(daemon) as c:
        greet(c)
        c.ehlo()
        qid = send_one(c, msg, rcpt="user@mail.test")
    daemon.wait_for_log(qid + r".*4\.3\.5")  # a temporary failure, not a bounce
    assert daemon.stop() == 0
    blocked.unlink()
    blocked.mkdir()
    daemon.start()
    daemon.wait_for_log(r"recovered 1 queued message", since_start=True)
    [stored] = daemon.wait_for_maildir("user@mail.test")
    header, rest = split_received(stored)
    assert rest == msg and f" id {qid}" in header
    daemon.assert_no_more_mail("user@mail.test", 1)


def test_restart_on_same_ports(daemon):
    with RawSMTP.implicit(daemon) as c:
        greet(c)
        c.ehlo()
        send_one(c, sample_message("one"))
    assert daemon.stop() == 0
    daemon.start()
    with RawSMTP.implicit(daemon) as c:
        greet(c)
        c.ehlo()
        send_one(c, sample_message("two"))
    daemon.wait_for_maildir("demo@localhost", 2)


def test_shutdown_not_delayed_by_pending_handshakes(daemon):
    """A client that connects and never starts TLS (port scanners, broken clients) must not hold
    up a graceful stop until tls_handshake_timeout (default 10 s)."""
    silent = socket.create_connection(("127.0.0.1", daemon.ports["implicit"]), timeout=10)
    stalled = RawSMTP(daemon.ports["starttls"])
    try:
        greet(stalled)
        stalled.ehlo()
        assert stalled.cmd("STARTTLS").code == 220  # and then no ClientHello
        daemon.wait_for_log(r"connect \(tls=implicit\)", count=2)  # readiness probe + ours
        start = time.monotonic()
        daemon.signal(signal.SIGTERM)
        assert daemon.wait_exit(timeout=15) == 0
        elapsed = time.monotonic() - start
        assert elapsed < 3, f"shutdown took {elapsed:.1f}s\n{daemon.log()}"
        silent.settimeout(5)
        assert silent.recv(100) == b""
        assert stalled.read_to_eof(timeout=5) == b""
    finally:
        silent.close()
        stalled.close()


def test_sigkill_mid_data_delivers_nothing(daemon):
    with RawSMTP.implicit(daemon) as c:
        greet(c)
        c.ehlo()
        c.envelope("a@example.org", ["demo@localhost"])
        assert c.cmd("DATA").code == 354
        c.send(sample_message("half", b"x" * 70 + b"\r\n") * 100)
        time.sleep(0.2)
        daemon.kill()
    daemon.start()
    assert "recovered" not in daemon.log(since_start=True)
    daemon.assert_no_more_mail("demo@localhost", 0)
