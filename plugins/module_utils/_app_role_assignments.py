# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Application permission grants (app role assignments, what "Grant admin consent" creates).

An assignment is keyed by (principal, resource service principal, app role). The current ones are
read with one filtered list on the principal; only missing ones are created, and a create whose
answer was lost is looked up again before it is re-sent, so it never produces a duplicate.
Private to m365.cba; no stable API.
"""

from __future__ import annotations

from ._graph import GraphError, GraphResponse, is_replication_lag
from ._resources import role_name

ALREADY_EXISTS = "already exists"


def _same(a, b):
    return str(a or "").lower() == str(b or "").lower()


def list_assignments(client, principal_id, resource_id, wait_for_replication=False):
    """The principal's app role assignments on one resource; ``None`` when the principal does not exist."""
    retry = is_replication_lag if wait_for_replication else None
    try:
        return client.get_all(f"/servicePrincipals/{principal_id}/appRoleAssignments",
                              params={"$filter": f"resourceId eq {resource_id}"}, retry_on=retry)
    except GraphError as exc:
        if exc.not_found:
            return None
        raise


def plan(current, wanted_role_ids, state, purge=False):
    """``(role ids to grant, assignments to remove)``.

    ``wanted_role_ids`` ``None`` with state absent means every app role of the principal on the
    resource. Role ids compare case-insensitively.
    """
    current = list(current or [])
    held = {str(a.get("appRoleId")).lower() for a in current}
    if state == "absent":
        if wanted_role_ids is None:
            return [], current
        unwanted = {str(r).lower() for r in wanted_role_ids}
        return [], [a for a in current if str(a.get("appRoleId")).lower() in unwanted]
    wanted = {}
    for role_id in wanted_role_ids or []:
        wanted.setdefault(str(role_id).lower(), str(role_id))
    to_add = [role_id for key, role_id in wanted.items() if key not in held]
    to_remove = [a for a in current if str(a.get("appRoleId")).lower() not in wanted] if purge else []
    return to_add, to_remove


def _find(assignments, role_id):
    return next((a for a in assignments or [] if _same(a.get("appRoleId"), role_id)), None)


def grant(client, principal_id, resource_id, role_id):
    """Create one assignment and return it.

    Waits out a principal that has not replicated yet (400 "Not a valid reference update", 404).
    When the answer is lost, or Graph says the assignment already exists, the principal's
    assignments are read again and the existing one is returned instead of sending a second POST.
    After "already exists" (made a moment ago, by a concurrent run for example) the read is repeated
    until a lagging replica shows the assignment.
    """
    def recover():
        found = _find(list_assignments(client, principal_id, resource_id), role_id)
        return GraphResponse(201, found) if found else None

    body = {"principalId": principal_id, "resourceId": resource_id, "appRoleId": role_id}
    try:
        return client.post(f"/servicePrincipals/{resource_id}/appRoleAssignedTo", body,
                           retry_on=is_replication_lag, recover=recover)
    except GraphError as exc:
        if exc.status == 400 and ALREADY_EXISTS in (exc.message or "").lower():
            found = client.wait_for(recover)
            if found is not None:
                return found.body
        raise


def revoke(client, resource_id, assignment_id):
    client.delete_optional(f"/servicePrincipals/{resource_id}/appRoleAssignedTo/{assignment_id}")


def predicted(principal_id, resource_sp, role_id):
    """An assignment about to be created (check mode): no id yet."""
    return {"id": None, "principalId": principal_id, "resourceId": resource_sp.get("id"),
            "resourceDisplayName": resource_sp.get("displayName"), "appRoleId": role_id}


def after(current, added, removed):
    gone = {a.get("id") for a in removed}
    return [a for a in current or [] if a.get("id") not in gone] + list(added)


def normalise(assignment, resource_sp):
    """An assignment as modules return it (snake_case, with the permission name)."""
    return {
        "id": assignment.get("id"),
        "principal_id": assignment.get("principalId"),
        "resource_id": assignment.get("resourceId") or resource_sp.get("id"),
        "resource_display_name": assignment.get("resourceDisplayName") or resource_sp.get("displayName"),
        "app_role_id": assignment.get("appRoleId"),
        "app_role_value": role_name(resource_sp, assignment.get("appRoleId")),
    }


def normalise_all(assignments, resource_sp):
    return sorted((normalise(a, resource_sp) for a in assignments or []),
                  key=lambda a: (a["app_role_value"] or "", str(a["app_role_id"])))


def managed_view(assignments, resource_sp):
    """Before/after for diff mode: the permissions held on the resource."""
    return {
        "resource": resource_sp.get("displayName"),
        "permissions": sorted(role_name(resource_sp, a.get("appRoleId")) or str(a.get("appRoleId")) for a in assignments or []),
    }
