# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/setup.yml as an AWX job runs it: through ansible-runner, one tenant, with nothing but
what the m365.cba credential type injects (environment variables, a certificate file and the PFX
password as an extra variable). With a certificate, a client secret, or both (the certificate wins),
the emulator must end up with the application, its service principal, the consent and the directory
role, and no secret may reach the job's output or events. With neither, the job fails and says why."""

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

# One tenant per way of signing in, so that every job sets its tenant up from scratch.
TENANTS = {"certificate": "tenant01", "secret": "tenant02", "both": "tenant03", "neither": "tenant04"}


def credential_type():
    (found,) = load_yaml("extensions", "awx", "credential_types.yml")
    return found


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with Emulator(str(tmp_path_factory.mktemp("emulator")), tenants=len(TENANTS)) as emu:
        yield emu


def credential_inputs(emu, tenant_name, pfx_password, sign_in):
    """A per-tenant m365.cba credential for an emulator tenant, as a user would fill it in: with the
    bootstrap certificate, its client secret, both (the secret a wrong one) or neither."""
    tenant = emu.tenant(tenant_name)
    bootstrap = tenant["bootstrap"]
    with open(bootstrap["certificate_path"], encoding="ascii") as handle:
        certificate = handle.read()
    with open(emu.ca_bundle, encoding="ascii") as handle:
        ca_bundle = handle.read()
    inputs = {
        "tenant_id": tenant["tenant_id"],
        "client_id": bootstrap["client_id"],
        "pfx_password": pfx_password,
        "authority_host": emu.base_url,
        "graph_endpoint": emu.base_url,
        "ca_bundle": ca_bundle,
    }
    if sign_in in ("certificate", "both"):
        inputs["client_certificate"] = certificate
    if sign_in == "secret":
        inputs["client_secret"] = bootstrap["client_secret"]
    if sign_in == "both":
        # Were the secret used, the job would fail: it succeeds only with the certificate.
        inputs["client_secret"] = "not-the-" + bootstrap["client_secret"]
    return inputs


def run_job(private_data_dir, collections_path, envvars, extravars, tenant_name):
    """One job: the checkout's setup playbook (the AWX project), an inventory with this tenant only."""
    inventory = {"all": {"children": {"tenants": {"hosts": {tenant_name: {
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


@pytest.mark.parametrize("sign_in", ["certificate", "secret", "both"])
def test_setup_job_with_injected_credential(sign_in, emulator, collections_path, tmp_path):
    tenant_name = TENANTS[sign_in]
    pfx_password = secrets.token_urlsafe(24)
    private_data_dir = tmp_path / "job"
    inputs = credential_inputs(emulator, tenant_name, pfx_password, sign_in)
    env, extra_vars, files = inject(credential_type(), inputs, str(private_data_dir))

    # What the credential puts into the job: one way to sign in (the certificate as a file, or the
    # secret), no password for the certificate's key.
    bootstrap = emulator.tenant(tenant_name)["bootstrap"]
    assert env["AZURE_TENANT_ID"] == emulator.tenant(tenant_name)["tenant_id"]
    assert env["AZURE_CLIENT_ID"] == bootstrap["client_id"]
    if sign_in == "secret":
        assert env["AZURE_CLIENT_SECRET"] == bootstrap["client_secret"]
        assert env["AZURE_CLIENT_CERTIFICATE_PATH"] == ""
    else:
        assert env["AZURE_CLIENT_CERTIFICATE_PATH"] == files["client_certificate"]
        assert env["AZURE_CLIENT_SECRET"] == ""
    assert env["M365_CBA_CA_BUNDLE"] == files["ca_bundle"]
    assert env["M365_CBA_AUTHORITY_HOST"] == env["M365_CBA_GRAPH_ENDPOINT"] == emulator.base_url
    assert env["AZURE_CLIENT_CERTIFICATE_PASSWORD"] == ""
    assert env["M365_CBA_CLOUD"] == "global"
    assert extra_vars == {"m365_cba_pfx_password": pfx_password}

    cert_dir = tmp_path / "certificates" / tenant_name
    extravars = dict(extra_vars, m365_cba_certificate_dir=str(cert_dir))
    envvars = dict(env, M365_CBA_TOKEN_CACHE_DIR=str(tmp_path / "token-cache"))
    result = run_job(private_data_dir, collections_path, envvars, extravars, tenant_name)
    stdout, output = job_output(result)

    assert result.status == "successful", stdout[-4000:]
    assert result.rc == 0
    assert result.stats["failures"] == {} and result.stats["dark"] == {}
    assert tenant_name in result.stats["changed"]

    # The emulator, read independently of the modules: application with our certificate, service
    # principal, admin consent for Exchange.ManageAsApp and a directory role.
    state = emulator.state(tenant=tenant_name)["tenants"][0]
    app, sp, consent, roles = setup_objects(state)
    assert app is not None, f"no application {UNIQUE_NAME}"
    with open(cert_dir / f"{UNIQUE_NAME}.report.json", encoding="utf-8") as handle:
        report = json.load(handle)
    assert report["app_id"] == app["appId"] and report["verified"] is True
    assert report["thumbprint"] in [k.get("thumbprint_sha1") for k in app["keyCredentials"]]
    assert sp is not None and sp["id"] == report["service_principal_id"]
    assert len(consent) == 1
    assert roles, "no directory role assigned"

    # No secret in the output or the events: PFX password, bootstrap secret (right or wrong), private keys.
    assert pfx_password not in output
    assert bootstrap["client_secret"] not in output
    assert bootstrap["pfx_password"] not in output
    for key_file in [bootstrap["certificate_path"], *glob.glob(str(cert_dir / "*.key"))]:
        leaked = [line for line in pem_body_lines(key_file) if line in output]
        assert not leaked, f"private key material of {key_file} in the job output"
    assert "PRIVATE KEY" not in output


def test_setup_job_without_certificate_or_secret_fails_clearly(emulator, collections_path, tmp_path):
    """AWX accepts a credential with neither a certificate nor a secret; its job must fail on the
    first Graph task, say what is missing, and change nothing."""
    tenant_name = TENANTS["neither"]
    private_data_dir = tmp_path / "job"
    env, extra_vars, files = inject(credential_type(), credential_inputs(emulator, tenant_name, "unused-pfx-password", "neither"),
                                    str(private_data_dir))
    assert os.path.getsize(files["client_certificate"]) == 0  # AWX writes the file anyway
    assert env["AZURE_CLIENT_CERTIFICATE_PATH"] == env["AZURE_CLIENT_SECRET"] == ""

    extravars = dict(extra_vars, m365_cba_certificate_dir=str(tmp_path / "certificates" / tenant_name))
    envvars = dict(env, M365_CBA_TOKEN_CACHE_DIR=str(tmp_path / "token-cache"))
    result = run_job(private_data_dir, collections_path, envvars, extravars, tenant_name)
    stdout, dummy = job_output(result)

    assert result.status == "failed" and result.rc != 0
    assert tenant_name in result.stats["failures"]
    assert "no credential given: set client_secret, client_certificate_path or access_token" in stdout, stdout[-4000:]
    app, dummy, dummy, dummy = setup_objects(emulator.state(tenant=tenant_name)["tenants"][0])
    assert app is None
