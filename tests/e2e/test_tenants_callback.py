# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The m365.cba.tenants stdout callback on the setup playbook: three emulator tenants, one of which the
emulator refuses (a 403 on its application reads, injected through the control API), with three forks.

Checked: one line per tenant with a running count over the play's hosts, no per-task host lines, the totals,
the failed tenant with the task and the emulator's message (not "see above"), the JSON summary (compared
with the emulator's state), and the same under --limit; then the callback on the other ansible-core versions
present on the machine."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from m365emu import Emulator
from tenants_support import (UNIQUE_NAME, ansible_environment, describe, extra_vars_file, other_ansible_playbooks, run,
                             write_tenant_list)

TENANTS = ("good1", "good2", "refused")
REFUSAL = {"tenant": "refused", "method": "GET", "path": "^/v1.0/applications", "status": 403,
           "code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation."}
FAILED_TASK = "Register the application with Exchange.ManageAsApp"
COUNTED = re.compile(r"^\[(\d+)/(\d+)\] (\S+): (.*)$", re.M)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with Emulator(str(tmp_path_factory.mktemp("emulator")), seed=[{"name": name} for name in TENANTS]) as emu:
        emu.add_faults([REFUSAL])
        yield emu


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, emulator):
    folder = tmp_path_factory.mktemp("callback")
    write_tenant_list(folder / "inventory", emulator, list(TENANTS))
    return folder


def run_setup(collection, ansible_playbook, workdir, name, *args):
    summary = workdir / f"{name}.summary.json"
    env = ansible_environment(collection, workdir, ANSIBLE_STDOUT_CALLBACK="m365.cba.tenants",
                              M365_CBA_SUMMARY_PATH=summary)
    command = [ansible_playbook, "-i", workdir / "inventory" / "customers.tenants.yml",
               "-e", "@" + str(extra_vars_file(workdir, workdir / "certificates")),
               Path(collection) / "playbooks" / "setup.yml", *args]
    completed = run(command, env, workdir)
    document = json.loads(summary.read_text(encoding="utf-8")) if summary.exists() else None
    return completed, document


def application(emulator, tenant):
    state = emulator.state(tenant=tenant)["tenants"][0]
    found = [a for a in state["applications"] if a.get("uniqueName") == UNIQUE_NAME]
    return found[0] if found else None


@pytest.fixture(scope="module")
def first(emulator, collection, ansible_playbook, workdir):
    return run_setup(collection, ansible_playbook, workdir, "first")


def test_one_line_per_tenant_with_a_running_count(first):
    completed, dummy = first
    assert completed.returncode == 2, describe(completed)  # a failed host: ansible-playbook's exit code 2
    lines = COUNTED.findall(completed.stdout)
    assert sorted(int(index) for index, dummy, dummy, dummy in lines) == [1, 2, 3]
    assert {total for dummy, total, dummy, dummy in lines} == {"3"}
    outcomes = {host: outcome for dummy, dummy, host, outcome in lines}
    assert sorted(outcomes) == sorted(TENANTS)
    assert re.fullmatch(r"verified, changed \(\d+ tasks\)", outcomes["good1"]), outcomes
    assert re.fullmatch(r"verified, changed \(\d+ tasks\)", outcomes["good2"]), outcomes
    assert outcomes["refused"].startswith(f"FAILED at '{FAILED_TASK}': ")
    assert "HTTP 403 Authorization_RequestDenied: Insufficient privileges to complete the operation." in outcomes["refused"]
    # No per-task host lines of the default callback, no PLAY RECAP.
    assert not re.search(r"^(ok|changed|fatal|skipping): \[", completed.stdout, re.M)
    assert "PLAY RECAP" not in completed.stdout


def test_totals_and_the_failed_tenant_with_task_and_message(first):
    completed, dummy = first
    assert "tenants 3 | verified 2 | changed 2 | unchanged 0 | failed 1 | skipped 0" in completed.stdout
    tail = completed.stdout[completed.stdout.index("Failed tenants (1):"):]
    failed_line = tail.splitlines()[1]
    assert failed_line.startswith(f"  refused: task '{FAILED_TASK}': GET /v1.0/applications(uniqueName='{UNIQUE_NAME}'): "
                                  "HTTP 403 Authorization_RequestDenied: Insufficient privileges to complete the operation.")
    assert "see the errors above" not in tail


def test_json_summary_matches_the_emulator(first, emulator):
    completed, document = first
    assert document is not None, describe(completed)
    assert document["totals"] == {"tenants": 3, "verified": 2, "changed": 2, "unchanged": 0, "failed": 1, "skipped": 0}
    assert document["limit"] is None and document["check_mode"] is False
    assert sorted(document["tenants"]) == sorted(TENANTS)
    for name in ("good1", "good2"):
        entry = document["tenants"][name]
        app = application(emulator, name)
        (credential,) = app["keyCredentials"]
        assert entry["status"] == "changed" and entry["verified"] is True
        assert entry["result"]["app_id"] == app["appId"]
        assert entry["result"]["thumbprint"] == credential["thumbprint_sha1"]
        assert entry["result"]["tenant_id"] == emulator.tenant(name)["tenant_id"]
        assert entry["failed_task"] is None and entry["message"] is None
    refused = document["tenants"]["refused"]
    assert application(emulator, "refused") is None
    assert refused["status"] == "failed" and refused["verified"] is None
    assert refused["failed_task"] == FAILED_TASK
    assert "Insufficient privileges to complete the operation." in refused["message"]
    assert refused["line"] == f"refused: FAILED at '{FAILED_TASK}': {refused['message']}"
    assert sorted(entry["count"] for entry in document["tenants"].values()) == [1, 2, 3]


def test_limit_counts_only_the_limited_tenants(first, collection, ansible_playbook, workdir):
    completed, document = run_setup(collection, ansible_playbook, workdir, "limited", "--limit", "good2,refused")
    assert completed.returncode == 2, describe(completed)
    lines = COUNTED.findall(completed.stdout)
    assert sorted((host, total) for dummy, total, host, dummy in lines) == [("good2", "2"), ("refused", "2")]
    assert sorted(index for index, dummy, dummy, dummy in lines) == ["1", "2"]
    outcomes = {host: outcome for dummy, dummy, host, outcome in lines}
    assert outcomes["good2"] == "verified, no change"
    assert "good1" not in completed.stdout
    assert "tenants 2 | verified 1 | changed 0 | unchanged 1 | failed 1 | skipped 0" in completed.stdout
    assert sorted(document["tenants"]) == ["good2", "refused"]
    assert document["limit"] == "good2,refused"
    assert document["totals"]["tenants"] == 2


@pytest.mark.parametrize("label", sorted(other_ansible_playbooks()) or ["none"])
def test_the_callback_on_other_ansible_core_versions(first, collection, workdir, label):
    playbooks = other_ansible_playbooks()
    if label not in playbooks:
        pytest.skip("no other ansible-core version on this machine")
    completed, document = run_setup(collection, playbooks[label], workdir, f"other-{label}", "--limit", "good1,refused")
    assert completed.returncode == 2, describe(completed)
    outcomes = {host: (total, outcome) for dummy, total, host, outcome in COUNTED.findall(completed.stdout)}
    assert outcomes["good1"][0] == outcomes["refused"][0] == "2", describe(completed)
    assert outcomes["good1"][1].startswith("verified, ")
    assert outcomes["refused"][1].startswith(f"FAILED at '{FAILED_TASK}': ")
    assert "| failed 1 |" in completed.stdout
    assert document["tenants"]["refused"]["failed_task"] == FAILED_TASK
    assert document["totals"]["tenants"] == 2


RESCUE_PLAYBOOK = """\
- name: Tenants of every kind
  hosts: tenants
  gather_facts: false
  serial: 2
  tasks:
    - name: Change something on alpha
      ansible.builtin.debug:
        msg: working
      changed_when: inventory_hostname == 'alpha'
      when: inventory_hostname != 'delta'

    - name: A block whose failure is rescued
      when: inventory_hostname in ['bravo', 'charlie']
      block:
        - name: Fail first
          ansible.builtin.fail:
            msg: the first failure, rescued
      rescue:
        - name: Rescue it
          ansible.builtin.debug:
            msg: rescued

    - name: Fail charlie for good
      ansible.builtin.fail:
        msg: the failure that counts
      when: inventory_hostname == 'charlie'
"""


def test_rescue_skipped_and_serial_batches(collection, tmp_path):
    """Without the emulator: a changed, a rescued, a rescued-then-failed and an all-skipped host, in serial batches
    of two (the count runs on across the batches of one play)."""
    hosts = {name: {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
             for name in ("alpha", "bravo", "charlie", "delta")}
    (tmp_path / "inventory.json").write_text(json.dumps({"all": {"children": {"tenants": {"hosts": hosts}}}}), encoding="utf-8")
    (tmp_path / "play.yml").write_text(RESCUE_PLAYBOOK, encoding="utf-8")
    summary = tmp_path / "summary.json"
    env = ansible_environment(collection, tmp_path, ANSIBLE_STDOUT_CALLBACK="m365.cba.tenants", M365_CBA_SUMMARY_PATH=summary,
                              M365_CBA_SHOW_TASKS="false")
    completed = run([Path(sys.executable).with_name("ansible-playbook"), "-i", tmp_path / "inventory.json",
                     tmp_path / "play.yml"], env, tmp_path)
    assert completed.returncode == 2, describe(completed)
    lines = COUNTED.findall(completed.stdout)
    assert sorted((int(index), total) for index, total, dummy, dummy in lines) == [(1, "4"), (2, "4"), (3, "4"), (4, "4")]
    outcomes = {host: outcome for dummy, dummy, host, outcome in lines}
    assert outcomes["alpha"] == "ok, changed (1 task)"
    assert outcomes["delta"] == "skipped"
    # alpha's line comes as its batch (alpha, bravo) ends, before the second batch's first failure.
    assert completed.stdout.index("alpha: ok, changed") < completed.stdout.index("charlie: FAILED at 'Fail first'")
    # The first failure of bravo and charlie is printed as it happens; the totals count them by how they ended.
    # No tenant ran the setup role: the totals count no verified tenants.
    assert "tenants 4 | changed 1 | unchanged 1 | failed 1 | skipped 1" in completed.stdout
    assert "  charlie: task 'Fail charlie for good': the failure that counts" in completed.stdout
    document = json.loads(summary.read_text(encoding="utf-8"))
    assert {name: entry["status"] for name, entry in document["tenants"].items()} == {
        "alpha": "changed", "bravo": "unchanged", "charlie": "failed", "delta": "skipped"}
    assert document["tenants"]["charlie"]["message"] == "the failure that counts"
    assert document["tenants"]["bravo"]["message"] is None
    assert document["totals"]["verified"] is None
    assert oct(summary.stat().st_mode & 0o777) == "0o600"
