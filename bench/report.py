#!/usr/bin/env python3
"""Turns bench/run.sh's results.jsonl into the Markdown results page (medians, ratios)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from collections import defaultdict
from datetime import datetime, timezone

SCENARIOS = {
    "a_conn_per_msg": "(a) new TLS connection per message, 16 clients",
    "b_100_per_conn": "(b) 100 messages per connection, 16 clients",
    "c_single_client": "(c) single client, 100 messages per connection",
    "d_100k_bodies": "(d) 100 KiB bodies, 16 clients, 100 per connection",
    "e_auth_conn_per_msg": "(e) as (a) on the submission listener with AUTH PLAIN",
    "f_resume_conn_per_msg": "(f) as (a) with TLS session resumption (--resume)",
}


def git(repo: str, *args: str) -> str:
    try:
        return subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=1):
    return "–" if v is None else f"{v:,.{digits}f}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--handshakes", default="")
    ap.add_argument("--runs", type=int)
    ap.add_argument("--duration", type=float)
    ap.add_argument("--postfix-version", default="?")
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--client-cpu", default="1")
    ap.add_argument("--repo", default=".")
    ap.add_argument("--loadavg", default="?")
    ap.add_argument("--command", default="bench/run.sh")
    ap.add_argument("--bare-cpu", default="")
    a = ap.parse_args()

    rows = defaultdict(list)  # (scenario, server) -> [result dicts]
    failures = []
    with open(a.results) as f:
        for line in f:
            r = json.loads(line)
            res = r["result"] or {}
            res["_cpu"] = r.get("cpu", {})
            rows[(r["scenario"], r["server"])].append(res)
            if r["exit"] != 0 or res.get("failures", 1) != 0:
                failures.append(r)

    def stat(scenario, server, key):
        return med([r.get(key) for r in rows.get((scenario, server), [])])

    def cpu(scenario, server, which):
        return med([r["_cpu"].get(which) for r in rows.get((scenario, server), [])])

    # The cells both tables share.
    def ratio(x, y):
        return f"{x / y:.2f}×" if x and y else "–"

    def latency(scenario, server):
        return (f"{fmt(stat(scenario, server, 'p50_ms'), 2)} / "
                f"{fmt(stat(scenario, server, 'p99_ms'), 2)}")

    def cpu_per_msg(scenario, server):
        """Median over the runs of the server core's busy time per accepted message, in ms."""
        return med([r["_cpu"]["server"] * 10 / r["msgs_per_s"]
                    for r in rows.get((scenario, server), [])
                    if r.get("msgs_per_s") and r["_cpu"].get("server") is not None])

    def busy(scenario, server):
        return (f"{fmt(cpu(scenario, server, 'server'), 0)}% / "
                f"{fmt(cpu(scenario, server, 'client'), 0)}%")

    handshakes = [float(x) for x in a.handshakes.split()] if a.handshakes else []
    bare = med(handshakes)
    cpu_model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    dirty = git(a.repo, "status", "--porcelain", "--untracked-files=no")
    out = []
    w = out.append
    w(f"# Sealpost vs Postfix — {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC\n")
    w(f"- Sealpost commit `{git(a.repo, 'rev-parse', '--short', 'HEAD')}`"
      f"{' + uncommitted changes in the working tree' if dirty else ''}, Release build; "
      f"Postfix {a.postfix_version}; {subprocess.run(['openssl', 'version'], capture_output=True, text=True).stdout.strip()}")
    w(f"- Machine: {os.cpu_count()} CPUs ({cpu_model}), Linux {platform.release()}; "
      f"servers pinned to CPU {a.server_cpu}, load generator (`sealpost bench`) to CPU "
      f"{a.client_cpu}; load average before -> after: {a.loadavg} (other work on the "
      "machine shares both cores)")
    w(f"- Command: `{a.command}`")
    w(f"- {a.runs} runs of {a.duration:g} s per cell (`--duration`), servers alternating; "
      "medians shown. Implicit TLS (TLS 1.3), ECDSA P-256 certificate, certificate verified by "
      "the client, 1 KiB body unless stated, no PIPELINING (lock-step, like smtp-source).")
    w("- Sealpost: `threads = 1`, role mx listener (no AUTH), `[queue] discard = true`: each "
      "message is spooled with fdatasync before the 250, then handed to the scheduler, which "
      "drops it and removes it from the spool. Postfix: smtps with `smtpd_tls_wrappermode=yes`, "
      "`mynetworks` relay, queue file fsynced before the 250, then delivered to `discard:`. "
      "Like for like: both accept durably, then discard.\n")
    w("| scenario | Sealpost msgs/s | Postfix msgs/s | ratio | Sealpost p50 / p99 ms | "
      "Postfix p50 / p99 ms | Sealpost conn p50 ms | Postfix conn p50 ms | CPU busy S: server / client "
      "| CPU busy P: server / client |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for key, title in SCENARIOS.items():
        if not any(k[0] == key for k in rows):
            continue
        s_rate, p_rate = stat(key, "sealpost", "msgs_per_s"), stat(key, "postfix", "msgs_per_s")
        w(f"| {title} | {fmt(s_rate)} | {fmt(p_rate)} | {ratio(s_rate, p_rate)} | "
          f"{latency(key, 'sealpost')} | {latency(key, 'postfix')} | "
          f"{fmt(stat(key, 'sealpost', 'conn_p50_ms'), 2)} | "
          f"{fmt(stat(key, 'postfix', 'conn_p50_ms'), 2)} | "
          f"{busy(key, 'sealpost')} | {busy(key, 'postfix')} |")
    w("")
    w("Server CPU per message: the pinned server core's busy time per accepted message (per "
      "run, then the median) — what each server costs whichever side sets the pace, so where "
      "the load generator's core is the limit this shows the server's own margin:\n")
    w("| scenario | Sealpost ms CPU/msg | Postfix ms CPU/msg | Postfix / Sealpost |")
    w("|---|---:|---:|---:|")
    for key, title in SCENARIOS.items():
        s_cpu, p_cpu = cpu_per_msg(key, "sealpost"), cpu_per_msg(key, "postfix")
        if s_cpu and p_cpu:
            w(f"| {title} | {fmt(s_cpu, 3)} | {fmt(p_cpu, 3)} | {ratio(p_cpu, s_cpu)} |")
    w("")
    maildir = [k for k in SCENARIOS if (k, "sealpost-maildir") in rows]
    if maildir:
        w("With Maildir delivery on (a second sealpostd, `discard = false`: spool fdatasync "
          "before the 250, then a Maildir write + fsync and the spool record retired), against "
          "the same Postfix (discarding) figures:\n")
        w("| scenario | Sealpost + Maildir msgs/s | Postfix msgs/s | ratio | p50 / p99 ms | "
          "CPU busy: server / client |")
        w("|---|---:|---:|---:|---:|---:|")
        for key in maildir:
            m_rate, p_rate = stat(key, "sealpost-maildir", "msgs_per_s"), stat(key, "postfix", "msgs_per_s")
            w(f"| {SCENARIOS[key]} | {fmt(m_rate)} | {fmt(p_rate)} | {ratio(m_rate, p_rate)} | "
              f"{latency(key, 'sealpost-maildir')} | {busy(key, 'sealpost-maildir')} |")
        w("")
    if bare is not None:
        a_rate = stat("a_conn_per_msg", "sealpost", "msgs_per_s")
        share = f" — Sealpost's (a) is {100 * a_rate / bare:.0f}% of it" if a_rate else ""
        w(f"Bare OpenSSL handshake loop (`openssl s_server` on CPU {a.server_cpu}, 4 × "
          f"`openssl s_time -new` on CPU {a.client_cpu}, same certificate, TLS 1.3): median "
          f"**{bare:,.0f} handshakes/s** (runs: {', '.join(f'{h:,.0f}' for h in handshakes)})"
          f"{share}. CPU busy per run: {a.bare_cpu or '?'}.\n")
    w("Latency: p50/p99 are per message, from sending MAIL FROM to the 250 after the data; "
      "conn is connection set-up, from connect() to the EHLO (or AUTH) reply. CPU busy is each "
      "pinned core's busy share during the run (from /proc/stat: includes anything else "
      "running on that core). A client core near 100% means the load generator, not the "
      "server, set the pace.\n")
    if failures:
        w(f"**{len(failures)} run(s) reported failures or a non-zero exit:**\n")
        for r in failures:
            w(f"- {r['server']} {r['scenario']} run {r['run']}: exit {r['exit']}, "
              f"`{json.dumps(r['result'])}`")
        w("")
    w("<details><summary>All runs</summary>\n")
    w("| scenario | server | run | msgs/s | messages | failures | p50 ms | p99 ms | conn p50 ms |"
      " resumed | CPU busy server / client |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    with open(a.results) as f:
        for line in f:
            r = json.loads(line)
            res = r["result"] or {}
            c = r.get("cpu", {})
            w(f"| {r['scenario']} | {r['server']} | {r['run']} | {fmt(res.get('msgs_per_s'))} | "
              f"{res.get('messages', '–')} | {res.get('failures', '–')} | "
              f"{fmt(res.get('p50_ms'), 2)} | {fmt(res.get('p99_ms'), 2)} | "
              f"{fmt(res.get('conn_p50_ms'), 2)} | {res.get('resumed', '–')} | "
              f"{fmt(c.get('server'), 0)}% / {fmt(c.get('client'), 0)}% |")
    w("\n</details>")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
