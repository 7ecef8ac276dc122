# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Resource APIs (Office 365 Exchange Online, Microsoft Graph, ...) and their app roles.

Permissions are given by name ("Exchange.ManageAsApp") and resolved against the resource service
principal's ``appRoles`` in the tenant. Only when that service principal cannot be read is a small
table of well-known IDs used. Private to m365.cba; no stable API.
"""

from __future__ import annotations

import re

from ._clouds import EXCHANGE_MANAGE_AS_APP_ROLE_ID, EXCHANGE_ONLINE_APP_ID, MICROSOFT_GRAPH_APP_ID
from ._graph import GraphError, odata_quote

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
SP_SELECT = "id,appId,displayName,appRoles,servicePrincipalNames"

# Resource names users write, mapped to the resource's appId.
RESOURCE_ALIASES = {
    "office 365 exchange online": EXCHANGE_ONLINE_APP_ID,
    "exchange online": EXCHANGE_ONLINE_APP_ID,
    "exchange": EXCHANGE_ONLINE_APP_ID,
    "microsoft graph": MICROSOFT_GRAPH_APP_ID,
    "graph": MICROSOFT_GRAPH_APP_ID,
}

# Used only when the resource service principal cannot be read (documented IDs).
WELL_KNOWN_APP_ROLES = {
    (EXCHANGE_ONLINE_APP_ID, "Exchange.ManageAsApp"): EXCHANGE_MANAGE_AS_APP_ROLE_ID,
}
WELL_KNOWN_NAMES = {EXCHANGE_ONLINE_APP_ID: "Office 365 Exchange Online", MICROSOFT_GRAPH_APP_ID: "Microsoft Graph"}


class ResolveError(Exception):
    """A resource or permission name could not be resolved; ``option`` names the option at fault."""

    def __init__(self, message, option):
        super().__init__(message)
        self.option = option

    def __str__(self):
        return f"{self.option}: {self.args[0]}"


def is_guid(value):
    return bool(value) and bool(GUID.match(str(value)))


class ResourceResolver:
    """Looks up resource service principals once per module run."""

    def __init__(self, client):
        self.client = client
        self._cache = {}

    def service_principal(self, resource, option="resource", required=True):
        """The resource's service principal by appId, alias, display name or object id.

        Returns ``None`` (when not ``required``) if it cannot be read; raises ResolveError if it
        does not exist or several match.
        """
        key = str(resource).strip().lower()
        if key in self._cache:
            return self._cache[key]
        try:
            found = self._lookup(str(resource).strip())
        except GraphError as exc:
            if exc.status == 403 and not required:
                found = None
            else:
                raise
        if found is None and required:
            raise ResolveError(f"no service principal '{resource}' in this tenant", option)
        self._cache[key] = found
        return found

    def _lookup(self, resource):
        app_id = RESOURCE_ALIASES.get(resource.lower(), resource)
        if is_guid(app_id):
            found = self.client.get_all("/servicePrincipals", params={"$filter": f"appId eq {odata_quote(app_id)}", "$select": SP_SELECT})
            if not found:
                found = [sp for sp in [self.client.get_optional(f"/servicePrincipals/{app_id}", params={"$select": SP_SELECT})] if sp]
        else:
            found = self.client.get_all("/servicePrincipals", params={"$filter": f"displayName eq {odata_quote(resource)}", "$select": SP_SELECT})
        if len(found) > 1:
            raise ResolveError(f"'{resource}' matches {len(found)} service principals; give the resource's appId instead", "resource")
        return found[0] if found else None

    def app_role_id(self, resource, permission, option="permissions"):
        """``(resource appId, resource SP or None, app role id)`` for an application permission."""
        sp = self.service_principal(resource, option="resource", required=False)
        app_id = sp["appId"] if sp else RESOURCE_ALIASES.get(str(resource).strip().lower(), str(resource).strip())
        if sp is None:
            if is_guid(permission):
                return app_id, None, permission
            role_id = WELL_KNOWN_APP_ROLES.get((app_id, permission))
            if role_id is None:
                raise ResolveError(f"no service principal '{resource}' found (or readable) in this tenant to resolve '{permission}'; "
                                   "check the resource's name, or give its appId and the app role ID", option)
            return app_id, None, role_id
        return app_id, sp, find_app_role(sp, permission, option)["id"]


def known_app_role(resource, permission):
    """``(resource appId, app role id)`` from the published IDs, or ``None`` when not known.

    Only used to see that something is already in place without reading the resource; anything
    to be written is resolved against the tenant's service principal.
    """
    app_id = RESOURCE_ALIASES.get(str(resource).strip().lower(), str(resource).strip())
    role_id = WELL_KNOWN_APP_ROLES.get((app_id, permission))
    return (app_id, role_id) if role_id else None


def find_app_role(sp, permission, option="permissions"):
    """The enabled application-assignable app role of ``sp`` called ``permission`` (value or id)."""
    roles = [r for r in sp.get("appRoles") or [] if "Application" in (r.get("allowedMemberTypes") or ["Application"])]
    for role in roles:
        if role.get("value") == permission or str(role.get("id")).lower() == str(permission).lower():
            if role.get("isEnabled") is False:
                raise ResolveError(f"app role '{permission}' of '{sp.get('displayName')}' is disabled", option)
            return role
    close = sorted(r.get("value") for r in roles if r.get("value") and r["value"].lower() == str(permission).lower())
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise ResolveError(f"'{sp.get('displayName')}' has no application permission '{permission}'{hint}", option)


def role_name(sp, role_id):
    for role in (sp or {}).get("appRoles") or []:
        if str(role.get("id")).lower() == str(role_id).lower():
            return role.get("value")
    for (dummy, name), known in WELL_KNOWN_APP_ROLES.items():
        if known == role_id:
            return name
    return None
