"""Queue control (issue 4, item 5): `sealpost queue list|show|flush|hold|release|delete` against
a real sealpostd over its control socket (docs/control-protocol.md).

Messages for a remote recipient, relayed by an authenticated user, stay deferred (the harness
points the daemon's resolver at a loopback port where nothing answers, so the MX lookup
fails), which gives every test a queue to work on. Covered: deferred
messages listed with their reason, the --json shape, hold (not attempted even after flush, and
still held after a restart), release + flush (attempted again), delete (gone, also after a
restart, logged with who), delete --all, show, the fallback when the daemon is not running,
exit codes, and a non-root peer refused by the socket.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import harness
from harness import Account, RawSMTP, dot_stuff, queue_id_of, sample_message

ALICE = Account("alice@mail.test", "alice-Secret-1")
REMOTE = "friend@example.com"
KEYS = ["queue_id", "arrival_time", "message_size", "sender", "recipients", "status",
        "attempts", "next_attempt", "last_error", "waiting_for"]
REASON = "451 4.4.3 MX lookup for example.com failed: example.com: no answer within 10000 ms"


@pytest.fixture
def qdaemon(make_daemon):
    return make_daemon(accounts=[ALICE])


def relay(daemon, count: int = 1, rcpt: str = REMOTE, subject: str = "queued") -> list[str]:
    """Submits `count` messages as alice to `rcpt`; returns their queue ids."""
    ids = []
    with RawSMTP.implicit(daemon) as c:
        assert c.reply().code == 220
        c.ehlo()
        auth = base64.b64encode(f"\0{ALICE.name}\0{ALICE.password}".encode()).decode()
        assert c.cmd("AUTH PLAIN " + auth).code == 235
        for i in range(count):
            c.envelope(ALICE.name, [rcpt])
            assert c.cmd("DATA").code == 354
            c.send(dot_stuff(sample_message(f"{subject} {i}")) + b".\r\n")
            r = c.reply()
            assert r.code == 250, str(r)
            ids.append(queue_id_of(r.text))
    return ids


def attempts_logged(daemon, qid: str) -> int:
    return len(re.findall(rf"delivery: {qid} to=<{re.escape(REMOTE)}> deferred", daemon.log()))


def wait_deferred(daemon, qid: str, count: int = 1) -> None:
    # Each attempt waits out the resolver's 10 s query timeout (nothing answers on loopback).
    daemon.wait_for_log(rf"delivery: {qid} retry in", count=count, timeout=15.0 + 15.0 * count)


def queue(daemon, *args, check=False) -> subprocess.CompletedProcess:
    return daemon.sealpost("queue", *args, check=check)


def listing(daemon) -> dict[str, dict]:
    r = queue(daemon, "list", "--json", check=True)
    lines = r.stdout.decode().splitlines()
    objects = [json.loads(line) for line in lines]
    return {m["queue_id"]: m for m in objects}


def test_deferred_messages_are_listed_with_their_reason(qdaemon):
    [qid] = relay(qdaemon)
    wait_deferred(qdaemon, qid)

    text = queue(qdaemon, "list", check=True).stdout.decode()
    assert re.search(rf"^{qid}  \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ  \d+  deferred  <{ALICE.name}>$",
                     text, re.M), text
    assert re.search(r"^    attempts: 1, next attempt: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", text,
                     re.M), text
    assert f"    <{REMOTE}>  {REASON}\n" in text
    assert re.search(r"^-- 1 message, \d+ bytes$", text, re.M), text

    r = queue(qdaemon, "list", "--json", check=True)
    [line] = r.stdout.decode().splitlines()
    m = json.loads(line)
    assert list(m) == KEYS  # every key, in the documented order
    assert m["queue_id"] == qid and m["status"] == "deferred" and m["attempts"] == 1
    assert m["sender"] == ALICE.name
    assert m["recipients"] == [{"address": REMOTE, "delay_reason": REASON, "finished": False}]
    assert m["last_error"] == REASON
    assert m["waiting_for"] is None  # no destination limit reached
    assert abs(m["arrival_time"] - time.time()) < 60
    assert m["next_attempt"] - time.time() > 30  # the first retry is a minute away
    assert m["message_size"] > len(sample_message("queued 0"))  # plus the Received header


def test_hold_is_not_delivered_even_after_flush_until_released(qdaemon):
    held, other = relay(qdaemon, 2)
    wait_deferred(qdaemon, held)
    wait_deferred(qdaemon, other)

    r = queue(qdaemon, "hold", held, check=True)
    assert r.stdout.decode() == f"{held}: held\n"
    assert queue(qdaemon, "hold", held, check=True).stdout.decode() == f"{held}: already held\n"
    qdaemon.wait_for_log(rf"control: held {held} by root \(uid 0, pid \d+\)")

    r = queue(qdaemon, "flush", check=True)
    assert r.stdout.decode() == "flushed 1 deferred message(s): due now\n"
    r = queue(qdaemon, "flush", held, check=True)
    assert r.stdout.decode() == f"{held}: held\n"
    wait_deferred(qdaemon, other, count=2)  # the flushed one was attempted again...
    time.sleep(0.3)
    qdaemon.sync_log()
    assert attempts_logged(qdaemon, held) == 1  # ...the held one was not
    listed = listing(qdaemon)
    assert listed[held]["status"] == "held" and listed[held]["next_attempt"] is None
    assert listed[other]["attempts"] == 2

    r = queue(qdaemon, "release", held, check=True)
    assert r.stdout.decode() == f"{held}: released\n"
    assert queue(qdaemon, "release", held, check=True).stdout.decode() == f"{held}: not held\n"
    assert listing(qdaemon)[held]["status"] == "deferred"  # back to its retry time
    r = queue(qdaemon, "flush", held, check=True)
    assert r.stdout.decode() == f"{held}: flushed: due now\n"
    wait_deferred(qdaemon, held, count=2)  # attempted again
    assert attempts_logged(qdaemon, held) == 2
    assert listing(qdaemon)[held]["attempts"] == 2


def test_release_and_flush_deliver_a_held_message(make_daemon, tmp_path):
    """A local mailbox that cannot be written defers the message; once it can, the held message
    is still not delivered, not even by flush, until it is released and flushed."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the Maildir's parent directory should be\n")
    d = make_daemon(accounts=[ALICE],
                    mailboxes=["demo@localhost", ("stuck@mail.test", blocker / "maildir")])
    [qid] = relay(d, rcpt="stuck@mail.test", subject="stuck")
    wait_deferred(d, qid)
    assert "maildir" in listing(d)[qid]["last_error"]
    assert queue(d, "hold", qid, check=True).stdout.decode() == f"{qid}: held\n"
    blocker.unlink()  # the mailbox could take it now
    assert queue(d, "flush", check=True).stdout.decode().startswith("flushed 0 ")
    assert queue(d, "flush", qid, check=True).stdout.decode() == f"{qid}: held\n"
    time.sleep(0.5)
    assert d.maildir_files("stuck@mail.test") == []

    assert queue(d, "release", qid, check=True).stdout.decode() == f"{qid}: released\n"
    assert queue(d, "flush", qid, check=True).stdout.decode() == f"{qid}: flushed: due now\n"
    [stored] = d.wait_for_maildir("stuck@mail.test")
    assert stored.endswith(sample_message("stuck 0"))
    d.wait_for_log(rf"delivery: {qid} removed from spool")
    assert queue(d, "list", check=True).stdout.decode() == "Mail queue is empty\n"


def test_delete_is_gone_and_stays_gone_after_a_restart(qdaemon):
    gone, kept = relay(qdaemon, 2)
    wait_deferred(qdaemon, gone)
    r = queue(qdaemon, "delete", gone, check=True)
    assert r.stdout.decode() == f"{gone}: deleted\n"
    qdaemon.wait_for_log(rf"control: deleted {gone} by root \(uid 0, pid \d+\)")
    assert set(listing(qdaemon)) == {kept}
    r = queue(qdaemon, "delete", gone)
    assert r.returncode == 67 and f"{gone}: not in the queue" in r.stderr.decode()

    qdaemon.stop()
    qdaemon.start()
    qdaemon.wait_for_log(r"recovered 1 queued message", since_start=True)
    assert set(listing(qdaemon)) == {kept}
    time.sleep(0.3)
    qdaemon.sync_log()
    assert f"delivery: {gone}" not in qdaemon.log(since_start=True)


def test_hold_survives_a_restart(qdaemon):
    [qid] = relay(qdaemon)
    wait_deferred(qdaemon, qid)
    assert queue(qdaemon, "hold", qid).returncode == 0
    qdaemon.kill()  # no clean shutdown: the hold record was synced before the reply
    qdaemon.start()
    qdaemon.wait_for_log(r"recovered 1 queued message", since_start=True)
    assert listing(qdaemon)[qid]["status"] == "held"
    assert queue(qdaemon, "flush", check=True).stdout.decode().startswith("flushed 0 ")
    time.sleep(0.5)
    qdaemon.sync_log()
    assert f"delivery: {qid}" not in qdaemon.log(since_start=True)


def test_delete_all(qdaemon):
    ids = relay(qdaemon, 3)
    for qid in ids:
        wait_deferred(qdaemon, qid)
    r = queue(qdaemon, "delete", "--all", check=True)
    assert r.stdout.decode() == "3 message(s) deleted\n"
    assert queue(qdaemon, "list", check=True).stdout.decode() == "Mail queue is empty\n"
    assert queue(qdaemon, "list", "--json", check=True).stdout == b""


def test_show_prints_envelope_status_and_the_exact_message(qdaemon):
    [qid] = relay(qdaemon, subject="shown")
    wait_deferred(qdaemon, qid)
    text = queue(qdaemon, "show", qid, check=True).stdout
    head, _, content = text.partition(b"\n\n")
    assert head.decode().splitlines()[:2] == [f"queue id: {qid}", "status: deferred"]
    assert f"from: <{ALICE.name}>\nto: <{REMOTE}>  {REASON}".encode() in head
    assert f"last error: {REASON}".encode() in head
    assert content.startswith(b"Received: ") and content.endswith(sample_message("shown 0"))

    m = json.loads(queue(qdaemon, "show", qid, "--json", check=True).stdout)
    assert list(m) == KEYS + ["envelope", "content_base64"]
    assert m["envelope"] == {"smtputf8": False, "body": None, "requiretls": False, "ret": None,
                             "envid": None, "recipients": [{"notify": None, "orcpt": None}]}
    assert base64.b64decode(m["content_base64"]) == content

    unknown = "0" * 21
    r = queue(qdaemon, "show", unknown)
    assert r.returncode == 67 and "not in the queue" in r.stderr.decode()


def test_show_names_the_mail_and_rcpt_parameters_also_without_the_daemon(qdaemon):
    """REQUIRETLS, the DSN parameters and BODY are what delivery will honour: `show` says them
    (decoded), from the daemon and from the spool files alike."""
    with RawSMTP.implicit(qdaemon) as c:
        assert c.reply().code == 220
        c.ehlo()
        auth = base64.b64encode(f"\0{ALICE.name}\0{ALICE.password}".encode()).decode()
        assert c.cmd("AUTH PLAIN " + auth).code == 235
        r = c.cmd(f"MAIL FROM:<{ALICE.name}> BODY=8BITMIME RET=HDRS ENVID=QQ+2B1 REQUIRETLS")
        assert r.code == 250, str(r)
        r = c.cmd(f"RCPT TO:<{REMOTE}> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;Friend+2Bx@example.com")
        assert r.code == 250, str(r)
        assert c.cmd("RCPT TO:<other@example.com>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(dot_stuff(sample_message("parameters")) + b".\r\n")
        r = c.reply()
        assert r.code == 250, str(r)
        qid = queue_id_of(r.text)
    expected = {"smtputf8": False, "body": "8BITMIME", "requiretls": True, "ret": "HDRS",
                "envid": "QQ+1",
                "recipients": [{"notify": "SUCCESS,DELAY", "orcpt": "rfc822;Friend+x@example.com"},
                               {"notify": None, "orcpt": None}]}
    for running in (True, False):
        if not running:
            qdaemon.stop()
        m = json.loads(queue(qdaemon, "show", qid, "--json", check=True).stdout)
        assert m["envelope"] == expected, running
        head = queue(qdaemon, "show", qid, check=True).stdout.decode().partition("\n\n")[0]
        assert (f"from: <{ALICE.name}>  BODY=8BITMIME REQUIRETLS RET=HDRS ENVID=QQ+1\n"
                f"to: <{REMOTE}>  NOTIFY=SUCCESS,DELAY ORCPT=rfc822;Friend+x@example.com") in head
        assert re.search(r"^to: <other@example\.com>(  451 .*)?$", head, re.M), head


def test_usage_errors_and_unknown_ids(qdaemon):
    [qid] = relay(qdaemon)
    assert queue(qdaemon, "hold", "nonsense").returncode == 64
    assert queue(qdaemon, "delete").returncode == 64
    assert queue(qdaemon, "delete", "--all", qid).returncode == 64
    unknown = "0" * 21
    r = queue(qdaemon, "hold", unknown, qid)
    assert r.returncode == 67, r
    assert r.stdout.decode() == f"{qid}: held\n"  # the known one is still held
    assert f"{unknown}: not in the queue" in r.stderr.decode()


def test_without_the_daemon_list_falls_back_and_changes_exit_69(qdaemon):
    held, plain = relay(qdaemon, 2)
    wait_deferred(qdaemon, held)
    assert queue(qdaemon, "hold", held).returncode == 0
    qdaemon.stop()

    r = queue(qdaemon, "list", check=True)
    assert "sealpostd is not running" in r.stderr.decode()
    assert re.search(rf"^{held}  .*  held  <{ALICE.name}>$", r.stdout.decode(), re.M)
    assert re.search(rf"^{plain}  .*  queued  <{ALICE.name}>$", r.stdout.decode(), re.M)
    listed = listing(qdaemon)
    assert list(listed[plain]) == KEYS
    assert (listed[held]["status"], listed[plain]["status"]) == ("held", "queued")
    assert listed[plain]["attempts"] == 0 and listed[plain]["next_attempt"] is None
    show = queue(qdaemon, "show", plain, check=True).stdout
    assert show.startswith(f"queue id: {plain}\nstatus: queued\n".encode())

    for args in (["hold", plain], ["release", held], ["delete", plain], ["flush"]):
        r = queue(qdaemon, *args)
        assert r.returncode == 69, (args, r)
        assert "sealpostd is not running" in r.stderr.decode()


def test_a_second_daemon_on_the_same_state_is_refused(qdaemon, tmp_path):
    r = harness.run([str(harness.SEALPOSTD), "--config", str(qdaemon.config_path)], check=False,
                    timeout=15)
    assert r.returncode == 1
    assert b"another sealpostd is running" in r.stderr
    assert queue(qdaemon, "list").returncode == 0  # the first one is unharmed


@pytest.fixture
def open_daemon(pki):
    """A daemon in a directory other users can traverse, so `nobody` can reach its socket."""
    root = Path(tempfile.mkdtemp(prefix="sealpost-qc-", dir="/tmp"))
    os.chmod(root, 0o755)
    d = harness.Daemon(root / "d", pki, accounts=[ALICE])
    try:
        d.start()
        os.chmod(d.root, 0o755)
        os.chmod(d.config_path, 0o644)
        yield d
    finally:
        d.stop(grace=10)
        shutil.rmtree(root, ignore_errors=True)


def as_nobody(daemon, *args) -> subprocess.CompletedProcess:
    return harness.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        str(harness.SEALPOST), "--config", str(daemon.config_path), *args],
                       check=False)


def test_a_non_root_peer_is_refused(open_daemon):
    d = open_daemon
    [qid] = relay(d)
    # As installed: the state directory is 0700, so the socket cannot even be reached.
    r = as_nobody(d, "queue", "hold", qid)
    assert r.returncode == 77, r
    assert "permission denied" in r.stderr.decode()

    # Loosened by mistake: the socket's own check (SO_PEERCRED) still refuses.
    os.chmod(d.state_dir, 0o711)
    sock = d.state_dir / "control.sock"
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    os.chmod(sock, 0o666)
    for args in (["hold", qid], ["list"]):
        r = as_nobody(d, "queue", *args)
        assert r.returncode == 77, r
        assert "only root and the user sealpostd runs as" in r.stderr.decode()
    d.wait_for_log(r"control: refused nobody \(uid 65534, pid \d+\): only root and uid 0")
    assert listing(d)[qid]["status"] != "held"
