# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The m365.cba.tenants inventory plugin end to end: ``ansible-inventory --list`` as AWX runs it for an
inventory source from a project, and the setup playbook over an inventory the plugin makes from a CSV list
of two emulator tenants (checked in the emulator's state, not in the playbook's output)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from m365emu import Emulator
from tenants_support import UNIQUE_NAME, ansible_environment, describe, extra_vars_file, run, write_tenant_list

TENANTS = ("inv1", "inv2", "inv3")


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with Emulator(str(tmp_path_factory.mktemp("emulator")), seed=[{"name": name} for name in TENANTS]) as emu:
        yield emu


def ansible_inventory(ansible_playbook):
    return str(Path(ansible_playbook).with_name("ansible-inventory"))


def test_ansible_inventory_lists_the_tenants_as_awx_imports_them(emulator, collection, ansible_playbook, tmp_path):
    source = write_tenant_list(tmp_path / "project" / "inventory", emulator, ["inv1", "inv2"],
                               overrides={"inv2": {"m365_cba_directory_roles": ["Exchange Recipient Administrator"]}})
    # What AWX sets for every inventory update (awx/main/constants.py STANDARD_INVENTORY_UPDATE_ENV).
    env = ansible_environment(collection, tmp_path, ANSIBLE_INVENTORY_UNPARSED_FAILED="True",
                              ANSIBLE_INVENTORY_EXPORT="True", ANSIBLE_VERBOSE_TO_STDERR="True")
    completed = run([ansible_inventory(ansible_playbook), "-i", source, "--list"], env, tmp_path)
    assert completed.returncode == 0, describe(completed)
    listing = json.loads(completed.stdout)
    assert sorted(listing["tenants"]["hosts"]) == ["inv1", "inv2"]
    assert listing["tenants"]["vars"]["ansible_connection"] == "local"
    assert listing["tenants"]["vars"]["ansible_python_interpreter"] == "{{ ansible_playbook_python }}"
    assert listing["tenants"]["vars"]["m365_cba_graph_endpoint"] == emulator.base_url
    assert sorted(listing["cloud_global"]["hosts"]) == ["inv1", "inv2"]
    assert sorted(listing["workload_exchange_online"]["hosts"]) == ["inv1", "inv2"]
    hostvars = listing["_meta"]["hostvars"]
    assert hostvars["inv1"]["m365_cba_tenant_id"] == emulator.tenant("inv1")["tenant_id"]
    assert hostvars["inv2"]["m365_cba_directory_roles"] == ["Exchange Recipient Administrator"]
    assert hostvars["inv1"]["m365_cba_workload"] == "exchange_online"


def test_a_bad_row_fails_the_inventory_update(emulator, collection, ansible_playbook, tmp_path):
    source = write_tenant_list(tmp_path, emulator, ["inv1"])
    with open(tmp_path / "customers.csv", "a", encoding="utf-8") as handle:
        handle.write("inv1,other.onmicrosoft.com,global,,,\n")
    env = ansible_environment(collection, tmp_path, ANSIBLE_INVENTORY_UNPARSED_FAILED="True")
    completed = run([ansible_inventory(ansible_playbook), "-i", source, "--list"], env, tmp_path)
    assert completed.returncode != 0
    assert f"{tmp_path / 'customers.csv'}: line 3: the tenant name 'inv1' is listed twice (first on line 2)" in completed.stderr


def test_setup_over_an_inventory_from_the_plugin(emulator, collection, ansible_playbook, tmp_path):
    source = write_tenant_list(tmp_path / "inventory", emulator, ["inv1", "inv2"])
    vars_file = extra_vars_file(tmp_path, tmp_path / "certificates")
    env = ansible_environment(collection, tmp_path)
    command = [ansible_playbook, "-i", source, "-e", "@" + str(vars_file), Path(collection) / "playbooks" / "setup.yml"]
    completed = run(command, env, tmp_path)
    assert completed.returncode == 0, describe(completed)

    for name in ("inv1", "inv2"):
        state = emulator.state(tenant=name)["tenants"][0]
        (app,) = [a for a in state["applications"] if a.get("uniqueName") == UNIQUE_NAME]
        (credential,) = app["keyCredentials"]
        report = json.loads((tmp_path / "certificates" / name / f"{UNIQUE_NAME}.report.json").read_text(encoding="utf-8"))
        assert report["verified"] is True
        assert report["tenant_id"] == emulator.tenant(name)["tenant_id"]
        assert report["thumbprint"] == credential["thumbprint_sha1"]
    # inv3 is not in the list: nothing was made there.
    assert [a for a in emulator.state(tenant="inv3")["tenants"][0]["applications"] if a.get("uniqueName") == UNIQUE_NAME] == []

    # Again, by group: nothing changes.
    emulator.reset_requests()
    completed = run(command + ["--limit", "cloud_global"], env, tmp_path)
    assert completed.returncode == 0, describe(completed)
    assert all(not r["method"] in ("POST", "PATCH", "DELETE") for r in emulator.requests() if r["path"].startswith("/v1.0/"))
    recap = dict(re.findall(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)", completed.stdout, re.M))
    assert recap == {"inv1": "0", "inv2": "0"}, describe(completed)


BROKEN_ROWS = "inv2,other.onmicrosoft.com,moon,,,\n,inv3.onmicrosoft.com,,,,\n"


@pytest.mark.parametrize("playbook, limit", [
    ("setup", None), ("report", None), ("bootstrap", None),
    # --limit to a host of another source: the run still stops, though the limit leaves no tenant of the list.
    ("setup", "other"),
])
def test_a_tenant_list_with_problems_fails_the_run_naming_every_problem(emulator, collection, ansible_playbook, tmp_path,
                                                                        playbook, limit):
    """ansible-playbook alone turns the list's error into a warning and runs without its tenants, exit code 0: the
    collection's playbooks stop before their first play instead, naming every problem, and change nothing."""
    inventory = tmp_path / "inventory"
    source = write_tenant_list(inventory, emulator, ["inv1", "inv2"])
    with open(inventory / "customers.csv", "a", encoding="utf-8") as handle:
        handle.write(BROKEN_ROWS)
    (inventory / "hosts.yml").write_text("tenants:\n  hosts:\n    other:\n      ansible_connection: local\n", encoding="utf-8")
    vars_file = extra_vars_file(tmp_path, tmp_path / "certificates")
    env = ansible_environment(collection, tmp_path)
    emulator.reset_requests()
    command = [ansible_playbook, "-i", inventory, "-e", "@" + str(vars_file), "-e", f"m365_cba_report_dir={tmp_path}",
               "-e", "m365_cba_home_tenant_id=inv1.onmicrosoft.com", "-e", "m365_cba_bootstrap_pfx_password=" + "x" * 16,
               f"m365.cba.{playbook}"] + (["--limit", limit] if limit else [])
    completed = run(command, env, tmp_path)
    assert completed.returncode != 0, describe(completed)
    output = completed.stdout + completed.stderr
    csv_path = inventory / "customers.csv"
    for problem in (f"{csv_path}: line 4: the tenant name 'inv2' is listed twice (first on line 3)",
                    f"{csv_path}: line 4: unknown cloud 'moon'; choose one of global, usgov_high, usgov_dod, china",
                    f"{csv_path}: line 5: no tenant name (column 'name')"):
        # Once as ansible-core's warning, once in the error that ends the run.
        assert output.count(problem) >= 2, describe(completed)
    assert "The inventory's tenant list has 3 problem(s)" in output, describe(completed)
    assert "PLAY [" not in completed.stdout, describe(completed)
    assert emulator.requests() == [] and not (tmp_path / "certificates").exists()
    assert str(source) in output
