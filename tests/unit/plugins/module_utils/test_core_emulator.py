# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The sign-in and Graph core against the emulator: real msal, real TLS, counted requests."""

from __future__ import annotations

import os

import pytest

from ansible_collections.m365.cba.plugins.module_utils._auth import AuthError, Connection, TokenSource, jwt_claims
from ansible_collections.m365.cba.plugins.module_utils._graph import GraphClient, GraphError, RetryPolicy
from ansible_collections.m365.cba.plugins.module_utils._organization import read_organization

GRAPH = "https://graph.microsoft.com"


def connection(emu, tenant="tenant01", cache_dir="none", **overrides):
    info = emu.tenant(tenant)
    boot = info["bootstrap"]
    values = {"tenant_id": info["tenant_id"], "client_id": boot["client_id"], "client_certificate_path": boot["certificate_path"],
              "authority_host": emu.base_url, "graph_endpoint": emu.base_url, "ca_bundle": emu.ca_bundle,
              "token_cache_dir": cache_dir}
    values.update(overrides)
    return Connection(**values)


def token_requests(emu):
    return sum(r["requests"] for clients in emu.counters()["tokens"].values() for c in clients.values() for r in c.values())


@pytest.mark.parametrize("shape", ["pem", "pfx", "secret"])
def test_each_credential_shape_gets_a_graph_token_despite_requests_ca_bundle(emu, shape, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    boot = emu.tenant("tenant01")["bootstrap"]
    overrides = {
        "pem": {},
        "pfx": {"client_certificate_path": boot["pfx_path"], "client_certificate_password": boot["pfx_password"]},
        "secret": {"client_certificate_path": None, "client_secret": boot["client_secret"]},
    }[shape]
    claims = jwt_claims(TokenSource(connection(emu, **overrides)).token_for(GRAPH))
    assert claims["aud"].rstrip("/") == GRAPH
    assert claims["appid"] == boot["client_id"]
    assert claims["tid"] == emu.tenant("tenant01")["tenant_id"]
    assert "Application.ReadWrite.All" in claims["roles"]
    assert claims["appidacr"] == ("1" if shape == "secret" else "2")


def test_one_token_per_tenant_client_and_resource_across_tasks(emu, tmp_path):
    cache = str(tmp_path / "cache")
    for dummy in range(3):  # three tasks, each with its own TokenSource (its own process in real life)
        client = GraphClient(emu.base_url, lambda: TokenSource(connection(emu, cache_dir=cache)).token_for(GRAPH), verify=emu.ca_bundle)
        assert read_organization(client)["initial_domain"] == "Tenant01.onmicrosoft.com"
    TokenSource(connection(emu, tenant="tenant02", cache_dir=cache)).token_for(GRAPH)
    assert token_requests(emu) == 2
    assert emu.counters()["routes"].get("GET /v1.0/organization") == 3


def test_wrong_secret_names_the_option_and_the_aadsts_code(emu):
    with pytest.raises(AuthError) as info:
        TokenSource(connection(emu, client_certificate_path=None, client_secret="wrong")).token_for(GRAPH)
    assert info.value.option == "client_secret" and info.value.code == 7000215
    assert "wrong" not in str(info.value)


def test_unknown_tenant_names_tenant_id(emu):
    with pytest.raises(AuthError) as info:
        TokenSource(connection(emu, tenant_id="nosuchtenant.onmicrosoft.com")).token_for(GRAPH)
    assert info.value.option == "tenant_id"


def test_certificate_of_another_app_is_refused_with_700027(emu):
    other = emu.tenant("tenant02")["bootstrap"]["certificate_path"]
    with pytest.raises(AuthError) as info:
        TokenSource(connection(emu, client_certificate_path=other)).token_for(GRAPH)
    assert info.value.code == 700027 and info.value.option == "client_certificate_path"


def test_403_carries_code_request_id_and_matches_the_emulator_log(emu):
    emu.set_bootstrap_permissions("tenant01", ["Application.ReadWrite.All"])
    client = GraphClient(emu.base_url, lambda: TokenSource(connection(emu)).token_for(GRAPH), verify=emu.ca_bundle)
    with pytest.raises(GraphError) as info:
        read_organization(client)
    err = info.value
    assert (err.status, err.code) == (403, "Authorization_RequestDenied")
    logged = [r for r in emu.requests() if r["path"] == "/v1.0/organization"]
    assert logged and logged[-1]["request_id"] == err.request_id


def test_paging_against_the_emulator(emu):
    client = GraphClient(emu.base_url, lambda: TokenSource(connection(emu)).token_for(GRAPH), verify=emu.ca_bundle)
    for n in range(5):
        client.post("/applications", {"displayName": f"paging-{n}", "signInAudience": "AzureADMyOrg"})
    emu.reset_requests()
    items = client.get_all("/applications", params={"$top": 2, "$select": "id,displayName"})
    names = sorted(i["displayName"] for i in items if i["displayName"].startswith("paging-"))
    assert names == [f"paging-{n}" for n in range(5)]
    pages = emu.counters()["routes"]["GET /v1.0/applications"]
    assert pages == -(-len(items) // 2) and pages >= 3


def test_429_from_the_emulator_is_waited_out(emu):
    emu.add_faults([{"method": "GET", "path": "^/v1.0/organization$", "status": 429, "retry_after": 2, "count": 2}])
    waits = []
    client = GraphClient(emu.base_url, lambda: TokenSource(connection(emu)).token_for(GRAPH), verify=emu.ca_bundle,
                         sleep=waits.append, policy=RetryPolicy(retry_after_cap=5))
    assert read_organization(client)["tenant_id"] == emu.tenant("tenant01")["tenant_id"]
    assert len(waits) == 2 and all(2 <= w <= 2.2 for w in waits)
    assert [r["status"] for r in emu.requests() if r["path"] == "/v1.0/organization"] == [429, 429, 200]


def test_dropped_connection_on_get_is_retried(emu):
    emu.add_faults([{"method": "GET", "path": "^/v1.0/organization$", "drop": True, "count": 1}])
    client = GraphClient(emu.base_url, lambda: TokenSource(connection(emu)).token_for(GRAPH), verify=emu.ca_bundle, sleep=lambda s: None)
    assert read_organization(client)["initial_domain"] == "Tenant01.onmicrosoft.com"


def test_cache_directory_default_is_private_and_outside_the_repository(emu, monkeypatch, tmp_path):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    source = TokenSource(connection(emu, cache_dir=None))
    source.token_for(GRAPH)
    assert source.cache.directory.startswith(str(tmp_path))
    assert oct(os.stat(source.cache.directory).st_mode & 0o777) == "0o700"
