# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/setup.yml on five fresh tenants: the first run sets everything up and proves it, the
second changes nothing, and check mode on five other fresh tenants predicts without touching anything."""

from __future__ import annotations

import pytest

from e2e_support import DEPLOY_TENANTS, EXCHANGE_APP, PERMISSION, PREVIEW_TENANTS, LocalCertificate, TenantView, connect_argument, mode


def test_first_run_sets_up_and_verifies_every_tenant(deployed):
    first = deployed["first"]
    assert first.rc == 0, first.describe()
    for tenant in DEPLOY_TENANTS:
        assert first.failures(tenant) == 0, first.describe()
        assert first.changed(tenant) > 0, f"{tenant}: nothing changed on a fresh tenant\n{first.describe()}"
        report = LocalCertificate(deployed["cert_root"] / tenant).report()
        assert report["verified"] is True, report
        assert PERMISSION in report["token_roles"], report


def test_tenant_holds_exactly_what_the_setup_needs(deployed, emulator, pfx_password):
    for tenant in DEPLOY_TENANTS:
        view = TenantView(emulator, tenant)
        local = LocalCertificate(deployed["cert_root"] / tenant)
        app = view.application(EXCHANGE_APP)
        (sp,) = view.service_principals(app["appId"])
        exchange = view.exchange_sp()
        assert view.granted_permissions(sp["id"]) == [("Office 365 Exchange Online", PERMISSION)], tenant
        assert [a["resourceId"] for a in view.app_role_assignments(sp["id"])] == [exchange["id"]]
        assert view.directory_roles(sp["id"]) == ["Exchange Administrator"], tenant
        assert view.thumbprints(app) == [local.thumbprint], tenant
        assert local.pfx_certificate_thumbprint(pfx_password) == local.thumbprint
        assert local.report()["thumbprint"] == local.thumbprint


def test_private_files_are_private(deployed):
    for tenant in DEPLOY_TENANTS:
        local = LocalCertificate(deployed["cert_root"] / tenant)
        assert mode(local.directory) == 0o700, tenant
        assert mode(local.key) == 0o600, tenant
        assert mode(local.pfx) == 0o600, tenant
        assert mode(local.report_path) == 0o600, tenant


def test_second_run_changes_nothing(deployed, emulator):
    again = deployed["again"]
    assert again.rc == 0, again.describe()
    for tenant in DEPLOY_TENANTS:
        assert again.failures(tenant) == 0, again.describe()
        assert again.changed(tenant) == 0, f"{tenant} changed: {again.changed_tasks(tenant)}\n{again.describe()}"
        assert LocalCertificate(deployed["cert_root"] / tenant).report()["verified"] is True
        writes = [r["route"] for r in again.requests
                  if r["tenant"] == emulator.tenant(tenant)["tenant_id"] and r["method"] != "GET"
                  and not r["path"].endswith("/oauth2/v2.0/token")]
        assert writes == [], f"{tenant}: writes on a run without changes: {writes}"


def test_report_connect_lines_name_the_app_thumbprint_and_initial_domain(deployed, emulator):
    summary = "\n".join(deployed["again"].summary)
    for tenant in DEPLOY_TENANTS:
        view = TenantView(emulator, tenant)
        app = view.application(EXCHANGE_APP)
        (thumbprint,) = view.thumbprints(app)
        (domain,) = view.initial_domain
        local = LocalCertificate(deployed["cert_root"] / tenant)
        report = local.report()
        assert report["app_id"] == app["appId"]
        assert report["organization"] == domain
        by_thumbprint = report["connect"]["thumbprint"]
        by_file = report["connect"]["certificate_file"]
        for line in (by_thumbprint, by_file):
            assert line.startswith("Connect-ExchangeOnline "), line
            assert connect_argument(line, "AppID") == app["appId"], line
            assert connect_argument(line, "Organization") == domain, line
            assert line in summary, f"{tenant}: summary lacks {line!r}"
        assert connect_argument(by_thumbprint, "CertificateThumbPrint") == thumbprint
        assert connect_argument(by_file, "CertificateFilePath") == str(local.pfx)
        assert "-CertificatePassword (Read-Host" in by_file, "the password must be asked for, never written"


@pytest.fixture(scope="module")
def preview(runner, emulator, tmp_path_factory):
    """Check mode on five fresh tenants, with the emulator state before and after."""
    cert_root = tmp_path_factory.mktemp("preview-certificates")
    before = {tenant: emulator.state(tenant) for tenant in PREVIEW_TENANTS}
    run = runner.run("check", PREVIEW_TENANTS, cert_root, check=True)
    after = {tenant: emulator.state(tenant) for tenant in PREVIEW_TENANTS}
    return {"run": run, "before": before, "after": after, "cert_root": cert_root}


def test_check_mode_on_fresh_tenants_predicts_changes_and_changes_nothing(preview):
    run = preview["run"]
    assert run.rc == 0, run.describe()
    for tenant in PREVIEW_TENANTS:
        assert run.failures(tenant) == 0, run.describe()
        assert run.changed(tenant) > 0, f"{tenant}: check mode predicted no change\n{run.describe()}"
        assert preview["after"][tenant] == preview["before"][tenant], f"{tenant}: check mode changed the emulator"
        assert f"{tenant}: would be set up (check mode)" in run.summary, run.summary
    writes = [r["route"] for r in run.requests if r["method"] != "GET" and not r["path"].endswith("/oauth2/v2.0/token")]
    assert writes == [], f"check mode sent writes: {writes}"
    written = sorted(str(p) for p in preview["cert_root"].rglob("*"))
    assert written == [], f"check mode wrote files: {written}"
