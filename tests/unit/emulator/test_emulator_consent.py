# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A multi-tenant application: its service principal exists in another tenant only after admin
consent, and only there does the token endpoint issue it tokens."""

import base64
import time
import uuid

import jwt
import msal
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from m365emu.consent import ConsentError

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
ROLE_IDS = {
    "Application.ReadWrite.All": "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
    "Organization.Read.All": "498476ce-e0fe-48b0-b801-37ba7e2685c6",
}


def _register(client, new_certificate, audience="AzureADMultipleOrgs", name="msp-bootstrap"):
    """An application in tenant01 requesting two Graph application permissions, with a certificate."""
    key_pem, cert_pem, cert = new_certificate(name)
    app = client.patch(f"/applications(uniqueName='{name}')", {
        "displayName": "MSP bootstrap", "signInAudience": audience,
        "requiredResourceAccess": [{"resourceAppId": GRAPH_APP_ID, "resourceAccess": [
            {"id": role_id, "type": "Role"} for role_id in ROLE_IDS.values()]}],
    }, headers={"Prefer": "create-if-missing"}).json()
    der = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    assert client.patch(f"/applications/{app['id']}", {"keyCredentials": [
        {"type": "AsymmetricX509Cert", "usage": "Verify", "key": der}]}).status_code == 204
    return app, {"private_key": key_pem, "public_certificate": cert_pem}


def _token(emu, tenant_name, app_id, credential):
    tenant = emu.tenant(tenant_name)
    return msal.ConfidentialClientApplication(
        app_id, authority=f"{emu.base_url}/{tenant['tenant_id']}", client_credential=credential,
        validate_authority=False, instance_discovery=False, verify=emu.ca_bundle).acquire_token_for_client([GRAPH_SCOPE])


def _raw_assertion_request(emu, tenant_name, app_id, credential):
    """A client-credentials request with a certificate assertion, for the HTTP status."""
    endpoint = f"{emu.base_url}/{emu.tenant(tenant_name)['tenant_id']}/oauth2/v2.0/token"
    cert = x509.load_pem_x509_certificate(credential["public_certificate"].encode())
    now = int(time.time())
    assertion = jwt.encode(
        {"aud": endpoint, "iss": app_id, "sub": app_id, "iat": now, "nbf": now, "exp": now + 600, "jti": str(uuid.uuid4())},
        credential["private_key"], algorithm="RS256",
        headers={"x5t": base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA1())).decode()})  # nosec - x5t is SHA-1 by definition
    session = requests.Session()
    session.trust_env = False
    return session.post(endpoint, verify=emu.ca_bundle, timeout=10, data={
        "grant_type": "client_credentials", "client_id": app_id, "scope": GRAPH_SCOPE,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion": assertion})


def _sps(emu, tenant_name, app_id):
    return [sp for sp in emu.state(tenant_name)["tenants"][0]["servicePrincipals"] if sp["appId"] == app_id]


def test_no_token_in_another_tenant_before_consent(emu, graph, new_certificate):
    app, credential = _register(graph("tenant01"), new_certificate)
    result = _token(emu, "tenant02", app["appId"], credential)
    assert result["error"] == "unauthorized_client" and result["error_codes"] == [700016], result
    assert f"Application with identifier '{app['appId']}' was not found in the directory 'tenant02'" in \
        result["error_description"]
    assert _sps(emu, "tenant02", app["appId"]) == []
    assert _raw_assertion_request(emu, "tenant02", app["appId"], credential).status_code == 400


def test_consent_creates_the_principal_grants_the_requested_roles_and_opens_the_token_endpoint(
        emu, graph, new_certificate):
    app, credential = _register(graph("tenant01"), new_certificate)
    result = emu.admin_consent("tenant02", app["appId"])
    assert result["created"] is True
    assert result["granted"] == sorted(ROLE_IDS) and result["permissions"] == sorted(ROLE_IDS)
    [sp] = _sps(emu, "tenant02", app["appId"])
    assert sp["appOwnerOrganizationId"] == emu.tenant("tenant01")["tenant_id"]
    assert sp["signInAudience"] == "AzureADMultipleOrgs" and sp["id"] == result["service_principal_id"]
    token = _token(emu, "tenant02", app["appId"], credential)
    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    assert claims["tid"] == emu.tenant("tenant02")["tenant_id"] and claims["oid"] == sp["id"]
    assert claims["roles"] == sorted(ROLE_IDS) and claims["appid"] == app["appId"]
    # The token works against tenant02's Graph with what was consented.
    session = requests.Session()
    session.trust_env = False
    answer = session.get(f"{emu.base_url}/v1.0/organization", verify=emu.ca_bundle, timeout=10,
                         headers={"Authorization": f"Bearer {token['access_token']}"})
    assert answer.status_code == 200 and answer.json()["value"][0]["id"] == emu.tenant("tenant02")["tenant_id"]
    # A second consent changes nothing.
    again = emu.admin_consent("tenant02", app["appId"])
    assert again["created"] is False and again["granted"] == [] and len(_sps(emu, "tenant02", app["appId"])) == 1


def test_partial_consent_and_the_control_api(emu, graph, new_certificate):
    app, credential = _register(graph("tenant01"), new_certificate)
    session = requests.Session()
    session.trust_env = False
    answer = session.post(f"{emu.base_url}/_emulator/tenants/tenant02/consent", verify=emu.ca_bundle, timeout=10,
                          json={"client_id": app["appId"], "permissions": ["Organization.Read.All"]})
    assert answer.status_code == 200 and answer.json()["permissions"] == ["Organization.Read.All"]
    claims = jwt.decode(_token(emu, "tenant02", app["appId"], credential)["access_token"],
                        options={"verify_signature": False})
    assert claims["roles"] == ["Organization.Read.All"]
    unrequested = session.post(f"{emu.base_url}/_emulator/tenants/tenant02/consent", verify=emu.ca_bundle, timeout=10,
                               json={"client_id": app["appId"], "permissions": ["User.Read.All"]})
    assert unrequested.status_code == 400 and "User.Read.All" in unrequested.json()["error"]


def test_single_tenant_application_cannot_be_consented_elsewhere(emu, graph, new_certificate):
    app, credential = _register(graph("tenant01"), new_certificate, audience="AzureADMyOrg", name="single")
    with pytest.raises(ConsentError) as caught:
        emu.admin_consent("tenant02", app["appId"])
    assert caught.value.code == 700016 and "was not found in the directory 'tenant02'" in str(caught.value)
    session = requests.Session()
    session.trust_env = False
    answer = session.post(f"{emu.base_url}/_emulator/tenants/tenant02/consent", verify=emu.ca_bundle, timeout=10,
                          json={"client_id": app["appId"]})
    assert answer.status_code == 400 and answer.json()["error_codes"] == [700016]
    assert _token(emu, "tenant02", app["appId"], credential)["error_codes"] == [700016]
    assert _sps(emu, "tenant02", app["appId"]) == []


def test_principal_deleted_after_consent_closes_the_tenant_again(emu, graph, new_certificate):
    app, credential = _register(graph("tenant01"), new_certificate)
    sp_id = emu.admin_consent("tenant02", app["appId"])["service_principal_id"]
    assert "access_token" in _token(emu, "tenant02", app["appId"], credential)
    assert graph("tenant02").delete(f"/servicePrincipals/{sp_id}").status_code == 204
    assert _token(emu, "tenant02", app["appId"], credential)["error_codes"] == [700016]


def test_home_tenant_without_principal_is_7000229(emu, graph, new_certificate):
    client = graph("tenant01")
    app, credential = _register(client, new_certificate)
    result = _token(emu, "tenant01", app["appId"], credential)
    assert result["error"] == "invalid_client" and result["error_codes"] == [7000229], result
    assert _raw_assertion_request(emu, "tenant01", app["appId"], credential).status_code == 401
    # Consent in the home tenant creates the principal there too.
    assert emu.admin_consent("tenant01", app["appId"])["created"] is True
    assert "access_token" in _token(emu, "tenant01", app["appId"], credential)


def test_unknown_application_and_tenant(emu):
    with pytest.raises(ConsentError) as caught:
        emu.admin_consent("tenant02", "5a1c3f0e-8d2b-4c7a-9e61-2f4b8d0c7a35")
    assert caught.value.code == 700016
    with pytest.raises(KeyError):
        emu.admin_consent("nowhere", "5a1c3f0e-8d2b-4c7a-9e61-2f4b8d0c7a35")


def test_required_resource_access_takes_one_entry_per_resource(emu, graph):
    """Graph refuses a second entry for the same resourceAppId (400 DuplicateValue)."""
    client = graph("tenant01")
    body = {"displayName": "dup", "requiredResourceAccess": [
        {"resourceAppId": GRAPH_APP_ID, "resourceAccess": [{"id": role_id, "type": "Role"}]}
        for role_id in ROLE_IDS.values()]}
    answer = client.patch("/applications(uniqueName='dup')", body, headers={"Prefer": "create-if-missing"})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "DuplicateValue"
    assert answer.json()["error"]["message"] == "Request contains a property with duplicate values."
    body["requiredResourceAccess"] = [{"resourceAppId": GRAPH_APP_ID, "resourceAccess": [
        {"id": role_id, "type": "Role"} for role_id in ROLE_IDS.values()]}]
    assert client.patch("/applications(uniqueName='dup')", body, headers={"Prefer": "create-if-missing"}).status_code == 201
