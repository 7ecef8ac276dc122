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


def _sh_quote(value):
    """A POSIX shell single-quoted word."""
    return "'" + str(value).replace("'", "'\"'\"'") + "'"


def certificate_commands(pfx_path, thumbprint, vault_mount=None, vault_path=None):
    """How to get the certificate onto an admin machine: ``import_pfx``, the Windows
    ``Import-PfxCertificate`` line for the current user's store (what ``-CertificateThumbPrint``
    reads), and with a vault store ``fetch_pfx`` / ``fetch_password`` (``bao kv get``; ``vault kv get``
    takes the same arguments) and ``fetch_pfx_powershell``, which write the PFX to ``pfx_path``."""
    if not pfx_path:
        raise ValueError("the PFX path is required")
    lines = {
        "import_pfx": " ".join([
            "Import-PfxCertificate", "-FilePath", _ps_quote(pfx_path), "-CertStoreLocation", "Cert:\\CurrentUser\\My",
            "-Password", "(Read-Host -AsSecureString -Prompt 'PFX password')"]),
        "check_import": f"Get-Item Cert:\\CurrentUser\\My\\{thumbprint}",
    }
    if vault_path:
        mount = vault_mount or "secret"
        get = ["kv", "get", f"-mount={mount}"]
        fetch = ["-field=pfx_base64", _sh_quote(vault_path), "|", "base64", "-d", ">", _sh_quote(pfx_path)]
        lines["fetch_pfx"] = " ".join(["bao"] + get + fetch)
        lines["fetch_password"] = " ".join(["bao"] + get + ["-field=pfx_password", _sh_quote(vault_path)])
        lines["fetch_pfx_powershell"] = (
            f"[IO.File]::WriteAllBytes((Join-Path $PWD {_ps_quote(pfx_path)}), [Convert]::FromBase64String("
            f"(vault kv get -mount={mount} -field=pfx_base64 {_ps_quote(vault_path)})))")
    return lines
