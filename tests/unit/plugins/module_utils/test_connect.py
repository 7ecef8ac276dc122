# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The connect lines per workload and cloud."""

from __future__ import annotations

import pytest

from ansible_collections.m365.cba.plugins.module_utils._connect import certificate_commands, connect_commands

APP = "11111111-2222-3333-4444-555555555555"


def test_exchange_online_global():
    lines = connect_commands(APP, "ABCDEF", "contoso.onmicrosoft.com", pfx_path="/c/exo.pfx")
    assert lines["thumbprint"] == (f"Connect-ExchangeOnline -CertificateThumbPrint 'ABCDEF' -AppID '{APP}' "
                                   "-Organization 'contoso.onmicrosoft.com'")
    assert lines["certificate_file"].startswith("Connect-ExchangeOnline -CertificateFilePath '/c/exo.pfx' -CertificatePassword (Read-Host")
    assert "ExchangeEnvironmentName" not in lines["certificate_file"]


@pytest.mark.parametrize("cloud, name", [("usgov_high", "O365USGovGCCHigh"), ("usgov_dod", "O365USGovDoD"), ("china", "O365China")])
def test_exchange_online_sovereign_clouds_name_the_environment(cloud, name):
    assert connect_commands(APP, "AB", "x.onmicrosoft.com", cloud=cloud)["thumbprint"].endswith(f"-ExchangeEnvironmentName {name}")


def test_security_compliance_uses_connect_ippssession_and_sovereign_uris():
    assert connect_commands(APP, "AB", "x.onmicrosoft.com", workload="security_compliance")["thumbprint"].startswith("Connect-IPPSSession ")
    china = connect_commands(APP, "AB", "x.onmicrosoft.com", workload="security_compliance", cloud="china")["thumbprint"]
    assert "-ConnectionUri 'https://ps.compliance.protection.partner.outlook.cn/powershell-liveid'" in china
    assert "-AzureADAuthorizationEndpointUri 'https://login.chinacloudapi.cn/common'" in china
    assert "certificate_file" not in connect_commands(APP, "AB", "x.onmicrosoft.com")


def test_quotes_are_escaped_and_unknown_workload_refused():
    assert "'/o''brien/exo.pfx'" in connect_commands(APP, "AB", "x", pfx_path="/o'brien/exo.pfx")["certificate_file"]
    with pytest.raises(ValueError):
        connect_commands(APP, "AB", "x", workload="teams")


def test_certificate_commands_for_a_windows_admin_machine():
    lines = certificate_commands("/c/exo.pfx", "AB12")
    assert lines["import_pfx"] == ("Import-PfxCertificate -FilePath '/c/exo.pfx' -CertStoreLocation Cert:\\CurrentUser\\My "
                                   "-Password (Read-Host -AsSecureString -Prompt 'PFX password')")
    assert lines["check_import"] == "Get-Item Cert:\\CurrentUser\\My\\AB12"
    assert "fetch_pfx" not in lines


def test_certificate_commands_fetch_from_the_store_quoted():
    lines = certificate_commands("exo.pfx", "AB12", vault_mount="kv", vault_path="m365-cba/o'brien/exo")
    assert lines["fetch_pfx"] == "bao kv get -mount=kv -field=pfx_base64 'm365-cba/o'\"'\"'brien/exo' | base64 -d > 'exo.pfx'"
    assert lines["fetch_password"] == "bao kv get -mount=kv -field=pfx_password 'm365-cba/o'\"'\"'brien/exo'"
    assert "vault kv get -mount=kv -field=pfx_base64 'm365-cba/o''brien/exo'" in lines["fetch_pfx_powershell"]
