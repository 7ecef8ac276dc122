# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The role checks every input before its first task that reads or changes anything: a tenant with
a bad value fails on the input check, naming the variable, with no certificate file written and no
request to the sign-in service or to Graph. One run with one bad value per tenant, one with a short
PFX password, and one whose directory role is written in lower case (which the module accepts)."""

from __future__ import annotations

import pytest

from e2e_support import EXCHANGE_APP, TenantView

CHECK_TASK = "Check the role's inputs before anything is changed"

# tenant -> (host variables, words the failure must hold)
BAD_INPUTS = {
    "badname": ({"m365_cba_app_unique_name": "a'b"}, ["m365_cba_app_unique_name", "'a'b'"]),
    "baddisplay": ({"m365_cba_app_display_name": "x" * 121}, ["m365_cba_app_display_name", "120"]),
    "badcn": ({"m365_cba_certificate_common_name": "CN=a,b"}, ["m365_cba_certificate_common_name", "distinguished name"]),
    "baddays": ({"m365_cba_certificate_valid_days": 1},
                ["m365_cba_certificate_renew_before_days", "m365_cba_certificate_valid_days"]),
    "badroles": ({"m365_cba_directory_roles": ["Exchange Admin"]}, ["m365_cba_directory_roles", "Exchange Admin"]),
}
SHORT_PFX_PASSWORD = "F3"


@pytest.fixture(scope="module")
def inputs(runner, emulator, tmp_path_factory):
    cert_root = tmp_path_factory.mktemp("input-certificates")
    runs = {
        "bad": runner.run("bad-inputs", list(BAD_INPUTS), cert_root,
                          host_vars={tenant: host_vars for tenant, (host_vars, _words) in BAD_INPUTS.items()}),
        "short": runner.run("short-pfx-password", ["shortpfx"], cert_root,
                            extra_vars={"m365_cba_pfx_password": SHORT_PFX_PASSWORD}),
        "lower": runner.run("lower-case-role", ["lowerroles"], cert_root,
                            host_vars={"lowerroles": {"m365_cba_directory_roles": ["exchange administrator"]}}),
    }
    return {"runs": runs, "cert_root": cert_root}


def _assert_refused_before_anything(run, emulator, cert_root, tenant, words):
    assert run.rc != 0, run.describe()
    failed = run.host_tasks(tenant, status="failed")
    assert [t["task"].split(" : ")[-1] for t in failed] == [CHECK_TASK], run.describe()
    message = str(failed[0]["msg"])
    assert all(word in message for word in words), message
    # Nothing was written: no certificate directory, no request at all for the tenant.
    assert not (cert_root / tenant).exists(), sorted(p.name for p in (cert_root / tenant).iterdir())
    tenant_id = emulator.tenant(tenant)["tenant_id"]
    assert [r["route"] for r in run.requests if r.get("tenant") == tenant_id] == []
    assert TenantView(emulator, tenant).applications(EXCHANGE_APP) == []
    return message


@pytest.mark.parametrize("tenant", sorted(BAD_INPUTS))
def test_bad_input_is_refused_before_any_file_or_request(inputs, emulator, tenant):
    run = inputs["runs"]["bad"]
    message = _assert_refused_before_anything(run, emulator, inputs["cert_root"], tenant, BAD_INPUTS[tenant][1])
    # One problem per tenant: the message names only the variable at fault.
    assert message.count("m365_cba_") <= 2, message


def test_short_pfx_password_is_refused_and_not_shown(inputs, emulator):
    run = inputs["runs"]["short"]
    _assert_refused_before_anything(run, emulator, inputs["cert_root"], "shortpfx", ["m365_cba_pfx_password", "16 characters"])
    assert f'"{SHORT_PFX_PASSWORD}"' not in run.stdout and f"'{SHORT_PFX_PASSWORD}'" not in run.stdout


def test_directory_role_names_in_any_letter_case_are_accepted(inputs, emulator):
    run = inputs["runs"]["lower"]
    assert run.rc == 0, run.describe()
    assert run.failures("lowerroles") == 0
    view = TenantView(emulator, "lowerroles")
    sp, = view.service_principals(view.application(EXCHANGE_APP)["appId"])
    assert view.directory_roles(sp["id"]) == ["Exchange Administrator"]
