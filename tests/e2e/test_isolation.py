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
