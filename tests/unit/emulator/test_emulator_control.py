# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Replication lag, fault injection, request log, counters, reset, state file and the CLI."""

import base64
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from m365emu import Emulator

EMULATOR_PATH = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "emulator"))
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
MANAGE_AS_APP = "dc50a0fb-09a3-484d-be87-e023b12c6440"


def _secret_form(tenant, scope=GRAPH_SCOPE):
    return {"grant_type": "client_credentials", "client_id": tenant["bootstrap"]["client_id"],
            "client_secret": tenant["bootstrap"]["client_secret"], "scope": scope}


def test_replication_lag_hides_new_objects(emu, graph):
    client = graph()
    emu.update_settings(replication_lag=0.6)
    app = client.post("/applications", {"displayName": "lagging"}).json()
    assert client.get(f"/applications/{app['id']}").status_code == 404
    assert not client.get("/applications?$filter=displayName eq 'lagging'").json()["value"]
    early_sp = client.post("/servicePrincipals", {"appId": app["appId"]})
    assert early_sp.status_code == 400 and "does not reference a valid application object" in early_sp.json()["error"]["message"]
    assert emu.state("tenant01")["tenants"][0]["pendingReplication"]["applications"] == [app["id"]]
    time.sleep(0.7)
    assert client.get(f"/applications/{app['id']}").status_code == 200
    sp = client.post("/servicePrincipals", {"appId": app["appId"]}).json()
    exchange = client.get(f"/servicePrincipals(appId='{EXCHANGE_APP_ID}')").json()
    early = client.post(f"/servicePrincipals/{exchange['id']}/appRoleAssignedTo",
                        {"principalId": sp["id"], "resourceId": exchange["id"], "appRoleId": MANAGE_AS_APP})
    assert early.status_code == 400 and early.json()["error"]["message"] == "Not a valid reference update."


def test_replication_lag_stale_reads_and_tokens(emu, graph, raw_token):
    client = graph()
    tenant = emu.tenant("tenant01")
    app = client.post("/applications", {"displayName": "before"}).json()
    emu.update_settings(tenant_replication_lag={"tenant01": 0.6})
    assert client.patch(f"/applications/{app['id']}", {"displayName": "after"}).status_code == 204
    assert client.get(f"/applications/{app['id']}").json()["displayName"] == "before"
    exchange = client.get(f"/servicePrincipals(appId='{EXCHANGE_APP_ID}')").json()
    assert client.post(f"/servicePrincipals/{exchange['id']}/appRoleAssignedTo", {
        "principalId": tenant["bootstrap"]["service_principal_id"], "resourceId": exchange["id"],
        "appRoleId": MANAGE_AS_APP}).status_code == 201
    token = raw_token(tenant, _secret_form(tenant, "https://outlook.office365.com/.default")).json()["access_token"]
    assert "roles" not in json.loads(_b64(token.split(".")[1]))
    time.sleep(0.7)
    assert client.get(f"/applications/{app['id']}").json()["displayName"] == "after"
    token = raw_token(tenant, _secret_form(tenant, "https://outlook.office365.com/.default")).json()["access_token"]
    assert json.loads(_b64(token.split(".")[1]))["roles"] == ["Exchange.ManageAsApp"]


def test_upsert_twice_during_lag_does_not_duplicate(emu, graph):
    client = graph()
    emu.update_settings(replication_lag=5)
    path = "/applications(uniqueName='lag-upsert')"
    prefer = {"Prefer": "create-if-missing"}
    assert client.patch(path, {"displayName": "lag"}, headers=prefer).status_code == 201
    assert client.patch(path, {"displayName": "lag"}, headers=prefer).status_code == 204
    apps = [a for a in emu.state("tenant01")["tenants"][0]["applications"] if a["uniqueName"] == "lag-upsert"]
    assert len(apps) == 1


def _b64(segment):
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def test_fault_429_with_retry_after_and_count(emu, graph):
    client = graph()
    emu.add_faults([{"method": "GET", "path": "^/v1.0/applications$", "status": 429, "retry_after": 2, "count": 2}])
    first, second, third = client.get("/applications"), client.get("/applications"), client.get("/applications")
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.headers["Retry-After"] == "2" and first.json()["error"]["code"] == "TooManyRequests"
    assert first.headers["request-id"]
    log = [e for e in emu.requests() if e["path"] == "/v1.0/applications"]
    assert [e["fault"] is not None for e in log] == [True, True, False]
    assert emu.counters()["faults"] == 2


def test_fault_after_and_drop(emu, graph):
    client = graph()
    emu.add_faults({"path": "/organization", "drop": True, "after": 1, "count": 1})
    assert client.get("/organization").status_code == 200
    with pytest.raises(requests.ConnectionError):
        client.get("/organization")
    assert client.get("/organization").status_code == 200
    assert emu.faults()[0]["applied"] == 1


def test_token_endpoint_fault_and_probability(emu, raw_token):
    tenant = emu.tenant("tenant02")
    emu.add_faults({"path": "/oauth2/v2.0/token$", "tenant": "tenant02", "status": 503, "count": 1})
    failed = raw_token(tenant, _secret_form(tenant))
    assert failed.status_code == 503 and failed.json()["error"] == "temporarily_unavailable"
    assert raw_token(tenant, _secret_form(tenant)).status_code == 200
    emu.add_faults({"path": "/oauth2/v2.0/token$", "status": 500, "probability": 0.0})
    assert raw_token(tenant, _secret_form(tenant)).status_code == 200


def test_token_endpoint_fault_with_a_plain_text_body(emu, raw_token):
    """Entra's throttled client-credentials answer: 429, "Too Many Requests" as plain text, Retry-After
    (AzureAD/microsoft-authentication-library-for-dotnet#2855), with a request id like any other answer."""
    tenant = emu.tenant("tenant01")
    emu.add_faults({"path": "/oauth2/v2.0/token$", "status": 429, "retry_after": 60, "body_text": "Too Many Requests",
                    "count": 1})
    throttled = raw_token(tenant, _secret_form(tenant))
    assert throttled.status_code == 429 and throttled.text == "Too Many Requests"
    assert throttled.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert throttled.headers["Retry-After"] == "60" and throttled.headers["x-ms-request-id"]
    with pytest.raises(ValueError):
        throttled.json()
    assert raw_token(tenant, _secret_form(tenant)).status_code == 200
    faulted, issued = [e for e in emu.requests() if e["route"] == "POST /{tenant}/oauth2/v2.0/token"]
    assert faulted["fault"] and faulted["status"] == 429 and faulted["tenant"] == tenant["tenant_id"]
    assert faulted["request_id"] == throttled.headers["x-ms-request-id"]
    assert issued["request_id"] and issued["request_id"] != faulted["request_id"]
    rule = emu.faults()[0]
    assert rule["body_text"] == "Too Many Requests" and rule["content_type"] == "text/plain; charset=utf-8"


def test_fault_text_body_with_its_own_content_type_on_graph(emu, graph):
    client = graph()
    emu.add_faults({"method": "GET", "path": "^/v1.0/organization$", "status": 503, "body_text": "<html>busy</html>",
                    "content_type": "text/html", "retry_after": 1.5, "count": 1})
    busy = client.get("/organization")
    assert busy.status_code == 503 and busy.text == "<html>busy</html>" and busy.headers["Content-Type"] == "text/html"
    assert busy.headers["Retry-After"] == "1.5" and busy.headers["request-id"]
    assert client.get("/organization").status_code == 200
    faulted = [e for e in emu.requests() if e["path"] == "/v1.0/organization"][0]
    assert faulted["request_id"] == busy.headers["request-id"]


def test_faulted_answers_keep_the_json_body_by_default_and_log_the_request_id(emu, graph, raw_token):
    tenant = emu.tenant("tenant02")
    client = graph("tenant02")
    emu.add_faults([{"path": "/oauth2/v2.0/token$", "tenant": "tenant02", "status": 429, "retry_after": 1, "count": 1},
                    {"method": "GET", "path": "^/v1.0/applications$", "status": 429, "count": 1},
                    {"method": "GET", "path": "^/v1.0/organization$", "drop": True, "count": 1}])
    sts = raw_token(tenant, _secret_form(tenant))
    assert sts.status_code == 429 and sts.headers["Content-Type"].startswith("application/json")
    assert sts.json()["error_codes"] == [90033] and sts.json()["trace_id"] == sts.headers["x-ms-request-id"]
    ms_graph = client.get("/applications")
    assert ms_graph.json()["error"]["code"] == "TooManyRequests"
    with pytest.raises(requests.ConnectionError):
        client.get("/organization")
    log = {e["route"]: e for e in emu.requests() if e["fault"]}
    assert log["POST /{tenant}/oauth2/v2.0/token"]["request_id"] == sts.headers["x-ms-request-id"]
    assert log["GET /v1.0/applications"]["request_id"] == ms_graph.headers["request-id"]
    assert log["GET /v1.0/organization"]["status"] is None and log["GET /v1.0/organization"]["request_id"] is None


@pytest.mark.parametrize("rule, problem", [
    ({"status": 429, "body_text": 5}, "body_text must be a string"),
    ({"status": 429, "content_type": "text/plain"}, "content_type needs body_text"),
    ({"drop": True, "body_text": "x"}, "body_text needs status"),
    ({"delay": 1, "body_text": "x"}, "body_text needs status"),
    ({"status": 429, "body_text": "x", "content_type": "text/plain\r\nX-Evil: 1"}, "one-line"),
    ({"status": 429, "body_text": "x", "code": "TooManyRequests"}, "code and message are not used"),
])
def test_fault_text_body_rules_are_checked(emu, rule, problem):
    with pytest.raises(ValueError, match=problem):
        emu.add_faults(rule)
    assert emu.faults() == []


def test_request_log_has_no_secrets_and_counters(emu, graph, raw_token):
    tenant = emu.tenant("tenant01")
    client = graph()
    client.get("/applications?$top=5")
    raw_token(tenant, dict(_secret_form(tenant), client_secret="wrong"))
    entries = emu.requests()
    text = json.dumps(entries)
    assert tenant["bootstrap"]["client_secret"] not in text and "wrong" not in text and "Bearer" not in text
    graph_entry = [e for e in entries if e["path"] == "/v1.0/applications"][0]
    assert graph_entry["query"] == "$top=5" and graph_entry["status"] == 200
    assert graph_entry["tenant"] == tenant["tenant_id"] and graph_entry["client_id"] == tenant["bootstrap"]["client_id"]
    assert {"time", "method", "duration_ms", "fault"} <= set(graph_entry)
    counters = emu.counters()
    assert counters["routes"]["GET /v1.0/applications"] == 1
    slot = counters["tokens"][tenant["tenant_id"]][tenant["bootstrap"]["client_id"]]["https://graph.microsoft.com"]
    assert slot == {"requests": 2, "issued": 1}


def test_control_api_over_https(emu, graph):
    session = requests.Session()
    session.trust_env = False
    session.verify = emu.ca_bundle
    graph().post("/applications", {"displayName": "via control"})
    state = session.get(f"{emu.base_url}/_emulator/state", params={"tenant": "tenant01"}).json()
    names = [a["displayName"] for a in state["tenants"][0]["applications"]]
    assert "via control" in names
    boot = [a for a in state["tenants"][0]["applications"] if a["displayName"] == "m365.cba bootstrap"][0]
    assert boot["keyCredentials"][0]["key"] and boot["keyCredentials"][0]["thumbprint_sha1"] == emu.tenant("tenant01")["bootstrap"]["thumbprint"]
    assert "_secret_sha256" not in json.dumps(state)
    assert session.post(f"{emu.base_url}/_emulator/faults", json=[{"status": 500, "count": 1}]).status_code == 201
    assert len(session.get(f"{emu.base_url}/_emulator/faults").json()["value"]) == 1
    assert session.delete(f"{emu.base_url}/_emulator/faults").status_code == 204
    settings = session.post(f"{emu.base_url}/_emulator/settings", json={"replication_lag": 0.25}).json()
    assert settings["replication_lag"] == 0.25
    assert session.post(f"{emu.base_url}/_emulator/tenants/tenant01/bootstrap/permissions",
                        json={"permissions": ["Organization.Read.All"]}).status_code == 200
    assert session.post(f"{emu.base_url}/_emulator/reset").status_code == 204
    names = [a["displayName"] for a in session.get(f"{emu.base_url}/_emulator/state").json()["tenants"][0]["applications"]]
    assert names == ["m365.cba bootstrap"]
    assert session.get(f"{emu.base_url}/_emulator/counters").json()["total"] >= 1
    assert session.post(f"{emu.base_url}/_emulator/requests/reset").status_code == 204


def test_state_file_round_trip(tmp_path):
    state_file = str(tmp_path / "state.json")
    with Emulator(str(tmp_path / "run1"), tenants=1, state_file=state_file) as first:
        tenant = first.tenant("tenant01")
        token = _token(first, tenant)
        _post(first, token, "/v1.0/applications", {"displayName": "persisted"})
    with Emulator(str(tmp_path / "run2"), tenants=5, state_file=state_file) as second:
        assert [t["tenant_id"] for t in second.tenants] == [tenant["tenant_id"]]
        again = second.tenant("tenant01")
        assert again["bootstrap"]["client_id"] == tenant["bootstrap"]["client_id"]
        assert again["bootstrap"]["client_secret"] == tenant["bootstrap"]["client_secret"]
        assert again["bootstrap"]["thumbprint"] == tenant["bootstrap"]["thumbprint"]
        names = [a["displayName"] for a in second.state()["tenants"][0]["applications"]]
        assert "persisted" in names
        _token(second, again)
        second.reset()
        assert [a["displayName"] for a in second.state()["tenants"][0]["applications"]] == ["m365.cba bootstrap"]


def _token(emulator, tenant):
    session = requests.Session()
    session.trust_env = False
    response = session.post(f"{emulator.base_url}/{tenant['tenant_id']}/oauth2/v2.0/token", data=_secret_form(tenant),
                            verify=emulator.ca_bundle)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def _post(emulator, token, path, body):
    session = requests.Session()
    session.trust_env = False
    response = session.post(f"{emulator.base_url}{path}", json=body, verify=emulator.ca_bundle,
                            headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.text


def _cli(*args, timeout=60):
    env = dict(os.environ, PYTHONPATH=EMULATOR_PATH)
    return subprocess.run([sys.executable, "-m", "m365emu", *args], capture_output=True, text=True, timeout=timeout,
                          env=env, check=False)


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stream:
            return stream.read().split(") ")[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_cli_start_status_stop(tmp_path):
    state_dir = str(tmp_path / "cli")
    started = _cli("start", "--state-dir", state_dir, "--tenants", "2", "--replication-lag", "0")
    assert started.returncode == 0, started.stderr
    with open(os.path.join(state_dir, "emulator.json"), encoding="utf-8") as stream:
        info = json.load(stream)
    try:
        assert started.stdout.strip() == info["base_url"]
        assert [t["name"] for t in info["tenants"]] == ["tenant01", "tenant02"]
        with open(os.path.join(state_dir, "inventory.yml"), encoding="utf-8") as stream:
            inventory = stream.read()
        assert f'm365_cba_authority_host: "{info["base_url"]}"' in inventory
        assert info["tenants"][0]["bootstrap"]["client_secret"] not in inventory
        assert oct(os.stat(info["tenants"][0]["bootstrap"]["certificate_path"]).st_mode & 0o777) == "0o600"
        assert _cli("status", "--state-dir", state_dir).returncode == 0
        assert _cli("start", "--state-dir", state_dir).returncode != 0  # already running
    finally:
        stopped = _cli("stop", "--state-dir", state_dir)
    assert stopped.returncode == 0, stopped.stderr
    assert not _alive(info["pid"])
    assert _cli("status", "--state-dir", state_dir).returncode == 3
    if _alive(info["pid"]):
        os.kill(info["pid"], signal.SIGKILL)
