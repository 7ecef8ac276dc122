# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where Graph or Entra would refuse, the emulator refuses too; where they answer in a documented
shape, the emulator answers in that shape (see tests/emulator/README.md, "Behaviour choices")."""

import base64
import re
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization

EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
MANAGE_AS_APP = "dc50a0fb-09a3-484d-be87-e023b12c6440"
EXCHANGE_ADMIN = "29232cdf-9323-42fd-ade2-1d097af3e4de"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
DATE_7 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")


def der_b64(cert):
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def incompatible(left, right):
    return ("Invalid filter clause: A binary operator with incompatible types was detected. Found operand types "
            f"'{left}' and '{right}' for operator kind 'Equal'.")


@pytest.fixture
def consented(graph):
    """A client application with a service principal holding Exchange.ManageAsApp."""
    client = graph()
    app = client.post("/applications", {"displayName": "consented"}).json()
    sp = client.post("/servicePrincipals", {"appId": app["appId"]}).json()
    exchange = client.get(f"/servicePrincipals(appId='{EXCHANGE_APP_ID}')").json()
    assert client.post(f"/servicePrincipals/{sp['id']}/appRoleAssignments", {
        "principalId": sp["id"], "resourceId": exchange["id"], "appRoleId": MANAGE_AS_APP}).status_code == 201
    return client, app, sp, exchange


# ---------------------------------------------------------------- 6. literal types in $filter
def test_string_property_with_an_unquoted_guid_is_refused(graph):
    client = graph()
    app = client.post("/applications", {"displayName": "typed"}).json()
    for collection in ("applications", "servicePrincipals"):
        refused = client.get(f"/{collection}?$filter=appId eq {app['appId']}")
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "BadRequest"
        assert refused.json()["error"]["message"] == incompatible("Edm.String", "Edm.Guid")
        assert refused.json()["error"]["innerError"]["request-id"] == refused.headers["request-id"]
    assert client.get(f"/applications?$filter=appId eq '{app['appId']}'").json()["value"][0]["id"] == app["id"]
    assert client.get(f"/applications?$filter=id eq {app['id']}").status_code == 400  # id is a String too


def test_guid_property_with_a_quoted_literal_is_refused(consented):
    client, _app, sp, exchange = consented
    path = f"/servicePrincipals/{sp['id']}/appRoleAssignments"
    refused = client.get(f"{path}?$filter=resourceId eq '{exchange['id']}'")
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == incompatible("Edm.Guid", "Edm.String")
    held = client.get(f"{path}?$filter=resourceId eq {exchange['id']}").json()["value"]
    assert [a["appRoleId"] for a in held] == [MANAGE_AS_APP]


def test_role_assignment_principal_id_is_a_string(consented):
    client, _app, sp, _exchange = consented
    assert client.post("/roleManagement/directory/roleAssignments", {
        "principalId": sp["id"], "roleDefinitionId": EXCHANGE_ADMIN, "directoryScopeId": "/"}).status_code == 201
    path = "/roleManagement/directory/roleAssignments"
    assert [a["roleDefinitionId"] for a in client.get(f"{path}?$filter=principalId eq '{sp['id']}'").json()["value"]] \
        == [EXCHANGE_ADMIN]
    refused = client.get(f"{path}?$filter=principalId eq {sp['id']}")
    assert refused.status_code == 400 and refused.json()["error"]["message"] == incompatible("Edm.String", "Edm.Guid")


# ---------------------------------------------------------------- 7. only the documented filters
@pytest.mark.parametrize("clause, message", [
    ("principalId eq {sp}", "Invalid filter clause principalId: System.Guid"),
    ("appRoleId eq " + MANAGE_AS_APP, "Invalid filter clause appRoleId: System.Guid"),
    ("principalType eq 'ServicePrincipal'", "Invalid filter clause principalType: System.String"),
    ("id eq 'x'", "Invalid filter clause id: System.String"),
    ("resourceId in ({resource})", "Invalid filter clause resourceId: System.Guid"),
    ("startswith(resourceDisplayName,'Office')", "Invalid filter clause resourceDisplayName: System.String"),
])
def test_app_role_assignments_accept_only_documented_filters(consented, clause, message):
    client, _app, sp, exchange = consented
    clause = clause.format(sp=sp["id"], resource=exchange["id"])
    refused = client.get(f"/servicePrincipals/{sp['id']}/appRoleAssignments?$filter={clause}")
    assert refused.status_code == 400
    assert refused.json()["error"] | {"innerError": None} == {"code": "Request_BadRequest", "message": message,
                                                              "innerError": None}


def test_app_role_assignments_documented_filters_work(consented):
    client, _app, sp, exchange = consented
    path = f"/servicePrincipals/{exchange['id']}/appRoleAssignedTo"
    for clause in ("principalDisplayName eq 'consented'", "startswith(principalDisplayName,'consent')"):
        found = client.get(f"{path}?$filter={clause}")
        assert found.status_code == 200, found.text
        assert [a["principalId"] for a in found.json()["value"]] == [sp["id"]]


@pytest.mark.parametrize("path, clause, resource", [
    ("/applications", "uniqueName eq 'x'", "Application"),
    ("/applications", "notes eq 'x'", "Application"),
    ("/servicePrincipals", "notes eq 'x'", "ServicePrincipal"),
    ("/servicePrincipals", "appRoleAssignmentRequired eq true", "ServicePrincipal"),
])
def test_directory_objects_refuse_undocumented_filters(graph, path, clause, resource):
    refused = graph().get(f"{path}?$filter={clause}")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "Request_UnsupportedQuery"
    prop = clause.split()[0]
    assert refused.json()["error"]["message"] == (
        f"Unsupported or invalid query filter clause specified for property '{prop}' of resource '{resource}'.")


def test_role_assignments_refuse_an_id_filter(graph):
    refused = graph().get("/roleManagement/directory/roleAssignments?$filter=id eq 'x'")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "Request_UnsupportedQuery"


# ---------------------------------------------------------------- 8. the documented partial 201 of the upsert
# serviceprincipal-upsert.md (v1.0), example 1: the member names of the 201 body.
UPSERT_201_MEMBERS = {
    "@odata.context", "id", "deletedDateTime", "accountEnabled", "appDisplayName", "appId", "applicationTemplateId",
    "appOwnerOrganizationId", "appRoleAssignmentRequired", "displayName", "errorUrl", "homepage", "loginUrl",
    "logoutUrl", "notificationEmailAddresses", "preferredSingleSignOnMode", "preferredTokenSigningKeyEndDateTime",
    "preferredTokenSigningKeyThumbprint", "publisherName", "replyUrls", "samlMetadataUrl", "samlSingleSignOnSettings",
    "servicePrincipalNames", "signInAudience", "tags", "addIns", "api", "appRoles", "info", "keyCredentials",
    "publishedPermissionScopes", "passwordCredentials",
}


def test_service_principal_upsert_answers_the_documented_partial_body(graph):
    client = graph()
    app = client.post("/applications", {"displayName": "partial", "tags": ["from-app"]}).json()
    path = f"/servicePrincipals(appId='{app['appId']}')"
    created = client.patch(path, {"tags": ["sent"], "notes": "n"}, headers={"Prefer": "create-if-missing"})
    assert created.status_code == 201
    body = created.json()
    assert set(body) == UPSERT_201_MEMBERS
    assert body["@odata.context"].endswith("$metadata#servicePrincipals/$entity")
    # tags as the principal took them from its application, not as sent
    assert "servicePrincipalType" not in body and body["tags"] == ["from-app"] and body["appId"] == app["appId"]
    stored = client.get(path).json()
    assert (stored["servicePrincipalType"], stored["tags"], stored["notes"]) == ("Application", ["sent"], "n")
    assert stored["id"] == body["id"]
    # POST /servicePrincipals still answers with the whole object
    other = client.post("/applications", {"displayName": "posted"}).json()
    posted = client.post("/servicePrincipals", {"appId": other["appId"]}).json()
    assert posted["servicePrincipalType"] == "Application"


# ---------------------------------------------------------------- 9. keyCredentials on the wire
def test_key_credentials_binary_identifier_dates_and_list_keys(graph, new_certificate):
    client = graph()
    _k1, _p1, cert1 = new_certificate("given")
    _k2, _p2, cert2 = new_certificate("defaulted")
    hex_thumbprint = cert1.fingerprint(hashes.SHA1()).hex().upper()
    app = client.post("/applications", {"displayName": "wire", "keyCredentials": [
        {"type": "AsymmetricX509Cert", "usage": "Verify", "key": der_b64(cert1), "customKeyIdentifier": hex_thumbprint},
        {"type": "AsymmetricX509Cert", "usage": "Verify", "key": der_b64(cert2)},
    ]}).json()
    read = client.get(f"/applications/{app['id']}").json()["keyCredentials"]
    # Edm.Binary: the hex text is valid base64 and round-trips as the same text; the default is the
    # thumbprint's 20 bytes in base64 (the portal manifest's form)
    assert read[0]["customKeyIdentifier"] == hex_thumbprint
    assert read[1]["customKeyIdentifier"] == base64.b64encode(cert2.fingerprint(hashes.SHA1())).decode()
    for credential in read:
        assert DATE_7.match(credential["startDateTime"]) and DATE_7.match(credential["endDateTime"])
    assert read[1]["endDateTime"] == cert2.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
    listed = client.get("/applications?$filter=displayName eq 'wire'&$select=id,keyCredentials").json()["value"][0]
    assert [c["key"] for c in listed["keyCredentials"]] == [der_b64(cert1), der_b64(cert2)]
    plain = client.get("/applications?$filter=displayName eq 'wire'").json()["value"][0]
    assert [c["key"] for c in plain["keyCredentials"]] == [None, None]
    # re-sending what was read keeps both entries as they are
    assert client.patch(f"/applications/{app['id']}", {"keyCredentials": read}).status_code == 204
    assert client.get(f"/applications/{app['id']}").json()["keyCredentials"] == read


def test_custom_key_identifier_must_be_base64(graph, new_certificate):
    _key, _pem, cert = new_certificate()
    refused = graph().post("/applications", {"displayName": "bad id", "keyCredentials": [
        {"type": "AsymmetricX509Cert", "usage": "Verify", "key": der_b64(cert), "customKeyIdentifier": "AB:CD"}]})
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "Invalid value specified for property 'keyCredentials' of resource 'Application'."


def test_seeded_bootstrap_credential_has_the_wire_shapes(emu, graph):
    tenant = emu.tenant("tenant01")
    app = graph().get(f"/applications/{tenant['bootstrap']['application_id']}").json()
    (credential,) = app["keyCredentials"]
    assert base64.b64decode(credential["customKeyIdentifier"]).hex().upper() == tenant["bootstrap"]["thumbprint"]
    assert DATE_7.match(credential["startDateTime"]) and DATE_7.match(credential["endDateTime"])


# ---------------------------------------------------------------- 10. signInAudience default
def test_sign_in_audience_defaults_to_azure_ad_my_org(emu, graph):
    client = graph()
    created = client.post("/applications", {"displayName": "no audience"}).json()
    assert created["signInAudience"] == "AzureADMyOrg"
    upserted = client.patch("/applications(uniqueName='no-audience')", {"displayName": "no audience"},
                            headers={"Prefer": "create-if-missing"}).json()
    assert upserted["signInAudience"] == "AzureADMyOrg"
    emu.update_settings(default_sign_in_audience="AzureADandPersonalMicrosoftAccount")
    assert client.post("/applications", {"displayName": "old"}).json()["signInAudience"] == \
        "AzureADandPersonalMicrosoftAccount"


# ---------------------------------------------------------------- 11. tenants with several domains
def test_odd_tenants_have_several_mixed_case_domains(emu, graph):
    for name, initial in (("tenant01", "Tenant01.onmicrosoft.com"), ("tenant02", "tenant02.onmicrosoft.com")):
        org = graph(name).get("/organization").json()["value"][0]
        initials = [d["name"] for d in org["verifiedDomains"] if d["isInitial"]]
        assert initials == [initial] == [emu.tenant(name)["initial_domain"]]
    domains = graph("tenant01").get("/organization").json()["value"][0]["verifiedDomains"]
    assert domains[0]["isDefault"] and not domains[0]["isInitial"]
    assert sum(d["name"].lower().endswith(".onmicrosoft.com") for d in domains) == 2
    assert any(d["name"] != d["name"].lower() for d in domains)


def test_seed_verified_domains_are_checked(tmp_path):
    from m365emu import seed  # pylint: disable=import-outside-toplevel

    with pytest.raises(ValueError, match="initial domain"):
        seed.tenant_specs(seed=[{"name": "x", "verified_domains": [{"name": "x.com", "isDefault": True}]}])
    with pytest.raises(ValueError, match="default domain"):
        seed.tenant_specs(seed=[{"name": "x", "verified_domains": [{"name": "X.onmicrosoft.com", "isInitial": True}]}])
    spec = {"name": "x", "verified_domains": [{"name": "X.onmicrosoft.com", "isInitial": True, "isDefault": True}]}
    assert seed.tenant_specs(seed=[spec]) == [spec]


def test_token_endpoint_and_discovery_accept_any_verified_domain(emu, raw_token):
    tenant = emu.tenant("tenant01")
    form = {"grant_type": "client_credentials", "client_id": tenant["bootstrap"]["client_id"],
            "client_secret": tenant["bootstrap"]["client_secret"], "scope": GRAPH_SCOPE}
    for domain in ("tenant01.example.com", "TENANT01.ONMICROSOFT.COM"):
        assert raw_token(tenant, form, path_tenant=domain).status_code == 200


# ---------------------------------------------------------------- 12. token details
def _assertion(emu, tenant, **overrides):
    with open(tenant["bootstrap"]["certificate_path"], encoding="utf-8") as stream:
        key_pem = stream.read()
    now = int(time.time())
    payload = {"aud": f"{emu.base_url}/{tenant['tenant_id']}/oauth2/v2.0/token", "iss": tenant["bootstrap"]["client_id"],
               "sub": tenant["bootstrap"]["client_id"], "iat": now, "exp": now + 600, "jti": str(uuid.uuid4())}
    payload.update(overrides)
    x5t = base64.urlsafe_b64encode(bytes.fromhex(tenant["bootstrap"]["thumbprint"])).decode()
    return jwt.encode(payload, key_pem, algorithm="RS256", headers={"x5t": x5t})


def _assertion_form(tenant, assertion):
    return {"grant_type": "client_credentials", "client_id": tenant["bootstrap"]["client_id"], "scope": GRAPH_SCOPE,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion}


def test_issuer_other_than_subject_is_aadsts50048(emu, raw_token):
    tenant = emu.tenant("tenant01")
    answer = raw_token(tenant, _assertion_form(tenant, _assertion(emu, tenant, sub=str(uuid.uuid4()))))
    assert (answer.status_code, answer.json()["error"], answer.json()["error_codes"]) == (401, "invalid_client", [50048])


@pytest.mark.parametrize("claims, skew, status", [
    ({"nbf": 120}, None, 200),          # a client clock 2 minutes fast: within the default allowance (300 s)
    ({"exp": -120, "iat": -720}, None, 200),  # expired 2 minutes ago, within the allowance
    ({"exp": -400, "iat": -1000}, None, 401),
    ({"nbf": 400}, None, 401),
    ({"nbf": 120}, 0, 401),
    ({"exp": -120, "iat": -720}, 0, 401),
])
def test_assertion_clock_skew_allowance(emu, raw_token, claims, skew, status):
    if skew is not None:
        emu.update_settings(assertion_clock_skew=skew)
    tenant = emu.tenant("tenant01")
    now = int(time.time())
    answer = raw_token(tenant, _assertion_form(tenant, _assertion(emu, tenant, **{k: now + v for k, v in claims.items()})))
    assert answer.status_code == status, answer.text
    if status == 401:
        assert answer.json()["error_codes"] == [700024]


def test_forged_graph_token_without_the_nonce_transform_is_refused(emu, graph_as, raw_token):
    """A token re-signed as a plain JWT (nonce left as is) must not pass Graph either."""
    tenant = emu.tenant("tenant01")
    form = {"grant_type": "client_credentials", "client_id": tenant["bootstrap"]["client_id"],
            "client_secret": tenant["bootstrap"]["client_secret"], "scope": GRAPH_SCOPE}
    token = raw_token(tenant, form).json()["access_token"]
    assert graph_as(emu, token).get("/organization").status_code == 200
    header, payload, signature = token.split(".")
    header_json = jwt.get_unverified_header(token)
    header_json.pop("nonce")
    import json  # pylint: disable=import-outside-toplevel
    stripped = base64.urlsafe_b64encode(json.dumps(header_json, separators=(",", ":")).encode()).decode().rstrip("=")
    assert graph_as(emu, ".".join([stripped, payload, signature])).get("/organization").status_code == 401
