# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark of playbooks/setup.yml against the emulator (``make bench``; not part of ``make test``).

* the wall time of a no-change re-run per tenant, as a ratio to a baseline play with the same number
  of no-op module tasks (``ansible.builtin.ping``), the role run both ways (the modules in the
  controller's worker process, the default on a local connection, and as ordinary modules with
  ``m365_cba_in_process=false``), the three interleaved, median of the repetitions, with the time
  of each task;
* Graph and token requests per tenant and per route, for a fresh and a no-change run;
* scaling: fresh and no-change runs over growing tenant counts, per-tenant wall time, the control
  node's peak memory and the emulator's share of the CPU;
* the no-change ratio again on the oldest and the newest supported ansible-core, each in the virtualenv
  of the version matrix (tests/matrix/matrix.py, made when missing).

Writes the results with the machine, versions, date and raw numbers to docs/benchmarks.md.
Usage: python tests/bench/bench.py [--scales 10,100,500] [--repeat 5] [--forks 5] [--versions oldest,newest]
                                   [--build DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "emulator"))
sys.path.insert(0, str(REPO / "tests" / "matrix"))

from m365emu import Emulator  # noqa: E402  pylint: disable=wrong-import-position

# Module tasks the role runs per tenant on a no-change re-run (organization_info, certificate,
# application, application_certificate, service_principal, app_role_assignment,
# directory_role_assignment, app_token_info, tenant_report).
MODULE_TASKS = 9
MEASURE = ("import resource, subprocess, sys\n"
           "rc = subprocess.call(sys.argv[1:])\n"
           "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
           "sys.stderr.write('@@rusage %d %f %f\\n' % (usage.ru_maxrss, usage.ru_utime, usage.ru_stime))\n"
           "sys.exit(rc)\n")


def write_inventory(emu, hosts, path, python=sys.executable):
    """An inventory of the emulator's tenants ``hosts`` (JSON is YAML)."""
    tenants = {t["name"]: t for t in emu.tenants}
    inventory = {"all": {"children": {"tenants": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": str(python),
                 "m365_cba_authority_host": emu.base_url, "m365_cba_graph_endpoint": emu.base_url,
                 "m365_cba_ca_bundle": emu.ca_bundle},
        "hosts": {name: {"m365_cba_tenant_id": tenants[name]["tenant_id"],
                         "m365_cba_client_id": tenants[name]["bootstrap"]["client_id"],
                         "m365_cba_client_certificate_path": tenants[name]["bootstrap"]["certificate_path"]}
                  for name in hosts}}}}}
    path.write_text(json.dumps(inventory))
    return path


def write_baseline(path):
    tasks = [{"name": f"No-op module task {n}", "ansible.builtin.ping": None} for n in range(MODULE_TASKS)]
    path.write_text(json.dumps([{"name": "Baseline", "hosts": "tenants", "gather_facts": False, "tasks": tasks}]))
    return path


class Runner:
    """Runs ansible-playbook of the virtualenv of ``python`` (by default this benchmark's own)."""

    def __init__(self, work, forks, python=sys.executable):
        self.work = work
        self.forks = forks
        self.python = str(python)
        self.vars_file = work / "vars.json"
        self.vars_file.write_text(json.dumps({
            "m365_cba_pfx_password": secrets.token_urlsafe(18),
            "m365_cba_certificate_dir": str(work / "certs" / "{{ inventory_hostname }}"),
            "m365_cba_token_cache_dir": str(work / "token-cache"),
        }))

    def run(self, playbook, inventory, extra_vars=None, task_times=None):
        """``(seconds, peak RSS in MiB, children CPU seconds)``; raises when the play fails. With
        ``task_times``, the wall time of each task is written there (callback_plugins/task_timer.py)."""
        env = dict(os.environ, ANSIBLE_FORKS=str(self.forks), ANSIBLE_STDOUT_CALLBACK="default")
        if task_times:
            env.update(ANSIBLE_CALLBACK_PLUGINS=str(Path(__file__).resolve().parent / "callback_plugins"),
                       ANSIBLE_CALLBACKS_ENABLED="task_timer", M365_CBA_TASK_TIMES=str(task_times))
        command = [self.python, "-c", MEASURE, str(Path(self.python).parent / "ansible-playbook"),
                   "-i", str(inventory), "-e", f"@{self.vars_file}", str(playbook)]
        for name, value in (extra_vars or {}).items():
            command += ["-e", json.dumps({name: value})]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False, cwd=self.work)
        seconds = time.perf_counter() - started
        if done.returncode:
            raise RuntimeError(f"{playbook} failed (rc {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
        line = next(x for x in done.stderr.splitlines() if x.startswith("@@rusage"))
        maxrss_kib, utime, stime = line.split()[1:]
        return seconds, int(maxrss_kib) / 1024, float(utime) + float(stime)


def per_tenant_requests(emu, tenants):
    counters = emu.counters()
    routes = {route: count / tenants for route, count in sorted(counters["routes"].items())}
    graph = sum(count for route, count in counters["routes"].items() if " /v1.0/" in route) / tenants
    tokens = sum(count for route, count in counters["routes"].items() if route.endswith("/oauth2/v2.0/token")) / tenants
    return {"graph": graph, "token": tokens, "routes": routes}


def median_task_times(files, tenants):
    """Per task (in play order), the median over the runs of its wall time per tenant."""
    runs = [json.loads(Path(f).read_text(encoding="utf-8")) for f in files]
    return [[name, statistics.median(run[index][1] for run in runs) / tenants] for index, (name, _s) in enumerate(runs[0])]


def ratio_benchmark(work, forks, tenants, repeat, python=sys.executable):
    """The no-change re-run, both ways, against the baseline, interleaved, median of ``repeat``; with the
    ansible-core of the virtualenv of ``python``."""
    work.mkdir(exist_ok=True)
    with Emulator(str(work / "emu-ratio"), tenants=tenants) as emu:
        inventory = write_inventory(emu, [t["name"] for t in emu.tenants], work / "ratio-inventory.json", python)
        (work / "ratio").mkdir()
        runner = Runner(work / "ratio", forks, python)
        emu.reset_requests()
        runner.run(REPO / "playbooks" / "setup.yml", inventory)
        fresh = per_tenant_requests(emu, tenants)
        baseline_play = write_baseline(work / "baseline.json")
        role, modules, base, role_times, module_times = [], [], [], [], []
        steady = None
        for rep in range(repeat):
            emu.reset_requests()
            role_times.append(work / f"role-times-{rep}.json")
            role.append(runner.run(REPO / "playbooks" / "setup.yml", inventory, task_times=role_times[-1])[0] / tenants)
            steady = per_tenant_requests(emu, tenants)
            module_times.append(work / f"module-times-{rep}.json")
            modules.append(runner.run(REPO / "playbooks" / "setup.yml", inventory, extra_vars={"m365_cba_in_process": False},
                                      task_times=module_times[-1])[0] / tenants)
            base.append(runner.run(baseline_play, inventory)[0] / tenants)
    return {"tenants": tenants, "role": role, "modules": modules, "baseline": base,
            "ratio": statistics.median(role) / statistics.median(base),
            "modules_ratio": statistics.median(modules) / statistics.median(base),
            "role_tasks": median_task_times(role_times, tenants), "module_tasks": median_task_times(module_times, tenants),
            "fresh_requests": fresh, "no_change_requests": steady}


def version_ratios(work, forks, tenants, repeat, only, build):
    """The no-change ratio with each ansible-core of ``only`` (names of tests/matrix/matrix.py: oldest, newest,
    2.18, ...), each in its matrix virtualenv."""
    import matrix  # pylint: disable=import-outside-toplevel

    rows = []
    for pair in matrix.select(only, Path(build).resolve())[0]:
        pair.logdir.mkdir(parents=True, exist_ok=True)
        with open(pair.logdir / "bench.log", "w", encoding="utf-8") as pair.log:
            matrix.ensure_venv(pair)
        result = ratio_benchmark(work / f"ratio-{pair.label}", forks, tenants, repeat, pair.venv / "bin" / "python")
        rows.append(dict({"ansible_core": pair.core, "python": pair.python},
                         **{key: result[key] for key in ("tenants", "role", "modules", "baseline", "ratio", "modules_ratio")}))
        print(f"ratio on ansible-core {pair.core} (Python {pair.python}) {rows[-1]['ratio']:.2f}", flush=True)
    return rows


def scaling_benchmark(work, forks, scale):
    with Emulator(str(work / f"emu-{scale}"), tenants=scale) as emu:
        inventory = write_inventory(emu, [t["name"] for t in emu.tenants], work / f"inventory-{scale}.json")
        (work / f"scale-{scale}").mkdir()
        runner = Runner(work / f"scale-{scale}", forks)
        cpu0 = time.process_time()
        fresh, fresh_rss, fresh_cpu = runner.run(REPO / "playbooks" / "setup.yml", inventory)
        emu_fresh = time.process_time() - cpu0
        cpu0 = time.process_time()
        steady, steady_rss, steady_cpu = runner.run(REPO / "playbooks" / "setup.yml", inventory)
        emu_steady = time.process_time() - cpu0
    return {"tenants": scale, "fresh_per_tenant": fresh / scale, "no_change_per_tenant": steady / scale,
            "peak_rss_mib": max(fresh_rss, steady_rss),
            "emulator_cpu_share_fresh": emu_fresh / (emu_fresh + fresh_cpu),
            "emulator_cpu_share_no_change": emu_steady / (emu_steady + steady_cpu)}


def versions():
    import ansible  # pylint: disable=import-outside-toplevel
    import msal  # pylint: disable=import-outside-toplevel

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu,
            "cores": os.cpu_count(), "python": platform.python_version(), "ansible_core": ansible.__version__,
            "msal": msal.__version__}


def _ratio_row(label, runs, baseline):
    return (f"| {label} | {statistics.median(runs):.3f} | {statistics.median(runs) / statistics.median(baseline):.2f} | "
            f"{', '.join(f'{x:.3f}' for x in runs)} |")


# Measured once, before the change it describes; the tables above are measured by every run.
HISTORY = """### What each change bought

- Before either change (2026-11-27, same machine, 10 tenants, median of 5): a no-change run cost 3.281 s per tenant
  against a 1.432 s baseline, **2.29 x**. Every module task started a Python, unpacked the module and imported
  requests (and on a token-cache miss msal) again, and the report was written with `ansible.builtin.copy`, which
  compares the file through a `stat` module first.
- Action plugins that run each module in the worker process on a local connection (`plugins/plugin_utils/_in_process.py`):
  the module, requests, msal and cryptography are imported once in the main process, before it forks the
  workers. The table above measures this change on every run: the two role rows differ only in
  `m365_cba_in_process`.
- `m365.cba.tenant_report` instead of `ansible.builtin.copy` for the report: with the other modules already in the
  worker, that task went from 0.466 s to 0.035 s per tenant (one development measurement, 10 tenants, with
  tests/bench/callback_plugins/task_timer.py; the task table above has today's figure). It was the last module
  process a no-change run started.
- Keeping that speed on every supported ansible-core (2026-11-30, this machine otherwise idle, 10 tenants, median of
  3 to 5, development measurements with tests/bench/callback_plugins/task_timer.py and a sampling profile of the
  worker processes): the role had grown steps that every tenant runs or skips (a skipped task still costs a worker
  process), and the no-change ratio had become 0.93 on 2.16 and 0.70 on 2.21. On 2.16: loading an RSA key validates
  it (about 36 ms of CPU for 2048 bits), and every Graph task loaded the bootstrap key though its token came from the
  cache, the certificate module loaded its key twice and the token proof twice; loading it only for a token request,
  once, together with including the certificate-store, lost-key and tear-down steps only when a run needs them,
  took the ratio to 0.67. ansible-core 2.16 to 2.18 template every `module_defaults` value for every task of the
  block (22 templates per task and tenant); templating them once per tenant took it to 0.58, and msal's load as the
  only one in the proof and the store's restore wrapped around the set-up (instead of two tasks every tenant skips)
  to 0.56. On 2.21, which templates `module_defaults` only for the module that uses them, the same changes took it
  from 0.70 to 0.46.
- Not done, because the numbers do not call for it: Graph `$batch` (a no-change run already reads each object once,
  8 requests per tenant, and the requests are not what the time goes to), and merging tasks (in the task table, a
  Graph task in the worker costs a few hundredths of a second per tenant, next to about one hundredth for a task that
  runs no module: merging the eight would save a fraction of the run and lose the one-module-per-step design)."""


def report(machine, ratio, scaling, forks, by_version=()):
    lines = ["# Benchmarks", "", "Measured by `make bench` (tests/bench/bench.py) against the local emulator. Raw numbers below.", "",
             f"- Date: {machine['date']}", f"- Machine: {machine['cpu']}, {machine['cores']} cores",
             f"- Python {machine['python']}, ansible-core {machine['ansible_core']}, msal {machine['msal']}, forks {forks}"]
    if machine.get("load"):
        lines.append(f"- Load average (1/5/15 min) at the start and the end: {machine['load']}; above 2 other jobs shared the 2 cores,"
                     " which slows every run and makes the ratios less steady")
    lines += ["",
              "## No-change re-run against Ansible's own floor", "",
              f"{ratio['tenants']} tenants; per-tenant wall time of `playbooks/setup.yml` when nothing changes, against a play with the"
              f" same number of no-op module tasks ({MODULE_TASKS} x `ansible.builtin.ping`), the three interleaved, median of {len(ratio['role'])}."
              " The role runs its modules in the controller's worker process on a local connection (the default), or as ordinary"
              " modules with `m365_cba_in_process=false` (how every module task ran before the action plugins).", "",
              "| | median s/tenant | ratio to the baseline | runs (s/tenant) |", "| --- | --- | --- | --- |",
              _ratio_row("setup role, no change", ratio["role"], ratio["baseline"]),
              _ratio_row("setup role, no change, as modules", ratio["modules"], ratio["baseline"]),
              _ratio_row(f"baseline ({MODULE_TASKS} x ping)", ratio["baseline"], ratio["baseline"]),
              "", f"**Ratio: {ratio['ratio']:.2f} x the baseline** (target <= 0.6; below 1.0 the run costs less than the baseline itself).", ""]
    lines += ["Median wall time of each task per tenant (all hosts of a task run in parallel with the forks):", "",
              "| task | in the worker (s/tenant) | as modules (s/tenant) |", "| --- | --- | --- |"]
    for (name, seconds), (_name, module_seconds) in zip(ratio["role_tasks"], ratio["module_tasks"]):
        lines.append(f"| {name} | {seconds:.3f} | {module_seconds:.3f} |")
    if by_version:
        lines += ["", "### On the oldest and the newest supported ansible-core", "",
                  f"The same measurement with each version in its own virtualenv (tests/matrix/matrix.py: the oldest with the lowest"
                  f" versions of msal, cryptography and requests that requirements.txt admits), {by_version[0]['tenants']}"
                  f" tenants, median of {len(by_version[0]['role'])}; target <= 0.6 on each.", "",
                  "| ansible-core | Python | setup role, no change (s/tenant) | as modules (s/tenant) | baseline (s/tenant) |"
                  " ratio | ratio as modules |", "| --- | --- | --- | --- | --- | --- | --- |"]
        for row in by_version:
            lines.append(f"| {row['ansible_core']} | {row['python']} | {statistics.median(row['role']):.3f} | "
                         f"{statistics.median(row['modules']):.3f} | {statistics.median(row['baseline']):.3f} | "
                         f"**{row['ratio']:.2f}** | {row['modules_ratio']:.2f} |")
    lines += ["", HISTORY, "",
              "## Requests per tenant", "",
              f"Fresh setup: {ratio['fresh_requests']['graph']:.1f} Graph requests, {ratio['fresh_requests']['token']:.1f} token requests.",
              f"No-change re-run: {ratio['no_change_requests']['graph']:.1f} Graph requests, {ratio['no_change_requests']['token']:.1f} token requests.",
              "", "| route | fresh | no change |", "| --- | --- | --- |"]
    routes = sorted(set(ratio["fresh_requests"]["routes"]) | set(ratio["no_change_requests"]["routes"]))
    for route in routes:
        lines.append(f"| `{route}` | {ratio['fresh_requests']['routes'].get(route, 0):.1f} | {ratio['no_change_requests']['routes'].get(route, 0):.1f} |")
    lines += ["", "## Scaling", "", "| tenants | fresh s/tenant | no-change s/tenant | control-node peak RSS (MiB) | emulator CPU share fresh / no change |",
              "| --- | --- | --- | --- | --- |"]
    for row in scaling:
        lines.append(f"| {row['tenants']} | {row['fresh_per_tenant']:.3f} | {row['no_change_per_tenant']:.3f} | {row['peak_rss_mib']:.0f} | "
                     f"{row['emulator_cpu_share_fresh']:.0%} / {row['emulator_cpu_share_no_change']:.0%} |")
    if len(scaling) > 1:
        spread = {kind: max(abs(row[f"{kind}_per_tenant"] / scaling[0][f"{kind}_per_tenant"] - 1) for row in scaling)
                  for kind in ("fresh", "no_change")}
        lines += ["", f"Per-tenant time varies by at most {spread['no_change']:.0%} (no change) and {spread['fresh']:.0%} (fresh)"
                  f" from {scaling[0]['tenants']} to {scaling[-1]['tenants']} tenants (target: within 15 %)."]
    raw = {"machine": machine, "forks": forks, "ratio": ratio, "scaling": scaling, "by_version": list(by_version)}
    lines += ["", "## Raw", "", "```json", json.dumps(raw, indent=1), "```", ""]
    return "\n".join(lines)


# tests/bench/latency.py keeps a section of its own at the end of the same file; writing ours keeps it.
LATENCY_SECTION = "<!-- latency benchmark:"


def write_report(path, text):
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    kept = old[old.index(LATENCY_SECTION):] if LATENCY_SECTION in old else ""
    path.write_text(text.rstrip("\n") + "\n" + ("\n" + kept if kept else ""), encoding="utf-8")


def rerender(path):
    """Write ``path`` again from the raw numbers it holds (after a change to the report's text only)."""
    text = Path(path).read_text(encoding="utf-8")
    raw = json.loads(text.split("```json\n", 1)[1].split("\n```", 1)[0])
    write_report(path, report(raw["machine"], raw["ratio"], raw["scaling"], raw.get("forks", 5), raw.get("by_version", ())))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="10,100,500")
    parser.add_argument("--ratio-tenants", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--forks", type=int, default=5)
    parser.add_argument("--versions", default="oldest,newest",
                        help="the ansible-core versions of tests/matrix/matrix.py to measure the ratio with too ('' for none)")
    parser.add_argument("--build", default=os.environ.get("BUILD", str(REPO / "build")), help="where the matrix keeps its virtualenvs")
    parser.add_argument("--out", default=str(REPO / "docs" / "benchmarks.md"))
    parser.add_argument("--rerender", action="store_true", help="only write --out again from the raw numbers it holds")
    args = parser.parse_args()
    if args.rerender:
        rerender(args.out)
        return
    if not os.environ.get("ANSIBLE_COLLECTIONS_PATH"):
        sys.exit("set ANSIBLE_COLLECTIONS_PATH to a directory holding ansible_collections/m365/cba (make bench does)")
    with tempfile.TemporaryDirectory(prefix="m365cba-bench-") as tmp:
        work = Path(tmp)
        load_at_start = os.getloadavg()
        ratio = ratio_benchmark(work, args.forks, args.ratio_tenants, args.repeat)
        print(f"ratio {ratio['ratio']:.2f}", flush=True)
        by_version = version_ratios(work, args.forks, args.ratio_tenants, args.repeat, args.versions, args.build) if args.versions else []
        scaling = []
        for scale in [int(s) for s in args.scales.split(",") if s]:
            scaling.append(scaling_benchmark(work, args.forks, scale))
            print(json.dumps(scaling[-1]), flush=True)
    machine = versions()
    machine["load"] = " / ".join("%.1f, %.1f, %.1f" % load for load in (load_at_start, os.getloadavg()))
    write_report(args.out, report(machine, ratio, scaling, args.forks, by_version))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
