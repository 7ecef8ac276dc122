# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The setup and report job templates sliced as AWX slices them (awx_slicing.py): 30 emulator tenants from a CSV
tenant list imported through the m365.cba.tenants inventory plugin, three slice jobs at once through
ansible-runner, each with the inventory script AWX writes for its slice, AWX's extra variables and JOB_ID, and the
m365.cba.tenants stdout callback wrapped by ansible-runner's event callback (as AWX runs it) writing a JSON summary
per job.

So that the emulator's request log tells which job sent each request, every job signs in to every tenant with an
application of its own (made in each tenant before the jobs, a stand-in for the one identity all slices of a real
job template share): a tenant touched by two jobs would show two client IDs.

One tenant's list row asks for a 20-day certificate (the setup survey answered with 10 days before renewal): the
report's slice that holds it fails, naming it, while the other slices stay green (each slice job notifies on its own).

Checked: every tenant set up exactly once (one application with one certificate, made by one POST from the job of its
slice and by no other job), each job's callback summary and setup summary name exactly the tenants of its slice,
and the report jobs' parts (one per slice, named after its tenants) cover all 30 tenants once each, with each tenant's
certificate as the emulator holds it; the report slice with the short-lived certificate fails, and only it.
"""

from __future__ import annotations

import base64
import csv
import datetime
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import uuid

import ansible_runner
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from m365emu import Emulator

from awx_helpers import REPO, UNIQUE_NAME, is_token_request, load_yaml
from awx_slicing import ImportedInventory, slice_job_environment, slice_job_variables

TENANT_COUNT = 30
# Forks per slice job: three jobs share the machine's two cores.
FORKS = 4
GRAPH = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
SLICE_LINE = re.compile(r"^\[(\d+)/(\d+)\] (\S+): (.*)$", re.M)
# A customer whose certificates live 20 days (a column of its row in the tenant list).
SHORT_LIVED = "tenant05"
# The survey answers of the launches (AWX passes them as extra variables).
SETUP_SURVEY = {"m365_cba_workload": "exchange_online", "m365_cba_certificate_renew_before_days": 10}
REPORT_SURVEY = {"m365_cba_certificate_renew_before_days": 30}
VOLUME = "/var/lib/m365-cba"
# The workflow jobs of the two launches; their slice jobs are numbered from the next ID on.
SETUP_WORKFLOW_JOB_ID = 100
REPORT_WORKFLOW_JOB_ID = 200


def template(playbook):
    (found,) = [t for t in load_yaml("extensions", "awx", "job_templates.yml") if t["playbook"] == playbook]
    return found


SETUP_TEMPLATE = template("playbooks/setup.yml")
REPORT_TEMPLATE = template("playbooks/report.yml")
SLICES = SETUP_TEMPLATE["job_slice_count"]


# ---------------------------------------------------------------------------------------------- the jobs' identities
def engine_certificate(folder, number):
    """A key and self-signed certificate for the application of slice job `number`, as one PEM file."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"m365.cba slice job {number}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    path = os.path.join(folder, f"engine{number}.pem")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(certificate.public_bytes(serialization.Encoding.PEM))
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path, base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode("ascii")


def register_engines(emulator, folder, jobs):
    """In every tenant, one application per job with that job's certificate and the Microsoft Graph permissions
    of the tenant's bootstrap application, made through Graph by the bootstrap application (as an admin would).
    Returns ({job: certificate PEM path}, {tenant: {job: client ID}})."""
    certificates = {job: engine_certificate(folder, job) for job in jobs}
    client_ids = {}
    session = requests.Session()
    for info in emulator.tenants:
        bootstrap = info["bootstrap"]
        token = session.post(f"{emulator.base_url}/{info['tenant_id']}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": bootstrap["client_id"],
            "client_secret": bootstrap["client_secret"], "scope": f"{GRAPH}/.default"}, verify=emulator.ca_bundle, timeout=30)
        token.raise_for_status()
        session.headers["Authorization"] = "Bearer " + token.json()["access_token"]

        def graph(method, path, body=None):
            response = session.request(method, f"{emulator.base_url}/v1.0{path}", json=body, verify=emulator.ca_bundle, timeout=30)
            assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
            return response.json() if response.content else None

        graph_sp = graph("GET", f"/servicePrincipals(appId='{GRAPH_APP_ID}')")
        bootstrap_sp = graph("GET", f"/servicePrincipals(appId='{bootstrap['client_id']}')")
        permissions = [a["appRoleId"] for a in graph("GET", f"/servicePrincipals/{bootstrap_sp['id']}/appRoleAssignments")["value"]
                       if a["resourceId"] == graph_sp["id"]]
        assert permissions
        client_ids[info["name"]] = {}
        for job, (dummy, certificate) in certificates.items():
            app = graph("POST", "/applications", {
                "displayName": f"m365.cba slice job {job}", "signInAudience": "AzureADMyOrg",
                "keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": certificate,
                                    "displayName": f"CN=m365.cba slice job {job}"}]})
            sp = graph("POST", "/servicePrincipals", {"appId": app["appId"]})
            for role in permissions:
                graph("POST", f"/servicePrincipals/{sp['id']}/appRoleAssignments",
                      {"principalId": sp["id"], "resourceId": graph_sp["id"], "appRoleId": role})
            client_ids[info["name"]][job] = app["appId"]
    return {job: path for job, (path, dummy) in certificates.items()}, client_ids


# ------------------------------------------------------------------------------------------------- the AWX inventory
def write_tenant_list(folder, emulator, client_ids, jobs):
    """The project's tenant list (CSV) and its m365.cba.tenants source; each job picks its own client ID column."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "customers.csv"), "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "tenant", "cloud", "workloads", "m365_cba_certificate_valid_days"]
                        + [f"slice_test_job{job}_client_id" for job in jobs])
        for info in emulator.tenants:
            writer.writerow([info["name"], info["tenant_id"], "global", "exchange_online",
                             "20" if info["name"] == SHORT_LIVED else ""]
                            + [client_ids[info["name"]][job] for job in jobs])
    source = os.path.join(folder, "customers.tenants.yml")
    with open(source, "w", encoding="utf-8") as handle:
        handle.write("\n".join([
            "plugin: m365.cba.tenants",
            "source: customers.csv",
            "vars:",
            f"  m365_cba_authority_host: {json.dumps(emulator.base_url)}",
            f"  m365_cba_graph_endpoint: {json.dumps(emulator.base_url)}",
            f"  m365_cba_ca_bundle: {json.dumps(emulator.ca_bundle)}",
            "  m365_cba_client_id: \"{{ lookup('ansible.builtin.vars', 'slice_test_job' ~ slice_test_job ~ '_client_id') }}\"",
            "",
        ]))
    return source


def inventory_update(source, env, cwd):
    """What an AWX inventory update imports: ansible-inventory --list --export of the source."""
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-inventory"), "-i", source, "--list", "--export"]
    env = dict(env, ANSIBLE_INVENTORY_UNPARSED_FAILED="True", ANSIBLE_INVENTORY_EXPORT="True")
    completed = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr[-4000:]
    return json.loads(completed.stdout)


# ------------------------------------------------------------------------------------------------------ the slices
def launch_sliced(job_template, survey, inventory, workdir, collections_path, shared, first_job_id, certificates, forks):
    """Launch a sliced job template as AWX does: a workflow job and one slice job per slice, all at once.
    Returns {slice number: (job ID, ansible-runner Runner, hosts of the slice)} after every job ended."""
    count = inventory.effective_slice_count(job_template["job_slice_count"])
    workflow_job_id = first_job_id
    bin_dir = os.path.dirname(sys.executable)
    started = {}
    for number in range(1, count + 1):
        job_id = first_job_id + number
        private_data_dir = os.path.join(workdir, f"job{job_id}")
        os.makedirs(private_data_dir, mode=0o700)
        inventory_path = inventory.write_inventory_script(private_data_dir, number, count)
        # The template's paths on the volume every execution node mounts at /var/lib/m365-cba.
        extravars = {name: value.replace(VOLUME, shared["root"]) if isinstance(value, str) else value
                     for name, value in (job_template.get("extra_vars") or {}).items()}
        extravars.update(survey)
        extravars.update(slice_job_variables(job_id, workflow_job_id, job_template["name"], inventory))
        extravars.update({
            # What the credentials inject (extensions/awx/credential_types.yml): the PFX password; this test's
            # stand-in for the job's identity (its application in every tenant, its certificate).
            "m365_cba_pfx_password": shared["pfx_password"],
            "m365_cba_client_certificate_path": certificates[number],
            "slice_test_job": number,
            "m365_cba_token_cache_dir": os.path.join(private_data_dir, "token-cache"),
        })
        envvars = dict(slice_job_environment(job_id, inventory))
        envvars.update({
            "ANSIBLE_COLLECTIONS_PATH": collections_path, "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCAL_TEMP": os.path.join(private_data_dir, "tmp"),
            "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
            # The tenants callback, as docs/awx.md sets it (Extra Environment Variables): ansible-runner's event
            # callback wraps it, and $JOB_ID gives every slice a summary of its own.
            "ANSIBLE_STDOUT_CALLBACK": "m365.cba.tenants",
            "M365_CBA_SUMMARY_PATH": os.path.join(shared["root"], "summaries", "job-$JOB_ID.json"),
            "M365_CBA_SHOW_TASKS": "false",
            "M365_CBA_SHOW_DEBUG": "false",
        })
        thread, runner = ansible_runner.run_async(
            private_data_dir=private_data_dir, playbook=os.path.join(REPO, job_template["playbook"]),
            inventory=inventory_path, extravars=extravars, envvars=envvars, forks=forks, quiet=True,
            ident=f"job{job_id}")
        started[number] = (job_id, thread, runner, inventory.sliced_hosts(number, count))
    jobs = {}
    for number, (job_id, thread, runner, hosts) in started.items():
        thread.join(timeout=900)
        assert not thread.is_alive(), f"slice job {job_id} did not end"
        jobs[number] = (job_id, runner, hosts)
    return jobs


def stdout_of(runner):
    with open(runner.stdout.name, encoding="utf-8") as handle:
        return handle.read()


def debug_messages(runner, task_name):
    """The msg of every result of the debug task `task_name`, from the job's events (what AWX stores)."""
    found = []
    for event in runner.events:
        data = event.get("event_data") or {}
        if event.get("event") == "runner_on_ok" and data.get("task") == task_name:
            found.append(data["res"]["msg"])
    return found


# -------------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with Emulator(str(tmp_path_factory.mktemp("emulator")), tenants=TENANT_COUNT) as emu:
        yield emu


@pytest.fixture(scope="module")
def awx(emulator, tmp_path_factory, collections_path, ansible_env):
    """The AWX side: the jobs' identities, the project's tenant list imported as the inventory, shared volumes."""
    root = tmp_path_factory.mktemp("awx")
    jobs = list(range(1, SLICES + 1))
    started = time.monotonic()
    certificates, client_ids = register_engines(emulator, str(root), jobs)
    source = write_tenant_list(os.path.join(root, "project", "inventory"), emulator, client_ids, jobs)
    inventory = ImportedInventory(inventory_update(source, ansible_env, str(root)))
    os.makedirs(root / "shared" / "summaries")
    emulator.reset_requests()
    return {
        "root": str(root), "certificates": certificates, "client_ids": client_ids, "inventory": inventory,
        "shared": {"root": str(root / "shared"), "pfx_password": uuid.uuid4().hex},
        "prepared_in": time.monotonic() - started,
    }


@pytest.fixture(scope="module")
def setup_run(awx, emulator, collections_path):
    started = time.monotonic()
    jobs = launch_sliced(SETUP_TEMPLATE, SETUP_SURVEY, awx["inventory"], os.path.join(awx["root"], "jobs"), collections_path,
                         awx["shared"], SETUP_WORKFLOW_JOB_ID, awx["certificates"], FORKS)
    elapsed = time.monotonic() - started
    requests_log = emulator.requests()
    emulator.reset_requests()
    print(f"\nslicing: {TENANT_COUNT} tenants, {len(jobs)} setup slice jobs at once with forks={FORKS}: {elapsed:.1f} s "
          f"(identities and inventory prepared in {awx['prepared_in']:.1f} s)")
    return {"jobs": jobs, "requests": requests_log, "elapsed": elapsed}


@pytest.fixture(scope="module")
def report_run(setup_run, awx, emulator, collections_path):
    started = time.monotonic()
    jobs = launch_sliced(REPORT_TEMPLATE, REPORT_SURVEY, awx["inventory"], os.path.join(awx["root"], "jobs"), collections_path,
                         awx["shared"], REPORT_WORKFLOW_JOB_ID, awx["certificates"], FORKS)
    elapsed = time.monotonic() - started
    print(f"\nslicing: {len(jobs)} report slice jobs at once: {elapsed:.1f} s")
    return {"jobs": jobs, "requests": emulator.requests(), "elapsed": elapsed}


def signed_requests(log):
    """The requests of a log that name a client: all but the sign-in discovery documents, which are anonymous."""
    signed = []
    for entry in log:
        if entry["client_id"] is None:
            assert entry["method"] == "GET" and ("/.well-known/" in entry["path"] or "/discovery/" in entry["path"]), entry
            continue
        signed.append(entry)
    return signed


def job_of_client(awx):
    """{client ID: slice job number} over every tenant."""
    return {client: job for clients in awx["client_ids"].values() for job, client in clients.items()}


# ----------------------------------------------------------------------------------------------------------- tests
def test_slices_as_awx_makes_them(awx):
    """Round robin over the hosts ordered by name; every tenant in exactly one slice; each slice's inventory has
    the groups of the tenant list with only its hosts and the group variables."""
    inventory = awx["inventory"]
    names = sorted(info for info in awx["client_ids"])
    assert len(names) == TENANT_COUNT and inventory.enabled_hosts_by_name() == names
    assert inventory.effective_slice_count(SLICES) == SLICES == 3
    slices = [inventory.sliced_hosts(number, SLICES) for number in range(1, SLICES + 1)]
    assert slices[0][:3] == ["tenant01", "tenant04", "tenant07"] and slices[2][-1] == "tenant30"
    assert sorted(sum(slices, [])) == names
    assert [len(hosts) for hosts in slices] == [10, 10, 10]
    for number, hosts in enumerate(slices, start=1):
        data = inventory.script_data(number, SLICES)
        assert data["tenants"]["hosts"] == hosts
        assert data["cloud_global"]["hosts"] == data["workload_exchange_online"]["hosts"] == hosts
        assert data["tenants"]["vars"]["ansible_connection"] == "local"
        assert set(data["_meta"]["hostvars"]) == set(hosts)
        assert {"tenants", "cloud_global", "workload_exchange_online"} <= set(data["all"]["children"])
    # More slices than tenants: one slice per tenant, no empty slice job.
    assert inventory.effective_slice_count(TENANT_COUNT + 5) == TENANT_COUNT


def test_every_tenant_is_set_up_exactly_once(setup_run, awx, emulator):
    jobs = setup_run["jobs"]
    assert len(jobs) == SLICES
    for number, (job_id, runner, hosts) in jobs.items():
        assert runner.status == "successful" and runner.rc == 0, stdout_of(runner)[-6000:]
        assert sorted(runner.stats["processed"]) == sorted(hosts)
        assert sorted(runner.stats["changed"]) == sorted(hosts)

    # The emulator's state: one application of the role per tenant, with one certificate.
    state = {t["name"]: t for t in emulator.state()["tenants"]}
    assert len(state) == TENANT_COUNT
    for name, tenant in state.items():
        apps = [a for a in tenant["applications"] if a.get("uniqueName") == UNIQUE_NAME]
        assert len(apps) == 1, f"{name}: {len(apps)} applications {UNIQUE_NAME}"
        assert len(apps[0]["keyCredentials"]) == 1, f"{name}: {apps[0]['keyCredentials']}"
        others = sorted(a["displayName"] for a in tenant["applications"] if a.get("uniqueName") != UNIQUE_NAME)
        assert others == ["m365.cba bootstrap"] + [f"m365.cba slice job {job}" for job in range(1, SLICES + 1)]
        # The certificate is kept in the template's directory on the shared volume, for the next job on any node.
        with open(os.path.join(awx["shared"]["root"], name, f"{UNIQUE_NAME}.report.json"), encoding="utf-8") as handle:
            assert json.load(handle)["thumbprint"] == apps[0]["keyCredentials"][0]["thumbprint_sha1"]

    # The request log: each tenant's requests (writes and reads) came from the job of its slice only, and its
    # application was created by one POST. (The role's last check signs in as the new application itself: token
    # requests only, in its own tenant.)
    owner = job_of_client(awx)
    slice_of = {host: number for number, (dummy, dummy2, hosts) in jobs.items() for host in hosts}
    tenant_name = {info["tenant_id"]: info["name"] for info in emulator.tenants}
    made = {tenant["name"]: next(a["appId"] for a in tenant["applications"] if a.get("uniqueName") == UNIQUE_NAME)
            for tenant in state.values()}
    by_tenant = {}
    for entry in signed_requests(setup_run["requests"]):
        name = tenant_name[entry["tenant"]]
        if entry["client_id"] == made[name]:
            assert is_token_request(entry), entry
            continue
        assert entry["client_id"] in owner, entry
        by_tenant.setdefault(name, []).append(entry)
    assert sorted(by_tenant) == sorted(state)
    for name, entries in by_tenant.items():
        senders = {owner[entry["client_id"]] for entry in entries}
        assert senders == {slice_of[name]}, f"{name} got requests from jobs {sorted(senders)}"
        tenant_writes = [e for e in entries if e["method"] != "GET" and not is_token_request(e)]
        assert tenant_writes, f"no writes in {name}"
        creates = [e for e in tenant_writes if e["method"] == "POST" and e["path"] == "/v1.0/applications"
                   or e["method"] == "PATCH" and e["path"].startswith("/v1.0/applications(uniqueName=")
                   and e["status"] == 201]
        assert len(creates) == 1, f"{name}: {creates}"


def test_each_slice_summary_lists_only_its_tenants(setup_run, awx, emulator):
    state = {t["name"]: t for t in emulator.state()["tenants"]}
    for number, (job_id, runner, hosts) in setup_run["jobs"].items():
        # The callback's JSON summary of this job, at the path made from its JOB_ID.
        with open(os.path.join(awx["shared"]["root"], "summaries", f"job-{job_id}.json"), encoding="utf-8") as handle:
            summary = json.load(handle)
        assert sorted(summary["tenants"]) == sorted(hosts)
        assert summary["totals"] == {"tenants": len(hosts), "verified": len(hosts), "changed": len(hosts),
                                     "unchanged": 0, "failed": 0, "skipped": 0}
        for name in hosts:
            entry = summary["tenants"][name]
            (app,) = [a for a in state[name]["applications"] if a.get("uniqueName") == UNIQUE_NAME]
            assert entry["status"] == "changed" and entry["verified"] is True
            assert entry["result"]["app_id"] == app["appId"]
            assert entry["result"]["thumbprint"] == app["keyCredentials"][0]["thumbprint_sha1"]
            # The tenant's row of the list reached its slice: the short-lived certificate lives 20 days.
            not_after = datetime.datetime.strptime(entry["result"]["certificate_not_after"], "%Y-%m-%dT%H:%M:%SZ")
            days = (not_after.replace(tzinfo=datetime.timezone.utc) - datetime.datetime.now(datetime.timezone.utc)).days
            assert days in ((19, 20) if name == SHORT_LIVED else (364, 365)), (name, days)
        # The job's output as AWX shows it: one counted line per tenant of the slice, nothing about the others.
        stdout = stdout_of(runner)
        lines = SLICE_LINE.findall(stdout)
        assert sorted(name for dummy, dummy2, name, dummy3 in lines) == sorted(hosts)
        assert {total for dummy, total, dummy2, dummy3 in lines} == {str(len(hosts))}
        others = set(awx["client_ids"]) - set(hosts)
        assert not [name for name in others if re.search(rf"\b{name}\b", stdout)]
        # One line per tenant: the connect lines of the setup playbook's summary stay out of the output.
        assert "Connect-ExchangeOnline" not in stdout, stdout[-6000:]
        # The setup playbook's own summary (its debug task, in the job's events): the slice's tenants only.
        (messages,) = debug_messages(runner, "Show each tenant's result and how to connect")
        named = sorted({line.split(":", 1)[0] for line in messages if not line.startswith(" ")})
        assert named == sorted(hosts)


def part_name(hosts):
    """The report part of a run over `hosts` (playbooks/report.yml): part- and 12 hex digits of the SHA-1 of the
    sorted names joined by commas."""
    return "part-" + hashlib.sha1(",".join(sorted(hosts)).encode("utf-8")).hexdigest()[:12]


def report_artifacts(runner):
    """The rows the report job kept as its statistics (set_stats), which AWX stores as the job's artifacts."""
    (stats,) = [e for e in runner.events if e.get("event") == "playbook_on_stats"]
    return stats["event_data"]["artifact_data"]["m365_cba_certificate_report"]


def test_report_over_the_slices_is_complete(report_run, setup_run, awx, emulator):
    jobs = report_run["jobs"]
    (red,) = [number for number, (dummy, dummy2, hosts) in jobs.items() if SHORT_LIVED in hosts]
    for number, (job_id, runner, hosts) in jobs.items():
        assert sorted(runner.stats["processed"]) == sorted(hosts)
        if number == red:
            # The slice with the short-lived certificate turns red, naming it; AWX notifies for this slice.
            assert runner.status == "failed" and runner.rc == 2, stdout_of(runner)[-6000:]
            assert sorted(runner.stats["failures"]) == [SHORT_LIVED]
            with open(os.path.join(awx["shared"]["root"], "summaries", f"job-{job_id}.json"), encoding="utf-8") as handle:
                summary = json.load(handle)
            assert sorted(summary["tenants"]) == sorted(hosts)
            assert [name for name, t in summary["tenants"].items() if t["status"] == "failed"] == [SHORT_LIVED]
            assert re.search(r"expires on \S+, in 1[89] days \(m365_cba_report_fail_within_days: 30\)",
                             summary["tenants"][SHORT_LIVED]["message"]), summary["tenants"][SHORT_LIVED]
        else:
            assert runner.status == "successful" and runner.rc == 0, stdout_of(runner)[-6000:]
        assert sorted({row["tenant"] for row in report_artifacts(runner)}) == sorted(hosts)

    # Reads only, each tenant by the job of its slice.
    owner = job_of_client(awx)
    slice_of = {host: number for number, (dummy, dummy2, hosts) in jobs.items() for host in hosts}
    tenant_name = {info["tenant_id"]: info["name"] for info in emulator.tenants}
    for entry in signed_requests(report_run["requests"]):
        assert entry["method"] == "GET" or is_token_request(entry), entry
        assert owner[entry["client_id"]] == slice_of[tenant_name[entry["tenant"]]], entry

    # One part per slice, named after its tenants, none overwritten: together every tenant once, with the
    # certificate the emulator holds.
    # The template's report directory: one per launch, named after the workflow job of the slices.
    folder = os.path.join(awx["shared"]["root"], "reports", str(REPORT_WORKFLOW_JOB_ID))
    assert sorted(os.listdir(folder)) == sorted(f"certificate-expiry.{part_name(hosts)}.{ext}"
                                                for dummy, dummy2, hosts in jobs.values() for ext in ("csv", "md"))
    state = {t["name"]: t for t in emulator.state()["tenants"]}
    seen = {}
    for dummy, dummy2, hosts in jobs.values():
        path = os.path.join(folder, f"certificate-expiry.{part_name(hosts)}.csv")
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert sorted(row["tenant"] for row in rows) == sorted(hosts), path
        for row in rows:
            assert row["tenant"] not in seen, f"{row['tenant']} in {seen.get(row['tenant'])} and {path}"
            seen[row["tenant"]] = path
            (app,) = [a for a in state[row["tenant"]]["applications"] if a.get("uniqueName") == UNIQUE_NAME]
            assert row["app_id"] == app["appId"]
            assert row["thumbprint"].lower() == app["keyCredentials"][0]["thumbprint_sha1"].lower()
            assert row["status"] == ("renew soon" if row["tenant"] == SHORT_LIVED else "ok"), row
    assert sorted(seen) == sorted(state)
