# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""/applications: create, list, get, update, upsert by uniqueName, soft delete."""

from . import objects, validation
from .crypto import iso, utc_now
from .errors import invalid_value, not_found
from .graph_service_principals import remove_service_principal
from .keys import parse_key
from .odata import Entity

TEMPLATE = objects.application("contoso.onmicrosoft.com", "template", "2000-01-01T00:00:00Z", "AzureADMyOrg")
ENTITY = Entity("microsoft.graph.application", "Application", TEMPLATE,
                # The properties whose description says "Supports $filter" (application resource, v1.0 and
                # beta); uniqueName is an alternate key, not a filter.
                filterable={"id", "appId", "applicationTemplateId", "createdDateTime", "description",
                            "disabledByMicrosoftStatus", "displayName", "identifierUris", "info", "keyCredentials",
                            "publisherDomain", "requiredResourceAccess", "signInAudience", "tags"},
                operators={"appId": {"eq"}},
                orderable={"displayName", "createdDateTime"})


def _lookup(ctx, primary=False):
    kind, value = parse_key(ctx.params["key"])
    return kind, value, ctx.find("applications", kind, value, primary=primary)


def list_applications(ctx):
    query = ctx.query(ENTITY)
    # application-list.md: "By default, this API doesn't return the value of the key in the keyCredentials
    # property when listing all applications. To retrieve the public key info in key, the keyCredentials
    # property must be specified in a $select query."
    keep_keys = bool(query.select and "keyCredentials" in query.select)
    items = sorted((objects.public(a, keep_keys) for a in ctx.tenant.read_all("applications")), key=lambda a: a["id"])
    return ctx.collection("applications", query.apply(items), query)


def get_application(ctx):
    query = ctx.query(ENTITY)
    _kind, _value, app = _lookup(ctx)
    keep_keys = bool(query.select and "keyCredentials" in query.select)
    suffix = query.context_suffix()
    return ctx.entity(f"applications{suffix}/$entity", query.project(objects.public(app, keep_keys)))


def _new_application(ctx, body, unique_name=None):
    if "displayName" not in body:
        raise invalid_value("displayName", "Application")
    app = objects.application(ctx.tenant.initial_domain, None, iso(utc_now()), ctx.settings["default_sign_in_audience"])
    app = validation.apply_application_changes(app, body, ctx.settings, TEMPLATE)
    app["uniqueName"] = unique_name
    ctx.tenant.write("applications", app)
    return ctx.entity("applications/$entity", objects.public(app), status=201)


def create_application(ctx):
    return _new_application(ctx, ctx.body())


def _unique_name_owner(ctx, unique_name):
    for app in ctx.tenant.primary_all("applications"):
        if (app.get("uniqueName") or "").lower() == unique_name.lower():
            return app
    return None


def update_application(ctx):
    body = ctx.body()
    kind, value = parse_key(ctx.params["key"])
    if kind == "uniqueName" and ctx.prefers("create-if-missing"):
        existing = _unique_name_owner(ctx, value)
        if existing is None:
            return _new_application(ctx, body, unique_name=value)
        return _save_changes(ctx, existing, body)
    _kind, _value, app = _lookup(ctx)
    current = ctx.tenant.primary("applications", app["id"])
    if current is None:
        raise not_found(value)
    return _save_changes(ctx, current, body)


def _save_changes(ctx, app, body):
    updated = validation.apply_application_changes(app, body, ctx.settings, TEMPLATE)
    ctx.tenant.write("applications", updated)
    if "appRoles" in body or "identifierUris" in body:
        _sync_home_service_principal(ctx, updated)
    return ctx.no_content()


def _sync_home_service_principal(ctx, app):
    for sp in ctx.tenant.primary_all("servicePrincipals"):
        if sp["appId"] == app["appId"]:
            sp["appRoles"] = [dict(r) for r in app.get("appRoles") or []]
            sp["servicePrincipalNames"] = [app["appId"]] + list(app.get("identifierUris") or [])
            ctx.tenant.write("servicePrincipals", sp)


def delete_application(ctx):
    _kind, value, app = _lookup(ctx)
    current = ctx.tenant.primary("applications", app["id"])
    if current is None:
        raise not_found(value)
    ctx.tenant.delete("applications", current["id"])
    current["deletedDateTime"] = iso(utc_now())
    ctx.tenant.deleted_items.append(dict(current, **{"@odata.type": "#microsoft.graph.application"}))
    if ctx.settings["delete_app_removes_service_principal"]:
        for sp in ctx.tenant.primary_all("servicePrincipals"):
            if sp["appId"] == current["appId"]:
                remove_service_principal(ctx, sp)
    return ctx.no_content()
