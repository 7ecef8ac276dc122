# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared code of the Exchange admin API tests: grants made through Graph, certificate tokens from real
msal, and a bare InvokeCommand client."""

import re

import msal
import requests

EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
EXCHANGE_SCOPE = "https://outlook.office365.com/.default"
COMPLIANCE_SCOPE = "https://ps.compliance.protection.outlook.com/.default"
ROLE_IDS = {
    "Exchange Administrator": "29232cdf-9323-42fd-ade2-1d097af3e4de",
    "Global Administrator": "62e90394-69f5-4237-9190-012177145e10",
    "Global Reader": "f2ef992c-3afb-46b9-b7cf-a126ee74c451",
    "Compliance Administrator": "17315797-102d-40b4-93e0-432062caca18",
    "Exchange Recipient Administrator": "31392ffb-586c-42d1-9346-e59415a2cc4e",
    "Application Administrator": "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
}
UNSUPPORTED = "isn't supported in this scenario"


def grant(client, tenant, app_roles=("Exchange.ManageAsApp",), directory_roles=()):
    """Give the tenant's bootstrap service principal Exchange app roles and directory roles through Graph."""
    sp_id = tenant["bootstrap"]["service_principal_id"]
    exchange = client.get(f"/servicePrincipals(appId='{EXCHANGE_APP_ID}')").json()
    ids = {role["value"]: role["id"] for role in exchange["appRoles"]}
    for value in app_roles:
        response = client.post(f"/servicePrincipals/{exchange['id']}/appRoleAssignedTo",
                               {"principalId": sp_id, "resourceId": exchange["id"], "appRoleId": ids[value]})
        assert response.status_code == 201, response.text
    for name in directory_roles:
        response = client.post("/roleManagement/directory/roleAssignments",
                               {"principalId": sp_id, "roleDefinitionId": ROLE_IDS[name], "directoryScopeId": "/"})
        assert response.status_code == 201, response.text


def _pem_blocks(path):
    with open(path, encoding="utf-8") as stream:
        text = stream.read()
    blocks = re.findall(r"-----BEGIN [A-Z ]+-----.*?-----END [A-Z ]+-----\n?", text, re.DOTALL)
    key = next(b for b in blocks if "PRIVATE KEY" in b)
    cert = next(b for b in blocks if "CERTIFICATE" in b)
    return key, cert


def certificate_token(emu, tenant, scope=EXCHANGE_SCOPE):
    """A fresh app-only token for ``scope`` from msal, signed in with the bootstrap application's certificate."""
    key, cert = _pem_blocks(tenant["bootstrap"]["certificate_path"])
    app = msal.ConfidentialClientApplication(
        tenant["bootstrap"]["client_id"], authority=f"{emu.base_url}/{tenant['tenant_id']}",
        client_credential={"private_key": key, "public_certificate": cert}, validate_authority=False,
        instance_discovery=False, verify=emu.ca_bundle)
    result = app.acquire_token_for_client([scope])
    assert "access_token" in result, result
    return result["access_token"]


class ExchangeClient:
    """POSTs CmdletInput bodies to the emulator, optionally as a named virtual host (Host header)."""

    def __init__(self, emu, token, host=None):
        self.base_url = emu.base_url
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = emu.ca_bundle
        self.token = token
        self.host = host

    def headers(self, extra=None):
        headers = {"Authorization": f"Bearer {self.token}"}
        if self.host:
            headers["Host"] = self.host
        headers.update(extra or {})
        return headers

    def url(self, tenant_segment, tail="InvokeCommand", version="beta"):
        return f"{self.base_url}/adminapi/{version}/{tenant_segment}/{tail}"

    def post(self, url, body, headers=None, **kwargs):
        return self.session.post(url, json=body, headers=self.headers(headers), timeout=10, allow_redirects=False,
                                 **kwargs)

    def invoke(self, tenant_segment, cmdlet, parameters=None, headers=None, version="beta", tail="InvokeCommand",
               query=""):
        cmdlet_input = {"CmdletName": cmdlet}
        if parameters is not None:
            cmdlet_input["Parameters"] = parameters
        url = self.url(tenant_segment, tail, version) + query
        return self.post(url, {"CmdletInput": cmdlet_input}, headers)

    def get(self, url, headers=None):
        return self.session.get(url, headers=self.headers(headers), timeout=10, allow_redirects=False)

    def follow(self, next_link):
        """The URL of an @odata.nextLink on the emulator (links name the virtual host the request used)."""
        return re.sub(r"^https://[^/]+", self.base_url, next_link)


def tid(emu, name="tenant01"):
    return emu.tenant(name)["tenant_id"]


def exchange_client(emu, graph, name="tenant01", directory_roles=("Exchange Administrator",),
                    app_roles=("Exchange.ManageAsApp",), scope=EXCHANGE_SCOPE, host=None):
    """An ExchangeClient for the tenant's bootstrap application, granted these roles, with a fresh token."""
    tenant = emu.tenant(name)
    grant(graph(name), tenant, app_roles, directory_roles)
    return ExchangeClient(emu, certificate_token(emu, tenant, scope), host)


def detail(response):
    """The "<error id>|<exception type>|<text>" of a cmdlet error, split."""
    return response.json()["error"]["details"][0]["message"].split("|", 2)
