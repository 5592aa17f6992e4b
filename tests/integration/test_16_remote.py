"""Remote delivery, phase 1 (issue 6): delivery::remote::RemoteDelivery driven by the test tool
remote_deliver_probe against the DNSSEC lab (dnslab.py) and aiosmtpd receivers on loopback:
DANE-EE with a matching TLSA record delivers; a wrong TLSA, a bogus zone or a stripped
STARTTLS under a policy that requires TLS defers with nothing delivered; an unsigned zone gets
opportunistic TLS; `may` delivers in cleartext to a server without STARTTLS, and retries in
cleartext after a failed handshake where `encrypt` defers; null MX bounces; MX and address
fallback; per-domain policies; a silent server is deferred within the attempt deadline.
"""

from __future__ import annotations

import hashlib
import re
import socket
import ssl
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import harness
from dnslab import DnsLab
from remote_lab import server_context

PROBE = harness.BUILD_DIR / "src" / "delivery" / "remote" / "remote_deliver_probe"
EX_TEMPFAIL, EX_UNAVAILABLE = 75, 69

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")


class Collector:
    """aiosmtpd handler: keeps every message and whether it came over TLS."""

    def __init__(self):
        self.messages: list[dict] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        if address.startswith("later@"):
            return "451 4.2.0 try later"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append({"rcpt": list(envelope.rcpt_tos), "content": envelope.content,
                              "tls": session.ssl is not None})
        return "250 2.0.0 queued"


def spki_sha256(cert: Path) -> str:
    pub = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-pubkey"],
                         check=True, capture_output=True, timeout=10).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         check=True, capture_output=True, timeout=10).stdout
    return hashlib.sha256(der).hexdigest()


def lab_root(tmp_path_factory, name: str) -> tuple[Path, harness.Pki]:
    """A module's directory and its own test CA (in root/pki); stops the run if the probe is
    not built. test_18_mta_sts.py builds its `env` with this, `receiver` and `serve`."""
    if not PROBE.exists():
        pytest.exit(f"{PROBE} is missing (set SEALPOST_BUILD_DIR)", returncode=2)
    root = tmp_path_factory.mktemp(name)
    return root, harness.make_pki(root / "pki")


def receiver(rx: Collector, port: int, name: str, tls: ssl.SSLContext | None = None):
    """An aiosmtpd server for rx on 127.0.0.1:port (not started), offering STARTTLS (not
    requiring it) when tls is given."""
    kw = {"tls_context": tls, "require_starttls": False} if tls is not None else {}
    return aiosmtpd_controller.Controller(rx, hostname="127.0.0.1", port=port,
                                          server_hostname=name, **kw)


def serve(lab: DnsLab, root: Path, pki: harness.Pki, *, cert: Path, key: Path, tls_name: str,
          tls_port: int, plain_port: int, message: bytes, servers: tuple = (),
          **more) -> Iterator[dict]:
    """The end of an `env` fixture, the lab started: a Collector behind STARTTLS (cert, key,
    named tls_name) on tls_port, one without STARTTLS (mx.strip.test) on plain_port, and
    `servers`; the probe's message file. Yields env (with `more`), then stops all and the lab."""
    tls_rx, plain_rx = Collector(), Collector()
    servers = (receiver(tls_rx, tls_port, tls_name, server_context(cert, key)),
               receiver(plain_rx, plain_port, "mx.strip.test"), *servers)
    for s in servers:
        s.start()
    message_file = root / "message.eml"
    message_file.write_bytes(message)
    yield {"lab": lab, "root": root, "tls_port": tls_port, "plain_port": plain_port,
           "tls_rx": tls_rx, "plain_rx": plain_rx, "message": message_file, "ca": pki.ca_cert,
           **more}
    for s in servers:
        s.stop()
    lab.stop()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root, pki = lab_root(tmp_path_factory, "remote")
    cert, key, _ = pki.make_leaf(root / "pki", "mx", "mx.lab.test",
                                 "DNS:mx.lab.test,DNS:mx.plain.test,DNS:mx.ta.test", "ec")
    fullchain = root / "pki" / "mx-fullchain.pem"  # DANE-TA(2) needs the TA in the chain
    fullchain.write_bytes(cert.read_bytes() + pki.ca_cert.read_bytes())
    tls_port, plain_port, broken_port = harness.free_ports(3)
    good = spki_sha256(cert)
    wrong = "00" * 32

    def zone(tlsa: str, port: int) -> list[str]:
        return ["@ MX 10 mx", "mx A 127.0.0.1", f"_{port}._tcp.mx TLSA 3 1 1 {tlsa}"]

    lab = DnsLab(root)
    lab.add_zone("lab.test", zone(good, tls_port))
    lab.add_zone("wrong.test", zone(wrong, tls_port))
    lab.add_zone("bad.test", zone(good, tls_port), tamper=True)
    lab.add_zone("plain.test", ["@ MX 10 mx", "mx A 127.0.0.1"], signed=False)
    lab.add_zone("strip.test", zone(good, plain_port))
    lab.add_zone("implicit.test", ["@ A 127.0.0.1", f"_{tls_port}._tcp TLSA 3 1 1 {good}"])
    lab.add_zone("nullmx.test", ["@ MX 0 ."])
    lab.add_zone("ta.test", ["@ MX 10 mx", "mx A 127.0.0.1",
                             f"_{tls_port}._tcp.mx TLSA 2 1 1 {spki_sha256(pki.ca_cert)}"])
    # DANE-TA checks the name too (RFC 7672 §3.2.2): mx.tanamed.test is not in the certificate.
    lab.add_zone("tanamed.test", ["@ MX 10 mx", "mx A 127.0.0.1",
                                  f"_{tls_port}._tcp.mx TLSA 2 1 1 {spki_sha256(pki.ca_cert)}"])
    # Receivers listen on 127.0.0.1 only: the AAAA address (tried first) is refused.
    lab.add_zone("dual.test", ["@ MX 10 mx", "mx AAAA ::1", "mx A 127.0.0.1",
                               f"_{tls_port}._tcp.mx TLSA 3 1 1 {good}"])
    lab.add_zone("fallback.test", ["@ MX 10 dead", "@ MX 20 mx", "dead A 127.0.0.9",
                                   "mx A 127.0.0.1", f"_{tls_port}._tcp.mx TLSA 3 1 1 {good}"])
    # RFC 7672 §2.2: secure TLSA records none of which is usable: a SHA2-256 digest of the
    # wrong length (dropped by the policy), a full certificate that is not one (refused by
    # OpenSSL). TLS is required, unauthenticated.
    lab.add_zone("short.test", zone("abcd", tls_port))
    lab.add_zone("garbled.test", ["@ MX 10 mx", "mx A 127.0.0.1",
                                  f"_{tls_port}._tcp.mx TLSA 3 0 0 abcdef"])
    lab.start()

    # Offers STARTTLS but cannot complete a handshake with a TLS 1.2+ client.
    broken = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    broken.load_cert_chain(str(cert), str(key))
    with warnings.catch_warnings():  # TLS 1.1 is deprecated: that is the point here
        warnings.simplefilter("ignore", DeprecationWarning)
        broken.minimum_version = broken.maximum_version = ssl.TLSVersion.TLSv1_1
    broken_rx = Collector()
    yield from serve(
        lab, root, pki, cert=fullchain, key=key, tls_name="mx.lab.test", tls_port=tls_port,
        plain_port=plain_port,
        message=b"From: a@sender.test\nTo: b@lab.test\nSubject: remote\n\nHello.\n",
        servers=(receiver(broken_rx, broken_port, "mx.plain.test", broken),),
        broken_port=broken_port, broken_rx=broken_rx)


def deliver(env, domain: str, *rcpts: str, port: int | None = None, policy: str | None = None,
            ca: bool = False, extra: tuple[str, ...] = ()):
    lab = env["lab"]
    args = [str(PROBE), "--domain", domain, "--from", "a@sender.test",
            "--message", str(env["message"]), "--mx-port", str(port or env["tls_port"]),
            "--dns-server", lab.resolver_address, "--trust-anchor", str(lab.trust_anchor_file),
            "--helo", "client.sender.test"]
    if "--timeout" not in extra:
        args += ["--timeout", "10"]
    for r in rcpts or (f"b@{domain}",):
        args += ["--to", r]
    if policy:
        args += ["--policy", policy]
    if ca:
        args += ["--ca-file", str(env["ca"])]
    r = harness.run(args + list(extra), check=False, timeout=60)
    out = r.stdout.decode()
    assert "Traceback" not in out and r.stderr == b"", r.stderr.decode()
    return r.returncode, out


def attempts(out: str) -> list[str]:
    return [l for l in out.splitlines() if l.startswith("remote delivery:")]


def results(out: str) -> dict[str, str]:
    return dict(l.split(" ", 2)[1:] for l in out.splitlines() if l.startswith("RESULT "))


def received(rx: Collector, rcpt: str) -> list[dict]:
    return [m for m in rx.messages if rcpt in m["rcpt"]]


def test_dane_ee_match_delivers(env):
    rc, out = deliver(env, "lab.test", "b@lab.test", "nobody@lab.test", "later@lab.test")
    assert rc == EX_UNAVAILABLE, out  # one bounced recipient
    res = results(out)
    assert res["b@lab.test"] == "delivered"
    assert res["nobody@lab.test"].startswith("550 5.1.1"), out
    assert res["later@lab.test"].startswith("451 4.2.0"), out
    [line] = attempts(out)
    assert "mx=mx.lab.test address=127.0.0.1 policy=dane" in line
    assert re.search(r"tls=TLSv1\.[23] cipher=\S+ verified=dane-ee", line), line
    [m] = received(env["tls_rx"], "b@lab.test")
    assert m["tls"] and b"Subject: remote\r\n" in m["content"]


def test_wrong_tlsa_defers_nothing_sent(env):
    before = len(env["tls_rx"].messages)
    rc, out = deliver(env, "wrong.test")
    assert rc == EX_TEMPFAIL, out
    assert results(out)["b@wrong.test"].startswith("451 4.7.5"), out
    assert "does not match the TLSA records" in out
    assert len(env["tls_rx"].messages) == before


@pytest.mark.parametrize("domain", ["short.test", "garbled.test"])
def test_unusable_tlsa_is_tls_required_unauthenticated(env, domain):
    rc, out = deliver(env, domain, f"unusable@{domain}")
    assert rc == 0, out
    [line] = attempts(out)
    assert "policy=dane" in line and re.search(r"tls=TLSv1\.[23] ", line), line
    assert "verified=none" in line and "not verified (not required)" in line, line
    [m] = received(env["tls_rx"], f"unusable@{domain}")
    assert m["tls"]


def test_bogus_zone_defers(env):
    before = len(env["tls_rx"].messages)
    rc, out = deliver(env, "bad.test")
    assert rc == EX_TEMPFAIL, out
    assert results(out)["b@bad.test"].startswith("451 4.7.5"), out
    assert "bogus" in out.lower()
    assert len(env["tls_rx"].messages) == before


def test_unsigned_zone_opportunistic_tls(env):
    rc, out = deliver(env, "plain.test")
    assert rc == 0, out
    [line] = attempts(out)
    assert "policy=may" in line and re.search(r"tls=TLSv1\.[23] ", line), line
    assert "verified=none" in line  # no CA given: not verified, and not required
    [m] = received(env["tls_rx"], "b@plain.test")
    assert m["tls"]


def test_opportunistic_tls_with_a_trusted_chain_is_still_unverified(env):
    """`may` checks no name: a certificate whose chain the CA file vouches for is no proof of
    whom it belongs to, so the line says verified=none, like its reason."""
    rc, out = deliver(env, "plain.test", "e@plain.test", ca=True)
    assert rc == 0, out
    [line] = attempts(out)
    assert "policy=may" in line and re.search(r"tls=TLSv1\.[23] ", line), line
    assert "verified=none" in line and "not verified (not required)" in line, line


def test_unsigned_zone_verify_with_ca(env):
    rc, out = deliver(env, "plain.test", "c@plain.test", policy="verify", ca=True)
    assert rc == 0, out
    assert "verified=pkix" in attempts(out)[0]
    rc, out = deliver(env, "plain.test", "d@plain.test", policy="verify")  # system CAs only
    assert rc == EX_TEMPFAIL, out
    assert not received(env["tls_rx"], "d@plain.test")


def test_implicit_mx_dane(env):
    rc, out = deliver(env, "implicit.test")
    assert rc == 0, out
    assert "mx=implicit.test" in out and "verified=dane-ee" in out
    assert received(env["tls_rx"], "b@implicit.test")


def test_mx_fallback(env):
    rc, out = deliver(env, "fallback.test")
    assert rc == 0, out
    lines = attempts(out)
    assert len(lines) == 2, out
    assert "mx=dead.fallback.test" in lines[0] and "4.4.1" in lines[0]
    assert "mx=mx.fallback.test" in lines[1] and "verified=dane-ee" in lines[1]


def test_mx_host_cap(env):
    # --max-mx-hosts 1: only the first (dead) MX is tried; the working backup is not reached.
    rc, out = deliver(env, "fallback.test", "capped@fallback.test",
                      extra=("--max-mx-hosts", "1"))
    assert rc == EX_TEMPFAIL, out
    [line] = attempts(out)
    assert "mx=dead.fallback.test" in line, line
    assert not received(env["tls_rx"], "capped@fallback.test")


def test_connect_timeout_is_separate_from_the_attempt_deadline(env):
    # A listener whose accept queue is full drops further SYNs: the connect hangs, as to a
    # black-holed address, and must give up after --connect-timeout, not --timeout.
    hole = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    fillers = []
    try:
        hole.bind(("127.0.0.1", 0))
        hole.listen(0)
        for _ in range(4):
            f = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            f.setblocking(False)
            f.connect_ex(hole.getsockname())
            fillers.append(f)
        time.sleep(0.2)
        start = time.monotonic()
        rc, out = deliver(env, "plain.test", "hole@plain.test", port=hole.getsockname()[1],
                          extra=("--timeout", "30", "--connect-timeout", "1"))
        elapsed = time.monotonic() - start
    finally:
        for f in fillers:
            f.close()
        hole.close()
    assert rc == EX_TEMPFAIL, out
    assert "4.4.1" in results(out)["hole@plain.test"], out
    assert elapsed < 10, f"took {elapsed:.1f}s: the connect used the attempt deadline"


def test_null_mx_bounces(env):
    rc, out = deliver(env, "nullmx.test")
    assert rc == EX_UNAVAILABLE, out
    assert results(out)["b@nullmx.test"].startswith("556 5.1.10"), out


@pytest.mark.parametrize("domain,policy", [("strip.test", None), ("plain.test", "verify"),
                                           ("plain.test", "encrypt")])
def test_stripped_starttls_defers(env, domain, policy):
    rcpt = f"strip-{policy}@{domain}"
    rc, out = deliver(env, domain, rcpt, port=env["plain_port"], policy=policy)
    assert rc == EX_TEMPFAIL, out
    assert results(out)[rcpt].startswith("451 4.7.5"), out
    assert "STARTTLS not offered" in out
    assert not received(env["plain_rx"], rcpt)


def test_stripped_starttls_may_delivers_cleartext(env):
    rc, out = deliver(env, "plain.test", "clear@plain.test", port=env["plain_port"])
    assert rc == 0, out
    [line] = attempts(out)
    assert "policy=may tls=none" in line and "cleartext" in line, line
    [m] = received(env["plain_rx"], "clear@plain.test")
    assert not m["tls"]


def test_encrypt_accepts_unverified_peer(env):
    rc, out = deliver(env, "plain.test", "enc@plain.test", policy="encrypt")
    assert rc == 0, out
    [line] = attempts(out)
    assert "policy=encrypt" in line and "verified=none" in line and "tls=TLSv1." in line, line
    [m] = received(env["tls_rx"], "enc@plain.test")
    assert m["tls"]


def test_dane_only_chain_defers_where_dane_does_not_apply(env):
    # plain.test is unsigned: DANE does not apply, and a chain of only "dane" has no fallback.
    rc, out = deliver(env, "plain.test", "dane-only@plain.test", policy="dane")
    assert rc == EX_TEMPFAIL, out
    assert "no policy of the chain dane applies to plain.test" in out, out
    assert not received(env["tls_rx"], "dane-only@plain.test")


def test_failed_handshake(env):
    rc, out = deliver(env, "plain.test", "hs-encrypt@plain.test", port=env["broken_port"],
                      policy="encrypt")
    assert rc == EX_TEMPFAIL, out
    assert "4.7.5 encrypt: TLS handshake failed" in out, out
    assert not received(env["broken_rx"], "hs-encrypt@plain.test")
    # RFC 7435: opportunistic TLS may retry in cleartext, on a new connection.
    rc, out = deliver(env, "plain.test", "hs-may@plain.test", port=env["broken_port"])
    assert rc == 0, out
    first, second = attempts(out)
    assert "4.7.0 may: TLS handshake failed" in first, out
    assert "tls=none" in second and "delivered=1" in second, out
    [m] = received(env["broken_rx"], "hs-may@plain.test")
    assert not m["tls"]


def test_ipv6_first_then_ipv4(env):
    rc, out = deliver(env, "dual.test")
    assert rc == 0, out
    first, second = attempts(out)
    assert "address=::1 " in first and "4.4.1" in first, out
    assert "address=127.0.0.1 " in second and "verified=dane-ee" in second, out
    assert received(env["tls_rx"], "b@dual.test")


def test_per_domain_policy_overrides_default(env):
    rcpt = "per-domain@plain.test"
    rc, out = deliver(env, "PLAIN.test", rcpt, port=env["plain_port"], policy="may",
                      extra=("--domain-policy", "other.test=none",
                             "--domain-policy", "plain.test=encrypt"))
    assert rc == EX_TEMPFAIL, out
    assert "policy=encrypt" in out and "STARTTLS not offered" in out, out
    assert not received(env["plain_rx"], rcpt)


def test_silent_server_deferred_within_the_deadline(env):
    with socket.socket() as silent:  # the kernel accepts; nobody ever speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        start = time.monotonic()
        rc, out = deliver(env, "plain.test", "silent@plain.test", port=silent.getsockname()[1],
                          extra=("--timeout", "2"))
        elapsed = time.monotonic() - start
    assert rc == EX_TEMPFAIL, out
    assert results(out)["silent@plain.test"].startswith("451 4.4.2"), out
    assert elapsed < 8, elapsed


def test_dane_ta(env):
    rc, out = deliver(env, "ta.test")
    assert rc == 0, out
    assert "verified=dane-ta" in attempts(out)[0], out
    assert received(env["tls_rx"], "b@ta.test")


def test_dane_ta_wrong_name_defers(env):
    rc, out = deliver(env, "tanamed.test")
    assert rc == EX_TEMPFAIL, out
    assert results(out)["b@tanamed.test"].startswith("451 4.7.5"), out
    assert not received(env["tls_rx"], "b@tanamed.test")
