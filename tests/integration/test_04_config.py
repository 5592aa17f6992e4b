"""Configuration: --check-config, file:line:key errors, start-up failures."""

from __future__ import annotations

import socket
import subprocess
import tomllib

import pytest

from harness import REPO, SEALPOSTD, Daemon, run

EX_CONFIG = 78


def check_config(path) -> subprocess.CompletedProcess:
    return run([str(SEALPOSTD), "--check-config", str(path)], check=False, timeout=15)


def start_and_wait(daemon: Daemon, timeout: float = 15) -> subprocess.CompletedProcess:
    """Runs sealpostd --config expecting it to exit on its own (start-up failure)."""
    proc = subprocess.Popen([str(SEALPOSTD), "--config", str(daemon.config_path)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=daemon.root)
    daemon.proc = proc  # so the fixture's teardown kills it if it did not exit
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=10)
        raise AssertionError("sealpostd did not exit")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_check_config_good(make_daemon):
    daemon = make_daemon(start=False, limits={"max_recipients": 7, "idle_timeout": 42})
    result = check_config(daemon.config_path)
    assert result.returncode == 0, result.stderr
    assert f"{daemon.config_path}: configuration OK" in result.stderr.decode()
    printed = tomllib.loads(result.stdout.decode("utf-8"))
    assert printed["hostname"] == "mail.test"
    assert printed["state_dir"] == str(daemon.state_dir)
    assert [l["address"] for l in printed["listen"]] == [
        f"127.0.0.1:{daemon.ports[n]}" for n in ("implicit", "starttls", "mx", "require")]
    assert [l["tls"] for l in printed["listen"]] == ["implicit", "starttls", "starttls",
                                                     "require-starttls"]
    assert printed["pki"]["main"]["cert"] == [str(daemon.tls_dir / "ecdsa.pem"),
                                              str(daemon.tls_dir / "rsa.pem")]
    assert printed["domains"]["local"] == ["localhost", "mail.test"]
    assert [m["address"] for m in printed["mailbox"]] == daemon.mailboxes
    assert printed["mailbox"][0]["maildir"] == str(daemon.state_dir / "mail" / "demo@localhost")
    assert printed["limits"]["max_recipients"] == 7
    assert printed["limits"]["idle_timeout"] == 42
    assert printed["limits"]["max_message_size"] == 52428800  # defaults are printed too
    assert printed["postmaster"] == "demo@localhost"


def test_check_config_output_round_trips(make_daemon, tmp_path):
    daemon = make_daemon(start=False)
    first = check_config(daemon.config_path)
    assert first.returncode == 0
    again = tmp_path / "printed.toml"
    again.write_bytes(first.stdout)
    second = check_config(again)
    assert second.returncode == 0, second.stderr

    def settings(out: bytes) -> list[bytes]:  # comments name the source file; skip them
        return [l for l in out.split(b"\n") if not l.startswith(b"#")]

    assert settings(second.stdout) == settings(first.stdout)


def test_check_config_does_not_read_certificates(make_daemon):
    daemon = make_daemon(start=False)
    (daemon.tls_dir / "rsa.pem").unlink()
    assert check_config(daemon.config_path).returncode == 0


def test_example_config_is_valid():
    result = check_config(REPO / "docs" / "examples" / "sealpost.toml")
    assert result.returncode == 0, result.stderr


def insert_line(path, after_prefix: str, text: str) -> int:
    """Inserts text after the first line starting with after_prefix; returns its 1-based line."""
    lines = path.read_text(encoding="utf-8").split("\n")
    idx = next(i for i, l in enumerate(lines) if l.startswith(after_prefix))
    lines.insert(idx + 1, text)
    path.write_text("\n".join(lines), encoding="utf-8")
    return idx + 2


@pytest.mark.parametrize("after,text,key", [
    ("hostname", 'colour = "blue"', "colour"),
    ("[limits]", "idle_timout = 5", "limits.idle_timout"),
    ('tls = "starttls"', 'tsl = "implicit"', "listen[1].tsl"),
    ("[pki.other]", 'chain = "x.pem"', "pki.other.chain"),
])
def test_unknown_key(make_daemon, after, text, key):
    daemon = make_daemon(start=False, limits={"max_recipients": 10})
    line = insert_line(daemon.config_path, after, text)
    result = check_config(daemon.config_path)
    assert result.returncode == EX_CONFIG
    assert result.stdout == b""
    err = result.stderr.decode()
    assert f"{daemon.config_path}:{line}: {key}:" in err, err
    # The daemon itself refuses the same file the same way.
    started = start_and_wait(daemon)
    assert started.returncode == EX_CONFIG
    assert f"{daemon.config_path}:{line}: {key}:" in started.stderr.decode()


@pytest.mark.parametrize("old,new,key,words", [
    ('tls = "implicit"', 'tls = "STARTTLS"', "listen[0].tls", "is not one of"),
    ("[limits]", "[limits]\nidle_timeout = 0", "limits.idle_timeout", ""),
    ('address = "user@mail.test"', 'address = "user@elsewhere.test"', "mailbox[1].address",
     "domains.local"),
])
def test_invalid_values(make_daemon, old, new, key, words):
    daemon = make_daemon(start=False, limits={"max_recipients": 10})
    text = daemon.config_path.read_text(encoding="utf-8")
    assert old in text
    daemon.config_path.write_text(text.replace(old, new, 1), encoding="utf-8")
    result = check_config(daemon.config_path)
    assert result.returncode == EX_CONFIG
    err = result.stderr.decode()
    assert f"{daemon.config_path}:" in err and f": {key}: " in err and words in err, err


def test_bind_failure(make_daemon):
    daemon = make_daemon(start=False)
    port = daemon.ports["mx"]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen(1)
        result = start_and_wait(daemon)
    assert result.returncode not in (0, None)
    err = result.stderr.decode()
    assert f"cannot listen on 127.0.0.1 port {port}" in err, err
    assert "in use" in err.lower(), err


def test_missing_certificate_fails_start(make_daemon):
    daemon = make_daemon(start=False)
    (daemon.tls_dir / "rsa.key").unlink()
    result = start_and_wait(daemon)
    assert result.returncode != 0
    err = result.stderr.decode()
    assert "rsa.key" in err, err
