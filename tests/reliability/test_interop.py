# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The certificate files work with other tools, not only with this collection.

playbooks/setup.yml sets up one tenant of the emulator; its PFX (``modern`` encryption) is then
rebuilt with ``pfx_encryption: legacy`` by m365.cba.certificate, which keeps key and certificate.
Both PFX files must open with the ``openssl pkcs12`` command line (the legacy one also with
``-legacy``), and azure-identity's ``CertificateCredential``, Microsoft's own client library, must
get an Exchange Online token carrying ``Exchange.ManageAsApp`` with the PFX files and with the
PEM key and certificate.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

EMULATOR_TENANTS = 1
UNIQUE_NAME = "m365-cba-exchange-online"
EXCHANGE_SCOPE = "https://outlook.office365.com/.default"
OPENSSL = shutil.which("openssl")


@pytest.fixture(scope="module")
def material(ansible, emulator, tenant_inventory, tmp_path_factory):
    """The tenant set up by the role, and copies of its PFX in both encryptions."""
    emu = emulator
    emu.reset(faults=True, requests=True, settings=True)
    tmp = tmp_path_factory.mktemp("interop")
    cert_dir = tmp / "certificates" / "tenant01"
    pfx_password = "Pfx-" + secrets.token_urlsafe(18)
    extra_vars = {
        "m365_cba_pfx_password": pfx_password,
        "m365_cba_certificate_dir": str(tmp / "certificates") + "/{{ inventory_hostname }}",
        "m365_cba_token_cache_dir": str(tmp / "token-cache"),
        "m365_cba_verify_timeout": 30,
    }
    inventory = tenant_inventory(emu, tmp / "inventory.json")
    run = ansible.playbook(os.path.join(ansible.collection_dir, "playbooks", "setup.yml"),
                           inventory=inventory, extra_vars=extra_vars)
    assert run.rc == 0, run.output_tail(80)
    report = json.loads((cert_dir / f"{UNIQUE_NAME}.report.json").read_text(encoding="utf-8"))
    assert report["verified"] and "Exchange.ManageAsApp" in report["token_roles"], report
    modern = shutil.copyfile(report["pfx_path"], tmp / "modern.pfx")

    legacy_result, legacy_run = ansible.module("certificate", {
        "path": str(cert_dir), "name": UNIQUE_NAME, "common_name": UNIQUE_NAME,
        "pfx_password": pfx_password, "pfx_encryption": "legacy"})
    assert not legacy_run.failed("task"), legacy_result.get("msg")
    assert legacy_result["files_written"] == ["pfx"] and legacy_result["thumbprint"] == report["thumbprint"], legacy_result
    legacy = shutil.copyfile(report["pfx_path"], tmp / "legacy.pfx")

    pem = tmp / "key-and-certificate.pem"
    descriptor = os.open(pem, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write((cert_dir / f"{UNIQUE_NAME}.key").read_bytes() + (cert_dir / f"{UNIQUE_NAME}.crt").read_bytes())
    return {
        "emulator": emu, "tenant": emu.tenant("tenant01"), "report": report, "password": pfx_password,
        "modern": str(modern), "legacy": str(legacy), "pem": str(pem),
        "key": cert_dir / f"{UNIQUE_NAME}.key", "crt": cert_dir / f"{UNIQUE_NAME}.crt",
    }


# -- openssl ---------------------------------------------------------------------------------------

def openssl_pkcs12(pfx, password, *options):
    if OPENSSL is None:
        pytest.skip("the openssl command line is not installed")
    env = dict(os.environ, M365_CBA_PFX_PASSWORD=password)
    return subprocess.run([OPENSSL, "pkcs12", *options, "-in", pfx, "-passin", "env:M365_CBA_PFX_PASSWORD"],
                          capture_output=True, text=True, env=env, timeout=60, check=False)


def check_contents(material, pem_text):
    """The PEM openssl extracted holds exactly the certificate and key of the set."""
    certificate = x509.load_pem_x509_certificate(pem_text.encode())
    assert certificate.public_bytes(serialization.Encoding.DER) == \
        x509.load_pem_x509_certificate(material["crt"].read_bytes()).public_bytes(serialization.Encoding.DER)
    start = pem_text.index("-----BEGIN PRIVATE KEY-----")
    key = serialization.load_pem_private_key(pem_text[start:].encode(), None)
    expected = serialization.load_pem_private_key(material["key"].read_bytes(), None)
    assert key.private_numbers() == expected.private_numbers()


def test_modern_pfx_opens_with_openssl(material):
    info = openssl_pkcs12(material["modern"], material["password"], "-info", "-noout")
    assert info.returncode == 0, info.stderr
    assert "AES-256-CBC" in info.stderr and "hmacWithSHA256" in info.stderr and "MAC: sha256" in info.stderr, info.stderr
    extracted = openssl_pkcs12(material["modern"], material["password"], "-nodes")
    assert extracted.returncode == 0, extracted.stderr
    check_contents(material, extracted.stdout)
    wrong = openssl_pkcs12(material["modern"], material["password"] + "x", "-noout")
    assert wrong.returncode != 0


def test_legacy_pfx_opens_with_openssl_legacy(material):
    info = openssl_pkcs12(material["legacy"], material["password"], "-legacy", "-info", "-noout")
    assert info.returncode == 0, info.stderr
    assert "pbeWithSHA1And3-KeyTripleDES-CBC" in info.stderr and "MAC: sha1" in info.stderr, info.stderr
    assert "AES" not in info.stderr
    extracted = openssl_pkcs12(material["legacy"], material["password"], "-legacy", "-nodes")
    assert extracted.returncode == 0, extracted.stderr
    check_contents(material, extracted.stdout)


# -- azure-identity --------------------------------------------------------------------------------

def claims_of(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.fixture
def trust_emulator(material, monkeypatch):
    """Trust the emulator's CA in this process (azure-core also gets it as connection_verify)."""
    ca_bundle = material["emulator"].ca_bundle
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_bundle)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    for name in ("AZURE_AUTHORITY_HOST", "AZURE_REGIONAL_AUTHORITY_NAME", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    return ca_bundle


@pytest.mark.parametrize("source", ["modern", "legacy", "pem", "pem_with_chain"])
def test_azure_identity_gets_an_exchange_token(material, trust_emulator, source):
    identity = pytest.importorskip("azure.identity")
    emu, report = material["emulator"], material["report"]
    kwargs = {"password": material["password"]} if source in ("modern", "legacy") else {}
    path = material["pem"] if source.startswith("pem") else material[source]
    credential = identity.CertificateCredential(
        material["tenant"]["tenant_id"], report["app_id"], certificate_path=path,
        # azure-identity takes the authority as a host; a custom one needs instance discovery off.
        authority=emu.base_url.split("://", 1)[1], disable_instance_discovery=True,
        connection_verify=trust_emulator, send_certificate_chain=(source == "pem_with_chain"), **kwargs)
    with credential:
        token = credential.get_token(EXCHANGE_SCOPE)
    claims = claims_of(token.token)
    assert claims["aud"] == "https://outlook.office365.com"
    assert claims["appid"] == report["app_id"]
    assert claims["tid"] == material["tenant"]["tenant_id"]
    assert "Exchange.ManageAsApp" in claims.get("roles", []), claims
    assert claims.get("appidacr") == "2", claims  # signed in with a certificate
