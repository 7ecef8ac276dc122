# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Service principals: find by appId, compare, upsert. Private to m365.cba; no stable API.

A service principal is keyed by its application's ``appId`` (Graph's alternate key), and created
with ``PATCH /servicePrincipals(appId='...')`` + ``Prefer: create-if-missing``: a retried or
repeated request updates the one that exists instead of creating a second one.
"""

from __future__ import annotations

from ._applications import merge_list
from ._graph import alternate_key, is_replication_lag
from ._resources import is_guid

SP_SELECT = "id,appId,displayName,tags,notes,servicePrincipalType,appRoleAssignmentRequired"
PRINCIPAL_SELECT = "id,appId,displayName"
PREFER_CREATE = {"Prefer": "create-if-missing"}


class PrincipalError(Exception):
    """The principal given to a module is missing or malformed; ``option`` names the option at fault."""

    def __init__(self, message, option):
        super().__init__(message)
        self.option = option

    def __str__(self):
        return f"{self.option}: {self.args[0]}"


def sp_path(app_id):
    return alternate_key("servicePrincipals", "appId", app_id)


def find_service_principal(client, app_id, select=SP_SELECT, wait_for_replication=False):
    """The service principal of ``app_id``, or ``None``.

    ``wait_for_replication`` keeps asking while Graph answers 404, for a principal that a previous
    step has just created; a principal that really does not exist then costs the lag timeout.
    """
    retry = is_replication_lag if wait_for_replication else None
    return client.get_optional(sp_path(app_id), params={"$select": select} if select else None, retry_on=retry)


def application_defaults(client, app_id):
    """What a new service principal inherits from this tenant's application ``app_id``.

    ``{}`` when the application is not found here (a multi-tenant application of another publisher,
    or one not created yet).
    """
    app = client.get_optional(alternate_key("applications", "appId", app_id), params={"$select": "displayName,tags"})
    if not app:
        return {}
    return {"displayName": app.get("displayName"), "tags": list(app.get("tags") or [])}


def desired_changes(current, wanted, purge_tags=False):
    """The PATCH body that brings ``current`` to ``wanted`` (Graph field names); empty if none.

    ``wanted`` holds only the fields the user manages: tags, notes, appRoleAssignmentRequired.
    """
    patch = {}
    for field in ("notes", "appRoleAssignmentRequired"):
        if wanted.get(field) is not None and wanted[field] != current.get(field):
            patch[field] = wanted[field]
    if wanted.get("tags") is not None:
        tags = merge_list(current.get("tags"), wanted["tags"], purge_tags)
        if set(tags) != set(current.get("tags") or []):
            patch["tags"] = tags
    return patch


def creation_body(wanted):
    """The fields sent with the upsert that creates the service principal."""
    return {field: wanted[field] for field in ("tags", "notes", "appRoleAssignmentRequired") if wanted.get(field) is not None}


def predicted(app_id, inherited, body):
    """What a service principal about to be created will look like (check mode)."""
    sp = {"id": None, "appId": app_id or None, "displayName": None, "servicePrincipalType": "Application",
          "tags": [], "notes": None, "appRoleAssignmentRequired": False}
    sp.update(inherited or {})
    sp.update(body)
    return sp


def upsert_service_principal(client, app_id, body):
    """Create (201) or update (204) the service principal of ``app_id``; returns it, whole.

    Right after the application was created Graph may not know its appId yet ("does not reference a
    valid application object", 404): that is waited out. The upsert is idempotent, so a retry never
    creates a second service principal.

    Graph's 201 answer is a partial object (serviceprincipal-upsert: no ``servicePrincipalType``,
    no ``notes``, and what was sent is not necessarily reflected), so it is completed with what was
    sent (:func:`completed`), which costs no request. A 204 (it existed already: created
    concurrently, or a retry after a lost answer) or a 201 without an ``id`` is read back.
    """
    response = client.request("PATCH", sp_path(app_id), body=body, headers=PREFER_CREATE, retry_on=is_replication_lag)
    if response.status == 201 and isinstance(response.body, dict) and response.body.get("id"):
        return completed(response.body, body)
    return find_service_principal(client, app_id, wait_for_replication=True)


def completed(created, body):
    """The upsert's 201 body with what was sent laid over it. A principal created for an application
    by its appId is of type ``Application`` and has no notes unless they were sent; tags not sent are
    the ones Graph answered with (those the principal took from its application)."""
    sp = dict(created)
    sp.update(body)
    sp["servicePrincipalType"] = created.get("servicePrincipalType") or "Application"
    for field, default in (("tags", []), ("notes", None), ("appRoleAssignmentRequired", False)):
        if sp.get(field) is None:
            sp[field] = default
    return sp


def update_service_principal(client, object_id, patch):
    client.patch(f"/servicePrincipals/{object_id}", patch, retry_on=is_replication_lag)


def delete_service_principal(client, object_id):
    client.delete_optional(f"/servicePrincipals/{object_id}")


def managed_view(sp):
    """The fields this collection manages, for diffs."""
    if sp is None:
        return {}
    return {
        "app_id": sp.get("appId"),
        "tags": sorted(sp.get("tags") or []),
        "notes": sp.get("notes"),
        "app_role_assignment_required": sp.get("appRoleAssignmentRequired"),
    }


def normalise(sp):
    """The service principal as modules return it (snake_case)."""
    if sp is None:
        return None
    view = managed_view(sp)
    view.update({
        "id": sp.get("id"),
        "display_name": sp.get("displayName"),
        "service_principal_type": sp.get("servicePrincipalType"),
    })
    return view


class Principal:
    """The client service principal a grant is for, given by object id or by appId.

    ``id`` is ``None`` when it does not exist (yet): in check mode on a new tenant the principal
    may only have been predicted by an earlier step, and a module then reports what it would do.
    """

    def __init__(self, object_id=None, app_id=None, display_name=None):
        self.id = object_id
        self.app_id = app_id
        self.display_name = display_name

    @property
    def exists(self):
        return self.id is not None


def resolve_principal(client, principal_id=None, principal_app_id=None, check_mode=False):
    """The principal named by ``principal_id`` or ``principal_app_id``.

    An empty value is accepted in check mode only (the principal has merely been predicted). A
    principal looked up by appId that does not exist fails a real run, after waiting out
    replication lag, and yields a non-existing :class:`Principal` in check mode.
    """
    option = "principal_app_id" if principal_app_id or not principal_id else "principal_id"
    value = principal_app_id or principal_id
    if not value:
        if check_mode:
            return Principal()
        raise PrincipalError("one of principal_id or principal_app_id is required (it may be empty only in check mode)", option)
    if not is_guid(value):
        raise PrincipalError(f"'{value}' is not a GUID", option)
    if option == "principal_id":
        return Principal(object_id=value)
    sp = find_service_principal(client, value, select=PRINCIPAL_SELECT, wait_for_replication=not check_mode)
    if sp is None:
        if check_mode:
            return Principal(app_id=value)
        raise PrincipalError(f"no service principal for the application '{value}' in this tenant; create it with m365.cba.service_principal", option)
    return Principal(sp["id"], sp.get("appId"), sp.get("displayName"))
