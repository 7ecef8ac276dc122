# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: bootstrap_permissions
short_description: The Microsoft Graph application permissions the setup role needs, against those a token holds
version_added: 1.0.0
description:
  - Compares a token's C(roles) claim with the Microsoft Graph application permissions the bootstrap identity
    needs for the M(m365.cba.setup) role (C(Application.ReadWrite.All), C(AppRoleAssignment.ReadWrite.All),
    C(Organization.Read.All), C(RoleManagement.ReadWrite.Directory)).
  - With an empty list as input, RV(_value.required) is simply the list of permissions to request.
author:
  - m365.cba maintainers (@m365-cba)
options:
  _input:
    description: The permissions held, for example the C(roles) claim of a Microsoft Graph token.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: The permissions to request for the bootstrap application
  ansible.builtin.debug:
    msg: "{{ ([] | m365.cba.bootstrap_permissions).required }}"

- name: Which permissions the consent lacks
  ansible.builtin.debug:
    msg: "{{ (graph_token.claims.roles | m365.cba.bootstrap_permissions).missing }}"
"""

RETURN = r"""
_value:
  description: The comparison.
  type: dict
  contains:
    required:
      description: Every permission the setup role needs, sorted.
      type: list
      elements: str
      sample: [AppRoleAssignment.ReadWrite.All, Application.ReadWrite.All, Organization.Read.All, RoleManagement.ReadWrite.Directory]
    held:
      description: The input, sorted, without duplicates.
      type: list
      elements: str
    missing:
      description: Required permissions not held.
      type: list
      elements: str
      sample: [RoleManagement.ReadWrite.Directory]
    extra:
      description: Permissions held that the setup role does not need.
      type: list
      elements: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.m365.cba.plugins.module_utils._bootstrap import permission_status


def _bootstrap_permissions(roles):
    if roles is not None and not isinstance(roles, (list, tuple)):
        raise AnsibleFilterError("bootstrap_permissions: the input must be a list of permission names (a token's roles)")
    return permission_status(roles)


class FilterModule:
    def filters(self):
        return {"bootstrap_permissions": _bootstrap_permissions}
