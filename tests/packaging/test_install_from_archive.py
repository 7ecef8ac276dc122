# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection as a user gets it: the archive installed with `ansible-galaxy collection install`
into a throwaway path, the only one on ANSIBLE_COLLECTIONS_PATH, its documentation listed, and its
playbooks run by their names (m365.cba.setup, m365.cba.report) against the emulator."""

from __future__ import annotations

import csv
import json
import os
import secrets
import stat

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from packaging_support import REPO, clean_env, run, tool

from m365emu import Emulator, wellknown

TENANTS = ("installed1", "installed2")
UNIQUE_NAME = "m365-cba-exchange-online"
EXCHANGE_RESOURCE = "Office 365 Exchange Online"
PERMISSION = "Exchange.ManageAsApp"
EXCHANGE_ADMINISTRATOR = next(role_id for name, role_id, _text in wellknown.DIRECTORY_ROLES if name == "Exchange Administrator")


@pytest.fixture(scope="module")
def installed(archive, tmp_path_factory):
    """The archive installed into a fresh directory; that directory is all Ansible gets to see."""
    home = tmp_path_factory.mktemp("user")
    collections = home / "collections"
    result = run([tool("ansible-galaxy"), "collection", "install", "--offline", archive, "-p", collections],
                 cwd=home, env=clean_env(ANSIBLE_COLLECTIONS_PATH=collections))
    root = collections / "ansible_collections" / "m365" / "cba"
    version = yaml.safe_load((REPO / "galaxy.yml").read_text(encoding="utf-8"))["version"]
    assert f"m365.cba:{version} was installed successfully" in result.stdout, result.stdout
    assert (root / "MANIFEST.json").is_file()
    env = clean_env(ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
                    ANSIBLE_LOCAL_TEMP=home / "ansible-tmp", ANSIBLE_FORKS=2)
    return {"home": home, "collections": collections, "root": root, "env": env}


def test_documentation_comes_from_the_installed_copy(installed, module_names):
    listed = json.loads(run([tool("ansible-doc"), "-l", "m365.cba", "--json"], cwd=installed["home"], env=installed["env"]).stdout)
    assert set(listed) == {f"m365.cba.{name}" for name in module_names}
    assert all(summary for summary in listed.values())

    files = run([tool("ansible-doc"), "-F", "m365.cba"], cwd=installed["home"], env=installed["env"]).stdout.split()
    paths = dict(zip(files[::2], files[1::2]))
    assert set(paths) == set(listed)
    for name, path in paths.items():
        assert path == str(installed["root"] / "plugins" / "modules" / (name.split(".")[-1] + ".py")), (name, path)

    roles = json.loads(run([tool("ansible-doc"), "-t", "role", "-l", "m365.cba", "--json"],
                           cwd=installed["home"], env=installed["env"]).stdout)
    assert list(roles) == ["m365.cba.setup"]


def inventory(emulator):
    hosts = {}
    for name in TENANTS:
        bootstrap = emulator.tenant(name)["bootstrap"]
        hosts[name] = {"m365_cba_tenant_id": bootstrap["tenant_id"], "m365_cba_client_id": bootstrap["client_id"],
                       "m365_cba_client_certificate_path": bootstrap["certificate_path"]}
    return {"all": {"children": {"tenants": {"hosts": hosts, "vars": {
        "ansible_connection": "local",
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "m365_cba_authority_host": emulator.base_url,
        "m365_cba_graph_endpoint": emulator.base_url,
        "m365_cba_ca_bundle": emulator.ca_bundle,
    }}}}}


def sha1_thumbprint(pem_path):
    with open(pem_path, "rb") as handle:
        return x509.load_pem_x509_certificate(handle.read()).fingerprint(hashes.SHA1()).hex().upper()


def test_playbooks_run_by_name_from_the_installed_copy(installed):
    home, env = installed["home"], installed["env"]
    with Emulator(str(home / "emulator"), seed=[{"name": name} for name in TENANTS]) as emulator:
        inventory_path = home / "hosts.json"
        inventory_path.write_text(json.dumps(inventory(emulator)), encoding="utf-8")
        vars_path = home / "vars.json"
        fd = os.open(vars_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"m365_cba_pfx_password": secrets.token_urlsafe(24),
                       "m365_cba_certificate_dir": str(home / "certificates") + "/{{ inventory_hostname }}",
                       "m365_cba_token_cache_dir": str(home / "token-cache")}, handle)

        setup = run([tool("ansible-playbook"), "-i", inventory_path, "-e", f"@{vars_path}", "m365.cba.setup"], cwd=home, env=env)
        for name in TENANTS:
            assert f"{name}: verified" in setup.stdout, setup.stdout[-4000:]

        report_dir = home / "expiry-report"
        report = run([tool("ansible-playbook"), "-i", inventory_path, "-e", f"m365_cba_report_dir={report_dir}",
                      "m365.cba.report"], cwd=home, env=env)
        assert "2 rows in" in report.stdout, report.stdout[-4000:]

        states = {name: emulator.state(tenant=name)["tenants"][0] for name in TENANTS}
        token_requests = emulator.counters()["tokens"]

    with open(report_dir / "certificate-expiry.csv", encoding="utf-8", newline="") as handle:
        rows = {row["tenant"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(TENANTS)

    for name in TENANTS:
        state = states[name]
        (app,) = [a for a in state["applications"] if a.get("uniqueName") == UNIQUE_NAME]
        (credential,) = app["keyCredentials"]
        (sp,) = [s for s in state["servicePrincipals"] if s["appId"] == app["appId"]]
        exchange = next(s for s in state["servicePrincipals"] if s["displayName"] == EXCHANGE_RESOURCE)
        role_id = next(r["id"] for r in exchange["appRoles"] if r["value"] == PERMISSION)
        assert [a for a in state["appRoleAssignments"] if a["principalId"] == sp["id"]
                and a["resourceId"] == exchange["id"] and a["appRoleId"] == role_id]
        assert [r["roleDefinitionId"] for r in state["roleAssignments"] if r["principalId"] == sp["id"]] == [EXCHANGE_ADMINISTRATOR]
        # The application signed in with its new certificate (the proof step), through the emulator.
        assert app["appId"] in token_requests[state["tenant_id"]]

        certificate_dir = home / "certificates" / name
        thumbprint = sha1_thumbprint(certificate_dir / f"{UNIQUE_NAME}.crt")
        assert credential["thumbprint_sha1"].upper() == thumbprint

        report_path = certificate_dir / f"{UNIQUE_NAME}.report.json"
        assert stat.S_IMODE(os.stat(report_path).st_mode) == 0o600
        tenant_report = json.loads(report_path.read_text(encoding="utf-8"))
        assert tenant_report["verified"] is True
        assert (tenant_report["tenant"], tenant_report["tenant_id"], tenant_report["app_id"], tenant_report["thumbprint"]) == (
            name, state["tenant_id"], app["appId"], thumbprint)
        assert PERMISSION in tenant_report["token_roles"]

        assert (rows[name]["app_id"], rows[name]["thumbprint"], rows[name]["status"]) == (app["appId"], thumbprint, "ok")
