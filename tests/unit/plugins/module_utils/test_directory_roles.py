# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Directory role resolution, planning, privilege warnings and assignments that never duplicate."""

from __future__ import annotations

import pytest
import requests

from ansible_collections.m365.cba.plugins.module_utils._directory_roles import (
    after,
    assign,
    list_assignments,
    managed_view,
    normalise_all,
    plan,
    predicted,
    privileged,
    resolve_roles,
)
from ansible_collections.m365.cba.plugins.module_utils._resources import ResolveError

from graph_fakes import scripted_client, collection, graph_error, path_of, response  # pylint: disable=unused-import


def scripted(script):
    client, session, dummy = scripted_client(script)
    return client, session


EXCHANGE = "29232cdf-9323-42fd-ade2-1d097af3e4de"
RECIPIENT = "31392ffb-586c-42d1-9346-e59415a2cc4e"
GLOBAL = "62e90394-69f5-4237-9190-012177145e10"
COMPLIANCE = "17315797-102d-40b4-93e0-432062caca18"
DEFINITIONS = [{"id": rid, "templateId": rid, "displayName": name, "isBuiltIn": True, "isEnabled": True}
               for name, rid in (("Exchange Administrator", EXCHANGE), ("Exchange Recipient Administrator", RECIPIENT),
                                 ("Global Administrator", GLOBAL), ("Compliance Administrator", COMPLIANCE))]
PRINCIPAL = "aaaaaaaa-0000-0000-0000-000000000001"


def definition(rid):
    return next(d for d in DEFINITIONS if d["id"] == rid)


def assignment(rid, scope="/", assignment_id=None):
    return {"id": assignment_id or f"ra-{rid[:4]}{scope}", "principalId": PRINCIPAL, "roleDefinitionId": rid,
            "directoryScopeId": scope}


def test_roles_resolve_by_name_case_insensitively_or_by_template_id():
    assert resolve_roles(DEFINITIONS, ["exchange administrator", GLOBAL.upper(), "Exchange Administrator"]) == [
        definition(EXCHANGE), definition(GLOBAL)]


def test_unknown_role_names_the_option_and_close_matches():
    with pytest.raises(ResolveError) as info:
        resolve_roles(DEFINITIONS, ["Exchange Admin"])
    assert info.value.option == "roles"
    assert "close matches: Exchange Administrator, Exchange Recipient Administrator" in str(info.value)
    with pytest.raises(ResolveError) as info:
        resolve_roles(DEFINITIONS, ["Exchnage Administrator"])
    assert "Exchange Administrator" in str(info.value)
    with pytest.raises(ResolveError) as info:
        resolve_roles(DEFINITIONS, ["00000000-0000-0000-0000-00000000abcd"])
    assert "close matches" not in str(info.value)


def test_ambiguous_and_disabled_roles_fail():
    twins = DEFINITIONS + [dict(definition(EXCHANGE), id="cccccccc-0000-0000-0000-000000000003", templateId="x", isBuiltIn=False)]
    with pytest.raises(ResolveError, match="matches 2"):
        resolve_roles(twins, ["Exchange Administrator"])
    with pytest.raises(ResolveError, match="disabled"):
        resolve_roles([dict(definition(EXCHANGE), isEnabled=False)], ["Exchange Administrator"])


def test_privileged_roles_are_recognised():
    assert privileged(definition(GLOBAL))
    assert not privileged(definition(EXCHANGE))
    assert privileged({"id": "x", "templateId": "e8611ab8-c189-46e8-94e1-60213ab1f814", "displayName": "renamed"})


def test_plan_assigns_only_missing_roles():
    current = [assignment(EXCHANGE)]
    assert plan(current, [definition(EXCHANGE)], "present") == ([], [])
    assert plan(current, [definition(EXCHANGE), definition(COMPLIANCE)], "present") == ([definition(COMPLIANCE)], [])


def test_plan_purges_and_removes():
    current = [assignment(EXCHANGE), assignment(GLOBAL)]
    assert plan(current, [definition(EXCHANGE)], "present") == ([], [])
    assert plan(current, [definition(EXCHANGE)], "present", purge=True) == ([], [current[1]])
    assert plan(current, [definition(GLOBAL), definition(COMPLIANCE)], "absent") == ([], [current[1]])
    assert plan(current, None, "absent") == ([], current)


def test_custom_role_assignments_match_by_id_not_only_template():
    custom = {"id": "dddddddd-0000-0000-0000-000000000004", "templateId": None, "displayName": "Mine", "isEnabled": True}
    assert plan([assignment(custom["id"].upper())], [custom], "present") == ([], [])


def test_list_filters_on_the_principal_and_keeps_one_scope():
    au_scope = "/administrativeUnits/eeeeeeee-0000-0000-0000-000000000005"
    client, session = scripted([collection([assignment(EXCHANGE), assignment(GLOBAL, au_scope)])])
    assert list_assignments(client, PRINCIPAL, "/") == [assignment(EXCHANGE)]
    assert session.calls[0]["params"] == {"$filter": f"principalId eq '{PRINCIPAL}'"}


def test_assign_waits_for_a_new_principal_and_sends_the_template_id():
    created = assignment(EXCHANGE, assignment_id="new")
    client, session = scripted([graph_error(404, "Request_ResourceNotFound", "does not exist"), response(201, created)])
    assert assign(client, PRINCIPAL, definition(EXCHANGE), "/") == created
    assert session.calls[1]["body"] == {"principalId": PRINCIPAL, "roleDefinitionId": EXCHANGE, "directoryScopeId": "/"}
    assert path_of(session.calls[1]) == "/roleManagement/directory/roleAssignments"


def test_a_lost_answer_or_a_conflict_returns_the_existing_assignment():
    created = assignment(EXCHANGE, assignment_id="made")
    client, session = scripted([requests.exceptions.ConnectionError("Connection aborted."), collection([created])])
    assert assign(client, PRINCIPAL, definition(EXCHANGE), "/") == created
    assert [c["method"] for c in session.calls] == ["POST", "GET"]
    conflict = "A conflicting object with one or more of the specified property values is present in the directory."
    client, session = scripted([graph_error(400, "Request_BadRequest", conflict), collection([created])])
    assert assign(client, PRINCIPAL, definition(EXCHANGE), "/") == created


def test_results_carry_role_names_and_predictions_have_no_id():
    current = [assignment(EXCHANGE), assignment(GLOBAL)]
    result = after(current, [predicted(None, definition(COMPLIANCE), "/")], [current[1]])
    shown = normalise_all(result, DEFINITIONS)
    expected = [("Compliance Administrator", None), ("Exchange Administrator", current[0]["id"])]
    assert [(a["role_display_name"], a["id"]) for a in shown] == expected
    assert managed_view(result, DEFINITIONS, "/") == {"directory_scope_id": "/",
                                                      "roles": ["Compliance Administrator", "Exchange Administrator"]}
