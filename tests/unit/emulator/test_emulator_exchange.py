# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Exchange Online's InvokeCommand: token checks, authorization from the token's wids, cmdlets over the
tenant's state, parameter binding, the envelopes and paging. Tokens come from real msal with the
bootstrap application's certificate."""

import time

import pytest
from exchange_support import (
    COMPLIANCE_SCOPE, UNSUPPORTED, ExchangeClient, certificate_token, detail, exchange_client, grant, tid,
)


@pytest.fixture
def exo(emu, graph):
    """exo(tenant_name, directory_roles=(...), app_roles=(...), scope=..., host=...) -> ExchangeClient."""
    return lambda *args, **kwargs: exchange_client(emu, graph, *args, **kwargs)


# ---------------------------------------------------------------- authentication and authorization
def test_role_assigned_after_the_token_was_minted_is_not_honoured(emu, graph):
    tenant = emu.tenant("tenant01")
    client = graph("tenant01")
    grant(client, tenant)
    old = ExchangeClient(emu, certificate_token(emu, tenant))
    refused = old.invoke(tid(emu), "Get-OrganizationConfig")
    assert refused.status_code == 403
    error_id, exception, text = detail(refused)
    assert exception == "Microsoft.Exchange.Configuration.Authorization.CmdletAccessDeniedException"
    assert UNSUPPORTED in text and tenant["bootstrap"]["client_id"] in text
    assert "[FailureCategory=AuthZ-CmdletAccessDeniedException]" in text and error_id == ""
    grant(client, tenant, app_roles=(), directory_roles=("Exchange Administrator",))
    assert old.invoke(tid(emu), "Get-OrganizationConfig").status_code == 403  # the old token has no new wids
    fresh = ExchangeClient(emu, certificate_token(emu, tenant))
    assert fresh.invoke(tid(emu), "Get-OrganizationConfig").status_code == 200


def test_unsupported_role_status_is_a_setting_and_unlisted_roles_are_unsupported(emu, exo):
    client = exo(directory_roles=("Application Administrator",))
    assert client.invoke(tid(emu), "Get-Mailbox").status_code == 403
    emu.update_settings(exchange_unsupported_role_status=401)
    refused = client.invoke(tid(emu), "Get-Mailbox")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "Unauthorized"
    with pytest.raises(ValueError):
        emu.update_settings(exchange_unsupported_role_status=500)


def test_wrong_audience_is_refused(emu, exo, graph):
    client = exo()
    graph_token = graph("tenant01").session.headers["Authorization"].split(" ", 1)[1]
    for token in (graph_token, certificate_token(emu, emu.tenant("tenant01"), COMPLIANCE_SCOPE)):
        client.token = token
        refused = client.invoke(tid(emu), "Get-OrganizationConfig")
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"]["code"] == "Unauthorized"
        assert "Invalid audience" in refused.json()["error"]["message"]
        assert refused.headers["WWW-Authenticate"].startswith("Bearer ")


def test_token_of_another_tenant_and_unknown_tenants_in_the_path(emu, exo):
    client = exo()
    other = client.invoke(tid(emu, "tenant02"), "Get-OrganizationConfig")
    assert other.status_code == 401 and "tenant" in other.json()["error"]["message"]
    assert client.invoke(emu.tenant("tenant02")["initial_domain"], "Get-OrganizationConfig").status_code == 401
    for segment in ("00000000-0000-0000-0000-000000000001", "nosuch.onmicrosoft.com", "tenant01"):
        missing = client.invoke(segment, "Get-OrganizationConfig")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "NotFound", segment
    for segment in ("tenant01.onmicrosoft.com", "TENANT01.EXAMPLE.COM", "tenant01.mail.onmicrosoft.com",
                    tid(emu).upper()):
        assert client.invoke(segment, "Get-OrganizationConfig").status_code == 200, segment


def test_token_without_manage_as_app_and_without_a_token(emu, exo):
    client = exo(app_roles=())
    refused = client.invoke(tid(emu), "Get-OrganizationConfig")
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == ("The token contains no permissions, or permissions can not be "
                                                  "understood.")
    client.token = ""
    assert client.invoke(tid(emu), "Get-OrganizationConfig").status_code == 401


def test_expired_and_foreign_tokens_are_refused(emu, exo):
    emu.update_settings(token_lifetime=1)
    client = exo()
    assert client.invoke(tid(emu), "Get-OrganizationConfig").status_code == 200
    time.sleep(1.3)
    expired = client.invoke(tid(emu), "Get-OrganizationConfig")
    assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]
    head, body, _signature = certificate_token(emu, emu.tenant("tenant01")).split(".")
    client.token = f"{head}.{body}.{'A' * 342}"
    assert client.invoke(tid(emu), "Get-OrganizationConfig").status_code == 401


def test_read_only_role_runs_get_cmdlets_only(emu, exo):
    client = exo(directory_roles=("Global Reader",))
    assert client.invoke(tid(emu), "Get-Mailbox", {"Identity": "user01"}).status_code == 200
    denied = client.invoke(tid(emu), "Set-Mailbox", {"Identity": "user01", "CustomAttribute1": "x"})
    assert denied.status_code == 400
    assert detail(denied) == ["CommandNotFoundException", "System.Management.Automation.CommandNotFoundException",
                              "The term 'Set-Mailbox' is not recognized as the name of a cmdlet, function, script "
                              "file, or operable program. Check the spelling of the name, or if a path was included, "
                              "verify that the path is correct and try again."]
    emu.update_settings(exchange_denied_cmdlet="not_allowed")
    denied = client.invoke(tid(emu), "Set-Mailbox", {"Identity": "user01", "CustomAttribute1": "x"})
    assert denied.status_code == 401 and denied.json()["error"]["message"] == "User is not allowed to call Set-Mailbox"
    assert emu.exchange("tenant01")["mailboxes"][0]["CustomAttribute1"] == ""


def test_role_rights_are_a_setting(emu, exo):
    emu.update_settings(exchange_role_rights={"exchange": {"Global Reader": ["Get-AcceptedDomain"]}})
    client = exo(directory_roles=("Global Reader",))
    assert client.invoke(tid(emu), "Get-AcceptedDomain").status_code == 200
    assert client.invoke(tid(emu), "Get-Mailbox").status_code == 400


def test_exchange_honours_a_new_role_only_after_the_propagation_lag(emu, graph):
    emu.update_settings(exchange_role_lag=0.8)
    tenant = emu.tenant("tenant01")
    grant(graph("tenant01"), tenant, directory_roles=("Exchange Administrator",))
    client = ExchangeClient(emu, certificate_token(emu, tenant))
    early = client.invoke(tid(emu), "Get-OrganizationConfig")
    assert early.status_code == 403 and UNSUPPORTED in detail(early)[2]
    time.sleep(0.9)
    assert client.invoke(tid(emu), "Get-OrganizationConfig").status_code == 200  # same token, now honoured


# ---------------------------------------------------------------- cmdlets and state
def test_organization_config_and_a_dehydrated_tenant_refusing_writes(emu, exo):
    client = exo()
    config = client.invoke(tid(emu), "Get-OrganizationConfig").json()["value"]
    assert len(config) == 1 and config[0]["IsDehydrated"] is False
    assert config[0]["Name"] == "Tenant01.onmicrosoft.com" and config[0]["Guid@odata.type"] == "#Guid"
    session = client.session
    changed = session.post(f"{emu.base_url}/_emulator/tenants/tenant01/exchange", json={"dehydrated": True})
    assert changed.status_code == 200 and changed.json()["organization"]["IsDehydrated"] is True
    assert client.invoke(tid(emu), "Get-OrganizationConfig").json()["value"][0]["IsDehydrated"] is True
    refused = client.invoke(tid(emu), "Set-Mailbox", {"Identity": "user02", "CustomAttribute1": "v"})
    assert refused.status_code == 400
    assert detail(refused)[:2] == ["FDC3D516", "Microsoft.Exchange.Configuration.Tasks."
                                   "InvalidOperationInDehydratedContextException"]
    assert "Enable-OrganizationCustomization" in detail(refused)[2]
    emu.update_settings(exchange_dehydrated_refuses_writes=False)
    assert client.invoke(tid(emu), "Set-Mailbox", {"Identity": "user02", "CustomAttribute1": "v"}).status_code == 200


def test_accepted_domains_are_the_verified_domains(emu, exo):
    client = exo()
    rows = client.invoke(tid(emu), "Get-AcceptedDomain").json()["value"]
    assert [r["DomainName"] for r in rows] == ["Tenant01.Example.com", "Tenant01.onmicrosoft.com",
                                               "Tenant01.mail.onmicrosoft.com", "Mail.Tenant01.example.com"]
    assert [r["Default"] for r in rows] == [True, False, False, False]
    assert [r["InitialDomain"] for r in rows] == [False, True, False, False]
    assert {r["DomainType"] for r in rows} == {"Authoritative"}
    one = client.invoke(tid(emu), "Get-AcceptedDomain", {"Identity": "tenant01.ONMICROSOFT.com"}).json()["value"]
    assert [r["Name"] for r in one] == ["Tenant01.onmicrosoft.com"]
    missing = client.invoke(tid(emu), "Get-AcceptedDomain", {"Identity": "contoso.com"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NotFound"
    error_id, exception, text = detail(missing)
    assert error_id == "Ex6F9304" and exception.endswith("ManagementObjectNotFoundException")
    assert text.startswith("The operation couldn't be performed because object 'contoso.com' couldn't be found on '")
    cut = client.invoke(tid(emu), "Get-AcceptedDomain", {"ResultSize": 2}).json()
    assert len(cut["value"]) == 2 and "increase the value for the ResultSize parameter" in cut["@adminapi.warnings"][0]


def test_get_mailbox_identities_filters_and_switches(emu, exo):
    client = exo()
    mailboxes = client.invoke(tid(emu), "Get-Mailbox", {"ResultSize": "Unlimited"}).json()["value"]
    assert len(mailboxes) == 25 and mailboxes[0]["PrimarySmtpAddress"] == "user01@Tenant01.Example.com"
    first = mailboxes[0]
    for identity in ("user01", "USER 01", first["ExchangeGuid"], first["UserPrincipalName"].upper(),
                     "user01@tenant01.onmicrosoft.com", first["DistinguishedName"]):
        found = client.invoke(tid(emu), "Get-Mailbox", {"Identity": identity}).json()["value"]
        assert [m["Alias"] for m in found] == ["user01"], identity
    assert client.invoke(tid(emu), "Get-Mailbox", {"Identity": "nobody"}).status_code == 404
    shared = client.invoke(tid(emu), "Get-Mailbox", {"RecipientTypeDetails": "sharedmailbox"}).json()["value"]
    assert [m["Alias"] for m in shared] == ["shared05", "shared10", "shared15", "shared20", "shared25"]
    both = client.invoke(tid(emu), "Get-Mailbox", {"RecipientTypeDetails": ["SharedMailbox", "UserMailbox"]})
    assert len(both.json()["value"]) == 25
    bad = client.invoke(tid(emu), "Get-Mailbox", {"RecipientTypeDetails": "SharedMailbox,UserMailbox"})
    assert bad.status_code == 400 and "RecipientTypeDetails" in detail(bad)[2]
    assert [m["Alias"] for m in client.invoke(tid(emu), "Get-Mailbox", {"Anr": "shared1"}).json()["value"]] == [
        "shared10", "shared15"]
    ambiguous = client.invoke(tid(emu), "Get-Mailbox", {"Identity": "user01", "Anr": "user"})
    assert ambiguous.status_code == 400 and detail(ambiguous)[2] == ("Parameter set cannot be resolved using the "
                                                                     "specified named parameters.")
    assert client.invoke(tid(emu), "Get-Mailbox", {"SoftDeletedMailbox": True}).json()["value"] == []
    assert len(client.invoke(tid(emu), "Get-Mailbox", {"SoftDeletedMailbox": False}).json()["value"]) == 25
    switch = client.invoke(tid(emu), "Get-Mailbox", {"SoftDeletedMailbox": "true"})
    assert switch.status_code == 400 and "SwitchParameter" in detail(switch)[2]
    ordered = client.invoke(tid(emu), "Get-Mailbox", {"SortBy": "DisplayName"}).json()["value"]
    assert ordered[0]["DisplayName"] == "Shared Mailbox 05"


def test_set_mailbox_changes_state(emu, exo):
    client = exo()
    done = client.invoke(tid(emu), "Set-Mailbox", {"Identity": "user03", "CustomAttribute1": "cba"})
    assert done.status_code == 200 and done.json()["value"] == [] and done.json()["@adminapi.warnings"] == []
    read = client.invoke(tid(emu), "Get-Mailbox", {"Identity": "user03"}).json()["value"][0]
    assert read["CustomAttribute1"] == "cba"
    assert emu.exchange("tenant01")["mailboxes"][2]["CustomAttribute1"] == "cba"
    again = client.invoke(tid(emu), "Set-Mailbox", {"Identity": "user03", "CustomAttribute1": "cba"}).json()
    assert again["@adminapi.warnings"] == ["The command completed successfully but no settings of 'user03' have been "
                                           "modified."]
    missing = client.invoke(tid(emu), "Set-Mailbox", {"CustomAttribute1": "cba"})
    assert missing.status_code == 400 and detail(missing)[2] == ("Cannot process command because of one or more "
                                                                 "missing mandatory parameters: Identity.")
    assert client.invoke(tid(emu), "Set-Mailbox", {"Identity": "user03", "CustomAttribute1": None}).status_code == 200
    assert client.invoke(tid(emu), "Get-Mailbox", {"Identity": "user03"}).json()["value"][0]["CustomAttribute1"] == ""


def test_multivalued_parameters_take_arrays_and_tagged_hashtables(emu, exo):
    client = exo()
    tagged = {"@odata.type": "#Exchange.GenericHashTable", "Add": ["c"], "Remove": "a"}

    def values():
        row = client.invoke(tid(emu), "Get-Mailbox", {"Identity": "user04"}).json()["value"][0]
        assert row["ExtensionCustomAttribute1@odata.type"] == "#Collection(String)"
        return row["ExtensionCustomAttribute1"]

    assert client.invoke(tid(emu), "Set-Mailbox", {"Identity": "user04",
                                                   "ExtensionCustomAttribute1": ["a", "b"]}).status_code == 200
    assert values() == ["a", "b"]
    assert client.invoke(tid(emu), "Set-Mailbox", {"Identity": "user04", "ExtensionCustomAttribute1": tagged,
                                                   "ExtensionCustomAttribute1@odata.type": "#Exchange.GenericHashTable",
                                                   }).status_code == 200
    assert values() == ["b", "c"]
    untagged = client.invoke(tid(emu), "Set-Mailbox", {"Identity": "user04", "ExtensionCustomAttribute1": {"Add": "d"}})
    assert untagged.status_code == 400 and "#Exchange.GenericHashTable" in detail(untagged)[2]
    assert values() == ["b", "c"]


def test_unknown_cmdlets_parameters_and_bodies_are_refused(emu, exo):
    client = exo()
    unknown = client.invoke(tid(emu), "Get-Nothing")
    assert unknown.status_code == 400 and detail(unknown)[1] == "System.Management.Automation.CommandNotFoundException"
    parameter = client.invoke(tid(emu), "Get-Mailbox", {"Identty": "user01"})
    assert parameter.status_code == 400
    assert detail(parameter) == ["NamedParameterNotFound,Get-Mailbox", "System.Management.Automation."
                                 "ParameterBindingException", "A parameter cannot be found that matches parameter "
                                 "name 'Identty'."]
    on_prem_only = client.invoke(tid(emu), "Get-OrganizationConfig", {"DomainController": "dc01"})
    assert on_prem_only.status_code == 400
    not_modelled = client.invoke(tid(emu), "Get-Mailbox", {"Filter": "Alias -eq 'user01'"})
    assert not_modelled.status_code == 501 and "does not emulate" in not_modelled.json()["error"]["message"]
    envelope = unknown.json()["error"]
    assert envelope["message"] == "Error executing cmdlet" and envelope["@adminapi.warnings"] == []
    assert envelope["innererror"]["internalexception"]["type"].endswith("DirectInvokeCmdletExecutionException")
    url = client.url(tid(emu))
    for body in ({"CmdletName": "Get-Mailbox"}, {"CmdletInput": {"Parameters": {}}},
                 {"CmdletInput": {"CmdletName": "Get-Mailbox", "Extra": 1}}, [1]):
        assert client.post(url, body).status_code == 400, body
    text = client.session.post(url, data="Get-Mailbox", headers=client.headers({"Content-Type": "text/plain"}))
    assert text.status_code == 400
    clixml = client.invoke(tid(emu), "Get-Mailbox", headers={"X-ResponseFormat": "clixml"})
    assert clixml.status_code == 501
    assert client.get(url).status_code == 405


# ---------------------------------------------------------------- envelopes and paging
def test_success_envelope(emu, exo):
    client = exo()
    response = client.invoke(tid(emu), "Get-Mailbox", {"Identity": "user01"}, query="?$select=Identity,ExchangeGuid")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == ("application/json;odata.metadata=minimal;odata.streaming=true;"
                                                "IEEE754Compatible=false;charset=utf-8")
    assert response.headers["OData-Version"] == "4.0" and response.headers["request-id"]
    body = response.json()
    host = emu.base_url.split("//", 1)[1]
    assert body["@odata.context"] == (f"https://{host}/adminapi/beta/{tid(emu)}/$metadata"
                                      "#Collection(Exchange.GenericHashTable)")
    assert body["adminapi.warnings@odata.type"] == "#Collection(String)" and body["@adminapi.warnings"] == []
    assert set(body["value"][0]) == {"Identity", "ExchangeGuid", "ExchangeGuid@data.type", "ExchangeGuid@odata.type"}
    assert "@odata.nextLink" not in body
    empty = client.invoke(tid(emu), "Get-Mailbox", {"RecipientTypeDetails": "RoomMailbox"}).json()
    assert empty["value"] == []


def test_paging_follows_next_links_with_the_same_body(emu, exo):
    client = exo()
    body = {"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {"ResultSize": "Unlimited"}}}
    prefer = {"Prefer": "odata.maxpagesize=7"}
    page = client.post(client.url(tid(emu)), body, prefer).json()
    seen, pages = [], 0
    while True:
        pages += 1
        assert len(page["value"]) <= 7
        seen += [m["Alias"] for m in page["value"]]
        if "@odata.nextLink" not in page:
            break
        link = client.follow(page["@odata.nextLink"])
        other = dict(body, CmdletInput={"CmdletName": "Get-Mailbox", "Parameters": {"ResultSize": 20}})
        assert client.post(link, other, prefer).status_code == 400
        page = client.post(link, body, prefer).json()
    assert pages == 4 and len(seen) == 25 == len(set(seen))
    forged = client.post(client.url(tid(emu)) + "?$skiptoken=bm90LWEtdG9rZW4", body, prefer)
    assert forged.status_code == 400


def test_one_item_pages_over_accepted_domains_and_expired_links(emu, exo):
    client = exo()
    prefer = {"Prefer": "odata.maxpagesize=1"}
    body = {"CmdletInput": {"CmdletName": "Get-AcceptedDomain"}}
    page = client.post(client.url("tenant01.onmicrosoft.com"), body, prefer).json()
    names = [page["value"][0]["Name"]]
    while "@odata.nextLink" in page:
        assert page["@odata.nextLink"].startswith(f"{emu.base_url}/adminapi/beta/tenant01.onmicrosoft.com/")
        page = client.post(client.follow(page["@odata.nextLink"]), body, prefer).json()
        names.append(page["value"][0]["Name"])
    assert len(names) == 4 == len(set(names))
    emu.update_settings(exchange_next_link_lifetime=0.2)
    first = client.post(client.url(tid(emu)), body, prefer).json()
    time.sleep(0.3)
    assert client.post(client.follow(first["@odata.nextLink"]), body, prefer).status_code == 400
    unbounded = client.post(client.url(tid(emu)), body, {"Prefer": "odata.maxpagesize=5000"}).json()
    assert len(unbounded["value"]) == 4 and "@odata.nextLink" not in unbounded


def test_result_size_defaults_to_1000_with_the_warning(emu, exo):
    client = exo()
    emu.update_exchange("tenant01", mailboxes=1001)
    body = client.invoke(tid(emu), "Get-Mailbox").json()
    assert len(body["value"]) == 1000 and "@odata.nextLink" not in body
    assert body["@adminapi.warnings"][0].startswith("By default, only the first 1000 items are returned.")
    assert len(client.invoke(tid(emu), "Get-Mailbox", {"ResultSize": "unlimited"},
                             headers={"Prefer": "odata.maxpagesize=1000"}).json()["value"]) == 1000
    bad = client.invoke(tid(emu), "Get-Mailbox", {"ResultSize": 0})
    assert bad.status_code == 400 and "ResultSize" in detail(bad)[2]
