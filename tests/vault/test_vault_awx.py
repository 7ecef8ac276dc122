# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Two AWX jobs in a row, each in a fresh private data directory (as two scheduled AWX runs are, in
execution environments thrown away after each), with the bootstrap identity credential and the
certificate store credential of extensions/awx, against the same OpenBao server and emulator tenant.
The store credential signs in with an AppRole. The first job sets the tenant up and stores the
certificate; the second restores it, changes nothing and reports the same thumbprint."""

from __future__ import annotations

import json
import os
import sys

import ansible_runner
import pytest
import yaml
from m365emu import Emulator

from vault_support import REPO, UNIQUE_NAME, key_thumbprints, secret_path, stored_certificate

sys.path.insert(0, str(REPO / "tests" / "awx"))

from awx_injection import inject, validation_errors  # noqa: E402  pylint: disable=wrong-import-position

TENANT = "awx-tenant"


def load(name):
    with open(REPO / "extensions" / "awx" / name, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def test_store_credential_type_is_valid_for_awx():
    (store_type,) = load("credential_type_vault.yml")
    assert validation_errors(store_type) == []
    assert store_type["name"] not in [t["name"] for t in load("credential_types.yml")], "two types with one name"


def test_store_credential_injects_approle_or_token(tmp_path):
    (store_type,) = load("credential_type_vault.yml")
    env, extra_vars, files = inject(store_type, {"vault_addr": "https://vault.example.com:8200", "token": "t-1",
                                                 "role_id": "r-1", "secret_id": "s-1", "cacert": "PEM"}, str(tmp_path))
    assert env["VAULT_TOKEN"] == "" and env["VAULT_ROLE_ID"] == "r-1" and env["VAULT_SECRET_ID"] == "s-1"
    assert env["VAULT_CACERT"] == files["cacert"] and open(files["cacert"], encoding="utf-8").read() == "PEM"
    assert extra_vars == {"m365_cba_certificate_store": "vault", "m365_cba_vault_mount": "secret"}
    env, extra_vars, files = inject(store_type, {"vault_addr": "https://vault.example.com:8200", "token": "t-1"},
                                    str(tmp_path / "second"))
    assert env["VAULT_TOKEN"] == "t-1"
    # Empty fields give empty variables (which the modules ignore), never a Jinja name that happens to match a field.
    assert env["VAULT_ROLE_ID"] == env["VAULT_SECRET_ID"] == env["VAULT_CACERT"] == env["VAULT_NAMESPACE"] == ""


@pytest.fixture(scope="module")
def jobs(bao, collection_dir, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("vault-awx")
    (bootstrap_type,) = load("credential_types.yml")
    (store_type,) = load("credential_type_vault.yml")
    role_id, secret_id = bao.approle("m365-cba-awx", (
        'path "secret/data/m365-cba/*" { capabilities = ["create", "read", "update", "delete"] }\n'
        'path "secret/metadata/m365-cba/*" { capabilities = ["read", "delete"] }\n'))
    pfx_password = "awx-pfx-" + os.urandom(9).hex()
    with Emulator(str(workdir / "emulator"), seed=[{"name": TENANT}]) as emu:
        tenant = emu.tenant(TENANT)
        with open(tenant["bootstrap"]["certificate_path"], encoding="ascii") as handle:
            certificate = handle.read()
        with open(emu.ca_bundle, encoding="ascii") as handle:
            ca_bundle = handle.read()
        outcomes = []
        for number in (1, 2):
            private_data_dir = workdir / f"job{number}"
            env, extra_vars, _files = inject(bootstrap_type, {
                "tenant_id": tenant["tenant_id"], "client_id": tenant["bootstrap"]["client_id"],
                "client_certificate": certificate, "pfx_password": pfx_password,
                "authority_host": emu.base_url, "graph_endpoint": emu.base_url, "ca_bundle": ca_bundle,
            }, str(private_data_dir))
            store_env, store_vars, _files = inject(store_type, {"vault_addr": bao.address, "role_id": role_id,
                                                                "secret_id": secret_id}, str(private_data_dir))
            env.update(store_env)
            extra_vars.update(store_vars)
            env.update({
                "ANSIBLE_COLLECTIONS_PATH": str(collection_dir.parents[2]), "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_RETRY_FILES_ENABLED": "0",
                # Each job has its own token cache and temporary files, as a fresh execution environment has.
                "M365_CBA_TOKEN_CACHE_DIR": str(private_data_dir / "token-cache"),
                "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
            })
            inventory = {"all": {"children": {"tenants": {"hosts": {TENANT: {
                "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}}}
            result = ansible_runner.run(private_data_dir=str(private_data_dir),
                                        playbook=str(REPO / "playbooks" / "setup.yml"), inventory=inventory,
                                        envvars=env, extravars=extra_vars, quiet=True)
            with result.stdout as handle:
                stdout = handle.read()
            events = "\n".join(json.dumps(event, sort_keys=True) for event in result.events)
            outcomes.append({"result": result, "stdout": stdout, "events": events,
                             "thumbprints": key_thumbprints(emu, TENANT), "stored": bao.read(secret_path(TENANT)),
                             "metadata": bao.metadata(secret_path(TENANT))})
        yield {"jobs": outcomes, "secrets": {"PFX password": pfx_password, "AppRole secret ID": secret_id}}


def test_first_job_sets_up_and_stores_the_certificate(jobs):
    first = jobs["jobs"][0]
    assert first["result"].status == "successful", first["stdout"][-4000:]
    assert TENANT in first["result"].stats["changed"]
    thumbprint, _key, _cert = stored_certificate(first["stored"])
    assert first["thumbprints"] == [thumbprint]


def test_second_job_in_a_fresh_directory_changes_nothing(jobs):
    first, second = jobs["jobs"]
    assert second["result"].status == "successful", second["stdout"][-4000:]
    assert second["result"].stats["changed"] == {}, second["stdout"][-4000:]
    assert second["thumbprints"] == first["thumbprints"]
    assert second["stored"] == first["stored"]
    assert second["metadata"]["current_version"] == 1
    (thumbprint,) = second["thumbprints"]
    assert f"thumbprint {thumbprint}" in second["stdout"]
    assert f"bao kv get -mount=secret -field=pfx_base64 '{secret_path(TENANT)}' | base64 -d > '{UNIQUE_NAME}.pfx'" \
        in second["stdout"]


def test_no_secret_in_the_jobs_output(jobs):
    leaks = [f"{what} in job {number}" for number, job in enumerate(jobs["jobs"], 1)
             for what, value in jobs["secrets"].items() if value in job["events"]]
    leaks += [f"the stored PFX in job {number}" for number, job in enumerate(jobs["jobs"], 1)
              if job["stored"]["pfx_base64"][:64] in job["events"]]
    assert not leaks, leaks
