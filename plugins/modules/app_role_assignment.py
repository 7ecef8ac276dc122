#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: app_role_assignment
short_description: Grant application permissions to a service principal (admin consent)
version_added: 1.0.0
description:
  - Grants application permissions (app roles) of a resource API, for example C(Exchange.ManageAsApp) of
    C(Office 365 Exchange Online), to a client service principal, which is what the portal's
    C(Grant admin consent) button does for application permissions. Or revokes them.
  - An assignment is identified by the principal, the resource service principal and the app role. The
    current assignments are read first and only the missing ones are created, so running the module again
    changes nothing.
  - A grant whose answer is lost is looked up again before it is re-sent, so it is never created twice.
  - Right after the principal was created, Microsoft Graph may not know it yet; the module waits for it.
author:
  - m365.cba maintainers (@m365-cba)
extends_documentation_fragment:
  - m365.cba.graph_auth
  - m365.cba.attributes
  - m365.cba.attributes.actiongroup_graph
attributes:
  check_mode:
    support: full
    details:
      - When the principal does not exist yet, which happens in check mode on a new tenant where the
        principal would only be created by an earlier task, the module reports the grants it would make.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  state:
    description:
      - V(present) grants O(permissions); V(absent) revokes them.
    type: str
    choices: [present, absent]
    default: present
  principal_id:
    description:
      - Object ID of the client service principal that receives the permissions.
      - One of O(principal_id) and O(principal_app_id) is required. Only in check mode may both be empty,
        for a principal that an earlier task would create (for example C(service_principal.id) registered
        from M(m365.cba.service_principal) in check mode); the module then reports what it would grant.
    type: str
    aliases: [principal]
  principal_app_id:
    description:
      - Application (client) ID of the client; its service principal in the tenant receives the permissions.
      - Costs one more request than O(principal_id).
    type: str
  resource:
    description:
      - The resource API whose permissions are granted, as its display name (C(Office 365 Exchange Online),
        C(Microsoft Graph)), its appId or its service principal's object ID.
    type: str
    required: true
  permissions:
    description:
      - Application permissions by name (C(Exchange.ManageAsApp)) or app role ID.
      - Required with O(state=present). With O(state=absent) and no O(permissions), every permission of the
        principal on O(resource) is revoked.
    type: list
    elements: str
  purge:
    description:
      - With O(state=present), also revoke the principal's other permissions on O(resource).
    type: bool
    default: false
notes:
  - Needs the Microsoft Graph application permissions C(AppRoleAssignment.ReadWrite.All) and
    C(Application.Read.All) (or C(Application.ReadWrite.All)).
  - A new permission reaches the principal's access tokens only when it requests a new token.
seealso:
  - module: m365.cba.application
  - module: m365.cba.service_principal
  - module: m365.cba.directory_role_assignment
"""

EXAMPLES = r"""
# Sign-in: the tasks below pass no credential. They take it from module_defaults for
# group/m365.cba.graph, set once on the play (the m365_cba_* variables of the collection's
# inventory/example/):
#
#   - hosts: tenants
#     module_defaults:
#       group/m365.cba.graph:
#         tenant_id: "{{ m365_cba_tenant_id }}"
#         client_id: "{{ m365_cba_client_id }}"
#         client_certificate_path: "{{ m365_cba_client_certificate_path }}"
#     tasks:
#       # ... the tasks below
#
# or, without module_defaults, from the environment: AZURE_TENANT_ID, AZURE_CLIENT_ID and
# AZURE_CLIENT_CERTIFICATE_PATH (or AZURE_CLIENT_SECRET).

- name: Register the Exchange Online automation application
  m365.cba.application:
    unique_name: m365-cba-exchange-online
    display_name: Exchange Online automation
    api_permissions:
      - resource: Office 365 Exchange Online
        permissions: [Exchange.ManageAsApp]
  register: app

- name: Create its service principal
  m365.cba.service_principal:
    app_id: "{{ app.application.app_id }}"
  register: sp

- name: Grant Exchange.ManageAsApp to the automation application (admin consent)
  m365.cba.app_role_assignment:
    principal_id: "{{ sp.service_principal.id }}"
    resource: Office 365 Exchange Online
    permissions: [Exchange.ManageAsApp]

- name: Keep exactly one Exchange permission, found by the client's application ID
  m365.cba.app_role_assignment:
    principal_app_id: "{{ app.application.app_id }}"
    resource: 00000002-0000-0ff1-ce00-000000000000  # Office 365 Exchange Online, by its appId
    permissions: [Exchange.ManageAsApp]
    purge: true

- name: Revoke every Exchange Online permission of the application
  m365.cba.app_role_assignment:
    principal_app_id: "{{ app.application.app_id }}"
    resource: Office 365 Exchange Online
    state: absent
"""

RETURN = r"""
assignments:
  description:
    - The principal's app role assignments on O(resource) after the change (in check mode, as they would
      be), sorted by permission name.
  returned: always
  type: list
  elements: dict
  sample:
    - id: 41W1zT6z1U-kJxf62svfp1HFE8pMZhxDun-ThPczmJE
      principal_id: cdb555e3-b33e-4fd5-a427-17fadacbdfa7
      resource_id: 2d2b7a1c-4f3e-4a5b-8c6d-7e8f9a0b1c2d
      resource_display_name: Office 365 Exchange Online
      app_role_id: dc50a0fb-09a3-484d-be87-e023b12c6440
      app_role_value: Exchange.ManageAsApp
  contains:
    id:
      description: Assignment ID (an opaque string, not a GUID). Null in check mode for a grant that would be made.
      type: str
      sample: 41W1zT6z1U-kJxf62svfp1HFE8pMZhxDun-ThPczmJE
    principal_id:
      description: Object ID of the client service principal. Null in check mode when it does not exist yet.
      type: str
      sample: cdb555e3-b33e-4fd5-a427-17fadacbdfa7
    resource_id:
      description: Object ID of the resource service principal.
      type: str
      sample: 2d2b7a1c-4f3e-4a5b-8c6d-7e8f9a0b1c2d
    resource_display_name:
      description: Display name of the resource.
      type: str
      sample: Office 365 Exchange Online
    app_role_id:
      description: ID of the app role.
      type: str
      sample: dc50a0fb-09a3-484d-be87-e023b12c6440
    app_role_value:
      description: Name of the permission.
      type: str
      sample: Exchange.ManageAsApp
added:
  description: The assignments created (in check mode, that would be created); same fields as RV(assignments).
  returned: always
  type: list
  elements: dict
  sample:
    - id: 41W1zT6z1U-kJxf62svfp1HFE8pMZhxDun-ThPczmJE
      principal_id: cdb555e3-b33e-4fd5-a427-17fadacbdfa7
      resource_id: 2d2b7a1c-4f3e-4a5b-8c6d-7e8f9a0b1c2d
      resource_display_name: Office 365 Exchange Online
      app_role_id: dc50a0fb-09a3-484d-be87-e023b12c6440
      app_role_value: Exchange.ManageAsApp
removed:
  description: The assignments revoked (in check mode, that would be revoked); same fields as RV(assignments).
  returned: always
  type: list
  elements: dict
  sample: []
"""

from ansible_collections.m365.cba.plugins.module_utils._app_role_assignments import (
    after,
    grant,
    list_assignments,
    managed_view,
    normalise_all,
    plan,
    predicted,
    revoke,
)
from ansible_collections.m365.cba.plugins.module_utils._graph import GraphError, is_replication_lag
from ansible_collections.m365.cba.plugins.module_utils._module import graph_spec
from ansible_collections.m365.cba.plugins.module_utils._runner import run_module
from ansible_collections.m365.cba.plugins.module_utils._resources import ResolveError, ResourceResolver, find_app_role
from ansible_collections.m365.cba.plugins.module_utils._service_principals import PrincipalError, resolve_principal


def run(gm):
    params = gm.params
    client = gm.client
    try:
        if params["state"] == "present" and not params["permissions"]:
            raise ResolveError("at least one permission is required with state=present", "permissions")
        principal = resolve_principal(client, params["principal_id"], params["principal_app_id"], gm.check_mode)
        resource_sp = ResourceResolver(client).service_principal(params["resource"], option="resource")
        role_ids = None
        if params["permissions"] is not None:
            role_ids = [find_app_role(resource_sp, permission, "permissions")["id"] for permission in params["permissions"]]
        current = None
        if principal.exists:
            current = list_assignments(client, principal.id, resource_sp["id"], wait_for_replication=not gm.check_mode)
            if current is None and not gm.check_mode:
                raise PrincipalError(f"no service principal with the object ID '{principal.id}' in this tenant", "principal_id")
    except (PrincipalError, ResolveError) as exc:
        gm.fail(exc.args[0], option=exc.option)
    current = current or []

    to_add, to_remove = plan(current, role_ids, params["state"], params["purge"])
    if gm.check_mode:
        added = [predicted(principal.id, resource_sp, role_id) for role_id in to_add]
    else:
        added = []
        for role_id in to_add:
            try:
                added.append(grant(client, principal.id, resource_sp["id"], role_id))
            except GraphError as exc:
                if is_replication_lag(exc):
                    gm.fail(exc, option="principal_app_id" if params["principal_app_id"] else "principal_id")
                raise
        for assignment in to_remove:
            revoke(client, resource_sp["id"], assignment["id"])
    result = after(current, added, to_remove)
    gm.exit(
        bool(to_add or to_remove),
        assignments=normalise_all(result, resource_sp),
        added=normalise_all(added, resource_sp),
        removed=normalise_all(to_remove, resource_sp),
        diff=gm.diff(managed_view(current, resource_sp), managed_view(result, resource_sp)),
    )


SPEC = graph_spec(
    argument_spec={
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "principal_id": {"type": "str", "aliases": ["principal"]},
        "principal_app_id": {"type": "str"},
        "resource": {"type": "str", "required": True},
        "permissions": {"type": "list", "elements": "str"},
        "purge": {"type": "bool", "default": False},
    },
    mutually_exclusive=[["principal_id", "principal_app_id"]],
)


def main():
    run_module(SPEC, run)


if __name__ == "__main__":
    main()
