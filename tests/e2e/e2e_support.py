# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run playbooks/setup.yml against the emulator and read what it left behind.

`PlaybookRunner.run()` writes an inventory of the chosen emulator tenants, runs ansible-playbook as a
subprocess and returns a `PlaybookRun`: exit code, screen output, per-host stats and task outcomes (from
the run_record callback), and the emulator's request log of that run. `TenantView` reads the emulator's
state dump, `LocalCertificate` the files on the control node; both are independent of the modules
under test.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import pkcs12

E2E_DIR = Path(__file__).resolve().parent
REPO = E2E_DIR.parent.parent
EMULATOR_PATH = REPO / "tests" / "emulator"
if str(EMULATOR_PATH) not in sys.path:
    sys.path.insert(0, str(EMULATOR_PATH))

from m365emu import wellknown  # noqa: E402  pylint: disable=wrong-import-position

EXCHANGE_APP = "m365-cba-exchange-online"
COMPLIANCE_APP = "m365-cba-security-compliance"
PERMISSION = "Exchange.ManageAsApp"
ROLE_IDS = {name: role_id for name, role_id, _text in wellknown.DIRECTORY_ROLES}
ROLE_NAMES = {role_id: name for name, role_id in ROLE_IDS.items()}
PLAYBOOK_TIMEOUT = 600
SUMMARY_TASK = "Show each tenant's result and how to connect"

# Every scenario gets tenants of its own, so that scenarios share one emulator without seeing each other.
DEPLOY_TENANTS = ("deploy1", "deploy2", "deploy3", "deploy4", "deploy5")
PREVIEW_TENANTS = ("preview1", "preview2", "preview3", "preview4", "preview5")
LIFECYCLE_TENANTS = ("rotate", "graced", "lostkey", "workloads", "teardown")
ISOLATION_TENANTS = ("healthy", "broken")
MODULE_MODE_TENANTS = ("modules1", "modules2")
INPUT_TENANTS = ("badname", "baddisplay", "badcn", "baddays", "badroles", "shortpfx", "lowerroles")
ALL_TENANTS = DEPLOY_TENANTS + PREVIEW_TENANTS + LIFECYCLE_TENANTS + ISOLATION_TENANTS + MODULE_MODE_TENANTS + INPUT_TENANTS


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class PlaybookRun:
    """One ansible-playbook run: what it printed and recorded, and the emulator requests it caused."""

    def __init__(self, name, command, completed, record, requests, counters, seconds):
        self.name = name
        self.command = command
        self.rc = completed.returncode
        self.stdout = completed.stdout
        self.stderr = completed.stderr
        self.stats = record.get("stats", {})
        self.tasks = record.get("tasks", [])
        self.requests = requests
        self.counters = counters
        self.seconds = seconds

    def describe(self, lines=60):
        """The end of the output, for assertion messages."""
        out = "\n".join(self.stdout.splitlines()[-lines:])
        err = "\n".join(self.stderr.splitlines()[-lines:])
        return f"run {self.name!r} rc={self.rc} ({self.seconds:.1f} s)\n--- stdout (tail)\n{out}\n--- stderr (tail)\n{err}"

    def host_stats(self, host):
        assert host in self.stats, f"{host} has no stats\n{self.describe()}"
        return self.stats[host]

    def changed(self, host):
        return self.host_stats(host)["changed"]

    def failures(self, host):
        stats = self.host_stats(host)
        return stats["failures"] + stats["unreachable"]

    def host_tasks(self, host, status=None):
        return [t for t in self.tasks if t["host"] == host and (status is None or t["status"] == status)]

    def changed_tasks(self, host):
        return [t["task"] for t in self.host_tasks(host) if t["changed"]]

    def messages(self, host):
        """Every message and warning a host's tasks produced."""
        found = []
        for task in self.host_tasks(host):
            if task["msg"]:
                found.append(task["msg"] if isinstance(task["msg"], str) else json.dumps(task["msg"]))
            found.extend(task["warnings"])
        return found

    @property
    def summary(self):
        """The lines of the summary play's message."""
        for task in self.tasks:
            if task["task"] == SUMMARY_TASK and task["action"] in ("debug", "ansible.builtin.debug"):
                msg = task["msg"]
                return msg if isinstance(msg, list) else [msg]
        return []

    def graph_requests(self, tenant_id):
        return [r for r in self.requests if r.get("tenant") == tenant_id and r["path"].startswith("/v1.0/")]

    def graph_routes(self, tenant_id):
        return dict(collections.Counter(r["route"] for r in self.graph_requests(tenant_id)))

    def token_requests(self, tenant_id):
        """{(client_id, resource): requests} at the token endpoint for the tenant."""
        found = {}
        for client_id, resources in self.counters.get("tokens", {}).get(tenant_id, {}).items():
            for resource, counts in resources.items():
                found[(client_id, resource)] = counts["requests"]
        return found


class PlaybookRunner:
    """Runs playbooks/setup.yml of the installed collection against emulator tenants."""

    def __init__(self, emulator, collection, ansible_playbook, workdir, pfx_password):
        self.emulator = emulator
        self.collection = Path(collection)
        self.ansible_playbook = str(ansible_playbook)
        self.workdir = Path(workdir)
        self.pfx_password = pfx_password
        self.token_cache = self.workdir / "token-cache"

    def inventory(self, tenants, host_vars=None):
        host_vars = host_vars or {}
        hosts = {}
        for name in tenants:
            bootstrap = self.emulator.tenant(name)["bootstrap"]
            hosts[name] = {
                "m365_cba_tenant_id": bootstrap["tenant_id"],
                "m365_cba_client_id": bootstrap["client_id"],
                "m365_cba_client_certificate_path": bootstrap["certificate_path"],
            }
            hosts[name].update(host_vars.get(name, {}))
        return {"all": {"children": {"tenants": {
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                "m365_cba_authority_host": self.emulator.base_url,
                "m365_cba_graph_endpoint": self.emulator.base_url,
                "m365_cba_ca_bundle": self.emulator.ca_bundle,
            },
            "hosts": hosts,
        }}}}

    def run(self, name, tenants, cert_root, host_vars=None, extra_vars=None, check=False, playbook=None, verbosity=0):
        """Run the playbook (playbooks/setup.yml unless given) for `tenants`; certificates go to cert_root/<tenant>."""
        folder = self.workdir / "runs" / name
        folder.mkdir(parents=True)
        inventory = folder / "inventory.yml"
        inventory.write_text(json.dumps(self.inventory(tenants, host_vars), indent=1), encoding="utf-8")
        values = {
            "m365_cba_pfx_password": self.pfx_password,
            "m365_cba_certificate_dir": str(Path(cert_root)) + "/{{ inventory_hostname }}",
            "m365_cba_token_cache_dir": str(self.token_cache),
        }
        values.update(extra_vars or {})
        vars_file = folder / "vars.json"
        fd = os.open(vars_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(values, handle)
        record = folder / "record.json"
        command = [self.ansible_playbook, "-i", str(inventory), "-e", f"@{vars_file}",
                   str(playbook or self.collection / "playbooks" / "setup.yml")]
        if check:
            command.append("--check")
        if verbosity:
            command.append("-" + "v" * verbosity)
        env = dict(os.environ)
        env.update({
            "ANSIBLE_COLLECTIONS_PATH": str(self.collection.parents[2]),
            "ANSIBLE_FORKS": "5",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_LOCAL_TEMP": str(self.workdir / "ansible-tmp"),
            "ANSIBLE_CALLBACK_PLUGINS": str(E2E_DIR / "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "run_record",
            "M365_CBA_RUN_RECORD": str(record),
        })
        self.emulator.reset_requests()
        started = time.monotonic()
        completed = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True,
                                   timeout=PLAYBOOK_TIMEOUT, check=False)
        seconds = time.monotonic() - started
        data = json.loads(record.read_text(encoding="utf-8")) if record.exists() else {}
        (folder / "stdout.txt").write_text(completed.stdout, encoding="utf-8")
        (folder / "stderr.txt").write_text(completed.stderr, encoding="utf-8")
        return PlaybookRun(name, command, completed, data, self.emulator.requests(), self.emulator.counters(), seconds)


class TenantView:
    """One tenant of the emulator's state dump."""

    def __init__(self, emulator, tenant):
        self.dump = emulator.state(tenant)["tenants"][0]
        self.tenant_id = self.dump["tenant_id"]

    @property
    def initial_domain(self):
        return [d["name"] for d in self.dump["organization"]["verifiedDomains"] if d.get("isInitial")]

    def applications(self, unique_name):
        return [a for a in self.dump["applications"] if a.get("uniqueName") == unique_name]

    def application(self, unique_name):
        found = self.applications(unique_name)
        assert len(found) == 1, f"{len(found)} applications named {unique_name} in {self.dump['name']}"
        return found[0]

    def service_principals(self, app_id):
        return [sp for sp in self.dump["servicePrincipals"] if sp["appId"] == app_id]

    def exchange_sp(self):
        (sp,) = self.service_principals(self.dump["wellKnown"]["exchangeAppId"])
        return sp

    def app_role_assignments(self, principal_id):
        return [a for a in self.dump["appRoleAssignments"] if a["principalId"] == principal_id]

    def granted_permissions(self, principal_id):
        """(resource displayName, app role value) of every app role assignment the principal holds."""
        found = []
        for assignment in self.app_role_assignments(principal_id):
            (resource,) = [sp for sp in self.dump["servicePrincipals"] if sp["id"] == assignment["resourceId"]]
            values = [r["value"] for r in resource.get("appRoles", []) if r["id"] == assignment["appRoleId"]]
            found.append((resource["displayName"], values[0] if values else assignment["appRoleId"]))
        return found

    def directory_roles(self, principal_id):
        return sorted(ROLE_NAMES.get(a["roleDefinitionId"], a["roleDefinitionId"])
                      for a in self.dump["roleAssignments"] if a["principalId"] == principal_id)

    def references_to(self, object_id):
        """App role and directory role assignments that still name the object."""
        return ([a for a in self.dump["appRoleAssignments"] if object_id in (a["principalId"], a["resourceId"])]
                + [a for a in self.dump["roleAssignments"] if a["principalId"] == object_id])

    @staticmethod
    def thumbprints(application):
        return [k["thumbprint_sha1"] for k in application.get("keyCredentials") or []]


class LocalCertificate:
    """The certificate files the role keeps on the control node for one application."""

    def __init__(self, directory, unique_name=EXCHANGE_APP):
        self.directory = Path(directory)
        self.unique_name = unique_name
        self.key = self.directory / f"{unique_name}.key"
        self.pfx = self.directory / f"{unique_name}.pfx"
        self.cer = self.directory / f"{unique_name}.cer"
        self.report_path = self.directory / f"{unique_name}.report.json"

    @property
    def thumbprint(self):
        return hashlib.sha1(self.cer.read_bytes()).hexdigest().upper()

    def report(self):
        return json.loads(self.report_path.read_text(encoding="utf-8"))

    def pfx_certificate_thumbprint(self, password):
        """The SHA-1 of the certificate inside the PFX (which must open with the password and hold the key)."""
        key, cert, _extra = pkcs12.load_key_and_certificates(self.pfx.read_bytes(), password.encode("utf-8"))
        assert key is not None, f"{self.pfx} holds no private key"
        assert key.public_key().public_numbers() == cert.public_key().public_numbers()
        return cert.fingerprint(hashes.SHA1()).hex().upper()  # nosec - the thumbprint is SHA-1 by definition


def connect_argument(line, name):
    """The quoted value of -Name in a Connect-* line."""
    match = re.search(rf"-{name} '([^']*)'", line)
    return match.group(1) if match else None
