#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: application_info
short_description: Read Microsoft Entra ID application registrations and their certificates
version_added: 1.0.0
description:
  - Reads one application by O(unique_name), O(app_id) or O(object_id), the applications with a display
    name (O(display_name)), or all applications of the tenant (up to O(limit)).
  - Returns each application with its certificates (key credentials) summarised as thumbprint, validity
    and days to expiry. Never returns key material.
  - Finding nothing returns an empty list, and finding several applications with one display name is not
    an error.
author:
  - m365.cba maintainers (@m365-cba)
extends_documentation_fragment:
  - m365.cba.graph_auth
  - m365.cba.attributes
  - m365.cba.attributes.actiongroup_graph
  - m365.cba.attributes.info_module
options:
  unique_name:
    description: The application's unique name (Graph C(uniqueName)).
    type: str
  app_id:
    description: The application (client) ID.
    type: str
  object_id:
    description: The application's object ID.
    type: str
  display_name:
    description: Every application with exactly this display name (display names are not unique).
    type: str
  limit:
    description:
      - Return at most this many applications when listing by O(display_name) or all of them.
      - Pages are requested with C($top) up to Graph's maximum of 999, so that a large tenant costs as few
        requests as possible.
    type: int
  certificate_lookup:
    description:
      - How thumbprints are found when applications are listed (by O(display_name) or all). A lookup by
        O(unique_name), O(app_id) or O(object_id) always reads the certificates themselves, in its one request.
      - The list read selects C(keyCredentials), so Graph returns the certificates themselves (C(key)) with
        it. Where an entry still comes back with C(key=null), the thumbprint comes from
        C(customKeyIdentifier), which Graph defaults to the thumbprint and M(m365.cba.application_certificate)
        sets to it.
      - V(auto) reads an application singly only when the thumbprint of one of its key credentials cannot
        be told from the list read. V(always) reads singly every application with a key credential that came
        back without C(key). V(never) adds no request and leaves such thumbprints null.
      - Each single read is one more request, and Microsoft throttles reads that select C(keyCredentials)
        to 150 per minute per tenant; prefer V(auto) or V(never) for large tenants.
    type: str
    choices: [auto, always, never]
    default: auto
notes:
  - Needs the Microsoft Graph application permission C(Application.Read.All) (or C(Application.ReadWrite.All)).
  - An application created a moment ago may not be returned yet; this module does not wait for replication.
seealso:
  - module: m365.cba.application
  - module: m365.cba.application_certificate
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

- name: Read the application this play signs in as, with its certificates
  m365.cba.application_info:
    app_id: "{{ m365_cba_client_id }}"
  register: info

- name: Its certificates that expire within 30 days
  ansible.builtin.debug:
    msg: "{{ info.applications | map(attribute='key_credentials') | flatten
             | selectattr('days_to_expiry', 'lt', 30) | map(attribute='thumbprint') | list }}"

- name: Every application named like this (there may be several)
  m365.cba.application_info:
    display_name: Exchange Online automation

- name: The first 50 applications of the tenant, without extra certificate reads
  m365.cba.application_info:
    limit: 50
    certificate_lookup: never
"""

RETURN = r"""
applications:
  description: The applications found; empty when none.
  returned: always
  type: list
  elements: dict
  sample:
    - id: 7c3e9a1d-52b4-4f0e-8a6c-1d9e3b7f2a45
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
      key_credentials:
        - key_id: 0f0b7a5e-3b0f-4a57-9d4e-4b8f0c3f2a11
          thumbprint: 2581BEE6F747A73E6CB7A89051028BADBB1BFAED
          thumbprint_source: key
          display_name: m365.cba m365-cba-exchange-online
          type: AsymmetricX509Cert
          usage: Verify
          start_date_time: '2026-11-26T23:10:41Z'
          end_date_time: '2027-11-26T23:15:41Z'
          days_to_expiry: 361
          expired: false
  contains:
    id:
      description: Object ID.
      type: str
      sample: 7c3e9a1d-52b4-4f0e-8a6c-1d9e3b7f2a45
    app_id:
      description: Application (client) ID.
      type: str
      sample: 5a1c3f0e-8d2b-4c7a-9e61-2f4b8d0c7a35
    unique_name:
      description: Unique name; null for applications created without one.
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
      sample:
        - resource_app_id: 00000002-0000-0ff1-ce00-000000000000
          id: dc50a0fb-09a3-484d-be87-e023b12c6440
          type: Role
    publisher_domain:
      description: Publisher domain.
      type: str
      sample: contoso.onmicrosoft.com
    created_date_time:
      description: When the application was created.
      type: str
      sample: '2026-11-26T23:05:12Z'
    key_credentials:
      description: The application's certificates, without key material.
      type: list
      elements: dict
      sample:
        - key_id: 0f0b7a5e-3b0f-4a57-9d4e-4b8f0c3f2a11
          thumbprint: 2581BEE6F747A73E6CB7A89051028BADBB1BFAED
          thumbprint_source: key
          display_name: m365.cba m365-cba-exchange-online
          type: AsymmetricX509Cert
          usage: Verify
          start_date_time: '2026-11-26T23:10:41Z'
          end_date_time: '2027-11-26T23:15:41Z'
          days_to_expiry: 361
          expired: false
      contains:
        key_id:
          description: The key credential's ID.
          type: str
          sample: 0f0b7a5e-3b0f-4a57-9d4e-4b8f0c3f2a11
        thumbprint:
          description:
            - SHA-1 thumbprint, uppercase hex.
            - Null when it could not be told (a list read with a C(customKeyIdentifier) that is not a thumbprint,
              and O(certificate_lookup=never)).
          type: str
          sample: 2581BEE6F747A73E6CB7A89051028BADBB1BFAED
        thumbprint_source:
          description: V(key) (computed from the certificate) or V(custom_key_identifier); null when unknown.
          type: str
          sample: key
        display_name:
          description: Display name.
          type: str
          sample: m365.cba m365-cba-exchange-online
        type:
          description: Credential type, normally C(AsymmetricX509Cert).
          type: str
          sample: AsymmetricX509Cert
        usage:
          description: Credential usage, normally C(Verify).
          type: str
          sample: Verify
        start_date_time:
          description: Start of validity, ISO 8601 UTC.
          type: str
          sample: '2026-11-26T23:10:41Z'
        end_date_time:
          description: End of validity, ISO 8601 UTC.
          type: str
          sample: '2027-11-26T23:15:41Z'
        days_to_expiry:
          description: Whole days until the end date; negative once expired.
          type: int
          sample: 361
        expired:
          description: Whether the end date has passed.
          type: bool
          sample: false
"""

from ansible_collections.m365.cba.plugins.module_utils._applications import ApplicationInputError, validate_unique_name
from ansible_collections.m365.cba.plugins.module_utils._graph import GraphError
from ansible_collections.m365.cba.plugins.module_utils._key_credentials import (
    KeyCredentialInputError,
    application_summaries,
    read_applications,
)
from ansible_collections.m365.cba.plugins.module_utils._module import graph_spec
from ansible_collections.m365.cba.plugins.module_utils._runner import run_module

LOOKUP_OPTIONS = ("unique_name", "app_id", "object_id", "display_name")


def run(gm):
    params = gm.params
    option = next((name for name in LOOKUP_OPTIONS if params[name] is not None), None)
    try:
        validate_unique_name(params["unique_name"])
        if params["limit"] is not None and params["limit"] < 1:
            raise KeyCredentialInputError("must be 1 or more", "limit")
    except (ApplicationInputError, KeyCredentialInputError) as exc:
        gm.fail(exc.args[0], option=exc.option)
    try:
        apps = read_applications(gm.client, unique_name=params["unique_name"], app_id=params["app_id"],
                                 object_id=params["object_id"], display_name=params["display_name"],
                                 limit=params["limit"], certificate_lookup=params["certificate_lookup"])
    except GraphError as exc:
        gm.fail(exc, option=option)
    gm.exit(False, applications=application_summaries(apps))


SPEC = graph_spec(
    argument_spec={
        "unique_name": {"type": "str"},
        "app_id": {"type": "str"},
        "object_id": {"type": "str"},
        "display_name": {"type": "str"},
        "limit": {"type": "int"},
        "certificate_lookup": {"type": "str", "choices": ["auto", "always", "never"], "default": "auto"},
    },
    mutually_exclusive=[list(LOOKUP_OPTIONS)],
)


def main():
    run_module(SPEC, run)


if __name__ == "__main__":
    main()
