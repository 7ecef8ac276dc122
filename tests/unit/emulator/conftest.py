# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for the emulator's own tests: one emulator per test module, reset before each test."""

import datetime
import os
import sys

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

EMULATOR_PATH = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "emulator"))
if EMULATOR_PATH not in sys.path:
    sys.path.insert(0, EMULATOR_PATH)

from m365emu import Emulator  # noqa: E402  pylint: disable=wrong-import-position

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
EXCHANGE_SCOPE = "https://outlook.office365.com/.default"


@pytest.fixture(scope="module")
def module_emulator(tmp_path_factory):
    with Emulator(str(tmp_path_factory.mktemp("emulator")), tenants=2) as emu:
        yield emu


@pytest.fixture
def emu(module_emulator, monkeypatch):
    """The module's emulator back at its seed state, with requests honouring only explicit CA bundles."""
    # requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override a session's `verify` (which is how
    # msal applies its `verify=` option), so they are removed for the test.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    module_emulator.reset(faults=True, requests=True, settings=True)
    return module_emulator


class GraphClient:
    """A bare Graph client for tests: one session, a bearer token, no retries."""

    def __init__(self, emulator, token):
        self.base_url = emulator.base_url
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = emulator.ca_bundle
        self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method, path, **kwargs):
        url = path if path.startswith("https://") else f"{self.base_url}/v1.0{path}"
        return self.session.request(method, url, timeout=10, **kwargs)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, body, **kwargs):
        return self.request("POST", path, json=body, **kwargs)

    def patch(self, path, body, **kwargs):
        return self.request("PATCH", path, json=body, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)


def token_request(emulator, tenant, form, path_tenant=None):
    session = requests.Session()
    session.trust_env = False
    url = f"{emulator.base_url}/{path_tenant or tenant['tenant_id']}/oauth2/v2.0/token"
    return session.post(url, data=form, verify=emulator.ca_bundle, timeout=10)


def secret_token(emulator, tenant, scope=GRAPH_SCOPE):
    bootstrap = tenant["bootstrap"]
    response = token_request(emulator, tenant, {
        "grant_type": "client_credentials", "client_id": bootstrap["client_id"],
        "client_secret": bootstrap["client_secret"], "scope": scope})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@pytest.fixture
def graph(emu):
    """graph(tenant_name='tenant01') -> GraphClient authenticated as the tenant's bootstrap app."""
    def factory(name="tenant01"):
        return GraphClient(emu, secret_token(emu, emu.tenant(name)))
    return factory


def make_certificate(common_name="test", not_before=None, days=365, key=None):
    """(private key PEM, certificate PEM, certificate) for a self-signed RSA certificate."""
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    start = not_before or datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=days)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode("ascii")
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode("ascii"), cert


@pytest.fixture
def raw_token(emu):
    """raw_token(tenant_info, form, path_tenant=None) -> requests.Response from the token endpoint."""
    return lambda tenant, form, path_tenant=None: token_request(emu, tenant, form, path_tenant)


@pytest.fixture
def new_certificate():
    return make_certificate


@pytest.fixture
def graph_as():
    """graph_as(emulator, access_token) -> GraphClient."""
    return GraphClient
