#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: application
short_description: Manage a Microsoft Entra ID application registration, keyed by its unique name
version_added: 1.0.0
description:
  - Creates, updates or deletes an application registration through Microsoft Graph.
  - The application is keyed by O(unique_name), Graph's alternate key, and created with an upsert, so
    running the module again, or a retried request, never creates a second application.
  - An existing application can also be found by O(app_id) or O(object_id); such an application is
    updated or deleted, never created.
  - Only the options given are managed. Lists are added to unless their C(purge_*) option is set.
  - API permissions are given by name, for example resource C(Office 365 Exchange Online) and permission
    C(Exchange.ManageAsApp), and resolved against the resource's service principal in the tenant.
    Declaring a permission here does not grant it; M(m365.cba.app_role_assignment) does (admin consent).
author:
  - m365.cba maintainers (@m365-cba)
extends_documentation_fragment:
  - m365.cba.graph_auth
  - m365.cba.attributes
  - m365.cba.attributes.actiongroup_graph
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  state:
    description: Whether the application should exist.
    type: str
    choices: [present, absent]
    default: present
  unique_name:
    description:
      - The application's unique name (Graph C(uniqueName)), the key the module creates and finds it by.
      - Immutable; it can only be given when the application is created. Applications created elsewhere have
        none; manage them with O(app_id) instead.
      - 1 to 256 characters without whitespace, quotes, slashes, backslashes, question marks, hashes or percent signs.
    type: str
  app_id:
    description: Find the application by its application (client) ID instead. It is never created by this key.
    type: str
  object_id:
    description: Find the application by its object ID instead. It is never created by this key.
    type: str
  display_name:
    description:
      - The display name. Required to create an application. Not a key; several applications may share it.
      - At most 120 characters, or 90 when the application's O(sign_in_audience) (given, or the one it has) admits
        personal Microsoft accounts, as Microsoft Entra ID documents for each audience; a longer name is refused
        before Microsoft Graph is called.
    type: str
  sign_in_audience:
    description:
      - Who may sign in. Not managed when not set; an application created by this module gets V(AzureADMyOrg)
        (single tenant), which is what certificate-based authentication for Exchange Online needs.
    type: str
    choices: [AzureADMyOrg, AzureADMultipleOrgs, AzureADandPersonalMicrosoftAccount, PersonalMicrosoftAccount]
  notes:
    description: Free text notes.
    type: str
  tags:
    description: Tags; each 1 to 256 characters without whitespace.
    type: list
    elements: str
  purge_tags:
    description: Remove tags not listed in O(tags).
    type: bool
    default: false
  web_redirect_uris:
    description: Web redirect URIs. Certificate-based app-only sign-in needs none.
    type: list
    elements: str
  purge_web_redirect_uris:
    description: Remove web redirect URIs not listed in O(web_redirect_uris).
    type: bool
    default: false
  api_permissions:
    description:
      - Application permissions (app roles) the application requests, by resource and permission name.
    type: list
    elements: dict
    suboptions:
      resource:
        description:
          - The resource API, as its display name (C(Office 365 Exchange Online), C(Microsoft Graph)) or appId.
        type: str
        required: true
      permissions:
        description: Permission names (C(Exchange.ManageAsApp)) or app role IDs.
        type: list
        elements: str
        required: true
  purge_api_permissions:
    description: Remove requested permissions not listed in O(api_permissions).
    type: bool
    default: false
notes:
  - Needs the Microsoft Graph application permission C(Application.ReadWrite.All).
seealso:
  - module: m365.cba.application_info
  - module: m365.cba.application_certificate
  - module: m365.cba.app_role_assignment
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

- name: Tag it, found by its client ID (the key for an application made in the portal, which has no unique name)
  m365.cba.application:
    app_id: "{{ app.application.app_id }}"
    tags: [automation]

- name: Delete it
  m365.cba.application:
    unique_name: m365-cba-exchange-online
    state: absent
"""

RETURN = r"""
created:
  description: Whether the application was (in check mode, would be) created by this task.
  returned: always
  type: bool
  sample: false
application:
  description: The application after the change (in check mode, as it would be). Null when absent.
  returned: always
  type: dict
  sample:
    id: 7c3e9a1d-52b4-4f0e-8a6c-1d9e3b7f2a45
    app_id: 5a1c3f0e-8d2b-4c7a-9e61-2f4b8d0c7a35
    unique_name: m365-cba-exchange-online
    display_name: m365-cba Exchange Online
    sign_in_audience: AzureADMyOrg
    tags: []
    notes: Certificate-based app-only access to Exchange Online PowerShell
    web_redirect_uris: []
    required_resource_access:
      - resource_app_id: 00000002-0000-0ff1-ce00-000000000000
        id: dc50a0fb-09a3-484d-be87-e023b12c6440
        type: Role
    publisher_domain: contoso.onmicrosoft.com
    created_date_time: '2026-11-26T23:05:12Z'
  contains:
    id:
      description: Object ID. Null in check mode when the application would be created.
      type: str
      sample: 7c3e9a1d-52b4-4f0e-8a6c-1d9e3b7f2a45
    app_id:
      description: Application (client) ID, what C(Connect-ExchangeOnline -AppID) takes. Null in check mode when it would be created.
      type: str
      sample: 5a1c3f0e-8d2b-4c7a-9e61-2f4b8d0c7a35
    unique_name:
      description: The unique name.
      type: str
      sample: m365-cba-exchange-online
    display_name:
      description: Display name.
      type: str
      sample: m365-cba Exchange Online
    sign_in_audience:
      description: Sign-in audience.
      type: str
      sample: AzureADMyOrg
    tags:
      description: Tags, sorted.
      type: list
      elements: str
      sample: []
    notes:
      description: Notes.
      type: str
      sample: Certificate-based app-only access to Exchange Online PowerShell
    web_redirect_uris:
      description: Web redirect URIs, sorted.
      type: list
      elements: str
      sample: []
    required_resource_access:
      description: Requested permissions, one entry per permission.
      type: list
      elements: dict
      sample: [{resource_app_id: 00000002-0000-0ff1-ce00-000000000000, id: dc50a0fb-09a3-484d-be87-e023b12c6440, type: Role}]
    publisher_domain:
      description: Publisher domain.
      type: str
      sample: contoso.onmicrosoft.com
    created_date_time:
      description: When the application was created.
      type: str
      sample: '2026-11-26T23:05:12Z'
"""

from ansible_collections.m365.cba.plugins.module_utils._applications import (
    ApplicationInputError,
    SIGN_IN_AUDIENCES,
    creation_body,
    delete_application,
    desired_changes,
    find_application,
    managed_view,
    normalise,
    requested_permissions,
    update_application,
    upsert_application,
    validate_display_name,
    validate_tags,
    validate_unique_name,
)
from ansible_collections.m365.cba.plugins.module_utils._graph import after_patch
from ansible_collections.m365.cba.plugins.module_utils._module import graph_spec
from ansible_collections.m365.cba.plugins.module_utils._runner import run_module
from ansible_collections.m365.cba.plugins.module_utils._resources import ResolveError, ResourceResolver


def wanted_fields(params, current, resolver):
    wanted = {
        "displayName": params["display_name"],
        "signInAudience": params["sign_in_audience"],
        "notes": params["notes"],
        "tags": params["tags"],
        "redirectUris": params["web_redirect_uris"],
    }
    if params["api_permissions"] is not None:
        wanted["requiredResourceAccess"] = requested_permissions(params["api_permissions"], current, resolver)
    return wanted


def ensure_absent(gm, current):
    if current is not None and not gm.check_mode:
        delete_application(gm.client, current["id"])
    gm.exit(current is not None, application=None, created=False, diff=gm.diff(managed_view(current), {}))


def ensure_present(gm, current):
    params = gm.params
    wanted = wanted_fields(params, current, ResourceResolver(gm.client))
    if current is None:
        if not params["unique_name"]:
            key = "app_id" if params["app_id"] else "object_id"
            gm.fail(f"no application with this {key}; set unique_name (and display_name) to create one", option=key)
        if not params["display_name"]:
            gm.fail("required to create the application", option="display_name")
        body = creation_body(params["unique_name"], wanted)
        if gm.check_mode:
            after = after_patch({"uniqueName": params["unique_name"]}, body)
        else:
            after = upsert_application(gm.client, params["unique_name"], body)
        gm.exit(True, application=normalise(after), created=True, diff=gm.diff({}, managed_view(after)))
    # The audience the application will have decides how long its name may be.
    validate_display_name(params["display_name"], params["sign_in_audience"] or current.get("signInAudience"))
    patch = desired_changes(current, wanted, params["purge_tags"], params["purge_web_redirect_uris"], params["purge_api_permissions"])
    if patch and not gm.check_mode:
        update_application(gm.client, current["id"], patch)
    after = after_patch(current, patch)
    gm.exit(bool(patch), application=normalise(after), created=False, diff=gm.diff(managed_view(current), managed_view(after)))


def run(gm):
    params = gm.params
    try:
        validate_unique_name(params["unique_name"])
        validate_display_name(params["display_name"], params["sign_in_audience"])
        validate_tags(params["tags"])
        current = find_application(gm.client, params["unique_name"], params["app_id"], params["object_id"])
        if params["state"] == "absent":
            ensure_absent(gm, current)
        else:
            ensure_present(gm, current)
    except (ApplicationInputError, ResolveError) as exc:
        gm.fail(exc.args[0], option=exc.option)


PERMISSION_OPTIONS = {"resource": {"type": "str", "required": True}, "permissions": {"type": "list", "elements": "str", "required": True}}
SPEC = graph_spec(
    argument_spec={
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "unique_name": {"type": "str"},
        "app_id": {"type": "str"},
        "object_id": {"type": "str"},
        "display_name": {"type": "str"},
        "sign_in_audience": {"type": "str", "choices": SIGN_IN_AUDIENCES},
        "notes": {"type": "str"},
        "tags": {"type": "list", "elements": "str"},
        "purge_tags": {"type": "bool", "default": False},
        "web_redirect_uris": {"type": "list", "elements": "str"},
        "purge_web_redirect_uris": {"type": "bool", "default": False},
        "api_permissions": {"type": "list", "elements": "dict", "options": PERMISSION_OPTIONS},
        "purge_api_permissions": {"type": "bool", "default": False},
    },
    required_one_of=[["unique_name", "app_id", "object_id"]],
    mutually_exclusive=[["unique_name", "app_id", "object_id"]],
)


def main():
    run_module(SPEC, run)


if __name__ == "__main__":
    main()
