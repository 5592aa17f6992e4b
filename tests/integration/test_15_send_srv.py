"""SRV discovery in `sealpost send` (RFC 6186, RFC 8314 §5.1) against the DNSSEC lab and a real
sealpostd whose certificate names mail.test (and 127.0.0.1):

- insecure SRV under mail.test -> smtp.mail.test: delivered; the certificate is checked against
  the configured domain (mail.test), not the unauthenticated target (RFC 7817 §3);
- the same SRV under an unsigned other domain pointing at mail.test: refused (the certificate
  does not name the domain and an insecure target is no reference identity);
- a DNSSEC-secure SRV pointing at mail.test: delivered (a secure target may be matched);
- RFC 2782 order with a dead first target: the next one is used;
- target ".": EX_UNAVAILABLE; no SRV: DOMAIN:465 is tried; a bogus SRV: EX_TEMPFAIL.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

import harness
from dnslab import DnsLab
from harness import SEALPOST, Account, Daemon

ALICE = Account("alice@mail.test", "alice-Secret-1")
EX_NOHOST, EX_UNAVAILABLE, EX_TEMPFAIL = 68, 69, 75


@pytest.fixture(scope="module")
def setup(tmp_path_factory, pki):
    root = tmp_path_factory.mktemp("send_srv")
    d = Daemon(root / "daemon", pki, accounts=[ALICE],
               auth={"delay_after": 100, "lockout_after": 1000})
    d.start()
    port = d.ports["implicit"]
    [dead] = harness.free_ports(1)
    lab = DnsLab(root)
    lab.add_zone("mail.test", ["@ A 127.0.0.1", "smtp A 127.0.0.1",
                               f"_submissions._tcp SRV 0 1 {port} smtp"], signed=False)
    lab.add_zone("unsigned.test", [f"_submissions._tcp SRV 0 1 {port} mail.test."],
                 signed=False)
    lab.add_zone("signed.test", [f"_submissions._tcp SRV 0 1 {port} mail.test."])
    lab.add_zone("failover.test", ["dead A 127.0.0.1",
                                   f"_submissions._tcp SRV 0 1 {dead} dead",
                                   f"_submissions._tcp SRV 10 1 {port} mail.test."])
    lab.add_zone("closed.test", ["@ A 127.0.0.1", "_submissions._tcp SRV 0 0 0 ."])
    lab.add_zone("nosrv.test", ["@ A 127.0.0.1"], signed=False)
    lab.add_zone("bogus.test", [f"_submissions._tcp SRV 0 1 {port} mail.test."], tamper=True)
    try:
        lab.start()
        yield d, lab
    finally:
        lab.stop()
        d.stop(grace=10)


def send(d: Daemon, lab: DnsLab, server: str, *extra: str, dns: bool = True,
         subject: str = "srv") -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("SEALPOST_CLIENT_CONFIG", None)
    env["HOME"] = "/nonexistent"
    env["SP_PW"] = ALICE.password
    args = [str(SEALPOST), "send", "-v", "--server", server, "--ca", str(d.ca), "--user",
            ALICE.name, "--password-env", "SP_PW", "--connect-timeout", "5"]
    if dns:
        args += ["--dns-server", lab.resolver_address, "--dns-trust-anchor",
                 str(lab.trust_anchor_file)]
    args += [*extra, "-f", ALICE.name, "user@mail.test"]
    msg = f"From: {ALICE.name}\nSubject: {subject}\n\nvia SRV\n".encode()
    return subprocess.run(args, input=msg, capture_output=True, timeout=60, env=env)


def delivered(d: Daemon, subject: str) -> bool:
    return any(f"Subject: {subject}".encode() in m for m in d.messages("user@mail.test"))


def wait_delivered(d: Daemon, subject: str, timeout: float = 10.0) -> None:
    """The module shares one daemon: wait for this test's message, not for any message."""
    deadline = time.monotonic() + timeout
    while not delivered(d, subject):
        assert time.monotonic() < deadline, f"{subject!r} not delivered\n{d.log()}"
        time.sleep(0.05)


def test_insecure_srv_checks_the_configured_domain(setup):
    d, lab = setup
    r = send(d, lab, "mail.test", subject="insecure-srv")
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert "_submissions._tcp.mail.test (insecure)" in err
    assert "certificate must match mail.test" in err and " or smtp.mail.test" not in err
    wait_delivered(d, "insecure-srv")


def test_insecure_srv_target_is_not_a_reference_identity(setup):
    d, lab = setup
    # The SRV points at mail.test, whose certificate this is; but nothing authenticated that
    # pointer, so the certificate must name unsigned.test, and it does not.
    r = send(d, lab, "unsigned.test", subject="must-not-arrive")
    err = r.stderr.decode()
    assert r.returncode == EX_UNAVAILABLE, err
    assert "certificate verification failed for unsigned.test" in err
    assert "nothing sent" in err
    d.assert_no_more_mail("user@mail.test", len(d.messages("user@mail.test")), settle=0.3)
    assert not delivered(d, "must-not-arrive")


def test_secure_srv_target_may_match(setup):
    d, lab = setup
    r = send(d, lab, "signed.test", subject="secure-srv")
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert "_submissions._tcp.signed.test (secure)" in err
    assert "certificate must match signed.test or mail.test" in err
    wait_delivered(d, "secure-srv")


def test_explicit_server_name_is_the_only_identity(setup):
    d, lab = setup
    r = send(d, lab, "signed.test", "--server-name", "signed.test", subject="named")
    assert r.returncode == EX_UNAVAILABLE, r.stderr.decode()
    assert not delivered(d, "named")


def test_next_target_after_connection_failure(setup):
    d, lab = setup
    r = send(d, lab, "failover.test", subject="failover")
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert err.index("dead.failover.test") < err.index("mail.test:")  # priority 0 first
    wait_delivered(d, "failover")


def test_dot_target_is_unavailable(setup):
    d, lab = setup
    r = send(d, lab, "closed.test")
    err = r.stderr.decode()
    assert r.returncode == EX_UNAVAILABLE, err
    assert 'target "."' in err


def test_no_srv_falls_back_to_port_465(setup):
    d, lab = setup
    r = send(d, lab, "nosrv.test")
    err = r.stderr.decode()
    assert "no SRV record for _submissions._tcp.nosrv.test" in err
    # Nothing listens on 127.0.0.1:465 here: a fast refusal that names the port.
    assert r.returncode == EX_TEMPFAIL, err
    assert "port 465" in err and "nosrv.test" in err


def test_bogus_srv_is_temporary_failure(setup):
    d, lab = setup
    r = send(d, lab, "bogus.test", subject="bogus")
    err = r.stderr.decode()
    assert r.returncode == EX_TEMPFAIL, err
    assert "DNSSEC validation failed" in err
    assert not delivered(d, "bogus")


def test_port_given_skips_discovery(setup):
    d, lab = setup
    # mail.test:PORT names the port: no SRV lookup, mail.test resolved through the lab.
    r = send(d, lab, f"mail.test:{d.ports['implicit']}", subject="no-discovery")
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert "SRV" not in err
    wait_delivered(d, "no-discovery")


def test_dns_keys_in_client_config(setup, tmp_path):
    d, lab = setup
    cfg = tmp_path / "client.toml"
    cfg.write_text(f'server = "signed.test"\n'
                   f'dns_server = ["{lab.resolver_address}"]\n'
                   f'dns_trust_anchor = "{lab.trust_anchor_file}"\n')
    cfg.chmod(0o600)
    env = dict(os.environ, HOME="/nonexistent", SP_PW=ALICE.password)
    env.pop("SEALPOST_CLIENT_CONFIG", None)
    r = subprocess.run([str(SEALPOST), "send", "--client-config", str(cfg), "--ca", str(d.ca),
                        "--user", ALICE.name, "--password-env", "SP_PW", "-f", ALICE.name,
                        "user@mail.test"],
                       input=b"Subject: from-config\n\nx\n", capture_output=True, timeout=60,
                       env=env)
    assert r.returncode == 0, r.stderr.decode()
    wait_delivered(d, "from-config")


def test_bad_dns_server_is_config_error(setup):
    d, lab = setup
    r = send(d, lab, "mail.test", "--dns-server", "not-an-address", dns=False)
    assert r.returncode == 78, r.stderr.decode()
    assert "not-an-address" in r.stderr.decode()
