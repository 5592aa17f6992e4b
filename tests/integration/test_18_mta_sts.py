"""MTA-STS (RFC 8461) in remote delivery: remote_deliver_probe against the DNSSEC lab
(dnslab.py: `_mta-sts` TXT and `mta-sts` A records), a loopback HTTPS server started here
(http.server + ssl, certificate from the lab CA) serving the policies, and the aiosmtpd
receivers of test_16_remote.py.

enforce with a listed MX and a certificate that verifies delivers and logs verified=mta-sts;
an MX the policy does not list, a stripped STARTTLS or a certificate that does not verify
defers with nothing sent; testing delivers as `may` would and notes what enforce would have
done; no TXT record falls through to `may`; a policy fetch that fails (404, wrong media type,
redirect, too large) is no policy; a cached policy (kept in --mta-sts-cache-dir) stays in force
when the HTTPS server is gone, also when a new TXT id cannot be fetched.
"""

from __future__ import annotations

import re
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import harness
from dnslab import DnsLab
from test_16_remote import (EX_TEMPFAIL, attempts, deliver, lab_root, received, results,
                            serve)

POLICY_PATH = "/.well-known/mta-sts.txt"


def policy(mode: str, *mx: str, max_age: int = 86400) -> bytes:
    lines = ["version: STSv1", f"mode: {mode}", *[f"mx: {m}" for m in mx], f"max_age: {max_age}"]
    return ("\r\n".join(lines) + "\r\n").encode()


class PolicyServer:
    """HTTPS on 127.0.0.1 (a free port): one response per Host, every request recorded."""

    def __init__(self, cert: Path, key: Path, responses: dict[str, tuple]):
        self.requests: list[tuple[str, str]] = []  # (host, path)
        server = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10

            def do_GET(self):
                host = self.headers.get("Host", "").rsplit(":", 1)[0].lower()
                server.requests.append((host, self.path))
                status, ctype, body, headers = responses.get(
                    host if self.path == POLICY_PATH else "", (404, "text/plain", b"no\n", {}))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)

    def fetched(self, host: str) -> list[str]:
        return [path for h, path in self.requests if h == host]


# Domains of the lab: each its own zone with "mx" as MX host, an STSv1 TXT record (id=1) and
# mta-sts.DOMAIN at 127.0.0.1, unless said otherwise. enforce.test is signed (secure MX, no
# TLSA: DANE does not apply and the chain goes on to mta-sts); the others are unsigned.
DOMAINS = ["enforce.test", "nomatch.test", "badcert.test", "strip.test", "testing.test",
           "notxt.test", "notfound.test", "ctype.test", "redirect.test", "big.test",
           "cached.test"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root, pki = lab_root(tmp_path_factory, "mta-sts")
    # The MX certificate names every MX host but mx.badcert.test (PKIX must fail there).
    mx_sans = ",".join(f"DNS:mx.{d}" for d in DOMAINS if d != "badcert.test")
    mx_cert, mx_key, _ = pki.make_leaf(root / "pki", "mx", "mx.enforce.test", mx_sans, "ec")
    web_sans = ",".join(f"DNS:mta-sts.{d}" for d in DOMAINS)
    web_cert, web_key, _ = pki.make_leaf(root / "pki", "web", "mta-sts.enforce.test", web_sans,
                                         "ec")
    tls_port, plain_port = harness.free_ports(2)

    lab = DnsLab(root)
    for d in DOMAINS:
        records = ["@ MX 10 mx", "mx A 127.0.0.1", "mta-sts A 127.0.0.1"]
        if d != "notxt.test":
            records.append('_mta-sts TXT "v=STSv1; id=1;"')
        lab.add_zone(d, records, signed=d == "enforce.test")
    lab.start()

    text = "text/plain; charset=utf-8"
    web = PolicyServer(web_cert, web_key, {
        "mta-sts.enforce.test": (200, text, policy("enforce", "*.enforce.test"), {}),
        "mta-sts.nomatch.test": (200, text, policy("enforce", "mx.elsewhere.test"), {}),
        "mta-sts.badcert.test": (200, text, policy("enforce", "mx.badcert.test"), {}),
        "mta-sts.strip.test": (200, text, policy("enforce", "mx.strip.test"), {}),
        "mta-sts.testing.test": (200, "text/plain", policy("testing", "mx.testing.test"), {}),
        "mta-sts.notxt.test": (200, text, policy("enforce", "mx.elsewhere.test"), {}),
        "mta-sts.ctype.test": (200, "text/html", policy("enforce", "mx.elsewhere.test"), {}),
        # Followed, this would be an enforced policy without the MX: a deferral.
        "mta-sts.redirect.test": (301, "text/plain", b"moved\n", {
            "Location": "https://mta-sts.nomatch.test/.well-known/mta-sts.txt"}),
        "mta-sts.big.test": (200, text, policy("enforce", "mx.elsewhere.test")
                             + b"x: " + b"y" * 70000 + b"\r\n", {}),
    })

    yield from serve(
        lab, root, pki, cert=mx_cert, key=mx_key, tls_name="mx.enforce.test", tls_port=tls_port,
        plain_port=plain_port,
        message=b"From: a@sender.test\nTo: b@enforce.test\nSubject: sts\n\nHello.\n",
        web=web, web_cert=web_cert, web_key=web_key)
    web.stop()


def sts_deliver(env, domain: str, rcpt: str, *, port: int | None = None,
                web_port: int | None = None, extra: tuple[str, ...] = ()):
    """The default chain (dane,mta-sts,may) with the lab CA for MX hosts and policy fetches."""
    return deliver(env, domain, rcpt, port=port, ca=True,
                   extra=("--mta-sts-port", str(web_port or env["web"].port), *extra))


def notes(out: str) -> list[str]:
    return [l for l in out.splitlines() if l.startswith("mta-sts:")]


def test_enforce_listed_mx_verified_delivers(env):
    rc, out = sts_deliver(env, "enforce.test", "b@enforce.test")
    assert rc == 0, out
    [line] = attempts(out)
    assert "mx=mx.enforce.test address=127.0.0.1 policy=mta-sts" in line, line
    assert re.search(r"tls=TLSv1\.[23] cipher=\S+ verified=mta-sts result=delivered", line), line
    assert notes(out) == ["mta-sts: domain=enforce.test fetched policy mode=enforce id=1"], out
    [m] = received(env["tls_rx"], "b@enforce.test")
    assert m["tls"]


def test_enforce_unlisted_mx_defers_nothing_sent(env):
    rc, out = sts_deliver(env, "nomatch.test", "b@nomatch.test")
    assert rc == EX_TEMPFAIL, out
    assert results(out)["b@nomatch.test"] == (
        "451 4.7.5 mta-sts: no MX host of nomatch.test matches its enforced policy; "
        "nothing was sent"), out
    [line] = attempts(out)
    assert "address=- policy=mta-sts" in line and "is not in the enforced policy" in line, line
    assert not received(env["tls_rx"], "b@nomatch.test")


def test_enforce_stripped_starttls_defers(env):
    rc, out = sts_deliver(env, "strip.test", "b@strip.test", port=env["plain_port"])
    assert rc == EX_TEMPFAIL, out
    assert results(out)["b@strip.test"].startswith("451 4.7.5 mta-sts: TLS required and "
                                                   "STARTTLS not offered"), out
    assert not received(env["plain_rx"], "b@strip.test")


def test_enforce_certificate_not_verified_defers(env):
    rc, out = sts_deliver(env, "badcert.test", "b@badcert.test")
    assert rc == EX_TEMPFAIL, out
    res = results(out)["b@badcert.test"]
    assert res.startswith("451 4.7.5 mta-sts: certificate not verified for mx.badcert.test"), out
    [line] = attempts(out)
    assert "policy=mta-sts" in line and "verified=none" in line, line
    assert not received(env["tls_rx"], "b@badcert.test")


def test_testing_delivers_and_notes_what_enforce_would_do(env):
    rc, out = sts_deliver(env, "testing.test", "b@testing.test")
    assert rc == 0, out
    [line] = attempts(out)
    assert "policy=may" in line and "result=delivered" in line, line
    assert ('note="mta-sts testing: mx.testing.test is in the policy of testing.test; '
            'enforce would deliver: verified by PKIX"') in line, line
    assert received(env["tls_rx"], "b@testing.test")
    # Without STARTTLS: delivered in the clear all the same, and the note says enforce would not.
    rc, out = sts_deliver(env, "testing.test", "clear@testing.test", port=env["plain_port"])
    assert rc == 0, out
    [line] = attempts(out)
    assert "policy=may tls=none" in line and "enforce would defer: no TLS" in line, line
    assert received(env["plain_rx"], "clear@testing.test")


def test_no_txt_record_falls_through_to_may(env):
    rc, out = sts_deliver(env, "notxt.test", "b@notxt.test")
    assert rc == 0, out
    [line] = attempts(out)
    assert "policy=may" in line and "note=" not in line, line
    assert notes(out) == [], out
    assert env["web"].fetched("mta-sts.notxt.test") == [], "no TXT record: no fetch"
    assert received(env["tls_rx"], "b@notxt.test")


@pytest.mark.parametrize("domain,why", [
    ("notfound.test", "HTTP 404"),
    ("ctype.test", "Content-Type text/html, not text/plain"),
    ("redirect.test", "HTTP 301"),
    ("big.test", "policy larger than 65536 bytes"),
])
def test_failed_fetch_is_no_policy(env, domain, why):
    rc, out = sts_deliver(env, domain, f"b@{domain}")
    assert rc == 0, out
    [note] = notes(out)
    assert note.startswith(f"mta-sts: domain={domain} policy fetch failed (") and why in note, note
    assert note.endswith(": no policy"), note
    [line] = attempts(out)
    assert "policy=may" in line and "result=delivered" in line, line
    assert env["web"].fetched(f"mta-sts.{domain}") == [POLICY_PATH]
    assert received(env["tls_rx"], f"b@{domain}")


def test_redirect_not_followed(env):
    before = len(env["web"].fetched("mta-sts.nomatch.test"))
    rc, out = sts_deliver(env, "redirect.test", "again@redirect.test")
    assert rc == 0, out
    assert len(env["web"].fetched("mta-sts.nomatch.test")) == before


def test_cached_policy_outlives_the_https_server(env, tmp_path):
    web = PolicyServer(env["web_cert"], env["web_key"], {
        "mta-sts.cached.test": (200, "text/plain", policy("enforce", "mx.cached.test"), {})})
    cache = tmp_path / "mta-sts-cache"
    args = ("--mta-sts-cache-dir", str(cache))
    try:
        rc, out = sts_deliver(env, "cached.test", "one@cached.test", web_port=web.port,
                              extra=args)
        assert rc == 0, out
        assert notes(out) == ["mta-sts: domain=cached.test fetched policy mode=enforce id=1"]
        assert "verified=mta-sts" in attempts(out)[0], out
    finally:
        web.stop()
    assert (cache / "cached.test").exists()

    # Same TXT id: the cached policy is current, nothing is fetched.
    rc, out = sts_deliver(env, "cached.test", "two@cached.test", web_port=web.port, extra=args)
    assert rc == 0, out
    assert notes(out) == ["mta-sts: domain=cached.test cached policy mode=enforce id=1"], out
    [line] = attempts(out)
    assert "policy=mta-sts" in line and "verified=mta-sts" in line, line

    # A new id (here: the cached one changed) must be fetched; that fails, and the cached
    # policy stays in force (RFC 8461 §5.1) instead of falling back to `may`.
    f = cache / "cached.test"
    f.write_text(f.read_text().replace(" 1 1 ", " 1 0 ", 1))
    rc, out = sts_deliver(env, "cached.test", "three@cached.test", web_port=web.port,
                          extra=args)
    assert rc == 0, out
    [note] = notes(out)
    assert "policy fetch failed (" in note and note.endswith(
        "cached policy mode=enforce id=0 stays in force"), note
    assert "verified=mta-sts" in attempts(out)[0], out

    # Without the cache, the same failure is no policy at all: `may`.
    rc, out = sts_deliver(env, "cached.test", "four@cached.test", web_port=web.port)
    assert rc == 0, out
    assert notes(out)[0].endswith(": no policy"), out
    assert "policy=may" in attempts(out)[0], out
    for rcpt in ("one", "two", "three", "four"):
        assert received(env["tls_rx"], f"{rcpt}@cached.test")
