# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""/roleManagement/directory (role definitions and assignments) and /organization."""

import copy

from . import objects
from .errors import bad_request, invalid_value, not_found, unknown_property
from .keys import is_guid
from .odata import Entity

DEFINITION_ENTITY = Entity(
    "microsoft.graph.unifiedRoleDefinition", "UnifiedRoleDefinition",
    ("id", "description", "displayName", "isBuiltIn", "isEnabled", "resourceScopes", "templateId", "version",
     "rolePermissions", "inheritsPermissionsFrom"),
    filterable={"id", "displayName", "templateId", "isBuiltIn", "isEnabled"},
    types={"isBuiltIn": "Edm.Boolean", "isEnabled": "Edm.Boolean"})
ASSIGNMENT_PROPERTIES = ("id", "principalId", "principalOrganizationId", "roleDefinitionId", "directoryScopeId",
                         "appScopeId", "resourceScope", "condition", "principal", "roleDefinition")
ASSIGNMENT_ENTITY = Entity(
    "microsoft.graph.unifiedRoleAssignment", "UnifiedRoleAssignment", ASSIGNMENT_PROPERTIES,
    # unifiedRoleAssignment resource: these four "Support $filter (eq, in)"; all four are Edm.String.
    filterable={"principalId", "roleDefinitionId", "directoryScopeId", "appScopeId"},
    operators={name: {"eq", "in"} for name in ("principalId", "roleDefinitionId", "directoryScopeId", "appScopeId")},
    expandable={"principal", "roleDefinition"})
ORGANIZATION_ENTITY = Entity("microsoft.graph.organization", "Organization",
                             objects.organization("x", "x", "x", "x"), filterable={"id"})
CONFLICT = "A conflicting object with one or more of the specified property values is present in the directory."
_RBAC = "roleManagement/directory"


# ---------------------------------------------------------------- role definitions
def list_role_definitions(ctx):
    query = ctx.query(DEFINITION_ENTITY)
    items = sorted(ctx.tenant.role_definitions.values(), key=lambda d: d["displayName"])
    return ctx.collection(f"{_RBAC}/roleDefinitions", query.apply(copy.deepcopy(items)), query)


def _definition(ctx, definition_id):
    definition = ctx.tenant.role_definitions.get((definition_id or "").lower())
    if definition is None:
        raise not_found(definition_id)
    return copy.deepcopy(definition)


def get_role_definition(ctx):
    query = ctx.query(DEFINITION_ENTITY)
    definition = _definition(ctx, ctx.params["rid"])
    return ctx.entity(f"{_RBAC}/roleDefinitions{query.context_suffix()}/$entity", query.project(definition))


# ---------------------------------------------------------------- role assignments
def _expanded(ctx, assignment, names):
    shown = dict(assignment)
    if "principal" in names:
        sp = ctx.tenant.read("servicePrincipals", assignment["principalId"])
        shown["principal"] = dict(objects.public(sp), **{"@odata.type": "#microsoft.graph.servicePrincipal"}) if sp else None
    if "roleDefinition" in names:
        shown["roleDefinition"] = ctx.tenant.role_definitions.get(assignment["roleDefinitionId"])
    return shown


def list_role_assignments(ctx):
    query = ctx.query(ASSIGNMENT_ENTITY)
    items = sorted(ctx.tenant.read_all("roleAssignments"), key=lambda a: a["id"])
    items = [_expanded(ctx, a, query.expand) for a in query.apply(items)]
    return ctx.collection(f"{_RBAC}/roleAssignments", items, query)


def _assignment_body(ctx):
    body = ctx.body()
    for name in body:
        if name not in ("principalId", "roleDefinitionId", "directoryScopeId", "appScopeId", "@odata.type"):
            raise unknown_property(name, "microsoft.graph.unifiedRoleAssignment")
    for name in ("principalId", "roleDefinitionId"):
        if not is_guid(body.get(name)):
            raise invalid_value(name, "UnifiedRoleAssignment")
    scope, app_scope = body.get("directoryScopeId"), body.get("appScopeId")
    if bool(scope) == bool(app_scope):
        raise bad_request("Exactly one of directoryScopeId and appScopeId must be specified.")
    if scope is not None and (not isinstance(scope, str) or not scope.startswith("/")):
        raise invalid_value("directoryScopeId", "UnifiedRoleAssignment")
    return body


def create_role_assignment(ctx):
    body = _assignment_body(ctx)
    definition = _definition(ctx, body["roleDefinitionId"])
    principal = ctx.tenant.read("servicePrincipals", body["principalId"].lower())
    if principal is None:
        raise not_found(body["principalId"])
    scope, app_scope = body.get("directoryScopeId"), body.get("appScopeId")
    for existing in ctx.tenant.primary_all("roleAssignments"):
        if (existing["principalId"], existing["roleDefinitionId"], existing["directoryScopeId"],
                existing["appScopeId"]) == (principal["id"], definition["id"], scope, app_scope):
            raise bad_request(CONFLICT)
    assignment = objects.role_assignment(ctx.tenant.tenant_id, principal["id"], definition["id"], scope, app_scope)
    ctx.tenant.write("roleAssignments", assignment)
    return ctx.entity(f"{_RBAC}/roleAssignments/$entity", assignment, status=201)


def _assignment(ctx):
    assignment = ctx.tenant.read("roleAssignments", ctx.params["rid"])
    if assignment is None:
        raise not_found(ctx.params["rid"])
    return assignment


def get_role_assignment(ctx):
    query = ctx.query(ASSIGNMENT_ENTITY)
    assignment = _expanded(ctx, _assignment(ctx), query.expand)
    return ctx.entity(f"{_RBAC}/roleAssignments{query.context_suffix()}/$entity", query.project(assignment))


def delete_role_assignment(ctx):
    assignment = _assignment(ctx)
    if ctx.tenant.primary("roleAssignments", assignment["id"]) is None:
        raise not_found(assignment["id"])
    ctx.tenant.delete("roleAssignments", assignment["id"])
    return ctx.no_content()


# ---------------------------------------------------------------- organization
def list_organization(ctx):
    query = ctx.query(ORGANIZATION_ENTITY)
    return ctx.collection("organization", query.apply([copy.deepcopy(ctx.tenant.organization)]), query)


def get_organization(ctx):
    query = ctx.query(ORGANIZATION_ENTITY)
    if ctx.params["rid"].lower() != ctx.tenant.tenant_id:
        raise not_found(ctx.params["rid"])
    return ctx.entity(f"organization{query.context_suffix()}/$entity", query.project(copy.deepcopy(ctx.tenant.organization)))
