# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One tenant whose Graph calls are all refused fails on its own: the other tenant is set up and
verified, and the summary names the failed tenant."""

from __future__ import annotations

import pytest

from e2e_support import EXCHANGE_APP, ISOLATION_TENANTS, LocalCertificate, TenantView

REFUSAL = {"tenant": "broken", "path": r"^/v1\.0/", "status": 403, "count": 100000,
           "code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation."}


@pytest.fixture(scope="module")
def isolation(runner, emulator, tmp_path_factory):
    cert_root = tmp_path_factory.mktemp("isolation-certificates")
    emulator.add_faults([REFUSAL])
    try:
        run = runner.run("isolation", ISOLATION_TENANTS, cert_root)
    finally:
        emulator.clear_faults()
    return {"run": run, "cert_root": cert_root}


def test_failed_tenant_does_not_stop_the_others(isolation, emulator):
    run = isolation["run"]
    assert run.rc != 0, "a failed tenant must fail the run"
    assert run.failures("broken") > 0, run.describe()
    failed = run.host_tasks("broken", status="failed")
    assert failed and any("403" in str(t["msg"]) or "Authorization_RequestDenied" in str(t["msg"]) for t in failed), failed
    assert TenantView(emulator, "broken").applications(EXCHANGE_APP) == []

    assert run.failures("healthy") == 0, run.describe()
    assert run.changed("healthy") > 0
    assert LocalCertificate(isolation["cert_root"] / "healthy").report()["verified"] is True
    TenantView(emulator, "healthy").application(EXCHANGE_APP)


def test_summary_lists_the_failed_tenant(isolation):
    run = isolation["run"]
    assert "broken: FAILED (see the errors above)" in run.summary, run.summary
    assert [line for line in run.summary if line.startswith("healthy: verified |")], run.summary


def test_the_report_honours_the_role_connection_variables(isolation, runner, emulator, tmp_path):
    """playbooks/report.yml passes the same connection options as the role (one mapping for both):
    with m365_cba_token_retry_timeout 0 a sign-in service that answers 503 is asked once, not for
    the 90 s default, and the run fails naming the tenant; the other tenant is reported."""
    broken = emulator.tenant("broken")["tenant_id"]
    emulator.add_faults([{"tenant": "broken", "path": r"/oauth2/v2\.0/token$", "status": 503, "count": 100000}])
    try:
        run = runner.run("report-token-budget", ISOLATION_TENANTS, isolation["cert_root"],
                         playbook=runner.collection / "playbooks" / "report.yml",
                         extra_vars={"m365_cba_token_retry_timeout": 0, "m365_cba_token_cache_dir": "none",
                                     "m365_cba_report_dir": str(tmp_path)})
    finally:
        emulator.clear_faults()
    assert run.rc != 0, run.describe()
    posts = [r for r in run.requests if r.get("tenant") == broken and r["path"].endswith("/oauth2/v2.0/token")]
    assert [r["status"] for r in posts] == [503], posts
    assert run.failures("healthy") == 0, run.describe()
