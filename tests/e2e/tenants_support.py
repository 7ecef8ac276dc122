# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers of the tests of the tenant inventory plugin, the m365.cba.tenants callback and the report:
a tenant list of emulator tenants behind a ``*.tenants.yml`` source, and a runner of ansible-playbook."""

from __future__ import annotations

import csv
import glob
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from e2e_support import REPO

UNIQUE_NAME = "m365-cba-exchange-online"


def write_tenant_list(folder, emulator, names, overrides=None):
    """customers.csv with the emulator tenants `names` (their bootstrap identity as per-tenant columns) and
    customers.tenants.yml pointing at it, with the emulator's endpoints as `vars`; returns the source's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    overrides = overrides or {}
    extra = sorted({key for values in overrides.values() for key in values})
    with open(folder / "customers.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "tenant", "cloud", "workloads", "m365_cba_client_id", "m365_cba_client_certificate_path"] + extra)
        for name in names:
            bootstrap = emulator.tenant(name)["bootstrap"]
            row = [name, bootstrap["tenant_id"], "global", "exchange_online", bootstrap["client_id"], bootstrap["certificate_path"]]
            writer.writerow(row + [json.dumps(overrides.get(name, {})[key]) if key in overrides.get(name, {}) else ""
                                   for key in extra])
    source = folder / "customers.tenants.yml"
    source.write_text("\n".join([
        "plugin: m365.cba.tenants",
        "source: customers.csv",
        "vars:",
        f"  m365_cba_authority_host: {json.dumps(emulator.base_url)}",
        f"  m365_cba_graph_endpoint: {json.dumps(emulator.base_url)}",
        f"  m365_cba_ca_bundle: {json.dumps(emulator.ca_bundle)}",
        "",
    ]), encoding="utf-8")
    return source


def extra_vars_file(folder, cert_root):
    path = Path(folder) / "vars.json"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"m365_cba_pfx_password": secrets.token_urlsafe(24),
                       "m365_cba_certificate_dir": str(cert_root) + "/{{ inventory_hostname }}",
                       "m365_cba_token_cache_dir": str(Path(folder) / "token-cache")}, handle)
    return path


def ansible_environment(collection, workdir, **extra):
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": str(Path(collection).parents[2]),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_FORKS": "3",
        "ANSIBLE_LOCAL_TEMP": str(Path(workdir) / "ansible-tmp"),
    })
    env.pop("ANSIBLE_STDOUT_CALLBACK", None)
    env.update({key: str(value) for key, value in extra.items()})
    return env


def run(command, env, cwd, timeout=600):
    return subprocess.run([str(part) for part in command], env=env, cwd=str(cwd), capture_output=True, text=True,
                          timeout=timeout, check=False)


def describe(completed):
    return f"rc={completed.returncode}\n--- stdout\n{completed.stdout[-8000:]}\n--- stderr\n{completed.stderr[-4000:]}"


def other_ansible_playbooks():
    """ansible-playbook of other ansible-core versions present on this machine (the matrix lane's venvs, or
    /tmp/ac216 and /tmp/ac221), as {label: path}."""
    found = {}
    candidates = sorted(glob.glob(str(REPO / "build" / "matrix-venvs" / "*" / "bin" / "ansible-playbook")))
    candidates += ["/tmp/ac216/bin/ansible-playbook", "/tmp/ac221/bin/ansible-playbook"]
    for path in candidates:
        if os.path.exists(path) and os.path.realpath(os.path.dirname(path)) != os.path.realpath(os.path.dirname(sys.executable)):
            found.setdefault(Path(path).parents[1].name, path)
    return found
