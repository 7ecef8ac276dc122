# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Service principal comparison, prediction, upsert and principal resolution."""

from __future__ import annotations

import pytest

from ansible_collections.m365.cba.plugins.module_utils._service_principals import (
    SP_SELECT,
    PrincipalError,
    creation_body,
    desired_changes,
    find_service_principal,
    managed_view,
    normalise,
    predicted,
    resolve_principal,
    sp_path,
    upsert_service_principal,
)

from graph_fakes import scripted_client, collection, graph_error, path_of, response  # pylint: disable=unused-import


def scripted(script):
    client, session, dummy = scripted_client(script)
    return client, session


APP_ID = "11111111-2222-3333-4444-555555555555"
SP = {"id": "aaaaaaaa-0000-0000-0000-000000000001", "appId": APP_ID, "displayName": "it", "tags": ["a", "b"],
      "notes": None, "servicePrincipalType": "Application", "appRoleAssignmentRequired": False}
LAG = "The appId '11111111-2222-3333-4444-555555555555' of the service principal does not reference a valid application object."


def test_unset_options_are_not_managed():
    assert desired_changes(SP, {"tags": None, "notes": None, "appRoleAssignmentRequired": None}) == {}


def test_tags_are_added_to_unless_purged():
    assert desired_changes(SP, {"tags": ["b", "c"]}) == {"tags": ["a", "b", "c"]}
    assert desired_changes(SP, {"tags": ["b"]}) == {}
    assert desired_changes(SP, {"tags": ["b"]}, purge_tags=True) == {"tags": ["b"]}
    assert desired_changes(SP, {"tags": ["b", "a"]}, purge_tags=True) == {}
    assert desired_changes(SP, {"tags": []}, purge_tags=True) == {"tags": []}


def test_scalar_fields_are_sent_only_when_different():
    assert desired_changes(SP, {"notes": "n", "appRoleAssignmentRequired": False}) == {"notes": "n"}
    assert desired_changes(SP, {"appRoleAssignmentRequired": True}) == {"appRoleAssignmentRequired": True}


def test_creation_body_holds_only_the_managed_fields_given():
    assert creation_body({"tags": None, "notes": None, "appRoleAssignmentRequired": None}) == {}
    assert creation_body({"tags": ["x"], "notes": "n", "appRoleAssignmentRequired": False}) == {
        "tags": ["x"], "notes": "n", "appRoleAssignmentRequired": False}


def test_prediction_inherits_from_the_application_and_the_options_win():
    sp = predicted(APP_ID, {"displayName": "it", "tags": ["from-app"]}, {"notes": "n"})
    assert normalise(sp) == {"id": None, "app_id": APP_ID, "display_name": "it", "tags": ["from-app"], "notes": "n",
                             "app_role_assignment_required": False, "service_principal_type": "Application"}
    assert predicted(APP_ID, {"tags": ["from-app"]}, {"tags": ["mine"]})["tags"] == ["mine"]


def test_prediction_without_an_application_yet():
    sp = normalise(predicted(None, {}, {"tags": ["t"]}))
    assert sp["id"] is None and sp["app_id"] is None and sp["display_name"] is None and sp["tags"] == ["t"]


def test_managed_view_sorts_tags_and_is_empty_for_none():
    assert managed_view(None) == {}
    assert managed_view(dict(SP, tags=["z", "a"]))["tags"] == ["a", "z"]


def test_alternate_key_path():
    assert sp_path(APP_ID) == f"/servicePrincipals(appId='{APP_ID}')"


def test_find_returns_none_on_404_without_waiting():
    client, session = scripted([graph_error(404, "Request_ResourceNotFound", "not found")])
    assert find_service_principal(client, APP_ID) is None
    assert len(session.calls) == 1


def test_upsert_rides_out_replication_lag_and_returns_the_created_object():
    client, session = scripted([
        graph_error(400, "Request_BadRequest", LAG),
        graph_error(404, "Request_ResourceNotFound", "not found"),
        response(201, UPSERT_201),
    ])
    sp = upsert_service_principal(client, APP_ID, {"tags": ["a"]})
    assert (sp["id"], sp["tags"], sp["servicePrincipalType"]) == (UPSERT_201["id"], ["a"], "Application")
    assert [c["method"] for c in session.calls] == ["PATCH"] * 3
    assert all(c["headers"]["Prefer"] == "create-if-missing" for c in session.calls)
    assert session.calls[0]["body"] == {"tags": ["a"]}


# serviceprincipal-upsert.md (v1.0), example 1: the 201 body Graph documents for a created principal.
UPSERT_201 = {
    "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#servicePrincipals/$entity",
    "id": "59e617e5-e447-4adc-8b88-00af644d7c92", "deletedDateTime": None, "accountEnabled": True,
    "appDisplayName": "My App", "appId": APP_ID, "applicationTemplateId": None,
    "appOwnerOrganizationId": "1bc1c026-2f7b-48a5-98da-afa2fd8bc7bc", "appRoleAssignmentRequired": False,
    "displayName": "My app instance", "errorUrl": None, "homepage": None, "loginUrl": None, "logoutUrl": None,
    "notificationEmailAddresses": [], "preferredSingleSignOnMode": None, "preferredTokenSigningKeyEndDateTime": None,
    "preferredTokenSigningKeyThumbprint": None, "publisherName": "Contoso", "replyUrls": [], "samlMetadataUrl": None,
    "samlSingleSignOnSettings": None, "servicePrincipalNames": ["f1bd758f-4a1a-4b71-aa20-a248a22a8928"],
    "signInAudience": "AzureADandPersonalMicrosoftAccount", "tags": [], "addIns": [],
    "api": {"resourceSpecificApplicationPermissions": []}, "appRoles": [],
    "info": {"termsOfServiceUrl": None, "supportUrl": None, "privacyStatementUrl": None, "marketingUrl": None,
             "logoUrl": None},
    "keyCredentials": [], "publishedPermissionScopes": [], "passwordCredentials": [],
}


def test_created_principal_is_the_partial_201_completed_with_what_was_sent():
    client, session = scripted([response(201, UPSERT_201)])
    sp = normalise(upsert_service_principal(client, APP_ID, {"tags": ["m365-cba"], "notes": "n"}))
    assert sp == {"id": UPSERT_201["id"], "app_id": APP_ID, "display_name": "My app instance", "tags": ["m365-cba"],
                  "notes": "n", "app_role_assignment_required": False, "service_principal_type": "Application"}
    assert [c["method"] for c in session.calls] == ["PATCH"]  # no request more than before


def test_created_principal_without_options_keeps_what_graph_answered():
    client, dummy = scripted([response(201, dict(UPSERT_201, tags=["from-app"]))])
    sp = normalise(upsert_service_principal(client, APP_ID, {}))
    assert (sp["tags"], sp["notes"], sp["service_principal_type"]) == (["from-app"], None, "Application")


def test_a_201_without_an_id_is_read_back():
    client, session = scripted([response(201, {}), response(200, SP)])
    assert upsert_service_principal(client, APP_ID, {"tags": ["a"]}) == SP
    assert [c["method"] for c in session.calls] == ["PATCH", "GET"]
    assert session.calls[1]["params"] == {"$select": SP_SELECT}


def test_upsert_of_an_existing_one_reads_it_back():
    client, session = scripted([response(204), response(200, SP)])
    assert upsert_service_principal(client, APP_ID, {}) == SP
    assert [c["method"] for c in session.calls] == ["PATCH", "GET"]


def test_empty_principal_is_allowed_in_check_mode_only():
    assert not resolve_principal(None, None, None, check_mode=True).exists
    assert not resolve_principal(None, "", None, check_mode=True).exists
    with pytest.raises(PrincipalError) as info:
        resolve_principal(None, None, None, check_mode=False)
    assert info.value.option == "principal_app_id"


def test_principal_must_be_a_guid():
    with pytest.raises(PrincipalError) as info:
        resolve_principal(None, "my-app", None)
    assert info.value.option == "principal_id"


def test_principal_by_object_id_costs_no_request():
    principal = resolve_principal(None, SP["id"], None)
    assert principal.exists and principal.id == SP["id"]


def test_principal_by_app_id_is_looked_up():
    client, session = scripted([response(200, SP)])
    principal = resolve_principal(client, None, APP_ID)
    assert principal.id == SP["id"] and path_of(session.calls[0]) == sp_path(APP_ID)


def test_missing_principal_by_app_id_is_predicted_in_check_mode():
    client, session = scripted([graph_error(404, "Request_ResourceNotFound", "not found")])
    principal = resolve_principal(client, None, APP_ID, check_mode=True)
    assert not principal.exists and principal.app_id == APP_ID and len(session.calls) == 1


def test_missing_principal_by_app_id_fails_a_real_run_after_waiting():
    client, dummy = scripted([graph_error(404, "Request_ResourceNotFound", "not found")] * 50 + [collection([])])
    with pytest.raises(PrincipalError) as info:
        resolve_principal(client, None, APP_ID, check_mode=False)
    assert info.value.option == "principal_app_id"
