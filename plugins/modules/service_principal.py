#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: service_principal
short_description: Manage the service principal (enterprise application) of an application
version_added: 1.0.0
description:
  - Makes sure the service principal of an application exists in the tenant, or deletes it. The service
    principal is what permissions and directory roles are granted to, and what signs in.
  - The service principal is keyed by the application's O(app_id) and created with an upsert
    (C(PATCH /servicePrincipals(appId=...)) with C(Prefer create-if-missing)), so running the module
    again, or a retried request, never creates a second one.
  - Right after the application was created, Microsoft Graph may not know its appId yet; the module waits
    for it instead of failing.
  - Only the options given are managed. Tags are added to unless O(purge_tags) is set.
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
      - In check mode O(app_id) may be empty, for an application that an earlier task would create (in check
        mode it has no appId yet); the module then reports the service principal it would create.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  state:
    description: Whether the service principal should exist.
    type: str
    choices: [present, absent]
    default: present
  app_id:
    description:
      - Application (client) ID of the application, for example C(application.app_id) registered from
        M(m365.cba.application).
      - Required, except in check mode, where it may be empty (null or C("")) because the application would
        only be created by an earlier task.
      - When no application has this appId, the module fails after waiting O(replication_timeout) seconds, the
        time a new application may take to become known to Microsoft Graph.
    type: str
  tags:
    description:
      - Tags; each 1 to 256 characters without whitespace.
      - A new service principal gets the application's tags, or these when given.
    type: list
    elements: str
  purge_tags:
    description: Remove tags not listed in O(tags).
    type: bool
    default: false
  notes:
    description: Free text notes.
    type: str
  app_role_assignment_required:
    description:
      - Whether users and other applications need an app role assignment before they can sign in to this
        application. Not managed when not set.
    type: bool
notes:
  - Needs the Microsoft Graph application permission C(Application.ReadWrite.All) (or
    C(Application.ReadWrite.OwnedBy) for applications the caller owns).
  - Deleting the application does not necessarily delete its service principal; use O(state=absent) for that.
seealso:
  - module: m365.cba.application
  - module: m365.cba.app_role_assignment
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

- name: Register the automation application
  m365.cba.application:
    unique_name: m365-cba-exchange-online
    display_name: Exchange Online automation
  register: app

- name: Create its service principal (in check mode on a new tenant, app_id is still null)
  m365.cba.service_principal:
    app_id: "{{ app.application.app_id }}"
    tags: [m365-cba]
  register: sp

- name: Delete the service principal of the application (the application stays)
  m365.cba.service_principal:
    app_id: "{{ app.application.app_id }}"
    state: absent
"""

RETURN = r"""
service_principal:
  description: The service principal after the change (in check mode, as it would be). Null when absent.
  returned: always
  type: dict
  sample:
    id: cdb555e3-b33e-4fd5-a427-17fadacbdfa7
    app_id: 5a1c3f0e-8d2b-4c7a-9e61-2f4b8d0c7a35
    display_name: m365-cba Exchange Online
    tags: []
    notes: Certificate-based app-only access to Exchange Online PowerShell
    app_role_assignment_required: false
    service_principal_type: Application
  contains:
    id:
      description: Object ID, what permissions and directory roles are granted to. Null in check mode when it would be created.
      type: str
      sample: cdb555e3-b33e-4fd5-a427-17fadacbdfa7
    app_id:
      description: Application (client) ID. Null in check mode when the application does not exist yet.
      type: str
      sample: 5a1c3f0e-8d2b-4c7a-9e61-2f4b8d0c7a35
    display_name:
      description: Display name, taken from the application. Null in check mode when it cannot be known yet.
      type: str
      sample: m365-cba Exchange Online
    tags:
      description: Tags, sorted.
      type: list
      elements: str
      sample: []
    notes:
      description: Notes.
      type: str
      sample: Certificate-based app-only access to Exchange Online PowerShell
    app_role_assignment_required:
      description: Whether an app role assignment is required to sign in.
      type: bool
      sample: false
    service_principal_type:
      description: Kind of service principal.
      type: str
      sample: Application
"""

from ansible_collections.m365.cba.plugins.module_utils._applications import ApplicationInputError, validate_tags
from ansible_collections.m365.cba.plugins.module_utils._graph import GraphError, is_replication_lag
from ansible_collections.m365.cba.plugins.module_utils._graph import after_patch
from ansible_collections.m365.cba.plugins.module_utils._module import graph_spec
from ansible_collections.m365.cba.plugins.module_utils._runner import run_module
from ansible_collections.m365.cba.plugins.module_utils._resources import is_guid
from ansible_collections.m365.cba.plugins.module_utils._service_principals import (
    application_defaults,
    creation_body,
    delete_service_principal,
    desired_changes,
    find_service_principal,
    managed_view,
    normalise,
    predicted,
    update_service_principal,
    upsert_service_principal,
)


def wanted_fields(params):
    return {"tags": params["tags"], "notes": params["notes"], "appRoleAssignmentRequired": params["app_role_assignment_required"]}


def ensure_absent(gm, current):
    if current is not None and not gm.check_mode:
        delete_service_principal(gm.client, current["id"])
    gm.exit(current is not None, service_principal=None, diff=gm.diff(managed_view(current), {}))


def ensure_present(gm, app_id, current):
    params = gm.params
    wanted = wanted_fields(params)
    if current is None:
        body = creation_body(wanted)
        if gm.check_mode:
            after = predicted(app_id, application_defaults(gm.client, app_id) if app_id else {}, body)
        else:
            try:
                after = upsert_service_principal(gm.client, app_id, body)
            except GraphError as exc:
                if is_replication_lag(exc):
                    gm.fail(exc, option="app_id")
                raise
        gm.exit(True, service_principal=normalise(after), diff=gm.diff({}, managed_view(after)))
    patch = desired_changes(current, wanted, params["purge_tags"])
    if patch and not gm.check_mode:
        update_service_principal(gm.client, current["id"], patch)
    after = after_patch(current, patch)
    gm.exit(bool(patch), service_principal=normalise(after), diff=gm.diff(managed_view(current), managed_view(after)))


def run(gm):
    params = gm.params
    app_id = params["app_id"] or None
    try:
        validate_tags(params["tags"])
    except ApplicationInputError as exc:
        gm.fail(exc.args[0], option=exc.option)
    if app_id is None and not gm.check_mode:
        gm.fail("required (it may be empty only in check mode, for an application not created yet)", option="app_id")
    if app_id is not None and not is_guid(app_id):
        gm.fail(f"'{app_id}' is not a GUID", option="app_id")
    # Without an appId (check mode, application not created yet) there is nothing to read.
    current = find_service_principal(gm.client, app_id) if app_id else None
    if params["state"] == "absent":
        ensure_absent(gm, current)
    else:
        ensure_present(gm, app_id, current)


SPEC = graph_spec(
    argument_spec={
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "app_id": {"type": "str"},
        "tags": {"type": "list", "elements": "str"},
        "purge_tags": {"type": "bool", "default": False},
        "notes": {"type": "str"},
        "app_role_assignment_required": {"type": "bool"},
    },
)


def main():
    run_module(SPEC, run)


if __name__ == "__main__":
    main()
