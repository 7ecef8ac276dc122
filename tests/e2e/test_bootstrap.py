# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The MSP path: playbooks/bootstrap.yml registers one multi-tenant bootstrap application in the home
tenant and prints the admin consent URL of every customer tenant; the setup role, signing in
everywhere with that one client ID and certificate, fails a tenant that has not consented (or lacks
a permission) before asking anything of it, and sets it up once an administrator consented."""

from __future__ import annotations

import hashlib
import re
import secrets

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

from e2e_support import EXCHANGE_APP, PlaybookRunner

from m365emu import Emulator, wellknown

HOME = "msphome"
FULL, NONE, PARTIAL = "mspcust1", "mspcust2", "mspcust3"
CUSTOMERS = (FULL, NONE, PARTIAL)
BOOTSTRAP_APP = "m365-cba-bootstrap"
# What the setup role's modules call (see _PERMISSION_BY_PATH in plugins/module_utils/_module.py).
PERMISSIONS = ["AppRoleAssignment.ReadWrite.All", "Application.ReadWrite.All", "Organization.Read.All",
               "RoleManagement.ReadWrite.Directory"]
WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")


@pytest.fixture(scope="module")
def msp_emulator(tmp_path_factory):
    with Emulator(str(tmp_path_factory.mktemp("msp-emulator")),
                  seed=[{"name": name} for name in (HOME,) + CUSTOMERS]) as emu:
        yield emu


@pytest.fixture(scope="module")
def msp_runner(msp_emulator, collection, ansible_playbook, tmp_path_factory, pfx_password):
    return PlaybookRunner(msp_emulator, collection, ansible_playbook, tmp_path_factory.mktemp("msp-runs"), pfx_password)


@pytest.fixture(scope="module")
def bootstrap_password():
    return secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def bootstrapped(msp_emulator, msp_runner, collection, tmp_path_factory, bootstrap_password):
    """bootstrap.yml run twice against the home tenant, with the customers as the inventory's tenants."""
    home = msp_emulator.tenant(HOME)["bootstrap"]
    cert_dir = tmp_path_factory.mktemp("bootstrap-certificate")
    extra = {
        "m365_cba_home_tenant_id": home["tenant_id"],
        "m365_cba_home_client_id": home["client_id"],
        "m365_cba_home_client_certificate_path": home["certificate_path"],
        "m365_cba_home_authority_host": msp_emulator.base_url,
        "m365_cba_home_graph_endpoint": msp_emulator.base_url,
        "m365_cba_home_ca_bundle": msp_emulator.ca_bundle,
        "m365_cba_bootstrap_certificate_dir": str(cert_dir),
        "m365_cba_bootstrap_pfx_password": bootstrap_password,
    }
    playbook = collection / "playbooks" / "bootstrap.yml"
    # One customer as a US Government tenant with the real sign-in host: its URL is only printed.
    sovereign = {PARTIAL: {"m365_cba_cloud": "usgov_high", "m365_cba_authority_host": ""}}
    preview = msp_runner.run("bootstrap-check", CUSTOMERS, tmp_path_factory.mktemp("unused"), extra_vars=extra,
                             playbook=playbook, host_vars=sovereign, check=True)
    preview_files = sorted(p.name for p in cert_dir.iterdir())
    first = msp_runner.run("bootstrap-first", CUSTOMERS, tmp_path_factory.mktemp("unused"), extra_vars=extra,
                           playbook=playbook, host_vars=sovereign)
    again = msp_runner.run("bootstrap-again", CUSTOMERS, tmp_path_factory.mktemp("unused"), extra_vars=extra,
                           playbook=playbook, host_vars=sovereign)
    apps = [a for a in msp_emulator.state(HOME)["tenants"][0]["applications"] if a.get("uniqueName") == BOOTSTRAP_APP]
    return {"preview": preview, "preview_files": preview_files, "first": first, "again": again, "cert_dir": cert_dir, "apps": apps,
            "pfx": cert_dir / f"{BOOTSTRAP_APP}.pfx"}


def _graph_writes(run):
    return [r for r in run.requests if r["path"].startswith("/v1.0/") and r["method"] in WRITE_METHODS]


def _customer_vars(app_id, pfx, password):
    return {name: {"m365_cba_client_id": app_id, "m365_cba_client_certificate_path": str(pfx),
                   "m365_cba_client_certificate_password": password} for name in CUSTOMERS}


def _consent_url(emu, name, app_id):
    return f"{emu.base_url}/{emu.tenant(name)['tenant_id']}/adminconsent?client_id={app_id}"


def _exchange_apps(emu, name):
    return [a for a in emu.state(name)["tenants"][0]["applications"] if a.get("uniqueName") == EXCHANGE_APP]


def test_bootstrap_registers_one_multi_tenant_app_with_exactly_the_setup_permissions(
        bootstrapped, msp_emulator, bootstrap_password):
    first, again = bootstrapped["first"], bootstrapped["again"]
    assert first.rc == 0, first.describe()
    [app] = bootstrapped["apps"]
    assert app["signInAudience"] == "AzureADMultipleOrgs"
    # One entry for Microsoft Graph (Graph refuses two for one resource) with exactly the four permissions.
    [graph] = app["requiredResourceAccess"]
    assert graph["resourceAppId"] == wellknown.GRAPH_APP_ID
    assert sorted((a["id"], a["type"]) for a in graph["resourceAccess"]) == sorted(
        (wellknown.graph_role_id(p), "Role") for p in PERMISSIONS)
    # Its one certificate is the one in the bootstrap certificate directory.
    with open(bootstrapped["pfx"], "rb") as stream:
        _key, cert, _extra = pkcs12.load_key_and_certificates(stream.read(), bootstrap_password.encode())
    [credential] = app["keyCredentials"]
    assert credential["thumbprint_sha1"].upper() == hashlib.sha1(cert.public_bytes(Encoding.DER)).hexdigest().upper()
    # Nothing is asked of the customer tenants; the home tenant is the only one written to.
    for name in CUSTOMERS:
        assert first.graph_requests(msp_emulator.tenant(name)["tenant_id"]) == []
    assert first.stats["localhost"]["changed"] >= 3
    # A second run changes nothing.
    assert again.rc == 0 and again.stats["localhost"]["changed"] == 0, again.describe()
    assert _graph_writes(again) == []


def test_bootstrap_check_mode_changes_nothing(bootstrapped):
    preview = bootstrapped["preview"]
    assert preview.rc == 0, preview.describe()
    assert preview.stats["localhost"]["changed"] >= 2
    assert _graph_writes(preview) == []
    assert bootstrapped["preview_files"] == []


def test_bootstrap_prints_each_tenants_admin_consent_url(bootstrapped, msp_emulator):
    first = bootstrapped["first"]
    app_id = bootstrapped["apps"][0]["appId"]
    for name in (FULL, NONE):
        assert f"{name}: {_consent_url(msp_emulator, name, app_id)}" in first.stdout, first.describe()
    sovereign = f"https://login.microsoftonline.us/{msp_emulator.tenant(PARTIAL)['tenant_id']}/adminconsent?client_id={app_id}"
    assert f"{PARTIAL}: {sovereign}" in first.stdout, first.describe()
    assert ", ".join(PERMISSIONS) in first.stdout


def test_setup_fails_a_tenant_without_consent_before_changing_anything_then_succeeds_after_it(
        bootstrapped, msp_emulator, msp_runner, bootstrap_password, tmp_path_factory):
    app_id = bootstrapped["apps"][0]["appId"]
    msp_emulator.admin_consent(FULL, app_id)
    msp_emulator.admin_consent(PARTIAL, app_id, [p for p in PERMISSIONS if p != "RoleManagement.ReadWrite.Directory"])
    host_vars = _customer_vars(app_id, bootstrapped["pfx"], bootstrap_password)
    cert_root = tmp_path_factory.mktemp("msp-certificates")
    extra = {"m365_cba_bootstrap_multitenant": True}

    before = msp_runner.run("setup-before-consent", CUSTOMERS, cert_root, host_vars=host_vars, extra_vars=extra)
    assert before.rc != 0
    assert before.failures(FULL) == 0, before.describe()
    assert len(_exchange_apps(msp_emulator, FULL)) == 1
    # No consent: the tenant fails naming its consent URL, and not one Graph request reached it.
    none_text = " ".join(before.messages(NONE))
    assert before.failures(NONE) == 1
    assert "Admin consent has not been given" in none_text and _consent_url(msp_emulator, NONE, app_id) in none_text
    # A consent without RoleManagement.ReadWrite.Directory: named, with the URL.
    partial_text = " ".join(before.messages(PARTIAL))
    assert before.failures(PARTIAL) == 1
    assert re.search(r"lacks the Microsoft Graph\s+application permission\(s\) RoleManagement\.ReadWrite\.Directory",
                     partial_text), partial_text
    assert _consent_url(msp_emulator, PARTIAL, app_id) in partial_text
    for name in (NONE, PARTIAL):
        tenant_id = msp_emulator.tenant(name)["tenant_id"]
        assert before.graph_requests(tenant_id) == [], before.graph_routes(tenant_id)
        assert _exchange_apps(msp_emulator, name) == []
        assert not (cert_root / name).exists()

    # The administrators accept: the same client ID and certificate now set up every tenant.
    msp_emulator.admin_consent(NONE, app_id)
    msp_emulator.admin_consent(PARTIAL, app_id)
    after = msp_runner.run("setup-after-consent", CUSTOMERS, cert_root, host_vars=host_vars, extra_vars=extra)
    assert after.rc == 0, after.describe()
    for name in CUSTOMERS:
        tenant_id = msp_emulator.tenant(name)["tenant_id"]
        assert after.failures(name) == 0
        [exchange_app] = _exchange_apps(msp_emulator, name)
        assert exchange_app["signInAudience"] == "AzureADMyOrg"
        graph_clients = {client for client, resource in after.token_requests(tenant_id) if "graph" in resource}
        assert graph_clients == {app_id}, after.token_requests(tenant_id)
    # The tenant set up by the first run is left as it is.
    assert [r for r in after.graph_requests(msp_emulator.tenant(FULL)["tenant_id"]) if r["method"] in WRITE_METHODS] == []
