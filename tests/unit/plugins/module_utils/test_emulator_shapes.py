# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection against the shapes Graph documents and the emulator now answers with: the partial
201 of the service principal upsert, keyCredentials as Graph writes them, tenants with several
verified domains."""

from __future__ import annotations

import base64
import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from ansible_collections.m365.cba.plugins.module_utils._auth import Connection, TokenSource, jwt_claims
from ansible_collections.m365.cba.plugins.module_utils._connect import connect_commands
from ansible_collections.m365.cba.plugins.module_utils._graph import GraphClient
from ansible_collections.m365.cba.plugins.module_utils._key_credentials import (
    new_key_credential,
    read_applications,
    read_key_credentials,
    reconcile,
    summarise_all,
    write_key_credentials,
)
from ansible_collections.m365.cba.plugins.module_utils._organization import read_organization, summarise
from ansible_collections.m365.cba.plugins.module_utils._service_principals import normalise, upsert_service_principal

GRAPH = "https://graph.microsoft.com"


def client_for(emu, tenant="tenant01"):
    info = emu.tenant(tenant)
    boot = info["bootstrap"]
    connection = Connection(tenant_id=info["tenant_id"], client_id=boot["client_id"],
                            client_certificate_path=boot["certificate_path"], authority_host=emu.base_url,
                            graph_endpoint=emu.base_url, ca_bundle=emu.ca_bundle, token_cache_dir="none")
    source = TokenSource(connection)
    return GraphClient(emu.base_url, lambda: source.token_for(GRAPH), verify=emu.ca_bundle)


def certificate(common_name, days=90):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    start = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(minutes=5)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=days)).sign(key, hashes.SHA256()))


# ---------------------------------------------------------------- the service principal upsert
@pytest.mark.parametrize("body, tags", [
    ({"tags": ["m365-cba"], "notes": "managed"}, ["m365-cba"]),
    ({}, ["from-app"]),  # a new principal takes its application's tags
])
def test_new_service_principal_is_returned_whole(emu, body, tags):
    client = client_for(emu)
    app = client.post("/applications", {"displayName": "sp-shape", "tags": ["from-app"]})
    emu.reset_requests()
    sp = normalise(upsert_service_principal(client, app["appId"], body))
    stored = emu.state("tenant01")["tenants"][0]["servicePrincipals"]
    (created,) = [s for s in stored if s["appId"] == app["appId"]]
    assert sp == {"id": created["id"], "app_id": app["appId"], "display_name": "sp-shape", "tags": tags,
                  "notes": body.get("notes"), "app_role_assignment_required": False,
                  "service_principal_type": "Application"}
    assert (created["tags"], created["notes"], created["servicePrincipalType"]) == (tags, body.get("notes"), "Application")
    assert [r["route"] for r in emu.requests() if "/token" not in r["route"]] == [
        "PATCH /v1.0/servicePrincipals(appId={appId})"]


# ---------------------------------------------------------------- keyCredentials as Graph writes them
def test_key_credentials_read_and_rewritten_in_graph_forms(emu):
    client = client_for(emu)
    app = client.post("/applications", {"displayName": "kc-shape"})
    first, second = certificate("first"), certificate("second")
    thumbprint = first.fingerprint(hashes.SHA1()).hex().upper()
    write_key_credentials(client, app["id"], [new_key_credential(first)])
    # the second one as the portal (or Graph's default) has it: customKeyIdentifier = base64 of the hash bytes
    current = read_key_credentials(client, object_id=app["id"])["keyCredentials"]
    portal = new_key_credential(second)
    portal["customKeyIdentifier"] = base64.b64encode(second.fingerprint(hashes.SHA1())).decode()
    write_key_credentials(client, app["id"], current + [portal])
    read = read_key_credentials(client, object_id=app["id"])["keyCredentials"]
    assert [c["startDateTime"][-9:] for c in read] == [".0000000Z"] * 2  # seven fractional digits on the wire
    now = datetime.datetime.now(datetime.timezone.utc)
    summaries = summarise_all(read, now)
    assert [s["thumbprint"] for s in summaries] == [thumbprint, second.fingerprint(hashes.SHA1()).hex().upper()]
    assert summaries[0]["end_date_time"] == first.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert summaries[0]["start_date_time"] == first.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    # keep the first, drop the second: the entry that stays is re-sent as read and Graph keeps it
    plan = reconcile(read, thumbprint=second.fingerprint(hashes.SHA1()).hex().upper(), state="absent")
    write_key_credentials(client, app["id"], plan.credentials)
    after = read_key_credentials(client, object_id=app["id"])["keyCredentials"]
    assert after == [read[0]]


@pytest.mark.parametrize("with_key", [True, False])
def test_listed_applications_tell_thumbprints_in_both_forms(emu, with_key):
    client = client_for(emu)
    cert = certificate("listed")
    body = dict(new_key_credential(cert))
    if not with_key:
        body.pop("customKeyIdentifier")  # Graph's default: base64 of the thumbprint bytes
    client.post("/applications", {"displayName": "kc-list", "keyCredentials": [body]})
    emu.reset_requests()
    (app,) = read_applications(client, display_name="kc-list", certificate_lookup="never")
    (summary,) = summarise_all(app["keyCredentials"], datetime.datetime.now(datetime.timezone.utc))
    assert summary["thumbprint"] == cert.fingerprint(hashes.SHA1()).hex().upper()
    assert summary["thumbprint_source"] == "key"  # a list read that selects keyCredentials carries the key
    assert [r["route"] for r in emu.requests()] == ["GET /v1.0/applications"]
    app["keyCredentials"][0]["key"] = None  # as a read without the key would give it
    (summary,) = summarise_all(app["keyCredentials"], datetime.datetime.now(datetime.timezone.utc))
    assert (summary["thumbprint"], summary["thumbprint_source"]) == (
        cert.fingerprint(hashes.SHA1()).hex().upper(), "custom_key_identifier")


# ---------------------------------------------------------------- tenants with several verified domains
def test_organization_of_a_tenant_with_several_mixed_case_domains(emu):
    org = read_organization(client_for(emu, "tenant01"))
    assert org["initial_domain"] == "Tenant01.onmicrosoft.com" == emu.tenant("tenant01")["initial_domain"]
    assert org["default_domain"] == "Tenant01.Example.com"
    assert sorted(org["verified_domains"]) == sorted(["Tenant01.Example.com", "Tenant01.onmicrosoft.com",
                                                      "Tenant01.mail.onmicrosoft.com", "Mail.Tenant01.example.com"])
    lines = connect_commands("11111111-2222-3333-4444-555555555555", "AB" * 20, org["initial_domain"])
    assert "-Organization 'Tenant01.onmicrosoft.com'" in lines["thumbprint"]
    single = read_organization(client_for(emu, "tenant02"))
    assert single["initial_domain"] == single["default_domain"] == "tenant02.onmicrosoft.com"


@pytest.mark.parametrize("domains, initial", [
    # organization-get.md's example: one domain, mixed case, initial and default
    ([{"isDefault": True, "isInitial": True, "name": "Contoso.com"}], "Contoso.com"),
    # the initial domain listed after a default custom one, and a second onmicrosoft.com domain
    ([{"isDefault": True, "isInitial": False, "name": "Contoso.com"},
      {"isDefault": False, "isInitial": False, "name": "Contoso.mail.onmicrosoft.com"},
      {"isDefault": False, "isInitial": True, "name": "Contoso.onmicrosoft.com"}], "Contoso.onmicrosoft.com"),
])
def test_organization_summary_picks_the_initial_domain(domains, initial):
    org = summarise({"id": "t", "displayName": "Contoso", "verifiedDomains": domains})
    assert org["initial_domain"] == initial
    assert org["default_domain"] == "Contoso.com"


# ---------------------------------------------------------------- Graph tokens are read, never verified
def test_graph_token_claims_are_read_without_verifying(emu):
    info = emu.tenant("tenant01")
    boot = info["bootstrap"]
    connection = Connection(tenant_id=info["tenant_id"], client_id=boot["client_id"],
                            client_certificate_path=boot["certificate_path"], authority_host=emu.base_url,
                            graph_endpoint=emu.base_url, ca_bundle=emu.ca_bundle, token_cache_dir="none")
    token = TokenSource(connection).token_for(GRAPH)
    header = token.split(".")[0]
    assert b'"nonce"' in base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))
    claims = jwt_claims(token)
    assert claims["tid"] == info["tenant_id"] and claims["wids"] == ["0997a1d0-0d1d-4acb-b408-d5ca73121e90"]
