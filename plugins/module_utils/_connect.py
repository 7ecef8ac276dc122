# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The PowerShell lines that connect with certificate-based app-only authentication.

Private to m365.cba; no stable API.
"""

from __future__ import annotations

from ._clouds import get_cloud

WORKLOADS = ("exchange_online", "security_compliance")


def _ps_quote(value):
    """A PowerShell single-quoted string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def connect_commands(app_id, thumbprint, organization, pfx_path=None, workload="exchange_online", cloud="global"):
    """``{"thumbprint": ..., "certificate_file": ...}``: the Windows (certificate store) and the
    Linux/macOS (PFX file) forms of Connect-ExchangeOnline or Connect-IPPSSession."""
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload '{workload}'; choose one of {', '.join(WORKLOADS)}")
    info = get_cloud(cloud)
    if workload == "exchange_online":
        command = "Connect-ExchangeOnline"
        extra = [] if info.name == "global" else ["-ExchangeEnvironmentName", info.exchange_environment_name]
    else:
        command = "Connect-IPPSSession"
        extra = []
        if info.compliance_connection_uri:
            extra += ["-ConnectionUri", _ps_quote(info.compliance_connection_uri)]
        if info.azure_ad_authorization_endpoint_uri:
            extra += ["-AzureADAuthorizationEndpointUri", _ps_quote(info.azure_ad_authorization_endpoint_uri)]
    common = ["-AppID", _ps_quote(app_id), "-Organization", _ps_quote(organization)] + extra
    lines = {"thumbprint": " ".join([command, "-CertificateThumbPrint", _ps_quote(thumbprint)] + common)}
    if pfx_path:
        lines["certificate_file"] = " ".join(
            [command, "-CertificateFilePath", _ps_quote(pfx_path),
             "-CertificatePassword", "(Read-Host -AsSecureString -Prompt 'PFX password')"] + common)
    return lines
