# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: certificate_commands
short_description: How to get the application's certificate onto an admin machine
version_added: 1.0.0
description:
  - Builds the lines that put the PFX file where C(Connect-ExchangeOnline) finds it.
  - C(import_pfx) imports it into the current user's certificate store on Windows (C(Cert:\CurrentUser\My)), which
    C(-CertificateThumbPrint) reads; C(check_import) shows the imported certificate.
  - With O(vault_path), C(fetch_pfx) and C(fetch_password) read the PFX and its password from a HashiCorp Vault or
    OpenBao KV version 2 store with C(bao kv get) (C(vault kv get) takes the same arguments), and
    C(fetch_pfx_powershell) writes the PFX from PowerShell on Windows.
author:
  - m365.cba maintainers (@m365-cba)
options:
  _input:
    description: The PFX file, as the other lines name it.
    type: str
    required: true
  thumbprint:
    description: SHA-1 thumbprint of the certificate.
    type: str
    required: true
  vault_mount:
    description: Mount path of the KV version 2 secrets engine.
    type: str
    default: secret
  vault_path:
    description: Path of the certificate's secret below O(vault_mount); without it, no fetch lines.
    type: str
"""

EXAMPLES = r"""
- name: Show how to import the certificate on Windows
  ansible.builtin.debug:
    msg: "{{ ('contoso.pfx' | m365.cba.certificate_commands(thumbprint=thumb)).import_pfx }}"
"""

RETURN = r"""
_value:
  description: The lines.
  type: dict
  contains:
    import_pfx:
      description: Windows PowerShell, import into the current user's certificate store.
      type: str
      sample: Import-PfxCertificate -FilePath 'contoso.pfx' -CertStoreLocation Cert:\CurrentUser\My -Password (Read-Host -AsSecureString -Prompt 'PFX password')
    check_import:
      description: Windows PowerShell, show the imported certificate.
      type: str
      sample: Get-Item Cert:\CurrentUser\My\2581BEE6F747A73E6CB7A89051028BADBB1BFAED
    fetch_pfx:
      description: Shell, write the PFX from the store (with O(vault_path)).
      type: str
      sample: bao kv get -mount=secret -field=pfx_base64 'm365-cba/contoso/m365-cba-exchange-online' | base64 -d > 'contoso.pfx'
    fetch_password:
      description: Shell, print the PFX password from the store (with O(vault_path)).
      type: str
      sample: bao kv get -mount=secret -field=pfx_password 'm365-cba/contoso/m365-cba-exchange-online'
    fetch_pfx_powershell:
      description: PowerShell, write the PFX from the store with the C(vault) command (with O(vault_path)).
      type: str
      sample: >-
        [IO.File]::WriteAllBytes((Join-Path $PWD 'contoso.pfx'), [Convert]::FromBase64String((vault kv get -mount=secret
        -field=pfx_base64 'm365-cba/contoso/m365-cba-exchange-online')))
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.m365.cba.plugins.module_utils._connect import certificate_commands


def _certificate_commands(pfx_path, thumbprint, vault_mount="secret", vault_path=None):
    try:
        return certificate_commands(pfx_path, thumbprint, vault_mount=vault_mount, vault_path=vault_path)
    except ValueError as exc:
        raise AnsibleFilterError(f"certificate_commands: {exc}") from None


class FilterModule:
    def filters(self):
        return {"certificate_commands": _certificate_commands}
