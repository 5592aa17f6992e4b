"""Test harness for the sealpostd integration tests.

Everything here is hermetic: certificates are made with the openssl CLI in a temporary
directory, every port is picked free by binding port 0 on loopback, every process started is
tracked by PID and killed at teardown, and every wait is bounded.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD_DIR = Path(os.environ.get("SEALPOST_BUILD_DIR", REPO / "build"))
SEALPOSTD = BUILD_DIR / "src" / "daemon" / "sealpostd"
SEALPOST = BUILD_DIR / "src" / "cli" / "sealpost"

# Every process any test starts, so a session finaliser can kill stragglers whatever happened.
_PROCESSES: list[subprocess.Popen] = []

CMD_TIMEOUT = 30  # seconds, for any external command (openssl, swaks, curl, msmtp)


def run(args, *, input=None, timeout=CMD_TIMEOUT, check=True, **kw) -> subprocess.CompletedProcess:
    """subprocess.run with a timeout always set and output captured as bytes."""
    result = subprocess.run(args, input=input, capture_output=True, timeout=timeout, **kw)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{args[0]} exited {result.returncode}\nstdout:\n{result.stdout.decode(errors='replace')}"
            f"\nstderr:\n{result.stderr.decode(errors='replace')}")
    return result


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """n distinct free TCP ports on host: bind port 0, read it, close (all held until the end)."""
    socks = []
    try:
        for _ in range(n):
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            s = socket.socket(family, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def kill_process(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM, wait up to grace seconds, then SIGKILL. Idempotent."""
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        except ProcessLookupError:
            pass


def kill_all_tracked() -> None:
    while _PROCESSES:
        proc = _PROCESSES.pop()
        if proc.poll() is None:
            proc.kill()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


# --------------------------------------------------------------------------------------------
# Certificates


@dataclass
class Pki:
    dir: Path
    ca_cert: Path
    ca_key: Path
    files: dict[str, Path] = field(default_factory=dict)  # logical name -> file
    _serial: int = 1000

    def next_serial(self) -> int:
        self._serial += 1
        return self._serial

    def make_leaf(self, out_dir: Path, stem: str, cn: str, sans: str, keytype: str,
                  serial: int | None = None) -> tuple[Path, Path, int]:
        """A leaf certificate signed by the test CA; returns (cert, key, serial)."""
        out_dir.mkdir(parents=True, exist_ok=True)
        key = out_dir / f"{stem}.key"
        csr = out_dir / f"{stem}.csr"
        cert = out_dir / f"{stem}.pem"
        ext = out_dir / f"{stem}.ext"
        serial = serial if serial is not None else self.next_serial()
        if keytype == "ec":
            run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-out", str(key)])
        else:
            run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                 "-out", str(key)])
        run(["openssl", "req", "-new", "-key", str(key), "-subj", f"/CN={cn}", "-out", str(csr)])
        ext.write_text(
            f"subjectAltName={sans}\n"
            "basicConstraints=critical,CA:FALSE\n"
            f"keyUsage=critical,{'digitalSignature' if keytype == 'ec' else 'digitalSignature,keyEncipherment'}\n"
            "extendedKeyUsage=serverAuth\n"
            "subjectKeyIdentifier=hash\n"
            "authorityKeyIdentifier=keyid\n")
        run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(self.ca_cert), "-CAkey",
             str(self.ca_key), "-set_serial", str(serial), "-days", "30", "-sha256",
             "-extfile", str(ext), "-out", str(cert)])
        return cert, key, serial


def make_pki(directory: Path) -> Pki:
    """A CA; ECDSA P-256 and RSA-2048 leaves for mail.test; an ECDSA leaf for other.test."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = directory / "ca.key"
    ca_cert = directory / "ca.pem"
    run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-out", str(ca_key)])
    run(["openssl", "req", "-x509", "-new", "-key", str(ca_key), "-subj", "/CN=Sealpost Test CA",
         "-days", "30", "-sha256", "-out", str(ca_cert),
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign",
         "-addext", "subjectKeyIdentifier=hash"])
    pki = Pki(dir=directory, ca_cert=ca_cert, ca_key=ca_key)
    sans = "DNS:mail.test,IP:127.0.0.1"
    pki.files["ecdsa.pem"], pki.files["ecdsa.key"], _ = pki.make_leaf(
        directory, "ecdsa", "mail.test", sans, "ec", serial=101)
    pki.files["rsa.pem"], pki.files["rsa.key"], _ = pki.make_leaf(
        directory, "rsa", "mail.test", sans, "rsa", serial=102)
    pki.files["other.pem"], pki.files["other.key"], _ = pki.make_leaf(
        directory, "other", "other.test", "DNS:other.test", "ec", serial=103)
    return pki


# --------------------------------------------------------------------------------------------
# Configuration

LISTENERS = [  # name, tls, role[, {extra key: TOML value text}]
    ("implicit", "implicit", "submission"),
    ("starttls", "starttls", "submission"),
    ("mx", "starttls", "mx"),
    ("require", "require-starttls", "submission"),
]

# Extra listeners a test may ask for by name (Daemon(extra_listeners=[...])).
EXTRA_LISTENERS = {
    # implicit TLS submission that asks for a client certificate (SASL EXTERNAL)
    "implicit_cert": ("implicit_cert", "implicit", "submission",
                      {"client_certificates": '"request"'}),
    # implicit TLS with role mx (never offers AUTH)
    "mx_implicit": ("mx_implicit", "implicit", "mx"),
}


@dataclass
class Account:
    """A user created with `sealpost user add ... --password-stdin` before the daemon starts."""
    name: str
    password: str
    aliases: tuple[str, ...] = ()
    authz_any: bool = False

DEFAULT_MAILBOXES = ["demo@localhost", "user@mail.test", "jörg@mail.test"]


def toml_str(s: str | Path) -> str:
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_config(*, state_dir: Path, tls_dir: Path, ports: dict[str, int],
                  mailboxes: list[str | tuple[str, Path]], limits: dict[str, int],
                  threads: int = 2, extra_global: str = "", host: str = "127.0.0.1",
                  listeners: list[tuple] | None = None, extra_sections: str = "") -> str:
    address = f"[{host}]" if ":" in host else host
    lines = [
        'hostname = "mail.test"',
        f"state_dir = {toml_str(state_dir)}",
        f"threads = {threads}",
        'log_level = "info"',
        extra_global,
        "",
        "[pki.main]",
        f"cert = [{toml_str(tls_dir / 'ecdsa.pem')}, {toml_str(tls_dir / 'rsa.pem')}]",
        f"key = [{toml_str(tls_dir / 'ecdsa.key')}, {toml_str(tls_dir / 'rsa.key')}]",
        "",
        "[pki.other]",
        f"cert = {toml_str(tls_dir / 'other.pem')}",
        f"key = {toml_str(tls_dir / 'other.key')}",
        "",
    ]
    for name, tls, role, *more in (listeners if listeners is not None else LISTENERS):
        lines += [
            "[[listen]]",
            f'address = "{address}:{ports[name]}"',
            f'tls = "{tls}"',
            f'role = "{role}"',
            'pki = ["main", "other"]',
        ]
        lines += [f"{k} = {v}" for k, v in (more[0] if more else {}).items()]
        lines.append("")
    lines += ["[domains]", 'local = ["localhost", "mail.test"]', ""]
    for m in mailboxes:
        address, maildir = (m, None) if isinstance(m, str) else m
        lines += ["[[mailbox]]", f"address = {toml_str(address)}"]
        if maildir is not None:
            lines.append(f"maildir = {toml_str(maildir)}")
        lines.append("")
    if limits:
        lines.append("[limits]")
        lines += [f"{k} = {v}" for k, v in limits.items()]
        lines.append("")
    if extra_sections:
        lines += [extra_sections, ""]
    return "\n".join(lines)


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return toml_str(v)


# --------------------------------------------------------------------------------------------
# The daemon


class DaemonError(AssertionError):
    pass


class Daemon:
    """One sealpostd with its own directory, config, certificates and ports."""

    def __init__(self, root: Path, pki: Pki, *, limits: dict[str, int] | None = None,
                 mailboxes: list | None = None, threads: int = 2, host: str = "127.0.0.1",
                 accounts: list[Account] | None = None, accounts_options: dict | None = None,
                 auth: dict | None = None, extra_listeners: list[str] | None = None):
        """accounts (a list, even empty) adds [accounts] file = root/users (created with the
        `sealpost` CLI before the daemon starts; scram_iterations 4096 unless accounts_options
        says otherwise); auth fills [auth]; extra_listeners names entries of EXTRA_LISTENERS."""
        self.root = root
        self.host = host  # "127.0.0.1" or "::1": every listener binds there
        self.pki = pki
        self.ca = pki.ca_cert
        self.tls_dir = root / "tls"
        self.state_dir = root / "state"
        self.config_path = root / "sealpost.toml"
        self.log_path = root / "sealpostd.log"
        self.stdout_path = root / "sealpostd.stdout"
        self.tls_dir.mkdir(parents=True, exist_ok=True)
        for name, path in pki.files.items():
            shutil.copy(path, self.tls_dir / name)
        self.listeners = list(LISTENERS) + [EXTRA_LISTENERS[n] for n in (extra_listeners or [])]
        names = [entry[0] for entry in self.listeners]
        self.ports = dict(zip(names, free_ports(len(names), host)))
        self.mailboxes = list(mailboxes if mailboxes is not None else DEFAULT_MAILBOXES)
        self.limits = dict(limits or {})
        self.users_path: Path | None = None
        sections = []
        if accounts is not None:
            self.users_path = root / "users"
            options = {"scram_iterations": 4096, **(accounts_options or {})}
            sections += ["[accounts]", f"file = {toml_str(self.users_path)}"]
            sections += [f"{k} = {toml_value(v)}" for k, v in options.items()]
            sections.append("")
        if auth:
            sections += ["[auth]"] + [f"{k} = {toml_value(v)}" for k, v in auth.items()]
        self.config_path.write_text(render_config(
            state_dir=self.state_dir, tls_dir=self.tls_dir, ports=self.ports,
            mailboxes=self.mailboxes, limits=self.limits, threads=threads, host=host,
            listeners=self.listeners, extra_sections="\n".join(sections)),
            encoding="utf-8")
        for account in accounts or []:
            self.add_user(account.name, account.password, aliases=account.aliases,
                          authz_any=account.authz_any)
        self.proc: subprocess.Popen | None = None
        self._log_offset = 0  # log text from previous runs of this instance

    # -- process control ---------------------------------------------------------------------

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 15.0) -> "Daemon":
        if not SEALPOSTD.exists():
            raise DaemonError(f"{SEALPOSTD} not built (set SEALPOST_BUILD_DIR)")
        self._confine_dns()
        with open(self.log_path, "ab") as err, open(self.stdout_path, "ab") as out:
            self._log_offset = self.log_path.stat().st_size
            self.proc = subprocess.Popen([str(SEALPOSTD), "--config", str(self.config_path)],
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                         cwd=self.root)
        _PROCESSES.append(self.proc)
        self.wait_for_log(r"sealpostd started", timeout=timeout, since_start=True)
        deadline = time.monotonic() + timeout
        for name, port in self.ports.items():
            while True:
                self._check_alive()
                try:
                    socket.create_connection((self.host, port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise DaemonError(f"port {name}={port} never accepted\n{self.log()}")
                    time.sleep(0.05)
        return self

    def _confine_dns(self) -> None:
        """Remote delivery must never leave loopback: a config without its own [dns] (the DNSSEC
        lab's, test_16/18/19) gets a forwarder on a loopback port where nothing listens, so every
        lookup fails at once and remote recipients are deferred ("451 4.4.3 ...")."""
        text = self.config_path.read_text(encoding="utf-8")
        if re.search(r"^\[dns\]", text, re.M):
            return
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with open(self.config_path, "a", encoding="utf-8") as f:
            f.write(f'\n[dns]\nforwarders = ["127.0.0.1@{port}"]\n')

    def _check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            raise DaemonError(f"sealpostd exited ({self.proc.returncode if self.proc else None})"
                              f"\n{self.log()}")

    def signal(self, sig: int) -> None:
        assert self.proc is not None and self.proc.poll() is None
        self.proc.send_signal(sig)

    def stop(self, grace: float = 15.0) -> int:
        """SIGTERM and wait; SIGKILL after grace seconds. Returns the exit status."""
        if self.proc is None:
            return 0
        kill_process(self.proc, grace)
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    # -- the sealpost CLI --------------------------------------------------------------------

    def sealpost(self, *args: str, input: bytes | None = None,
                 check: bool = True) -> subprocess.CompletedProcess:
        """Runs `sealpost --config <this config> ARGS...` (bounded by CMD_TIMEOUT)."""
        if not SEALPOST.exists():
            raise DaemonError(f"{SEALPOST} not built (set SEALPOST_BUILD_DIR)")
        return run([str(SEALPOST), "--config", str(self.config_path), *args], input=input,
                   check=check, cwd=self.root)

    def add_user(self, name: str, password: str, aliases=(), authz_any: bool = False):
        args = ["user", "add", name, "--password-stdin"]
        for alias in aliases:
            args += ["--alias", alias]
        if authz_any:
            args.append("--authz-any")
        return self.sealpost(*args, input=password.encode("utf-8") + b"\n")

    def set_password(self, name: str, password: str):
        return self.sealpost("user", "passwd", name, "--password-stdin",
                             input=password.encode("utf-8") + b"\n")

    def del_user(self, name: str):
        return self.sealpost("user", "del", name)

    def map_cert(self, name: str, cert_pem: Path):
        return self.sealpost("user", "cert", name, "--file", str(cert_pem))

    # -- logs --------------------------------------------------------------------------------

    def log(self, since_start: bool = False) -> str:
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return ""
        if since_start:
            data = data[self._log_offset:]
        return data.decode("utf-8", errors="replace")

    def wait_for_log(self, pattern: str, timeout: float = 10.0, count: int = 1,
                     since_start: bool = False) -> list[re.Match]:
        """Waits until pattern (a regex) matches at least count times in the log."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            matches = list(rx.finditer(self.log(since_start)))
            if len(matches) >= count:
                return matches
            if self.proc is not None and self.proc.poll() is not None:
                raise DaemonError(f"sealpostd exited waiting for /{pattern}/\n{self.log()}")
            if time.monotonic() > deadline:
                raise DaemonError(f"timed out waiting for /{pattern}/ x{count}\n{self.log()}")
            time.sleep(0.05)

    def sync_log(self, timeout: float = 10.0) -> None:
        """Returns once every line sealpostd logged before this call is in the log file.

        sealpostd writes its log in batches (an info line may wait ~10 ms, sealpostd(8)), so a
        line that must NOT be there is only checked after this (or after waiting for a line
        logged after the event). It sends an unknown command with a unique marker on a new
        connection and waits for the daemon's "unknown command" line: lines leave in the order
        they were logged. Costs one connection (connect and disconnect lines, messages=0)."""
        marker = f"LOGSYNC-{os.urandom(6).hex()}"
        name, tls = next(((n, t) for n, t, *_ in self.listeners if t != "implicit"),
                         (self.listeners[0][0], "implicit"))
        c = (RawSMTP.implicit(self, port=self.ports[name]) if tls == "implicit"
             else RawSMTP(self.ports[name], host=self.host))
        with c:
            assert c.reply().code == 220
            assert c.cmd(marker).code == 500
            c.cmd("QUIT")
        self.wait_for_log(rf"unknown command: {marker}\b", timeout=timeout)

    # -- mailboxes ---------------------------------------------------------------------------

    def maildir(self, address: str) -> Path:
        for m in self.mailboxes:
            if isinstance(m, tuple) and m[0] == address:
                return Path(m[1])
        return self.state_dir / "mail" / address

    def maildir_files(self, address: str) -> list[Path]:
        root = self.maildir(address)
        files = []
        for sub in ("new", "cur"):
            d = root / sub
            if d.is_dir():
                files += [p for p in d.iterdir() if p.is_file()]
        return sorted(files, key=lambda p: p.name)

    def messages(self, address: str) -> list[bytes]:
        return [p.read_bytes() for p in self.maildir_files(address)]

    def wait_for_maildir(self, address: str, count: int = 1, timeout: float = 10.0) -> list[bytes]:
        """Waits until address has at least count messages; returns all of them."""
        deadline = time.monotonic() + timeout
        while True:
            msgs = self.messages(address)
            if len(msgs) >= count:
                return msgs
            if time.monotonic() > deadline:
                raise DaemonError(f"{address}: {len(msgs)} message(s), wanted {count} within "
                                  f"{timeout}s\n{self.log()}")
            time.sleep(0.05)

    def assert_no_more_mail(self, address: str, expected: int, settle: float = 0.5) -> None:
        time.sleep(settle)
        assert len(self.messages(address)) == expected, self.log()

    # -- TLS ---------------------------------------------------------------------------------

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca))
        ctx.check_hostname = True
        return ctx


# --------------------------------------------------------------------------------------------
# Message helpers

RECEIVED_RX = re.compile(rb"\AReceived: [^\r\n]*\r\n(?:\t[^\r\n]*\r\n)*")


def split_received(message: bytes) -> tuple[str, bytes]:
    """Splits off the first Received header (first line + TAB-continued lines)."""
    m = RECEIVED_RX.match(message)
    assert m, f"message does not start with a Received header: {message[:200]!r}"
    return m.group(0).decode("utf-8"), message[m.end():]


QUEUED_RX = re.compile(r"queued as ([0-9A-F]+)")


def queue_id_of(reply_text: str | bytes) -> str:
    if isinstance(reply_text, bytes):
        reply_text = reply_text.decode("utf-8", errors="replace")
    m = QUEUED_RX.search(reply_text)
    assert m, f"no queue id in {reply_text!r}"
    return m.group(1)


def check_received(header: str, *, queue_id: str, helo: str | None = None,
                   rcpt: str | None = None, tls_version: str | None = None,
                   cipher: str | None = None, with_: str = "ESMTPS",
                   peer: str = "127.0.0.1", authenticated_sender: str | None = None) -> re.Match:
    """Asserts the Received header's shape; TLS version/cipher and queue id as given.

    The "(Authenticated sender: USER)" line must be there exactly when authenticated_sender
    is given (accounts.expose_user), naming that user."""
    rx = re.compile(
        r"\AReceived: from (?P<helo>\S+) \(\[(?P<peer>[0-9a-fA-F.:]+)\]\)\r\n"
        r"\t\(using (?P<version>TLSv1\.[23]) with cipher (?P<cipher>[A-Z0-9_-]+) "
        r"\((?P<bits>\d+) bits\)\)\r\n"
        r"(?:\t\(Authenticated sender: (?P<auth>[^)\r\n]+)\)\r\n)?"
        r"\tby mail\.test \(Sealpost\) with (?P<with>\S+) id (?P<id>[0-9A-F]+)"
        r"(?:\r\n\tfor <(?P<rcpt>[^>]+)>)?; (?P<date>[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} "
        r"\d{2}:\d{2}:\d{2} \+0000)\r\n\Z")
    m = rx.match(header)
    assert m, f"unexpected Received header: {header!r}"
    assert m["peer"] == peer, header
    assert m["id"] == queue_id, (m["id"], queue_id)
    assert m["with"] == with_, header
    if helo is not None:
        assert m["helo"] == helo
    if rcpt is not None:
        assert m["rcpt"] == rcpt
    if tls_version is not None:
        assert m["version"] == tls_version
    if cipher is not None:
        assert m["cipher"] == cipher
    assert m["auth"] == authenticated_sender, header
    return m


def dot_stuff(message: bytes) -> bytes:
    """RFC 5321 §4.5.2 transparency, as a client must apply it before DATA's terminator."""
    return re.sub(rb"(\A|\r\n)\.", rb"\1..", message)


def sample_message(subject: str = "test", body: bytes = b"Hello.\r\n") -> bytes:
    return (b"From: Sender <sender@example.org>\r\n"
            b"To: Demo <demo@localhost>\r\n"
            b"Subject: " + subject.encode() + b"\r\n"
            b"Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n"
            b"Message-ID: <" + subject.encode().replace(b" ", b"-") + b"@example.org>\r\n"
            b"\r\n" + body)


def tricky_message(subject: str, to: str) -> bytes:
    """A message from alice@mail.test whose transfer needs care: dot-stuffed lines, a long
    line, trailing spaces (test_19 and test_20 check that it arrives byte-exact)."""
    return (f"From: Alice <alice@mail.test>\r\n"
            f"To: <{to}>\r\n"
            f"Subject: {subject}\r\n"
            "Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n"
            f"Message-ID: <{subject.replace(' ', '-')}@mail.test>\r\n"
            "\r\n"
            "Hello.\r\n"
            ".a line that starts with a dot\r\n"
            "..and one with two\r\n"
            "trailing spaces   \r\n"
            + "x" * 900 + "\r\n"
            "\r\n"
            ".\r\n"
            "end\r\n").encode()


# --------------------------------------------------------------------------------------------
# smtplib, connected to loopback


class _Loopback:
    """smtplib connects to 127.0.0.1 whatever host it was given, so that host can be the TLS
    name (SNI and certificate check use "mail.test") without any resolver involvement."""

    def _get_socket(self, host, port, timeout):
        sock = socket.create_connection(("127.0.0.1", port), timeout, self.source_address)
        if isinstance(self, smtplib.SMTP_SSL):
            return self.context.wrap_socket(sock, server_hostname=host)
        return sock


class SMTP(_Loopback, smtplib.SMTP):
    pass


class SMTP_SSL(_Loopback, smtplib.SMTP_SSL):
    pass


def submit(daemon: Daemon, user: str, password: str, mail_from: str, rcpts: list[str],
           message: bytes, mail_options: tuple[str, ...] = ()) -> str:
    """smtplib over implicit TLS with AUTH PLAIN; returns the queue id of the 250 reply.
    mail_from "" sends MAIL FROM:<>; mail_options go on MAIL (SMTPUTF8 lets smtplib send
    UTF-8 addresses)."""
    with SMTP_SSL("mail.test", daemon.ports["implicit"], context=daemon.client_context(),
                  timeout=30) as client:
        client.ehlo("client.example")
        code, resp = client.login(user, password)
        assert code == 235, resp
        code, resp = client.mail(mail_from, list(mail_options))
        assert code == 250, resp
        for rcpt in rcpts:
            code, resp = client.rcpt(rcpt)
            assert code == 250, (rcpt, resp)
        code, resp = client.data(message)
        assert code == 250, resp
        client.quit()
    return queue_id_of(resp)


# --------------------------------------------------------------------------------------------
# A raw SMTP client over a plain or TLS socket


@dataclass
class Reply:
    code: int
    lines: list[str]
    raw: bytes

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def __str__(self) -> str:
        return self.raw.decode("utf-8", errors="replace")


class RawSMTP:
    """Line-exact SMTP over a socket: send any bytes, read replies with bounded waits."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0,
                 source: str | None = None):
        """source: the local address to bind (e.g. 127.0.0.2: another loopback peer)."""
        self.timeout = timeout
        self.sock: socket.socket | ssl.SSLSocket = socket.create_connection(
            (host, port), timeout=timeout,
            source_address=(source, 0) if source is not None else None)
        self.buf = b""

    @classmethod
    def implicit(cls, daemon: Daemon, port: int | None = None,
                 server_hostname: str = "mail.test", timeout: float = 10.0,
                 source: str | None = None, context: ssl.SSLContext | None = None) -> "RawSMTP":
        c = cls(port or daemon.ports["implicit"], host=daemon.host, timeout=timeout,
                source=source)
        c.sock = (context or daemon.client_context()).wrap_socket(c.sock,
                                                                  server_hostname=server_hostname)
        return c

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, deadline: float) -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no complete reply; have {self.buf!r}")
        self.sock.settimeout(remaining)
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self.buf += chunk
        return True

    def reply(self, timeout: float | None = None) -> Reply:
        """Reads one (possibly multi-line) reply; raises EOFError if the peer closed first."""
        deadline = time.monotonic() + (timeout or self.timeout)
        lines: list[str] = []
        start = 0
        while True:
            idx = self.buf.find(b"\r\n", start)
            if idx < 0:
                if not self._fill(deadline):
                    raise EOFError(f"connection closed; partial reply {self.buf!r}")
                continue
            line = self.buf[start:idx].decode("utf-8", errors="replace")
            start = idx + 2
            assert re.match(r"^\d{3}[ -]", line), f"malformed reply line {line!r}"
            lines.append(line[4:])
            if line[3] == " ":
                raw = self.buf[:start]
                self.buf = self.buf[start:]
                return Reply(int(line[:3]), lines, raw)

    def cmd(self, line: str | bytes, timeout: float | None = None) -> Reply:
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.send(line + b"\r\n")
        return self.reply(timeout)

    def read_to_eof(self, timeout: float = 5.0) -> bytes:
        """Everything until the peer closes; raises TimeoutError if it does not."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if not self._fill(deadline):
                    data, self.buf = self.buf, b""
                    return data
            except (ConnectionResetError, ssl.SSLEOFError):
                data, self.buf = self.buf, b""
                return data
            except ssl.SSLError as e:  # e.g. a TLS alert on close: that counts as closed
                if "alert" in str(e).lower() or "eof" in str(e).lower():
                    data, self.buf = self.buf, b""
                    return data
                raise

    def starttls(self, daemon: Daemon, server_hostname: str = "mail.test",
                 context: ssl.SSLContext | None = None) -> None:
        assert not self.buf, f"bytes buffered before the handshake: {self.buf!r}"
        self.sock.settimeout(self.timeout)
        self.sock = (context or daemon.client_context()).wrap_socket(
            self.sock, server_hostname=server_hostname)

    def ehlo(self, name: str = "client.example") -> Reply:
        r = self.cmd(f"EHLO {name}")
        assert r.code == 250, str(r)
        return r

    def envelope(self, mail_from: str, rcpts: list[str]) -> None:
        r = self.cmd(f"MAIL FROM:<{mail_from}>")
        assert r.code == 250, str(r)
        for rcpt in rcpts:
            r = self.cmd(f"RCPT TO:<{rcpt}>")
            assert r.code == 250, str(r)
