"""Published attacks (RFCS.md): STARTTLS injection, SMTP smuggling, bare CR/LF, plaintext on
the TLS port, resource exhaustion, relay abuse."""

from __future__ import annotations

import re
import socket
import ssl
import struct
import time

import pytest

from harness import RawSMTP, check_received, queue_id_of, sample_message, split_received


def greet(c: RawSMTP) -> None:
    r = c.reply()
    assert (r.code, r.lines[0]) == (220, "mail.test ESMTP Sealpost"), str(r)


def queued_count(daemon) -> int:
    return len(re.findall(r"result=queued", daemon.log()))


# -- STARTTLS command injection (CVE-2011-0411) -------------------------------------------------


def test_starttls_injection_pipelined_noop_never_answered(daemon):
    c = RawSMTP(daemon.ports["starttls"])
    try:
        greet(c)
        assert "STARTTLS" in c.ehlo().lines
        c.send(b"STARTTLS\r\nNOOP\r\n")  # one write: NOOP is buffered before the handshake
        after = b""
        r = c.reply()
        after += r.raw
        assert (r.code, r.lines[0][:5]) == (554, "5.5.1"), str(r)
        # The server closes. Whatever is left, in plain text, must not be a reply to NOOP.
        after += c.read_to_eof(timeout=5)
        assert b"250" not in after, after
        # A TLS handshake on the same socket must not succeed (and so can never yield the NOOP's
        # reply either).
        with pytest.raises((ssl.SSLError, OSError)):
            c.starttls(daemon)
            after += c.sock.recv(4096)  # only reached if the handshake had succeeded
            raise AssertionError(f"TLS handshake succeeded after injection; got {after!r}")
    finally:
        c.close()
    daemon.wait_for_log(r"data pipelined after STARTTLS; closing \(command injection defence\)")


def test_starttls_injection_with_mail_commands(daemon):
    """The classic CVE-2011-0411 payload: a whole transaction pipelined after STARTTLS."""
    c = RawSMTP(daemon.ports["mx"])
    try:
        greet(c)
        c.ehlo()
        c.send(b"STARTTLS\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<demo@localhost>\r\n"
               b"DATA\r\ninjected\r\n.\r\n")
        data = c.read_to_eof(timeout=5)
        assert data.startswith(b"554 5.5.1 "), data
        assert data.count(b"\r\n") == 1, data
    finally:
        c.close()
    daemon.assert_no_more_mail("demo@localhost", 0)
    daemon.sync_log()
    assert queued_count(daemon) == 0


def test_after_starttls_state_is_reset(daemon):
    with RawSMTP(daemon.ports["starttls"]) as c:
        greet(c)
        c.ehlo("before-tls.example")
        r = c.cmd("STARTTLS")
        assert (r.code, r.lines[0]) == (220, "2.0.0 Ready to start TLS"), str(r)
        c.starttls(daemon)
        # The pre-TLS EHLO is forgotten (RFC 3207 §4.2) ...
        r = c.cmd("MAIL FROM:<a@example.org>")
        assert (r.code, r.lines[0][:5]) == (503, "5.5.1"), str(r)
        # ... and EHLO inside TLS no longer offers STARTTLS.
        lines = c.ehlo("after-tls.example").lines
        assert "STARTTLS" not in lines and "PIPELINING" in lines, lines
        r = c.cmd("STARTTLS")
        assert r.code in (502, 503), str(r)
        c.envelope("a@example.org", ["demo@localhost"])
        assert c.cmd("DATA").code == 354
        c.send(sample_message() + b".\r\n")
        qid = queue_id_of(c.reply().text)
    [stored] = daemon.wait_for_maildir("demo@localhost")
    header, _ = split_received(stored)
    check_received(header, queue_id=qid, helo="after-tls.example")


def test_starttls_in_transaction_refused(daemon):
    with RawSMTP(daemon.ports["starttls"]) as c:
        greet(c)
        c.ehlo()
        c.envelope("a@example.org", ["demo@localhost"])
        r = c.cmd("STARTTLS")
        assert (r.code, r.lines[0][:5]) == (503, "5.5.1"), str(r)


def test_starttls_not_offered_on_implicit(daemon):
    with RawSMTP.implicit(daemon) as c:
        greet(c)
        assert "STARTTLS" not in c.ehlo().lines
        assert c.cmd("STARTTLS").code in (502, 503)


def test_require_starttls_refuses_mail_in_clear(daemon):
    with RawSMTP(daemon.ports["require"]) as c:
        greet(c)
        assert "STARTTLS" in c.ehlo().lines
        r = c.cmd("MAIL FROM:<a@example.org>")
        assert (r.code, r.lines[0][:5]) == (530, "5.7.0"), str(r)
        r = c.cmd("RCPT TO:<demo@localhost>")
        assert r.code == 530, str(r)
        # BDAT is refused too, and its octets are consumed rather than run as commands.
        c.send(b"BDAT 6 LAST\r\nNOOP\r\n")
        r = c.reply()
        assert r.code == 530, str(r)
        assert c.cmd("NOOP").code == 250
        assert c.cmd("STARTTLS").code == 220
        c.starttls(daemon)
        c.ehlo()
        c.envelope("a@example.org", ["demo@localhost"])
        assert c.cmd("DATA").code == 354
        c.send(sample_message() + b".\r\n")
        assert c.reply().code == 250
    daemon.wait_for_maildir("demo@localhost")


# -- SMTP smuggling ----------------------------------------------------------------------------

SMUGGLE_TAIL = (b"MAIL FROM:<evil@x>\r\nRCPT TO:<demo@localhost>\r\nDATA\r\n"
                b"smuggled\r\n.\r\n")
BARE = [b"\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r\n.\r", b"\r.\n", b"\n\n.\r\n",
        b"\r\r\n.\r\r\n"]
LEGAL = {  # variant -> what the stored message must contain (RFC 5321 §4.5.2 unstuffing)
    b"\r\n\x00.\r\n": b"\r\n\x00.\r\nMAIL FROM:<evil@x>",
    b"\r\n.\x00\r\n": b"\r\n\x00\r\nMAIL FROM:<evil@x>",
}


def send_payload(c: RawSMTP, payload: bytes, bytewise: bool) -> None:
    if not bytewise:
        c.send(payload)
        return
    for i in range(len(payload)):
        c.send(payload[i:i + 1])


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
@pytest.mark.parametrize("variant", BARE, ids=[repr(v)[2:-1] for v in BARE])
def test_smuggling_bare_variants_rejected(daemon, variant, bytewise):
    head = b"Subject: smuggling\r\n\r\nbody "
    with RawSMTP.implicit(daemon) as c:
        greet(c)
        c.ehlo()
        c.envelope("a@example.org", ["demo@localhost"])
        assert c.cmd("DATA").code == 354
        send_payload(c, head + variant + SMUGGLE_TAIL, bytewise)
        r = c.reply()
        assert (r.code, r.lines[0][:5]) == (550, "5.5.2"), str(r)
        # Nothing else is in flight: the next reply answers the next command.
        r = c.cmd("NOOP")
        assert (r.code, r.lines[0]) == (250, "2.0.0 Ok"), str(r)
        assert c.buf == b""
        # The session is still usable for an honest message.
        marker = sample_message("marker")
        c.envelope("a@example.org", ["demo@localhost"])
        assert c.cmd("DATA").code == 354
        c.send(marker + b".\r\n")
        r = c.reply()
        assert r.code == 250, str(r)
        qid = queue_id_of(r.text)
    [stored] = daemon.wait_for_maildir("demo@localhost", 1)
    daemon.assert_no_more_mail("demo@localhost", 1, settle=0.3)
    header, rest = split_received(stored)
    check_received(header, queue_id=qid)
    assert rest == marker and b"smuggled" not in stored
    daemon.sync_log()
    assert queued_count(daemon) == 1
    daemon.wait_for_log(r"bare CR or LF in content \(smuggling defence\)")


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
@pytest.mark.parametrize("variant", list(LEGAL), ids=[repr(v)[2:-1] for v in LEGAL])
def test_smuggling_nul_variants_are_one_message(daemon, variant, bytewise):
    head = b"Subject: smuggling\r\n\r\nbody "
    with RawSMTP.implicit(daemon) as c:
        greet(c)
        c.ehlo()
        c.envelope("a@example.org", ["demo@localhost"])
        assert c.cmd("DATA").code == 354
        send_payload(c, head + variant + SMUGGLE_TAIL, bytewise)
        r = c.reply()
        assert r.code == 250, str(r)
        qid = queue_id_of(r.text)
        r = c.cmd("NOOP")
        assert (r.code, r.lines[0]) == (250, "2.0.0 Ok"), str(r)
        assert c.buf == b""
    [stored] = daemon.wait_for_maildir("demo@localhost", 1)
    daemon.assert_no_more_mail("demo@localhost", 1, settle=0.3)
    header, rest = split_received(stored)
    check_received(header, queue_id=qid)
    expected = head + variant + SMUGGLE_TAIL[:-3]
    if variant == b"\r\n.\x00\r\n":
        expected = expected.replace(b"\r\n.\x00\r\n", b"\r\n\x00\r\n")
    assert rest == expected
    assert LEGAL[variant] in rest
    daemon.sync_log()
    assert queued_count(daemon) == 1


def test_smuggling_in_bdat_rejected(daemon):
    """BDAT has no end-of-data marker, but a bare LF is still refused as content."""
    chunk = b"Subject: bdat\r\n\r\nbody\n.\nMAIL FROM:<evil@x>\r\n"
    with RawSMTP.implicit(daemon) as c:
        greet(c)
        c.ehlo()
        c.envelope("a@example.org", ["demo@localhost"])
        c.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
        r = c.reply()
        assert (r.code, r.lines[0][:5]) == (550, "5.5.2"), str(r)
        assert c.cmd("NOOP").code == 250
    daemon.assert_no_more_mail("demo@localhost", 0)


# -- bare CR/LF and long lines in commands -------------------------------------------------------


@pytest.mark.parametrize("line", [b"NOOP\nNOOP\r\n", b"NOOP\rNOOP\r\n",
                                  b"MAIL FROM:<a@example.org>\nRCPT TO:<demo@localhost>\r\n"])
def test_bare_cr_or_lf_in_command(daemon, line):
    with RawSMTP.implicit(daemon) as c:
        greet(c)
        c.ehlo()
        c.send(line)
        r = c.reply()
        assert (r.code, r.lines[0][:5]) == (500, "5.5.2"), str(r)
        # Exactly one reply, and nothing of the line was acted on.
        r = c.cmd("RCPT TO:<demo@localhost>")
        assert (r.code, r.lines[0][:5]) == (503, "5.5.1"), str(r)


@pytest.mark.parametrize("pieces", [1, 7])
def test_overlong_command_line(daemon, pieces):
    line = b"X" * 10240 + b"\r\n"
    with RawSMTP.implicit(daemon) as c:
        greet(c)
        c.ehlo()
        step = -(-len(line) // pieces)
        for i in range(0, len(line), step):
            c.send(line[i:i + step])
            time.sleep(0.01)
        r = c.reply()
        assert (r.code, r.lines[0]) == (500, "5.5.2 Line too long"), str(r)
        r = c.cmd("NOOP")
        assert (r.code, r.lines[0]) == (250, "2.0.0 Ok"), str(r)  # no second 500 was queued
        c.envelope("a@example.org", ["demo@localhost"])  # and the session still works


def test_command_line_over_512_octets(daemon):
    with RawSMTP.implicit(daemon) as c:
        greet(c)
        r = c.cmd("EHLO " + "a" * 600)
        assert (r.code, r.lines[0][:5]) == (500, "5.5.2"), str(r)
        assert c.cmd("NOOP").code == 250


def test_endless_line_is_not_buffered(daemon):
    """4 MiB without a CRLF: the server drains it and stays responsive (then one 500)."""
    with RawSMTP.implicit(daemon, timeout=30) as c:
        greet(c)
        block = b"Y" * 65536
        for _ in range(64):
            c.send(block)
        c.send(b"\r\nNOOP\r\n")
        r = c.reply()
        assert (r.code, r.lines[0]) == (500, "5.5.2 Line too long"), str(r)
        assert c.reply().code == 250


# -- the implicit TLS port ---------------------------------------------------------------------


def test_plaintext_client_on_implicit_port(daemon):
    with socket.create_connection(("127.0.0.1", daemon.ports["implicit"]), timeout=5) as s:
        s.sendall(b"EHLO x\r\n")
        start = time.monotonic()
        s.settimeout(3)
        received = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                received += chunk
        except ConnectionResetError:
            pass
        elapsed = time.monotonic() - start
    assert elapsed < 1.5, elapsed
    # No SMTP at all: at most a TLS alert record (content type 21), never reply text.
    assert received == b"" or received[0] == 0x15, received
    assert not re.search(rb"\d{3}[ -]", received), received
    daemon.wait_for_log(r"TLS handshake failed")


def test_silent_client_dropped_after_handshake_timeout(make_daemon):
    daemon = make_daemon(limits={"tls_handshake_timeout": 2})
    with socket.create_connection(("127.0.0.1", daemon.ports["implicit"]), timeout=10) as s:
        start = time.monotonic()
        s.settimeout(10)
        try:
            data = s.recv(4096)
        except ConnectionResetError:
            data = b""
        elapsed = time.monotonic() - start
    assert data == b""
    assert 1.5 <= elapsed <= 5, elapsed
    daemon.wait_for_log(r"TLS handshake failed: handshake timeout")


def test_stalled_starttls_handshake_dropped(make_daemon):
    daemon = make_daemon(limits={"tls_handshake_timeout": 2})
    with RawSMTP(daemon.ports["starttls"]) as c:
        greet(c)
        c.ehlo()
        assert c.cmd("STARTTLS").code == 220
        start = time.monotonic()
        data = c.read_to_eof(timeout=10)  # never start the handshake
        elapsed = time.monotonic() - start
    assert data == b""
    assert 1.5 <= elapsed <= 5, elapsed


def test_peer_reset_does_not_kill_daemon(daemon):
    """Clients that reset the connection right after the handshake (before reading the 220)
    used to kill sealpostd with SIGPIPE: OpenSSL writes with write(2), not MSG_NOSIGNAL."""
    ctx = daemon.client_context()
    for _ in range(10):
        s = socket.create_connection(("127.0.0.1", daemon.ports["implicit"]), timeout=5)
        tls = ctx.wrap_socket(s, server_hostname="mail.test")
        # SO_LINGER 0: close sends RST, so the server's next write fails with EPIPE.
        tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        tls.close()
    time.sleep(0.3)
    assert daemon.proc.poll() is None, f"sealpostd died: {daemon.proc.returncode}\n{daemon.log()}"
    with RawSMTP.implicit(daemon) as c:
        greet(c)


# -- limits --------------------------------------------------------------------------------------


def test_too_many_recipients(make_daemon):
    boxes = ["demo@localhost", "a1@mail.test", "a2@mail.test", "a3@mail.test"]
    daemon = make_daemon(limits={"max_recipients": 2}, mailboxes=boxes)
    with RawSMTP.implicit(daemon) as c:
        greet(c)
        c.ehlo()
        c.envelope("a@example.org", ["a1@mail.test", "a2@mail.test"])
        r = c.cmd("RCPT TO:<a3@mail.test>")
        assert (r.code, r.lines[0]) == (452, "4.5.3 Too many recipients"), str(r)
        assert c.cmd("DATA").code == 354
        msg = sample_message("two rcpts")
        c.send(msg + b".\r\n")
        assert c.reply().code == 250
    for box in ("a1@mail.test", "a2@mail.test"):
        [stored] = daemon.wait_for_maildir(box)
        assert split_received(stored)[1] == msg
        # With several recipients the Received header names none (Bcc privacy).
        assert "\tfor <" not in split_received(stored)[0]
    daemon.assert_no_more_mail("a3@mail.test", 0, settle=0.2)


def test_idle_timeout(make_daemon):
    daemon = make_daemon(limits={"idle_timeout": 2})
    for port in ("implicit", "starttls"):
        with (RawSMTP.implicit(daemon) if port == "implicit"
              else RawSMTP(daemon.ports[port])) as c:
            greet(c)
            c.ehlo()
            start = time.monotonic()
            r = c.reply(timeout=10)
            elapsed = time.monotonic() - start
            assert (r.code, r.lines[0][:5]) == (421, "4.4.2"), str(r)
            assert 1.5 <= elapsed <= 5, elapsed
            assert c.read_to_eof(timeout=5) == b""
    daemon.wait_for_log(r"idle timeout", count=2)


def test_idle_timeout_in_data(make_daemon):
    daemon = make_daemon(limits={"idle_timeout": 2})
    with RawSMTP.implicit(daemon) as c:
        greet(c)
        c.ehlo()
        c.envelope("a@example.org", ["demo@localhost"])
        assert c.cmd("DATA").code == 354
        c.send(b"Subject: half a message\r\n")
        r = c.reply(timeout=10)
        assert (r.code, r.lines[0][:5]) == (421, "4.4.2"), str(r)
    daemon.assert_no_more_mail("demo@localhost", 0)


def test_slowloris_hits_session_timeout(make_daemon):
    daemon = make_daemon(limits={"idle_timeout": 2, "session_timeout": 3})
    with RawSMTP.implicit(daemon) as c:
        greet(c)
        start = time.monotonic()
        r = None
        while time.monotonic() - start < 8:
            try:
                c.send(b"N")  # a byte every 0.5 s keeps the idle timer happy
            except OSError:
                break
            try:
                r = c.reply(timeout=0.5)
                break
            except TimeoutError:
                continue
        assert r is not None
        assert (r.code, r.lines[0][:5]) == (421, "4.4.2"), str(r)
        assert "session time limit" in r.text
        assert 2.5 <= time.monotonic() - start <= 6


def test_message_size_limit(make_daemon):
    daemon = make_daemon(limits={"max_message_size": 100000})
    with RawSMTP.implicit(daemon) as c:
        greet(c)
        assert "SIZE 100000" in c.ehlo().lines
        r = c.cmd("MAIL FROM:<a@example.org> SIZE=100001")
        assert (r.code, r.lines[0][:5]) == (552, "5.3.4"), str(r)
        c.envelope("a@example.org", ["demo@localhost"])
        assert c.cmd("DATA").code == 354
        c.send(sample_message("big", (b"z" * 76 + b"\r\n") * 2000) + b".\r\n")
        r = c.reply()
        assert (r.code, r.lines[0][:5]) == (552, "5.3.4"), str(r)
        # BDAT too, and the refused chunk's octets are not run as commands.
        c.envelope("a@example.org", ["demo@localhost"])
        chunk = (b"MAIL FROM:<x@y>\r\n" * 7000)[:120000]
        c.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
        r = c.reply()
        assert (r.code, r.lines[0][:5]) == (552, "5.3.4"), str(r)
        assert c.cmd("RSET").code == 250
        r = c.cmd("NOOP")
        assert r.code == 250 and c.buf == b""
        # Just under the limit is fine.
        c.envelope("a@example.org", ["demo@localhost"])
        assert c.cmd("DATA").code == 354
        msg = sample_message("fits", (b"z" * 76 + b"\r\n") * 1000)
        c.send(msg + b".\r\n")
        assert c.reply().code == 250
    [stored] = daemon.wait_for_maildir("demo@localhost")
    assert split_received(stored)[1] == msg


def test_unknown_command_flood(make_daemon):
    daemon = make_daemon(limits={"max_bad_commands": 5})
    with RawSMTP.implicit(daemon) as c:
        greet(c)
        c.send(b"FOO\r\n" * 50)
        codes = []
        while True:
            try:
                codes.append(c.reply(timeout=5).code)
            except EOFError:
                break
        assert codes == [500] * 6 + [421], codes
    daemon.wait_for_log(r"too many errors; closing")


# -- relay and recipients -----------------------------------------------------------------------


@pytest.mark.parametrize("listener", ["implicit", "mx"])
def test_relay_denied_and_unknown_user(daemon, listener):
    if listener == "implicit":
        c = RawSMTP.implicit(daemon)
    else:
        c = RawSMTP(daemon.ports[listener])
    with c:
        greet(c)
        c.ehlo()
        if listener == "mx":
            assert c.cmd("STARTTLS").code == 220
            c.starttls(daemon)
            c.ehlo()
        assert c.cmd("MAIL FROM:<a@example.org>").code == 250
        r = c.cmd("RCPT TO:<someone@example.com>")
        assert (r.code, r.lines[0][:5]) == (554, "5.7.1"), str(r)
        r = c.cmd("RCPT TO:<nobody@mail.test>")
        assert (r.code, r.lines[0][:5]) == (550, "5.1.1"), str(r)
        r = c.cmd("RCPT TO:<nobody@LOCALHOST>")
        assert (r.code, r.lines[0][:5]) == (550, "5.1.1"), str(r)
        # An address literal is never local, even for our own IP.
        r = c.cmd("RCPT TO:<demo@[127.0.0.1]>")
        assert r.code >= 500, str(r)
        r = c.cmd("DATA")
        assert (r.code, r.lines[0][:5]) == (554, "5.5.1"), str(r)
    daemon.assert_no_more_mail("demo@localhost", 0, settle=0.1)


def test_domain_is_case_insensitive(daemon):
    with RawSMTP.implicit(daemon) as c:
        greet(c)
        c.ehlo()
        c.envelope("a@example.org", ["user@MAIL.Test"])
        assert c.cmd("DATA").code == 354
        c.send(sample_message() + b".\r\n")
        assert c.reply().code == 250
    daemon.wait_for_maildir("user@mail.test")


# -- connection limits (thousands of idle connections) -------------------------------------------


@pytest.mark.parametrize("limit", ["max_connections_per_ip", "max_connections"])
def test_connection_limit(make_daemon, limit):
    daemon = make_daemon(limits={limit: 3})
    # The readiness probes are gone (with a limit of 3, one of the 4 may itself be refused).
    daemon.wait_for_log(r"disconnect |refused: ", count=len(daemon.ports))
    probes_refused = daemon.log().count("refused: ")
    held = []
    try:
        for port in ("implicit", "starttls", "mx"):
            c = RawSMTP.implicit(daemon) if port == "implicit" else RawSMTP(daemon.ports[port])
            held.append(c)
            greet(c)
        # Over the limit: plaintext listeners say 421 and close; implicit TLS just closes.
        with RawSMTP(daemon.ports["starttls"]) as extra:
            assert extra.read_to_eof(timeout=5) == b"421 4.7.0 Too many connections, try again later\r\n"
        with socket.create_connection(("127.0.0.1", daemon.ports["implicit"]), timeout=5) as s:
            s.settimeout(5)
            try:
                assert s.recv(100) == b""
            except ConnectionResetError:
                pass
        daemon.wait_for_log(rf"refused: {limit} \(3\) reached", count=probes_refused + 2)
        # The sessions that were let in still work.
        held[0].ehlo()
        held[0].envelope("a@example.org", ["demo@localhost"])
        # A slot comes back when a session ends.
        assert held.pop().cmd("QUIT").code == 221
        daemon.wait_for_log(r"disconnect .*messages=0",
                            count=len(daemon.ports) - probes_refused + 1)
        with RawSMTP.implicit(daemon) as again:
            greet(again)
    finally:
        for c in held:
            c.close()


@pytest.mark.parametrize("how", ["close_notify", "tcp_close", "tcp_reset"])
def test_truncated_message_never_delivered(daemon, how):
    """A message whose terminator never arrives is not delivered, however the client leaves."""
    with RawSMTP.implicit(daemon) as c:
        greet(c)
        c.ehlo()
        c.envelope("a@example.org", ["demo@localhost"])
        assert c.cmd("DATA").code == 354
        c.send(sample_message("truncated") + b"\r\n.\r")  # all but the final LF
        time.sleep(0.1)
        if how == "close_notify":
            raw = c.sock.unwrap()
            raw.close()
        elif how == "tcp_reset":
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()
        else:
            c.close()
    daemon.wait_for_log(r"disconnect tls=\S+ \S+ sni=mail\.test messages=0")
    daemon.assert_no_more_mail("demo@localhost", 0, settle=0.3)
    assert queued_count(daemon) == 0
