"""`sealpost bench` (issue 4, load generator) against a real sealpostd: implicit TLS (the mx
listener without AUTH and the submission listener with AUTH PLAIN), STARTTLS, pipelining,
session resumption, a new connection per message and many per connection. Each run must
print the one final line, count no failure, and leave exactly that many messages in the
Maildir. A run against a refusing server must fail loudly (exit 1, failures counted).
"""

from __future__ import annotations

import json
import re

import pytest

from harness import SEALPOST, Account, run

LINE_RX = re.compile(
    r"^messages=(?P<messages>\d+) failures=(?P<failures>\d+) elapsed=(?P<elapsed>[\d.]+) "
    r"msgs/s=(?P<rate>[\d.]+) p50_ms=(?P<p50>[\d.]+) p99_ms=(?P<p99>[\d.]+) "
    r"conn_p50_ms=(?P<conn_p50>[\d.]+)$")

RCPT = "user@mail.test"


def bench(daemon, port_name: str, *args: str, check: bool = True, timeout: float = 60,
          to: str | list[str] = RCPT, sni: str = "mail.test"):
    """Runs `sealpost bench` against daemon's listener; returns (process, final line)."""
    if not SEALPOST.exists():
        pytest.skip(f"{SEALPOST} not built")
    cmd = [str(SEALPOST), "bench", "--server", f"127.0.0.1:{daemon.ports[port_name]}",
           "--ca", str(daemon.ca), "--sni", sni, "--timeout", "10", *args]
    for address in [to] if isinstance(to, str) else to:
        cmd += ["--to", address]
    result = run(cmd, check=False, timeout=timeout)
    out = result.stdout.decode()
    lines = out.strip().splitlines()
    assert lines, f"no output; stderr:\n{result.stderr.decode()}"
    if check:
        assert result.returncode == 0, (
            f"exit {result.returncode}\nstdout:\n{out}\nstderr:\n{result.stderr.decode()}"
            f"\n{daemon.log()}")
    return result, lines[-1]


def parse_line(line: str) -> dict[str, float]:
    m = LINE_RX.match(line)
    assert m, f"final line does not parse: {line!r}"
    return {k: float(v) for k, v in m.groupdict().items()}


@pytest.fixture
def bdaemon(make_daemon):
    return make_daemon(extra_listeners=["mx_implicit"],
                       accounts=[Account("alice@mail.test", "alice-Secret-1")])


@pytest.mark.parametrize("args, count", [
    (["-c", "4", "-m", "20", "--per-conn", "1"], 20),                       # handshake per message
    (["-c", "2", "-m", "30", "--per-conn", "10", "--pipelining"], 30),      # many per connection
    (["-c", "3", "-m", "12", "--per-conn", "1", "--resume", "--threads", "2"], 12),
], ids=["per-message", "per-conn-pipelining", "resume-threads"])
def test_bench_implicit_mx(bdaemon, args, count):
    _, line = bench(bdaemon, "mx_implicit", *args)
    stats = parse_line(line)
    assert stats["failures"] == 0
    assert stats["messages"] == count
    assert stats["p50"] > 0 and stats["p99"] >= stats["p50"] and stats["conn_p50"] > 0
    assert len(bdaemon.wait_for_maildir(RCPT, count)) == count
    bdaemon.assert_no_more_mail(RCPT, count)


def test_bench_big_bodies_two_recipients(bdaemon):
    # --rcpts 2 with two --to addresses: recipient i is to[i % 2], so each gets every message.
    _, line = bench(bdaemon, "mx_implicit", "-c", "2", "-m", "3", "--size", "102400",
                    "--rcpts", "2", "--pipelining", to=[RCPT, "demo@localhost"])
    stats = parse_line(line)
    assert stats["messages"] == 3 and stats["failures"] == 0
    for address in (RCPT, "demo@localhost"):
        msgs = bdaemon.wait_for_maildir(address, 3)
        bdaemon.assert_no_more_mail(address, 3)
        # Received header + the generated header block, then exactly 102400 body octets.
        assert all(len(m.split(b"\r\n\r\n", 1)[1]) == 102400 for m in msgs)


def test_bench_resume_reuses_sessions(bdaemon):
    result, line = bench(bdaemon, "mx_implicit", "-c", "1", "-m", "5", "--resume", "--json")
    stats = json.loads(line)
    assert stats["messages"] == 5 and stats["failures"] == 0
    assert stats["connections"] == 5
    assert stats["resumed"] >= 3, stats  # the first cannot; the rest should
    assert len(bdaemon.wait_for_maildir(RCPT, 5)) == 5


def test_bench_starttls_and_auth(bdaemon):
    _, line = bench(bdaemon, "starttls", "--tls", "starttls", "-c", "2", "-m", "6",
                    "--per-conn", "3", "--auth", "alice@mail.test:alice-Secret-1",
                    "--from", "alice@mail.test")
    stats = parse_line(line)
    assert stats["messages"] == 6 and stats["failures"] == 0
    _, line = bench(bdaemon, "implicit", "-c", "2", "-m", "4",
                    "--auth", "alice@mail.test:alice-Secret-1", "--from", "alice@mail.test")
    assert parse_line(line)["messages"] == 4
    bdaemon.wait_for_maildir(RCPT, 10)
    bdaemon.assert_no_more_mail(RCPT, 10)


def test_bench_counts_failures(bdaemon):
    # Relay refused: RCPT gets 554 on every message; nothing may be reported as accepted.
    result, line = bench(bdaemon, "mx_implicit", "-c", "2", "-m", "4",
                         to="someone@elsewhere.example", check=False)
    stats = parse_line(line)
    assert result.returncode == 1
    assert stats["messages"] == 0 and stats["failures"] == 4
    assert b"RCPT 554" in result.stderr


def test_bench_wrong_password_fails(bdaemon):
    result, line = bench(bdaemon, "implicit", "-m", "2", "--auth", "alice@mail.test:wrong",
                         check=False)
    assert result.returncode == 1
    assert parse_line(line)["failures"] == 2
    assert b"AUTH 535" in result.stderr


def test_bench_verification(bdaemon):
    # With --ca the certificate is verified against the name given by --sni: a name it does
    # not carry fails the handshake; without --sni the IP address (in its SAN) is checked.
    result, line = bench(bdaemon, "mx_implicit", "-m", "1", sni="wrong.test", check=False)
    assert result.returncode == 1
    assert parse_line(line)["failures"] == 1
    assert b"TLS handshake" in result.stderr
    result = run([str(SEALPOST), "bench", "--server",
                  f"127.0.0.1:{bdaemon.ports['mx_implicit']}", "--ca", str(bdaemon.ca),
                  "--to", RCPT, "-m", "1"], check=False)
    assert result.returncode == 0, result.stderr
    assert parse_line(result.stdout.decode().strip())["messages"] == 1


def test_bench_connection_refused(bdaemon):
    port = bdaemon.ports["mx_implicit"]
    bdaemon.stop()
    result = run([str(SEALPOST), "bench", "--server", f"127.0.0.1:{port}", "--insecure",
                  "-c", "2", "-m", "3"], check=False)
    assert result.returncode == 1
    stats = parse_line(result.stdout.decode().strip())
    assert stats["messages"] == 0 and stats["failures"] == 3
    assert b"connect: Connection refused" in result.stderr


def test_bench_usage_errors(bdaemon):
    result = run([str(SEALPOST), "bench", "--server", "nohostport"], check=False)
    assert result.returncode == 64
    result = run([str(SEALPOST), "bench", "-c", "0"], check=False)
    assert result.returncode == 64
