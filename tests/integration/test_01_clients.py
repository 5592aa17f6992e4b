"""Real clients deliver; the Maildir file is the Received header block + exactly what was sent."""

from __future__ import annotations

import hashlib
import re

import pytest

from harness import (SMTP, SMTP_SSL, RawSMTP, check_received, dot_stuff, queue_id_of, run,
                     sample_message, split_received)


# A message that exercises dot-stuffing and an empty last line but is otherwise plain.
MESSAGE = sample_message(
    "client test",
    b"First line.\r\n"
    b".A line that starts with a dot (stuffed on the wire).\r\n"
    b"..Two dots.\r\n"
    b"\r\n"
    b"Last line.\r\n")


def smtplib_send(client, msg: bytes, rcpt="demo@localhost", sender="sender@example.org",
                 mail_options=()) -> str:
    """Sends through smtplib's primitives so the 250 text (queue id) is kept."""
    code, _ = client.ehlo("client.example")
    assert code == 250
    code, resp = client.mail(sender, list(mail_options))
    assert code == 250, resp
    code, resp = client.rcpt(rcpt)
    assert code == 250, resp
    code, resp = client.data(msg)
    assert code == 250, resp
    return queue_id_of(resp)


def assert_delivered(daemon, sent: bytes, queue_id: str, rcpt="demo@localhost", **received):
    [stored] = daemon.wait_for_maildir(rcpt, 1)
    header, rest = split_received(stored)
    check_received(header, queue_id=queue_id, rcpt=rcpt, **received)
    assert rest == sent
    assert f"Q{queue_id}R0." in daemon.maildir_files(rcpt)[0].name
    return header


def test_smtplib_implicit_tls(daemon):
    with SMTP_SSL("mail.test", daemon.ports["implicit"], context=daemon.client_context(),
                  timeout=10) as client:
        qid = smtplib_send(client, MESSAGE)
        version, cipher = client.sock.version(), client.sock.cipher()[0]
        client.quit()
    assert_delivered(daemon, MESSAGE, qid, helo="client.example", tls_version=version,
                     cipher=cipher)
    daemon.wait_for_log(r"TLS established: TLSv1\.3 \S+ \(\d+ bits\) sni=mail\.test")


def test_smtplib_starttls(daemon):
    with SMTP("mail.test", daemon.ports["starttls"], timeout=10) as client:
        client.ehlo("client.example")
        assert client.has_extn("starttls")
        code, _ = client.starttls(context=daemon.client_context())
        assert code == 220
        # Inside TLS the extension is gone (RFC 3207 §4.2).
        client.ehlo("client.example")
        assert not client.has_extn("starttls")
        qid = smtplib_send(client, MESSAGE)
        version, cipher = client.sock.version(), client.sock.cipher()[0]
        client.quit()
    assert_delivered(daemon, MESSAGE, qid, tls_version=version, cipher=cipher)


def test_smtplib_starttls_mx_listener(daemon):
    with SMTP("mail.test", daemon.ports["mx"], timeout=10) as client:
        client.ehlo("mx.example")
        client.starttls(context=daemon.client_context())
        qid = smtplib_send(client, MESSAGE, rcpt="user@mail.test")
        client.quit()
    assert_delivered(daemon, MESSAGE, qid, rcpt="user@mail.test")


def swaks(daemon, tmp_path, port, tls_flag):
    data = tmp_path / "swaks.eml"
    # swaks always sends "<data>\r\n.\r\n": the file holds the message minus its last CRLF.
    data.write_bytes(MESSAGE[:-2])
    result = run(["swaks", "--server", "127.0.0.1", "--port", str(port), tls_flag,
                  "--tls-verify", "--tls-ca-path", str(daemon.ca), "--tls-sni", "mail.test",
                  "--ehlo", "swaks.example", "--from", "sender@example.org",
                  "--to", "demo@localhost", "--data", str(data), "--timeout", "10"])
    out = result.stdout.decode("utf-8", errors="replace")
    m = re.search(r"<~\s+250 2\.0\.0 Ok: queued as ([0-9A-F]+)", out)
    assert m, out
    return m.group(1), out


def test_swaks_implicit_tls(daemon, tmp_path):
    qid, out = swaks(daemon, tmp_path, daemon.ports["implicit"], "--tlsc")
    assert_delivered(daemon, MESSAGE, qid, helo="swaks.example")


def test_swaks_starttls(daemon, tmp_path):
    qid, out = swaks(daemon, tmp_path, daemon.ports["starttls"], "--tls")
    assert "STARTTLS" in out
    assert_delivered(daemon, MESSAGE, qid, helo="swaks.example")


def curl(daemon, tmp_path, url_scheme, port, extra=()):
    data = tmp_path / "curl.eml"
    data.write_bytes(MESSAGE)
    result = run(["curl", "--silent", "--show-error", "--verbose", "--max-time", "20",
                  "--url", f"{url_scheme}://mail.test:{port}/curl.example",
                  "--resolve", f"mail.test:{port}:127.0.0.1", "--cacert", str(daemon.ca),
                  "--mail-from", "sender@example.org", "--mail-rcpt", "demo@localhost",
                  "--upload-file", str(data), *extra])
    err = result.stderr.decode("utf-8", errors="replace")
    m = re.search(r"< 250 2\.0\.0 Ok: queued as ([0-9A-F]+)", err)
    assert m, err
    return m.group(1), err


def test_curl_smtps(daemon, tmp_path):
    qid, _ = curl(daemon, tmp_path, "smtps", daemon.ports["implicit"])
    assert_delivered(daemon, MESSAGE, qid, helo="curl.example")


def test_curl_smtp_ssl_reqd(daemon, tmp_path):
    qid, err = curl(daemon, tmp_path, "smtp", daemon.ports["starttls"], ["--ssl-reqd"])
    assert "STARTTLS" in err
    assert_delivered(daemon, MESSAGE, qid, helo="curl.example")


def test_curl_by_ip_address_uses_ip_san(daemon, tmp_path):
    """No name at all: the certificate's IP SAN must verify (and no SNI is sent)."""
    data = tmp_path / "curl.eml"
    data.write_bytes(MESSAGE)
    port = daemon.ports["implicit"]
    result = run(["curl", "--silent", "--show-error", "--verbose", "--max-time", "20",
                  "--url", f"smtps://127.0.0.1:{port}/curl.example", "--cacert", str(daemon.ca),
                  "--mail-from", "sender@example.org", "--mail-rcpt", "demo@localhost",
                  "--upload-file", str(data)])
    qid = queue_id_of(result.stderr)
    assert_delivered(daemon, MESSAGE, qid, helo="curl.example")
    daemon.wait_for_log(r"TLS established: .* sni=-")


def msmtp(daemon, tmp_path, port, starttls: bool):
    conf = tmp_path / "msmtprc"
    conf.write_text(
        "account default\n"
        "host 127.0.0.1\n"
        f"port {port}\n"
        "domain msmtp.example\n"
        "from sender@example.org\n"
        "auth off\n"
        "tls on\n"
        f"tls_starttls {'on' if starttls else 'off'}\n"
        f"tls_trust_file {daemon.ca}\n"
        "tls_host_override mail.test\n"
        "timeout 10\n")
    conf.chmod(0o600)
    result = run(["msmtp", "--debug", "-C", str(conf), "demo@localhost"], input=MESSAGE)
    out = (result.stdout + result.stderr).decode("utf-8", errors="replace")
    m = re.search(r"<-- 250 2\.0\.0 Ok: queued as ([0-9A-F]+)", out)
    assert m, out
    return m.group(1)


def test_msmtp_implicit_tls(daemon, tmp_path):
    qid = msmtp(daemon, tmp_path, daemon.ports["implicit"], starttls=False)
    assert_delivered(daemon, MESSAGE, qid, helo="msmtp.example")


def test_msmtp_starttls(daemon, tmp_path):
    qid = msmtp(daemon, tmp_path, daemon.ports["starttls"], starttls=True)
    assert_delivered(daemon, MESSAGE, qid, helo="msmtp.example")


def test_8bitmime(daemon):
    body = "Grüße aus Köln — 8-bit body, no transfer encoding.\r\n".encode("utf-8")
    body += bytes(range(0x80, 0x100)).replace(b"\r", b"").replace(b"\n", b"") + b"\r\n"
    msg = sample_message("8bit", body)
    with SMTP_SSL("mail.test", daemon.ports["implicit"], context=daemon.client_context(),
                  timeout=10) as client:
        client.ehlo("client.example")
        assert client.has_extn("8bitmime")
        qid = smtplib_send(client, msg, mail_options=["BODY=8BITMIME"])
    assert_delivered(daemon, msg, qid)


def test_smtputf8(daemon):
    sender = "δοκιμή@παράδειγμα.example"
    rcpt = "jörg@mail.test"
    msg = (f"From: Δοκιμή <{sender}>\r\n"
           f"To: Jörg <{rcpt}>\r\n"
           "Subject: Grüße, 你好\r\n"
           "\r\n"
           "UTF-8 everywhere.\r\n").encode("utf-8")
    with SMTP_SSL("mail.test", daemon.ports["implicit"], context=daemon.client_context(),
                  timeout=10) as client:
        client.ehlo("client.example")
        assert client.has_extn("smtputf8")
        qid = smtplib_send(client, msg, rcpt=rcpt, sender=sender, mail_options=["SMTPUTF8"])
    assert_delivered(daemon, msg, qid, rcpt=rcpt, with_="UTF8SMTPS")


def test_utf8_address_without_smtputf8_is_refused(daemon):
    with RawSMTP.implicit(daemon) as c:
        c.reply()
        c.ehlo()
        r = c.cmd("MAIL FROM:<jörg@example.org>")
        assert (r.code, r.lines[0][:5]) == (553, "5.6.7"), str(r)


def test_20_mib_message_byte_exact(daemon):
    line_count = (20 * 1024 * 1024) // 78 + 1
    # 76 printable characters + CRLF per line, deterministic but not repetitive.
    seed = hashlib.sha256(b"sealpost").digest()
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    noise = bytes(alphabet[b % 64] for b in (seed * (76 * 4096 // 32 + 1))[:76 * 4096])
    lines = [noise[(i % 4096) * 76:(i % 4096) * 76 + 76] for i in range(line_count)]
    body = b"\r\n".join(lines) + b"\r\n"
    msg = sample_message("big", body)
    assert len(msg) > 20 * 1024 * 1024
    with SMTP_SSL("mail.test", daemon.ports["implicit"], context=daemon.client_context(),
                  timeout=60) as client:
        qid = smtplib_send(client, msg)
    [stored] = daemon.wait_for_maildir("demo@localhost", 1, timeout=60)
    header, rest = split_received(stored)
    check_received(header, queue_id=qid)
    assert len(rest) == len(msg)
    assert hashlib.sha256(rest).digest() == hashlib.sha256(msg).digest()


def test_bdat_chunking_over_tls(daemon):
    # BDAT content is not dot-stuffed: a line "." inside a chunk is just content.
    part1 = b"From: a@example.org\r\nSubject: chunked\r\n\r\n.\r\n..leading dots stay\r\n"
    part2 = b"second chunk\r\n"
    part3 = b"last chunk\r\n"
    with RawSMTP.implicit(daemon) as c:
        c.reply()
        assert "CHUNKING" in c.ehlo().lines
        c.envelope("a@example.org", ["demo@localhost"])
        c.send(b"BDAT %d\r\n" % len(part1) + part1)
        r = c.reply()
        assert (r.code, r.lines[0]) == (250, "2.0.0 Chunk accepted"), str(r)
        # Pipelined: two chunks in one write, the second LAST.
        c.send(b"BDAT %d\r\n" % len(part2) + part2 + b"BDAT %d LAST\r\n" % len(part3) + part3)
        r = c.reply()
        assert r.code == 250, str(r)
        r = c.reply()
        assert r.code == 250 and "queued as" in r.text, str(r)
        qid = queue_id_of(r.text)
        r = c.cmd("QUIT")
        assert r.code == 221
    assert_delivered(daemon, part1 + part2 + part3, qid)


def test_bdat_zero_length_last(daemon):
    content = b"Subject: zero last\r\n\r\nbody\r\n"
    with RawSMTP.implicit(daemon) as c:
        c.reply()
        c.ehlo()
        c.envelope("a@example.org", ["demo@localhost"])
        c.send(b"BDAT %d\r\n" % len(content) + content + b"BDAT 0 LAST\r\n")
        assert c.reply().code == 250
        r = c.reply()
        assert r.code == 250, str(r)
        qid = queue_id_of(r.text)
    assert_delivered(daemon, content, qid)


def test_pipelined_transactions(daemon):
    """RFC 2920: a whole transaction in one write; replies come back in order."""
    m1 = sample_message("p1")
    m2 = sample_message("p2")
    with RawSMTP.implicit(daemon) as c:
        c.reply()
        c.ehlo()
        c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<demo@localhost>\r\nDATA\r\n")
        assert [c.reply().code for _ in range(3)] == [250, 250, 354]
        c.send(m1 + b".\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<demo@localhost>\r\nDATA\r\n")
        r1 = c.reply()
        assert r1.code == 250
        assert [c.reply().code for _ in range(3)] == [250, 250, 354]
        c.send(m2 + b".\r\nQUIT\r\n")
        r2 = c.reply()
        assert r2.code == 250
        assert c.reply().code == 221
    stored = daemon.wait_for_maildir("demo@localhost", 2)
    bodies = sorted(split_received(s)[1] for s in stored)
    assert bodies == sorted([m1, m2])
    ids = {queue_id_of(r1.text), queue_id_of(r2.text)}
    assert len(ids) == 2


# -- envelope and header details ----------------------------------------------------------------


def test_ipv6_loopback(make_daemon):
    daemon = make_daemon(host="::1")
    with RawSMTP.implicit(daemon) as c:
        assert c.reply().code == 220
        c.ehlo("v6.example")
        c.envelope("a@example.org", ["demo@localhost"])
        assert c.cmd("DATA").code == 354
        c.send(dot_stuff(MESSAGE) + b".\r\n")
        qid = queue_id_of(c.reply().text)
    assert_delivered(daemon, MESSAGE, qid, helo="v6.example", peer="::1")


def test_null_sender_and_helo(daemon):
    """MAIL FROM:<> (bounces) is accepted; after HELO the protocol is plain SMTP."""
    with RawSMTP.implicit(daemon) as c:
        assert c.reply().code == 220
        r = c.cmd("HELO helo.example")
        assert (r.code, r.lines) == (250, ["mail.test"]), str(r)
        r = c.cmd("MAIL FROM:<> BODY=8BITMIME")
        assert r.code == 555, str(r)  # no ESMTP parameters after HELO
        c.envelope("", ["demo@localhost"])
        assert c.cmd("DATA").code == 354
        c.send(dot_stuff(MESSAGE) + b".\r\n")
        qid = queue_id_of(c.reply().text)
    assert_delivered(daemon, MESSAGE, qid, helo="helo.example", with_="SMTP")


@pytest.mark.parametrize("rcpt", ["Postmaster", "postmaster@mail.test", "POSTMASTER@localhost"])
def test_postmaster_always_exists(daemon, rcpt):
    with RawSMTP.implicit(daemon) as c:
        assert c.reply().code == 220
        c.ehlo()
        c.envelope("a@example.org", [rcpt])
        assert c.cmd("DATA").code == 354
        c.send(dot_stuff(MESSAGE) + b".\r\n")
        qid = queue_id_of(c.reply().text)
    # postmaster defaults to the first mailbox.
    [stored] = daemon.wait_for_maildir("demo@localhost")
    header, rest = split_received(stored)
    check_received(header, queue_id=qid)
    assert rest == MESSAGE


def test_duplicate_recipients_delivered_once(daemon):
    with RawSMTP.implicit(daemon) as c:
        assert c.reply().code == 220
        c.ehlo()
        c.envelope("a@example.org", ["demo@localhost", "demo@localhost", "user@mail.test"])
        assert c.cmd("DATA").code == 354
        c.send(dot_stuff(MESSAGE) + b".\r\n")
        assert c.reply().code == 250
    daemon.wait_for_maildir("demo@localhost")
    daemon.wait_for_maildir("user@mail.test")
    daemon.assert_no_more_mail("demo@localhost", 1)


def test_line_longer_than_998_octets(daemon):
    with RawSMTP.implicit(daemon) as c:
        assert c.reply().code == 220
        c.ehlo()
        c.envelope("a@example.org", ["demo@localhost"])
        assert c.cmd("DATA").code == 354
        c.send(sample_message("long", b"x" * 999 + b"\r\n") + b".\r\n")
        r = c.reply()
        assert (r.code, r.lines[0][:5]) == (554, "5.6.0"), str(r)
        # 998 is fine.
        c.envelope("a@example.org", ["demo@localhost"])
        assert c.cmd("DATA").code == 354
        msg = sample_message("998", b"x" * 998 + b"\r\n")
        c.send(msg + b".\r\n")
        qid = queue_id_of(c.reply().text)
    assert_delivered(daemon, msg, qid)


def test_empty_message(daemon):
    with RawSMTP.implicit(daemon) as c:
        assert c.reply().code == 220
        c.ehlo()
        c.envelope("a@example.org", ["demo@localhost"])
        assert c.cmd("DATA").code == 354
        c.send(b".\r\n")
        r = c.reply()
        assert r.code == 250, str(r)
    # An empty message is legal (RFC 5321 §4.1.1.4): the file is just the Received header.
    assert_delivered(daemon, b"", queue_id_of(r.text))


def test_many_concurrent_clients(daemon):
    """40 sessions at once over implicit TLS, 3 messages each: every message exactly once."""
    from concurrent.futures import ThreadPoolExecutor

    def client(n):
        ids = []
        with SMTP_SSL("mail.test", daemon.ports["implicit"], context=daemon.client_context(),
                      timeout=30) as s:
            for k in range(3):
                ids.append(smtplib_send(s, sample_message(f"c{n}m{k}")))
            s.quit()
        return ids

    with ThreadPoolExecutor(max_workers=40) as pool:
        ids = [i for r in pool.map(client, range(40), timeout=60) for i in r]
    assert len(set(ids)) == 120
    stored = daemon.wait_for_maildir("demo@localhost", 120, timeout=60)
    daemon.assert_no_more_mail("demo@localhost", 120)
    subjects = sorted(re.search(rb"Subject: (\S+)", split_received(m)[1]).group(1)
                      for m in stored)
    assert subjects == sorted(f"c{n}m{k}".encode() for n in range(40) for k in range(3))
