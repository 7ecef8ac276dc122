# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Service principals, app role assignments, directory roles, organization, 401/403."""

import base64
import json
import time

import pytest

EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
MANAGE_AS_APP = "dc50a0fb-09a3-484d-be87-e023b12c6440"
EXCHANGE_ADMIN = "29232cdf-9323-42fd-ade2-1d097af3e4de"


@pytest.fixture
def client_app(graph):
    client = graph()
    app = client.post("/applications", {"displayName": "client", "tags": ["automation"]}).json()
    sp = client.post("/servicePrincipals", {"appId": app["appId"]}).json()
    return client, app, sp


def test_service_principal_create_and_duplicates(client_app):
    client, app, sp = client_app
    assert sp["appId"] == app["appId"] and sp["tags"] == ["automation"] and sp["displayName"] == "client"
    dup = client.post("/servicePrincipals", {"appId": app["appId"]})
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "Request_MultipleObjectsWithSameKeyValue"
    bogus = client.post("/servicePrincipals", {"appId": "6b1a2f4e-5a51-4bd8-9c1f-3a2b1c0d9e8f"})
    assert bogus.status_code == 400
    assert bogus.json()["error"]["message"] == ("The appId '6b1a2f4e-5a51-4bd8-9c1f-3a2b1c0d9e8f' of the service principal "
                                                "does not reference a valid application object.")
    found = client.get(f"/servicePrincipals?$filter=appId eq '{app['appId']}'").json()["value"]
    assert [s["id"] for s in found] == [sp["id"]]
    assert client.get(f"/servicePrincipals(appId='{app['appId']}')").json()["id"] == sp["id"]


def test_service_principal_upsert_and_patch(graph):
    client = graph()
    app = client.post("/applications", {"displayName": "upsert sp"}).json()
    path = f"/servicePrincipals(appId='{app['appId']}')"
    created = client.patch(path, {"notes": "first"}, headers={"Prefer": "create-if-missing"})
    assert created.status_code == 201 and "notes" not in created.json()  # the documented partial 201 body
    assert client.get(path).json()["notes"] == "first"
    assert client.patch(path, {"notes": "second"}, headers={"Prefer": "create-if-missing"}).status_code == 204
    assert client.patch(path, {"tags": ["x"]}).status_code == 204
    current = client.get(path).json()
    assert (current["notes"], current["tags"]) == ("second", ["x"])
    assert client.patch(path, {"appId": app["appId"], "servicePrincipalType": "Legacy"}).status_code == 400


def test_first_party_service_principals(graph):
    client = graph()
    exchange = client.get(f"/servicePrincipals(appId='{EXCHANGE_APP_ID}')?$select=id,appId,displayName,appRoles").json()
    values = {role["value"]: role["id"] for role in exchange["appRoles"]}
    assert values["Exchange.ManageAsApp"] == MANAGE_AS_APP and "Exchange.ManageAsAppV2" in values
    other = graph("tenant02").get(f"/servicePrincipals(appId='{EXCHANGE_APP_ID}')").json()
    assert other["id"] != exchange["id"]


def test_app_role_assignments(client_app):
    client, _app, sp = client_app
    exchange = client.get(f"/servicePrincipals(appId='{EXCHANGE_APP_ID}')").json()
    body = {"principalId": sp["id"], "resourceId": exchange["id"], "appRoleId": MANAGE_AS_APP}
    created = client.post(f"/servicePrincipals/{exchange['id']}/appRoleAssignedTo", body)
    assert created.status_code == 201
    assignment = created.json()
    assert assignment["principalType"] == "ServicePrincipal" and assignment["resourceDisplayName"] == "Office 365 Exchange Online"
    assert len(assignment["id"]) == 43  # opaque base64url, not a GUID
    duplicate = client.post(f"/servicePrincipals/{sp['id']}/appRoleAssignments", body)
    assert duplicate.status_code == 400
    assert duplicate.json()["error"]["message"] == "Permission being assigned already exists on the object."
    unknown_role = client.post(f"/servicePrincipals/{exchange['id']}/appRoleAssignedTo",
                               dict(body, appRoleId="6b1a2f4e-5a51-4bd8-9c1f-3a2b1c0d9e8f"))
    assert unknown_role.json()["error"]["message"] == "Permission being assigned was not found on application."
    bad_principal = client.post(f"/servicePrincipals/{exchange['id']}/appRoleAssignedTo",
                                dict(body, principalId="6b1a2f4e-5a51-4bd8-9c1f-3a2b1c0d9e8f"))
    assert bad_principal.status_code == 400 and bad_principal.json()["error"]["message"] == "Not a valid reference update."
    held = client.get(f"/servicePrincipals/{sp['id']}/appRoleAssignments?$filter=resourceId eq {exchange['id']}").json()
    assert [a["id"] for a in held["value"]] == [assignment["id"]]
    granted = client.get(f"/servicePrincipals/{exchange['id']}/appRoleAssignedTo?$filter=principalDisplayName eq 'client'")
    assert [a["appRoleId"] for a in granted.json()["value"]] == [MANAGE_AS_APP]
    assert client.delete(f"/servicePrincipals/{exchange['id']}/appRoleAssignedTo/{assignment['id']}").status_code == 204
    assert client.get(f"/servicePrincipals/{sp['id']}/appRoleAssignments").json()["value"] == []


def test_directory_role_assignments(client_app):
    client, _app, sp = client_app
    definitions = client.get("/roleManagement/directory/roleDefinitions?$filter=displayName eq 'Exchange Administrator'")
    definition = definitions.json()["value"][0]
    assert definition["id"] == definition["templateId"] == EXCHANGE_ADMIN and definition["isBuiltIn"] is True
    body = {"principalId": sp["id"], "roleDefinitionId": EXCHANGE_ADMIN, "directoryScopeId": "/"}
    created = client.post("/roleManagement/directory/roleAssignments", body)
    assert created.status_code == 201
    assignment = created.json()
    assert assignment["directoryScopeId"] == "/" and assignment["id"].endswith("-1")
    duplicate = client.post("/roleManagement/directory/roleAssignments", body)
    assert duplicate.status_code == 400 and duplicate.json()["error"]["message"].startswith("A conflicting object")
    assert client.post("/roleManagement/directory/roleAssignments",
                       {"principalId": sp["id"], "roleDefinitionId": EXCHANGE_ADMIN}).status_code == 400
    listed = client.get(f"/roleManagement/directory/roleAssignments?$filter=principalId eq '{sp['id']}'").json()["value"]
    assert [a["id"] for a in listed] == [assignment["id"]] and listed[0]["resourceScope"] == "/"
    path = f"/roleManagement/directory/roleAssignments/{assignment['id']}"
    assert client.get(path).status_code == 200
    assert client.delete(path).status_code == 204
    assert client.get(path).status_code == 404


def test_organization(emu, graph):
    client = graph()
    tenant = emu.tenant("tenant01")
    org = client.get("/organization").json()["value"][0]
    assert org["id"] == tenant["tenant_id"]
    domains = {d["name"]: (d["isInitial"], d["isDefault"]) for d in org["verifiedDomains"]}
    assert domains == {"Tenant01.Example.com": (False, True), "Tenant01.onmicrosoft.com": (True, False),
                       "Tenant01.mail.onmicrosoft.com": (False, False), "Mail.Tenant01.example.com": (False, False)}
    assert tenant["initial_domain"] == "Tenant01.onmicrosoft.com"
    single = graph("tenant02").get("/organization").json()["value"][0]["verifiedDomains"]
    assert single == [{"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": True,
                       "isInitial": True, "name": "tenant02.onmicrosoft.com", "type": "Managed"}]
    assert client.get(f"/organization/{tenant['tenant_id']}").json()["id"] == tenant["tenant_id"]


def test_missing_permission_is_403_with_request_id(emu, graph):
    emu.set_bootstrap_permissions("tenant01", ["Application.Read.All"])
    client = graph()
    assert client.get("/applications").status_code == 200
    denied = client.post("/applications", {"displayName": "nope"})
    assert denied.status_code == 403
    error = denied.json()["error"]
    assert error["code"] == "Authorization_RequestDenied"
    assert error["message"] == "Insufficient privileges to complete the operation."
    assert error["innerError"]["request-id"] == denied.headers["request-id"]
    assert client.get("/organization").status_code == 403
    assert client.get("/roleManagement/directory/roleAssignments").status_code == 403


def test_authentication_failures(emu, graph_as, raw_token):
    tenant = emu.tenant("tenant01")
    assert graph_as(emu, "").get("/applications").status_code == 401
    form = {"grant_type": "client_credentials", "client_id": tenant["bootstrap"]["client_id"],
            "client_secret": tenant["bootstrap"]["client_secret"], "scope": "https://outlook.office365.com/.default"}
    exchange_token = raw_token(tenant, form).json()["access_token"]
    wrong_audience = graph_as(emu, exchange_token).get("/applications")
    assert wrong_audience.status_code == 401
    assert wrong_audience.json()["error"]["code"] == "InvalidAuthenticationToken"
    header, payload, signature = exchange_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims.update(aud="https://graph.microsoft.com")
    forged = ".".join([header, base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("="), signature])
    assert graph_as(emu, forged).get("/applications").status_code == 401


def test_expired_graph_token(emu, graph_as, raw_token):
    emu.update_settings(token_lifetime=1)
    tenant = emu.tenant("tenant01")
    form = {"grant_type": "client_credentials", "client_id": tenant["bootstrap"]["client_id"],
            "client_secret": tenant["bootstrap"]["client_secret"], "scope": "https://graph.microsoft.com/.default"}
    token = raw_token(tenant, form).json()["access_token"]
    time.sleep(1.1)
    response = graph_as(emu, token).get("/applications")
    assert response.status_code == 401 and "expired" in response.json()["error"]["message"]


def test_unknown_segment_and_method(graph):
    client = graph()
    assert client.get("/widgets").json()["error"]["message"] == "Resource not found for the segment 'widgets'."
    assert client.request("PUT", "/applications").status_code == 405


def test_delete_service_principal_and_assignment_paths(client_app):
    client, app, sp = client_app
    exchange = client.get(f"/servicePrincipals(appId='{EXCHANGE_APP_ID}')").json()
    body = {"principalId": sp["id"], "resourceId": exchange["id"], "appRoleId": MANAGE_AS_APP}
    assignment = client.post(f"/servicePrincipals/{sp['id']}/appRoleAssignments", body).json()
    assert client.get(f"/servicePrincipals/{sp['id']}/appRoleAssignments/{assignment['id']}").status_code == 200
    assert client.delete(f"/servicePrincipals/{exchange['id']}/appRoleAssignments/{assignment['id']}").status_code == 404
    assert client.delete(f"/servicePrincipals/{sp['id']}/appRoleAssignments/{assignment['id']}").status_code == 204
    assert client.delete(f"/servicePrincipals(appId='{app['appId']}')").status_code == 204
    assert client.get(f"/servicePrincipals/{sp['id']}").status_code == 404
    assert client.get(f"/applications/{app['id']}").status_code == 200


def test_role_definitions_and_expand(client_app):
    client, _app, sp = client_app
    by_template = client.get(f"/roleManagement/directory/roleDefinitions?$filter=templateId eq '{EXCHANGE_ADMIN}'")
    assert [d["displayName"] for d in by_template.json()["value"]] == ["Exchange Administrator"]
    assert client.get(f"/roleManagement/directory/roleDefinitions/{EXCHANGE_ADMIN}").json()["isBuiltIn"] is True
    names = {d["displayName"] for d in client.get("/roleManagement/directory/roleDefinitions").json()["value"]}
    assert {"Global Reader", "Security Reader", "Compliance Administrator", "Helpdesk Administrator"} <= names
    client.post("/roleManagement/directory/roleAssignments",
                {"principalId": sp["id"], "roleDefinitionId": EXCHANGE_ADMIN, "directoryScopeId": "/"})
    expanded = client.get(f"/roleManagement/directory/roleAssignments?$filter=principalId eq '{sp['id']}'&$expand=principal")
    assert expanded.json()["value"][0]["principal"]["appId"] == sp["appId"]
    assert client.get("/applications?$expand=owners").status_code == 400
