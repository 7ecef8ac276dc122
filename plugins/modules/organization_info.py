#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: organization_info
short_description: Read a Microsoft Entra ID tenant's organization and its initial domain
version_added: 1.0.0
description:
  - Reads the tenant's organization object from Microsoft Graph.
  - Returns the initial C(*.onmicrosoft.com) domain, which is the value C(Connect-ExchangeOnline -Organization)
    and C(Connect-IPPSSession -Organization) take for certificate-based app-only authentication.
author:
  - m365.cba maintainers (@m365-cba)
extends_documentation_fragment:
  - m365.cba.graph_auth
  - m365.cba.attributes
  - m365.cba.attributes.info_module
  - m365.cba.attributes.actiongroup_graph
notes:
  - Needs the Microsoft Graph application permission C(Organization.Read.All) (or C(Directory.Read.All)).
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

- name: Read the tenant's initial domain
  m365.cba.organization_info:
  register: org

- name: Show what Connect-ExchangeOnline -Organization takes
  ansible.builtin.debug:
    msg: "{{ org.organization.initial_domain }}"
"""

RETURN = r"""
organization:
  description: The tenant's organization.
  returned: success
  type: dict
  sample:
    tenant_id: 0c5b9b5e-6f3a-4a43-9d0d-3b0e7d9a1c11
    display_name: Contoso
    initial_domain: contoso.onmicrosoft.com
    default_domain: contoso.com
    verified_domains:
      - contoso.com
      - contoso.onmicrosoft.com
    tenant_type: AAD
  contains:
    tenant_id:
      description: The tenant ID.
      type: str
      sample: 0c5b9b5e-6f3a-4a43-9d0d-3b0e7d9a1c11
    display_name:
      description: The organization's display name.
      type: str
      sample: Contoso
    initial_domain:
      description: The initial C(*.onmicrosoft.com) domain, for C(-Organization).
      type: str
      sample: contoso.onmicrosoft.com
    default_domain:
      description: The default domain.
      type: str
      sample: contoso.com
    verified_domains:
      description: All verified domain names, sorted.
      type: list
      elements: str
      sample: [contoso.com, contoso.onmicrosoft.com]
    tenant_type:
      description: The tenant type, when Graph returns it.
      type: str
      sample: AAD
"""

from ansible_collections.m365.cba.plugins.module_utils._module import graph_spec
from ansible_collections.m365.cba.plugins.module_utils._runner import run_module
from ansible_collections.m365.cba.plugins.module_utils._organization import read_organization


def run(gm):
    organization = read_organization(gm.client)
    if organization is None:
        gm.fail("Microsoft Graph returned no organization for this tenant", option="tenant_id")
    gm.exit(False, organization=organization)


SPEC = graph_spec(argument_spec={})


def main():
    run_module(SPEC, run)


if __name__ == "__main__":
    main()
