# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: consent_url
short_description: The admin consent URL of an application for one tenant
version_added: 1.0.0
description:
  - Builds C({authority}/{tenant}/adminconsent?client_id={client_id}). An administrator of the tenant who opens it
    and accepts grants tenant-wide admin consent to the application, which creates the application's service
    principal in that tenant with the application permissions it requests.
  - The authority is the sign-in host of O(cloud) (C(login.microsoftonline.com), C(login.microsoftonline.us),
    C(login.chinacloudapi.cn)) unless O(authority_host) is given.
author:
  - m365.cba maintainers (@m365-cba)
options:
  _input:
    description: The tenant, as its ID or a domain name.
    type: str
    required: true
  client_id:
    description: The application (client) ID of the multi-tenant application.
    type: str
    required: true
  cloud:
    description: The Microsoft cloud of the tenant.
    type: str
    choices: [global, usgov_high, usgov_dod, china]
    default: global
  authority_host:
    description: A sign-in host to use instead of the cloud's, for example a test emulator's.
    type: str
"""

EXAMPLES = r"""
- name: Ask the customer's administrator for consent
  ansible.builtin.debug:
    msg: "{{ 'contoso.onmicrosoft.com' | m365.cba.consent_url(client_id=bootstrap_app_id) }}"
"""

RETURN = r"""
_value:
  description: The admin consent URL.
  type: str
  sample: https://login.microsoftonline.com/contoso.onmicrosoft.com/adminconsent?client_id=3f2a8c71-0c5e-4c1e-9a53-0a4b2b1e6f10
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.m365.cba.plugins.module_utils._bootstrap import consent_url


def _consent_url(tenant, client_id, cloud="global", authority_host=None):
    try:
        return consent_url(tenant, client_id, cloud=cloud, authority_host=authority_host)
    except ValueError as exc:
        raise AnsibleFilterError(f"consent_url: {exc}") from None


class FilterModule:
    def filters(self):
        return {"consent_url": _consent_url}
