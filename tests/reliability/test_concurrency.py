# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Two setups of the same tenant at once, and concurrent certificate generation into one directory.

* Two ``ansible-playbook`` processes, started together with the same variables, set up the same two
  tenants (one without replication lag, one with 2 s, which widens every read-then-write window).
  Afterwards: one application, one service principal, one consent, the role once; one consistent
  key / certificate / PFX / CER set on disk; the application holds exactly that certificate; and a
  third run finds nothing to change.
* Several ``m365.cba.certificate`` tasks generate into the same directory at once. The test holds the
  directory's lock until every one of them waits for it, so they really contend: exactly one
  generates, the others keep its certificate, and the set is consistent.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "soak"))

from harness import Fleet, check_tenant, fault, local_certificate, write_json  # noqa: E402  pylint: disable=wrong-import-position

from m365emu import Emulator  # noqa: E402  pylint: disable=wrong-import-position

TENANTS = {"together": 0.0, "together-lagged": 2.0}
GENERATORS = 4
HOLD_SECONDS = 5


@pytest.fixture(scope="module")
def racing(ansible, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("concurrency")
    with Emulator(str(workdir / "emulator"), seed=[{"name": name} for name in TENANTS]) as emu:
        emu.update_settings(tenant_replication_lag=TENANTS)
        # Hold the first keyCredentials write in the lagged tenant for a moment: the other run reads the
        # application meanwhile, so both write a list that lacks the other's entry.
        (hold,) = emu.add_faults([fault("app_patch", "together-lagged", delay=HOLD_SECONDS, count=1)])
        fleet = Fleet(emu, ansible.collection_dir, ansible.ansible_playbook, workdir, secrets.token_urlsafe(18),
                      env=ansible.env, forks=2)
        first = fleet.launch("first", list(TENANTS))
        second = fleet.launch("second", list(TENANTS))
        runs = [first.wait(), second.wait()]
        held = sum(rule["applied"] for rule in emu.faults() if rule["id"] == hold["id"])
        checks = {name: check_tenant(emu, name, fleet.cert_dir(name), fleet.pfx_password) for name in TENANTS}
        time.sleep(max(TENANTS.values()) + 0.5)  # let the last writes replicate
        third = fleet.run("third", list(TENANTS))
        yield {"emu": emu, "fleet": fleet, "runs": runs, "checks": checks, "third": third, "held": held}


def test_both_runs_succeed(racing):
    assert racing["held"] == 1, "the keyCredentials write was not held"
    for run in racing["runs"]:
        assert run.rc == 0, run.describe()


@pytest.mark.parametrize("tenant", sorted(TENANTS))
def test_one_of_everything_and_the_certificate_on_disk(racing, tenant):
    check = racing["checks"][tenant]
    assert check.ok, check.problems
    assert check.key_thumbprints == [check.local_thumbprint]


@pytest.mark.parametrize("tenant", sorted(TENANTS))
def test_a_later_run_changes_nothing(racing, tenant):
    third = racing["third"]
    assert third.rc == 0, third.describe()
    assert third.recap[tenant]["changed"] == 0, third.changed_tasks(tenant)


def _waiters(lock_path):
    """How many processes wait for the flock on ``lock_path`` (from /proc/locks)."""
    inode = os.stat(lock_path).st_ino
    count = 0
    with open("/proc/locks", encoding="ascii") as handle:
        for line in handle:
            fields = line.split()
            if "->" in fields and fields[fields.index("->") + 1] == "FLOCK" and fields[-3].endswith(f":{inode}"):
                count += 1
    return count


def test_concurrent_certificate_generation(ansible, tmp_path):
    directory = tmp_path / "certificates"
    directory.mkdir(mode=0o700)
    name = "m365-cba-exchange-online"
    password = secrets.token_urlsafe(18)
    lock_path = directory / f".{name}.lock"
    play = [{"name": "Generate", "hosts": "localhost", "gather_facts": False, "tasks": [{
        "name": "certificate", "m365.cba.certificate": {
            "path": str(directory), "name": name, "pfx_password": "{{ pfx_password }}", "key_size": 3072}}]}]
    playbook = write_json(tmp_path / "generate.json", play)
    inventory = ansible.localhost_inventory()
    vars_file = write_json(tmp_path / "vars.json", {"pfx_password": password}, private=True)
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    procs = []
    try:
        for index in range(GENERATORS):
            env = dict(ansible.env, ANSIBLE_RESULT_LOG=str(tmp_path / f"results-{index}.jsonl"))
            out = open(tmp_path / f"out-{index}.txt", "w", encoding="utf-8")  # pylint: disable=consider-using-with
            procs.append((out, subprocess.Popen(
                [ansible.ansible_playbook, "-i", inventory, "-e", f"@{vars_file}", playbook],
                env=env, stdout=out, stderr=out, cwd=str(tmp_path))))
        deadline = time.monotonic() + 120
        while _waiters(lock_path) < GENERATORS and time.monotonic() < deadline:
            time.sleep(0.05)
        contended = _waiters(lock_path)
    finally:
        os.close(descriptor)  # releases the lock: every generator wakes at once
    for out, proc in procs:
        proc.wait(timeout=300)
        out.close()
    assert contended == GENERATORS, f"only {contended} of {GENERATORS} generators waited for the lock"
    results = []
    for index, (_out, proc) in enumerate(procs):
        output = (tmp_path / f"out-{index}.txt").read_text(encoding="utf-8")
        assert proc.returncode == 0, output
        lines = (tmp_path / f"results-{index}.jsonl").read_text(encoding="utf-8").splitlines()
        results.append(json.loads(lines[-1])["result"])
    assert sorted(r["changed"] for r in results) == [False] * (GENERATORS - 1) + [True], results
    assert len({r["thumbprint"] for r in results}) == 1, [r["thumbprint"] for r in results]
    thumbprint, problems = local_certificate(directory, password, name)
    assert not problems, problems
    assert thumbprint == results[0]["thumbprint"]
    leftovers = sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))
    assert not leftovers, leftovers
