# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The tenant's organization object. Private to m365.cba; no stable API."""

from __future__ import annotations

ORGANIZATION_SELECT = "id,displayName,verifiedDomains,countryLetterCode,tenantType"


def read_organization(client):
    """The tenant's organization, summarised; the initial domain is what ``-Organization`` takes."""
    items = client.get("/organization", params={"$select": ORGANIZATION_SELECT}).get("value") or []
    if not items:
        return None
    return summarise(items[0])


def summarise(org):
    domains = org.get("verifiedDomains") or []
    initial = next((d.get("name") for d in domains if d.get("isInitial")), None)
    default = next((d.get("name") for d in domains if d.get("isDefault")), None)
    return {
        "tenant_id": org.get("id"),
        "display_name": org.get("displayName"),
        "initial_domain": initial,
        "default_domain": default,
        "verified_domains": sorted(d.get("name") for d in domains if d.get("name")),
        "tenant_type": org.get("tenantType"),
    }
