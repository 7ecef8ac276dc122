# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Application registrations: find, compare, upsert. Private to m365.cba; no stable API.

Applications are keyed by ``uniqueName`` (Graph's alternate key, set once through the upsert
URL), so a re-run or a retried request can never create a second application. ``appId`` and the
object id find existing ones too; a display name is never a key.
"""

from __future__ import annotations

import re

from ._graph import alternate_key, is_replication_lag
from ._resources import known_app_role

APP_SELECT = ("id,appId,uniqueName,displayName,signInAudience,tags,notes,web,requiredResourceAccess,"
              "keyCredentials,publisherDomain,createdDateTime")
SIGN_IN_AUDIENCES = ["AzureADMyOrg", "AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount", "PersonalMicrosoftAccount"]
DEFAULT_SIGN_IN_AUDIENCE = "AzureADMyOrg"
# The longest displayName: 256 characters for any application (Microsoft Graph, application resource
# type), and less by sign-in audience: 120 for Microsoft Entra accounts only, 90 when personal
# Microsoft accounts may sign in (Microsoft Entra, "Validation differences by supported account types").
DISPLAY_NAME_MAX = 256
DISPLAY_NAME_MAX_BY_AUDIENCE = {
    "AzureADMyOrg": 120,
    "AzureADMultipleOrgs": 120,
    "AzureADandPersonalMicrosoftAccount": 90,
    "PersonalMicrosoftAccount": 90,
}
UNIQUE_NAME = re.compile(r"^[^\s/\\?#%'\"]{1,256}$")
PREFER_CREATE = {"Prefer": "create-if-missing"}


class ApplicationInputError(Exception):
    def __init__(self, message, option):
        super().__init__(message)
        self.option = option

    def __str__(self):
        return f"{self.option}: {self.args[0]}"


def validate_unique_name(value, option="unique_name"):
    if value is not None and not UNIQUE_NAME.match(value):
        raise ApplicationInputError(
            f"'{value}' is not a valid unique name: 1 to 256 characters without spaces, quotes or any of / \\ ? # %", option)


def display_name_limit(audience):
    """The longest display name an application with this sign-in audience may have (None: the
    audience a new application gets, AzureADMyOrg)."""
    return min(DISPLAY_NAME_MAX, DISPLAY_NAME_MAX_BY_AUDIENCE.get(audience or DEFAULT_SIGN_IN_AUDIENCE, DISPLAY_NAME_MAX))


def validate_display_name(value, audience, option="display_name"):
    """Refuse a display name Graph would refuse (400 naming displayName), before Graph is called.
    ``audience`` is the sign-in audience the application has or gets."""
    if value is None:
        return
    if not value.strip():
        raise ApplicationInputError("must not be empty", option)
    limit = display_name_limit(audience)
    if len(value) > limit:
        raise ApplicationInputError(
            f"is {len(value)} characters long; Microsoft Entra ID allows at most {limit} for an application whose "
            f"sign_in_audience is {audience or DEFAULT_SIGN_IN_AUDIENCE}", option)


def validate_tags(tags, option="tags"):
    for tag in tags or []:
        if not tag or len(tag) > 256 or any(c.isspace() for c in tag):
            raise ApplicationInputError(f"tag '{tag}' is invalid: tags are 1 to 256 characters without whitespace", option)
    if tags and len(set(tags)) != len(tags):
        raise ApplicationInputError("tags must not repeat", option)


def find_application(client, unique_name=None, app_id=None, object_id=None, select=APP_SELECT, wait_for_replication=False):
    """The application by the first key given, or ``None``."""
    retry = is_replication_lag if wait_for_replication else None
    params = {"$select": select} if select else None
    if unique_name:
        path = alternate_key("applications", "uniqueName", unique_name)
    elif app_id:
        path = alternate_key("applications", "appId", app_id)
    elif object_id:
        path = f"/applications/{object_id}"
    else:
        raise ValueError("one of unique_name, app_id or object_id is required")
    return client.get_optional(path, params=params, retry_on=retry)


def merge_list(current, wanted, purge):
    """Reconcile a list: the wanted items added to what is there, or exactly the wanted ones."""
    current = list(current or [])
    if wanted is None:
        return current
    if purge:
        return list(dict.fromkeys(wanted))
    return current + [item for item in dict.fromkeys(wanted) if item not in current]


def _access_set(rra):
    return {(r.get("resourceAppId"), a.get("id"), a.get("type")) for r in rra or [] for a in r.get("resourceAccess") or []}


def merge_required_resource_access(current, wanted, purge):
    """requiredResourceAccess with the wanted permissions; grouped by resource, in a stable order."""
    entries = set() if purge else _access_set(current)
    entries |= _access_set(wanted)
    order = []
    for resource_app_id, dummy, dummy2 in sorted(entries, key=lambda e: (e[0] or "", e[1] or "", e[2] or "")):
        if resource_app_id not in order:
            order.append(resource_app_id)
    return [
        {"resourceAppId": app_id,
         "resourceAccess": [{"id": rid, "type": rtype} for (aid, rid, rtype) in sorted(entries, key=lambda e: (e[1] or "", e[2] or "")) if aid == app_id]}
        for app_id in order
    ]


def same_required_resource_access(a, b):
    return _access_set(a) == _access_set(b)


def desired_changes(current, wanted, purge_tags=False, purge_redirect_uris=False, purge_api_permissions=False):
    """The PATCH body that brings ``current`` to ``wanted`` (Graph field names); empty if none.

    ``wanted`` holds only the fields the user manages: displayName, signInAudience, notes, tags,
    redirectUris, requiredResourceAccess.
    """
    patch = {}
    for field in ("displayName", "signInAudience", "notes"):
        if wanted.get(field) is not None and wanted[field] != current.get(field):
            patch[field] = wanted[field]
    if wanted.get("tags") is not None:
        tags = merge_list(current.get("tags"), wanted["tags"], purge_tags)
        if set(tags) != set(current.get("tags") or []):
            patch["tags"] = tags
    if wanted.get("redirectUris") is not None:
        web = dict(current.get("web") or {})
        uris = merge_list(web.get("redirectUris"), wanted["redirectUris"], purge_redirect_uris)
        if set(uris) != set(web.get("redirectUris") or []):
            web["redirectUris"] = uris
            patch["web"] = web
    if wanted.get("requiredResourceAccess") is not None:
        rra = merge_required_resource_access(current.get("requiredResourceAccess"), wanted["requiredResourceAccess"], purge_api_permissions)
        if not same_required_resource_access(rra, current.get("requiredResourceAccess")):
            patch["requiredResourceAccess"] = rra
    return patch


def requested_permissions(api_permissions, current, resolver):
    """requiredResourceAccess entries for ``api_permissions``.

    When the application already requests every one of them by its published ID, nothing needs to
    be read; otherwise each name is resolved against the resource's service principal.
    """
    pairs = [(entry["resource"], permission) for entry in api_permissions for permission in entry["permissions"]]
    known = [known_app_role(resource, permission) for resource, permission in pairs]
    held = {(r.get("resourceAppId"), a.get("id")) for r in (current or {}).get("requiredResourceAccess") or []
            for a in r.get("resourceAccess") or [] if a.get("type") == "Role"}
    if not all(k is not None and k in held for k in known):
        resolved = [resolver.app_role_id(resource, permission, option="api_permissions") for resource, permission in pairs]
        known = [(app_id, role_id) for app_id, dummy, role_id in resolved]
    return [{"resourceAppId": app_id, "resourceAccess": [{"id": role_id, "type": "Role"}]} for app_id, role_id in known]


def creation_body(unique_name, wanted):
    """The upsert body for a new application (everything in one request)."""
    body = {"displayName": wanted["displayName"], "signInAudience": wanted.get("signInAudience") or DEFAULT_SIGN_IN_AUDIENCE}
    for field in ("notes", "tags"):
        if wanted.get(field) is not None:
            body[field] = wanted[field]
    if wanted.get("requiredResourceAccess") is not None:
        # One entry per resource: Graph refuses two for the same resourceAppId ("Request contains a
        # property with duplicate values.").
        body["requiredResourceAccess"] = merge_required_resource_access(None, wanted["requiredResourceAccess"], True)
    if wanted.get("redirectUris") is not None:
        body["web"] = {"redirectUris": list(wanted["redirectUris"])}
    return body


def upsert_application(client, unique_name, body):
    """Create (201) or update (204) the application with this uniqueName; returns the application.

    The upsert is idempotent, so a retried request cannot create a second application.
    """
    path = alternate_key("applications", "uniqueName", unique_name)
    response = client.request("PATCH", path, body=body, headers=PREFER_CREATE)
    if response.status == 201 and response.body:
        return response.body
    # 204: it existed (for example a retry after a lost answer). Read it back.
    return find_application(client, unique_name=unique_name, wait_for_replication=True)


def update_application(client, object_id, patch):
    client.patch(f"/applications/{object_id}", patch, retry_on=is_replication_lag)


def delete_application(client, object_id):
    client.delete_optional(f"/applications/{object_id}")


def managed_view(app):
    """The fields this collection manages, for diffs: no key material."""
    if app is None:
        return {}
    return {
        "display_name": app.get("displayName"),
        "unique_name": app.get("uniqueName"),
        "sign_in_audience": app.get("signInAudience"),
        "tags": sorted(app.get("tags") or []),
        "notes": app.get("notes"),
        "web_redirect_uris": sorted((app.get("web") or {}).get("redirectUris") or []),
        "required_resource_access": sorted(
            [{"resource_app_id": r, "id": i, "type": t} for (r, i, t) in _access_set(app.get("requiredResourceAccess"))],
            key=lambda e: (e["resource_app_id"] or "", e["id"] or "")),
    }


def normalise(app):
    """The application as modules return it (snake_case)."""
    if app is None:
        return None
    view = managed_view(app)
    view.update({
        "id": app.get("id"),
        "app_id": app.get("appId"),
        "publisher_domain": app.get("publisherDomain"),
        "created_date_time": app.get("createdDateTime"),
    })
    return view
