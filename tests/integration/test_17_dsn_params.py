"""DSN parameters (RFC 3461) and REQUIRETLS (RFC 8689) against a real sealpostd, with smtplib.

EHLO lists DSN on every listener and REQUIRETLS only inside TLS (implicit TLS, or after
STARTTLS); MAIL with RET/ENVID/REQUIRETLS and RCPT with NOTIFY/ORCPT are accepted and the
message is delivered unchanged, the parameters reaching the spool (the "queued" log line
names ENVID and REQUIRETLS); malformed or repeated parameters get 501 5.5.4 and a log line;
REQUIRETLS on a session without TLS gets 550 5.7.30 (RFC 8689 §2, the code §7 registers).

That the parameters reach the spool is shown by `sealpost queue show` (test_11) and the unit
tests (tests/unit/queue/log_format_dsn_test.cpp).
"""

from __future__ import annotations

import pytest

from harness import SMTP, SMTP_SSL, queue_id_of, sample_message, split_received


MESSAGE = sample_message("dsn parameters")


@pytest.fixture
def mx(make_daemon):
    """A daemon with an implicit-TLS listener of role mx (mail to local mailboxes, no AUTH)."""
    return make_daemon(extra_listeners=["mx_implicit"])


def implicit(daemon) -> SMTP_SSL:
    return SMTP_SSL("mail.test", daemon.ports["mx_implicit"], context=daemon.client_context(),
                    timeout=10)


def test_ehlo_lists_dsn_everywhere_and_requiretls_only_inside_tls(mx):
    with implicit(mx) as c:
        assert c.ehlo("client.example")[0] == 250
        assert c.has_extn("dsn") and c.has_extn("requiretls")
    with SMTP("mail.test", mx.ports["mx"], timeout=10) as c:
        assert c.ehlo("client.example")[0] == 250
        assert c.has_extn("dsn") and not c.has_extn("requiretls")
        c.starttls(context=mx.client_context())
        assert c.ehlo("client.example")[0] == 250
        assert c.has_extn("dsn") and c.has_extn("requiretls")


def test_dsn_parameters_and_requiretls_are_accepted_and_the_message_delivered(mx):
    with implicit(mx) as c:
        c.ehlo("client.example")
        code, text = c.mail("sender@example.org", ["RET=HDRS", "ENVID=QQ+2B314159", "REQUIRETLS"])
        assert (code, text[:5]) == (250, b"2.1.0"), text
        code, text = c.rcpt("demo@localhost",
                            ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;Demo+2Btag@localhost"])
        assert code == 250, text
        code, text = c.data(MESSAGE)
        assert code == 250, text
        qid = queue_id_of(text)
    [stored] = mx.wait_for_maildir("demo@localhost", 1)
    _, rest = split_received(stored)
    assert rest == MESSAGE
    mx.wait_for_log(rf"{qid}: from=<sender@example\.org> .* envid=QQ\+314159 requiretls "
                    r"result=queued")


def test_utf8_orcpt_and_never_are_accepted(mx):
    with implicit(mx) as c:
        c.ehlo("client.example")
        assert c.mail("sender@example.org", ["RET=FULL"])[0] == 250
        code, text = c.rcpt("demo@localhost", ["NOTIFY=never", r"ORCPT=utf-8;j\x{F6}rg@mail.test"])
        assert code == 250, text
        assert c.data(MESSAGE)[0] == 250
    mx.wait_for_maildir("demo@localhost", 1)


@pytest.mark.parametrize("verb,params,text", [
    ("MAIL", ["RET=ALL"], "Bad RET parameter"),
    ("MAIL", ["ENVID=a+2"], "Bad ENVID parameter (not xtext)"),
    ("MAIL", ["ENVID=a+0Db"], "Bad ENVID parameter (printable US-ASCII only)"),
    ("MAIL", ["ENVID=" + "e" * 101], "ENVID parameter too long"),
    ("MAIL", ["ENVID=one", "ENVID=two"], "Duplicate MAIL parameter ENVID"),
    ("MAIL", ["REQUIRETLS=yes"], "REQUIRETLS takes no value"),
    ("RCPT", ["NOTIFY=NEVER,SUCCESS"], "Bad NOTIFY parameter (NEVER must be alone)"),
    ("RCPT", ["NOTIFY=DELAY,delay"], "Bad NOTIFY parameter (keyword repeated)"),
    ("RCPT", ["NOTIFY=SUCCESS", "NOTIFY=FAILURE"], "Duplicate RCPT parameter NOTIFY"),
    ("RCPT", ["ORCPT=x400;a@b"], "Unsupported ORCPT address type"),
    ("RCPT", ["ORCPT=rfc822;" + "o" * 494], "ORCPT parameter too long"),
    ("RCPT", [r"ORCPT=utf-8;\x{41}"], "Bad ORCPT parameter"),
])
def test_malformed_parameters_get_501_5_5_4(mx, verb, params, text):
    with implicit(mx) as c:
        c.ehlo("client.example")
        if verb == "MAIL":
            code, reply = c.mail("sender@example.org", params)
        else:
            assert c.mail("sender@example.org")[0] == 250
            code, reply = c.rcpt("demo@localhost", params)
        assert code == 501, reply
        assert reply.startswith(b"5.5.4 " + text.encode()), reply
    mx.wait_for_log(rf"{verb} parameter rejected: ")


def test_requiretls_without_tls_is_refused(mx):
    with SMTP("mail.test", mx.ports["mx"], timeout=10) as c:
        c.ehlo("client.example")
        code, text = c.mail("sender@example.org", ["REQUIRETLS"])
        assert code == 550 and text.startswith(b"5.7.30 REQUIRETLS support required"), text
        # The session goes on: the same MAIL without it is fine, and so is REQUIRETLS inside TLS.
        assert c.mail("sender@example.org")[0] == 250
        c.rset()
        c.starttls(context=mx.client_context())
        c.ehlo("client.example")
        assert c.mail("sender@example.org", ["REQUIRETLS"])[0] == 250
    mx.wait_for_log(r"MAIL rejected: REQUIRETLS outside TLS")
