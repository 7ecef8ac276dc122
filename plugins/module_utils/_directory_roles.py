# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Microsoft Entra directory role assignments (unified RBAC). Private to m365.cba; no stable API.

Roles are given by display name or template ID and resolved against the tenant's role definitions,
read once per run. An assignment is keyed by (principal, role definition, directory scope); only
missing ones are created, and a create whose answer was lost is looked up again before it is
re-sent, so it never produces a duplicate.
"""

from __future__ import annotations

import difflib

from ._graph import GraphError, GraphResponse, is_replication_lag, odata_quote
from ._resources import ResolveError, is_guid

ROLE_DEFINITIONS = "/roleManagement/directory/roleDefinitions"
ROLE_ASSIGNMENTS = "/roleManagement/directory/roleAssignments"
DEFINITION_SELECT = "id,displayName,templateId,isBuiltIn,isEnabled"
CONFLICT = "conflicting object"

# Roles that can take over the tenant or its applications; assigning one to an automation
# identity earns a warning. (template ID, display name)
PRIVILEGED_ROLES = (
    ("62e90394-69f5-4237-9190-012177145e10", "Global Administrator"),
    ("e8611ab8-c189-46e8-94e1-60213ab1f814", "Privileged Role Administrator"),
    ("7be44c8a-adaf-4e2a-84d6-ab2649e08a13", "Privileged Authentication Administrator"),
    ("194ae4cb-b126-40b2-bd5b-6091b380977d", "Security Administrator"),
    ("9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", "Application Administrator"),
    ("158c047a-c907-4556-b7ef-446551a6b5f7", "Cloud Application Administrator"),
)


def _lower(value):
    return str(value or "").lower()


def list_role_definitions(client):
    return client.get_all(ROLE_DEFINITIONS, params={"$select": DEFINITION_SELECT})


def resolve_roles(definitions, roles, option="roles"):
    """The role definitions named by ``roles`` (display names, case-insensitive, or IDs), in order.

    An unknown name fails naming ``option`` and the closest display names.
    """
    by_name = {}
    for definition in definitions:
        by_name.setdefault(_lower(definition.get("displayName")), []).append(definition)
    resolved = []
    for role in roles:
        if is_guid(role):
            matches = [d for d in definitions if _lower(role) in (_lower(d.get("id")), _lower(d.get("templateId")))]
        else:
            matches = by_name.get(_lower(str(role).strip()), [])
        if not matches:
            raise ResolveError(f"no directory role '{role}' in this tenant{_suggest(role, definitions)}", option)
        if len(matches) > 1:
            raise ResolveError(f"'{role}' matches {len(matches)} role definitions; give the role's template ID instead", option)
        if matches[0].get("isEnabled") is False:
            raise ResolveError(f"directory role '{matches[0].get('displayName')}' is disabled", option)
        if matches[0] not in resolved:
            resolved.append(matches[0])
    return resolved


def _suggest(role, definitions):
    names = sorted({d.get("displayName") for d in definitions if d.get("displayName")})
    if is_guid(role):
        return ""
    wanted = str(role).strip().lower()
    close = [n for n in names if wanted and wanted in n.lower()]
    for name in difflib.get_close_matches(wanted, [n.lower() for n in names], n=3, cutoff=0.6):
        original = next(n for n in names if n.lower() == name)
        if original not in close:
            close.append(original)
    return f" (close matches: {', '.join(close[:5])})" if close else ""


def privileged(definition):
    """True for the roles in :data:`PRIVILEGED_ROLES` (by template ID or, for safety, by name)."""
    ids = {_lower(definition.get("id")), _lower(definition.get("templateId"))}
    return any(template in ids or name == definition.get("displayName") for template, name in PRIVILEGED_ROLES)


def privilege_warning(definition):
    return (f"'{definition.get('displayName')}' is a highly privileged directory role. Assign the least-privileged "
            "role that does the job: Exchange Administrator (or Exchange Recipient Administrator) for Exchange Online "
            "PowerShell, Compliance Administrator for Security & Compliance PowerShell.")


def list_assignments(client, principal_id, directory_scope_id):
    """The principal's directory role assignments at one scope."""
    found = client.get_all(ROLE_ASSIGNMENTS, params={"$filter": f"principalId eq {odata_quote(principal_id)}"})
    return [a for a in found if _same_scope(a, directory_scope_id)]


def _same_scope(assignment, directory_scope_id):
    scope = assignment.get("directoryScopeId")
    if scope is None:
        scope = assignment.get("resourceScope")
    return scope == directory_scope_id


def _defines(definition, assignment):
    return _lower(assignment.get("roleDefinitionId")) in (_lower(definition.get("id")), _lower(definition.get("templateId")))


def plan(current, wanted, state, purge=False):
    """``(role definitions to assign, assignments to remove)``.

    ``wanted`` ``None`` with state absent means every role of the principal at that scope.
    """
    current = list(current or [])
    if state == "absent":
        if wanted is None:
            return [], current
        return [], [a for a in current if any(_defines(d, a) for d in wanted)]
    to_add = [d for d in wanted or [] if not any(_defines(d, a) for a in current)]
    to_remove = [a for a in current if not any(_defines(d, a) for d in wanted or [])] if purge else []
    return to_add, to_remove


def assign(client, principal_id, definition, directory_scope_id):
    """Create one assignment and return it.

    Waits out a principal that has not replicated yet. When the answer is lost, or Graph reports a
    conflicting (already existing) assignment, the principal's assignments are read again and the
    existing one is returned instead of sending a second POST; after a conflict the read is repeated
    until a lagging replica shows the assignment.
    """
    def recover():
        found = next((a for a in list_assignments(client, principal_id, directory_scope_id) if _defines(definition, a)), None)
        return GraphResponse(201, found) if found else None

    body = {"principalId": principal_id, "roleDefinitionId": definition.get("templateId") or definition["id"],
            "directoryScopeId": directory_scope_id}
    try:
        return client.post(ROLE_ASSIGNMENTS, body, retry_on=is_replication_lag, recover=recover)
    except GraphError as exc:
        if exc.status == 400 and CONFLICT in (exc.message or "").lower():
            found = client.wait_for(recover)
            if found is not None:
                return found.body
        raise


def unassign(client, assignment_id):
    client.delete_optional(f"{ROLE_ASSIGNMENTS}/{assignment_id}")


def predicted(principal_id, definition, directory_scope_id):
    """An assignment about to be created (check mode): no id yet."""
    return {"id": None, "principalId": principal_id, "roleDefinitionId": definition.get("templateId") or definition["id"],
            "directoryScopeId": directory_scope_id}


def after(current, added, removed):
    gone = {a.get("id") for a in removed}
    return [a for a in current or [] if a.get("id") not in gone] + list(added)


def role_display_name(definitions, role_definition_id):
    for definition in definitions or []:
        if _lower(role_definition_id) in (_lower(definition.get("id")), _lower(definition.get("templateId"))):
            return definition.get("displayName")
    return None


def normalise(assignment, definitions):
    return {
        "id": assignment.get("id"),
        "principal_id": assignment.get("principalId"),
        "role_definition_id": assignment.get("roleDefinitionId"),
        "role_display_name": role_display_name(definitions, assignment.get("roleDefinitionId")),
        "directory_scope_id": assignment.get("directoryScopeId", assignment.get("resourceScope")),
    }


def normalise_all(assignments, definitions):
    return sorted((normalise(a, definitions) for a in assignments or []),
                  key=lambda a: (a["role_display_name"] or "", str(a["role_definition_id"])))


def managed_view(assignments, definitions, directory_scope_id):
    """Before/after for diff mode: the roles held at the scope."""
    return {
        "directory_scope_id": directory_scope_id,
        "roles": sorted(role_display_name(definitions, a.get("roleDefinitionId")) or str(a.get("roleDefinitionId"))
                        for a in assignments or []),
    }
