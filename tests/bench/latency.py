# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark of a no-change run over many tenants with network latency (``make bench``; not part of ``make test``).

The emulator seeds ``--tenants`` tenants, ``playbooks/setup.yml`` sets them all up once (no latency; not measured
against anything), then the emulator delays every request by ``--delay`` seconds (its ``delay`` fault rule, with no
method, path or tenant: every request of the sign-in host and of Graph) and the no-change re-run is timed once per
fork count of ``--forks``, with the ``m365.cba.tenants`` stdout callback and its JSON summary. Each run must leave every
tenant verified and unchanged, and every request it made must have been delayed.

Recorded per fork count: wall time, wall time per tenant, the peak memory of the ansible-playbook process tree (the
sum over its processes of the proportional set size, PSS, and of the resident set size, RSS, sampled from /proc every
0.2 s; and the largest RSS of any one process, from getrusage as tests/bench/bench.py measures it), requests per
tenant and the lines of output. The results go into their own section of docs/benchmarks.md, between the markers
below (replaced on every run, appended when missing; tests/bench/bench.py rewrites the rest of that file, so
``make bench`` runs this after it).

Usage: python tests/bench/latency.py [--tenants 500] [--forks 5,20] [--delay 0.1] [--out FILE] [--rerender]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import MEASURE, REPO, Emulator, Runner, versions, write_inventory  # noqa: E402  pylint: disable=wrong-import-position

START = "<!-- latency benchmark: written by tests/bench/latency.py -->"
END = "<!-- end of the latency benchmark -->"
SAMPLE_EVERY = 0.2


def _descendants(root):
    """The ids of every process below ``root``."""
    children = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="utf-8") as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


def _memory_kib(pid):
    """``(PSS, RSS)`` of one process in KiB (0, 0 once it has gone)."""
    values = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="utf-8") as handle:
            for line in handle:
                key, _sep, rest = line.partition(":")
                if key in ("Pss", "Rss"):
                    values[key] = int(rest.split()[0])
    except (OSError, ValueError):
        return 0, 0
    return values.get("Pss", 0), values.get("Rss", 0)


class TreeMemory(threading.Thread):
    """Samples the summed PSS and RSS of the processes below ``root`` until stopped; keeps the peaks."""

    def __init__(self, root):
        super().__init__(daemon=True)
        self.root = root
        self.stopped = threading.Event()
        self.peak_pss = self.peak_rss = self.peak_processes = 0

    def run(self):
        while not self.stopped.is_set():
            pids = _descendants(self.root)
            pss = rss = 0
            for pid in pids:
                one_pss, one_rss = _memory_kib(pid)
                pss += one_pss
                rss += one_rss
            self.peak_pss = max(self.peak_pss, pss)
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_processes = max(self.peak_processes, len(pids))
            self.stopped.wait(SAMPLE_EVERY)


class CallbackRunner(Runner):
    """Runs ansible-playbook with the m365.cba.tenants stdout callback and its JSON summary."""

    def run_tenants(self, playbook, inventory, summary):
        env = dict(os.environ, ANSIBLE_FORKS=str(self.forks), ANSIBLE_STDOUT_CALLBACK="m365.cba.tenants",
                   M365_CBA_SUMMARY_PATH=str(summary))
        command = [self.python, "-c", MEASURE, str(Path(self.python).parent / "ansible-playbook"),
                   "-i", str(inventory), "-e", f"@{self.vars_file}", str(playbook)]
        started = time.perf_counter()
        with open(self.work / "stdout.txt", "w", encoding="utf-8") as out, \
                subprocess.Popen(command, stdout=out, stderr=subprocess.PIPE, text=True, env=env, cwd=self.work) as proc:
            sampler = TreeMemory(proc.pid)
            sampler.start()
            _out, err = proc.communicate()
            sampler.stopped.set()
            sampler.join()
        seconds = time.perf_counter() - started
        stdout = (self.work / "stdout.txt").read_text(encoding="utf-8")
        if proc.returncode:
            raise RuntimeError(f"{playbook} failed (rc {proc.returncode}):\n{stdout[-3000:]}\n{err[-2000:]}")
        maxrss_kib = int(next(x for x in err.splitlines() if x.startswith("@@rusage")).split()[1])
        return {"seconds": seconds, "peak_tree_pss_mib": sampler.peak_pss / 1024, "peak_tree_rss_mib": sampler.peak_rss / 1024,
                "peak_process_rss_mib": maxrss_kib / 1024, "peak_processes": sampler.peak_processes,
                "output_lines": len(stdout.splitlines()), "summary": json.loads(Path(summary).read_text(encoding="utf-8"))}


def latency_benchmark(work, tenants, fork_counts, delay, progress=None):
    """The fresh run, then the no-change run with latency once per fork count; ``progress(raw)`` after each."""
    with Emulator(str(work / "emu"), tenants=tenants) as emu:
        inventory = write_inventory(emu, [t["name"] for t in emu.tenants], work / "inventory.json")
        (work / "fresh").mkdir()
        setup = CallbackRunner(work / "fresh", max(fork_counts))
        fresh = setup.run_tenants(REPO / "playbooks" / "setup.yml", inventory, work / "fresh-summary.json")
        if fresh["summary"]["totals"]["changed"] != tenants:
            raise RuntimeError(f"the fresh run changed {fresh['summary']['totals']} of {tenants} tenants")
        emu.add_faults({"id": "latency", "delay": delay})
        runs = []
        raw = {"tenants": tenants, "delay": delay, "fresh_seconds": fresh["seconds"], "fresh_forks": max(fork_counts),
               "runs": runs}
        for forks in fork_counts:
            emu.reset_requests()
            applied = emu.faults()[0]["applied"]
            load = os.getloadavg()[0]
            setup.forks = forks  # the same runner: the certificate directory and PFX password of the fresh run
            result = setup.run_tenants(REPO / "playbooks" / "setup.yml", inventory, work / f"summary-{forks}.json")
            totals = result.pop("summary")["totals"]
            if totals["unchanged"] != tenants or totals["verified"] != tenants:
                raise RuntimeError(f"forks {forks}: not a verified no-change run over {tenants} tenants: {totals}")
            requests = emu.counters()["total"]
            delayed = emu.faults()[0]["applied"] - applied
            if delayed != requests:
                raise RuntimeError(f"forks {forks}: {delayed} of {requests} requests delayed")
            result.update(forks=forks, tenants=tenants, load=[load, os.getloadavg()[0]], per_tenant=result["seconds"] / tenants, totals=totals,
                          requests_per_tenant=requests / tenants)
            runs.append(result)
            print(json.dumps(result), flush=True)
            if progress:
                progress(raw)
    return raw


def _load():
    return [f"{x:.1f}" for x in os.getloadavg()]


def recommendation(raw):
    """The forks to recommend, and why, from the measured runs (and bench.py's run without latency, when known)."""
    runs = sorted(raw["runs"], key=lambda r: r["forks"])
    best = min(runs, key=lambda r: r["per_tenant"])
    pick = next(r for r in runs if r["per_tenant"] <= best["per_tenant"] * 1.1)
    first, last = runs[0], runs[-1]
    per_fork = ((last["peak_tree_pss_mib"] - first["peak_tree_pss_mib"]) / (last["forks"] - first["forks"])
                if last["forks"] != first["forks"] else 0.0)
    wait = raw["delay"] * first["requests_per_tenant"]
    lines = [f"A no-change run makes {first['requests_per_tenant']:.0f} requests per tenant, one after the other (the role's"
             f" tasks run in order for each tenant): {wait:.1f} s of waiting per tenant at {raw['delay'] * 1000:.0f} ms each."
             " Forks let the waits of different tenants overlap; the control node's CPU (here 2 cores, shared by"
             " ansible-playbook, its workers and the emulator) sets the floor."]
    floor = raw.get("no_latency")
    if floor:
        lines.append(f"Without latency the same no-change run costs {floor['per_tenant']:.3f} s per tenant ({floor['tenants']}"
                     f" tenants, forks {floor['forks']}, default callback; the scaling table above, {floor['date']}); with it, "
                     + ", ".join(f"{r['per_tenant']:.3f} s at forks {r['forks']}" for r in runs) + ".")
    if floor and best["per_tenant"] <= floor["per_tenant"] * 1.1:
        lines.append(f"So at forks {best['forks']} the {wait:.1f} s of waiting per tenant is already hidden behind the"
                     " control node's CPU work: on this machine more forks cannot make the run faster, only use more memory.")
    if len(runs) > 1:
        lines.append(f"From forks {first['forks']} to {last['forks']} the per-tenant time went from {first['per_tenant']:.3f} s to"
                     f" {last['per_tenant']:.3f} s ({abs(1 - last['per_tenant'] / first['per_tenant']) * 100:.0f} %"
                     f" {'less' if last['per_tenant'] <= first['per_tenant'] else 'more'}); the process tree's peak memory grew"
                     f" by about {per_fork:.0f} MiB (PSS) per fork, from {first['peak_tree_pss_mib']:.0f} to {last['peak_tree_pss_mib']:.0f} MiB.")
    lines.append(f"**Recommended: forks {pick['forks']}** for a 2-core control node with about {raw['delay'] * 1000:.0f} ms to"
                 f" Microsoft Graph and the sign-in host: the fewest measured forks within 10 % of the fastest (forks"
                 f" {best['forks']} of {', '.join(str(r['forks']) for r in runs)}); {pick['per_tenant']:.3f} s per tenant, so"
                 f" {pick['per_tenant'] * 500 / 60:.0f} min for 500 tenants, with {pick['peak_tree_pss_mib']:.0f} MiB of memory at the peak.")
    lines.append("With a slower network (a control node far from the tenants' region) the wait per tenant grows with the"
                 " latency, and so do the forks it takes to fill it: raise them while the control node's load average stays"
                 " below its cores and its memory has room for one more worker per fork"
                 + (f" (about {per_fork:.0f} MiB)" if per_fork > 0 else "") + "; more forks than that"
                 " only add processes competing for the same cores. Throttling does not limit the forks: Microsoft Graph's"
                 " identity limits count per application and tenant (at least 3,500 resource units per 10 s) and per"
                 " application over all tenants (150,000 per 20 s; https://learn.microsoft.com/graph/throttling-limits),"
                 f" and a no-change run asks {first['requests_per_tenant']:.0f} requests of each tenant.")
    return lines


def section(raw):
    machine = raw["machine"]
    lines = [START, "", "## Many tenants with network latency", "",
             f"Measured by `make bench` (tests/bench/latency.py) on {machine['date']}, {machine['cpu']}, {machine['cores']} cores,"
             f" Python {machine['python']}, ansible-core {machine['ansible_core']}; load average {' / '.join(raw['load_before'])}"
             f" (1 / 5 / 15 min) before and {' / '.join(raw['load_after'])} after the runs (the table has the 1-minute load"
             " average before and after each run; above 2 the 2 cores were shared with other work).", "",
             f"{raw['tenants']} tenants, set up once, then the no-change re-run of `playbooks/setup.yml` with the"
             f" `m365.cba.tenants` stdout callback while the emulator delays every request (sign-in host and Graph) by"
             f" {raw['delay'] * 1000:.0f} ms (its `delay` fault rule), once per fork count. Every run left all"
             f" {raw['tenants']} tenants verified and unchanged (the callback's JSON summary), and every request was delayed."
             " Per tenant = wall time / tenants. Peak memory of the ansible-playbook process tree: the sum of PSS (shared"
             " pages split among the processes that share them) and of RSS (shared pages counted in each) over its"
             " processes, sampled every 0.2 s; and the largest RSS of a single process (getrusage, as in the scaling table).", "",
             "| forks | wall time (s) | s/tenant | tree peak PSS (MiB) | tree peak RSS (MiB) | largest process RSS (MiB) |"
             " processes | requests/tenant | output lines | load before / after |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for run in sorted(raw["runs"], key=lambda r: r["forks"]):
        lines.append(f"| {run['forks']} | {run['seconds']:.0f} | {run['per_tenant']:.3f} | {run['peak_tree_pss_mib']:.0f} |"
                     f" {run['peak_tree_rss_mib']:.0f} | {run['peak_process_rss_mib']:.0f} | {run['peak_processes']} |"
                     f" {run['requests_per_tenant']:.1f} | {run['output_lines']} | {run['load'][0]:.1f} / {run['load'][1]:.1f} |")
    lines += ["", f"The set-up run before them (no latency, forks {raw['fresh_forks']}) took {raw['fresh_seconds']:.0f} s.", "",
              "### Forks for a real network", ""]
    lines += [f"- {line}" for line in recommendation(raw)]
    lines += ["", "Raw numbers of this section:", "", "```json", json.dumps(raw, indent=1),
              "```", "", END]
    return "\n".join(lines)


def write_section(path, raw):
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + section(raw) + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section(raw) + "\n"
    path.write_text(text, encoding="utf-8")


def no_latency(path):
    """bench.py's no-change run over the most tenants (its scaling table in ``path``), or None."""
    try:
        text = Path(path).read_text(encoding="utf-8").split(START, 1)[0]
        raw = json.loads(text.split("```json\n", 1)[1].split("\n```", 1)[0])
        largest = max(raw["scaling"], key=lambda row: row["tenants"])
        return {"tenants": largest["tenants"], "forks": raw.get("forks", 5), "per_tenant": largest["no_change_per_tenant"],
                "date": raw["machine"]["date"]}
    except (OSError, IndexError, KeyError, ValueError):
        return None


def read_section(path):
    text = Path(path).read_text(encoding="utf-8")
    part = text.split(START, 1)[1].split(END, 1)[0]
    return json.loads(part.split("```json\n", 1)[1].split("\n```", 1)[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=500)
    parser.add_argument("--forks", default="5,20", help="the fork counts to time the no-change run with")
    parser.add_argument("--delay", type=float, default=0.1, help="seconds the emulator waits before answering each request")
    parser.add_argument("--out", default=str(REPO / "docs" / "benchmarks.md"))
    parser.add_argument("--rerender", action="store_true", help="only write the section of --out again from the raw numbers it holds")
    args = parser.parse_args()
    if args.rerender:
        write_section(args.out, read_section(args.out))
        return
    if not os.environ.get("ANSIBLE_COLLECTIONS_PATH"):
        sys.exit("set ANSIBLE_COLLECTIONS_PATH to a directory holding ansible_collections/m365/cba (make bench does)")
    fork_counts = [int(f) for f in args.forks.split(",") if f]
    load_before = _load()

    def progress(raw):
        # after each fork count, so that an interrupted run keeps what it measured
        write_section(args.out, dict(raw, machine=versions(), load_before=load_before, load_after=_load(),
                                     no_latency=no_latency(args.out)))
        print(f"wrote the latency section of {args.out}", flush=True)

    with tempfile.TemporaryDirectory(prefix="m365cba-latency-") as tmp:
        latency_benchmark(Path(tmp), args.tenants, fork_counts, args.delay, progress)


if __name__ == "__main__":
    main()
