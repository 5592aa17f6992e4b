"""A private Postfix instance for tests: a real MTA to submit to, deliver to, or relay through.

PostfixPeer(tmp_path, cert, key) writes its own main.cf/master.cf (`postfix -c DIR`), queue and
data directories and listens only on free loopback ports:

- `smtps`: implicit TLS (smtpd_tls_wrappermode, RFC 8314), SASL AUTH;
- `smtp` (optional, smtp_tls="may" | "encrypt" | "none"): STARTTLS or plain, AUTH optional.

AUTH is Cyrus SASL over a private sasldb (saslpasswd2 -f) with a private smtpd.conf
(cyrus_sasl_config_path); mail to the peer's domains lands in Maildirs through the virtual(8)
transport (texthash: maps, no postmap), delivered as `nobody`. Logging goes to a file through
postlogd (maillog_file). The system Postfix (/etc/postfix, /var/spool/postfix) is never read,
written or started.

Postfix runs as root and drops to the `postfix` user, which must reach its queue: pytest's
tmp_path sits below a 0700 directory, so the instance lives in its own 0755 directory under
the system temp directory, linked from tmp_path/"postfix" and removed by stop() (kept when
SEALPOST_KEEP_POSTFIX=1, for inspection). Every wait is bounded; stop() ends the master by
PID (from data/master.lock) if `postfix stop` does not.
"""

from __future__ import annotations

import atexit
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from harness import free_ports

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
SASLPASSWD2 = shutil.which("saslpasswd2") or "/usr/sbin/saslpasswd2"
CMD_TIMEOUT = 30


class PostfixError(AssertionError):
    pass


# Every started instance, so an interrupted run (Ctrl-C, a fixture that never reached its
# finaliser) does not leave a Postfix master behind.
_RUNNING: list["PostfixPeer"] = []


@atexit.register
def _stop_all() -> None:
    while _RUNNING:
        _RUNNING[-1].stop()


def needs_root() -> bool:
    """A private Postfix needs root: its master starts as root and drops to `postfix`."""
    return os.geteuid() != 0


def missing() -> str | None:
    """None when a private Postfix with SASL AUTH can run here, else what is missing."""
    for tool in (POSTFIX, SASLPASSWD2):
        if not os.access(tool, os.X_OK):
            return f"{tool} is not installed (Debian packages postfix, sasl2-bin)"
    # Cyrus SASL mechanisms are plugins; libsasl2-2 only recommends them (and apt
    # --no-install-recommends skips them): without, Postfix offers no AUTH at all.
    plugins = {p.name for p in Path("/usr/lib").glob("*/sasl2/lib*.so")}
    plugins |= {p.name for p in Path("/usr/lib/sasl2").glob("lib*.so")}
    for plugin, package in (("libscram.so", "libsasl2-modules"),
                            ("libplain.so", "libsasl2-modules"),
                            ("libsasldb.so", "libsasl2-modules-db")):
        if plugin not in plugins:
            return f"Cyrus SASL plugin {plugin} is missing (Debian package {package})"
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        return "no postfix user"
    daemons = subprocess.run(["postconf", "-d", "-h", "daemon_directory"], capture_output=True,
                             timeout=CMD_TIMEOUT).stdout.decode().strip()
    if not Path(daemons, "postlogd").exists():
        return "no postlogd (Postfix >= 3.4 needed for maillog_file)"
    return None


def header_fields(block: bytes) -> list[bytes]:
    """A header block as Postfix's Maildir files hold it (LF lines) to its fields, folded
    lines kept with their field."""
    fields: list[bytes] = []
    for line in block.split(b"\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\n" + line
        else:
            fields.append(line)
    return fields


class PostfixPeer:
    """One private Postfix. `ports["smtps"]`, `ports["smtp"]`; `maildir(address)`."""

    def __init__(self, tmp_path: Path, cert: Path, key: Path, *,
                 hostname: str = "mail.test",
                 domains: tuple[str, ...] = ("mail.test",),
                 mailboxes: tuple[str, ...] = ("user@mail.test",),
                 users: dict[str, str] | None = None,
                 mechanisms: tuple[str, ...] = ("SCRAM-SHA-256", "PLAIN", "LOGIN"),
                 smtp_tls: str | None = "may",
                 smtp_auth: bool = True,
                 smtp_options: dict[str, str] | None = None,
                 host: str = "127.0.0.1",
                 main_cf: dict[str, str] | None = None):
        """users: SASL accounts, name -> password ("user@realm" is Cyrus user + realm).
        smtp_tls: the second listener's smtpd_tls_security_level, None for none at all;
        smtp_options: more `-o name=value` for it (e.g. smtpd_discard_ehlo_keywords).
        main_cf: extra or overriding main.cf parameters. Mail for other domains is held in the
        queue (queued()); to relay it, e.g. {"default_transport": "smtp", "relayhost":
        "[127.0.0.1]:PORT", "smtp_tls_security_level": "verify", "smtp_tls_CAfile": CA}."""
        if smtp_tls not in (None, "may", "encrypt", "none"):
            raise ValueError(f"smtp_tls={smtp_tls!r}")
        self.hostname = hostname
        self.domains = tuple(domains)
        self.mailboxes = tuple(mailboxes)
        self.users = dict(users if users is not None else {"alice@mail.test": "alice-Secret-1"})
        self.host = host
        keep = os.environ.get("SEALPOST_KEEP_POSTFIX") == "1"
        self._keep = keep
        self.root = Path(tempfile.mkdtemp(prefix="sealpost-postfix-"))
        self.root.chmod(0o755)  # the postfix user must reach its queue and data below
        link, n = Path(tmp_path) / "postfix", 0
        while link.is_symlink() or link.exists():  # a second peer in the same test
            n += 1
            link = Path(tmp_path) / f"postfix-{n}"
        link.symlink_to(self.root)
        self.etc = self.root / "etc"
        self.queue = self.root / "queue"
        self.data = self.root / "data"
        self.mail = self.root / "mail"
        self.log_path = self.root / "maillog"
        for d in (self.etc, self.queue, self.data, self.mail, self.etc / "sasl"):
            d.mkdir(mode=0o755)
        postfix_user = pwd.getpwnam("postfix")
        os.chown(self.data, postfix_user.pw_uid, -1)
        nobody = pwd.getpwnam("nobody")
        self.delivery_uid, self.delivery_gid = nobody.pw_uid, nobody.pw_gid
        os.chown(self.mail, self.delivery_uid, self.delivery_gid)  # virtual(8) makes Maildirs

        shutil.copy(cert, self.etc / "cert.pem")
        shutil.copy(key, self.etc / "key.pem")
        (self.etc / "key.pem").chmod(0o600)  # smtpd reads it as root, before dropping privileges

        names = ["smtps"] + (["smtp"] if smtp_tls is not None else [])
        self.ports = dict(zip(names, free_ports(len(names), host)))
        self._write_sasl(mechanisms, postfix_user.pw_gid)
        self._write_maps()
        self._write_main(main_cf or {})
        self._write_master(smtp_tls, smtp_auth, smtp_options or {})
        self.master_pid: int | None = None
        self._started = False

    # -- configuration -----------------------------------------------------------------------

    def _write_sasl(self, mechanisms, postfix_gid: int) -> None:
        self.sasldb = self.etc / "sasldb2"
        (self.etc / "sasl" / "smtpd.conf").write_text(
            "pwcheck_method: auxprop\n"
            "auxprop_plugin: sasldb\n"
            f"sasldb_path: {self.sasldb}\n"
            f"mech_list: {' '.join(mechanisms)}\n")
        for name, password in self.users.items():
            self.add_user(name, password)
        if not self.users:  # smtpd still opens the database: an empty one
            self.add_user("nobody@invalid", "x")
            self.del_user("nobody@invalid")
        os.chown(self.sasldb, 0, postfix_gid)  # root-owned (postfix check), smtpd reads it
        self.sasldb.chmod(0o640)

    def _sasl_name(self, name: str) -> list[str]:
        user, _, realm = name.rpartition("@")
        return ["-u", realm, user] if user else [name]

    def add_user(self, name: str, password: str) -> None:
        """Adds or changes a SASL account (read by smtpd at each AUTH: no reload needed)."""
        r = subprocess.run([SASLPASSWD2, "-f", str(self.sasldb), "-p", "-c",
                            *self._sasl_name(name)], input=password.encode() + b"\n",
                           capture_output=True, timeout=CMD_TIMEOUT)
        if r.returncode != 0:
            raise PostfixError(f"saslpasswd2 {name}: {r.stderr.decode(errors='replace')}")
        self.users[name] = password

    def del_user(self, name: str) -> None:
        r = subprocess.run([SASLPASSWD2, "-f", str(self.sasldb), "-d", *self._sasl_name(name)],
                           capture_output=True, timeout=CMD_TIMEOUT)
        if r.returncode != 0:
            raise PostfixError(f"saslpasswd2 -d {name}: {r.stderr.decode(errors='replace')}")
        self.users.pop(name, None)

    def _write_maps(self) -> None:
        # virtual_mailbox_maps: a result ending in "/" means Maildir (virtual(8)).
        lines = [f"{a} {a.rpartition('@')[2]}/{a.rpartition('@')[0]}/" for a in self.mailboxes]
        (self.etc / "vmailbox").write_text("\n".join(lines) + "\n")

    def _write_main(self, extra: dict[str, str]) -> None:
        listen = self.host
        params = {
            "compatibility_level": "3.6",
            "config_directory": str(self.etc),
            "queue_directory": str(self.queue),
            "data_directory": str(self.data),
            "maillog_file": str(self.log_path),
            "maillog_file_prefixes": str(self.root),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": self.hostname,
            "mydomain": self.hostname.partition(".")[2] or self.hostname,
            "myorigin": "$myhostname",
            "mydestination": "",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "inet_interfaces": listen,
            "inet_protocols": "ipv6" if ":" in listen else "ipv4",
            "mynetworks": "",  # no client is trusted by address: AUTH or a local domain only
            "smtpd_relay_restrictions": "permit_sasl_authenticated, reject_unauth_destination",
            "smtpd_recipient_restrictions": "",
            "smtpd_peername_lookup": "no",
            "smtp_host_lookup": "native",
            "smtp_dns_support_level": "disabled",
            "biff": "no",
            "append_dot_mydomain": "no",
            "virtual_mailbox_domains": " ".join(self.domains),
            "virtual_mailbox_base": str(self.mail),
            "virtual_mailbox_maps": f"texthash:{self.etc / 'vmailbox'}",
            "virtual_uid_maps": f"static:{self.delivery_uid}",
            "virtual_gid_maps": f"static:{self.delivery_gid}",
            "virtual_minimum_uid": "100",
            # mail for any other domain stays queued: nothing leaves the loopback peer
            "default_transport": "hold-remote",
            "relay_transport": "hold-remote",
            "defer_transports": "hold-remote",
            # like a remote MX: no header is added or rewritten for any client (Postfix adds
            # Date/Message-Id/From for "local" clients, and 127.0.0.1 is one by default)
            "local_header_rewrite_clients": "",
            "always_add_missing_headers": "no",
            "smtpd_tls_chain_files": f"{self.etc / 'key.pem'}, {self.etc / 'cert.pem'}",
            "smtpd_tls_security_level": "may",
            "smtpd_tls_auth_only": "yes",
            "smtpd_tls_loglevel": "1",
            "smtpd_tls_received_header": "yes",
            "smtpd_tls_session_cache_database": "",
            "smtpd_sasl_auth_enable": "no",  # per listener in master.cf
            "smtpd_sasl_type": "cyrus",
            "smtpd_sasl_path": "smtpd",
            "cyrus_sasl_config_path": str(self.etc / "sasl"),
            "smtpd_sasl_security_options": "noanonymous",
            "smtpd_sasl_tls_security_options": "noanonymous",
            "smtpd_client_connection_count_limit": "0",
            "smtpd_client_connection_rate_limit": "0",
            "queue_run_delay": "300s",
            "maximal_queue_lifetime": "1d",
            "bounce_queue_lifetime": "1d",
        }
        params.update(extra)
        (self.etc / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in params.items()))

    def _write_master(self, smtp_tls: str | None, smtp_auth: bool,
                      smtp_options: dict[str, str]) -> None:
        address = f"[{self.host}]" if ":" in self.host else self.host
        lines = [
            f"{address}:{self.ports['smtps']} inet n - n - - smtpd",
            "  -o smtpd_tls_wrappermode=yes",
            "  -o smtpd_tls_security_level=encrypt",
            "  -o smtpd_sasl_auth_enable=yes",
        ]
        if smtp_tls is not None:
            lines += [
                f"{address}:{self.ports['smtp']} inet n - n - - smtpd",
                f"  -o smtpd_tls_security_level={smtp_tls}",
                f"  -o smtpd_sasl_auth_enable={'yes' if smtp_auth else 'no'}",
            ] + [f"  -o {k}={v}" for k, v in smtp_options.items()]
        lines += [
            "pickup    unix  n - n 60    1 pickup",
            "cleanup   unix  n - n -     0 cleanup",
            "qmgr      unix  n - n 300   1 qmgr",
            "tlsmgr    unix  - - n 1000? 1 tlsmgr",
            "rewrite   unix  - - n -     - trivial-rewrite",
            "bounce    unix  - - n -     0 bounce",
            "defer     unix  - - n -     0 bounce",
            "trace     unix  - - n -     0 bounce",
            "verify    unix  - - n -     1 verify",
            "flush     unix  n - n 1000? 0 flush",
            "proxymap  unix  - - n -     - proxymap",
            "showq     unix  n - n -     - showq",
            "error     unix  - - n -     - error",
            "retry     unix  - - n -     - error",
            "discard   unix  - - n -     - discard",
            "virtual   unix  - n n -     - virtual",
            "smtp      unix  - - n -     - smtp",
            "relay     unix  - - n -     - smtp",
            "hold-remote unix - - n -    - error",
            "anvil     unix  - - n -     1 anvil",
            "scache    unix  - - n -     1 scache",
            "postlog   unix-dgram n - n - 1 postlogd",
        ]
        (self.etc / "master.cf").write_text("\n".join(lines) + "\n")

    # -- process control ---------------------------------------------------------------------

    def _postfix(self, *args: str, timeout: float = CMD_TIMEOUT) -> subprocess.CompletedProcess:
        return subprocess.run([POSTFIX, "-c", str(self.etc), *args], capture_output=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def start(self, timeout: float = 15.0) -> "PostfixPeer":
        """`postfix start`, then waits until every listener accepts (bounded)."""
        deadline = time.monotonic() + timeout
        self._started = True
        _RUNNING.append(self)
        # `postfix start` runs `postfix check` first (creates the queue directories): no
        # separate check, it is most of the start-up time.
        r = self._postfix("start", timeout=timeout)
        if r.returncode != 0:
            raise PostfixError(f"postfix start failed:\n{self._output(r)}\n{self.log()}")
        self.master_pid = self._read_master_pid(deadline)
        for name, port in self.ports.items():
            while True:
                try:
                    socket.create_connection((self.host, port), timeout=1).close()
                    break
                except OSError:
                    if not self._master_alive():
                        raise PostfixError(f"postfix master died\n{self.log()}")
                    if time.monotonic() > deadline:
                        raise PostfixError(f"port {name}={port} never accepted\n{self.log()}")
                    time.sleep(0.05)
        return self

    @staticmethod
    def _output(r: subprocess.CompletedProcess) -> str:
        return (r.stdout + r.stderr).decode(errors="replace")

    def _read_master_pid(self, deadline: float) -> int:
        lock = self.data / "master.lock"
        while True:
            try:
                text = lock.read_text().strip()
                if text:
                    return int(text)
            except (FileNotFoundError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise PostfixError(f"no master.lock\n{self.log()}")
            time.sleep(0.05)

    def _master_alive(self) -> bool:
        if self.master_pid is None:
            return False
        try:
            os.kill(self.master_pid, 0)
        except ProcessLookupError:
            return False
        # a zombie or a recycled PID is not our master
        try:
            cmdline = Path(f"/proc/{self.master_pid}/cmdline").read_bytes()
        except OSError:
            return False
        return b"master" in cmdline

    def stop(self, grace: float = 10.0) -> None:
        """`postfix stop`; SIGKILL to the master (by PID) if it outlives grace. Idempotent."""
        if self in _RUNNING:
            _RUNNING.remove(self)
        if self._started:
            self._started = False
            try:
                self._postfix("stop", timeout=grace)
            except subprocess.TimeoutExpired:
                pass
            deadline = time.monotonic() + grace
            while self._master_alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            if self._master_alive():
                os.kill(self.master_pid, 9)
        if not self._keep and self.root.exists():
            self.last_log = self.log()
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "PostfixPeer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- observation -------------------------------------------------------------------------

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return getattr(self, "last_log", "")

    def wait_for_log(self, pattern: str, timeout: float = 10.0, count: int = 1) -> list[re.Match]:
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            matches = list(rx.finditer(self.log()))
            if len(matches) >= count:
                return matches
            if time.monotonic() > deadline:
                raise PostfixError(f"timed out waiting for /{pattern}/ x{count}\n{self.log()}")
            time.sleep(0.05)

    def maildir(self, address: str) -> Path:
        local, _, domain = address.rpartition("@")
        return self.mail / domain / local

    def messages(self, address: str | None = None) -> list[bytes]:
        """Delivered messages of one mailbox (or of all), oldest first by file name."""
        roots = [self.maildir(address)] if address else [self.maildir(a) for a in self.mailboxes]
        files = []
        for root in roots:
            for sub in ("new", "cur"):
                d = root / sub
                if d.is_dir():
                    files += [p for p in d.iterdir() if p.is_file()]
        files.sort(key=lambda p: p.name)
        return [p.read_bytes() for p in files]

    def wait_for_messages(self, n: int, timeout: float = 10.0,
                          address: str | None = None) -> list[bytes]:
        """Waits until at least n messages were delivered (to address, or to any mailbox)."""
        deadline = time.monotonic() + timeout
        while True:
            msgs = self.messages(address)
            if len(msgs) >= n:
                return msgs
            if time.monotonic() > deadline:
                raise PostfixError(f"{len(msgs)} message(s), wanted {n} within {timeout}s\n"
                                   f"{self.log()}")
            time.sleep(0.05)

    def queued(self) -> int:
        """Messages still in the queue (e.g. held mail for another domain)."""
        n = 0
        for sub in ("maildrop", "incoming", "active", "deferred", "hold"):
            d = self.queue / sub
            if d.is_dir():
                n += sum(len(files) for _, _, files in os.walk(d))
        return n

    def settled_queued(self, quiet: float = 0.3, timeout: float = 10.0) -> int:
        """queued() once it has stayed the same for `quiet` seconds: the queue file of a message
        delivered a moment ago may linger for a few ms, and a count taken then drops later
        (taken as a baseline, it made a later exact comparison fail)."""
        deadline = time.monotonic() + timeout
        last, since = self.queued(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            now = self.queued()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
        return last
