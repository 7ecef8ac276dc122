# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hard interruption: SIGKILL the setup run at every point, then run it again.

* After each task result in turn: the ``run_probe`` callback SIGKILLs ansible-playbook and every
  process it started right after the N-th task result of the tenant (its workers call setsid(), so
  the process group alone would not reach them).
* Inside each write: the emulator holds the write request for a moment (a delay fault) and the run is
  killed while the request is inside the service; the write then lands with nobody left to read the
  answer (application upsert, keyCredentials PATCH, service principal upsert, consent, directory role
  assignment).

Each tenant is set up by a chain of runs: the run killed after task N is followed by one that redoes
tasks 1..N on what the killed run left and is killed after task N + 2 (two chains, odd and even N,
side by side), until a run is no longer killed and completes; the third chain kills one run inside
each write in turn. After every kill the tenant may lack what was not done yet but must hold no
duplicate, no stray object and no certificate whose key is not on disk; at the end it must be set up
exactly like a tenant set up in one go.
"""

from __future__ import annotations

import secrets
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "soak"))

from harness import Fleet, check_tenant, fault  # noqa: E402  pylint: disable=wrong-import-position

from m365emu import Emulator  # noqa: E402  pylint: disable=wrong-import-position

MAX_TASKS = 40  # a guard: the chains stop at the first run that completes
WRITES = ("app_upsert", "app_patch", "sp_upsert", "consent", "role_assignment")
HOLD_SECONDS = 3


def _after_kill(fleet, tenant, killed, where):
    check = check_tenant(fleet.emulator, tenant, fleet.cert_dir(tenant), fleet.pfx_password, partial=True)
    return {"where": where, "run": killed, "problems": check.problems}


def _task_chain(fleet, tenant, first):
    """Kill after task result ``first``, ``first`` + 2, ... until a run completes; returns (steps, final run)."""
    steps = []
    for n in range(first, MAX_TASKS, 2):
        run = fleet.run(f"{tenant}-kill-after-{n}", [tenant], kill_after=n)
        if run.killed_after is None:
            return steps, run
        results = run.host_results(tenant)
        steps.append(dict(_after_kill(fleet, tenant, run, f"killed after task result {n} ({results[-1]['task']!r})"),
                          n=n, results=len(results)))
    raise AssertionError(f"{tenant}: still killed after {MAX_TASKS} task results")


def _write_chain(fleet, tenant):
    """Kill a run inside each write in turn (the write lands after the kill); then a run that completes."""
    emu, steps = fleet.emulator, []
    for route in WRITES:
        (rule,) = emu.add_faults([fault(route, tenant, delay=HOLD_SECONDS, count=1)])
        launched = fleet.launch(f"{tenant}-inside-{route}", [tenant])
        deadline = time.monotonic() + 300
        held = False
        while time.monotonic() < deadline and launched.poll() is None:
            if next(r for r in emu.faults() if r["id"] == rule["id"])["applied"]:
                launched.kill()
                held = True
                break
            time.sleep(0.02)
        run = launched.wait()
        # The held request is processed after the hold, client or not: wait for it to land in the log
        # (longer than the hold on a loaded machine, but bounded).
        tenant_id = emu.tenant(tenant)["tenant_id"]
        landed, settle = [], time.monotonic() + HOLD_SECONDS + 30
        while not landed and time.monotonic() < settle:
            time.sleep(0.25)
            landed = [r for r in emu.requests() if r["tenant"] == tenant_id and r["fault"] and r["fault"].endswith(rule["id"])]
        step = _after_kill(fleet, tenant, run, f"killed inside the {route} write")
        step.update(route=route, held=held, landed=[r["status"] for r in landed])
        steps.append(step)
    return steps, fleet.run(f"{tenant}-complete", [tenant])


@pytest.fixture(scope="module")
def interrupted(ansible, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("interruption")
    chains = {"kill-odd": 1, "kill-even": 2, "kill-inside-writes": None}
    with Emulator(str(workdir / "emulator"), seed=[{"name": name} for name in chains]) as emu:
        fleet = Fleet(emu, ansible.collection_dir, ansible.ansible_playbook, workdir, secrets.token_urlsafe(18),
                      env=ansible.env, forks=1)
        with ThreadPoolExecutor(len(chains)) as pool:
            futures = {tenant: pool.submit(_write_chain, fleet, tenant) if first is None else
                       pool.submit(_task_chain, fleet, tenant, first) for tenant, first in chains.items()}
            outcome = {tenant: future.result() for tenant, future in futures.items()}
        checks = {tenant: check_tenant(emu, tenant, fleet.cert_dir(tenant), fleet.pfx_password) for tenant in chains}
        yield {"emu": emu, "outcome": outcome, "checks": checks}


def test_killed_after_each_task_result(interrupted):
    """Kill points 1 .. last, each a SIGKILL right after that task result."""
    odd, odd_final = interrupted["outcome"]["kill-odd"]
    even, even_final = interrupted["outcome"]["kill-even"]
    steps = sorted(odd + even, key=lambda step: step["n"])
    total = len(odd_final.host_results("kill-odd"))
    assert [step["n"] for step in steps] == list(range(1, total)) or [step["n"] for step in steps] == list(range(1, total + 1)), \
        f"kill points {[step['n'] for step in steps]} for {total} task results"
    problems = []
    for step in steps:
        if step["run"].rc != -9 or step["results"] != step["n"]:
            problems.append(f"{step['where']}: rc={step['run'].rc}, {step['results']} results\n{step['run'].tail(10)}")
        problems.extend(f"{step['where']}: {problem}" for problem in step["problems"])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("tenant", ["kill-odd", "kill-even"])
def test_rerun_after_task_kills_converges(interrupted, tenant):
    _steps, final = interrupted["outcome"][tenant]
    assert final.rc == 0, final.describe()
    check = interrupted["checks"][tenant]
    assert check.ok, check.problems


def test_killed_inside_each_write(interrupted):
    steps, _final = interrupted["outcome"]["kill-inside-writes"]
    problems = []
    for step in steps:
        if not step["held"] or step["run"].rc != -9:
            problems.append(f"{step['where']}: the run was not killed while the write was held (rc={step['run'].rc})")
        if not step["landed"] or step["landed"][0] is None or step["landed"][0] >= 300:
            problems.append(f"{step['where']}: the held write did not land: {step['landed']}")
        problems.extend(f"{step['where']}: {problem}" for problem in step["problems"])
    assert [step["route"] for step in steps] == list(WRITES)
    assert not problems, "\n".join(problems)


def test_rerun_after_write_kills_converges(interrupted):
    _steps, final = interrupted["outcome"]["kill-inside-writes"]
    assert final.rc == 0, final.describe()
    check = interrupted["checks"]["kill-inside-writes"]
    assert check.ok, check.problems
