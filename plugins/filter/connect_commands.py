# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: connect_commands
short_description: The PowerShell lines that connect to Exchange Online or Security & Compliance with a certificate
version_added: 1.0.0
description:
  - Builds C(Connect-ExchangeOnline) (or C(Connect-IPPSSession)) lines for certificate-based app-only
    authentication, with the sovereign-cloud parameters where O(cloud) is not V(global).
  - Returns a dictionary with C(thumbprint), the Windows form using the certificate store, and, when
    O(pfx_path) is given, C(certificate_file), the form for Linux and macOS that reads the PFX file and asks
    for its password.
author:
  - m365.cba maintainers (@m365-cba)
options:
  _input:
    description: The application (client) ID.
    type: str
    required: true
  thumbprint:
    description: SHA-1 thumbprint of the certificate.
    type: str
    required: true
  organization:
    description: The tenant's initial C(*.onmicrosoft.com) domain.
    type: str
    required: true
  pfx_path:
    description: Path of the PFX file, for the Linux/macOS form.
    type: str
  workload:
    description: Which PowerShell module to connect.
    type: str
    choices: [exchange_online, security_compliance]
    default: exchange_online
  cloud:
    description: The Microsoft cloud.
    type: str
    choices: [global, usgov_high, usgov_dod, china]
    default: global
"""

EXAMPLES = r"""
- name: Show how to connect
  ansible.builtin.debug:
    msg: "{{ (app_id | m365.cba.connect_commands(thumbprint=thumb, organization='contoso.onmicrosoft.com')).thumbprint }}"
"""

RETURN = r"""
_value:
  description: The connect lines.
  type: dict
  contains:
    thumbprint:
      description: The line for Windows, using the certificate in the user's certificate store.
      type: str
      sample: Connect-ExchangeOnline -CertificateThumbPrint 'AB12...' -AppID '...' -Organization 'contoso.onmicrosoft.com'
    certificate_file:
      description: The line for Linux and macOS, using the PFX file.
      type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.m365.cba.plugins.module_utils._connect import connect_commands


def _connect_commands(app_id, thumbprint, organization, pfx_path=None, workload="exchange_online", cloud="global"):
    try:
        return connect_commands(app_id, thumbprint, organization, pfx_path=pfx_path, workload=workload, cloud=cloud)
    except ValueError as exc:
        raise AnsibleFilterError(f"connect_commands: {exc}") from None


class FilterModule:
    def filters(self):
        return {"connect_commands": _connect_commands}
