# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What happens after the first setup, one tenant per story, all in the same three runs:

- rotate:    renew_before_days beyond the current certificate's validity -> new certificate, verified, old one removed
- graced:    the same with rotation_grace_days 3 -> the old certificate stays beside the new one
- lostkey:   the local certificate directory is deleted, replacement allowed -> one replacement, and the
             run fails the tenant at the end, naming it (tests/vault covers the refusal by default)
- workloads: Security & Compliance set up beside Exchange Online -> a second application
- teardown:  m365_cba_setup_state absent with local file removal

Run "setup" sets every tenant up, run "change" applies the stories, run "steady" repeats the
"change" variables with normal renewal days and must change nothing.
"""

from __future__ import annotations

import shutil

import pytest

from e2e_support import COMPLIANCE_APP, EXCHANGE_APP, LIFECYCLE_TENANTS, PERMISSION, LocalCertificate, TenantView, connect_argument

GRACE_DAYS = 3
# The current certificate (365 days) is within 400 days of expiry: renew now, with a longer validity
# (a validity not larger than the renewal window is refused).
RENEW_NOW = {"m365_cba_certificate_valid_days": 800, "m365_cba_certificate_renew_before_days": 400}
COMPLIANCE = {"m365_cba_workload": "security_compliance"}
TEARDOWN = {"m365_cba_setup_state": "absent", "m365_cba_remove_local_files": True}
LOST_KEY_WARNING = "was replaced because its private key was lost"
REPLACED_FAIL_TASK = "Fail the tenants whose certificate was replaced because its key was lost"


@pytest.fixture(scope="module")
def lifecycle(runner, emulator, tmp_path_factory):
    cert_root = tmp_path_factory.mktemp("lifecycle-certificates")
    graced = {"m365_cba_rotation_grace_days": GRACE_DAYS}
    runs, states = {}, {}

    runs["setup"] = runner.run("lifecycle-setup", LIFECYCLE_TENANTS, cert_root, host_vars={"graced": graced})
    states["setup"] = {tenant: TenantView(emulator, tenant) for tenant in LIFECYCLE_TENANTS}
    reports = {"setup": {tenant: _report(cert_root, tenant) for tenant in LIFECYCLE_TENANTS}}

    shutil.rmtree(cert_root / "lostkey")
    change = {"rotate": RENEW_NOW, "graced": dict(graced, **RENEW_NOW), "workloads": COMPLIANCE, "teardown": TEARDOWN,
              "lostkey": {"m365_cba_replace_lost_certificate": True}}
    runs["change"] = runner.run("lifecycle-change", LIFECYCLE_TENANTS, cert_root, host_vars=change)
    states["change"] = {tenant: TenantView(emulator, tenant) for tenant in LIFECYCLE_TENANTS}
    reports["change"] = {tenant: _report(cert_root, tenant) for tenant in LIFECYCLE_TENANTS}

    steady = {"graced": graced, "workloads": COMPLIANCE, "teardown": TEARDOWN}
    runs["steady"] = runner.run("lifecycle-steady", LIFECYCLE_TENANTS, cert_root, host_vars=steady)
    states["steady"] = {tenant: TenantView(emulator, tenant) for tenant in LIFECYCLE_TENANTS}
    return {"cert_root": cert_root, "runs": runs, "states": states, "reports": reports}


def _report(cert_root, tenant, unique_name=EXCHANGE_APP):
    local = LocalCertificate(cert_root / tenant, unique_name)
    return local.report() if local.report_path.exists() else None


def _thumbprints(lifecycle, stage, tenant, unique_name=EXCHANGE_APP):
    view = lifecycle["states"][stage][tenant]
    return sorted(view.thumbprints(view.application(unique_name)))


def _assert_succeeded(run, tenant, changed):
    assert run.failures(tenant) == 0, run.describe()
    if changed:
        assert run.changed(tenant) > 0, f"{tenant}: nothing changed in run {run.name}\n{run.describe()}"
    else:
        assert run.changed(tenant) == 0, f"{tenant} changed in run {run.name}: {run.changed_tasks(tenant)}\n{run.describe()}"


def test_setup_run_succeeds(lifecycle):
    run = lifecycle["runs"]["setup"]
    assert run.rc == 0, run.describe()
    for tenant in LIFECYCLE_TENANTS:
        _assert_succeeded(run, tenant, changed=True)
        assert lifecycle["reports"]["setup"][tenant]["verified"] is True


def test_rotation_replaces_and_removes_the_old_certificate(lifecycle):
    runs, reports, local = lifecycle["runs"], lifecycle["reports"], LocalCertificate(lifecycle["cert_root"] / "rotate")
    old = reports["setup"]["rotate"]["thumbprint"]
    assert _thumbprints(lifecycle, "setup", "rotate") == [old]

    _assert_succeeded(runs["change"], "rotate", changed=True)
    new = local.thumbprint
    assert new != old, "renew_before_days beyond the validity made no new certificate"
    assert reports["change"]["rotate"]["thumbprint"] == new
    assert reports["change"]["rotate"]["verified"] is True
    assert connect_argument(reports["change"]["rotate"]["connect"]["thumbprint"], "CertificateThumbPrint") == new
    assert _thumbprints(lifecycle, "change", "rotate") == [new], "the old certificate was not removed (grace 0)"

    _assert_succeeded(runs["steady"], "rotate", changed=False)
    assert _thumbprints(lifecycle, "steady", "rotate") == [new]
    assert local.thumbprint == new


def test_rotation_with_grace_days_keeps_the_old_certificate(lifecycle):
    runs, reports, local = lifecycle["runs"], lifecycle["reports"], LocalCertificate(lifecycle["cert_root"] / "graced")
    old = reports["setup"]["graced"]["thumbprint"]

    _assert_succeeded(runs["change"], "graced", changed=True)
    new = local.thumbprint
    assert new != old
    assert reports["change"]["graced"]["thumbprint"] == new
    assert reports["change"]["graced"]["verified"] is True
    assert _thumbprints(lifecycle, "change", "graced") == sorted([old, new]), "both certificates must stay during the grace days"

    _assert_succeeded(runs["steady"], "graced", changed=False)
    assert _thumbprints(lifecycle, "steady", "graced") == sorted([old, new])


def test_lost_key_is_replaced_once_when_allowed_and_the_run_fails(lifecycle):
    runs, reports, local = lifecycle["runs"], lifecycle["reports"], LocalCertificate(lifecycle["cert_root"] / "lostkey")
    old = reports["setup"]["lostkey"]["thumbprint"]
    assert not any(LOST_KEY_WARNING in m for m in runs["setup"].messages("lostkey"))

    change = runs["change"]
    assert change.rc != 0, "a replaced certificate must not end the run green"
    assert change.changed("lostkey") > 0
    failed = change.host_tasks("lostkey", status="failed")
    assert [t["task"] for t in failed] == [REPLACED_FAIL_TASK], failed
    warnings = [m for m in change.messages("lostkey") if LOST_KEY_WARNING in m]
    assert warnings, f"no message about the lost key: {change.messages('lostkey')}"
    assert [line for line in change.summary if line.startswith(f"  REPLACED: the certificate {old} ")], change.summary
    new = local.thumbprint
    assert new != old
    assert reports["change"]["lostkey"]["thumbprint"] == new
    assert reports["change"]["lostkey"]["verified"] is True
    assert _thumbprints(lifecycle, "change", "lostkey") == [new], "the certificate whose key was lost is still there"

    steady = runs["steady"]
    _assert_succeeded(steady, "lostkey", changed=False)
    assert not any(LOST_KEY_WARNING in m for m in steady.messages("lostkey"))
    view = lifecycle["states"]["steady"]["lostkey"]
    (credential,) = view.application(EXCHANGE_APP)["keyCredentials"]
    (after_change,) = lifecycle["states"]["change"]["lostkey"].application(EXCHANGE_APP)["keyCredentials"]
    assert credential["keyId"] == after_change["keyId"], "a second replacement happened"
    assert credential["thumbprint_sha1"] == local.thumbprint


def test_each_workload_has_its_own_application_roles_and_certificate(lifecycle):
    runs, root = lifecycle["runs"], lifecycle["cert_root"]
    _assert_succeeded(runs["change"], "workloads", changed=True)
    view = lifecycle["states"]["change"]["workloads"]
    expected = {EXCHANGE_APP: ["Exchange Administrator"], COMPLIANCE_APP: ["Compliance Administrator"]}
    seen = set()
    for unique_name, roles in expected.items():
        app = view.application(unique_name)
        (sp,) = view.service_principals(app["appId"])
        assert view.directory_roles(sp["id"]) == roles, unique_name
        assert view.granted_permissions(sp["id"]) == [("Office 365 Exchange Online", PERMISSION)], unique_name
        local = LocalCertificate(root / "workloads", unique_name)
        assert view.thumbprints(app) == [local.thumbprint], unique_name
        seen.add(local.thumbprint)
    assert len(seen) == 2, "the workloads share a certificate"
    assert _thumbprints(lifecycle, "change", "workloads") == _thumbprints(lifecycle, "setup", "workloads"), \
        "setting up Security & Compliance touched the Exchange Online certificate"

    report = LocalCertificate(root / "workloads", COMPLIANCE_APP).report()
    assert report["verified"] is True and PERMISSION in report["token_roles"]
    for line in report["connect"].values():
        assert line.startswith("Connect-IPPSSession "), line
        assert connect_argument(line, "AppID") == view.application(COMPLIANCE_APP)["appId"]
    assert report["app_id"] != lifecycle["reports"]["setup"]["workloads"]["app_id"]

    _assert_succeeded(runs["steady"], "workloads", changed=False)


def test_teardown_removes_everything_and_is_idempotent(lifecycle):
    runs = lifecycle["runs"]
    before = lifecycle["states"]["setup"]["teardown"]
    app = before.application(EXCHANGE_APP)
    (sp,) = before.service_principals(app["appId"])
    assert before.references_to(sp["id"]), "nothing was assigned before the teardown"
    local = LocalCertificate(lifecycle["cert_root"] / "teardown")

    _assert_succeeded(runs["change"], "teardown", changed=True)
    for stage in ("change", "steady"):
        view = lifecycle["states"][stage]["teardown"]
        assert view.applications(EXCHANGE_APP) == [], stage
        assert view.service_principals(app["appId"]) == [], stage
        assert view.references_to(sp["id"]) == [], stage
    for path in (local.key, local.pfx, local.cer, local.report_path):
        assert not path.exists(), f"{path} was not removed"
    left = sorted(p.name for p in local.directory.iterdir()) if local.directory.exists() else []
    assert left == [], f"files left behind: {left}"
    assert f"teardown: {EXCHANGE_APP} removed" in runs["change"].summary, runs["change"].summary

    _assert_succeeded(runs["steady"], "teardown", changed=False)
    assert f"teardown: {EXCHANGE_APP} nothing to remove" in runs["steady"].summary, runs["steady"].summary


def test_steady_run_changes_nothing_anywhere(lifecycle):
    run = lifecycle["runs"]["steady"]
    assert run.rc == 0, run.describe()
    for tenant in LIFECYCLE_TENANTS:
        _assert_succeeded(run, tenant, changed=False)
    for stage, run in lifecycle["runs"].items():
        assert not [line for line in run.summary if "FAILED" in line], f"{stage}: {run.summary}"
