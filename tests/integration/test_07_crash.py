"""Crash safety (issue 4 item 3), short version of crash_test.py: 3 SIGKILL cycles under load.

Every message that got a 250 is delivered byte-exact exactly once, with the queue id of its
250; a message whose connection died before the final reply is absent or complete; nothing
partial, duplicated or never sent reaches a Maildir. The long run (20 cycles, 16 clients) is
`python3 tests/integration/crash_test.py --cycles 20`.
"""

from __future__ import annotations

import time

from crash_test import LISTENER, run_crash_test


def test_sigkill_under_load_loses_nothing(make_daemon):
    daemon = make_daemon(extra_listeners=[LISTENER], start=False)
    start = time.monotonic()
    lines = []
    verdict = run_crash_test(daemon, cycles=3, clients=6, min_delay=0.3, max_delay=1.2,
                             large_fraction=0.05, deliver_timeout=20, log=lines.append)
    elapsed = time.monotonic() - start
    print(verdict.line())
    report = "\n".join(lines + [verdict.line()] + verdict.notes + verdict.violations)
    assert verdict.ok, f"{report}\n--- daemon log (tail) ---\n{daemon.log()[-6000:]}"
    assert verdict.acked >= 10, report  # enough load to mean something
    assert elapsed < 40, f"took {elapsed:.1f}s\n{report}"
