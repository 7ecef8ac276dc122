# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bad input, run as real Ansible tasks against the emulator.

Every case is one task of a single playbook (``ignore_errors``, results collected by the
``result_log`` callback). Each must fail with a message that names the option at fault or the
Graph/AADSTS code, without a traceback, and change nothing: the emulator's objects and the files
below the test's directory are compared before and after, and no write request may succeed.

The two cases that look up an application that does not exist wait out Graph's replication lag
before they fail, as documented: for ``replication_timeout`` seconds, 60 by default, here cut to
a few seconds (one through the option, one through ``M365_CBA_REPLICATION_TIMEOUT``).
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import uuid

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


NOW = datetime.datetime.now(datetime.timezone.utc)
UNKNOWN_GUID = "7d0c8a51-3b9e-4f0a-9c61-2e4b8d7f1a05"
# How long the two "slow" cases wait for an application that does not exist, and the default.
SHORT_REPLICATION_TIMEOUT = 3
DEFAULT_REPLICATION_TIMEOUT = 60


# -- material ---------------------------------------------------------------------------------------

def _key(kind):
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=int(kind))


def _certificate(key, common_name, not_before, not_after):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
            .sign(key, hashes.SHA256()))


def _key_pem(key, password=None):
    encryption = serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def _cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def _write(path, data, mode=0o600):
    with open(path, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)
    return str(path)


def make_inputs(folder):
    """Files the cases point at; written before the 'before' snapshot."""
    os.makedirs(folder, mode=0o700)
    valid = (NOW - datetime.timedelta(days=1), NOW + datetime.timedelta(days=30))
    files = {}

    rsa_key = _key(2048)
    rsa_cert = _certificate(rsa_key, "unknown", *valid)
    files["unknown_pem"] = _write(os.path.join(folder, "unknown.pem"), _key_pem(rsa_key) + _cert_pem(rsa_cert))
    files["key_only"] = _write(os.path.join(folder, "key-only.key"), _key_pem(rsa_key))
    files["cert_only"] = _write(os.path.join(folder, "cert-only.crt"), _cert_pem(rsa_cert), 0o644)
    other_key = _key(2048)
    files["mismatch"] = _write(os.path.join(folder, "mismatch.pem"), _key_pem(other_key) + _cert_pem(rsa_cert))
    files["encrypted"] = _write(os.path.join(folder, "encrypted.pem"), _key_pem(rsa_key, "s3cret-pem") + _cert_pem(rsa_cert))
    files["thumbprint"] = rsa_cert.fingerprint(hashes.SHA1()).hex().upper()
    other_cert = _certificate(other_key, "other", *valid)
    files["bundle_text"] = (_cert_pem(rsa_cert) + _cert_pem(other_cert)).decode()
    files["bundle"] = _write(os.path.join(folder, "bundle.pem"), _cert_pem(rsa_cert) + _cert_pem(other_cert), 0o644)

    ec_key = _key("ec")
    files["ec_pem"] = _write(os.path.join(folder, "ec.pem"), _key_pem(ec_key) + _cert_pem(_certificate(ec_key, "ec", *valid)))
    small_key = _key(1024)
    files["rsa1024_pem"] = _write(os.path.join(folder, "rsa1024.pem"),
                                  _key_pem(small_key) + _cert_pem(_certificate(small_key, "rsa1024", *valid)))

    expired_key = _key(2048)
    expired_cert = _certificate(expired_key, "expired", NOW - datetime.timedelta(days=60), NOW - datetime.timedelta(days=1))
    files["expired_pem"] = _write(os.path.join(folder, "expired.pem"), _key_pem(expired_key) + _cert_pem(expired_cert))
    files["expired_der_b64"] = base64.b64encode(expired_cert.public_bytes(serialization.Encoding.DER)).decode()

    files["corrupt_pfx"] = _write(os.path.join(folder, "corrupt.pfx"), os.urandom(1500))
    files["a_file"] = _write(os.path.join(folder, "not-a-directory"), b"a file where a directory belongs\n", 0o644)
    os.makedirs(os.path.join(folder, "a-directory"))
    files["a_directory"] = os.path.join(folder, "a-directory")
    files["certs"] = os.path.join(folder, "certs")
    return files


def unwritable_directory(folder):
    """An existing directory this process cannot create files in, or None."""
    candidate = os.path.join(folder, "read-only")
    os.makedirs(candidate)
    os.chmod(candidate, 0o500)
    probe = os.path.join(candidate, ".probe")
    try:
        with open(probe, "wb"):
            pass
    except OSError:
        return candidate
    os.unlink(probe)
    os.chmod(candidate, 0o700)
    os.rmdir(candidate)
    # Running as root: permissions do not stop us; /proc/sys does (no regular files can be made there).
    try:
        descriptor = os.open("/proc/sys/.m365-cba-probe", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return "/proc/sys"
    os.close(descriptor)
    return None


def register_expired_certificate(emu, tenant, der_b64):
    """Add an already expired certificate to the bootstrap application (as Graph allows)."""
    info = emu.tenant(tenant)
    bootstrap = info["bootstrap"]
    session = requests.Session()
    session.trust_env = False
    session.verify = emu.ca_bundle
    token = session.post(f"{emu.base_url}/{info['tenant_id']}/oauth2/v2.0/token", timeout=10, data={
        "grant_type": "client_credentials", "client_id": bootstrap["client_id"],
        "client_secret": bootstrap["client_secret"], "scope": "https://graph.microsoft.com/.default"}).json()["access_token"]
    session.headers["Authorization"] = f"Bearer {token}"
    url = f"{emu.base_url}/v1.0/applications/{bootstrap['application_id']}"
    current = session.get(url, params={"$select": "keyCredentials"}, timeout=10).json()["keyCredentials"]
    new = {"type": "AsymmetricX509Cert", "usage": "Verify", "key": der_b64, "displayName": "expired"}
    response = session.patch(url, json={"keyCredentials": current + [new]}, timeout=10)
    assert response.status_code == 204, response.text


# -- the cases -------------------------------------------------------------------------------------

def build_cases(emu, files, unwritable):
    """``(case id, module, options, expected substrings, extra task keywords)``.

    Options are merged over the bootstrap connection of tenant01 (PEM certificate), or of the tenant
    named by ``"_connection"``; an option set to None is left out. ``"_async"`` runs the case in the
    background; ``"_environment"`` sets the task's environment. m365.cba.certificate gets no
    connection options.
    """
    t1 = emu.tenant("tenant01")
    boot = t1["bootstrap"]
    sp_id = boot["service_principal_id"]
    no_cert = {"client_certificate_path": None}
    certs = files["certs"]
    cert_ok = {"path": certs, "name": "case", "pfx_password": "Pfx-Passw0rd!-long-enough"}
    exo = "Office 365 Exchange Online"
    cases = [
        # -- connection and sign-in ---------------------------------------------------------------
        ("tenant_malformed", "organization_info", {"tenant_id": "contoso tenant/01"}, ["tenant_id"]),
        ("tenant_unknown", "organization_info", {"tenant_id": str(uuid.uuid4())}, ["tenant_id"]),
        ("tenant_unknown_domain", "organization_info", {"tenant_id": "no-such-tenant.onmicrosoft.com"}, ["tenant_id"]),
        ("client_unknown", "organization_info", {"client_id": str(uuid.uuid4())}, ["client_id", "700016"]),
        ("client_secret_wrong", "organization_info", dict(no_cert, client_secret="not-the-secret"),
         ["client_secret", "7000215"]),
        ("client_secret_without_client_id", "organization_info",
         dict(no_cert, client_id=None, client_secret="whatever"), ["client_id"]),
        ("no_credential", "organization_info", no_cert, ["client_secret", "client_certificate_path", "access_token"]),
        ("credentials_conflict", "organization_info", {"client_secret": boot["client_secret"]},
         ["mutually exclusive", "client_secret", "client_certificate_path"]),
        ("bootstrap_cert_unknown", "organization_info", {"client_certificate_path": files["unknown_pem"]},
         ["client_certificate_path", "700027"]),
        ("bootstrap_cert_expired", "organization_info", {"client_certificate_path": files["expired_pem"]},
         ["client_certificate_path", "700027"]),
        ("bootstrap_key_ec", "organization_info", {"client_certificate_path": files["ec_pem"]},
         ["client_certificate_path", "RSA"]),
        ("bootstrap_key_rsa1024", "organization_info", {"client_certificate_path": files["rsa1024_pem"]},
         ["client_certificate_path", "700027"]),
        ("bootstrap_pfx_password_wrong", "organization_info",
         {"client_certificate_path": boot["pfx_path"], "client_certificate_password": "wrong"}, ["client_certificate_password"]),
        ("bootstrap_pfx_password_empty", "organization_info",
         {"client_certificate_path": boot["pfx_path"], "client_certificate_password": ""}, ["client_certificate_password"]),
        ("bootstrap_pfx_corrupt", "organization_info", {"client_certificate_path": files["corrupt_pfx"]},
         ["client_certificate_path"]),
        ("bootstrap_cert_path_missing", "organization_info",
         {"client_certificate_path": os.path.join(certs, "missing.pem")}, ["client_certificate_path", "not found"]),
        ("bootstrap_cert_path_directory", "organization_info", {"client_certificate_path": files["a_directory"]},
         ["client_certificate_path"]),
        ("bootstrap_pem_key_only", "organization_info", {"client_certificate_path": files["key_only"]},
         ["client_certificate_path"]),
        ("bootstrap_pem_certificate_only", "organization_info", {"client_certificate_path": files["cert_only"]},
         ["client_certificate_path"]),
        ("bootstrap_pem_key_mismatch", "organization_info", {"client_certificate_path": files["mismatch"]},
         ["client_certificate_path"]),
        ("bootstrap_pem_encrypted_no_password", "organization_info", {"client_certificate_path": files["encrypted"]},
         ["client_certificate_password"]),
        ("bootstrap_pem_encrypted_wrong_password", "organization_info",
         {"client_certificate_path": files["encrypted"], "client_certificate_password": "wrong"}, ["client_certificate_password"]),
        ("access_token_garbage", "organization_info", dict(no_cert, client_id=None, access_token="not-a-token"),
         ["access_token"]),
        ("cloud_unknown", "organization_info", {"cloud": "germany"}, ["cloud"]),
        ("ca_bundle_missing", "organization_info", {"ca_bundle": os.path.join(certs, "missing-ca.pem")}, ["ca_bundle"]),
        ("ca_bundle_not_a_ca", "organization_info", {"ca_bundle": files["key_only"]}, ["ca_bundle"]),
        # A CA bundle that does not hold the endpoint's CA: at the token endpoint, then (token cached) at Graph.
        ("ca_bundle_wrong_ca", "organization_info", {"ca_bundle": files["cert_only"], "token_cache_dir": "none"},
         ["ca_bundle"]),
        ("ca_bundle_wrong_ca_graph", "organization_info", {"ca_bundle": files["cert_only"]}, ["ca_bundle"]),
        ("authority_host_http", "organization_info", {"authority_host": emu.base_url.replace("https://", "http://")},
         ["authority_host", "https"]),
        ("graph_endpoint_http", "organization_info", {"graph_endpoint": emu.base_url.replace("https://", "http://")},
         ["graph_endpoint", "https"]),
        ("permission_missing_organization", "organization_info", {"_connection": "tenant02"},
         ["403", "Organization.Read.All"]),
        ("permission_missing_application", "application",
         {"_connection": "tenant02", "unique_name": "m365-cba-bad-input", "display_name": "bad input"},
         ["403", "Application.ReadWrite.All"]),
        ("permission_missing_role_assignment", "directory_role_assignment",
         {"_connection": "tenant02", "principal_id": emu.tenant("tenant02")["bootstrap"]["service_principal_id"],
          "roles": ["Exchange Administrator"]}, ["403", "RoleManagement"]),
        # -- application ------------------------------------------------------------------------
        ("unique_name_invalid", "application", {"unique_name": "bad name/with slash", "display_name": "x"}, ["unique_name"]),
        ("display_name_too_long", "application", {"unique_name": "m365-cba-bad-input", "display_name": "x" * 121},
         ["display_name", "120"]),
        ("display_name_missing_for_create", "application", {"unique_name": "m365-cba-bad-input"}, ["display_name"]),
        ("display_name_too_long_for_personal_accounts", "application",
         {"unique_name": "m365-cba-bad-input", "display_name": "x" * 91, "sign_in_audience": "AzureADandPersonalMicrosoftAccount"},
         ["display_name", "90"]),
        ("cloud_with_global_graph_endpoint", "organization_info",
         {"cloud": "usgov_high", "graph_endpoint": "https://graph.microsoft.com"}, ["graph_endpoint", "cloud is usgov_high"]),
        ("cloud_with_global_authority_host", "organization_info",
         {"cloud": "usgov_high", "authority_host": "https://login.microsoftonline.com"},
         ["authority_host", "cloud is usgov_high"]),
        ("tags_with_spaces", "application", {"unique_name": "m365-cba-bad-input", "display_name": "x",
                                             "tags": ["has space"]}, ["tags"]),
        ("api_permission_unknown_resource", "application",
         {"unique_name": "m365-cba-bad-input", "display_name": "x",
          "api_permissions": [{"resource": "Office 365 Exchange Offline", "permissions": ["Exchange.ManageAsApp"]}]},
         ["api_permissions", "Office 365 Exchange Offline"]),
        ("api_permission_unknown_name", "application",
         {"unique_name": "m365-cba-bad-input", "display_name": "x",
          "api_permissions": [{"resource": exo, "permissions": ["Exchange.ManageAsAppp"]}]},
         ["api_permissions", "Exchange.ManageAsAppp"]),
        ("application_app_id_unknown", "application", {"app_id": UNKNOWN_GUID, "display_name": "x"}, ["app_id"]),
        ("sign_in_audience_invalid", "application",
         {"unique_name": "m365-cba-bad-input", "display_name": "x", "sign_in_audience": "Everyone"}, ["sign_in_audience"]),
        ("application_keys_conflict", "application", {"unique_name": "m365-cba-bad-input", "app_id": UNKNOWN_GUID},
         ["mutually exclusive", "unique_name", "app_id"]),
        ("application_info_limit_zero", "application_info", {"limit": 0}, ["limit"]),
        # -- certificate (local files) ----------------------------------------------------------
        ("valid_days_zero", "certificate", dict(cert_ok, valid_days=0), ["valid_days"]),
        ("valid_days_negative", "certificate", dict(cert_ok, valid_days=-5), ["valid_days"]),
        ("valid_days_absurd", "certificate", dict(cert_ok, valid_days=100000), ["valid_days", "3650"]),
        ("renew_before_days_negative", "certificate", dict(cert_ok, renew_before_days=-1), ["renew_before_days"]),
        ("pfx_password_empty", "certificate", dict(cert_ok, pfx_password=""), ["pfx_password"]),
        ("pfx_password_missing", "certificate", {"path": certs, "name": "case"}, ["pfx_password"]),
        ("pfx_password_short", "certificate", dict(cert_ok, pfx_password="F3"), ["pfx_password", "16 characters"]),
        ("pfx_password_fifteen", "certificate", dict(cert_ok, pfx_password="fifteen-chars!!"), ["pfx_password", "16"]),
        ("pfx_password_line_break", "certificate", dict(cert_ok, pfx_password="Pfx-Passw0rd!-long\nenough"),
         ["pfx_password", "control character"]),
        ("valid_days_not_above_renew_before_days", "certificate", dict(cert_ok, valid_days=1),
         ["renew_before_days", "valid_days"]),
        ("common_name_dn_syntax", "certificate", dict(cert_ok, common_name="CN=a,b"), ["common_name", "distinguished name"]),
        ("key_size_1024", "certificate", dict(cert_ok, key_size=1024), ["key_size"]),
        ("common_name_too_long", "certificate", dict(cert_ok, common_name="c" * 65), ["common_name", "64"]),
        ("dns_name_with_space", "certificate", dict(cert_ok, dns_names=["bad name.example"]), ["dns_names"]),
        ("name_with_directory", "certificate", dict(cert_ok, name="../escape"), ["name"]),
        ("path_is_a_file", "certificate", dict(cert_ok, path=files["a_file"]), ["path", "not a directory"]),
        ("path_below_a_file", "certificate", dict(cert_ok, path=os.path.join(files["a_file"], "certs")), ["path"]),
        ("pfx_encryption_unknown", "certificate", dict(cert_ok, pfx_encryption="rc2"), ["pfx_encryption"]),
        # -- application_certificate ------------------------------------------------------------
        ("upload_private_key_as_certificate", "application_certificate",
         {"app_id": boot["client_id"], "certificate_path": files["key_only"]}, ["certificate_path", "private key"]),
        ("upload_pem_bundle", "application_certificate",
         {"app_id": boot["client_id"], "certificate_path": files["bundle"]}, ["certificate_path", "2 certificates"]),
        ("upload_pem_bundle_content", "application_certificate",
         {"app_id": boot["client_id"], "certificate_content": files["bundle_text"]}, ["certificate_content", "2 certificates"]),
        ("upload_pfx_as_certificate", "application_certificate",
         {"app_id": boot["client_id"], "certificate_path": boot["pfx_path"]}, ["certificate_path"]),
        ("upload_certificate_content_garbage", "application_certificate",
         {"app_id": boot["client_id"], "certificate_content": "this is not a certificate"}, ["certificate_content"]),
        ("upload_certificate_path_missing", "application_certificate",
         {"app_id": boot["client_id"], "certificate_path": os.path.join(certs, "missing.crt")}, ["certificate_path"]),
        ("upload_thumbprint_mismatch", "application_certificate",
         {"app_id": boot["client_id"], "certificate_path": files["cert_only"], "thumbprint": "00" * 20},
         ["certificate_path", "thumbprint"]),
        ("remove_thumbprint_malformed", "application_certificate",
         {"app_id": boot["client_id"], "thumbprint": "XYZ", "state": "absent"}, ["thumbprint"]),
        ("upload_both_certificate_options", "application_certificate",
         {"app_id": boot["client_id"], "certificate_path": files["cert_only"], "certificate_content": "x"},
         ["mutually exclusive", "certificate_path", "certificate_content"]),
        ("supersede_without_display_name", "application_certificate",
         {"app_id": boot["client_id"], "certificate_path": files["cert_only"], "supersede": True}, ["supersede"]),
        # -- service_principal ------------------------------------------------------------------
        ("service_principal_app_id_not_guid", "service_principal", {"app_id": "my-application"}, ["app_id"]),
        ("service_principal_app_id_missing", "service_principal", {}, ["app_id"]),
        ("service_principal_tags_with_spaces", "service_principal", {"app_id": boot["client_id"], "tags": ["a b"]}, ["tags"]),
        # -- app_role_assignment ----------------------------------------------------------------
        ("grant_unknown_permission", "app_role_assignment",
         {"principal_id": sp_id, "resource": exo, "permissions": ["Exchange.ManageAsAp"]}, ["permissions", "Exchange.ManageAsAp"]),
        ("grant_unknown_resource", "app_role_assignment",
         {"principal_id": sp_id, "resource": "Office 365 Exchange Offline", "permissions": ["Exchange.ManageAsApp"]},
         ["resource"]),
        ("grant_principal_not_guid", "app_role_assignment",
         {"principal_id": "my-service-principal", "resource": exo, "permissions": ["Exchange.ManageAsApp"]}, ["principal_id"]),
        ("grant_without_permissions", "app_role_assignment", {"principal_id": sp_id, "resource": exo}, ["permissions"]),
        # -- directory_role_assignment ----------------------------------------------------------
        ("role_unknown_name", "directory_role_assignment", {"principal_id": sp_id, "roles": ["Exchange Admin"]},
         ["roles", "Exchange Admin"]),
        ("role_scope_invalid", "directory_role_assignment",
         {"principal_id": sp_id, "roles": ["Exchange Administrator"], "directory_scope_id": "tenant"}, ["directory_scope_id"]),
        ("role_principal_conflict", "directory_role_assignment",
         {"principal_id": sp_id, "principal_app_id": boot["client_id"], "roles": ["Exchange Administrator"]},
         ["mutually exclusive", "principal_id", "principal_app_id"]),
        # -- app_token_info ---------------------------------------------------------------------
        ("token_wait_timeout_negative", "app_token_info",
         {"app_id": boot["client_id"], "certificate_path": boot["certificate_path"], "wait_timeout": -1}, ["wait_timeout"]),
        ("token_certificate_password_wrong", "app_token_info",
         {"app_id": boot["client_id"], "certificate_path": boot["pfx_path"], "certificate_password": "wrong", "wait_timeout": 0},
         ["certificate_password"]),
        ("token_certificate_path_missing", "app_token_info",
         {"app_id": boot["client_id"], "certificate_path": os.path.join(certs, "missing.pfx"), "wait_timeout": 0},
         ["certificate_path"]),
        ("token_certificate_unknown", "app_token_info",
         {"app_id": boot["client_id"], "certificate_path": files["unknown_pem"], "wait_timeout": 0},
         ["certificate_path", "700027"]),
        ("token_app_id_unknown", "app_token_info",
         {"app_id": str(uuid.uuid4()), "certificate_path": files["unknown_pem"], "wait_timeout": 0}, ["app_id", "700016"]),
        ("token_lacks_role", "app_token_info",
         {"app_id": boot["client_id"], "certificate_path": boot["certificate_path"], "expect_roles": ["Exchange.ManageAsApp"],
          "wait_timeout": 0}, ["expect_roles", "Exchange.ManageAsApp"]),
        # -- slow: an application that does not exist, after waiting out replication lag ---------
        ("upload_to_unknown_app_id", "application_certificate",
         # async: the action plugin runs the module as a module process (the other cases run in the worker).
         {"app_id": UNKNOWN_GUID, "certificate_path": files["cert_only"], "replication_timeout": SHORT_REPLICATION_TIMEOUT,
          "_async": True}, ["app_id"]),
        ("service_principal_for_unknown_app_id", "service_principal",
         {"app_id": UNKNOWN_GUID, "_environment": {"M365_CBA_REPLICATION_TIMEOUT": str(SHORT_REPLICATION_TIMEOUT)}},
         ["app_id"]),
        ("replication_timeout_negative", "organization_info", {"replication_timeout": -1}, ["replication_timeout"]),
        ("replication_timeout_not_a_number", "organization_info", {"replication_timeout": "a minute"},
         ["replication_timeout"]),
    ]
    if unwritable:
        cases.append(("path_unwritable", "certificate", dict(cert_ok, path=unwritable), ["path"]))
    cases.append(("path_not_creatable", "certificate", dict(cert_ok, path="/proc/m365-cba-missing/certs"), ["path"]))
    return cases


def _connection(emu, which, cache_dir, connect):
    tenant = which or "tenant01"
    return connect(emu, tenant, "certificate", token_cache_dir=os.path.join(cache_dir, tenant))


def build_playbook(emu, cases, cache_dir, connect):
    started, tasks, collect = [], [], []
    for case_id, module, options, _expected in cases:
        options = dict(options)
        is_async = options.pop("_async", False)
        which = options.pop("_connection", None)
        environment = options.pop("_environment", None)
        args = {}
        if module != "certificate":
            args.update(_connection(emu, which, cache_dir, connect))
        args.update(options)
        args = {k: v for k, v in args.items() if v is not None}
        task = {"name": case_id, "m365.cba." + module: args, "ignore_errors": True}
        if environment:
            task["environment"] = environment
        if is_async:
            started.append(dict(task, name=f"{case_id} (start)", register=f"job_{case_id}", **{"async": 300, "poll": 0}))
            collect.append({"name": case_id, "ansible.builtin.async_status": {"jid": f"{{{{ job_{case_id}.ansible_job_id }}}}"},
                            "register": f"status_{case_id}", "until": f"status_{case_id}.finished", "retries": 150,
                            "delay": 1, "ignore_errors": True})
        else:
            tasks.append(task)
    # One good call first, so that the token cache holds tenant01's Graph token.
    warm_up = {"name": "warm-up", "m365.cba.organization_info": _connection(emu, None, cache_dir, connect)}
    return [{"name": "Bad input", "hosts": "localhost", "gather_facts": False,
             "tasks": [warm_up] + started + tasks + collect}]


def graph_writes(emu):
    return [f"{r['method']} {r['path']} -> {r['status']}" for r in emu.requests()
            if r["method"] in ("POST", "PATCH", "PUT", "DELETE") and "/oauth2/" not in r["path"] and r["status"] < 400]


def test_bad_input_fails_cleanly_and_changes_nothing(ansible, emu, tmp_path, snapshots, emulator_connection):
    files = make_inputs(str(tmp_path / "inputs"))
    unwritable = unwritable_directory(str(tmp_path))
    register_expired_certificate(emu, "tenant01", files["expired_der_b64"])
    # tenant02's bootstrap identity may only read applications.
    emu.set_bootstrap_permissions("tenant02", ["Application.Read.All"])
    cases = build_cases(emu, files, unwritable)
    assert len(cases) >= 30
    playbook = build_playbook(emu, cases, str(tmp_path / "token-cache"), emulator_connection)

    emu.reset_requests()
    state_before = snapshots["emulator"](emu)
    files_before = snapshots["tree"](tmp_path / "inputs")
    run = ansible.playbook(playbook, timeout=400)
    state_after = snapshots["emulator"](emu)
    files_after = snapshots["tree"](tmp_path / "inputs")

    problems, timings = [], []
    if run.failed("warm-up"):
        problems.append(f"the warm-up task failed: {run.task('warm-up').get('msg')}")
    for case_id, module, _options, expected in cases:
        try:
            result = run.task(case_id)
        except KeyError:
            problems.append(f"{case_id}: no result")
            continue
        text = json.dumps(result)
        msg = str(result.get("msg", ""))
        timings.append((run.entry(case_id)["seconds"], case_id))
        print(f"{case_id:40} {msg[:200]}")
        if not run.failed(case_id):
            problems.append(f"{case_id} ({module}): did not fail: {text[:300]}")
            continue
        if result.get("changed"):
            problems.append(f"{case_id} ({module}): reports changed=true")
        for key in ("module_stderr", "module_stdout"):
            if result.get(key):
                problems.append(f"{case_id} ({module}): has {key}: {str(result[key])[-400:]}")
        # ansible-core 2.19 marks every failure with a placeholder when the module sent no traceback.
        if result.get("exception") not in (None, "", "(traceback unavailable)"):
            problems.append(f"{case_id} ({module}): has an exception: {str(result['exception'])[-400:]}")
        if "Traceback" in text:
            problems.append(f"{case_id} ({module}): traceback in the result")
        missing = [word for word in expected if word.lower() not in msg.lower()]
        if missing:
            problems.append(f"{case_id} ({module}): message lacks {missing}: {msg!r}")
    if "Traceback" in run.stdout + run.stderr or "exception occurred" in run.stdout + run.stderr:
        problems.append("a traceback or exception in the playbook output:\n" + run.output_tail())
    writes = graph_writes(emu)
    if writes:
        problems.append(f"write requests reached Graph: {writes}")
    if state_after != state_before:
        changed = [f"{after['name']}.{table}" for before, after in zip(state_before["tenants"], state_after["tenants"])
                   for table in after if before.get(table) != after[table]]
        problems.append(f"the emulator's state changed: {changed}")
    if files_after != files_before:
        changed = sorted(set(files_after.items()) ^ set(files_before.items()))
        problems.append(f"files changed: {changed}")
    for case_id in ("service_principal_for_unknown_app_id",):
        # It waited for replication (at least the first 1 s wait), within the short replication_timeout
        # (no wait ends past it), not the default minute. (The async case's time is not the module's.)
        seconds = dict((name, took) for took, name in timings).get(case_id)
        if seconds is not None and not 1 <= seconds < DEFAULT_REPLICATION_TIMEOUT / 2:
            problems.append(f"{case_id}: took {seconds} s with replication_timeout={SHORT_REPLICATION_TIMEOUT}")
    print(f"{len(cases)} cases in {run.duration:.1f} s; slowest: {sorted(timings, reverse=True)[:8]}")
    assert not problems, "\n".join(problems)


def test_replication_timeout_defaults_to_a_minute(ansible, monkeypatch):
    """The slow cases above shorten it; a task that does not set it waits a minute, as documented."""
    import yaml

    root = os.path.dirname(os.path.dirname(os.path.dirname(ansible.collection_dir)))
    monkeypatch.syspath_prepend(root)
    from ansible_collections.m365.cba.plugins.doc_fragments.graph_auth import ModuleDocFragment  # pylint: disable=import-error
    from ansible_collections.m365.cba.plugins.module_utils._module import (  # pylint: disable=import-error
        graph_argument_spec,
        retry_policy,
    )

    spec = graph_argument_spec()["replication_timeout"]
    assert spec["default"] == DEFAULT_REPLICATION_TIMEOUT
    assert retry_policy({"replication_timeout": spec["default"]}).lag_timeout == DEFAULT_REPLICATION_TIMEOUT
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]["replication_timeout"]
    assert documented["default"] == DEFAULT_REPLICATION_TIMEOUT and documented["type"] == "int"
