# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""An application's displayName limit by sign-in audience, as Microsoft documents it (README, Behaviour choices)."""

import pytest


@pytest.mark.parametrize("audience, limit", [("AzureADMyOrg", 120), ("AzureADMultipleOrgs", 120),
                                             ("AzureADandPersonalMicrosoftAccount", 90), ("PersonalMicrosoftAccount", 90)])
def test_display_name_limit_by_audience(graph, audience, limit):
    client = graph()
    assert client.post("/applications", {"displayName": "n" * limit, "signInAudience": audience}).status_code == 201
    refused = client.post("/applications", {"displayName": "n" * (limit + 1), "signInAudience": audience})
    assert refused.status_code == 400
    assert "displayName" in refused.json()["error"]["message"]


def test_a_name_that_fits_one_audience_blocks_a_change_to_a_stricter_one(graph):
    client = graph()
    app = client.post("/applications", {"displayName": "n" * 100, "signInAudience": "AzureADMyOrg"}).json()
    changed = client.patch(f"/applications/{app['id']}", {"signInAudience": "PersonalMicrosoftAccount"})
    assert changed.status_code == 400 and "displayName" in changed.json()["error"]["message"]
