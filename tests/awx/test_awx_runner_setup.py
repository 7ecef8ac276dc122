# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/setup.yml as an AWX job runs it: through ansible-runner, one tenant, with nothing but
what the m365.cba credential type injects (environment variables, a certificate file and the PFX
password as an extra variable). The emulator must end up with the application, its service
principal, the consent and the directory role, and no secret may reach the job's output or events."""

from __future__ import annotations

import glob
import json
import os
import secrets
import sys

import ansible_runner
import pytest
from m365emu import Emulator

from awx_helpers import REPO, UNIQUE_NAME, load_yaml, pem_body_lines, setup_objects
from awx_injection import inject

TENANT = "tenant01"


def certificate_credential_type():
    types = load_yaml("extensions", "awx", "credential_types.yml")
    return next(t for t in types if "AZURE_CLIENT_CERTIFICATE_PATH" in t["injectors"]["env"])


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with Emulator(str(tmp_path_factory.mktemp("emulator")), tenants=1) as emu:
        yield emu


def credential_inputs(emu, pfx_password):
    """A per-tenant m365.cba credential for the emulator's tenant, as a user would fill it in."""
    tenant = emu.tenant(TENANT)
    bootstrap = tenant["bootstrap"]
    with open(bootstrap["certificate_path"], encoding="ascii") as handle:
        certificate = handle.read()
    with open(emu.ca_bundle, encoding="ascii") as handle:
        ca_bundle = handle.read()
    return {
        "tenant_id": tenant["tenant_id"],
        "client_id": bootstrap["client_id"],
        "client_certificate": certificate,
        "pfx_password": pfx_password,
        "authority_host": emu.base_url,
        "graph_endpoint": emu.base_url,
        "ca_bundle": ca_bundle,
    }


def run_job(private_data_dir, collections_path, envvars, extravars):
    """One job: the checkout's setup playbook (the AWX project), an inventory with this tenant only."""
    inventory = {"all": {"children": {"tenants": {"hosts": {TENANT: {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
    }}}}}}
    bin_dir = os.path.dirname(sys.executable)
    env = dict(envvars)
    env.update({"ANSIBLE_COLLECTIONS_PATH": collections_path, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "0",
                "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")})
    return ansible_runner.run(
        private_data_dir=str(private_data_dir),
        playbook=os.path.join(REPO, "playbooks", "setup.yml"),
        inventory=inventory,
        envvars=env,
        extravars=extravars,
        quiet=True,
    )


def job_output(result):
    """The job's stdout and every job event, as one text."""
    with result.stdout as handle:
        stdout = handle.read()
    events = list(result.events)
    assert events, "ansible-runner recorded no job events"
    return stdout, stdout + "\n" + "\n".join(json.dumps(event, sort_keys=True) for event in events)


@pytest.fixture(autouse=True)
def _no_ambient_credentials(monkeypatch):
    # The job gets its credentials from the credential type only, never from the test's own environment.
    for name in list(os.environ):
        if name.startswith(("AZURE_", "M365_CBA_")):
            monkeypatch.delenv(name)


def test_setup_job_with_injected_credential(emulator, collections_path, tmp_path):
    pfx_password = secrets.token_urlsafe(24)
    credential_type = certificate_credential_type()
    private_data_dir = tmp_path / "job"
    env, extra_vars, files = inject(credential_type, credential_inputs(emulator, pfx_password), str(private_data_dir))

    # What the credential puts into the job: the certificate as a file, no password for its key.
    bootstrap = emulator.tenant(TENANT)["bootstrap"]
    assert env["AZURE_TENANT_ID"] == emulator.tenant(TENANT)["tenant_id"]
    assert env["AZURE_CLIENT_ID"] == bootstrap["client_id"]
    assert env["AZURE_CLIENT_CERTIFICATE_PATH"] == files["client_certificate"]
    assert env["M365_CBA_CA_BUNDLE"] == files["ca_bundle"]
    assert env["M365_CBA_AUTHORITY_HOST"] == env["M365_CBA_GRAPH_ENDPOINT"] == emulator.base_url
    assert env["AZURE_CLIENT_CERTIFICATE_PASSWORD"] == ""
    assert "AZURE_CLIENT_SECRET" not in env
    assert env["M365_CBA_CLOUD"] == "global"
    assert extra_vars == {"m365_cba_pfx_password": pfx_password}

    cert_dir = tmp_path / "certificates" / TENANT
    extravars = dict(extra_vars, m365_cba_certificate_dir=str(cert_dir))
    envvars = dict(env, M365_CBA_TOKEN_CACHE_DIR=str(tmp_path / "token-cache"))
    result = run_job(private_data_dir, collections_path, envvars, extravars)
    stdout, output = job_output(result)

    assert result.status == "successful", stdout[-4000:]
    assert result.rc == 0
    assert result.stats["failures"] == {} and result.stats["dark"] == {}
    assert TENANT in result.stats["changed"]

    # The emulator, read independently of the modules: application with our certificate, service
    # principal, admin consent for Exchange.ManageAsApp and a directory role.
    state = emulator.state(tenant=TENANT)["tenants"][0]
    app, sp, consent, roles = setup_objects(state)
    assert app is not None, f"no application {UNIQUE_NAME}"
    with open(cert_dir / f"{UNIQUE_NAME}.report.json", encoding="utf-8") as handle:
        report = json.load(handle)
    assert report["app_id"] == app["appId"] and report["verified"] is True
    assert report["thumbprint"] in [k.get("thumbprint_sha1") for k in app["keyCredentials"]]
    assert sp is not None and sp["id"] == report["service_principal_id"]
    assert len(consent) == 1
    assert roles, "no directory role assigned"

    # No secret in the output or the events: PFX password, bootstrap secret, private keys.
    assert pfx_password not in output
    assert bootstrap["client_secret"] not in output
    assert bootstrap["pfx_password"] not in output
    for key_file in [bootstrap["certificate_path"], *glob.glob(str(cert_dir / "*.key"))]:
        leaked = [line for line in pem_body_lines(key_file) if line in output]
        assert not leaked, f"private key material of {key_file} in the job output"
    assert "PRIVATE KEY" not in output
