# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Requested permissions: resolved against the tenant, read only when something may change."""

from __future__ import annotations

import pytest

from ansible_collections.m365.cba.plugins.module_utils._applications import desired_changes, requested_permissions
from ansible_collections.m365.cba.plugins.module_utils._resources import ResolveError, ResourceResolver

from graph_fakes import collection, scripted_client

EXO = "00000002-0000-0ff1-ce00-000000000000"
MANAGE = "dc50a0fb-09a3-484d-be87-e023b12c6440"
EXCHANGE_SP = {"id": "sp-exo", "appId": EXO, "displayName": "Office 365 Exchange Online",
               "appRoles": [{"id": MANAGE, "value": "Exchange.ManageAsApp", "allowedMemberTypes": ["Application"], "isEnabled": True},
                            {"id": "other", "value": "Exchange.ManageAsAppV2", "allowedMemberTypes": ["Application"], "isEnabled": True}]}
WANTED = [{"resource": "Office 365 Exchange Online", "permissions": ["Exchange.ManageAsApp"]}]


def test_nothing_is_read_when_the_application_already_requests_the_permission():
    client, session, dummy = scripted_client([])
    current = {"requiredResourceAccess": [{"resourceAppId": EXO, "resourceAccess": [{"id": MANAGE, "type": "Role"}]}]}
    rra = requested_permissions(WANTED, current, ResourceResolver(client))
    assert session.calls == []
    assert desired_changes(current, {"requiredResourceAccess": rra}) == {}


def test_a_new_permission_is_resolved_against_the_tenant():
    client, session, dummy = scripted_client([collection([EXCHANGE_SP])])
    rra = requested_permissions(WANTED, {}, ResourceResolver(client))
    assert rra == [{"resourceAppId": EXO, "resourceAccess": [{"id": MANAGE, "type": "Role"}]}]
    assert len(session.calls) == 1 and session.calls[0]["params"]["$filter"] == f"appId eq '{EXO}'"


def test_an_unknown_permission_name_fails_naming_the_option_with_a_hint():
    client, dummy, dummy2 = scripted_client([collection([EXCHANGE_SP])])
    with pytest.raises(ResolveError) as info:
        requested_permissions([{"resource": "Office 365 Exchange Online", "permissions": ["exchange.manageasapp"]}], {},
                              ResourceResolver(client))
    assert info.value.option == "api_permissions" and "did you mean Exchange.ManageAsApp" in str(info.value)
