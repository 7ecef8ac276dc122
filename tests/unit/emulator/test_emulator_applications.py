# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Graph /applications behaviours: paging, upsert, whole-collection PATCH, keyCredentials, validation."""

import base64
import datetime

import pytest
from cryptography.hazmat.primitives import hashes, serialization

CONSISTENCY = {"ConsistencyLevel": "eventual"}


def der_b64(cert):
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def pem_b64(cert):
    return base64.b64encode(cert.public_bytes(serialization.Encoding.PEM)).decode()


def key_credential(cert, **extra):
    item = {"type": "AsymmetricX509Cert", "usage": "Verify", "key": der_b64(cert)}
    item.update(extra)
    return item


def test_create_get_and_error_shape(graph):
    client = graph()
    created = client.post("/applications", {"displayName": "demo", "signInAudience": "AzureADMyOrg"})
    assert created.status_code == 201
    app = created.json()
    assert app["@odata.context"].endswith("/v1.0/$metadata#applications/$entity")
    assert app["uniqueName"] is None and app["publisherDomain"] == "Tenant01.onmicrosoft.com"
    for path in (f"/applications/{app['id']}", f"/applications(appId='{app['appId']}')"):
        assert client.get(path).json()["id"] == app["id"]
    missing = client.get("/applications/6b1a2f4e-5a51-4bd8-9c1f-3a2b1c0d9e8f", headers={"client-request-id": "abc-1"})
    assert missing.status_code == 404
    error = missing.json()["error"]
    assert error["code"] == "Request_ResourceNotFound"
    assert error["message"] == ("Resource '6b1a2f4e-5a51-4bd8-9c1f-3a2b1c0d9e8f' does not exist or one of its queried "
                                "reference-property objects are not present.")
    assert error["innerError"]["client-request-id"] == "abc-1" == missing.headers["client-request-id"]
    assert error["innerError"]["request-id"] == missing.headers["request-id"]


def test_paging_over_pages_with_next_link(graph):
    client = graph()
    for index in range(7):
        assert client.post("/applications", {"displayName": f"paged-{index}"}).status_code == 201
    url, names, pages = "/applications?$top=3&$filter=startswith(displayName,'paged-')&$select=id,displayName", [], 0
    while url:
        body = client.get(url).json()
        pages += 1
        names += [item["displayName"] for item in body["value"]]
        assert set(body["value"][0]) == {"id", "displayName"}
        url = body.get("@odata.nextLink")
        if url:
            assert "$skiptoken=" in url and "$top=3" in url and "$select=id,displayName" in url
    assert pages == 3 and sorted(names) == [f"paged-{i}" for i in range(7)]


def test_filters_and_advanced_query_rules(graph):
    client = graph()
    app = client.post("/applications", {"displayName": "Filter Me"}).json()
    assert len(client.get("/applications?$filter=displayName eq 'filter me'").json()["value"]) == 1
    assert client.get(f"/applications?$filter=appId eq '{app['appId']}'").json()["value"][0]["id"] == app["id"]
    assert client.get(f"/applications?$filter=id eq '{app['id']}'").json()["value"][0]["id"] == app["id"]
    count = client.get("/applications?$count=true")
    assert (count.status_code, count.json()["error"]["message"]) == (400, "$count is not currently supported.")
    search = client.get('/applications?$search="displayName:Filter"')
    assert search.status_code == 400 and search.json()["error"]["code"] == "Request_UnsupportedQuery"
    ends = client.get("/applications?$filter=endsWith(displayName,'Me')")
    assert ends.status_code == 400 and ends.json()["error"]["message"].startswith("Operator 'endsWith' is not supported")
    assert client.get("/applications?$filter=displayName ne 'x'").status_code == 400
    advanced = client.get("/applications?$filter=endsWith(displayName,'Me')&$count=true", headers=CONSISTENCY).json()
    assert advanced["@odata.count"] == 1
    assert client.get('/applications?$search="displayName:filter"', headers=CONSISTENCY).json()["value"]
    assert client.get("/applications?$top=1000").status_code == 400
    unknown = client.get("/applications?$filter=colour eq 'red'")
    assert unknown.status_code == 400 and "Could not find a property named 'colour'" in unknown.json()["error"]["message"]


def test_upsert_by_unique_name(graph):
    client = graph()
    path = "/applications(uniqueName='m365-cba-automation')"
    body = {"displayName": "automation", "signInAudience": "AzureADMyOrg"}
    assert client.patch(path, body).status_code == 404
    first = client.patch(path, body, headers={"Prefer": "create-if-missing"})
    assert first.status_code == 201 and first.json()["uniqueName"] == "m365-cba-automation"
    second = client.patch(path, dict(body, notes="again"), headers={"Prefer": "create-if-missing"})
    assert second.status_code == 204 and not second.content
    listed = client.get("/applications?$filter=displayName eq 'automation'").json()["value"]
    assert len(listed) == 1 and listed[0]["notes"] == "again"
    assert client.get(path).json()["id"] == first.json()["id"]
    no_name = client.patch("/applications(uniqueName='other')", {"notes": "x"}, headers={"Prefer": "create-if-missing"})
    assert no_name.status_code == 400
    assert client.post("/applications", {"displayName": "x", "uniqueName": "y"}).status_code == 400


def test_patch_keeps_omitted_and_replaces_collections(graph):
    client = graph()
    body = {"displayName": "collections", "tags": ["a", "b"], "notes": "n", "web": {"redirectUris": ["https://localhost/one"]}}
    app = client.post("/applications", body).json()
    path = f"/applications/{app['id']}"
    assert client.patch(path, {"tags": ["c"], "web": {"logoutUrl": "https://localhost/out"}}).status_code == 204
    current = client.get(path).json()
    assert current["tags"] == ["c"] and current["notes"] == "n"
    assert current["web"]["redirectUris"] == ["https://localhost/one"] and current["web"]["logoutUrl"] == "https://localhost/out"


@pytest.mark.parametrize("body, fragment", [
    ({"displayName": "x", "colour": "red"}, "The property 'colour' does not exist on type 'microsoft.graph.application'"),
    ({"displayName": "x", "tags": ["has space"]}, "Invalid value specified for property 'tags'"),
    ({"displayName": "x", "tags": ["dup", "dup"]}, "Invalid value specified for property 'tags'"),
    ({"displayName": "x" * 121, "signInAudience": "AzureADMyOrg"}, "Invalid value specified for property 'displayName'"),
    ({"displayName": "x", "signInAudience": "Everyone"}, "Invalid value specified for property 'signInAudience'"),
    ({"displayName": "x", "appId": "6b1a2f4e-5a51-4bd8-9c1f-3a2b1c0d9e8f"}, "read-only"),
    ({"displayName": "x", "passwordCredentials": []}, "read-only"),
    ({"notes": "no display name"}, "displayName"),
])
def test_application_validation(graph, body, fragment):
    response = graph().post("/applications", body)
    assert response.status_code == 400 and fragment in response.json()["error"]["message"]


def test_key_credentials_lifecycle(graph, new_certificate):
    client = graph()
    _key1, _pem1, cert1 = new_certificate("one")
    _key2, _pem2, cert2 = new_certificate("two")
    app = client.post("/applications", {"displayName": "keys", "keyCredentials": [key_credential(cert1)]}).json()
    path = f"/applications/{app['id']}"
    listed = client.get(path).json()["keyCredentials"]
    assert len(listed) == 1 and listed[0]["key"] is None and listed[0]["displayName"] == "CN=one"
    # Edm.Binary: the default thumbprint is the 20 hash bytes, base64 on the wire
    assert listed[0]["customKeyIdentifier"] == base64.b64encode(cert1.fingerprint(hashes.SHA1())).decode()
    # re-send the stored entry as read (key null) plus a new one given as base64 PEM
    assert client.patch(path, {"keyCredentials": listed + [{"type": "AsymmetricX509Cert", "usage": "Verify",
                                                            "key": pem_b64(cert2)}]}).status_code == 204
    selected = client.get(f"{path}?$select=id,keyCredentials").json()
    assert [c["key"] for c in selected["keyCredentials"]] == [der_b64(cert1), der_b64(cert2)]
    in_list = client.get(f"/applications?$filter=id eq '{app['id']}'&$select=id,keyCredentials").json()["value"][0]
    assert [c["key"] for c in in_list["keyCredentials"]] == [der_b64(cert1), der_b64(cert2)]
    unselected = client.get(f"/applications?$filter=id eq '{app['id']}'").json()["value"][0]
    assert all(c["key"] is None for c in unselected["keyCredentials"])
    changed = dict(listed[0], key=der_b64(cert2))
    rejected = client.patch(path, {"keyCredentials": [changed]})
    assert rejected.status_code == 400
    assert rejected.json()["error"]["message"] == f"Update to existing credential with KeyId '{listed[0]['keyId']}' is not allowed."
    assert client.patch(path, {"keyCredentials": [listed[0]]}).status_code == 204
    assert len(client.get(path).json()["keyCredentials"]) == 1  # whole collection replaced


@pytest.mark.parametrize("extra, message", [
    ({"usage": "Encrypt"}, 'The value for the property "usage" in one of your credentials is invalid. Acceptable values are Sign, Verify.'),
    ({"key": base64.b64encode(b"not a certificate").decode()}, "Invalid certificate: Key value is invalid certificate"),
    ({"endDateTime": "2099-01-01T00:00:00Z"}, "Key credential end date is invalid."),
])
def test_key_credential_validation(graph, new_certificate, extra, message):
    _key, _pem, cert = new_certificate()
    response = graph().post("/applications", {"displayName": "bad key", "keyCredentials": [key_credential(cert, **extra)]})
    assert response.status_code == 400 and response.json()["error"]["message"] == message


def test_delete_is_soft_and_keeps_service_principal(emu, graph):
    client = graph()
    app = client.post("/applications", {"displayName": "to delete"}).json()
    sp = client.post("/servicePrincipals", {"appId": app["appId"]}).json()
    assert client.delete(f"/applications/{app['id']}").status_code == 204
    assert client.get(f"/applications/{app['id']}").status_code == 404
    assert client.get(f"/servicePrincipals/{sp['id']}").status_code == 200
    deleted = emu.state("tenant01")["tenants"][0]["deletedItems"]
    assert any(item["id"] == app["id"] and item["deletedDateTime"] for item in deleted)


def test_resource_size_limit(emu, graph):
    emu.update_settings(max_collection_items=3)
    response = graph().post("/applications", {"displayName": "big", "tags": ["a", "b", "c", "d"]})
    assert response.status_code == 400 and response.json()["error"]["code"] == "Directory_ResourceSizeExceeded"


def test_enabled_app_role_cannot_be_removed(graph):
    client = graph()
    role = {"id": "3b8e7a2c-4f6d-4a1b-9c0e-5d2f1a3b4c5d", "value": "Do.Things", "displayName": "d", "description": "d",
            "allowedMemberTypes": ["Application"], "isEnabled": True}
    app = client.post("/applications", {"displayName": "roles", "appRoles": [role]}).json()
    path = f"/applications/{app['id']}"
    assert client.patch(path, {"appRoles": []}).status_code == 400
    assert client.patch(path, {"appRoles": [dict(role, isEnabled=False)]}).status_code == 204
    assert client.patch(path, {"appRoles": []}).status_code == 204


def test_key_credential_start_date_in_cert_validity(graph, new_certificate):
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)
    _key, _pem, cert = new_certificate(not_before=start, days=30)
    early = (start - datetime.timedelta(days=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = graph().post("/applications", {"displayName": "early", "keyCredentials": [
        key_credential(cert, startDateTime=early)]})
    assert response.status_code == 400 and response.json()["error"]["message"] == "Key credential start date is invalid."
