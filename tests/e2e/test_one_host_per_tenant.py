# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Two inventory hosts for one application in one tenant are refused before anything is written.

Two hosts that name one tenant differently (its ID in upper case, and its domain in mixed case), each with a
certificate directory of its own, would replace each other's certificate on every run. The setup role compares the
tenants of the run's hosts once, after each read its tenant's ID, and fails both: no certificate file is made for
either, Microsoft Graph sees no write in that tenant, and each failure names the other host. A third tenant of the
same run is set up as usual, and the same tenant with another workload (another application) is not a conflict.
"""

from __future__ import annotations

import pytest

from e2e_support import COMPLIANCE_APP, EXCHANGE_APP, PlaybookRunner, TenantView

from m365emu import Emulator

TENANTS = ("shared", "solo", "pair")
REFUSAL_TASK = "Stop when another host of the run sets up this application in this tenant"


class AliasRunner(PlaybookRunner):
    """A PlaybookRunner whose inventory holds, besides one host per tenant, hosts that name a tenant another way."""

    aliases = {}

    def inventory(self, tenants, host_vars=None):
        data = super().inventory(tenants, host_vars)
        hosts = data["all"]["children"]["tenants"]["hosts"]
        for alias, (tenant, values) in self.aliases.items():
            hosts[alias] = dict(super().inventory([tenant])["all"]["children"]["tenants"]["hosts"][tenant], **values)
        return data


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with Emulator(str(tmp_path_factory.mktemp("emulator")), seed=[{"name": name} for name in TENANTS]) as emu:
        yield emu


@pytest.fixture(scope="module")
def runner(emulator, collection, ansible_playbook, tmp_path_factory, pfx_password):
    return AliasRunner(emulator, collection, ansible_playbook, tmp_path_factory.mktemp("runs"), pfx_password)


def writes(run, tenant_id):
    return [(r["method"], r["path"]) for r in run.graph_requests(tenant_id) if r["method"] in ("POST", "PATCH", "PUT", "DELETE")]


def test_two_hosts_for_one_tenant_are_refused_before_anything_is_written(runner, emulator, tmp_path):
    shared = emulator.tenant("shared")
    runner.aliases = {
        # The same tenant as "shared": its ID in another letter case, then one of its domains in another.
        "shared-id": ("shared", {"m365_cba_tenant_id": shared["tenant_id"].upper()}),
        "shared-domain": ("shared", {"m365_cba_tenant_id": shared["initial_domain"].upper()}),
    }
    run = runner.run("same-tenant", ["solo"], tmp_path)
    assert run.rc == 2, run.describe()

    for host, others in (("shared-id", "shared-domain"), ("shared-domain", "shared-id")):
        (failed,) = run.host_tasks(host, status="failed")
        assert failed["task"].endswith(REFUSAL_TASK), run.describe()
        assert failed["msg"].startswith(f"{host} (m365_cba_tenant_id '"), failed["msg"]
        assert f" and {others} ('" in failed["msg"] and f" are the same tenant ({shared['tenant_id']}) " in failed["msg"], failed["msg"]
        assert f"set up the same application {EXCHANGE_APP}" in failed["msg"] and "Nothing was changed" in failed["msg"]
        # Refused before the certificate step: no file, no directory.
        assert not (tmp_path / host).exists()
        assert run.host_tasks(host)[-1]["task"].endswith(REFUSAL_TASK)
    assert writes(run, shared["tenant_id"]) == []
    assert TenantView(emulator, "shared").applications(EXCHANGE_APP) == []

    # The other tenant of the run is set up as usual.
    assert run.failures("solo") == 0, run.describe()
    assert TenantView(emulator, "solo").application(EXCHANGE_APP)["keyCredentials"]
    assert [t for t in run.host_tasks("solo") if t["task"].endswith(REFUSAL_TASK) and t["status"] == "skipped"]


def test_the_same_tenant_for_another_application_is_no_conflict(runner, emulator, tmp_path):
    pair = emulator.tenant("pair")
    runner.aliases = {
        "pair-exchange": ("pair", {}),
        "pair-compliance": ("pair", {"m365_cba_tenant_id": pair["tenant_id"].upper(),
                                     "m365_cba_workload": "security_compliance"}),
    }
    run = runner.run("same-tenant-two-workloads", [], tmp_path)
    assert run.rc == 0, run.describe()
    view = TenantView(emulator, "pair")
    assert view.application(EXCHANGE_APP)["keyCredentials"] and view.application(COMPLIANCE_APP)["keyCredentials"]
