# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""App role assignment planning, normalisation, and grants that never duplicate."""

from __future__ import annotations

import pytest
import requests

from ansible_collections.m365.cba.plugins.module_utils._app_role_assignments import (
    after,
    grant,
    list_assignments,
    managed_view,
    normalise_all,
    plan,
    predicted,
)
from ansible_collections.m365.cba.plugins.module_utils._graph import GraphError

from graph_fakes import scripted_client, collection, graph_error, path_of, response  # pylint: disable=unused-import


def scripted(script):
    client, session, dummy = scripted_client(script)
    return client, session


MANAGE = "dc50a0fb-09a3-484d-be87-e023b12c6440"
EWS = "dc890d15-9560-4a4c-9b7f-a736ec74ec40"
V2 = "3a0b8b4e-0000-4000-8000-000000000002"
PRINCIPAL = "aaaaaaaa-0000-0000-0000-000000000001"
RESOURCE = {"id": "bbbbbbbb-0000-0000-0000-000000000002", "displayName": "Office 365 Exchange Online",
            "appId": "00000002-0000-0ff1-ce00-000000000000",
            "appRoles": [{"id": MANAGE, "value": "Exchange.ManageAsApp", "allowedMemberTypes": ["Application"]},
                         {"id": EWS, "value": "full_access_as_app", "allowedMemberTypes": ["Application"]},
                         {"id": V2, "value": "Exchange.ManageAsAppV2", "allowedMemberTypes": ["Application"]}]}


def assignment(role_id, assignment_id=None):
    return {"id": assignment_id or f"asg-{role_id[:4]}", "principalId": PRINCIPAL, "resourceId": RESOURCE["id"],
            "resourceDisplayName": RESOURCE["displayName"], "appRoleId": role_id}


def test_nothing_to_do_when_held():
    assert plan([assignment(MANAGE)], [MANAGE], "present") == ([], [])


def test_only_missing_roles_are_granted_once_each_in_order():
    assert plan([assignment(MANAGE)], [EWS, MANAGE, EWS, V2], "present") == ([EWS, V2], [])


def test_role_ids_compare_case_insensitively_and_keep_their_spelling():
    assert plan([assignment(MANAGE)], [MANAGE.upper()], "present") == ([], [])
    assert plan([], [MANAGE.upper()], "present") == ([MANAGE.upper()], [])


def test_other_roles_stay_unless_purged():
    current = [assignment(MANAGE), assignment(EWS)]
    assert plan(current, [MANAGE], "present") == ([], [])
    assert plan(current, [MANAGE], "present", purge=True) == ([], [current[1]])


def test_absent_removes_the_listed_roles_or_all():
    current = [assignment(MANAGE), assignment(EWS)]
    assert plan(current, [EWS, V2], "absent") == ([], [current[1]])
    assert plan(current, None, "absent") == ([], current)
    assert plan([], [MANAGE], "absent") == ([], [])


def test_after_and_normalise_name_the_permissions():
    current = [assignment(MANAGE), assignment(EWS)]
    result = after(current, [predicted(PRINCIPAL, RESOURCE, V2)], [current[1]])
    shown = normalise_all(result, RESOURCE)
    assert [a["app_role_value"] for a in shown] == ["Exchange.ManageAsApp", "Exchange.ManageAsAppV2"]
    assert shown[1] == {"id": None, "principal_id": PRINCIPAL, "resource_id": RESOURCE["id"],
                        "resource_display_name": "Office 365 Exchange Online", "app_role_id": V2,
                        "app_role_value": "Exchange.ManageAsAppV2"}
    assert managed_view(result, RESOURCE) == {"resource": "Office 365 Exchange Online",
                                              "permissions": ["Exchange.ManageAsApp", "Exchange.ManageAsAppV2"]}


def test_unknown_principal_of_a_prediction_stays_null():
    assert normalise_all([predicted(None, RESOURCE, MANAGE)], RESOURCE)[0]["principal_id"] is None


def test_list_filters_on_the_resource_and_reports_a_missing_principal():
    client, session = scripted([collection([assignment(MANAGE)]), graph_error(404, "Request_ResourceNotFound", "gone")])
    assert list_assignments(client, PRINCIPAL, RESOURCE["id"]) == [assignment(MANAGE)]
    assert session.calls[0]["params"] == {"$filter": f"resourceId eq {RESOURCE['id']}"}
    assert path_of(session.calls[0]) == f"/servicePrincipals/{PRINCIPAL}/appRoleAssignments"
    assert list_assignments(client, PRINCIPAL, RESOURCE["id"]) is None


def test_grant_posts_to_the_resource_and_waits_for_a_new_principal():
    created = assignment(MANAGE, "new")
    client, session = scripted([graph_error(400, "Request_BadRequest", "Not a valid reference update."),
                                response(201, created)])
    assert grant(client, PRINCIPAL, RESOURCE["id"], MANAGE) == created
    assert path_of(session.calls[1]) == f"/servicePrincipals/{RESOURCE['id']}/appRoleAssignedTo"
    assert session.calls[1]["body"] == {"principalId": PRINCIPAL, "resourceId": RESOURCE["id"], "appRoleId": MANAGE}


def test_a_lost_answer_is_looked_up_instead_of_posting_again():
    created = assignment(MANAGE, "made-before-the-drop")
    client, session = scripted([requests.exceptions.ConnectionError("Connection aborted. RemoteDisconnected"),
                                collection([assignment(EWS), created])])
    assert grant(client, PRINCIPAL, RESOURCE["id"], MANAGE) == created
    assert [c["method"] for c in session.calls] == ["POST", "GET"]


def test_an_existing_grant_reported_by_graph_is_returned():
    existing = assignment(MANAGE, "already")
    client, dummy = scripted([
        graph_error(400, "Request_BadRequest", "Permission being assigned already exists on the object."),
        collection([existing])])
    assert grant(client, PRINCIPAL, RESOURCE["id"], MANAGE) == existing


def test_other_errors_are_raised_with_code_and_request_id():
    client, dummy = scripted([graph_error(403, "Authorization_RequestDenied", "Insufficient privileges", "rid-9")])
    with pytest.raises(GraphError) as info:
        grant(client, PRINCIPAL, RESOURCE["id"], MANAGE)
    assert (info.value.status, info.value.code, info.value.request_id) == (403, "Authorization_RequestDenied", "rid-9")
