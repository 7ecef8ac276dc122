# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/report.yml: one certificate-expiry report (CSV and Markdown) across tenants, read-only.

The end-to-end test sets up two of three emulator tenants with the role (certificates of different
lifetimes), runs the report and checks its rows against the emulator's own state, and that the report
sent nothing but reads. The second test feeds the report's writing play made-up tenant data to cover
every status, the order and the CSV quoting without an emulator.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys

import pytest
import yaml
from m365emu import Emulator

from awx_helpers import REPO, UNIQUE_NAME, setup_objects, writes

PLAYBOOKS = os.path.join(REPO, "playbooks")
COLUMNS = ["tenant", "organization", "app", "app_id", "thumbprint", "expires", "days_left", "status"]


def run_playbook(env, *args, cwd=None):
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), *args]
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    return result.stdout


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


def test_report_across_tenants(emulator, ansible_env, tmp_path):
    # Inventory: the emulator's, with certificates of different lifetimes in tenant01 and tenant02;
    # tenant03 is never set up.
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
    inventory_path = tmp_path / "inventory.yml"
    inventory_path.write_text(yaml.safe_dump(inventory), encoding="utf-8")
    vars_path = subprocess.run(
        [sys.executable, os.path.join(REPO, "tests", "utils", "demo_vars.py"), str(tmp_path), str(tmp_path / "certificates")],
        capture_output=True, text=True, check=True).stdout.strip()

    run_playbook(ansible_env, "-i", str(setup_inventory_path), "-e", "@" + vars_path, "--limit", "tenant01,tenant02",
                 os.path.join(PLAYBOOKS, "setup.yml"))

    emulator.reset_requests()
    workdir = tmp_path / "work"
    workdir.mkdir()
    stdout = run_playbook(ansible_env, "-i", str(inventory_path), "-e", "@" + vars_path,
                          os.path.join(PLAYBOOKS, "report.yml"), cwd=str(workdir))

    # Read only: the emulator saw GETs and token requests, nothing else, and the play changed nothing.
    log = emulator.requests()
    assert log, "the report read nothing"
    assert writes(log) == []
    assert set(emulator.counters()["routes"]) and all(
        route.startswith("GET ") or route.endswith("/token") for route in emulator.counters()["routes"])
    for tenant in ("tenant01", "tenant02", "tenant03"):
        assert recap(stdout)[tenant]["changed"] == 0
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


def test_report_statuses_order_and_quoting(ansible_env, tmp_path):
    """The writing play alone (limit localhost), on made-up results of the reading play."""
    def credential(thumbprint, end, days, expired=False):
        return {"thumbprint": thumbprint, "end_date_time": end, "days_to_expiry": days, "expired": expired}

    def tenant(applications, renew_before=30):
        return {"m365_cba_report_tenant": {"organization": "org.onmicrosoft.com", "renew_before_days": renew_before,
                                           "applications": applications}}

    hosts = {
        "alpha": tenant({"app-a": [{"app_id": "id-a", "key_credentials": [
            credential("AA01", "2031-01-01T00:00:00Z", 1800), credential("AA02", "2020-01-01T00:00:00.0000000Z", -10, True)]}]}),
        "bravo": tenant({"app-b": [{"app_id": "id-b", "key_credentials": [credential("BB01", "2026-12-10T08:00:00Z", 13)]}],
                         "odd,\"name\"": []}),
        "charlie": tenant({"app-c": [{"app_id": "id-c", "key_credentials": []}]}),
        "delta": tenant({"app-d": [{"app_id": "id-d", "key_credentials": [credential("DD01", "2026-12-20T08:00:00Z", 23)]}]},
                        renew_before=10),
        "echo": {},
    }
    localhost = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = {"all": {"hosts": {"localhost": localhost}, "children": {"tenants": {"hosts": hosts}}}}
    inventory_path = tmp_path / "inventory.json"
    inventory_path.write_text(json.dumps(inventory), encoding="utf-8")
    report_dir = tmp_path / "out"
    run_playbook(ansible_env, "-i", str(inventory_path), "--limit", "localhost", "-e", f"m365_cba_report_dir={report_dir}",
                 os.path.join(PLAYBOOKS, "report.yml"))

    header, rows = read_csv(report_dir / "certificate-expiry.csv")
    assert header == COLUMNS
    assert [(r["tenant"], r["app"], r["thumbprint"], r["days_left"], r["status"]) for r in rows] == [
        ("bravo", 'odd,"name"', "", "", "missing"),
        ("charlie", "app-c", "", "", "missing"),
        ("echo", "", "", "", "error"),
        ("alpha", "app-a", "AA02", "-10", "expired"),
        ("bravo", "app-b", "BB01", "13", "renew soon"),
        ("delta", "app-d", "DD01", "23", "ok"),
        ("alpha", "app-a", "AA01", "1800", "ok"),
    ]
    assert rows[3]["expires"] == "2020-01-01T00:00:00Z"
    assert rows[0]["app_id"] == "" and rows[1]["app_id"] == "id-c"
    table = markdown_rows(report_dir / "certificate-expiry.md")
    assert [line[2] for line in table] == [r["app"] for r in rows]
