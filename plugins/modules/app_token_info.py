#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: app_token_info
short_description: Prove that an application's certificate gets a token with the right roles
version_added: 1.0.0
description:
  - Signs in as the application O(app_id) with its certificate (PFX or PEM), exactly as
    C(Connect-ExchangeOnline -CertificateThumbPrint ... -AppID ...) does, and requests a token for O(resource)
    (by default the Exchange Online resource of O(cloud)).
  - Returns the token's non-secret claims (audience, roles, directory role template IDs, app ID, tenant,
    expiry); never the token itself.
  - With O(expect_roles) or O(expect_wids), fails with a clear message when the token lacks one. A new
    certificate or consent takes a while to reach the token service; the module keeps requesting new
    tokens, with a growing interval, for up to O(wait_timeout) seconds.
  - Changes nothing.
author:
  - m365.cba maintainers (@m365-cba)
extends_documentation_fragment:
  - m365.cba.graph_auth
  - m365.cba.attributes
  - m365.cba.attributes.info_module
  - m365.cba.attributes.actiongroup_graph
options:
  app_id:
    description: Application (client) ID to sign in as.
    type: str
    required: true
  certificate_path:
    description: The application's certificate with its private key, as a PFX file or a PEM file holding key and certificate.
    type: path
    required: true
  certificate_password:
    description: Password of the PFX file (or of the encrypted PEM key).
    type: str
  resource:
    description:
      - The resource to request the token for, as its App ID URI. Defaults to the Exchange Online resource of
        O(cloud), for example V(https://outlook.office365.com).
    type: str
  expect_roles:
    description: Application permissions the token's C(roles) claim must hold, for example V(Exchange.ManageAsApp).
    type: list
    elements: str
    default: []
  expect_wids:
    description: Directory role template IDs the token's C(wids) claim must hold.
    type: list
    elements: str
    default: []
  wait_timeout:
    description:
      - How many seconds to keep trying while the expectations are not met (or the new certificate is not yet
        known to the token service). V(0) checks once.
      - It also bounds the retries of a throttled (429) or failing (5xx) token request, so the task ends at most
        one token request after this time.
    type: int
    default: 120
notes:
  - The shared sign-in options O(client_id), O(client_secret), O(client_certificate_path) and O(access_token)
    are accepted so that C(module_defaults) for C(group/m365.cba.graph) can be used, and are ignored; this module
    signs in as O(app_id) with O(certificate_path). O(tenant_id), O(cloud), O(authority_host), O(ca_bundle) and
    O(validate_certs) apply.
  - No token is cached; each attempt is a new token request.
"""

EXAMPLES = r"""
# Sign-in: the tasks below pass no credential. They take it from module_defaults for
# group/m365.cba.graph, set once on the play (the m365_cba_* variables of the collection's
# inventory/example/):
#
#   - hosts: tenants
#     module_defaults:
#       group/m365.cba.graph:
#         tenant_id: "{{ m365_cba_tenant_id }}"
#         client_id: "{{ m365_cba_client_id }}"
#         client_certificate_path: "{{ m365_cba_client_certificate_path }}"
#     tasks:
#       # ... the tasks below
#
# m365.cba.app_token_info takes only tenant_id (and cloud, authority_host, ca_bundle, validate_certs)
# from them: it signs in as app_id with certificate_path.
#
# Or, without module_defaults, from the environment: AZURE_TENANT_ID, AZURE_CLIENT_ID and
# AZURE_CLIENT_CERTIFICATE_PATH (or AZURE_CLIENT_SECRET).
#
# m365_cba_certificate_dir and m365_cba_pfx_password are the setup role's variables
# (ansible-doc -t role m365.cba.setup); keep the password in a vault.

- name: Make the automation certificate on the control node
  m365.cba.certificate:
    path: "{{ m365_cba_certificate_dir }}"
    name: m365-cba-exchange-online
    common_name: m365-cba-exchange-online
    pfx_password: "{{ m365_cba_pfx_password }}"
  delegate_to: localhost
  register: cert

- name: Register the Exchange Online automation application
  m365.cba.application:
    unique_name: m365-cba-exchange-online
    display_name: Exchange Online automation
    api_permissions:
      - resource: Office 365 Exchange Online
        permissions: [Exchange.ManageAsApp]
  register: app

- name: Upload the certificate to it
  m365.cba.application_certificate:
    unique_name: m365-cba-exchange-online
    certificate_path: "{{ cert.cer_path }}"

- name: Create its service principal
  m365.cba.service_principal:
    app_id: "{{ app.application.app_id }}"
  register: sp

- name: Grant Exchange.ManageAsApp (admin consent)
  m365.cba.app_role_assignment:
    principal_id: "{{ sp.service_principal.id }}"
    resource: Office 365 Exchange Online
    permissions: [Exchange.ManageAsApp]

- name: Prove the certificate works for Exchange Online
  m365.cba.app_token_info:
    app_id: "{{ app.application.app_id }}"
    certificate_path: "{{ cert.pfx_path }}"
    certificate_password: "{{ m365_cba_pfx_password }}"
    expect_roles: [Exchange.ManageAsApp]
  register: proof

- name: Show the application permissions the token holds
  ansible.builtin.debug:
    msg: "{{ proof.claims.roles }}"

- name: Check that the application this play signs in as holds the Microsoft Graph permissions it needs
  m365.cba.app_token_info:
    app_id: "{{ m365_cba_client_id }}"
    certificate_path: "{{ m365_cba_client_certificate_path }}"
    resource: https://graph.microsoft.com
    expect_roles:
      - Application.ReadWrite.All
      - AppRoleAssignment.ReadWrite.All
      - RoleManagement.ReadWrite.Directory
      - Organization.Read.All
"""

RETURN = r"""
claims:
  description: Non-secret claims of the token.
  returned: success
  type: dict
  sample:
    aud: https://outlook.office365.com
    iss: https://sts.windows.net/0c5b9b5e-6f3a-4a43-9d0d-3b0e7d9a1c11/
    tid: 0c5b9b5e-6f3a-4a43-9d0d-3b0e7d9a1c11
    appid: 5a1c3f0e-8d2b-4c7a-9e61-2f4b8d0c7a35
    oid: cdb555e3-b33e-4fd5-a427-17fadacbdfa7
    roles:
      - Exchange.ManageAsApp
    wids:
      - 29232cdf-9323-42fd-ade2-1d097af3e4de
    appidacr: '2'
    expires_on: '2026-11-30T15:42:07Z'
  contains:
    aud:
      description: Audience, the resource.
      type: str
      sample: https://outlook.office365.com
    iss:
      description: Issuer.
      type: str
      sample: https://sts.windows.net/0c5b9b5e-6f3a-4a43-9d0d-3b0e7d9a1c11/
    tid:
      description: Tenant ID.
      type: str
      sample: 0c5b9b5e-6f3a-4a43-9d0d-3b0e7d9a1c11
    appid:
      description: The application the token was issued to.
      type: str
      sample: 5a1c3f0e-8d2b-4c7a-9e61-2f4b8d0c7a35
    oid:
      description: Object ID of the application's service principal.
      type: str
      sample: cdb555e3-b33e-4fd5-a427-17fadacbdfa7
    roles:
      description: Application permissions granted on the resource, sorted.
      type: list
      elements: str
      sample: [Exchange.ManageAsApp]
    wids:
      description: Directory role template IDs of the service principal, sorted.
      type: list
      elements: str
      sample:
        - 29232cdf-9323-42fd-ade2-1d097af3e4de
    appidacr:
      description: How the application authenticated; C(2) means a certificate.
      type: str
      sample: "2"
    expires_on:
      description: When the token expires (UTC).
      type: str
      sample: '2026-11-30T15:42:07Z'
attempts:
  description: How many tokens were requested.
  returned: success
  type: int
  sample: 1
"""

from ansible_collections.m365.cba.plugins.module_utils._auth import AuthError, Connection
from ansible_collections.m365.cba.plugins.module_utils._module import graph_spec
from ansible_collections.m365.cba.plugins.module_utils._runner import run_module
from ansible_collections.m365.cba.plugins.module_utils._token_check import check_app_token


def run(gm):
    params = gm.params
    if params["wait_timeout"] < 0:
        gm.fail("must be 0 or more", option="wait_timeout")
    shared = gm.connection
    connection = Connection(
        tenant_id=shared.tenant_id,
        client_id=params["app_id"],
        client_certificate_path=params["certificate_path"],
        client_certificate_password=params["certificate_password"],
        cloud=shared.cloud,
        authority_host=shared.authority_host,
        ca_bundle=shared.ca_bundle,
        validate_certs=shared.validate_certs,
        token_cache_dir="none",
        token_retry_timeout=shared.token_retry_timeout,
    )
    resource = params["resource"] or connection.cloud_info.exchange_resource
    try:
        summary, attempts, lacking_roles, lacking_wids = check_app_token(
            connection, resource, params["expect_roles"], params["expect_wids"], params["wait_timeout"])
    except AuthError as exc:
        if exc.option == "client_certificate_path":
            exc.option = "certificate_path"
        elif exc.option == "client_certificate_password":
            exc.option = "certificate_password"
        elif exc.option == "client_id":
            exc.option = "app_id"
        raise
    if lacking_roles or lacking_wids:
        problems = []
        if lacking_roles:
            problems.append(f"roles {', '.join(lacking_roles)} (has: {', '.join(summary['roles']) or 'none'})")
        if lacking_wids:
            problems.append(f"directory roles {', '.join(lacking_wids)} (has: {', '.join(summary['wids']) or 'none'})")
        gm.fail(f"the token of application {params['app_id']} for {resource} lacks {' and '.join(problems)} after {attempts} attempt(s); "
                "grant the permission (m365.cba.app_role_assignment) or the role (m365.cba.directory_role_assignment)",
                option="expect_roles" if lacking_roles else "expect_wids", claims=summary, attempts=attempts)
    gm.exit(False, claims=summary, attempts=attempts)


SPEC = graph_spec(
    argument_spec={
        "app_id": {"type": "str", "required": True},
        "certificate_path": {"type": "path", "required": True},
        "certificate_password": {"type": "str", "no_log": True},
        "resource": {"type": "str"},
        "expect_roles": {"type": "list", "elements": "str", "default": []},
        "expect_wids": {"type": "list", "elements": "str", "default": []},
        "wait_timeout": {"type": "int", "default": 120},
    },
)


def main():
    run_module(SPEC, run)


if __name__ == "__main__":
    main()
