# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""/servicePrincipals and their app role assignments (admin consent for application permissions)."""

from . import objects, validation, wellknown
from .crypto import iso, utc_now
from .errors import GraphError, bad_request, invalid_value, not_found, unknown_property
from .keys import is_guid, parse_key
from .odata import Entity

TEMPLATE = objects.service_principal(wellknown.GRAPH_APP_ID, "template", wellknown.MICROSOFT_SERVICES_TENANT_ID,
                                     "2000-01-01T00:00:00Z")
ENTITY = Entity("microsoft.graph.servicePrincipal", "ServicePrincipal", TEMPLATE,
                filterable={"id", "appId", "displayName", "servicePrincipalNames", "tags", "accountEnabled",
                            "servicePrincipalType", "appOwnerOrganizationId"},
                types={"appOwnerOrganizationId": "Edm.Guid", "accountEnabled": "Edm.Boolean"})
ASSIGNMENT_PROPERTIES = ("id", "deletedDateTime", "appRoleId", "createdDateTime", "principalDisplayName", "principalId",
                         "principalType", "resourceDisplayName", "resourceId")
ASSIGNMENT_ENTITY = Entity("microsoft.graph.appRoleAssignment", "AppRoleAssignment", ASSIGNMENT_PROPERTIES,
                           # appRoleAssignment resource: resourceId "Supports $filter (eq only)", principalDisplayName
                           # "(eq and startswith)"; principalId, resourceId and appRoleId are Edm.Guid.
                           filterable={"resourceId", "principalDisplayName"},
                           operators={"resourceId": {"eq"}, "principalDisplayName": {"eq", "startswith"}},
                           types={"principalId": "Edm.Guid", "resourceId": "Edm.Guid", "appRoleId": "Edm.Guid"},
                           refusal="clr")
NOT_A_VALID_REFERENCE = "Not a valid reference update."


def _service_principal(ctx):
    kind, value = parse_key(ctx.params["key"])
    return ctx.find("servicePrincipals", kind, value)


def list_service_principals(ctx):
    query = ctx.query(ENTITY)
    items = sorted((objects.public(sp) for sp in ctx.tenant.read_all("servicePrincipals")), key=lambda s: s["id"])
    return ctx.collection("servicePrincipals", query.apply(items), query)


def get_service_principal(ctx):
    query = ctx.query(ENTITY)
    sp = _service_principal(ctx)
    return ctx.entity(f"servicePrincipals{query.context_suffix()}/$entity", query.project(objects.public(sp)))


def _new_service_principal(ctx, app_id, body):
    if not isinstance(app_id, str) or not app_id:
        raise invalid_value("appId", "ServicePrincipal")
    app = next((a for a in ctx.tenant.read_all("applications") if a["appId"].lower() == app_id.lower()), None)
    if app is None:
        raise bad_request(f"The appId '{app_id}' of the service principal does not reference a valid application object.")
    if any(sp["appId"].lower() == app_id.lower() for sp in ctx.tenant.primary_all("servicePrincipals")):
        raise GraphError(409, "Request_MultipleObjectsWithSameKeyValue", "The service principal cannot be created, "
                         f"updated, or restored because the service principal name {app['appId']} is already in use.")
    sp = objects.service_principal(
        app["appId"], app["displayName"], ctx.tenant.tenant_id, iso(utc_now()),
        tags=list(app.get("tags") or []), appRoles=[dict(r) for r in app.get("appRoles") or []],
        servicePrincipalNames=[app["appId"]] + list(app.get("identifierUris") or []),
        signInAudience=app["signInAudience"], appDescription=app.get("description"),
    )
    sp = validation.apply_service_principal_changes(sp, body, TEMPLATE)
    ctx.tenant.write("servicePrincipals", sp)
    return sp


def upsert_answer(sp, publisher_name, tags):
    """The 201 body of the upsert, shaped like serviceprincipal-upsert.md's example (v1.0): a partial
    object without servicePrincipalType, notes or description, with ``api`` and ``publishedPermissionScopes``
    in their older form, and ``tags`` as the principal took them from its application, not as sent."""
    return {
        "id": sp["id"], "deletedDateTime": None, "accountEnabled": sp["accountEnabled"],
        "appDisplayName": sp["appDisplayName"], "appId": sp["appId"], "applicationTemplateId": None,
        "appOwnerOrganizationId": sp["appOwnerOrganizationId"],
        "appRoleAssignmentRequired": sp["appRoleAssignmentRequired"], "displayName": sp["displayName"],
        "errorUrl": None, "homepage": sp["homepage"], "loginUrl": sp["loginUrl"], "logoutUrl": sp["logoutUrl"],
        "notificationEmailAddresses": list(sp["notificationEmailAddresses"]),
        "preferredSingleSignOnMode": sp["preferredSingleSignOnMode"], "preferredTokenSigningKeyEndDateTime": None,
        "preferredTokenSigningKeyThumbprint": None, "publisherName": publisher_name, "replyUrls": list(sp["replyUrls"]),
        "samlMetadataUrl": None, "samlSingleSignOnSettings": None,
        "servicePrincipalNames": list(sp["servicePrincipalNames"]), "signInAudience": sp["signInAudience"],
        "tags": list(tags), "addIns": [], "api": {"resourceSpecificApplicationPermissions": []},
        "appRoles": [dict(r) for r in sp["appRoles"]], "info": dict(sp["info"]), "keyCredentials": [],
        "publishedPermissionScopes": [dict(s) for s in sp.get("oauth2PermissionScopes") or []],
        "passwordCredentials": [],
    }


def create_service_principal(ctx):
    body = ctx.body()
    sp = _new_service_principal(ctx, body.get("appId"), body)
    return ctx.entity("servicePrincipals/$entity", objects.public(sp), status=201)


def update_service_principal(ctx):
    body = ctx.body()
    kind, value = parse_key(ctx.params["key"])
    if kind == "appId" and ctx.prefers("create-if-missing"):
        existing = next((sp for sp in ctx.tenant.primary_all("servicePrincipals")
                         if sp["appId"].lower() == value.lower()), None)
        if existing is None:
            sp = _new_service_principal(ctx, value, body)
            app = next(a for a in ctx.tenant.read_all("applications") if a["appId"].lower() == value.lower())
            answer = upsert_answer(sp, ctx.tenant.display_name, app.get("tags") or [])
            return ctx.entity("servicePrincipals/$entity", answer, status=201)
        current = existing
    else:
        current = ctx.tenant.primary("servicePrincipals", _service_principal(ctx)["id"])
        if current is None:
            raise not_found(value)
    ctx.tenant.write("servicePrincipals", validation.apply_service_principal_changes(current, body, TEMPLATE))
    return ctx.no_content()


def delete_service_principal(ctx):
    sp = ctx.tenant.primary("servicePrincipals", _service_principal(ctx)["id"])
    if sp is None:
        raise not_found(ctx.params["key"].strip("/"))
    remove_service_principal(ctx, sp)
    return ctx.no_content()


def remove_service_principal(ctx, sp):
    """Delete a service principal with the assignments it holds or grants (they cannot outlive it)."""
    tenant = ctx.tenant
    tenant.delete("servicePrincipals", sp["id"])
    for assignment in tenant.primary_all("appRoleAssignments"):
        if sp["id"] in (assignment["principalId"], assignment["resourceId"]):
            tenant.delete("appRoleAssignments", assignment["id"])
    for assignment in tenant.primary_all("roleAssignments"):
        if assignment["principalId"] == sp["id"]:
            tenant.delete("roleAssignments", assignment["id"])
    sp["deletedDateTime"] = iso(utc_now())
    tenant.deleted_items.append(dict(sp, **{"@odata.type": "#microsoft.graph.servicePrincipal"}))


# ---------------------------------------------------------------- app role assignments
def _owner_field(nav):
    return "resourceId" if nav.lower() == "approleassignedto" else "principalId"


def _nav(ctx):
    return "appRoleAssignedTo" if ctx.params["nav"].lower() == "approleassignedto" else "appRoleAssignments"


def list_assignments(ctx):
    query = ctx.query(ASSIGNMENT_ENTITY)
    sp = _service_principal(ctx)
    field = _owner_field(ctx.params["nav"])
    items = sorted((a for a in ctx.tenant.read_all("appRoleAssignments") if a[field] == sp["id"]), key=lambda a: a["id"])
    return ctx.collection(f"servicePrincipals('{sp['id']}')/{_nav(ctx)}", query.apply(items), query)


def _assignment_body(ctx):
    body = ctx.body()
    for name in body:
        if name not in ("principalId", "resourceId", "appRoleId", "@odata.type"):
            if name in ASSIGNMENT_PROPERTIES:
                continue
            raise unknown_property(name, "microsoft.graph.appRoleAssignment")
    for name in ("principalId", "resourceId", "appRoleId"):
        if not is_guid(body.get(name)):
            raise invalid_value(name, "AppRoleAssignment")
    return body


def _reference(ctx, object_id):
    sp = ctx.tenant.read("servicePrincipals", object_id.lower())
    if sp is None:
        raise bad_request(NOT_A_VALID_REFERENCE)
    return sp


def create_assignment(ctx):
    body = _assignment_body(ctx)
    owner = _service_principal(ctx)
    field = _owner_field(ctx.params["nav"])
    if body[field].lower() != owner["id"].lower():
        raise invalid_value(field, "AppRoleAssignment")
    principal, resource = _reference(ctx, body["principalId"]), _reference(ctx, body["resourceId"])
    role_id = body["appRoleId"].lower()
    roles = {r["id"].lower() for r in resource.get("appRoles") or []
             if r.get("isEnabled") and "Application" in (r.get("allowedMemberTypes") or [])}
    if role_id != wellknown.DEFAULT_ACCESS_APP_ROLE_ID and role_id not in roles:
        raise bad_request("Permission being assigned was not found on application.")
    for existing in ctx.tenant.primary_all("appRoleAssignments"):
        if (existing["principalId"], existing["resourceId"], existing["appRoleId"].lower()) == (
                principal["id"], resource["id"], role_id):
            raise bad_request("Permission being assigned already exists on the object.")
    assignment = objects.app_role_assignment(principal, resource, body["appRoleId"], iso(utc_now()))
    ctx.tenant.write("appRoleAssignments", assignment)
    return ctx.entity(f"servicePrincipals('{owner['id']}')/{_nav(ctx)}/$entity", assignment, status=201)


def _assignment(ctx):
    owner = _service_principal(ctx)
    assignment = ctx.tenant.read("appRoleAssignments", ctx.params["aid"])
    if assignment is None or assignment[_owner_field(ctx.params["nav"])] != owner["id"]:
        raise not_found(ctx.params["aid"])
    return owner, assignment


def get_assignment(ctx):
    query = ctx.query(ASSIGNMENT_ENTITY)
    owner, assignment = _assignment(ctx)
    return ctx.entity(f"servicePrincipals('{owner['id']}')/{_nav(ctx)}{query.context_suffix()}/$entity",
                      query.project(assignment))


def delete_assignment(ctx):
    _owner, assignment = _assignment(ctx)
    if ctx.tenant.primary("appRoleAssignments", assignment["id"]) is None:
        raise not_found(assignment["id"])
    ctx.tenant.delete("appRoleAssignments", assignment["id"])
    return ctx.no_content()
