# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The multi-tenant bootstrap application: its permissions (least privilege for what the setup role
calls) and the admin consent URL per cloud."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.m365.cba.plugins.filter.bootstrap_permissions import FilterModule as PermissionsFilter
from ansible_collections.m365.cba.plugins.filter.consent_url import FilterModule as ConsentFilter
from ansible_collections.m365.cba.plugins.module_utils._applications import creation_body
from ansible_collections.m365.cba.plugins.module_utils._bootstrap import BOOTSTRAP_PERMISSIONS, consent_url, permission_status

COLLECTION = Path(__file__).resolve().parents[4]
APP = "3f2a8c71-0c5e-4c1e-9a53-0a4b2b1e6f10"


def test_the_permissions_are_exactly_the_four_the_setup_role_needs():
    assert BOOTSTRAP_PERMISSIONS == ("AppRoleAssignment.ReadWrite.All", "Application.ReadWrite.All",
                                     "Organization.Read.All", "RoleManagement.ReadWrite.Directory")


def test_every_graph_module_of_the_role_needs_only_bootstrap_permissions():
    """Each Graph module the role calls documents the least permission it needs; all are requested."""
    used = set()
    for tasks in (COLLECTION / "roles" / "setup" / "tasks").glob("*.yml"):
        used.update(re.findall(r"^\s+m365\.cba\.([a-z_]+):", tasks.read_text(encoding="utf-8"), re.M))
    needed = set()
    for module in sorted(used):
        text = (COLLECTION / "plugins" / "modules" / f"{module}.py").read_text(encoding="utf-8")
        note = re.search(r"Needs the Microsoft Graph application permissions? (C\([^)]*\)(?: and\s+C\([^)]*\))?)", text)
        if note:
            needed.update(re.findall(r"C\(([^)]*)\)", note.group(1)))
    assert {"application", "service_principal", "app_role_assignment", "directory_role_assignment",
            "organization_info"} <= used
    # Application.Read.All (application_info) is implied by Application.ReadWrite.All.
    assert needed - {"Application.Read.All"} <= set(BOOTSTRAP_PERMISSIONS)
    assert set(BOOTSTRAP_PERMISSIONS) <= needed


def test_permission_status():
    status = permission_status(["Organization.Read.All", "User.Read.All", "Application.ReadWrite.All"])
    assert status["missing"] == ["AppRoleAssignment.ReadWrite.All", "RoleManagement.ReadWrite.Directory"]
    assert status["extra"] == ["User.Read.All"]
    assert permission_status(list(BOOTSTRAP_PERMISSIONS))["missing"] == []
    assert PermissionsFilter().filters()["bootstrap_permissions"]([])["required"] == list(BOOTSTRAP_PERMISSIONS)
    with pytest.raises(AnsibleFilterError, match="list of permission names"):
        PermissionsFilter().filters()["bootstrap_permissions"]("Organization.Read.All")


@pytest.mark.parametrize("cloud, host", [
    (None, "https://login.microsoftonline.com"),
    ("global", "https://login.microsoftonline.com"),
    ("usgov_high", "https://login.microsoftonline.us"),
    ("usgov_dod", "https://login.microsoftonline.us"),
    ("china", "https://login.chinacloudapi.cn"),
])
def test_consent_url_per_cloud(cloud, host):
    assert consent_url("contoso.onmicrosoft.com", APP, cloud=cloud) == \
        f"{host}/contoso.onmicrosoft.com/adminconsent?client_id={APP}"


def test_consent_url_with_an_authority_host_and_bad_input():
    assert consent_url("t1", APP, authority_host="https://127.0.0.1:8443/") == \
        f"https://127.0.0.1:8443/t1/adminconsent?client_id={APP}"
    url = ConsentFilter().filters()["consent_url"]
    with pytest.raises(AnsibleFilterError, match="unknown cloud"):
        url("t1", APP, cloud="mars")
    with pytest.raises(AnsibleFilterError, match="client_id is required"):
        url("t1", "")
    with pytest.raises(AnsibleFilterError, match="tenant"):
        url(" ", APP)


def test_a_new_application_requests_each_resources_permissions_in_one_entry():
    """Graph refuses two requiredResourceAccess entries for one resourceAppId (DuplicateValue)."""
    graph = "00000003-0000-0000-c000-000000000000"
    wanted = {"displayName": "bootstrap", "signInAudience": "AzureADMultipleOrgs", "requiredResourceAccess": [
        {"resourceAppId": graph, "resourceAccess": [{"id": "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9", "type": "Role"}]},
        {"resourceAppId": graph, "resourceAccess": [{"id": "498476ce-e0fe-48b0-b801-37ba7e2685c6", "type": "Role"}]},
    ]}
    assert creation_body("bootstrap", wanted)["requiredResourceAccess"] == [{"resourceAppId": graph, "resourceAccess": [
        {"id": "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9", "type": "Role"},
        {"id": "498476ce-e0fe-48b0-b801-37ba7e2685c6", "type": "Role"}]}]
