# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""m365.cba.tenant_conflicts: which hosts of a run set up one application in one tenant."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.m365.cba.plugins.filter.tenant_conflicts import FilterModule

conflicts = FilterModule().filters()["tenant_conflicts"]

GUID = "7d1c3a8e-2b4f-4e6a-9c0d-5f8e1a2b3c4d"
APP = "m365-cba-exchange-online"


def record(host, tenant, tenant_id=None, application=APP):
    return {"host": host, "tenant": tenant, "tenant_id": tenant_id, "application": application}


def test_hosts_of_distinct_tenants_or_applications_do_not_conflict():
    assert conflicts([
        record("a", "a.onmicrosoft.com", GUID),
        record("b", "b.onmicrosoft.com", "11111111-2b4f-4e6a-9c0d-5f8e1a2b3c4d"),
        record("a-compliance", GUID.upper(), GUID, "m365-cba-security-compliance"),
        record("failed-early", "c.onmicrosoft.com"),
        record("no-application", GUID, GUID, None),
    ]) == {}


@pytest.mark.parametrize("first, second", [
    # The ID in two letter cases, both read.
    (record("a", GUID, GUID), record("b", GUID.upper(), GUID)),
    # A domain and the ID: only the tenant's ID read from Graph tells.
    (record("a", "contoso.onmicrosoft.com", GUID), record("b", GUID.upper(), GUID.upper())),
    # Two domains of one tenant.
    (record("a", "contoso.onmicrosoft.com", GUID), record("b", "contoso.com", GUID)),
    # One host has not read its ID (a later serial batch, or it failed): compared as written.
    (record("a", "Contoso.onmicrosoft.com", GUID), record("b", "contoso.ONMICROSOFT.com")),
    (record("a", "contoso.onmicrosoft.com", GUID), record("b", GUID.upper())),
    # The unique name in another letter case is the same application.
    (record("a", GUID, GUID), record("b", GUID, GUID, APP.upper())),
])
def test_two_hosts_for_one_application_in_one_tenant_both_conflict(first, second):
    found = conflicts([first, record("other", "other.onmicrosoft.com", "22222222-2b4f-4e6a-9c0d-5f8e1a2b3c4d"), second])
    assert sorted(found) == ["a", "b"]
    assert found["a"].startswith(f"a (m365_cba_tenant_id '{first['tenant']}') and b ('{second['tenant']}') are the same "
                                 f"tenant ({first['tenant_id']}) and set up the same application {APP}: ")
    assert found["b"].startswith(f"b (m365_cba_tenant_id '{second['tenant']}') and a ('{first['tenant']}') are the same tenant")
    for message in found.values():
        assert "Nothing was changed." in message and "m365_cba_app_unique_name" in message


def test_every_other_host_is_named():
    found = conflicts([record("a", GUID, GUID), record("b", "contoso.com", GUID), record("c", GUID.upper())])
    assert found["a"].startswith(f"a (m365_cba_tenant_id '{GUID}') and b ('contoso.com'), c ('{GUID.upper()}') are the same")


def test_bad_input():
    with pytest.raises(AnsibleFilterError, match="expects a list of records"):
        conflicts({"host": "a"})
