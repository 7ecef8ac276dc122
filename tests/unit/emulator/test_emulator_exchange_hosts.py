# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Exchange's host names per cloud, the Admin API v2.0, EXOModuleFile, Security & Compliance behind its
front door, injected faults, the request log and the control API for Exchange state."""

import pytest
import requests
from exchange_support import (
    COMPLIANCE_SCOPE, UNSUPPORTED, ExchangeClient, certificate_token, detail, exchange_client, grant, tid,
)

from m365emu import Emulator

ANCHOR = "UPN:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@Tenant01.onmicrosoft.com"
CONCURRENCY = "You have reached the maximum number of concurrent requests per tenant. Please wait and try again"


@pytest.fixture
def exo(emu, graph):
    """exo(tenant_name, directory_roles=(...), app_roles=(...), scope=..., host=...) -> ExchangeClient."""
    return lambda *args, **kwargs: exchange_client(emu, graph, *args, **kwargs)


# ---------------------------------------------------------------- host names
def test_exchange_host_names_are_served_by_host_header(emu, exo):
    client = exo(host="outlook.office365.com")
    response = client.invoke(tid(emu), "Get-OrganizationConfig", headers={"X-AnchorMailbox": ANCHOR})
    assert response.status_code == 200
    assert response.json()["@odata.context"].startswith(f"https://outlook.office365.com/adminapi/beta/{tid(emu)}/")
    client.host = "Outlook.Office.com:443"
    assert client.invoke(tid(emu), "Get-OrganizationConfig").status_code == 200
    graph_path = client.session.get(f"{emu.base_url}/v1.0/organization", headers=client.headers(), timeout=10)
    assert graph_path.status_code == 404 and graph_path.json()["error"]["code"] == "NotFound"
    entry = [e for e in emu.requests() if e["route"].endswith("/InvokeCommand")][0]
    assert entry["route"] == "POST outlook.office365.com/adminapi/beta/{tenant}/InvokeCommand"
    assert entry["host"] == "outlook.office365.com" and entry["anchor"] == ANCHOR
    assert entry["cmdlet"] == "Get-OrganizationConfig" and entry["tenant"] == tid(emu)


@pytest.fixture(scope="module")
def clouds(tmp_path_factory):
    seed = [{"name": "gov01", "cloud": "usgov_high", "exchange": {"mailboxes": 3, "dehydrated": True}},
            {"name": "com01"}]
    with Emulator(str(tmp_path_factory.mktemp("clouds")), seed=seed) as emu:
        yield emu


def test_sovereign_cloud_hosts_audiences_and_seeded_state(clouds, graph_as, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    clouds.reset(faults=True, requests=True, settings=True)
    gov = clouds.tenant("gov01")
    session = requests.Session()
    session.trust_env = False
    form = {"grant_type": "client_credentials", "client_id": gov["bootstrap"]["client_id"],
            "client_secret": gov["bootstrap"]["client_secret"], "scope": "https://graph.microsoft.us/.default"}
    graph_token = session.post(f"{clouds.base_url}/{gov['tenant_id']}/oauth2/v2.0/token", data=form,
                               verify=clouds.ca_bundle, timeout=10).json()["access_token"]
    grant(graph_as(clouds, graph_token), gov, directory_roles=("Global Reader",))
    token = certificate_token(clouds, gov, "https://outlook.office365.us/.default")
    client = ExchangeClient(clouds, token, host="outlook.office365.us")
    config = client.invoke(gov["tenant_id"], "Get-OrganizationConfig")
    assert config.status_code == 200 and config.json()["value"][0]["IsDehydrated"] is True
    assert len(client.invoke(gov["tenant_id"], "Get-Mailbox").json()["value"]) == 3
    client.host = "outlook.office365.com"  # the commercial host does not know a GCC High tenant's token
    assert client.invoke(gov["tenant_id"], "Get-OrganizationConfig").status_code == 401
    client.host = "outlook.office365.us"
    assert client.invoke(clouds.tenant("com01")["tenant_id"], "Get-OrganizationConfig").status_code == 404
    clouds.update_settings(exchange_clouds={"usgov_high": {"hosts": ["exo.gov.example"]}})
    client.host = "exo.gov.example"
    assert client.invoke(gov["tenant_id"], "Get-OrganizationConfig").status_code == 200


def test_seed_and_settings_validation():
    with pytest.raises(ValueError):
        Emulator("/nonexistent", seed=[{"name": "t1", "exchange": {"mailbox": 3}}])
    with pytest.raises(ValueError):
        Emulator("/nonexistent", seed=[{"name": "t1", "exchange": {"dehydrated": "yes"}}])
    with pytest.raises(ValueError):
        Emulator("/nonexistent", tenants=1, settings={"exchange_denied_cmdlet": "silently"})


# ---------------------------------------------------------------- Admin API v2.0 and EXOModuleFile
def test_admin_api_v2_needs_the_v2_role_and_the_matching_cmdlet(emu, exo):
    v1_only = exo(directory_roles=("Global Reader",))
    refused = v1_only.invoke(tid(emu), "Get-OrganizationConfig", version="v2.0", tail="OrganizationConfig")
    assert refused.status_code == 401 and "no permissions" in refused.json()["error"]["message"]
    client = exo("tenant02", directory_roles=("Global Reader",), app_roles=("Exchange.ManageAsAppV2",))
    tenant = tid(emu, "tenant02")
    ok = client.invoke(tenant, "Get-OrganizationConfig", version="v2.0", tail="OrganizationConfig")
    assert ok.status_code == 200 and ok.json()["value"][0]["Name"] == "tenant02.onmicrosoft.com"
    assert ok.json()["@odata.context"].endswith(f"/adminapi/v2.0/{tenant}/$metadata#Collection(Exchange.GenericHashTable)")
    domains = client.invoke(tenant, "Get-AcceptedDomain", {"ResultSize": 1}, version="v2.0", tail="AcceptedDomain")
    assert [d["DomainName"] for d in domains.json()["value"]] == ["tenant02.onmicrosoft.com"]
    mismatch = client.invoke(tenant, "Get-AcceptedDomain", version="v2.0", tail="OrganizationConfig")
    assert mismatch.status_code == 400 and "Get-OrganizationConfig" in detail(mismatch)[2]
    assert client.invoke(tenant, "Get-Mailbox", version="v2.0", tail="OrganizationConfig").status_code == 400
    assert client.invoke("tenant02.onmicrosoft.com", "Get-OrganizationConfig", version="v2.0",
                         tail="OrganizationConfig").status_code == 404
    assert client.invoke(tenant, "Get-Mailbox", version="v2.0", tail="Mailbox").status_code == 501
    assert client.invoke(tenant, "Get-Mailbox", version="v2.0", tail="Recipient").status_code == 404
    beta = client.invoke(tenant, "Get-OrganizationConfig")  # the V2 role alone does not open InvokeCommand
    assert beta.status_code == 401


def test_module_file_lists_the_cmdlets_the_caller_may_run(emu, exo):
    admin = exo()
    url = f"{emu.base_url}/AdminApi/v1.0/{tid(emu)}/EXOModuleFile?Version=3.9.0"
    listed = admin.get(url, {"CommandName": "*", "X-AnchorMailbox": ANCHOR})
    assert listed.status_code == 200
    exported = "Get-AcceptedDomain,Get-Mailbox,Get-OrganizationConfig,Set-Mailbox"
    assert listed.json() == {"value": [{"exportedCmdlets": exported}]}
    assert admin.session.post(url, headers=admin.headers(), timeout=10).status_code == 405
    reader = exo("tenant02", directory_roles=("Global Reader",))
    listed = reader.get(f"{emu.base_url}/adminapi/v1.0/tenant02.onmicrosoft.com/EXOModuleFile")
    assert listed.json()["value"][0]["exportedCmdlets"] == "Get-AcceptedDomain,Get-Mailbox,Get-OrganizationConfig"
    emu.reset()
    nobody = exo("tenant02", directory_roles=())
    refused = nobody.get(f"{emu.base_url}/adminapi/v1.0/{tid(emu, 'tenant02')}/EXOModuleFile")
    assert refused.status_code == 403 and UNSUPPORTED in detail(refused)[2]


# ---------------------------------------------------------------- Security & Compliance
def test_compliance_front_door_redirects_to_the_regional_host(emu, exo):
    client = exo(directory_roles=("Compliance Administrator",), scope=COMPLIANCE_SCOPE,
                 host="ps.compliance.protection.outlook.com")
    front = client.invoke(tid(emu), "Get-DlpCompliancePolicy", headers={"X-AnchorMailbox": ANCHOR})
    assert front.status_code == 302 and front.content == b""
    location = f"https://eur02b.admin.protection.outlook.com:446/adminapi/beta/{tid(emu)}/InvokeCommand"
    assert front.headers["Location"] == location
    client.host = "eur02b.ps.compliance.protection.outlook.com"  # as clients re-issue it: ps.compliance, port 443
    regional = client.invoke(tid(emu), "Get-DlpCompliancePolicy", headers={"X-AnchorMailbox": ANCHOR})
    assert regional.status_code == 200 and regional.json()["value"] == []
    emu.update_exchange("tenant01", dlp_policies=["Default policy", "Finance"])
    rows = client.invoke(tid(emu), "Get-DlpCompliancePolicy", {"Identity": "finance"}).json()["value"]
    assert [r["Name"] for r in rows] == ["Finance"] and rows[0]["Guid@odata.type"] == "#Guid"
    assert client.invoke(tid(emu), "Get-DlpCompliancePolicy", {"Identity": "none"}).status_code == 404
    not_here = client.invoke(tid(emu), "Get-Mailbox")
    assert not_here.status_code == 400 and detail(not_here)[1].endswith("CommandNotFoundException")
    module = client.get(f"{emu.base_url}/adminapi/v1.0/{tid(emu)}/EXOModuleFile")
    assert module.json()["value"][0]["exportedCmdlets"] == "Get-DlpCompliancePolicy"
    emu.update_exchange("tenant01", compliance_region="nam12b")
    assert client.invoke(tid(emu), "Get-DlpCompliancePolicy").headers["Location"].startswith(
        "https://nam12b.admin.protection.outlook.com:446/")
    routes = {e["route"] for e in emu.requests()}
    assert "POST ps.compliance.protection.outlook.com/adminapi/beta/{tenant}/InvokeCommand" in routes
    assert "POST {region}.ps.compliance.protection.outlook.com/adminapi/beta/{tenant}/InvokeCommand" in routes


def test_compliance_audience_roles_unknown_tenants_and_redirect_setting(emu, exo):
    client = exo(directory_roles=("Exchange Administrator",), scope=COMPLIANCE_SCOPE,
                 host="eur02b.ps.compliance.protection.outlook.com")
    refused = client.invoke(tid(emu), "Get-DlpCompliancePolicy")  # Exchange Administrator: not an S&C role
    assert refused.status_code == 403 and UNSUPPORTED in detail(refused)[2]
    client.token = certificate_token(emu, emu.tenant("tenant01"))  # an Exchange token at the compliance host
    assert client.invoke(tid(emu), "Get-DlpCompliancePolicy").status_code == 401
    client.token = certificate_token(emu, emu.tenant("tenant01"), COMPLIANCE_SCOPE)
    client.host = "ps.compliance.protection.outlook.com"
    missing = client.invoke("00000000-0000-0000-0000-000000000001", "Get-DlpCompliancePolicy")
    assert missing.status_code == 500 and missing.json() == {"error": {"message": "Could not find the organization "
                                                                                  "container"}}
    emu.update_settings(exchange_compliance_redirect=False)
    assert client.invoke(tid(emu), "Get-DlpCompliancePolicy").status_code == 403
    client.host = None  # the emulator's own host is Exchange Online, not Security & Compliance
    assert client.invoke(tid(emu), "Get-DlpCompliancePolicy").status_code == 401


# ---------------------------------------------------------------- faults, the log and the control API
def test_throttling_faults_with_and_without_retry_after(emu, exo):
    client = exo()
    emu.add_faults([{"path": "^/adminapi/", "tenant": "tenant01", "status": 429, "retry_after": 7, "count": 1}])
    throttled = client.invoke(tid(emu), "Get-Mailbox")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "7"
    error = throttled.json()["error"]
    assert error["code"] == "TooManyRequests" and error["message"].split(" ")[-2] == "7"
    assert throttled.headers["request-id"]
    assert client.invoke(tid(emu), "Get-Mailbox").status_code == 200
    emu.add_faults([{"path": "InvokeCommand", "status": 429, "count": 1}])
    bare = client.invoke(tid(emu), "Get-Mailbox")
    assert bare.status_code == 429 and "Retry-After" not in bare.headers
    emu.add_faults([{"path": "InvokeCommand", "status": 503, "body_text": CONCURRENCY, "count": 1}])
    text = client.invoke(tid(emu), "Get-Mailbox")
    assert text.status_code == 503 and text.text == CONCURRENCY
    assert text.headers["Content-Type"].startswith("text/plain")
    emu.add_faults([{"path": "InvokeCommand", "tenant": "tenant02", "status": 503}])
    assert client.invoke(tid(emu), "Get-Mailbox").status_code == 200
    faulted = [e for e in emu.requests() if e["fault"]]
    assert [e["status"] for e in faulted] == [429, 429, 503] and {e["tenant"] for e in faulted} == {tid(emu)}


def test_request_log_counts_exchange_requests_per_tenant(emu, exo):
    one, two = exo("tenant01"), exo("tenant02")
    emu.reset_requests()
    for _attempt in range(3):
        one.invoke(tid(emu), "Get-Mailbox", headers={"client-request-id": "abc"})
    two.invoke(tid(emu, "tenant02"), "Get-OrganizationConfig")
    one.invoke(tid(emu, "tenant02"), "Get-OrganizationConfig")  # refused: the token is tenant01's
    per_tenant = {}
    for entry in emu.requests():
        per_tenant[entry["tenant"]] = per_tenant.get(entry["tenant"], 0) + 1
    assert per_tenant == {tid(emu): 3, tid(emu, "tenant02"): 2}
    assert emu.counters()["routes"] == {"POST /adminapi/beta/{tenant}/InvokeCommand": 5}
    first = emu.requests()[0]
    assert first["client_request_id"] == "abc" and first["cmdlet"] == "Get-Mailbox" and first["status"] == 200
    assert first["client_id"] == emu.tenant("tenant01")["bootstrap"]["client_id"]


def test_control_api_for_exchange_state(emu):
    session = requests.Session()
    session.trust_env = False
    url = f"{emu.base_url}/_emulator/tenants/tenant02/exchange"
    state = session.get(url, verify=emu.ca_bundle, timeout=10).json()
    assert len(state["mailboxes"]) == 25 and state["organization"]["IsDehydrated"] is False
    assert state["complianceRegion"] == "eur02b" and state["dlpPolicies"] == []
    changed = session.post(url, json={"mailboxes": 2, "dlp_policies": ["P1"]}, verify=emu.ca_bundle, timeout=10)
    assert changed.status_code == 200 and [m["Alias"] for m in changed.json()["mailboxes"]] == ["user01", "user02"]
    for bad in ({"mailboxes": -1}, {"color": "red"}, {"dehydrated": 1}, {"compliance_region": "EU West"}):
        assert session.post(url, json=bad, verify=emu.ca_bundle, timeout=10).status_code == 400, bad
    assert session.get(f"{emu.base_url}/_emulator/tenants/nosuch/exchange", verify=emu.ca_bundle,
                       timeout=10).status_code == 400
    emu.reset()
    assert len(emu.exchange("tenant02")["mailboxes"]) == 25
    assert emu.exchange("tenant02")["mailboxes"][0]["Guid"] == state["mailboxes"][0]["Guid"]


def test_exchange_state_survives_a_restart_with_a_state_file(tmp_path, graph_as, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    state_file = str(tmp_path / "state.json")
    with Emulator(str(tmp_path / "run"), tenants=1, state_file=state_file) as emu:
        emu.update_exchange("tenant01", dehydrated=True, mailboxes=4)
    with Emulator(str(tmp_path / "run"), tenants=1, state_file=state_file) as emu:
        state = emu.exchange("tenant01")
        assert state["organization"]["IsDehydrated"] is True and len(state["mailboxes"]) == 4
