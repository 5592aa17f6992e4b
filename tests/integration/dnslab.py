"""A DNSSEC lab on loopback for the integration tests: nsd serves the lab zones (signed with
ldns-signzone, or not), unbound validates them with the zones' own DS records as trust anchors
and stub-resolves to nsd. Everything runs from a private directory with free ports, as the
current user (no chroot, no privilege drop), and is killed by PID.

    lab = DnsLab(tmp_path)
    lab.add_zone("lab.test", ["@ MX 10 mx", "mx A 127.0.0.1"])             # signed: secure
    lab.add_zone("bad.test", ["@ MX 10 mx", "mx A 127.0.0.1"], tamper=True)  # bogus
    lab.add_zone("plain.test", ["@ MX 10 mx"], signed=False)              # insecure
    lab.start()
    lab.resolver_address   # "127.0.0.1@PORT" (unbound), lab.trust_anchor_file (DS records)
    lab.stop()

Record lines are zone-file text relative to the zone ($ORIGIN is set; "@" is the apex). SOA,
NS and the name server's A record are added. tamper=True corrupts every RRSIG except the ones
over DNSKEY, so the keys validate and all data under them is bogus (RFC 4035 §5.3).

Pitfalls (issue 6): unbound treats "test." as a local zone (NXDOMAIN) unless it is made
transparent, and refuses to query 127.0.0.1 unless do-not-query-localhost is off.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import harness

START_TIMEOUT = 5.0  # seconds for each server to answer its first query


@dataclass
class Zone:
    name: str
    records: list[str]
    signed: bool = True
    tamper: bool = False
    ds: list[str] = field(default_factory=list)  # DS lines (signed zones)
    file: Path | None = None


class DnsLabError(AssertionError):
    pass


class DnsLab:
    def __init__(self, root: Path):
        self.root = Path(root) / "dnslab"
        self.root.mkdir(parents=True, exist_ok=True)
        self.zones: dict[str, Zone] = {}
        self.nsd_port, self.unbound_port = harness.free_ports(2)
        self.trust_anchor_file = self.root / "trust-anchors.ds"
        self._procs: list[subprocess.Popen] = []

    # -- zones -----------------------------------------------------------------------------

    def add_zone(self, name: str, records: list[str], *, signed: bool = True,
                 tamper: bool = False) -> "DnsLab":
        name = name.rstrip(".").lower()
        if tamper and not signed:
            raise ValueError("only a signed zone can be tampered with")
        self.zones[name] = Zone(name, list(records), signed, tamper)
        return self

    def _write_zone(self, zone: Zone) -> None:
        zdir = self.root / zone.name
        zdir.mkdir(exist_ok=True)
        text = [
            f"$ORIGIN {zone.name}.",
            "$TTL 300",
            f"@ SOA ns.{zone.name}. hostmaster.{zone.name}. 1 3600 600 86400 300",
            f"@ NS ns.{zone.name}.",
            "ns A 127.0.0.1",
            *zone.records,
            "",
        ]
        plain = zdir / "zone"
        plain.write_text("\n".join(text))
        if not zone.signed:
            zone.file = plain
            return
        # Two keys, as in production: the KSK signs the DNSKEY set, the ZSK the rest.
        ksk = self._keygen(zdir, zone.name, ksk=True)
        zsk = self._keygen(zdir, zone.name, ksk=False)
        signed = zdir / "zone.signed"
        harness.run(["ldns-signzone", "-o", f"{zone.name}.", "-f", str(signed), str(plain),
                     zsk, ksk], cwd=zdir)
        zone.ds = [line for line in (zdir / f"{ksk}.ds").read_text().splitlines()
                   if line.strip()]
        if zone.tamper:
            signed.write_text(_tamper_rrsigs(signed.read_text()))
        zone.file = signed

    @staticmethod
    def _keygen(zdir: Path, zone: str, *, ksk: bool) -> str:
        args = ["ldns-keygen", "-a", "ECDSAP256SHA256"] + (["-k"] if ksk else []) + [zone]
        return harness.run(args, cwd=zdir).stdout.decode().strip()

    # -- servers ---------------------------------------------------------------------------

    @property
    def resolver_address(self) -> str:
        """The validating resolver (unbound), in libunbound's forwarder form IP@PORT."""
        return f"127.0.0.1@{self.unbound_port}"

    @property
    def nsd_address(self) -> str:
        return f"127.0.0.1@{self.nsd_port}"

    def start(self) -> "DnsLab":
        for zone in self.zones.values():
            self._write_zone(zone)
        self.trust_anchor_file.write_text(
            "".join(line + "\n" for z in self.zones.values() for line in z.ds))
        self._start_nsd()
        self._start_unbound()
        return self

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.root / f"{name}.out", "ab")
        try:
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    cwd=self.root)
        finally:
            log.close()
        harness._PROCESSES.append(proc)
        self._procs.append(proc)
        return proc

    def _wait_answer(self, proc: subprocess.Popen, name: str, port: int, qname: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise DnsLabError(f"{name} exited {proc.returncode}:\n{self.log(name)}")
            r = harness.run(["kdig", f"@127.0.0.1", "-p", str(port), "+retry=0", "+timeout=1",
                             qname, "SOA"], check=False, timeout=5)
            if b"status: NOERROR" in r.stdout:
                return
            if time.monotonic() > deadline:
                raise DnsLabError(f"{name} did not answer within {START_TIMEOUT}s:\n"
                                  f"{r.stdout.decode(errors='replace')}\n{self.log(name)}")
            time.sleep(0.1)

    def _start_nsd(self) -> None:
        d = self.root
        conf = [
            "server:",
            f"  ip-address: 127.0.0.1@{self.nsd_port}",
            f"  port: {self.nsd_port}",
            "  do-ip6: no",
            '  username: ""',
            '  chroot: ""',
            f'  zonesdir: "{d}"',
            '  database: ""',
            f'  pidfile: "{d}/nsd.pid"',
            f'  xfrdfile: "{d}/xfrd.state"',
            f'  zonelistfile: "{d}/zone.list"',
            f'  xfrdir: "{d}"',
            f'  logfile: "{d}/nsd.log"',
            "  server-count: 1",
            "  verbosity: 1",
            "remote-control:",
            "  control-enable: no",
        ]
        for zone in self.zones.values():
            conf += ["zone:", f'  name: "{zone.name}"', f'  zonefile: "{zone.file}"']
        (d / "nsd.conf").write_text("\n".join(conf) + "\n")
        harness.run(["nsd-checkconf", str(d / "nsd.conf")])
        proc = self._spawn("nsd", ["nsd", "-d", "-c", str(d / "nsd.conf")])
        self._wait_answer(proc, "nsd", self.nsd_port, next(iter(self.zones)))

    def _start_unbound(self) -> None:
        d = self.root
        conf = [
            "server:",
            f"  interface: 127.0.0.1@{self.unbound_port}",
            f"  port: {self.unbound_port}",
            "  do-ip6: no",
            '  username: ""',
            '  chroot: ""',
            f'  directory: "{d}"',
            f'  pidfile: "{d}/unbound.pid"',
            "  do-daemonize: no",
            "  use-syslog: no",
            f'  logfile: "{d}/unbound.log"',
            "  verbosity: 1",
            "  val-log-level: 2",
            "  num-threads: 1",
            "  so-reuseport: no",
            "  access-control: 127.0.0.0/8 allow",
            "  do-not-query-localhost: no",
            '  local-zone: "test." transparent',
            f'  trust-anchor-file: "{self.trust_anchor_file}"',
            '  module-config: "validator iterator"',
            # Signed lab zones are not delegated from a signed parent: without this, an
            # unsigned zone under test. would look like a stripped-signature attack only if
            # test. had an anchor; it has none, so unsigned zones are plainly insecure.
            "remote-control:",
            "  control-enable: no",
        ]
        for zone in self.zones.values():
            conf += ["stub-zone:", f'  name: "{zone.name}"',
                     f"  stub-addr: 127.0.0.1@{self.nsd_port}"]
        (d / "unbound.conf").write_text("\n".join(conf) + "\n")
        harness.run(["unbound-checkconf", str(d / "unbound.conf")])
        proc = self._spawn("unbound", ["unbound", "-d", "-c", str(d / "unbound.conf")])
        self._wait_answer(proc, "unbound", self.unbound_port, next(iter(self.zones)))

    def log(self, name: str) -> str:
        text = ""
        for f in (self.root / f"{name}.out", self.root / f"{name}.log"):
            if f.exists():
                text += f.read_text(errors="replace")
        return text

    def stop(self) -> None:
        for proc in self._procs:
            harness.kill_process(proc, grace=5)
        self._procs.clear()

    # -- helpers for tests -----------------------------------------------------------------

    def kdig(self, qname: str, qtype: str, *extra: str, server: str = "unbound") -> str:
        """kdig +dnssec against the lab resolver (or nsd); returns the text output."""
        port = self.unbound_port if server == "unbound" else self.nsd_port
        r = harness.run(["kdig", "@127.0.0.1", "-p", str(port), "+dnssec", "+retry=0",
                         "+timeout=3", *extra, qname, qtype], timeout=10)
        return r.stdout.decode(errors="replace")


def kdig_flags(output: str) -> set[str]:
    """The header flags of a kdig answer ("qr rd ra ad")."""
    m = re.search(r"Flags: ([a-z ]+);", output)
    return set(m.group(1).split()) if m else set()


def kdig_status(output: str) -> str:
    m = re.search(r"status: ([A-Z]+)", output)
    return m.group(1) if m else ""


def _tamper_rrsigs(text: str) -> str:
    """Flips one base64 character in the signature of every RRSIG not covering DNSKEY."""
    out = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[3] == "RRSIG" and fields[4] != "DNSKEY":
            sig = fields[-1]
            i = len(sig) // 2
            flipped = "B" if sig[i] != "B" else "C"
            line = line[:line.rindex(sig)] + sig[:i] + flipped + sig[i + 1:]
        out.append(line)
    return "\n".join(out) + "\n"
