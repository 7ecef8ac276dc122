# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The connect lines per workload and cloud."""

from __future__ import annotations

import pytest

from ansible_collections.m365.cba.plugins.module_utils._connect import connect_commands

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
