"""Fixtures for the sealpostd integration tests. See README.md for the conventions."""

from __future__ import annotations

import pytest

import harness
from harness import Daemon, make_pki


@pytest.fixture(scope="session", autouse=True)
def _kill_stragglers():
    """Last line of defence: whatever a test or fixture did, no sealpostd outlives the run."""
    yield
    harness.kill_all_tracked()


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> harness.Pki:
    """CA + mail.test (ECDSA P-256, RSA-2048; SAN DNS:mail.test, IP:127.0.0.1) + other.test.

    Made once per run; every daemon copies the files into its own directory, so a test may
    replace its copies (SIGHUP reload) without affecting any other test.
    """
    if not harness.SEALPOSTD.exists():
        pytest.exit(f"{harness.SEALPOSTD} is missing: build the sealpostd target first "
                    "or set SEALPOST_BUILD_DIR", returncode=2)
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def make_daemon(tmp_path, pki):
    """Factory: make_daemon(limits={...}, mailboxes=[...], host="::1", start=True) -> Daemon.

    Accounts (test_06_auth.py): accounts=[harness.Account(...)], accounts_options={...},
    auth={...}, extra_listeners=["implicit_cert", "mx_implicit"] (see harness.Daemon).

    Each daemon gets its own directory under this test's tmp_path, its own free ports and its
    own copy of the certificates; all are stopped (SIGTERM, then SIGKILL) at teardown.
    """
    daemons: list[Daemon] = []

    def factory(*, limits=None, mailboxes=None, threads=2, start=True, name=None,
                host="127.0.0.1", **accounts) -> Daemon:
        root = tmp_path / (name or f"d{len(daemons)}")
        d = Daemon(root, pki, limits=limits, mailboxes=mailboxes, threads=threads, host=host,
                   **accounts)
        daemons.append(d)
        if start:
            d.start()
        return d

    yield factory
    for d in daemons:
        d.stop(grace=10)


@pytest.fixture
def daemon(make_daemon) -> Daemon:
    """A fresh daemon with default limits, per test."""
    return make_daemon()
