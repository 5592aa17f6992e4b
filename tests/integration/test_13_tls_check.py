"""`sealpost tls-check` (issue 5 item 4) against a real sealpostd (implicit TLS and STARTTLS
listeners), its output checked against `openssl s_client` and the openssl CLI for the same
server: protocol, cipher, key exchange group, subject/issuer, validity, SANs, SPKI and
certificate SHA-256. Verification failures (wrong name, untrusted CA, non-matching TLSA), DANE
from --tlsa (DANE-EE with a wrong name and no CA, DANE-TA, PKIX usages ignored), the wrong mode
for a port, a server without STARTTLS, refused connections and usage errors: each exits with
its documented status and a one-line error. With the DNSSEC lab (dnslab.py): --dane secure,
bogus and insecure.

Small scripted servers run in threads on 127.0.0.1 and free ports; every wait is bounded.
"""

from __future__ import annotations

import datetime
import json
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness import SEALPOST, free_ports, run

EX_USAGE, EX_UNAVAILABLE, EX_TEMPFAIL = 64, 69, 75


def tls_check(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    r = subprocess.run([str(SEALPOST), "tls-check", *args], capture_output=True, timeout=timeout)
    r.out, r.err = r.stdout.decode(), r.stderr.decode()
    return r


def tls_check_json(*args: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess, dict]:
    r = tls_check(*args, "--json", timeout=timeout)
    assert r.out.count("\n") == 1, r.out  # one object, one line
    return r, json.loads(r.out)


def one_line_error(r: subprocess.CompletedProcess) -> str:
    lines = r.err.splitlines()
    assert len(lines) == 1, r.err
    assert lines[0].startswith("sealpost tls-check: "), r.err
    return lines[0]


def target(d, listener: str) -> str:
    return f"127.0.0.1:{d.ports[listener]}"


# -- the openssl CLI's view of the same server ---------------------------------------------------

def s_client(d, listener: str, *extra: str) -> str:
    args = ["openssl", "s_client", "-connect", target(d, listener), "-showcerts", *extra]
    if listener != "implicit":
        args += ["-starttls", "smtp"]
    r = run(args, input=b"", check=False)
    return (r.stdout + r.stderr).decode(errors="replace")


def pem_blocks(text: str) -> list[str]:
    return re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", text, re.S)


def x509(pem: str, *args: str) -> str:
    return run(["openssl", "x509", "-noout", *args], input=pem.encode()).stdout.decode().strip()


def spki_sha256(pem: str) -> str:
    pub = run(["openssl", "x509", "-noout", "-pubkey"], input=pem.encode()).stdout
    der = run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub).stdout
    out = run(["openssl", "dgst", "-sha256", "-r"], input=der).stdout.decode()
    return out.split()[0]


def der_hex(pem_file: Path) -> str:
    return run(["openssl", "x509", "-in", str(pem_file), "-outform", "DER"]).stdout.hex()


def iso(openssl_date: str) -> str:  # "Nov 29 13:37:51 2026 GMT" -> "2026-11-29T13:37:51Z"
    t = datetime.datetime.strptime(openssl_date, "%b %d %H:%M:%S %Y %Z")
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def expected_cert(pem: str) -> dict:
    dates = dict(line.split("=", 1) for line in x509(pem, "-dates").splitlines())
    sans = x509(pem, "-ext", "subjectAltName").splitlines()[1].strip()
    return {
        "subject": x509(pem, "-subject", "-nameopt", "RFC2253").removeprefix("subject="),
        "issuer": x509(pem, "-issuer", "-nameopt", "RFC2253").removeprefix("issuer="),
        "serial": x509(pem, "-serial").removeprefix("serial="),
        "not_before": iso(dates["notBefore"]),
        "not_after": iso(dates["notAfter"]),
        "subject_alt_names": [s.replace("IP Address:", "IP:") for s in sans.split(", ")],
        "spki_sha256": spki_sha256(pem),
        "cert_sha256": x509(pem, "-fingerprint", "-sha256").split("=", 1)[1].replace(":", "")
        .lower(),
    }


def compare_with_s_client(d, listener: str, report: dict) -> None:
    text = s_client(d, listener, "-servername", "mail.test", "-CAfile", str(d.ca),
                    "-verify_hostname", "mail.test")
    m = re.search(r"New, (TLSv1\.[23]), Cipher is (\S+)", text)
    assert m, text
    assert report["tls"]["version"] == m[1]
    assert report["tls"]["cipher"] == m[2]
    m = re.search(r"Server Temp Key: ([^,\n]+)(?:, ([^,\n]+))?, \d+ bits", text)
    assert m, text
    group = {"prime256v1": "secp256r1"}.get(m[2], m[2]) if m[1] == "ECDH" else m[1].lower()
    assert report["tls"]["group"] == group
    assert "Verify return code: 0 (ok)" in text
    blocks = pem_blocks(text)
    assert len(report["chain"]) == len(blocks) >= 1
    for got, pem in zip(report["chain"], blocks):
        want = expected_cert(pem)
        assert {k: got[k] for k in want} == want


# -- against sealpostd ------------------------------------------------------------------------

def test_implicit_matches_s_client(daemon):
    r, rep = tls_check_json(target(daemon, "implicit"), "--sni", "mail.test", "--ca",
                            str(daemon.ca))
    assert r.returncode == 0, r.out + r.err
    assert r.err == ""
    compare_with_s_client(daemon, "implicit", rep)
    assert rep["verification"] == {"verified": True, "method": "pkix", "error": None,
                                   "error_depth": None}
    assert rep["target"] == {"host": "127.0.0.1", "port": daemon.ports["implicit"],
                             "mode": "implicit", "sni": "mail.test",
                             "reference_name": "mail.test"}
    assert rep["address"] == "127.0.0.1"
    assert rep["smtp"]["greeting"].startswith("220 mail.test ")
    assert rep["smtp"]["starttls_offered"] is None
    assert rep["dane"]["source"] == "none" and rep["dane"]["matched"] is None
    assert rep["exit_code"] == 0 and rep["error"] is None


def test_starttls_matches_s_client(daemon):
    r, rep = tls_check_json(target(daemon, "starttls"), "--starttls", "--sni", "mail.test",
                            "--ca", str(daemon.ca))
    assert r.returncode == 0, r.out + r.err
    compare_with_s_client(daemon, "starttls", rep)
    assert rep["target"]["mode"] == "starttls"
    assert rep["smtp"]["starttls_offered"] is True
    assert rep["smtp"]["greeting"].startswith("220 ")
    assert rep["smtp"]["note"] is None  # EHLO over TLS and QUIT went through
    assert rep["verification"]["method"] == "pkix"


def test_text_report(daemon):
    r = tls_check(target(daemon, "implicit"), "--ca", str(daemon.ca))  # checks IP SAN 127.0.0.1
    assert r.returncode == 0, r.out + r.err
    _, rep = tls_check_json(target(daemon, "implicit"), "--ca", str(daemon.ca))
    leaf = rep["chain"][0]
    assert re.search(r"^TLS:\s+" + re.escape(f"{rep['tls']['version']} {rep['tls']['cipher']}, "
                                             f"group {rep['tls']['group']}") + "$", r.out, re.M)
    assert re.search(r"^SNI:\s+\(none\)$", r.out, re.M)  # never an IP literal (RFC 6066 §3)
    assert f"subject      {leaf['subject']}\n" in r.out
    assert f"spki sha256  {leaf['spki_sha256']}\n" in r.out
    assert re.search(r"^verified:\s+yes \(pkix: trusted chain, names 127\.0\.0\.1\)$", r.out, re.M)


def test_wrong_name_not_verified(daemon):
    r, rep = tls_check_json(target(daemon, "implicit"), "--sni", "wrong.test", "--ca",
                            str(daemon.ca))
    assert r.returncode == 1, r.out + r.err
    assert r.err == ""  # connected fine: the verdict is in the report
    v = rep["verification"]
    assert not v["verified"] and v["method"] is None and v["error_depth"] == 0
    assert v["error"].startswith("hostname mismatch") and "wrong.test" in v["error"]
    assert rep["tls"]["version"] and rep["chain"]  # still described
    # openssl agrees on the reason
    text = s_client(daemon, "implicit", "-servername", "wrong.test", "-CAfile", str(daemon.ca),
                    "-verify_hostname", "wrong.test")
    assert "Verify return code: 62 (hostname mismatch)" in text
    r = tls_check(target(daemon, "implicit"), "--sni", "wrong.test", "--ca", str(daemon.ca))
    assert r.returncode == 1
    assert re.search(r"^verified:\s+NO: hostname mismatch at depth 0", r.out, re.M), r.out


def other_ca(tmp_path: Path) -> Path:
    key, cert = tmp_path / "other-ca.key", tmp_path / "other-ca.pem"
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(key), "-subj", "/CN=Other CA", "-days", "2", "-out", str(cert)])
    return cert


@pytest.mark.parametrize("ca", ["system", "other"])
def test_untrusted_ca_not_verified(daemon, tmp_path, ca):
    args = [] if ca == "system" else ["--ca", str(other_ca(tmp_path))]
    r, rep = tls_check_json(target(daemon, "implicit"), "--sni", "mail.test", *args)
    assert r.returncode == 1, r.out + r.err
    v = rep["verification"]
    assert not v["verified"]
    text = s_client(daemon, "implicit", "-servername", "mail.test", "-verify_hostname",
                    "mail.test", *(["-CAfile", args[1]] if args else []))
    # s_client carries on past the first error; its first "verify error" line is ours.
    m = re.search(r"verify error:num=(\d+):(.+)", text)
    assert m, text
    assert v["error"].startswith(m[2].strip()), (v["error"], m[2])


def leaf_spki(daemon) -> str:
    return expected_cert(pem_blocks(s_client(daemon, "implicit"))[0])["spki_sha256"]


def test_dane_ee_verifies_without_name_or_ca(daemon):
    record = f"3 1 1 {leaf_spki(daemon)}"
    r, rep = tls_check_json(target(daemon, "implicit"), "--sni", "wrong.test", "--tlsa", record)
    assert r.returncode == 0, r.out + r.err
    assert rep["verification"]["verified"] and rep["verification"]["method"] == "dane-ee"
    assert rep["dane"] == {"source": "tlsa-option", "records": [record], "usable": 1,
                           "ignored": 0, "matched": record, "matched_depth": 0, "dns": None}
    r = tls_check(target(daemon, "implicit"), "--tlsa", record.upper())
    assert r.returncode == 0
    assert re.search(r"^verified:\s+yes \(dane-ee: TLSA " + record +
                     r" matched the certificate at depth 0\)$", r.out, re.M), r.out


def test_dane_ta_checks_the_name(daemon):
    # 2 0 0: the whole CA certificate, so it need not be in the chain the server sends.
    record = f"2 0 0 {der_hex(daemon.ca)}"
    r, rep = tls_check_json(target(daemon, "implicit"), "--sni", "mail.test", "--tlsa", record)
    assert r.returncode == 0, r.out + r.err
    assert rep["verification"]["method"] == "dane-ta"
    assert rep["dane"]["matched"] == record
    r, rep = tls_check_json(target(daemon, "implicit"), "--sni", "wrong.test", "--tlsa", record)
    assert r.returncode == 1
    assert rep["verification"]["error"].startswith("hostname mismatch")


def test_non_matching_tlsa_not_verified(daemon):
    spki = leaf_spki(daemon)
    wrong = ("0" if spki[0] != "0" else "1") + spki[1:]
    # Even a trusted CA and the right name do not help: DANE decides once it applies.
    r, rep = tls_check_json(target(daemon, "implicit"), "--sni", "mail.test", "--ca",
                            str(daemon.ca), "--tlsa", f"3 1 1 {wrong}")
    assert r.returncode == 1, r.out + r.err
    v = rep["verification"]
    assert not v["verified"] and "DANE TLSA" in v["error"], v
    assert rep["dane"]["usable"] == 1 and rep["dane"]["matched"] is None


def test_pkix_usages_are_ignored(daemon):
    # RFC 7672 §3.1.3: a PKIX-EE record naming the right key does not make it trusted.
    r, rep = tls_check_json(target(daemon, "implicit"), "--sni", "mail.test", "--tlsa",
                            f"1 1 1 {leaf_spki(daemon)}")
    assert r.returncode == 1, r.out + r.err
    assert rep["dane"]["usable"] == 0 and rep["dane"]["ignored"] == 1
    assert not rep["verification"]["verified"]


# -- the wrong mode for a port, and other failures ------------------------------------------------

def test_starttls_against_implicit_port(daemon):
    start = time.monotonic()
    r, rep = tls_check_json(target(daemon, "implicit"), "--starttls", "--timeout", "3")
    assert time.monotonic() - start < 15
    assert r.returncode == EX_TEMPFAIL, r.out + r.err
    line = one_line_error(r)
    assert "greeting" in line and "--implicit" in line
    assert rep["error"] == line.removeprefix("sealpost tls-check: ")
    assert rep["tls"] is None and rep["exit_code"] == EX_TEMPFAIL


def test_implicit_against_starttls_port(daemon):
    r = tls_check(target(daemon, "starttls"), "--timeout", "10")
    assert r.returncode == EX_UNAVAILABLE, r.out + r.err
    line = one_line_error(r)
    assert "TLS handshake failed" in line and "--starttls" in line
    assert "verified:" not in r.out


def test_connection_refused():
    [port] = free_ports(1)
    r, rep = tls_check_json(f"127.0.0.1:{port}", "--timeout", "5")
    assert r.returncode == EX_UNAVAILABLE, r.out + r.err
    line = one_line_error(r)
    assert "cannot connect" in line and "refused" in line
    assert rep["address"] is None and rep["verification"]["verified"] is False


def scripted_server(greeting: bytes, ehlo: bytes, starttls: bytes = b"502 5.5.1 no\r\n") -> int:
    """One plaintext SMTP connection: greeting, then `ehlo` to EHLO, `starttls` to STARTTLS,
    221 to QUIT."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(20)

    def serve():
        try:
            conn, _ = srv.accept()
            with conn:
                conn.settimeout(20)
                conn.sendall(greeting)
                buf = b""
                while True:
                    data = conn.recv(4096)
                    if not data:
                        return
                    buf += data
                    while b"\r\n" in buf:
                        cmd, buf = buf.split(b"\r\n", 1)
                        verb = cmd[:4].upper()
                        if verb == b"EHLO":
                            conn.sendall(ehlo)
                        elif verb == b"STAR":
                            conn.sendall(starttls)
                        elif verb == b"QUIT":
                            conn.sendall(b"221 2.0.0 bye\r\n")
                            return
                        else:
                            conn.sendall(b"502 5.5.1 no\r\n")
        except OSError:
            pass
        finally:
            srv.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()[1]


def test_starttls_not_offered():
    port = scripted_server(b"220 plain.test ESMTP\r\n", b"250-plain.test\r\n250 PIPELINING\r\n")
    r, rep = tls_check_json(f"127.0.0.1:{port}", "--starttls", "--timeout", "10")
    assert r.returncode == EX_UNAVAILABLE, r.out + r.err
    assert "STARTTLS is not offered" in one_line_error(r)
    assert rep["smtp"]["starttls_offered"] is False
    assert rep["smtp"]["greeting"] == "220 plain.test ESMTP"
    assert rep["tls"] is None


def test_starttls_refused():
    port = scripted_server(b"220 busy.test ESMTP\r\n", b"250-busy.test\r\n250 STARTTLS\r\n",
                           b"454 4.7.0 TLS not available\r\n")
    r, rep = tls_check_json(f"127.0.0.1:{port}", "--starttls", "--timeout", "10")
    assert r.returncode == EX_TEMPFAIL, r.out + r.err
    line = one_line_error(r)
    assert "STARTTLS refused" in line and "454 4.7.0 TLS not available" in line
    assert rep["smtp"]["starttls_offered"] is True
    assert rep["tls"] is None


def test_no_service_greeting():
    port = scripted_server(b"554 5.3.2 no service here\r\n", b"")
    r = tls_check(f"127.0.0.1:{port}", "--starttls", "--timeout", "10")
    assert r.returncode == EX_UNAVAILABLE, r.out + r.err
    assert "554" in one_line_error(r)


@pytest.mark.parametrize("args", [
    ["127.0.0.1:0"],
    ["127.0.0.1:99999"],
    ["mail.test", "--tlsa", "3 1 1 abcd"],
    ["mail.test", "--tlsa", "4 1"],
    ["127.0.0.1", "--dane"],
    ["127.0.0.1", "--sni", "192.0.2.1"],
    ["mail.test", "--timeout", "0"],
    ["mail.test", "--implicit", "--starttls"],
    ["bad host"],
])
def test_usage_errors(args):
    r = tls_check(*args)
    assert r.returncode == EX_USAGE, r.out + r.err
    assert r.out == ""
    assert r.err.strip() != ""


# -- --dane: TLSA from the DNSSEC lab (nsd + ldns-signzone + validating unbound) ---------------

def test_dane_from_dnssec_lab(daemon, tmp_path):
    from dnslab import DnsLab

    port = daemon.ports["implicit"]
    spki = leaf_spki(daemon)
    wrong = ("0" if spki[0] != "0" else "1") + spki[1:]
    lab = DnsLab(tmp_path)
    lab.add_zone("lab.test", ["mx A 127.0.0.1", f"_{port}._tcp.mx TLSA 3 1 1 {spki}",
                              "nomatch A 127.0.0.1", f"_{port}._tcp.nomatch TLSA 3 1 1 {wrong}",
                              "none A 127.0.0.1"])
    lab.add_zone("bad.test", ["mx A 127.0.0.1", f"_{port}._tcp.mx TLSA 3 1 1 {spki}"],
                 tamper=True)
    lab.add_zone("plain.test", ["mx A 127.0.0.1", f"_{port}._tcp.mx TLSA 3 1 1 {wrong}"],
                 signed=False)
    lab.start()
    dns_args = ["--dane", "--dns-server", lab.resolver_address, "--dns-trust-anchor",
                str(lab.trust_anchor_file)]
    try:
        # Secure and matching: DANE-EE, although no CA vouches for the name mx.lab.test.
        r, rep = tls_check_json(f"mx.lab.test:{port}", *dns_args)
        assert r.returncode == 0, r.out + r.err
        assert rep["verification"]["method"] == "dane-ee"
        assert rep["dane"]["source"] == "dns"
        assert rep["dane"]["matched"] == f"3 1 1 {spki}"
        dns = rep["dane"]["dns"]
        assert dns["qname"] == f"_{port}._tcp.mx.lab.test"
        assert (dns["security"], dns["status"]) == ("secure", "records")
        assert dns["addresses"] == ["127.0.0.1"]
        r = tls_check(f"mx.lab.test:{port}", *dns_args)
        assert re.search(rf"^DNS:\s+_{port}\._tcp\.mx\.lab\.test TLSA: secure, records \(1\)$",
                         r.out, re.M), r.out

        # Secure but not matching: not verified, even with a CA that trusts the certificate.
        r, rep = tls_check_json(f"nomatch.lab.test:{port}", "--sni", "mail.test", "--ca",
                                str(daemon.ca), *dns_args)
        assert r.returncode == 1, r.out + r.err
        assert "DANE TLSA" in rep["verification"]["error"]

        # Secure denial of existence: no DANE, PKIX decides.
        r, rep = tls_check_json(f"none.lab.test:{port}", "--sni", "mail.test", "--ca",
                                str(daemon.ca), *dns_args)
        assert r.returncode == 0, r.out + r.err
        assert rep["verification"]["method"] == "pkix"
        assert rep["dane"]["dns"]["status"] == "nxdomain"
        assert rep["dane"]["dns"]["security"] == "secure"

        # Insecure (unsigned zone): its TLSA record is not used, even though it would not match.
        r, rep = tls_check_json(f"mx.plain.test:{port}", "--sni", "mail.test", "--ca",
                                str(daemon.ca), *dns_args)
        assert r.returncode == 0, r.out + r.err
        assert rep["dane"]["dns"]["security"] == "insecure"
        assert rep["dane"]["records"] == [] and rep["verification"]["method"] == "pkix"

        # Bogus (tampered signatures): DANE cannot be satisfied; never a PKIX fallback.
        r, rep = tls_check_json(f"mx.bad.test:{port}", "--sni", "mail.test", "--ca",
                                str(daemon.ca), *dns_args)
        assert r.returncode == 1, r.out + r.err
        line = one_line_error(r)
        assert "bogus" in line
        assert rep["dane"]["dns"]["security"] == "bogus"
        assert rep["verification"]["verified"] is False
    finally:
        lab.stop()


def test_silent_tls_service_reports_promptly(daemon):
    """A TLS server that never speaks SMTP: the verdict comes after the handshake, with a note,
    not after the whole --timeout."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(daemon.tls_dir / "ecdsa.pem", daemon.tls_dir / "ecdsa.key")
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(30)
    done = threading.Event()

    def serve():
        try:
            conn, _ = srv.accept()
            with ctx.wrap_socket(conn, server_side=True) as tls:
                done.wait(40)  # handshake done; say nothing
        except OSError:
            pass
        finally:
            srv.close()

    threading.Thread(target=serve, daemon=True).start()
    start = time.monotonic()
    try:
        r, rep = tls_check_json(f"127.0.0.1:{srv.getsockname()[1]}", "--sni", "mail.test",
                                "--ca", str(daemon.ca), "--timeout", "60")
    finally:
        done.set()
    assert time.monotonic() - start < 30
    assert r.returncode == 0, r.out + r.err
    assert rep["verification"]["method"] == "pkix"
    assert rep["smtp"]["greeting"] is None
    assert rep["smtp"]["note"].startswith("SMTP over TLS failed")


def test_trailing_dot_is_not_sent(daemon):
    r, rep = tls_check_json(target(daemon, "implicit"), "--sni", "mail.test.", "--ca",
                            str(daemon.ca))
    assert r.returncode == 0, r.out + r.err
    assert rep["target"]["sni"] == "mail.test" == rep["target"]["reference_name"]


def test_dane_with_unusable_resolver_options(tmp_path):
    anchor = tmp_path / "anchor.ds"
    anchor.write_text("this is not a trust anchor\n")
    r = tls_check("mx.lab.test:465", "--dane", "--dns-server", "not-an-address",
                  "--dns-trust-anchor", str(anchor), "--timeout", "10")
    assert r.returncode == 78, r.out + r.err
    assert "resolver" in one_line_error(r)
    assert r.out == ""
