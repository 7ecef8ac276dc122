# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/report.yml: one certificate-expiry report (CSV and Markdown) across the tenants of the run, read-only,
and a run that fails when a certificate is expired or expires soon.

The end-to-end tests set up two of three emulator tenants with the role (certificates of different
lifetimes), run the report and check its rows against the emulator's own state, that the report sent
nothing but reads, that the run fails naming the tenant whose certificate expires within
m365_cba_report_fail_within_days and succeeds when none does, that --limit reports and judges only the
limited tenants in a file of their own, and that AWX job slices (hosts split as AWX splits them) write
separate parts. The last test feeds the report made-up tenant data (the reading tasks skipped by their tag)
to cover every status, the order, the CSV quoting and the failure messages without an emulator.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import subprocess
import sys

import pytest
import requests
import yaml
from m365emu import Emulator

from awx_helpers import REPO, UNIQUE_NAME, setup_objects, writes

PLAYBOOKS = os.path.join(REPO, "playbooks")
COLUMNS = ["tenant", "organization", "app", "app_id", "thumbprint", "expires", "days_left", "status"]


def run_playbook(env, *args, cwd=None, rc=0):
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), *args]
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == rc, result.stdout[-6000:] + result.stderr[-3000:]
    return result.stdout


def failures(stdout):
    """{host: msg} of the failed tasks, as the default callback prints them."""
    return {host: json.loads(body)["msg"] for host, body in re.findall(r"^fatal: \[(\S+)\]: FAILED! => (\{.*\})$", stdout, re.M)}


def recap(stdout):
    """{host: {ok: n, changed: n, ...}} from the PLAY RECAP."""
    hosts = {}
    for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", stdout, re.M):
        hosts[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
    return hosts


def read_csv(path):
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        return header, [dict(zip(header, row)) for row in reader]


def markdown_rows(path):
    with open(path, encoding="utf-8") as handle:
        lines = [line for line in handle.read().splitlines() if line.startswith("| ") and not line.startswith("| ---")]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines[1:]]


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with Emulator(str(tmp_path_factory.mktemp("emulator")), tenants=3) as emu:
        yield emu


@pytest.fixture(scope="module")
def report_setup(emulator, tmp_path_factory, ansible_env):
    """tenant01 with a 400-day certificate, tenant02 with a 20-day one, tenant03 never set up."""
    tmp_path = tmp_path_factory.mktemp("report")
    with open(os.path.join(emulator.state_dir, "inventory.yml"), encoding="utf-8") as handle:
        inventory = yaml.safe_load(handle)
    hosts = inventory["all"]["children"]["tenants"]["hosts"]
    hosts["tenant01"]["m365_cba_certificate_valid_days"] = 400
    # A 20-day certificate (set up with a 10-day renewal window: a window not smaller than the
    # validity is refused), which the report, with the default window of 30 days, shows as due.
    hosts["tenant02"].update(m365_cba_certificate_valid_days=20, m365_cba_certificate_renew_before_days=10)
    setup_inventory_path = tmp_path / "inventory-setup.yml"
    setup_inventory_path.write_text(yaml.safe_dump(inventory), encoding="utf-8")
    del hosts["tenant02"]["m365_cba_certificate_renew_before_days"]
    # tenant03 is being onboarded: the report shows it as missing and expects no application there yet.
    hosts["tenant03"]["m365_cba_report_expect_setup"] = False
    inventory_path = tmp_path / "inventory.yml"
    inventory_path.write_text(yaml.safe_dump(inventory), encoding="utf-8")
    vars_path = subprocess.run(
        [sys.executable, os.path.join(REPO, "tests", "utils", "demo_vars.py"), str(tmp_path), str(tmp_path / "certificates")],
        capture_output=True, text=True, check=True).stdout.strip()
    run_playbook(ansible_env, "-i", str(setup_inventory_path), "-e", "@" + vars_path, "--limit", "tenant01,tenant02",
                 os.path.join(PLAYBOOKS, "setup.yml"))
    return {"inventory": inventory_path, "setup_inventory": setup_inventory_path, "vars": vars_path, "hosts": sorted(hosts)}


def report_args(report_setup, *args):
    return ["-i", str(report_setup["inventory"]), "-e", "@" + report_setup["vars"], *args, os.path.join(PLAYBOOKS, "report.yml")]


def test_report_across_tenants(emulator, ansible_env, tmp_path, report_setup):
    emulator.reset_requests()
    workdir = tmp_path / "work"
    workdir.mkdir()
    # tenant02's certificate expires within the default 30 days: the run fails, naming it, after writing the report.
    stdout = run_playbook(ansible_env, *report_args(report_setup), cwd=str(workdir), rc=2)

    # Read only: the emulator saw GETs and token requests, nothing else, and the play changed nothing in a tenant.
    log = emulator.requests()
    assert log, "the report read nothing"
    assert writes(log) == []
    assert set(emulator.counters()["routes"]) and all(
        route.startswith("GET ") or route.endswith("/token") for route in emulator.counters()["routes"])
    assert recap(stdout)["tenant02"]["failed"] == 1
    for tenant in ("tenant01", "tenant02", "tenant03"):
        assert recap(stdout)[tenant]["changed"] == 0
    for tenant in ("tenant01", "tenant03"):
        assert recap(stdout)[tenant]["failed"] == 0

    # The default directory is ./m365-cba-report (relative to where the playbook runs).
    header, rows = read_csv(workdir / "m365-cba-report" / "certificate-expiry.csv")
    assert header == COLUMNS
    assert [(r["tenant"], r["status"]) for r in rows] == [
        ("tenant03", "missing"), ("tenant02", "renew soon"), ("tenant01", "ok")]

    for row in rows:
        state = emulator.state(tenant=row["tenant"])["tenants"][0]
        assert row["organization"] == state["initial_domain"]
        assert row["app"] == UNIQUE_NAME
        app, dummy, dummy, dummy = setup_objects(state)
        if row["status"] == "missing":
            assert app is None and row["app_id"] == row["thumbprint"] == row["expires"] == row["days_left"] == ""
            continue
        (credential,) = app["keyCredentials"]
        assert row["app_id"] == app["appId"]
        assert row["thumbprint"] == credential["thumbprint_sha1"]
        assert row["expires"] == credential["endDateTime"][:19] + "Z"
    assert int(rows[1]["days_left"]) in (18, 19) and int(rows[2]["days_left"]) in (398, 399)

    table = markdown_rows(workdir / "m365-cba-report" / "certificate-expiry.md")
    assert table == [[r[c] for c in COLUMNS] for r in rows]

    # The failure names the tenant, the certificate and its expiry; nothing else fails.
    found = failures(stdout)
    assert list(found) == ["tenant02"]
    assert found["tenant02"] == (f"tenant02: the certificate {rows[1]['thumbprint']} of {UNIQUE_NAME} expires on "
                                 f"{rows[1]['expires']}, in {rows[1]['days_left']} days (m365_cba_report_fail_within_days: 30)")
    assert "Failing (expired, expiring within 30 days, missing, or unreadable): tenant02" in stdout


def test_healthy_tenants_pass(ansible_env, tmp_path, report_setup):
    """With a window below tenant02's 18 or 19 days left, nothing is due: the run succeeds and still reports."""
    stdout = run_playbook(ansible_env, *report_args(report_setup, "-e", "m365_cba_report_fail_within_days=10",
                                                    "-e", f"m365_cba_report_dir={tmp_path}"))
    assert failures(stdout) == {}
    assert all(counts["failed"] == 0 for counts in recap(stdout).values())
    dummy, rows = read_csv(tmp_path / "certificate-expiry.csv")
    assert [r["tenant"] for r in rows] == ["tenant03", "tenant02", "tenant01"]
    assert "Nothing expires within 10 days." in stdout


def part_name(tenants):
    return "part-" + hashlib.sha1(",".join(sorted(tenants)).encode()).hexdigest()[:12]


def test_limit_reports_and_judges_only_the_limited_tenants(ansible_env, tmp_path, report_setup):
    whole = tmp_path / "certificate-expiry.csv"
    whole.write_text("the report of every tenant, from an earlier run\n", encoding="utf-8")

    # Without tenant02 (whose certificate is due): a green run, a part file with only the two tenants.
    stdout = run_playbook(ansible_env, *report_args(report_setup, "--limit", "tenant01,tenant03",
                                                    "-e", f"m365_cba_report_dir={tmp_path}"))
    assert sorted(recap(stdout)) == ["tenant01", "tenant03"]
    part = tmp_path / f"certificate-expiry.{part_name(['tenant01', 'tenant03'])}.csv"
    dummy, rows = read_csv(part)
    assert [(r["tenant"], r["status"]) for r in rows] == [("tenant03", "missing"), ("tenant01", "ok")]
    md = (tmp_path / f"certificate-expiry.{part_name(['tenant01', 'tenant03'])}.md").read_text(encoding="utf-8")
    assert "covers 2 of the 3 tenants" in md
    assert whole.read_text(encoding="utf-8") == "the report of every tenant, from an earlier run\n"

    # Only tenant02: red, and its own part.
    stdout = run_playbook(ansible_env, *report_args(report_setup, "--limit", "tenant02",
                                                    "-e", f"m365_cba_report_dir={tmp_path}"), rc=2)
    assert list(failures(stdout)) == ["tenant02"]
    dummy, rows = read_csv(tmp_path / f"certificate-expiry.{part_name(['tenant02'])}.csv")
    assert [(r["tenant"], r["status"]) for r in rows] == [("tenant02", "renew soon")]
    assert sorted(path.name for path in tmp_path.glob("*.csv")) == sorted([
        "certificate-expiry.csv", f"certificate-expiry.{part_name(['tenant01', 'tenant03'])}.csv",
        f"certificate-expiry.{part_name(['tenant02'])}.csv"])


def test_awx_job_slices_write_separate_parts(ansible_env, tmp_path, report_setup):
    """As AWX slices a job: hosts ordered by name, slice n gets hosts[n-1::count], in an inventory of its own
    (awx/main/models/inventory.py get_sliced_hosts), and each slice runs as a job of one workflow job."""
    with open(report_setup["inventory"], encoding="utf-8") as handle:
        inventory = yaml.safe_load(handle)
    hosts = inventory["all"]["children"]["tenants"]["hosts"]
    names = sorted(hosts)
    parts = {}
    for number in (1, 2):
        sliced = names[number - 1::2]
        slice_inventory = {"all": {"children": {"tenants": {"vars": inventory["all"]["children"]["tenants"]["vars"],
                                                            "hosts": {name: hosts[name] for name in sliced}}}}}
        path = tmp_path / f"slice{number}.yml"
        path.write_text(yaml.safe_dump(slice_inventory), encoding="utf-8")
        run_playbook(ansible_env, "-i", str(path), "-e", "@" + report_setup["vars"], "-e", f"m365_cba_report_dir={tmp_path}",
                     "-e", "awx_workflow_job_id=41", "-e", f"awx_job_id={41 + number}",
                     os.path.join(PLAYBOOKS, "report.yml"), rc=2 if "tenant02" in sliced else 0)
        parts[number] = sliced
    files = sorted(path.name for path in tmp_path.glob("certificate-expiry*.csv"))
    assert files == sorted(f"certificate-expiry.{part_name(sliced)}.csv" for sliced in parts.values())
    seen = []
    for sliced in parts.values():
        dummy, rows = read_csv(tmp_path / f"certificate-expiry.{part_name(sliced)}.csv")
        assert sorted({r["tenant"] for r in rows}) == sorted(sliced)
        seen += [r["tenant"] for r in rows]
    assert sorted(seen) == names


def credential(thumbprint, end, days, expired=False):
    """A certificate as m365.cba.application_info returns it."""
    return {"thumbprint": thumbprint, "end_date_time": end, "days_to_expiry": days, "expired": expired}


def made_up_tenant(applications, renew_before=30):
    """What the report's reading tasks keep of a tenant (m365_cba_report_tenant)."""
    return {"m365_cba_report_tenant": {"organization": "org.onmicrosoft.com", "renew_before_days": renew_before,
                                       "applications": applications}}


def run_made_up_report(ansible_env, tmp_path, hosts, rc, *args, env=None):
    """The report's writing and judging tasks on made-up tenants: its reading tasks are skipped by their tag."""
    for values in hosts.values():
        values.update(ansible_connection="local", ansible_python_interpreter=sys.executable)
    inventory_path = tmp_path / "inventory.json"
    inventory_path.write_text(json.dumps({"all": {"children": {"tenants": {"hosts": hosts}}}}), encoding="utf-8")
    return run_playbook(dict(ansible_env, **(env or {})), "-i", str(inventory_path), "--skip-tags", "m365_cba_report_read",
                        "-e", f"m365_cba_report_dir={tmp_path / 'out'}", *args, os.path.join(PLAYBOOKS, "report.yml"), rc=rc)


def test_report_statuses_order_and_quoting(ansible_env, tmp_path):
    """The report's writing and judging tasks on made-up results of its reading tasks."""
    tenant = made_up_tenant
    hosts = {
        "alpha": tenant({"app-a": [{"app_id": "id-a", "key_credentials": [
            credential("AA01", "2031-01-01T00:00:00Z", 1800), credential("AA02", "2020-01-01T00:00:00.0000000Z", -10, True)]}]}),
        "bravo": tenant({"app-b": [{"app_id": "id-b", "key_credentials": [credential("BB01", "2026-12-10T08:00:00Z", 13)]}],
                         "odd,\"name\"": []}),
        "charlie": tenant({"app-c": [{"app_id": "id-c", "key_credentials": []}]}),
        "delta": tenant({"app-d": [{"app_id": "id-d", "key_credentials": [credential("DD01", "2026-12-20T08:00:00Z", 23)]}]},
                        renew_before=10),
        "echo": {},
        # Not set up yet, and torn down: their missing rows fail nothing.
        "foxtrot": dict(tenant({"app-f": []}), m365_cba_report_expect_setup=False),
        "golf": dict(tenant({"app-g": [{"app_id": "id-g", "key_credentials": []}]}), m365_cba_setup_state="absent"),
    }
    report_dir = tmp_path / "out"
    stdout = run_made_up_report(ansible_env, tmp_path, hosts, 2)

    header, rows = read_csv(report_dir / "certificate-expiry.csv")
    assert header == COLUMNS
    assert [(r["tenant"], r["app"], r["thumbprint"], r["days_left"], r["status"]) for r in rows] == [
        ("bravo", 'odd,"name"', "", "", "missing"),
        ("charlie", "app-c", "", "", "missing"),
        ("echo", "", "", "", "error"),
        ("foxtrot", "app-f", "", "", "missing"),
        ("golf", "app-g", "", "", "missing"),
        ("alpha", "app-a", "AA02", "-10", "expired"),
        ("bravo", "app-b", "BB01", "13", "renew soon"),
        ("delta", "app-d", "DD01", "23", "ok"),
        ("alpha", "app-a", "AA01", "1800", "ok"),
    ]
    assert rows[5]["expires"] == "2020-01-01T00:00:00Z"
    assert rows[0]["app_id"] == "" and rows[1]["app_id"] == "id-c"
    table = markdown_rows(report_dir / "certificate-expiry.md")
    assert [line[2] for line in table] == [r["app"] for r in rows]

    # Expired, expiring within 30 days (whatever the tenant's renewal window), unreadable, and missing where the tenant
    # is expected to be set up: each fails its tenant.
    advice = ": run m365.cba.setup, or set m365_cba_report_expect_setup: false for a tenant not set up yet"
    assert failures(stdout) == {
        "alpha": "alpha: the certificate AA02 of app-a expired on 2020-01-01T00:00:00Z",
        "bravo": "bravo: the certificate BB01 of app-b expires on 2026-12-10T08:00:00Z, in 13 days "
                 "(m365_cba_report_fail_within_days: 30); the application odd,\"name\" does not exist (deleted, or never "
                 "set up)" + advice,
        "charlie": "charlie: the application app-c (id-c) holds no certificate (removed out of band?)" + advice,
        "delta": "delta: the certificate DD01 of app-d expires on 2026-12-20T08:00:00Z, in 23 days "
                 "(m365_cba_report_fail_within_days: 30)",
        "echo": "echo: could not be read (no data was read)",
    }
    assert recap(stdout)["foxtrot"]["failed"] == recap(stdout)["golf"]["failed"] == 0


def test_one_tenant_one_row_and_no_verified_count(ansible_env, tmp_path):
    """The summary counts in the singular for one row and one tenant; with the m365.cba.tenants callback the totals
    count no verified tenants, since the report proves nothing (only the setup role does)."""
    hosts = {"alpha": made_up_tenant({"app-a": [{"app_id": "id-a", "key_credentials": [
        credential("AA01", "2031-01-01T00:00:00Z", 1800)]}]})}
    stdout = run_made_up_report(ansible_env, tmp_path, hosts, 0, env={
        "ANSIBLE_STDOUT_CALLBACK": "m365.cba.tenants", "M365_CBA_SHOW_TASKS": "false"})
    assert f"1 row in {tmp_path / 'out'}/certificate-expiry.{{csv,md}} (1 tenant): ok 1," in stdout, stdout
    assert "tenants 1 | changed 0 | unchanged 1 | failed 0 | skipped 0" in stdout, stdout
    assert "verified" not in stdout, stdout


def graph_session(emulator, tenant):
    """A requests session signed in to the tenant as its bootstrap application (an administrator's own tool)."""
    info = emulator.tenant(tenant)
    bootstrap = info["bootstrap"]
    session = requests.Session()
    token = session.post(f"{emulator.base_url}/{info['tenant_id']}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": bootstrap["client_id"], "client_secret": bootstrap["client_secret"],
        "scope": "https://graph.microsoft.com/.default"}, verify=emulator.ca_bundle, timeout=30)
    token.raise_for_status()
    session.headers["Authorization"] = "Bearer " + token.json()["access_token"]
    return session


def test_a_setup_broken_out_of_band_turns_the_report_red(emulator, ansible_env, tmp_path, report_setup):
    """A tenant expected to be set up whose application loses its certificate, then is deleted, out of band: the
    report fails naming it each time; m365_cba_report_expect_setup: false keeps it green (a tenant being onboarded)."""
    inventory = str(report_setup["setup_inventory"])
    run_playbook(ansible_env, "-i", inventory, "-e", "@" + report_setup["vars"], "--limit", "tenant03",
                 os.path.join(PLAYBOOKS, "setup.yml"))
    app, dummy, dummy, dummy = setup_objects(emulator.state(tenant="tenant03")["tenants"][0])
    assert app["keyCredentials"]
    report = ["-i", inventory, "-e", "@" + report_setup["vars"], "-e", f"m365_cba_report_dir={tmp_path}", "--limit", "tenant03",
              os.path.join(PLAYBOOKS, "report.yml")]
    assert failures(run_playbook(ansible_env, *report)) == {}

    graph = graph_session(emulator, "tenant03")
    graph.patch(f"{emulator.base_url}/v1.0/applications/{app['id']}", json={"keyCredentials": []}, verify=emulator.ca_bundle,
                timeout=30).raise_for_status()
    stdout = run_playbook(ansible_env, *report, rc=2)
    assert failures(stdout) == {"tenant03": f"tenant03: the application {UNIQUE_NAME} ({app['appId']}) holds no certificate "
                                            "(removed out of band?): run m365.cba.setup, or set m365_cba_report_expect_setup: "
                                            "false for a tenant not set up yet"}
    assert "Failing (expired, expiring within 30 days, missing, or unreadable): tenant03" in stdout

    graph.delete(f"{emulator.base_url}/v1.0/applications/{app['id']}", verify=emulator.ca_bundle, timeout=30).raise_for_status()
    stdout = run_playbook(ansible_env, *report, rc=2)
    assert failures(stdout) == {"tenant03": f"tenant03: the application {UNIQUE_NAME} does not exist (deleted, or never set "
                                            "up): run m365.cba.setup, or set m365_cba_report_expect_setup: false for a "
                                            "tenant not set up yet"}
    dummy, rows = read_csv(tmp_path / f"certificate-expiry.{part_name(['tenant03'])}.csv")
    assert [(r["tenant"], r["status"]) for r in rows] == [("tenant03", "missing")]

    # The same tenant while it is onboarded (or torn down on purpose): reported as missing, and green.
    for setting in ("m365_cba_report_expect_setup=false", "m365_cba_setup_state=absent"):
        assert failures(run_playbook(ansible_env, *report[:-1], "-e", setting, report[-1])) == {}
