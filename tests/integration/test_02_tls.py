"""TLS: protocol versions, cipher suites, certificate choice (key type, SNI), STARTTLS, and
certificate reload on SIGHUP without dropping sessions."""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl

import pytest

from harness import RawSMTP, check_received, queue_id_of, run, sample_message, split_received


def s_client(daemon, *args, port=None, starttls=False, stdin=b""):
    """Runs openssl s_client against a listener; returns (exit code, stdout+stderr text)."""
    port = port or daemon.ports["starttls" if starttls else "implicit"]
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", str(daemon.ca),
           "-verify_return_error"]
    if starttls:
        cmd += ["-starttls", "smtp", "-name", "s-client.example"]
    result = run(cmd + list(args), input=stdin, check=False, timeout=15)
    return result.returncode, (result.stdout + result.stderr).decode("utf-8", errors="replace")


def leaf_facts(output: str) -> dict:
    """Subject, serial and key algorithm of the leaf certificate s_client printed."""
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n", output, re.S)
    assert m, output
    text = run(["openssl", "x509", "-noout", "-subject", "-serial", "-text"],
               input=m.group(0).encode()).stdout.decode()
    algo = re.search(r"Public Key Algorithm: (\S+)", text).group(1)
    return {
        "subject": re.search(r"^subject=(.*)$", text, re.M).group(1).strip(),
        "serial": int(re.search(r"^serial=([0-9A-F]+)$", text, re.M).group(1), 16),
        "key": {"id-ecPublicKey": "EC", "rsaEncryption": "RSA"}.get(algo, algo),
    }


def negotiated(output: str) -> tuple[str, str]:
    m = re.search(r"New, (TLSv1\.[0-3]|SSLv3|\(NONE\)), Cipher is (\S+)", output)
    assert m, output
    return m.group(1), m.group(2)


# -- versions and ciphers ---------------------------------------------------------------------


def test_tls11_refused(daemon):
    # SECLEVEL=0 so the client really offers TLS 1.1 and it is the server that says no.
    rc, out = s_client(daemon, "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0")
    assert rc != 0
    assert "alert protocol version" in out, out
    assert "220 mail.test" not in out
    daemon.wait_for_log(r"TLS handshake failed: .*unsupported protocol")


def test_tls10_refused(daemon):
    rc, out = s_client(daemon, "-tls1", "-cipher", "DEFAULT:@SECLEVEL=0")
    assert rc != 0
    assert "alert protocol version" in out, out


def test_tls12_non_forward_secret_cipher_refused(daemon):
    rc, out = s_client(daemon, "-tls1_2", "-cipher", "AES128-SHA")
    assert rc != 0
    assert "alert handshake failure" in out, out
    daemon.wait_for_log(r"TLS handshake failed: .*no shared cipher")


@pytest.mark.parametrize("cipher", ["ECDHE-RSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384",
                                    "DHE-RSA-AES128-GCM-SHA256"])
def test_tls12_cbc_and_dhe_refused(daemon, cipher):
    rc, out = s_client(daemon, "-tls1_2", "-cipher", cipher)
    assert rc != 0, out


def test_tls12_ecdhe_ecdsa_aes128_gcm(daemon):
    rc, out = s_client(daemon, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
    assert rc == 0, out
    assert negotiated(out) == ("TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256")
    assert leaf_facts(out)["key"] == "EC"
    daemon.wait_for_log(r"TLS established: TLSv1\.2 ECDHE-ECDSA-AES128-GCM-SHA256 \(128 bits\)")


def test_tls12_ecdhe_rsa_gets_rsa_cert(daemon):
    rc, out = s_client(daemon, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256")
    assert rc == 0, out
    assert negotiated(out) == ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256")
    facts = leaf_facts(out)
    assert (facts["key"], facts["serial"]) == ("RSA", 102)


def test_tls13_default_gets_ecdsa(daemon):
    rc, out = s_client(daemon, "-tls1_3")
    assert rc == 0, out
    assert negotiated(out)[0] == "TLSv1.3"
    facts = leaf_facts(out)
    assert facts == {"subject": "CN = mail.test", "serial": 101, "key": "EC"}
    assert "Verify return code: 0 (ok)" in out


def test_rsa_pss_sigalgs_gets_rsa_cert(daemon):
    rc, out = s_client(daemon, "-sigalgs", "rsa_pss_rsae_sha256")
    assert rc == 0, out
    facts = leaf_facts(out)
    assert (facts["key"], facts["serial"], facts["subject"]) == ("RSA", 102, "CN = mail.test")
    assert "Peer signature type: RSA-PSS" in out
    assert "Server public key is 2048 bit" in out


# -- SNI --------------------------------------------------------------------------------------


def test_sni_other_test(daemon):
    rc, out = s_client(daemon, "-servername", "other.test", "-verify_hostname", "other.test")
    assert rc == 0, out
    facts = leaf_facts(out)
    assert (facts["subject"], facts["serial"]) == ("CN = other.test", 103)
    daemon.wait_for_log(r"TLS established: TLSv1\.3 \S+ \(\d+ bits\) sni=other\.test")


def test_sni_case_insensitive_and_trailing_dot(daemon):
    ctx = daemon.client_context()
    ctx.check_hostname = False  # the SNI spelling is what is under test, not the name check
    for name in ("OTHER.Test", "other.test."):
        with socket.create_connection(("127.0.0.1", daemon.ports["implicit"]), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname=name) as tls:
                cert = tls.getpeercert()
                assert dict(x[0] for x in cert["subject"])["commonName"] == "other.test", name


def test_sni_unknown_gets_default(daemon):
    rc, out = s_client(daemon, "-servername", "unknown.test", "-verify_hostname", "mail.test")
    assert rc == 0, out
    assert leaf_facts(out)["subject"] == "CN = mail.test"
    daemon.wait_for_log(r"TLS established: .* sni=unknown\.test")


def test_no_sni_gets_default(daemon):
    rc, out = s_client(daemon, "-noservername", "-verify_ip", "127.0.0.1")
    assert rc == 0, out
    assert leaf_facts(out)["subject"] == "CN = mail.test"
    daemon.wait_for_log(r"TLS established: .* sni=-")


def test_python_client_verifies_other_test(daemon):
    with RawSMTP.implicit(daemon, server_hostname="other.test") as c:
        assert c.reply().code == 220
        assert c.ehlo().code == 250


# -- STARTTLS ---------------------------------------------------------------------------------


@pytest.mark.parametrize("listener", ["starttls", "mx", "require"])
def test_openssl_starttls(daemon, listener):
    rc, out = s_client(daemon, "-verify_hostname", "mail.test", "-servername", "mail.test",
                       port=daemon.ports[listener], starttls=True)
    assert rc == 0, out
    assert "Verify return code: 0 (ok)" in out
    assert negotiated(out)[0] == "TLSv1.3"
    assert leaf_facts(out)["key"] == "EC"


def test_starttls_tls11_refused(daemon):
    rc, out = s_client(daemon, "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0", starttls=True)
    assert rc != 0
    assert "alert protocol version" in out, out


# -- reload -----------------------------------------------------------------------------------


def peer_serial(daemon) -> int:
    with socket.create_connection(("127.0.0.1", daemon.ports["implicit"]), timeout=10) as s:
        with daemon.client_context().wrap_socket(s, server_hostname="mail.test") as tls:
            return int(tls.getpeercert()["serialNumber"], 16)


def replace_ecdsa_cert(daemon, serial: int) -> None:
    staging = daemon.root / "staging"
    cert, key, _ = daemon.pki.make_leaf(staging, f"new{serial}", "mail.test",
                                        "DNS:mail.test,IP:127.0.0.1", "ec", serial=serial)
    os.replace(key, daemon.tls_dir / "ecdsa.key")
    os.replace(cert, daemon.tls_dir / "ecdsa.pem")


def test_sighup_reload_keeps_old_session(daemon):
    assert peer_serial(daemon) == 101
    old = RawSMTP.implicit(daemon)
    try:
        assert old.reply().code == 220
        old.ehlo()
        old_cert = old.sock.getpeercert()
        assert int(old_cert["serialNumber"], 16) == 101

        replace_ecdsa_cert(daemon, 4242)
        daemon.signal(signal.SIGHUP)
        daemon.wait_for_log(r"SIGHUP: certificates reloaded")
        assert peer_serial(daemon) == 4242

        # The session opened before the reload completes a message on its old TLS state.
        msg = sample_message("after reload")
        old.envelope("a@example.org", ["demo@localhost"])
        assert old.cmd("DATA").code == 354
        old.send(msg + b".\r\n")
        r = old.reply()
        assert r.code == 250, str(r)
        qid = queue_id_of(r.text)
        assert old.cmd("QUIT").code == 221
    finally:
        old.close()
    [stored] = daemon.wait_for_maildir("demo@localhost", 1)
    header, rest = split_received(stored)
    check_received(header, queue_id=qid)
    assert rest == msg


def test_sighup_broken_cert_keeps_old(daemon):
    assert peer_serial(daemon) == 101
    (daemon.tls_dir / "ecdsa.pem").write_text("-----BEGIN CERTIFICATE-----\nbroken\n"
                                              "-----END CERTIFICATE-----\n")
    daemon.signal(signal.SIGHUP)
    daemon.wait_for_log(r"error SIGHUP: reload failed, keeping the old certificates: .*ecdsa\.pem")
    assert daemon.proc.poll() is None
    assert peer_serial(daemon) == 101
    # A mismatched key is also refused.
    replace_ecdsa_cert(daemon, 777)
    (daemon.tls_dir / "ecdsa.key").write_bytes((daemon.tls_dir / "other.key").read_bytes())
    daemon.signal(signal.SIGHUP)
    daemon.wait_for_log(r"SIGHUP: reload failed", count=2)
    assert peer_serial(daemon) == 101
    # And once the files are good again, the next SIGHUP takes them.
    replace_ecdsa_cert(daemon, 778)
    daemon.signal(signal.SIGHUP)
    daemon.wait_for_log(r"SIGHUP: certificates reloaded")
    assert peer_serial(daemon) == 778


def test_tls_session_facts_in_received(daemon):
    """The Received header reports what was negotiated, here a TLS 1.2 ECDHE-RSA session."""
    ctx = daemon.client_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE-RSA-CHACHA20-POLY1305")
    with socket.create_connection(("127.0.0.1", daemon.ports["implicit"]), timeout=10) as s:
        c = RawSMTP.__new__(RawSMTP)
        c.timeout, c.buf = 10.0, b""
        c.sock = ctx.wrap_socket(s, server_hostname="mail.test")
        assert c.reply().code == 220
        c.ehlo()
        c.envelope("a@example.org", ["demo@localhost"])
        assert c.cmd("DATA").code == 354
        c.send(sample_message("tls12") + b".\r\n")
        qid = queue_id_of(c.reply().text)
        c.close()
    [stored] = daemon.wait_for_maildir("demo@localhost", 1)
    header, _ = split_received(stored)
    check_received(header, queue_id=qid, tls_version="TLSv1.2",
                   cipher="ECDHE-RSA-CHACHA20-POLY1305")
    assert "(256 bits)" in header
