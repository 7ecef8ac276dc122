#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: directory_role_assignment
short_description: Assign Microsoft Entra directory roles to a service principal
version_added: 1.0.0
description:
  - Assigns Microsoft Entra directory roles, for example C(Exchange Administrator), to a principal (usually
    the service principal of an automation application) at a directory scope, or removes them.
    Exchange Online and Security & Compliance PowerShell take the app-only session's permissions from
    these roles.
  - Roles are given by display name or template ID. An assignment is identified by the principal, the role
    and the scope. The current assignments are read first and only the missing ones are created, so
    running the module again changes nothing.
  - An assignment whose answer is lost is looked up again before it is re-sent, so it is never created
    twice. Right after the principal was created, Microsoft Graph may not know it yet; the module waits
    for it.
  - Highly privileged roles (Global Administrator, Privileged Role Administrator, Security Administrator, ...)
    can be assigned, with a warning recommending a least-privileged role.
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
        principal would only be created by an earlier task, the module reports the assignments it would make.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  state:
    description:
      - V(present) assigns O(roles); V(absent) removes them.
    type: str
    choices: [present, absent]
    default: present
  principal_id:
    description:
      - Object ID of the principal (service principal, user or group) that receives the roles.
      - One of O(principal_id) and O(principal_app_id) is required. Only in check mode may both be empty,
        for a principal that an earlier task would create; the module then reports what it would assign.
    type: str
    aliases: [principal]
  principal_app_id:
    description:
      - Application (client) ID of an application; its service principal in the tenant receives the roles.
      - Costs one more request than O(principal_id).
    type: str
  roles:
    description:
      - Directory roles by display name (C(Exchange Administrator), case-insensitive) or template ID.
      - Required with O(state=present). With O(state=absent) and no O(roles), every role of the principal at
        O(directory_scope_id) is removed.
    type: list
    elements: str
  directory_scope_id:
    description:
      - The scope of the assignments; C(/) is the whole tenant, C(/administrativeUnits/{id}) an administrative unit.
    type: str
    default: /
  purge:
    description:
      - With O(state=present), also remove the principal's other role assignments at O(directory_scope_id).
    type: bool
    default: false
notes:
  - Needs the Microsoft Graph application permission C(RoleManagement.ReadWrite.Directory).
  - A new role reaches the principal's access tokens only when it requests a new token; Exchange Online
    may take a while longer to honour it.
seealso:
  - module: m365.cba.service_principal
  - module: m365.cba.app_role_assignment
  - name: Microsoft Entra built-in roles
    description: Template IDs and permissions of every built-in role.
    link: https://learn.microsoft.com/entra/identity/role-based-access-control/permissions-reference
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

- name: Register the automation application
  m365.cba.application:
    unique_name: m365-cba-exchange-online
    display_name: Exchange Online automation
  register: app

- name: Create its service principal
  m365.cba.service_principal:
    app_id: "{{ app.application.app_id }}"
  register: sp

- name: Let the automation application administer Exchange Online
  m365.cba.directory_role_assignment:
    principal_id: "{{ sp.service_principal.id }}"
    roles: [Exchange Administrator]

- name: Exactly these roles for Exchange Online and Security & Compliance, by template ID
  m365.cba.directory_role_assignment:
    principal_app_id: "{{ app.application.app_id }}"
    roles:
      - 29232cdf-9323-42fd-ade2-1d097af3e4de  # Exchange Administrator
      - 17315797-102d-40b4-93e0-432062caca18  # Compliance Administrator
    purge: true

- name: Remove every tenant-wide directory role of the application
  m365.cba.directory_role_assignment:
    principal_app_id: "{{ app.application.app_id }}"
    state: absent
"""

RETURN = r"""
assignments:
  description:
    - The principal's role assignments at O(directory_scope_id) after the change (in check mode, as they
      would be), sorted by role name.
  returned: always
  type: list
  elements: dict
  sample:
    - id: lAPpYvVpN0KRkAEhdxReEJC2sEqbR_9Hr48lds9SGHI-1
      principal_id: cdb555e3-b33e-4fd5-a427-17fadacbdfa7
      role_definition_id: 29232cdf-9323-42fd-ade2-1d097af3e4de
      role_display_name: Exchange Administrator
      directory_scope_id: /
  contains:
    id:
      description: Assignment ID. Null in check mode for an assignment that would be made.
      type: str
      sample: lAPpYvVpN0KRkAEhdxReEJC2sEqbR_9Hr48lds9SGHI-1
    principal_id:
      description: Object ID of the principal. Null in check mode when it does not exist yet.
      type: str
      sample: cdb555e3-b33e-4fd5-a427-17fadacbdfa7
    role_definition_id:
      description: ID of the role definition (for built-in roles, the template ID).
      type: str
      sample: 29232cdf-9323-42fd-ade2-1d097af3e4de
    role_display_name:
      description: Name of the role.
      type: str
      sample: Exchange Administrator
    directory_scope_id:
      description: Scope of the assignment.
      type: str
      sample: /
added:
  description: The assignments created (in check mode, that would be created); same fields as RV(assignments).
  returned: always
  type: list
  elements: dict
  sample:
    - id: lAPpYvVpN0KRkAEhdxReEJC2sEqbR_9Hr48lds9SGHI-1
      principal_id: cdb555e3-b33e-4fd5-a427-17fadacbdfa7
      role_definition_id: 29232cdf-9323-42fd-ade2-1d097af3e4de
      role_display_name: Exchange Administrator
      directory_scope_id: /
removed:
  description: The assignments removed (in check mode, that would be removed); same fields as RV(assignments).
  returned: always
  type: list
  elements: dict
  sample: []
"""

from ansible_collections.m365.cba.plugins.module_utils._directory_roles import (
    after,
    assign,
    list_assignments,
    list_role_definitions,
    managed_view,
    normalise_all,
    plan,
    predicted,
    privilege_warning,
    privileged,
    resolve_roles,
    unassign,
)
from ansible_collections.m365.cba.plugins.module_utils._graph import GraphError, is_replication_lag
from ansible_collections.m365.cba.plugins.module_utils._module import graph_spec
from ansible_collections.m365.cba.plugins.module_utils._runner import run_module
from ansible_collections.m365.cba.plugins.module_utils._resources import ResolveError
from ansible_collections.m365.cba.plugins.module_utils._service_principals import PrincipalError, resolve_principal


def run(gm):
    params = gm.params
    client = gm.client
    scope = params["directory_scope_id"]
    try:
        if params["state"] == "present" and not params["roles"]:
            raise ResolveError("at least one role is required with state=present", "roles")
        if not scope or not scope.startswith("/"):
            raise ResolveError(f"'{scope}' is not a directory scope; use / or /administrativeUnits/<id>", "directory_scope_id")
        principal = resolve_principal(client, params["principal_id"], params["principal_app_id"], gm.check_mode)
        definitions = list_role_definitions(client)
        wanted = resolve_roles(definitions, params["roles"]) if params["roles"] is not None else None
    except (PrincipalError, ResolveError) as exc:
        gm.fail(exc.args[0], option=exc.option)

    if params["state"] == "present":
        for definition in wanted:
            if privileged(definition):
                gm.warn(privilege_warning(definition))

    current = list_assignments(client, principal.id, scope) if principal.exists else []
    to_add, to_remove = plan(current, wanted, params["state"], params["purge"])
    if gm.check_mode:
        added = [predicted(principal.id, definition, scope) for definition in to_add]
    else:
        added = []
        for definition in to_add:
            try:
                added.append(assign(client, principal.id, definition, scope))
            except GraphError as exc:
                if is_replication_lag(exc):
                    gm.fail(exc, option="principal_app_id" if params["principal_app_id"] else "principal_id")
                raise
        for assignment in to_remove:
            unassign(client, assignment["id"])
    result = after(current, added, to_remove)
    gm.exit(
        bool(to_add or to_remove),
        assignments=normalise_all(result, definitions),
        added=normalise_all(added, definitions),
        removed=normalise_all(to_remove, definitions),
        diff=gm.diff(managed_view(current, definitions, scope), managed_view(result, definitions, scope)),
    )


SPEC = graph_spec(
    argument_spec={
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "principal_id": {"type": "str", "aliases": ["principal"]},
        "principal_app_id": {"type": "str"},
        "roles": {"type": "list", "elements": "str"},
        "directory_scope_id": {"type": "str", "default": "/"},
        "purge": {"type": "bool", "default": False},
    },
    mutually_exclusive=[["principal_id", "principal_app_id"]],
)


def main():
    run_module(SPEC, run)


if __name__ == "__main__":
    main()
