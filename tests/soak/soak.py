# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Soak: the setup playbook run again and again over many emulator tenants under random faults.

Each run is one ``ansible-playbook playbooks/setup.yml`` over every tenant (one host per tenant), so
``--runs 10 --tenants 20`` is 200 tenant-runs. The emulator answers a random ``--fault-rate`` share of
all Graph requests with 429 (Retry-After: 1), 503 or a dropped connection, and of all sign-in requests
(discovery and token endpoint) with 500, 503 or a dropped connection (seeded; the order in which
forks reach the emulator still varies from run to run). Writes replicate with ``--lag`` seconds of
lag. Before every run after the first, ``--lose-keys`` random tenants lose their local certificate
files (a control node without persistent storage): the role must make a new certificate, prove it
and remove the old one from the application.

After every run each tenant is checked against the emulator's state and the disk (no duplicate, no
stray object, no certificate whose key is not on disk; complete unless its run failed). At the end,
without faults: every tenant is complete and every tenant's certificate on disk signs in (msal,
directly) with Exchange.ManageAsApp in the token. The result goes to ``--report`` (Markdown).

Usage (the Makefile's ``soak`` target):
  ANSIBLE_COLLECTIONS_PATH=<build>/collections python tests/soak/soak.py --runs 10 --tenants 20 \\
      --fault-rate 0.05 --seed 20261127 --workdir build/soak --report docs/soak.md
"""

from __future__ import annotations

import argparse
import collections
import datetime
import os
import platform
import random
import secrets
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Fleet, base_env, check_tenant, installed_collection, prove_token  # noqa: E402  pylint: disable=wrong-import-position

from m365emu import Emulator  # noqa: E402  pylint: disable=wrong-import-position

GRAPH = r"^/v1\.0/"
SIGN_IN = r"(/oauth2/v2\.0/token|/\.well-known/openid-configuration)$"
PERMISSION = "Exchange.ManageAsApp"


def fault_rules(rate):
    """Three rules per kind of endpoint whose combined chance is ``rate`` (the first rule that fires wins)."""
    each = 1 - (1 - rate) ** (1 / 3)
    return [
        {"id": "graph-429", "path": GRAPH, "status": 429, "retry_after": 1, "probability": each},
        {"id": "graph-503", "path": GRAPH, "status": 503, "probability": each},
        {"id": "graph-drop", "path": GRAPH, "drop": True, "probability": each},
        {"id": "sign-in-500", "path": SIGN_IN, "status": 500, "probability": each},
        {"id": "sign-in-503", "path": SIGN_IN, "status": 503, "probability": each},
        {"id": "sign-in-drop", "path": SIGN_IN, "drop": True, "probability": each},
    ]


REPLACED_TASK = "Fail the tenants whose certificate was replaced because its key was lost"


def lose_local_files(fleet, tenant):
    directory = fleet.cert_dir(tenant)
    for path in directory.glob("m365-cba-exchange-online.*"):
        if path.suffix in (".key", ".crt", ".pfx", ".cer"):
            path.unlink()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--fault-rate", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--lag", type=float, default=1.0, help="replication lag of every write (s)")
    parser.add_argument("--lose-keys", type=int, default=1, help="tenants that lose their local files before each later run")
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--workdir", default="build/soak")
    parser.add_argument("--report", default="docs/soak.md")
    args = parser.parse_args(argv)

    collections_path = os.environ.get("ANSIBLE_COLLECTIONS_PATH")
    collection = installed_collection(collections_path)
    if collection is None:
        parser.error(f"no m365.cba below ANSIBLE_COLLECTIONS_PATH={collections_path!r}; run `make collection` first")
    ansible_playbook = Path(sys.executable).with_name("ansible-playbook")
    if not ansible_playbook.exists():
        ansible_playbook = shutil.which("ansible-playbook")
    workdir = Path(args.workdir).resolve()
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    rng = random.Random(args.seed)
    names = [f"soak{n:02d}" for n in range(1, args.tenants + 1)]
    started_at = datetime.datetime.now(datetime.timezone.utc)
    started = time.monotonic()
    load_before = os.getloadavg()

    runs, failures, lost, state_problems = [], [], [], []
    with Emulator(str(workdir / "emulator"), seed=[{"name": n} for n in names], fault_seed=args.seed,
                  replication_lag=args.lag) as emu:
        fleet = Fleet(emu, collection, ansible_playbook, workdir, secrets.token_urlsafe(18),
                      env=base_env(collections_path, str(workdir / "ansible-home")), forks=args.forks)
        emu.add_faults(fault_rules(args.fault_rate))
        for number in range(1, args.runs + 1):
            losing = sorted(rng.sample(names, args.lose_keys)) if number > 1 and args.lose_keys else []
            for tenant in losing:
                lose_local_files(fleet, tenant)
            lost.append(losing)
            emu.reset_requests()
            # A lost key fails the tenant unless its replacement is allowed; a replacement then fails the
            # run at its end on purpose, which is not a failure of the setup.
            run = fleet.run(f"run{number:02d}", names, extra_vars={"m365_cba_replace_lost_certificate": True})
            log = emu.requests()
            served = collections.Counter(entry["fault"].split(":", 1)[1] for entry in log if entry["fault"])
            replaced = {t for t in losing if [f.split(":", 1)[0] for f in run.failures(t)] == [REPLACED_TASK]}
            failed = [t for t in run.failed_hosts() if t not in replaced]
            for tenant in failed:
                failures.append({"run": number, "tenant": tenant, "messages": run.failures(tenant), "converged": None})
            for failure in failures:
                if failure["converged"] is None and failure["tenant"] not in failed and failure["run"] < number:
                    failure["converged"] = number
            problems = {}
            for tenant in names:
                check = check_tenant(emu, tenant, fleet.cert_dir(tenant), fleet.pfx_password, partial=tenant in failed)
                if check.problems:
                    problems[tenant] = check.problems
            state_problems.append(problems)
            runs.append({"number": number, "rc": run.rc, "seconds": run.seconds, "requests": len(log),
                         "faults": dict(served), "failed": failed, "lost": losing, "problems": problems,
                         "changed": sum(1 for t in names if run.recap.get(t, {}).get("changed"))})
            print(f"run {number:2d}: rc={run.rc} {run.seconds:6.1f} s, {len(log)} requests, "
                  f"{sum(served.values())} faults, failed: {failed or '-'}, lost files: {losing or '-'}, "
                  f"state problems: {problems or '-'}", flush=True)

        emu.clear_faults()
        time.sleep(args.lag + 0.5)
        final = {}
        for tenant in names:
            check = check_tenant(emu, tenant, fleet.cert_dir(tenant), fleet.pfx_password)
            roles, error = [], None
            if check.app_id:
                try:
                    roles = prove_token(emu, tenant, check.app_id, fleet.cert_dir(tenant), fleet.pfx_password)
                except AssertionError as exc:
                    error = str(exc)
            final[tenant] = {"problems": check.problems, "roles": roles, "error": error,
                             "keys": len(check.key_thumbprints)}
    wall = time.monotonic() - started
    load = (load_before, os.getloadavg())

    verified = [t for t, f in final.items() if PERMISSION in f["roles"]]
    broken = {t: f for t, f in final.items() if f["problems"] or f["error"] or PERMISSION not in f["roles"]}
    write_report(Path(args.report), args, started_at, wall, load, runs, failures, final, verified, broken)
    print(f"{len(names) * args.runs} tenant-runs in {wall:.0f} s; failed tenant-runs: {len(failures)}; "
          f"verified at the end: {len(verified)}/{len(names)}; broken: {sorted(broken) or 'none'}")
    return 1 if broken or any(f["converged"] is None and f["run"] < args.runs for f in failures) else 0


def _machine():
    cpus = os.cpu_count()
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), "")
    except OSError:
        pass
    import ansible.release  # pylint: disable=import-outside-toplevel
    import msal  # pylint: disable=import-outside-toplevel

    return (f"{platform.system()} {platform.release()}, {cpus} CPU(s) {model}, Python {platform.python_version()}, "
            f"ansible-core {ansible.release.__version__}, msal {msal.__version__}")


DUPLICATE_SIGNS = ("applications with uniqueName", "other application", "service principals for", "times",
                   "app role assignments", "directory roles")
LOST_KEY_SIGNS = ("without their private key", "missing certificate files", "not on the application", "does not belong",
                  "holds another")


def _count(final, signs):
    return sum(1 for result in final.values() if any(sign in problem for problem in result["problems"] for sign in signs))


def write_report(path, args, started_at, wall, load, runs, failures, final, verified, broken):
    tenants = len(final)
    total_faults = collections.Counter()
    for run in runs:
        total_faults.update(run["faults"])
    lines = [
        "# Soak result",
        "",
        "Written by `make soak` (tests/soak/soak.py); re-run it to refresh this file.",
        "",
        f"- Date: {started_at.strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {_machine()}; load average (1, 5, 15 min) {', '.join(f'{v:.1f}' for v in load[0])} at the start, "
        f"{', '.join(f'{v:.1f}' for v in load[1])} at the end",
        f"- Shape: {args.runs} playbook runs x {tenants} tenants = **{args.runs * tenants} tenant-runs** "
        f"(each run is one `ansible-playbook playbooks/setup.yml` over all tenants, forks={args.forks}, linear strategy)",
        f"- Faults: {args.fault_rate:.0%} of Graph requests (429 with Retry-After 1 s, 503, dropped connection, a third "
        f"each) and of sign-in requests (500, 503, dropped connection), seed {args.seed}; replication lag {args.lag:g} s "
        f"on every write; before each run after the first, {args.lose_keys} random tenant(s) lost their local "
        "certificate files",
        f"- Wall time: {wall / 60:.1f} min ({wall:.0f} s)",
        f"- Faults served: {sum(total_faults.values())} ({', '.join(f'{k}: {v}' for k, v in sorted(total_faults.items()))})",
        f"- Failed tenant-runs: {len(failures)}",
        f"- At the end: tenants with a duplicate or stray object: {_count(final, DUPLICATE_SIGNS)}, tenants with a "
        f"certificate whose key is not on disk (or a key whose certificate is not on the application): {_count(final, LOST_KEY_SIGNS)}, "
        f"tenants verified (sign-in with the certificate on disk, {PERMISSION} in the token): {len(verified)}/{tenants}",
        f"- Verdict: **{'PASS' if not broken else 'FAIL'}**",
        "",
        "## Runs",
        "",
        "| Run | rc | Wall (s) | Requests | Faults served | Tenants changed | Lost local files | Failed tenants | Problems after the run |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        problems = "; ".join(f"{t}: {', '.join(p)}" for t, p in run["problems"].items()) or "-"
        lines.append(f"| {run['number']} | {run['rc']} | {run['seconds']:.0f} | {run['requests']} | {sum(run['faults'].values())} | "
                     f"{run['changed']} | {', '.join(run['lost']) or '-'} | {', '.join(run['failed']) or '-'} | {problems} |")
    lines += ["", "## Failures in between and how they converged", ""]
    if not failures:
        lines.append("None: no tenant-run failed.")
    for failure in failures:
        converged = f"converged in run {failure['converged']}" if failure["converged"] else "did not converge within the soak"
        lines.append(f"- run {failure['run']}, {failure['tenant']}: {converged}")
        lines.extend(f"  - `{message}`" for message in failure["messages"])
    lines += ["", "## Final state", ""]
    if broken:
        for tenant, result in sorted(broken.items()):
            lines.append(f"- {tenant}: {result['problems']} {result['error'] or ''} roles={result['roles']}")
    else:
        lines.append(f"All {tenants} tenants: one application, one service principal, one {PERMISSION} consent, "
                     "Exchange Administrator once, exactly one certificate on the application and its key on disk; "
                     f"sign-in with that certificate returns a token with {PERMISSION}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
