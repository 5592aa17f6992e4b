"""src/dns against the DNSSEC lab (dnslab.py), through `sealpost dns NAME TYPE --json`:
secure / bogus / insecure answers, NXDOMAIN and NODATA, the null MX, TLSA, SRV, TXT, CNAME,
each cross-checked with kdig against the same validating unbound. Also the lab itself: kdig
shows the AD flag for the signed zone only.
"""

from __future__ import annotations

import json
import time

import pytest

import harness
from dnslab import DnsLab, kdig_flags, kdig_status

TLSA_DATA = "8d02536c887482bc34ff54e41d2ba659bf85b341a0a20afadb5813dcfbcf286d"

LAB_RECORDS = [
    "@ MX 10 mx",
    "@ MX 20 mx2",
    "mx A 127.0.0.1",
    "mx AAAA ::1",
    "mx2 A 127.0.0.2",
    '@ TXT "v=spf1 -all" "second string"',
    f"_25._tcp.mx TLSA 3 1 1 {TLSA_DATA}",
    "_submissions._tcp SRV 0 1 4650 mx",
    "nomail MX 0 .",
    "alias CNAME mx",
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if not harness.SEALPOST.exists():
        pytest.exit(f"{harness.SEALPOST} is missing (set SEALPOST_BUILD_DIR)", returncode=2)
    lab = DnsLab(tmp_path_factory.mktemp("dns"))
    lab.add_zone("lab.test", LAB_RECORDS)
    lab.add_zone("bad.test", ["@ MX 10 mx", "mx A 127.0.0.1"], tamper=True)
    lab.add_zone("plain.test", ["@ MX 10 mx", "mx A 127.0.0.1"], signed=False)
    lab.start()
    yield lab
    lab.stop()


def dns(lab: DnsLab, name: str, qtype: str, *extra: str, server: str | None = None,
        anchor: str | None = None, timeout: float = 30):
    args = [str(harness.SEALPOST), "dns", name, qtype, "--json",
            "--server", server or lab.resolver_address,
            "--trust-anchor", anchor or str(lab.trust_anchor_file), *extra]
    return harness.run(args, check=False, timeout=timeout)


def dns_json(lab: DnsLab, name: str, qtype: str, *extra: str, expect_status: int = 0, **kw):
    r = dns(lab, name, qtype, *extra, **kw)
    assert r.returncode == expect_status, r.stderr.decode() + r.stdout.decode()
    return json.loads(r.stdout)


def kdig_short(lab: DnsLab, name: str, qtype: str) -> list[str]:
    out = harness.run(["kdig", "@127.0.0.1", "-p", str(lab.unbound_port), "+short", name,
                       qtype], timeout=10).stdout.decode()
    return sorted(line.strip() for line in out.splitlines() if line.strip())


# -- the lab itself -------------------------------------------------------------------------


def test_lab_ad_flag_only_for_signed_zone(lab):
    signed = lab.kdig("lab.test", "MX")
    assert kdig_status(signed) == "NOERROR"
    assert "ad" in kdig_flags(signed), signed
    assert "RRSIG" in signed  # +dnssec: the signatures come along
    unsigned = lab.kdig("plain.test", "MX")
    assert kdig_status(unsigned) == "NOERROR"
    assert "ad" not in kdig_flags(unsigned), unsigned
    # The validating unbound refuses the tampered zone outright.
    assert kdig_status(lab.kdig("bad.test", "MX")) == "SERVFAIL"
    # With checking disabled it hands the forged data over, flagged as not authenticated.
    cd = lab.kdig("bad.test", "MX", "+cd")
    assert kdig_status(cd) == "NOERROR" and "ad" not in kdig_flags(cd)


# -- DNSSEC states ------------------------------------------------------------------------


def test_secure_mx_matches_kdig(lab):
    j = dns_json(lab, "lab.test", "MX")
    assert j["dnssec"] == "secure"
    assert j["rcode"] == "NOERROR" and not j["nxdomain"] and not j["nodata"]
    assert j["ttl"] == 300
    assert sorted((r["preference"], r["exchange"]) for r in j["records"]) == [
        (10, "mx.lab.test."), (20, "mx2.lab.test.")]
    assert sorted(r["text"] for r in j["records"]) == kdig_short(lab, "lab.test", "MX")
    assert j["null_mx"] is False


def test_bogus_signature(lab):
    r = dns(lab, "bad.test", "MX")
    assert r.returncode == 1, r.stderr.decode()
    j = json.loads(r.stdout)
    assert j["dnssec"] == "bogus"
    assert "signature" in j["why_bogus"].lower() or "validation" in j["why_bogus"].lower(), j


def test_bogus_text_output(lab):
    r = harness.run([str(harness.SEALPOST), "dns", "mx.bad.test", "A", "--server",
                     lab.resolver_address, "--trust-anchor", str(lab.trust_anchor_file)],
                    check=False)
    assert r.returncode == 1
    out = r.stdout.decode()
    assert "dnssec: bogus" in out and "why_bogus:" in out


def test_unsigned_zone_is_insecure(lab):
    j = dns_json(lab, "plain.test", "MX")
    assert j["dnssec"] == "insecure"
    assert [r["text"] for r in j["records"]] == kdig_short(lab, "plain.test", "MX")


def test_wrong_trust_anchor_makes_signed_zone_bogus(lab, tmp_path):
    # Same key tag and algorithm, another digest: the DNSKEY set no longer matches the DS.
    lines = lab.trust_anchor_file.read_text().splitlines()
    ds = next(line for line in lines if line.startswith("lab.test."))
    fields = ds.split()
    digest = fields[-1]
    fields[-1] = ("0" if digest[0] != "0" else "1") + digest[1:]
    anchor = tmp_path / "wrong.ds"
    anchor.write_text(" ".join(fields) + "\n")
    j = dns_json(lab, "lab.test", "MX", anchor=str(anchor), expect_status=1)
    assert j["dnssec"] == "bogus"


def test_no_validation_is_insecure(lab):
    j = dns_json(lab, "lab.test", "MX", "--no-validate")
    assert j["dnssec"] == "insecure"
    assert len(j["records"]) == 2


def test_validates_itself_against_nsd_directly(lab):
    # Forwarding straight to the authoritative server: libunbound does the validation.
    j = dns_json(lab, "mx.lab.test", "A", server=lab.nsd_address)
    assert j["dnssec"] == "secure"
    j = dns_json(lab, "bad.test", "MX", server=lab.nsd_address, expect_status=1)
    assert j["dnssec"] == "bogus"


# -- answers without data ---------------------------------------------------------------------


def test_nxdomain_is_secure_denial(lab):
    j = dns_json(lab, "nope.lab.test", "A")
    assert j["rcode"] == "NXDOMAIN" and j["nxdomain"]
    assert j["dnssec"] == "secure"  # proven by NSEC
    assert j["records"] == []
    assert kdig_status(lab.kdig("nope.lab.test", "A")) == "NXDOMAIN"


def test_nodata(lab):
    j = dns_json(lab, "mx.lab.test", "TXT")
    assert j["rcode"] == "NOERROR" and j["nodata"] and not j["nxdomain"]
    assert j["dnssec"] == "secure"
    assert kdig_short(lab, "mx.lab.test", "TXT") == []


# -- record types ---------------------------------------------------------------------------


def test_null_mx(lab):
    j = dns_json(lab, "nomail.lab.test", "MX")
    assert j["null_mx"] is True
    assert j["records"][0]["null"] is True and j["records"][0]["exchange"] == "."
    text = harness.run([str(harness.SEALPOST), "dns", "nomail.lab.test", "MX", "--server",
                        lab.resolver_address, "--trust-anchor",
                        str(lab.trust_anchor_file)]).stdout.decode()
    assert "null_mx: yes" in text


def test_tlsa(lab):
    j = dns_json(lab, "_25._tcp.mx.lab.test", "TLSA")
    assert j["dnssec"] == "secure"
    [rec] = j["records"]
    assert (rec["usage"], rec["selector"], rec["matching_type"]) == (3, 1, 1)
    assert rec["data"] == TLSA_DATA
    [k] = kdig_short(lab, "_25._tcp.mx.lab.test", "TLSA")
    assert k.replace(" ", "").lower().endswith(TLSA_DATA)


def test_srv(lab):
    j = dns_json(lab, "_submissions._tcp.lab.test", "SRV")
    [rec] = j["records"]
    assert (rec["priority"], rec["weight"], rec["port"], rec["target"]) == (
        0, 1, 4650, "mx.lab.test.")
    assert [rec["text"]] == kdig_short(lab, "_submissions._tcp.lab.test", "SRV")


def test_txt_strings(lab):
    j = dns_json(lab, "lab.test", "TXT")
    [rec] = j["records"]
    assert rec["strings"] == ["v=spf1 -all", "second string"]
    assert rec["text"] == '"v=spf1 -all" "second string"'
    assert [rec["text"]] == kdig_short(lab, "lab.test", "TXT")


def test_addresses_and_cname(lab):
    assert [r["address"] for r in dns_json(lab, "mx.lab.test", "AAAA")["records"]] == ["::1"]
    j = dns_json(lab, "alias.lab.test", "A")
    assert j["canonical_name"] == "mx.lab.test."
    assert [r["address"] for r in j["records"]] == ["127.0.0.1"]
    assert j["dnssec"] == "secure"


# -- bad input --------------------------------------------------------------------------------


def test_unsupported_type_is_usage_error(lab):
    r = dns(lab, "lab.test", "NS")
    assert r.returncode == 64 and b"unsupported type" in r.stderr


def test_bad_server_is_config_error(lab):
    r = dns(lab, "lab.test", "MX", server="not-an-ip")
    assert r.returncode == 78 and b"not-an-ip" in r.stderr


def test_missing_trust_anchor_is_config_error(lab, tmp_path):
    r = dns(lab, "lab.test", "MX", anchor=str(tmp_path / "missing.ds"))
    assert r.returncode == 78 and b"missing.ds" in r.stderr


def test_silent_server_times_out(lab):
    [port] = harness.free_ports(1)
    start = time.monotonic()
    r = dns(lab, "lab.test", "MX", "--timeout", "1", server=f"127.0.0.1@{port}")
    assert r.returncode == 75, r.stdout + r.stderr
    assert time.monotonic() - start < 10


def test_bad_name_is_an_error_not_a_crash(lab):
    r = dns(lab, "a" * 64 + ".lab.test", "A")
    assert r.returncode == 75 and b"sealpost dns:" in r.stderr
