# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Validation of application and service principal payloads (documented Entra limits)."""

import copy
import re

from . import keycreds
from .errors import GraphError, bad_request, invalid_value, read_only, unknown_property
from .keys import is_guid
from .objects import (
    APPLICATION_READ_ONLY, COMPLEX_TYPE_NAMES, COMPLEX_TYPES, SERVICE_PRINCIPAL_WRITABLE, SIGN_IN_AUDIENCES,
)

RESOURCE = "Application"
AAD_AUDIENCES = ("AzureADMyOrg", "AzureADMultipleOrgs")
MAX_RESOURCE_APIS = 50
MAX_PERMISSIONS = 400
ROLE_IN_USE = "Permission (scope or role) cannot be deleted or updated unless disabled first."
SIZE_EXCEEDED = "The size of the object has exceeded its limit. Please reduce the number of values and retry your request."


def _check_type(name, value, template, resource=RESOURCE):
    """The value must have the JSON type of the property's default (null allowed for non-lists)."""
    default = template.get(name)
    if value is None:
        if isinstance(default, list):
            raise invalid_value(name, resource)
        return
    expected = (list if isinstance(default, list) else dict if isinstance(default, dict)
                else bool if isinstance(default, bool) else None)
    if expected is None and name in COMPLEX_TYPES:
        expected = dict
    if expected is not None and not isinstance(value, expected):
        raise invalid_value(name, resource)
    if expected is None and not isinstance(value, (str, int, float, bool)):
        raise invalid_value(name, resource)


def _merge_complex(name, value, current):
    members = COMPLEX_TYPES[name]
    for member in value:
        if member not in members:
            raise unknown_property(member, f"microsoft.graph.{COMPLEX_TYPE_NAMES[name]}")
    merged = copy.deepcopy(current) if isinstance(current, dict) else {}
    merged.update(copy.deepcopy(value))
    for member in ("redirectUris", "countriesBlockedForMinors", "knownClientApplications"):
        if member in value and not isinstance(value[member], list):
            raise invalid_value(f"{name}.{member}", RESOURCE)
        if member in value and not all(isinstance(u, str) for u in value[member]):
            raise invalid_value(f"{name}.{member}", RESOURCE)
    return merged


def _check_tags(tags, resource=RESOURCE):
    seen = set()
    for tag in tags:
        if not isinstance(tag, str) or not 1 <= len(tag) <= 256 or re.search(r"\s", tag) or tag.lower() in seen:
            raise invalid_value("tags", resource)
        seen.add(tag.lower())


def _check_required_resource_access(entries):
    total = 0
    resources = set()
    for entry in entries:
        if not isinstance(entry, dict):
            raise invalid_value("requiredResourceAccess", RESOURCE)
        for member in entry:
            if member not in ("resourceAppId", "resourceAccess"):
                raise unknown_property(member, "microsoft.graph.requiredResourceAccess")
        if not is_guid(entry.get("resourceAppId")) or not isinstance(entry.get("resourceAccess"), list):
            raise invalid_value("requiredResourceAccess", RESOURCE)
        # One entry per resource: a second entry for the same resourceAppId is refused (see the README).
        if entry["resourceAppId"].lower() in resources:
            raise GraphError(400, "DuplicateValue", "Request contains a property with duplicate values.")
        resources.add(entry["resourceAppId"].lower())
        for access in entry["resourceAccess"]:
            if not isinstance(access, dict) or set(access) - {"id", "type"}:
                raise invalid_value("requiredResourceAccess", RESOURCE)
            if not is_guid(access.get("id")) or access.get("type") not in ("Role", "Scope"):
                raise invalid_value("requiredResourceAccess", RESOURCE)
        total += len(entry["resourceAccess"])
    if len(entries) > MAX_RESOURCE_APIS or total > MAX_PERMISSIONS:
        raise invalid_value("requiredResourceAccess", RESOURCE)


def _check_app_roles(roles, current):
    values, ids = set(), set()
    for role in roles:
        if not isinstance(role, dict) or not is_guid(role.get("id")) or role["id"].lower() in ids:
            raise invalid_value("appRoles", RESOURCE)
        members = role.get("allowedMemberTypes")
        if not isinstance(members, list) or not members or set(members) - {"User", "Application"}:
            raise invalid_value("appRoles", RESOURCE)
        value = role.get("value")
        if value is not None and (not isinstance(value, str) or value in values):
            raise invalid_value("appRoles", RESOURCE)
        values.add(value)
        ids.add(role["id"].lower())
        role.setdefault("isEnabled", True)
        role.setdefault("origin", "Application")
    new_by_id = {r["id"].lower(): r for r in roles}
    for old in current:
        new = new_by_id.get(old["id"].lower())
        if old.get("isEnabled") and (new is None or new.get("value") != old.get("value")):
            raise bad_request(ROLE_IN_USE)


# displayName: at most 256 characters for any application (Graph, application resource type: "Maximum
# length is 256 characters"), and 120 for the Microsoft Entra audiences, 90 for the audiences with personal
# Microsoft accounts (Microsoft Entra, "Validation differences by supported account types", Display name).
DISPLAY_NAME_MAX = 256
DISPLAY_NAME_MAX_AAD = 120
DISPLAY_NAME_MAX_PERSONAL = 90


def _check_display_name(app):
    name = app.get("displayName")
    limit = DISPLAY_NAME_MAX_AAD if app.get("signInAudience") in AAD_AUDIENCES else DISPLAY_NAME_MAX_PERSONAL
    if not isinstance(name, str) or not name.strip() or len(name) > min(limit, DISPLAY_NAME_MAX):
        raise invalid_value("displayName", RESOURCE)


def _collection_items(app):
    counted = ["keyCredentials", "passwordCredentials", "tags", "identifierUris", "appRoles", "addIns"]
    total = sum(len(app.get(name) or []) for name in counted)
    for name in ("web", "spa", "publicClient"):
        total += len((app.get(name) or {}).get("redirectUris") or [])
    api = app.get("api") or {}
    for name in ("oauth2PermissionScopes", "preAuthorizedApplications", "knownClientApplications"):
        total += len(api.get(name) or [])
    total += sum(len(e.get("resourceAccess") or []) for e in app.get("requiredResourceAccess") or [])
    return total


def apply_application_changes(app, body, settings, template):
    """Apply a POST/PATCH body to `app` (a copy of the stored object) and validate the result."""
    if not isinstance(body, dict):
        raise bad_request("Invalid request body.")
    for name, value in body.items():
        if name == "@odata.type":
            continue
        if name not in template:
            raise unknown_property(name, "microsoft.graph.application")
        if name in APPLICATION_READ_ONLY:
            raise read_only(name)
        _check_type(name, value, template)
        _apply_one(app, name, value)
    _check_display_name(app)
    if app.get("signInAudience") not in SIGN_IN_AUDIENCES:
        raise invalid_value("signInAudience", RESOURCE)
    if _collection_items(app) > settings["max_collection_items"]:
        raise GraphError(400, "Directory_ResourceSizeExceeded", SIZE_EXCEEDED)
    return app


def _apply_one(app, name, value):
    if name in COMPLEX_TYPES and value is not None:
        app[name] = _merge_complex(name, value, app.get(name))
    elif name == "keyCredentials":
        app[name] = keycreds.merge(value, app.get("keyCredentials") or [])
    elif name == "tags":
        _check_tags(value)
        app[name] = list(value)
    elif name == "requiredResourceAccess":
        _check_required_resource_access(value)
        app[name] = copy.deepcopy(value)
    elif name == "appRoles":
        roles = copy.deepcopy(value)
        _check_app_roles(roles, app.get("appRoles") or [])
        app[name] = roles
    elif name == "identifierUris":
        if not all(isinstance(u, str) and u for u in value) or len({u.lower() for u in value}) != len(value):
            raise invalid_value(name, RESOURCE)
        app[name] = list(value)
    elif name in ("description", "notes") and isinstance(value, str) and len(value) > 1024:
        raise invalid_value(name, RESOURCE)
    else:
        app[name] = copy.deepcopy(value)


def apply_service_principal_changes(sp, body, template):
    """Apply a PATCH body (or the extra members of a create) to a service principal copy."""
    if not isinstance(body, dict):
        raise bad_request("Invalid request body.")
    for name, value in body.items():
        if name in ("@odata.type", "appId"):
            continue
        if name not in template:
            raise unknown_property(name, "microsoft.graph.servicePrincipal")
        if name not in SERVICE_PRINCIPAL_WRITABLE:
            raise read_only(name)
        _check_type(name, value, template, "ServicePrincipal")
        if name == "tags":
            _check_tags(value, "ServicePrincipal")
        sp[name] = copy.deepcopy(value)
    if not isinstance(sp.get("displayName"), str) or not sp["displayName"].strip():
        raise invalid_value("displayName", "ServicePrincipal")
    return sp
