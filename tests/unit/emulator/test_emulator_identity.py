# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Token endpoint, discovery and client-assertion checks, exercised with real msal."""

import base64
import datetime
import hashlib
import json
import time
import uuid

import jwt
import msal
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
EXCHANGE_SCOPE = "https://outlook.office365.com/.default"
MANAGE_AS_APP = "dc50a0fb-09a3-484d-be87-e023b12c6440"
DEFAULT_WID = "0997a1d0-0d1d-4acb-b408-d5ca73121e90"


def msal_app(emu, tenant, credential, client_id=None, authority_tenant=None):
    return msal.ConfidentialClientApplication(
        client_id or tenant["bootstrap"]["client_id"],
        authority=f"{emu.base_url}/{authority_tenant or tenant['tenant_id']}",
        client_credential=credential, validate_authority=False, instance_discovery=False, verify=emu.ca_bundle)


def claims(token):
    return jwt.decode(token, options={"verify_signature": False})


def read(path):
    with open(path, encoding="utf-8") as stream:
        return stream.read()


def thumbprint(cert):
    return hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()


def test_discovery_document_and_jwks(emu):
    tenant = emu.tenant("tenant01")
    session = requests.Session()
    session.trust_env = False
    for key in (tenant["tenant_id"], tenant["initial_domain"]):
        doc = session.get(f"{emu.base_url}/{key}/v2.0/.well-known/openid-configuration", verify=emu.ca_bundle).json()
        assert doc["token_endpoint"] == f"{emu.base_url}/{tenant['tenant_id']}/oauth2/v2.0/token"
        assert doc["issuer"] == f"{emu.base_url}/{tenant['tenant_id']}/v2.0"
        assert doc["authorization_endpoint"].endswith("/oauth2/v2.0/authorize")
    keys = session.get(doc["jwks_uri"], verify=emu.ca_bundle).json()["keys"]
    assert keys[0]["kty"] == "RSA" and keys[0]["kid"]


def test_unknown_tenant_discovery_is_400_invalid_tenant(emu):
    session = requests.Session()
    session.trust_env = False
    response = session.get(f"{emu.base_url}/nosuch.onmicrosoft.com/v2.0/.well-known/openid-configuration",
                           verify=emu.ca_bundle)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_tenant" and body["error_codes"] == [90002]
    assert body["error_description"].startswith("AADSTS90002: Tenant 'nosuch.onmicrosoft.com' not found.")
    assert "\r\nTrace ID: " in body["error_description"] and "\r\nCorrelation ID: " in body["error_description"]
    assert {"timestamp", "trace_id", "correlation_id"} <= set(body)
    with pytest.raises(ValueError, match="Unable to get authority configuration"):
        msal_app(emu, emu.tenant("tenant01"), "x", authority_tenant="nosuch.onmicrosoft.com")


def test_instance_discovery(emu):
    session = requests.Session()
    session.trust_env = False
    tenant = emu.tenant("tenant01")
    response = session.get(f"{emu.base_url}/common/discovery/instance", verify=emu.ca_bundle, params={
        "api-version": "1.1", "authorization_endpoint": f"{emu.base_url}/{tenant['tenant_id']}/oauth2/v2.0/authorize"})
    body = response.json()
    assert body["tenant_discovery_endpoint"] == f"{emu.base_url}/{tenant['tenant_id']}/v2.0/.well-known/openid-configuration"
    assert emu.base_url.split("//")[1] in body["metadata"][0]["aliases"]


def test_secret_token_claims(emu):
    tenant = emu.tenant("tenant01")
    result = msal_app(emu, tenant, tenant["bootstrap"]["client_secret"]).acquire_token_for_client([GRAPH_SCOPE])
    assert result["token_type"] == "Bearer" and result["expires_in"] == 3599
    token = claims(result["access_token"])
    assert token["aud"] == "https://graph.microsoft.com"
    assert token["tid"] == tenant["tenant_id"] and token["appid"] == tenant["bootstrap"]["client_id"]
    assert token["iss"] == f"https://sts.windows.net/{tenant['tenant_id']}/" and token["ver"] == "1.0"
    assert token["appidacr"] == "1" and token["oid"] == tenant["bootstrap"]["service_principal_id"]
    assert token["roles"] == sorted(["Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All",
                                     "RoleManagement.ReadWrite.Directory", "Organization.Read.All"])
    assert token["wids"] == [DEFAULT_WID]  # no directory role; the entry every app-only token carries


def test_token_signatures_and_the_graph_nonce(emu):
    """An Exchange token verifies with the JWKS as a plain JWT; a Graph token carries a header nonce
    and verifies only once the nonce is replaced by base64url(SHA-256(nonce)), as Microsoft's do."""
    tenant = emu.tenant("tenant01")
    app = msal_app(emu, tenant, tenant["bootstrap"]["client_secret"])
    session = requests.Session()
    session.trust_env = False
    jwks = session.get(f"{emu.base_url}/{tenant['tenant_id']}/discovery/v2.0/keys", verify=emu.ca_bundle).json()
    key = jwt.PyJWK(jwks["keys"][0]).key
    exchange = app.acquire_token_for_client([EXCHANGE_SCOPE])["access_token"]
    assert "nonce" not in jwt.get_unverified_header(exchange)
    assert jwt.decode(exchange, key, algorithms=["RS256"], audience="https://outlook.office365.com")["tid"] == tenant["tenant_id"]
    graph_token = app.acquire_token_for_client([GRAPH_SCOPE])["access_token"]
    header = jwt.get_unverified_header(graph_token)
    assert list(header)[:3] == ["typ", "nonce", "alg"] and len(header["nonce"]) == 43
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(graph_token, key, algorithms=["RS256"], audience="https://graph.microsoft.com")
    digest = hashlib.sha256(header["nonce"].encode()).digest()
    header["nonce"] = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    segment = base64.urlsafe_b64encode(json.dumps(header, separators=(",", ":")).encode()).decode().rstrip("=")
    rebuilt = ".".join([segment] + graph_token.split(".")[1:])
    assert jwt.decode(rebuilt, key, algorithms=["RS256"], audience="https://graph.microsoft.com")["tid"] == tenant["tenant_id"]


@pytest.mark.parametrize("style", ["pem_thumbprint", "pem_public_certificate", "pfx"])
def test_certificate_credentials(emu, style):
    tenant = emu.tenant("tenant02")
    boot = tenant["bootstrap"]
    credential = {
        "pem_thumbprint": {"private_key": read(boot["certificate_path"]), "thumbprint": boot["thumbprint"]},
        "pem_public_certificate": {"private_key": read(boot["certificate_path"]),
                                   "public_certificate": read(boot["public_certificate_path"])},
        "pfx": {"private_key_pfx_path": boot["pfx_path"], "passphrase": boot["pfx_password"]},
    }[style]
    emu.reset_requests()
    result = msal_app(emu, tenant, credential).acquire_token_for_client([EXCHANGE_SCOPE])
    assert "access_token" in result, result
    token = claims(result["access_token"])
    assert token["aud"] == "https://outlook.office365.com" and token["appidacr"] == "2"
    assert "roles" not in token  # the bootstrap app holds no Exchange permission
    assert token["tid"] == tenant["tenant_id"]


def test_wrong_private_key_fails_signature_validation(emu, new_certificate):
    tenant = emu.tenant("tenant01")
    other_key, _cert_pem, _cert = new_certificate()
    credential = {"private_key": other_key, "thumbprint": tenant["bootstrap"]["thumbprint"]}
    result = msal_app(emu, tenant, credential).acquire_token_for_client([GRAPH_SCOPE])
    assert result["error"] == "invalid_client" and result["error_codes"] == [700027]
    assert "signature value did not match" in result["error_description"]


def test_unregistered_certificate_key_not_found(emu, new_certificate):
    tenant = emu.tenant("tenant01")
    key_pem, _cert_pem, cert = new_certificate()
    result = msal_app(emu, tenant, {"private_key": key_pem, "thumbprint": thumbprint(cert)}).acquire_token_for_client(
        [GRAPH_SCOPE])
    assert result["error_codes"] == [700027]
    assert f"The key was not found., Thumbprint of key used by client: '{thumbprint(cert)}'" in result["error_description"]


def test_expired_key_credential(emu, graph, new_certificate):
    tenant = emu.tenant("tenant01")
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=10)
    key_pem, cert_pem, cert = new_certificate(not_before=start, days=365)
    client = graph("tenant01")
    app_path = f"/applications/{tenant['bootstrap']['application_id']}"
    current = client.get(app_path).json()["keyCredentials"]
    der = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    ended = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    new = {"type": "AsymmetricX509Cert", "usage": "Verify", "key": der, "endDateTime": ended}
    assert client.patch(app_path, {"keyCredentials": current + [new]}).status_code == 204
    result = msal_app(emu, tenant, {"private_key": key_pem, "public_certificate": cert_pem}).acquire_token_for_client(
        [GRAPH_SCOPE])
    assert result["error_codes"] == [700027] and "The key used is expired." in result["error_description"]


def _assertion(tenant, key_pem, cert, **overrides):
    now = int(time.time())
    payload = {"aud": f"https://login.microsoftonline.com/{tenant['tenant_id']}/oauth2/v2.0/token",
               "iss": tenant["bootstrap"]["client_id"], "sub": tenant["bootstrap"]["client_id"],
               "iat": now, "exp": now + 600, "jti": str(uuid.uuid4())}
    payload.update(overrides)
    x5t = base64.urlsafe_b64encode(bytes.fromhex(thumbprint(cert))).decode()
    return jwt.encode(payload, key_pem, algorithm="RS256", headers={"x5t": x5t})


def _bootstrap_key(tenant):
    return read(tenant["bootstrap"]["certificate_path"]), x509.load_pem_x509_certificate(
        read(tenant["bootstrap"]["public_certificate_path"]).encode())


def test_wrong_audience_is_rejected(emu):
    tenant = emu.tenant("tenant01")
    key_pem, cert = _bootstrap_key(tenant)
    assertion = _assertion(tenant, key_pem, cert)  # aud is the public cloud's endpoint, not the emulator's
    result = msal_app(emu, tenant, {"client_assertion": lambda: assertion}).acquire_token_for_client([GRAPH_SCOPE])
    assert result["error"] == "invalid_client" and result["error_codes"] == [70002, 50012]
    assert "Client assertion audience claim does not match Realm issuer" in result["error_description"]


def test_expired_assertion_and_wrong_issuer(emu, raw_token):
    tenant = emu.tenant("tenant01")
    key_pem, cert = _bootstrap_key(tenant)
    audience = f"{emu.base_url}/{tenant['tenant_id']}/oauth2/v2.0/token"
    form = {"grant_type": "client_credentials", "client_id": tenant["bootstrap"]["client_id"], "scope": GRAPH_SCOPE,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    now = int(time.time())
    expired = raw_token(tenant, dict(form, client_assertion=_assertion(tenant, key_pem, cert, aud=audience,
                                                                       iat=now - 1200, exp=now - 600)))
    assert expired.status_code == 401 and expired.json()["error_codes"] == [700024]
    stranger = str(uuid.uuid4())
    wrong_iss = raw_token(tenant, dict(form, client_assertion=_assertion(tenant, key_pem, cert, aud=audience,
                                                                         iss=stranger)))
    assert wrong_iss.status_code == 401 and wrong_iss.json()["error_codes"] == [50048]
    assert wrong_iss.json()["error_description"].startswith(
        "AADSTS50048: Subject mismatches Issuer claim in the client assertion.")
    other_client = raw_token(tenant, dict(form, client_assertion=_assertion(tenant, key_pem, cert, aud=audience,
                                                                            iss=stranger, sub=stranger)))
    assert other_client.json()["error_codes"] == [700021]
    good = raw_token(tenant, dict(form, client_assertion=_assertion(tenant, key_pem, cert, aud=audience)))
    assert good.status_code == 200, good.text


@pytest.mark.parametrize("change, status, error, code", [
    ({"client_secret": "wrong"}, 401, "invalid_client", 7000215),
    ({"client_secret": None}, 401, "invalid_client", 7000218),
    ({"scope": "https://graph.microsoft.com/User.Read"}, 400, "invalid_scope", 70011),
    ({"scope": "https://graph.microsoft.com/.default https://outlook.office365.com/.default"}, 400, "invalid_scope", 700022),
    ({"scope": "https://unknown.example.com/.default"}, 400, "invalid_resource", 500011),
    ({"client_id": "6b1a2f4e-5a51-4bd8-9c1f-3a2b1c0d9e8f"}, 400, "unauthorized_client", 700016),
    ({"grant_type": "password"}, 400, "unsupported_grant_type", 70003),
])
def test_token_endpoint_errors(emu, raw_token, change, status, error, code):
    tenant = emu.tenant("tenant01")
    form = {"grant_type": "client_credentials", "client_id": tenant["bootstrap"]["client_id"],
            "client_secret": tenant["bootstrap"]["client_secret"], "scope": GRAPH_SCOPE}
    form.update(change)
    response = raw_token(tenant, {k: v for k, v in form.items() if v is not None})
    body = response.json()
    assert (response.status_code, body["error"], body["error_codes"]) == (status, error, [code])
    assert body["error_description"].startswith(f"AADSTS{code}: ")


def test_unknown_tenant_at_token_endpoint(emu, raw_token):
    tenant = emu.tenant("tenant01")
    response = raw_token(tenant, {"grant_type": "client_credentials"}, path_tenant="nosuch.onmicrosoft.com")
    assert response.status_code == 400 and response.json()["error_codes"] == [90002]


def test_secret_via_http_basic(emu):
    tenant = emu.tenant("tenant01")
    session = requests.Session()
    session.trust_env = False
    response = session.post(f"{emu.base_url}/{tenant['initial_domain']}/oauth2/v2.0/token", verify=emu.ca_bundle,
                            auth=(tenant["bootstrap"]["client_id"], tenant["bootstrap"]["client_secret"]),
                            data={"grant_type": "client_credentials", "scope": GRAPH_SCOPE})
    assert response.status_code == 200, response.text


def test_roles_and_wids_follow_assignments(emu, graph, raw_token):
    tenant = emu.tenant("tenant01")
    client = graph("tenant01")
    exchange = client.get("/servicePrincipals(appId='00000002-0000-0ff1-ce00-000000000000')").json()
    sp_id = tenant["bootstrap"]["service_principal_id"]
    assert client.post(f"/servicePrincipals/{exchange['id']}/appRoleAssignedTo", {
        "principalId": sp_id, "resourceId": exchange["id"], "appRoleId": MANAGE_AS_APP}).status_code == 201
    assert client.post("/roleManagement/directory/roleAssignments", {
        "principalId": sp_id, "roleDefinitionId": "29232cdf-9323-42fd-ade2-1d097af3e4de",
        "directoryScopeId": "/"}).status_code == 201
    form = {"grant_type": "client_credentials", "client_id": tenant["bootstrap"]["client_id"],
            "client_secret": tenant["bootstrap"]["client_secret"], "scope": EXCHANGE_SCOPE}
    token = claims(raw_token(tenant, form).json()["access_token"])
    assert token["roles"] == ["Exchange.ManageAsApp"]
    assert token["wids"] == ["29232cdf-9323-42fd-ade2-1d097af3e4de", DEFAULT_WID]
    assert token["aud"] == "https://outlook.office365.com"


def test_end_to_end_certificate_based_exchange_app(emu, graph, new_certificate):
    """The collection's whole job, done by hand: register, upload a cert, consent, assign a role, sign in."""
    client = graph("tenant02")
    key_pem, cert_pem, cert = new_certificate("exo-automation")
    app = client.patch("/applications(uniqueName='exo-automation')", {
        "displayName": "EXO automation", "signInAudience": "AzureADMyOrg",
        "requiredResourceAccess": [{"resourceAppId": "00000002-0000-0ff1-ce00-000000000000",
                                    "resourceAccess": [{"id": MANAGE_AS_APP, "type": "Role"}]}],
    }, headers={"Prefer": "create-if-missing"}).json()
    der = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    assert client.patch(f"/applications/{app['id']}", {"keyCredentials": [
        {"type": "AsymmetricX509Cert", "usage": "Verify", "key": der}]}).status_code == 204
    sp = client.patch(f"/servicePrincipals(appId='{app['appId']}')", {}, headers={"Prefer": "create-if-missing"}).json()
    exchange = client.get("/servicePrincipals?$filter=appId eq '00000002-0000-0ff1-ce00-000000000000'").json()["value"][0]
    assert client.post(f"/servicePrincipals/{exchange['id']}/appRoleAssignedTo", {
        "principalId": sp["id"], "resourceId": exchange["id"], "appRoleId": MANAGE_AS_APP}).status_code == 201
    assert client.post("/roleManagement/directory/roleAssignments", {
        "principalId": sp["id"], "roleDefinitionId": "31392ffb-586c-42d1-9346-e59415a2cc4e",
        "directoryScopeId": "/"}).status_code == 201
    tenant = emu.tenant("tenant02")
    result = msal_app(emu, tenant, {"private_key": key_pem, "public_certificate": cert_pem},
                      client_id=app["appId"], authority_tenant=tenant["initial_domain"]).acquire_token_for_client(
        [EXCHANGE_SCOPE])
    token = claims(result["access_token"])
    assert token["roles"] == ["Exchange.ManageAsApp"] and token["appid"] == app["appId"]
    assert token["wids"] == ["31392ffb-586c-42d1-9346-e59415a2cc4e", DEFAULT_WID] and token["appidacr"] == "2"
