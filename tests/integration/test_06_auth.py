"""SMTP AUTH on submission listeners (issue 3) with real clients: swaks, smtplib, msmtp
(GnuTLS + GNU SASL), curl, gsasl; TLS-only AUTH, MX without AUTH, relay and sender policy,
authzid, throttling, hot reload of the credentials file, Received header.

Every daemon here has an [accounts] file made with the built `sealpost user add
--password-stdin` before it starts (harness.Daemon(accounts=[...])).
"""

from __future__ import annotations

import base64
import re
import shutil
import smtplib
import ssl
import time

import pytest

from harness import (SMTP, SMTP_SSL, Account, RawSMTP, check_received, dot_stuff, queue_id_of,
                     run, sample_message, split_received)

ALICE = Account("alice@mail.test", "alice-Secret-1", aliases=("sales@mail.test",))
BOB = Account("bob@mail.test", "bob-Secret-2")
ROBOT = Account("robot@mail.test", "robot-Secret-3", authz_any=True)
USERS = [ALICE, BOB, ROBOT]

# Throttling out of the way for tests that fail on purpose a few times.
RELAXED = {"delay_after": 100, "lockout_after": 1000}

MESSAGE = sample_message("auth test", b"Sent after AUTH.\r\n")


@pytest.fixture
def adaemon(make_daemon):
    """Default listeners + accounts alice (alias sales@), bob, robot (authz=*)."""
    return make_daemon(accounts=USERS, auth=RELAXED)


def plain(authcid: str, password: str, authzid: str = "") -> str:
    return base64.b64encode(f"{authzid}\0{authcid}\0{password}".encode()).decode()


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def ehlo_keywords(reply) -> dict[str, list[str]]:
    out = {}
    for line in reply.lines[1:]:
        words = line.split()
        out[words[0].upper()] = words[1:]
    return out


def tls_session(daemon, port_name="implicit", **kw) -> RawSMTP:
    """Greeting read, EHLO sent; TLS either implicit or by STARTTLS."""
    if port_name in ("implicit", "implicit_cert", "mx_implicit"):
        c = RawSMTP.implicit(daemon, daemon.ports[port_name], **kw)
        assert c.reply().code == 220
    else:
        c = RawSMTP(daemon.ports[port_name], source=kw.get("source"))
        assert c.reply().code == 220
        c.ehlo()
        assert c.cmd("STARTTLS").code == 220
        c.starttls(daemon, context=kw.get("context"))
    return c


def login(daemon, account: Account, port_name="implicit", password=None, **kw) -> RawSMTP:
    c = tls_session(daemon, port_name, **kw)
    c.ehlo()
    r = c.cmd("AUTH PLAIN " + plain(account.name, password or account.password))
    assert r.code == 235 and r.lines[0].startswith("2.7.0"), str(r)
    return c


def send_data(c: RawSMTP, message: bytes = MESSAGE) -> str:
    r = c.cmd("DATA")
    assert r.code == 354, str(r)
    c.send(dot_stuff(message) + b".\r\n")
    r = c.reply()
    assert r.code == 250, str(r)
    return queue_id_of(r.text)


def assert_delivered(daemon, queue_id: str, rcpt="demo@localhost", count=1, **received):
    msgs = daemon.wait_for_maildir(rcpt, count)
    stored = [m for m in msgs if f"id {queue_id}".encode() in m]
    assert len(stored) == 1, msgs
    header, rest = split_received(stored[0])
    check_received(header, queue_id=queue_id, with_="ESMTPSA", **received)
    assert rest == MESSAGE
    return header


# --------------------------------------------------------------------------------------------
# Real clients: right password delivers, wrong one gets 535 and delivers nothing


def swaks(daemon, tmp_path, port, tls_flag, mech, user, password, sender=ALICE.name):
    data = tmp_path / "swaks.eml"
    data.write_bytes(MESSAGE[:-2])  # swaks appends "\r\n.\r\n"
    result = run(["swaks", "--server", "127.0.0.1", "--port", str(port), tls_flag,
                  "--tls-verify", "--tls-ca-path", str(daemon.ca), "--tls-sni", "mail.test",
                  "--ehlo", "swaks.example", "--from", sender, "--to", "demo@localhost",
                  "--auth", mech, "--auth-user", user, "--auth-password", password,
                  "--data", str(data), "--timeout", "10"], check=False)
    return result.returncode, result.stdout.decode("utf-8", errors="replace")


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
@pytest.mark.parametrize("port_name,tls_flag", [("implicit", "--tlsc"), ("starttls", "--tls")])
def test_swaks_auth(adaemon, tmp_path, mech, port_name, tls_flag):
    port = adaemon.ports[port_name]
    rc, out = swaks(adaemon, tmp_path, port, tls_flag, mech, ALICE.name, "wrong-password")
    assert rc != 0, out
    assert re.search(r"<~\*?\s+535 5\.7\.8 ", out), out
    assert "queued as" not in out
    rc, out = swaks(adaemon, tmp_path, port, tls_flag, mech, ALICE.name, ALICE.password)
    assert rc == 0, out
    assert re.search(r"<~\s+235 2\.7\.0 ", out), out
    qid = queue_id_of(out)
    assert_delivered(adaemon, qid, helo="swaks.example")
    adaemon.assert_no_more_mail("demo@localhost", 1, settle=0.2)
    adaemon.wait_for_log(rf"AUTH {mech} succeeded: user=alice@mail\.test")
    adaemon.wait_for_log(rf"AUTH {mech} failed: user=alice@mail\.test")


def smtplib_client(daemon, port_name):
    if port_name == "implicit":
        return SMTP_SSL("mail.test", daemon.ports[port_name], context=daemon.client_context(),
                        timeout=10)
    client = SMTP("mail.test", daemon.ports[port_name], timeout=10)
    client.ehlo("client.example")
    assert not client.has_extn("auth")  # not before TLS
    client.starttls(context=daemon.client_context())
    return client


@pytest.mark.parametrize("port_name", ["implicit", "starttls"])
def test_smtplib_login(adaemon, port_name):
    with smtplib_client(adaemon, port_name) as client:
        client.ehlo("client.example")
        assert "PLAIN" in client.esmtp_features["auth"].split()
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            client.login(BOB.name, "not-bobs-password")
        assert e.value.smtp_code == 535
        assert e.value.smtp_error.startswith(b"5.7.8")
        code, _ = client.login(BOB.name, BOB.password)
        assert code == 235
        code, resp = client.mail(BOB.name)
        assert code == 250, resp
        code, resp = client.rcpt("demo@localhost")
        assert code == 250, resp
        code, resp = client.data(MESSAGE)
        assert code == 250, resp
        qid = queue_id_of(resp)
        client.quit()
    assert_delivered(adaemon, qid, helo="client.example")
    adaemon.wait_for_log(r"AUTH PLAIN succeeded: user=bob@mail\.test")


def test_smtplib_wrong_password_delivers_nothing(adaemon):
    with smtplib_client(adaemon, "implicit") as client:
        client.ehlo("client.example")
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login(ALICE.name, ALICE.password + "x")
        code, resp = client.mail(ALICE.name)
        assert (code, resp[:5]) == (530, b"5.7.0"), resp
        client.quit()
    adaemon.assert_no_more_mail("demo@localhost", 0, settle=0.2)


def msmtp(daemon, tmp_path, port, *, starttls: bool, auth: str, user: str | None = None,
          password: str | None = None, cert=None, sender=ALICE.name):
    lines = ["account default", "host 127.0.0.1", f"port {port}", "domain msmtp.example",
             f"from {sender}", f"auth {auth}", "tls on",
             f"tls_starttls {'on' if starttls else 'off'}", f"tls_trust_file {daemon.ca}",
             "tls_host_override mail.test", "timeout 10"]
    if user is not None:
        lines.append(f"user {user}")
    if password is not None:
        lines.append(f"password {password}")
    if cert is not None:
        lines += [f"tls_cert_file {cert[0]}", f"tls_key_file {cert[1]}"]
    conf = tmp_path / "msmtprc"
    conf.write_text("\n".join(lines) + "\n")
    conf.chmod(0o600)
    result = run(["msmtp", "--debug", "-C", str(conf), "demo@localhost"], input=MESSAGE,
                 check=False)
    return result.returncode, (result.stdout + result.stderr).decode("utf-8", errors="replace")


@pytest.mark.parametrize("port_name", ["implicit", "starttls"])
def test_msmtp_scram_sha_256(adaemon, tmp_path, port_name):
    port, starttls = adaemon.ports[port_name], port_name == "starttls"
    rc, out = msmtp(adaemon, tmp_path, port, starttls=starttls, auth="scram-sha-256",
                    user=ALICE.name, password="wrong-password")
    assert rc != 0, out
    assert re.search(r"--> AUTH SCRAM-SHA-256\s*$", out, re.M) and "<-- 535 5.7.8 " in out, out
    assert "queued as" not in out
    rc, out = msmtp(adaemon, tmp_path, port, starttls=starttls, auth="scram-sha-256",
                    user=ALICE.name, password=ALICE.password)
    assert rc == 0, out
    assert "<-- 235 2.7.0 " in out, out
    assert_delivered(adaemon, queue_id_of(out), helo="msmtp.example")
    adaemon.wait_for_log(r"AUTH SCRAM-SHA-256 succeeded: user=alice@mail\.test")
    adaemon.wait_for_log(r"AUTH SCRAM-SHA-256 failed: user=alice@mail\.test \(SCRAM: invalid proof")


def client_cert(tmp_path, stem: str, cn: str):
    """A self-signed client certificate (ECDSA P-256) made with the openssl CLI."""
    key, cert = tmp_path / f"{stem}.key", tmp_path / f"{stem}.pem"
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={cn}", "-days", "2",
         "-addext", "extendedKeyUsage=clientAuth"])
    return cert, key


def cert_context(daemon, cert, key) -> ssl.SSLContext:
    ctx = daemon.client_context()
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def test_msmtp_external_client_certificate(make_daemon, tmp_path):
    d = make_daemon(accounts=USERS, auth=RELAXED, extra_listeners=["implicit_cert"])
    mapped = client_cert(tmp_path, "alice-client", "alice client")
    unmapped = client_cert(tmp_path, "stranger", "stranger")
    d.map_cert(ALICE.name, mapped[0])  # while running: picked up without restart ...
    time.sleep(1.1)  # ... once the daemon re-stats the file (at most once a second)
    listed = d.sealpost("user", "list").stdout.decode()
    fingerprint = run(["openssl", "x509", "-in", str(mapped[0]), "-noout", "-fingerprint",
                       "-sha256"]).stdout.decode().split("=", 1)[1].strip()
    assert fingerprint.replace(":", "").lower() in listed.replace(":", "").lower(), listed

    port = d.ports["implicit_cert"]
    # msmtp needs `user` for EXTERNAL: it sends it as the authzid. Without it its GNU SASL
    # loop never answers the server's "334 " (it skips empty responses) and takes 334 for
    # success, so its pipelined MAIL FROM arrives as the SASL response (501 5.5.2).
    rc, out = msmtp(d, tmp_path, port, starttls=False, auth="external", user=ALICE.name,
                    cert=mapped)
    assert rc == 0, out
    assert re.search(r"250 AUTH .*\bEXTERNAL\b", out), out
    assert "<-- 235 2.7.0 " in out, out
    assert_delivered(d, queue_id_of(out), helo="msmtp.example")
    d.wait_for_log(r"AUTH EXTERNAL succeeded: user=alice@mail\.test")

    # An unmapped certificate: EXTERNAL is not offered, so msmtp gives up before AUTH.
    rc, out = msmtp(d, tmp_path, port, starttls=False, auth="external", user=ALICE.name,
                    cert=unmapped)
    assert rc != 0, out
    assert re.search(r"250 AUTH ", out) and not re.search(r"250 AUTH .*EXTERNAL", out), out
    assert "--> AUTH" not in out and "queued as" not in out, out
    # ... and forcing it anyway is refused.
    with tls_session(d, "implicit_cert", context=cert_context(d, *unmapped)) as c:
        assert "EXTERNAL" not in ehlo_keywords(c.ehlo())["AUTH"]
        assert c.cmd("AUTH EXTERNAL =").code == 504
    # No certificate at all: no EXTERNAL either.
    with tls_session(d, "implicit_cert") as c:
        assert "EXTERNAL" not in ehlo_keywords(c.ehlo())["AUTH"]
    # The mapped certificate on a listener that does not request certificates: not sent.
    with tls_session(d, "implicit", context=cert_context(d, *mapped)) as c:
        assert "EXTERNAL" not in ehlo_keywords(c.ehlo())["AUTH"]
    d.assert_no_more_mail("demo@localhost", 1, settle=0.1)


def test_external_authzid_and_removed_mapping(make_daemon, tmp_path):
    d = make_daemon(accounts=USERS, auth=RELAXED, extra_listeners=["implicit_cert"])
    cert = client_cert(tmp_path, "alice-client", "alice client")
    d.map_cert(ALICE.name, cert[0])
    time.sleep(1.1)
    ctx = cert_context(d, *cert)
    with tls_session(d, "implicit_cert", context=ctx) as c:
        assert "EXTERNAL" in ehlo_keywords(c.ehlo())["AUTH"]
        assert c.cmd("AUTH EXTERNAL " + b64(BOB.name)).code == 535  # alice may not act as bob
        r = c.cmd("AUTH EXTERNAL " + b64(ALICE.name))
        assert r.code == 235, str(r)
    # `sealpost user cert NAME --none` takes the mapping away without a restart.
    d.sealpost("user", "cert", ALICE.name, "--none")
    time.sleep(1.1)  # the daemon re-stats the file at most once a second
    with tls_session(d, "implicit_cert", context=ctx) as c:
        c.ehlo()
        r = c.cmd("AUTH EXTERNAL =")
        assert r.code in (504, 535), str(r)


def gsasl(daemon, mech, password, *extra):
    result = run(["gsasl", "--verbose", "--smtp", "--starttls", "--connect",
                  f"127.0.0.1:{daemon.ports['starttls']}", "--x509-ca-file", str(daemon.ca),
                  "--mechanism", mech, "--authentication-id", ALICE.name,
                  "--password", password, *extra], input=b"", check=False)
    return result.returncode, (result.stdout + result.stderr).decode("utf-8", errors="replace")


@pytest.mark.skipif(shutil.which("gsasl") is None, reason="gsasl (GNU SASL CLI) not installed")
def test_gsasl_scram_sha_256_plus_tls_exporter(adaemon):
    """The only real client here that does SCRAM-SHA-256-PLUS (tls-exporter, RFC 9266)."""
    rc, out = gsasl(adaemon, "SCRAM-SHA-256-PLUS", "wrong-password")
    assert rc != 0 and "535 5.7.8" in out, out
    rc, out = gsasl(adaemon, "SCRAM-SHA-256-PLUS", ALICE.password)
    assert rc == 0, out
    assert re.search(r"250 AUTH SCRAM-SHA-256-PLUS ", out), out
    # gs2 header "p=tls-exporter,," (base64 "cD10bHMtZXhwb3J0ZXIsLA") starts client-first.
    assert "cD10bHMtZXhwb3J0ZXIsL" in out, out
    assert "235 2.7.0" in out, out
    adaemon.wait_for_log(r"AUTH SCRAM-SHA-256-PLUS succeeded: user=alice@mail\.test")
    adaemon.wait_for_log(r"AUTH SCRAM-SHA-256-PLUS failed: user=alice@mail\.test")


def test_scram_plus_only_on_tls13(adaemon):
    ctx = adaemon.client_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with tls_session(adaemon, "implicit", context=ctx) as c:
        mechs = ehlo_keywords(c.ehlo())["AUTH"]
        assert c.sock.version() == "TLSv1.2"
        assert "SCRAM-SHA-256" in mechs and "SCRAM-SHA-256-PLUS" not in mechs, mechs
        r = c.cmd("AUTH SCRAM-SHA-256-PLUS")
        assert r.code == 504, str(r)
    with tls_session(adaemon, "implicit") as c:
        mechs = ehlo_keywords(c.ehlo())["AUTH"]
        assert mechs == ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "PLAIN", "LOGIN"], mechs


def curl(daemon, tmp_path, user, password, mech):
    data = tmp_path / "curl.eml"
    data.write_bytes(MESSAGE)
    port = daemon.ports["implicit"]
    result = run(["curl", "--silent", "--show-error", "--verbose", "--max-time", "20",
                  "--url", f"smtps://mail.test:{port}/curl.example",
                  "--resolve", f"mail.test:{port}:127.0.0.1", "--cacert", str(daemon.ca),
                  "--user", f"{user}:{password}", "--login-options", f"AUTH={mech}",
                  "--mail-from", user, "--mail-rcpt", "demo@localhost",
                  "--upload-file", str(data)], check=False)
    return result.returncode, result.stderr.decode("utf-8", errors="replace")


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_curl_user(adaemon, tmp_path, mech):
    rc, err = curl(adaemon, tmp_path, BOB.name, "wrong-password", mech)
    assert rc == 67, err  # CURLE_LOGIN_DENIED
    assert "< 535 5.7.8 " in err, err
    rc, err = curl(adaemon, tmp_path, BOB.name, BOB.password, mech)
    assert rc == 0, err
    assert f"> AUTH {mech}" in err and "< 235 2.7.0 " in err, err
    assert_delivered(adaemon, queue_id_of(err), helo="curl.example")
    adaemon.wait_for_log(rf"AUTH {mech} succeeded: user=bob@mail\.test")


# --------------------------------------------------------------------------------------------
# AUTH only inside TLS, only on submission


def test_no_auth_before_starttls(adaemon):
    with RawSMTP(adaemon.ports["starttls"]) as c:
        assert c.reply().code == 220
        kw = ehlo_keywords(c.ehlo())
        assert "AUTH" not in kw and "STARTTLS" in kw
        r = c.cmd("AUTH PLAIN " + plain(ALICE.name, ALICE.password))
        assert (r.code, r.lines[0][:6]) == (538, "5.7.11"), str(r)
        r = c.cmd("AUTH LOGIN")
        assert (r.code, r.lines[0][:6]) == (538, "5.7.11"), str(r)
        assert c.cmd("STARTTLS").code == 220
        c.starttls(adaemon)
        assert "PLAIN" in ehlo_keywords(c.ehlo())["AUTH"]
        assert c.cmd("AUTH PLAIN " + plain(ALICE.name, ALICE.password)).code == 235
    # No password was checked in the clear: only the TLS attempt is logged.
    adaemon.sync_log()
    assert len(re.findall(r"AUTH PLAIN (succeeded|failed)", adaemon.log())) == 1


@pytest.mark.parametrize("port_name", ["mx", "mx_implicit"])
def test_no_auth_on_mx(make_daemon, port_name):
    d = make_daemon(accounts=USERS, auth=RELAXED, extra_listeners=["mx_implicit"])
    with tls_session(d, port_name) as c:
        kw = ehlo_keywords(c.ehlo())
        assert "AUTH" not in kw, kw
        r = c.cmd("AUTH PLAIN " + plain(ALICE.name, ALICE.password))
        assert (r.code, r.lines[0][:5]) == (503, "5.5.1"), str(r)
        # Local delivery needs no AUTH on mx; relay is refused.
        r = c.cmd(f"MAIL FROM:<{BOB.name}>")
        assert r.code == 250, str(r)
        r = c.cmd("RCPT TO:<someone@example.com>")
        assert (r.code, r.lines[0][:5]) == (554, "5.7.1"), str(r)
        assert c.cmd("RCPT TO:<demo@localhost>").code == 250
        qid = send_data(c)
    [stored] = d.wait_for_maildir("demo@localhost", 1)
    check_received(split_received(stored)[0], queue_id=qid, with_="ESMTPS")


def test_auth_command_errors(adaemon):
    with tls_session(adaemon) as c:
        c.ehlo()
        r = c.cmd("AUTH PLAIN not*base64")
        assert (r.code, r.lines[0][:5]) == (501, "5.5.2"), str(r)
        r = c.cmd("AUTH PLAIN")
        assert r.code == 334, str(r)
        r = c.cmd("*")
        assert (r.code, r.lines[0][:5]) == (501, "5.0.0"), str(r)
        r = c.cmd("AUTH LOGIN")
        assert r.code == 334, str(r)
        r = c.cmd("%%%")
        assert (r.code, r.lines[0][:5]) == (501, "5.5.2"), str(r)
        r = c.cmd("AUTH CRAM-MD5")
        assert r.code == 504, str(r)
        r = c.cmd("AUTH PLAIN " + plain("nobody@mail.test", "whatever"))
        assert (r.code, r.lines[0][:5]) == (535, "5.7.8"), str(r)
        assert c.cmd("AUTH PLAIN " + plain(ALICE.name, ALICE.password)).code == 235
        r = c.cmd("AUTH PLAIN " + plain(ALICE.name, ALICE.password))
        assert r.code == 503, str(r)


# --------------------------------------------------------------------------------------------
# Policy: AUTH before MAIL, relay, sender ownership, authzid


@pytest.mark.parametrize("port_name", ["implicit", "starttls", "require"])
def test_mail_before_auth_refused(adaemon, port_name):
    with tls_session(adaemon, port_name) as c:
        c.ehlo()
        r = c.cmd(f"MAIL FROM:<{ALICE.name}>")
        assert (r.code, r.lines[0][:5]) == (530, "5.7.0"), str(r)
        r = c.cmd("RCPT TO:<demo@localhost>")
        assert r.code in (503, 530), str(r)


def test_relay_only_after_auth_and_stays_queued(adaemon):
    with tls_session(adaemon, "mx") as c:
        c.ehlo()
        assert c.cmd(f"MAIL FROM:<{ALICE.name}>").code == 250
        r = c.cmd("RCPT TO:<friend@example.com>")
        assert (r.code, r.lines[0][:5]) == (554, "5.7.1"), str(r)
    with login(adaemon, ALICE, "starttls") as c:
        assert c.cmd(f"MAIL FROM:<{ALICE.name}>").code == 250
        r = c.cmd("RCPT TO:<friend@example.com>")
        assert r.code == 250, str(r)
        qid = send_data(c)
    adaemon.wait_for_log(rf"{qid}: from=<alice@mail\.test> nrcpt=1 .*user=alice@mail\.test "
                         r"result=queued")
    time.sleep(0.5)  # a delivery attempt has had time to run (and must not drop it)
    listed = adaemon.sealpost("queue", "list").stdout.decode()
    assert qid in listed and "friend@example.com" in listed, listed + adaemon.log()


def test_sender_must_belong_to_user(adaemon):
    with login(adaemon, ALICE) as c:
        r = c.cmd(f"MAIL FROM:<{BOB.name}>")
        assert (r.code, r.lines[0][:5]) == (553, "5.7.1"), str(r)
        r = c.cmd("MAIL FROM:<Alice@mail.test>")  # local part compared exactly
        assert (r.code, r.lines[0][:5]) == (553, "5.7.1"), str(r)
        for sender in ("alice@MAIL.TEST", "sales@mail.test", ALICE.name):  # domain: any case
            r = c.cmd(f"MAIL FROM:<{sender}>")
            assert r.code == 250, (sender, str(r))
            assert c.cmd("RSET").code == 250
        assert c.cmd("MAIL FROM:<sales@mail.test>").code == 250
        assert c.cmd("RCPT TO:<demo@localhost>").code == 250
        send_data(c)
    adaemon.wait_for_log(r"sender rejected: <bob@mail\.test> user=alice@mail\.test: 553 5\.7\.1")
    # bob has no alias: alice's alias is not his.
    with login(adaemon, BOB, "starttls") as c:
        r = c.cmd("MAIL FROM:<sales@mail.test>")
        assert (r.code, r.lines[0][:5]) == (553, "5.7.1"), str(r)
    adaemon.wait_for_maildir("demo@localhost", 1)


def test_swaks_foreign_sender_refused(adaemon, tmp_path):
    rc, out = swaks(adaemon, tmp_path, adaemon.ports["implicit"], "--tlsc", "PLAIN", BOB.name,
                    BOB.password, sender=ALICE.name)
    assert rc != 0, out
    assert re.search(r"<~\*?\s+553 5\.7\.1 ", out), out
    adaemon.assert_no_more_mail("demo@localhost", 0, settle=0.2)


def test_authzid(adaemon):
    with tls_session(adaemon) as c:
        c.ehlo()
        # alice may not act as bob (no authz=*)
        r = c.cmd("AUTH PLAIN " + plain(ALICE.name, ALICE.password, authzid=BOB.name))
        assert (r.code, r.lines[0][:5]) == (535, "5.7.8"), str(r)
        # naming herself is fine
        r = c.cmd("AUTH PLAIN " + plain(ALICE.name, ALICE.password, authzid=ALICE.name))
        assert r.code == 235, str(r)
    adaemon.wait_for_log(r"authzid bob@mail\.test not permitted")
    with tls_session(adaemon) as c:
        c.ehlo()
        # robot (authz=*) may, but not as a user that does not exist
        r = c.cmd("AUTH PLAIN " + plain(ROBOT.name, ROBOT.password, authzid="ghost@mail.test"))
        assert r.code == 535, str(r)
        r = c.cmd("AUTH PLAIN " + plain(ROBOT.name, ROBOT.password, authzid=BOB.name))
        assert r.code == 235, str(r)
        # ... and then sends as bob, not as robot
        r = c.cmd(f"MAIL FROM:<{ROBOT.name}>")
        assert (r.code, r.lines[0][:5]) == (553, "5.7.1"), str(r)
        assert c.cmd(f"MAIL FROM:<{BOB.name}>").code == 250
        assert c.cmd("RCPT TO:<demo@localhost>").code == 250
        send_data(c)
    adaemon.wait_for_log(r"AUTH PLAIN succeeded: user=robot@mail\.test as bob@mail\.test")
    adaemon.wait_for_maildir("demo@localhost", 1)


# --------------------------------------------------------------------------------------------
# Throttling


def timed_plain(daemon, account_name, password, source="127.0.0.1"):
    """One AUTH PLAIN on a fresh implicit-TLS connection; (reply, seconds for the AUTH)."""
    with tls_session(daemon, "implicit", source=source) as c:
        c.ehlo()
        t0 = time.monotonic()
        r = c.cmd("AUTH PLAIN " + plain(account_name, password), timeout=8)
        return r, time.monotonic() - t0


def test_throttling_delays_then_refuses_address_not_user(make_daemon):
    d = make_daemon(accounts=USERS, auth={"delay_after": 2, "lockout_after": 4, "lockout": 30,
                                          "max_delay": 1})
    times = []
    for _ in range(4):
        r, took = timed_plain(d, ALICE.name, "guess-" + str(len(times)))
        assert (r.code, r.lines[0][:5]) == (535, "5.7.8"), str(r)
        times.append(took)
    # Failures 1-2 are answered at once, 3-4 after max_delay (1 s).
    assert times[0] < 0.7 and times[1] < 0.7, times
    assert 0.9 <= times[2] < 3 and 0.9 <= times[3] < 3, times
    # Locked out: even the right password from this address gets 454, without a delay.
    r, took = timed_plain(d, ALICE.name, ALICE.password)
    assert (r.code, r.lines[0][:5]) == (454, "4.7.0"), str(r)
    assert took < 0.7, took
    r, _ = timed_plain(d, BOB.name, BOB.password)
    assert r.code == 454, str(r)
    # Meanwhile alice from another address (source 127.0.0.2) logs in at once...
    r, took = timed_plain(d, ALICE.name, ALICE.password, source="127.0.0.2")
    assert r.code == 235, str(r)
    assert took < 1.0, took
    # ... and may send from there.
    with login(d, ALICE, source="127.0.0.2") as c:
        assert c.cmd(f"MAIL FROM:<{ALICE.name}>").code == 250
        assert c.cmd("RCPT TO:<demo@localhost>").code == 250
        qid = send_data(c)
    [stored] = d.wait_for_maildir("demo@localhost", 1)
    check_received(split_received(stored)[0], queue_id=qid, with_="ESMTPSA", peer="127.0.0.2")
    # Logged with peer and user.
    d.wait_for_log(r"\[127\.0\.0\.1\]\S* AUTH PLAIN failed: user=alice@mail\.test")
    d.wait_for_log(r"locking out .*127\.0\.0\.1.* for 30s .*user \"alice@mail\.test\"")
    d.wait_for_log(r"127\.0\.0\.1.*AUTH refused")
    d.wait_for_log(r"\[127\.0\.0\.2\]\S* AUTH PLAIN succeeded: user=alice@mail\.test")


def test_failures_for_a_user_never_lock_the_user_out(make_daemon):
    """Wrong passwords for alice from one address: her right password from another is
    neither refused nor delayed, while wrong guesses from there are delayed."""
    d = make_daemon(accounts=USERS, auth={"delay_after": 2, "lockout_after": 3, "lockout": 30,
                                          "max_delay": 1})
    for i in range(3):
        r, _ = timed_plain(d, ALICE.name, f"guess-{i}")
        assert r.code == 535, str(r)
    r, took = timed_plain(d, ALICE.name, "another-guess", source="127.0.0.3")
    assert r.code == 535 and took >= 0.9, (str(r), took)  # per-user delay
    r, took = timed_plain(d, ALICE.name, ALICE.password, source="127.0.0.3")
    assert r.code == 235 and took < 1.0, (str(r), took)


# --------------------------------------------------------------------------------------------
# Hot reload of the credentials file


def wait_login(daemon, name, password, expect: int, timeout: float = 3.0) -> float:
    """Retries AUTH PLAIN until the reply code is expect; returns the seconds it took."""
    t0 = time.monotonic()
    while True:
        r, _ = timed_plain(daemon, name, password)
        if r.code == expect:
            return time.monotonic() - t0
        assert time.monotonic() - t0 < timeout, (
            f"AUTH for {name} still {r} after {timeout}s\n{daemon.log()}")
        time.sleep(0.2)


def test_user_changes_without_restart(adaemon):
    carol = Account("carol@mail.test", "carol-Secret-4")
    r, _ = timed_plain(adaemon, carol.name, carol.password)
    assert r.code == 535  # unknown yet
    adaemon.add_user(carol.name, carol.password)
    assert wait_login(adaemon, carol.name, carol.password, 235) < 2.5
    adaemon.wait_for_log(r"auth: loaded 4 user\(s\)")

    adaemon.set_password(carol.name, "carol-New-5")
    assert wait_login(adaemon, carol.name, "carol-New-5", 235) < 2.5
    r, _ = timed_plain(adaemon, carol.name, carol.password)
    assert r.code == 535, str(r)

    adaemon.del_user(carol.name)
    assert wait_login(adaemon, carol.name, "carol-New-5", 535) < 2.5
    adaemon.wait_for_log(r"auth: loaded 3 user\(s\)")
    listed = adaemon.sealpost("user", "list").stdout.decode()
    assert "carol" not in listed and ALICE.name in listed and "$y$" not in listed, listed
    assert adaemon.pid and adaemon.proc.poll() is None


def test_user_cli_errors(adaemon):
    r = adaemon.sealpost("user", "add", ALICE.name, "--password-stdin", input=b"x\n",
                         check=False)
    assert r.returncode == 65, r
    r = adaemon.sealpost("user", "del", "ghost@mail.test", check=False)
    assert r.returncode == 67, r
    mode = adaemon.users_path.stat().st_mode & 0o777
    assert mode == 0o600, oct(mode)
    text = adaemon.users_path.read_text()
    assert ALICE.password not in text and "$y$" in text and "SCRAM-SHA-256:4096:" in text


# --------------------------------------------------------------------------------------------
# Received / Authentication-Results


@pytest.mark.parametrize("expose", [False, True])
def test_received_header_esmtpsa(make_daemon, expose):
    d = make_daemon(accounts=USERS, auth=RELAXED, accounts_options={"expose_user": expose})
    with login(d, ALICE) as c:
        assert c.cmd(f"MAIL FROM:<{ALICE.name}>").code == 250
        assert c.cmd("RCPT TO:<demo@localhost>").code == 250
        qid = send_data(c)
    [stored] = d.wait_for_maildir("demo@localhost", 1)
    auth_results = b"Authentication-Results: mail.test; auth=pass smtp.auth=alice@mail.test\r\n"
    if expose:
        assert stored.startswith(auth_results), stored[:300]
        stored = stored[len(auth_results):]
    else:
        assert b"Authentication-Results" not in stored
    header, rest = split_received(stored)
    assert expose or ALICE.name not in header, header
    check_received(header, queue_id=qid, with_="ESMTPSA", rcpt="demo@localhost",
                   authenticated_sender=ALICE.name if expose else None)
    assert rest == MESSAGE


# --------------------------------------------------------------------------------------------
# Verified-password cache (accounts.auth_cache_ttl): the second login skips yescrypt; a new
# password takes effect at once and the old one no longer works.

def test_verified_password_cache(adaemon):
    for _ in range(2):
        login(adaemon, ALICE).close()
    adaemon.wait_for_log(r"AUTH PLAIN succeeded: user=alice@mail\.test \(password verified "
                         r"from cache\)", count=1)
    assert len(re.findall(r"AUTH PLAIN succeeded: user=alice@mail\.test\n",
                          adaemon.log())) == 1, "only the first login hashes"
    new_password = "alice-Changed-7"
    adaemon.set_password(ALICE.name, new_password)
    deadline = time.monotonic() + 10  # the store re-reads the file at most once a second
    while True:
        c = tls_session(adaemon)
        c.ehlo()
        r = c.cmd("AUTH PLAIN " + plain(ALICE.name, ALICE.password))
        c.close()
        if r.code == 535:
            break
        assert r.code == 235 and time.monotonic() < deadline, str(r)
        time.sleep(0.2)
    login(adaemon, ALICE, password=new_password).close()
    adaemon.sync_log()
    assert len(re.findall(r"AUTH PLAIN succeeded: user=alice@mail\.test\n",
                          adaemon.log())) == 2, "the new password was hashed, not cached"
