# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The modules give the same results whether the action plugins run them in the controller's worker
process (a local connection, the default) or as ordinary modules (``m365_cba_in_process: false``, as on
any other connection): the same Graph calls, the same state, the same report; and the task's
``environment`` reaches the module either way without leaking into the next task."""

from __future__ import annotations

import json

import pytest

from e2e_support import DEPLOY_TENANTS, EXCHANGE_APP, MODULE_MODE_TENANTS, LocalCertificate, TenantView

MODULES = ("organization_info", "certificate", "application", "application_certificate", "service_principal",
           "app_role_assignment", "directory_role_assignment", "app_token_info", "tenant_report")
IN_PROCESS = "running in the controller's worker process"
AS_MODULE = "running as a module (m365_cba_in_process is false)"


def _module_files_used(run):
    return {name for name in MODULES if f"ansible_collections/m365/cba/plugins/modules/{name}.py" in run.stdout}


@pytest.fixture(scope="module")
def module_mode(runner, tmp_path_factory):
    cert_root = tmp_path_factory.mktemp("module-mode-certificates")
    as_modules = {name: {"m365_cba_in_process": False} for name in MODULE_MODE_TENANTS}
    fresh = runner.run("modules-fresh", MODULE_MODE_TENANTS, cert_root, host_vars=as_modules, verbosity=3)
    reports = {name: LocalCertificate(cert_root / name).report() for name in MODULE_MODE_TENANTS}
    again_modules = runner.run("modules-again", MODULE_MODE_TENANTS, cert_root, host_vars=as_modules, verbosity=3)
    again_in_process = runner.run("in-process-again", MODULE_MODE_TENANTS, cert_root, verbosity=3)
    return {"cert_root": cert_root, "fresh": fresh, "reports": reports, "again_modules": again_modules,
            "again_in_process": again_in_process}


def test_module_mode_sets_up_every_tenant(module_mode, emulator):
    run = module_mode["fresh"]
    assert run.rc == 0, run.describe()
    assert _module_files_used(run) == set(MODULES), run.describe()
    assert AS_MODULE in run.stdout and IN_PROCESS not in run.stdout
    for name in MODULE_MODE_TENANTS:
        report = module_mode["reports"][name]
        assert report["verified"] is True, report
        assert report["thumbprint"] in TenantView.thumbprints(TenantView(emulator, name).application(EXCHANGE_APP))


def test_both_ways_make_the_same_graph_calls(module_mode, deployed, emulator):
    reference = emulator.tenant(DEPLOY_TENANTS[0])["tenant_id"]
    for name in MODULE_MODE_TENANTS:
        tenant_id = emulator.tenant(name)["tenant_id"]
        assert module_mode["fresh"].graph_routes(tenant_id) == deployed["first"].graph_routes(reference)
        assert module_mode["again_modules"].graph_routes(tenant_id) == deployed["again"].graph_routes(reference)
        assert module_mode["again_in_process"].graph_routes(tenant_id) == deployed["again"].graph_routes(reference)


def test_a_re_run_changes_nothing_either_way(module_mode):
    for key in ("again_modules", "again_in_process"):
        run = module_mode[key]
        assert run.rc == 0, run.describe()
        for name in MODULE_MODE_TENANTS:
            assert run.changed(name) == 0, (key, run.changed_tasks(name))


def test_the_default_on_a_local_connection_starts_no_module(module_mode):
    run = module_mode["again_in_process"]
    assert IN_PROCESS in run.stdout and AS_MODULE not in run.stdout
    assert _module_files_used(run) == set(), run.describe()


def test_the_report_is_the_same_either_way(module_mode):
    for name in MODULE_MODE_TENANTS:
        report = LocalCertificate(module_mode["cert_root"] / name).report()
        assert report == module_mode["reports"][name]


ENVIRONMENT_PLAY = """
- name: The task's environment reaches the module, and only that task
  hosts: tenants
  gather_facts: false
  tasks:
    - name: Read the organization with the connection given only by the environment
      m365.cba.organization_info:
      environment:
        AZURE_TENANT_ID: "{{ m365_cba_tenant_id }}"
        AZURE_CLIENT_ID: "{{ m365_cba_client_id }}"
        AZURE_CLIENT_CERTIFICATE_PATH: "{{ m365_cba_client_certificate_path }}"
        M365_CBA_AUTHORITY_HOST: "{{ m365_cba_authority_host }}"
        M365_CBA_GRAPH_ENDPOINT: "{{ m365_cba_graph_endpoint }}"
        M365_CBA_CA_BUNDLE: "{{ m365_cba_ca_bundle }}"
        M365_CBA_TOKEN_CACHE_DIR: "{{ m365_cba_token_cache_dir }}"
      register: with_environment

    - name: Read it again without the environment
      m365.cba.organization_info:
      register: without_environment
      ignore_errors: true

    - name: Record both
      ansible.builtin.copy:
        dest: "{{ m365_cba_certificate_dir }}.json"
        content: "{{ {'with': with_environment, 'without': without_environment} | to_json }}"
        mode: "0600"
"""


@pytest.mark.parametrize("in_process", [True, False], ids=["in-process", "module"])
def test_the_task_environment_reaches_the_module_and_stops_there(runner, emulator, tmp_path, in_process):
    playbook = tmp_path / "environment.yml"
    playbook.write_text(ENVIRONMENT_PLAY, encoding="utf-8")
    name = MODULE_MODE_TENANTS[0]
    host_vars = {name: {"m365_cba_in_process": in_process}}
    run = runner.run(f"environment-{'in-process' if in_process else 'module'}", [name], tmp_path,
                     host_vars=host_vars, playbook=playbook)
    assert run.rc == 0, run.describe()
    recorded = json.loads((tmp_path / f"{name}.json").read_text(encoding="utf-8"))
    assert recorded["with"]["organization"]["tenant_id"] == emulator.tenant(name)["tenant_id"]
    assert recorded["without"]["failed"] is True
    assert "tenant_id" in recorded["without"]["msg"], recorded["without"]["msg"]
