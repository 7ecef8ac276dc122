# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Connection and authentication options shared by every module that talks to Microsoft Graph.
    DOCUMENTATION = r"""
options:
  tenant_id:
    description:
      - The Microsoft Entra ID tenant to sign in to, as its GUID or one of its domain names
        (for example V(contoso.onmicrosoft.com)).
      - If not set, the value of the E(AZURE_TENANT_ID) environment variable is used.
    type: str
    required: true
  client_id:
    description:
      - Application (client) ID of the identity the module signs in as (the bootstrap application).
      - Not needed when O(access_token) is given.
      - If not set, the value of the E(AZURE_CLIENT_ID) environment variable is used.
    type: str
  client_secret:
    description:
      - Client secret of O(client_id).
      - Mutually exclusive with O(client_certificate_path) and O(access_token).
      - If not set, the value of the E(AZURE_CLIENT_SECRET) environment variable is used.
    type: str
  client_certificate_path:
    description:
      - Path on the control node to the certificate of O(client_id), either a PEM file holding the
        private key and the certificate, or a PKCS#12 (PFX) file.
      - Mutually exclusive with O(client_secret) and O(access_token).
      - If not set, the value of the E(AZURE_CLIENT_CERTIFICATE_PATH) environment variable is used.
    type: path
  client_certificate_password:
    description:
      - Password of the PFX file or of the encrypted PEM private key in O(client_certificate_path).
      - If not set, the value of the E(AZURE_CLIENT_CERTIFICATE_PASSWORD) environment variable is used.
    type: str
  access_token:
    description:
      - A Microsoft Graph access token acquired elsewhere (for example with
        C(az account get-access-token --resource-type ms-graph)). No token is requested then.
      - Mutually exclusive with O(client_secret) and O(client_certificate_path).
      - If not set, the value of the E(M365_CBA_ACCESS_TOKEN) environment variable is used.
    type: str
  cloud:
    description:
      - The Microsoft cloud the tenant lives in. It decides the sign-in host, the Graph host and the
        Exchange Online resource.
      - If not set, the value of the E(M365_CBA_CLOUD) environment variable is used, then V(global).
    type: str
    choices: [global, usgov_high, usgov_dod, china]
  authority_host:
    description:
      - Overrides the sign-in host of O(cloud), for example V(https://127.0.0.1:8443) for a local
        test endpoint. Must be C(https).
      - If not set, the value of the E(M365_CBA_AUTHORITY_HOST) environment variable is used.
    type: str
  graph_endpoint:
    description:
      - Overrides the Microsoft Graph host of O(cloud). Must be C(https). The token is still requested
        for the Graph resource of O(cloud).
      - If not set, the value of the E(M365_CBA_GRAPH_ENDPOINT) environment variable is used.
    type: str
  ca_bundle:
    description:
      - Path to a PEM bundle of certificate authorities to trust for the sign-in and Graph endpoints,
        instead of the system defaults.
      - If not set, the value of the E(M365_CBA_CA_BUNDLE) environment variable is used.
    type: path
  validate_certs:
    description:
      - Whether to validate the TLS certificates of the endpoints. Only turn this off for a throwaway
        test endpoint.
      - If not set, the value of the E(M365_CBA_VALIDATE_CERTS) environment variable is used.
    type: bool
    default: true
  token_cache_dir:
    description:
      - Directory that keeps acquired access tokens until shortly before they expire, so that a
        playbook requests one token per tenant, client and resource instead of one per task.
        The directory is created with mode C(0700) and each file with mode C(0600).
      - A token is only reused by a task that presents the same credential it was acquired with.
      - The default is C(m365.cba-<uid>) under the system temporary directory, outside any
        repository. Set V(none) to keep no token beyond the task.
      - The directory must be owned by the user running the task and not writable by group or others,
        and every directory above it owned by root or that user and not writable by group or others
        unless it has the sticky bit (as C(/tmp) has). A directory given here that is not fails the task,
        naming it; the default one that is not is left unused, with a warning (its name is known in
        advance, so another local user may have made it), and tokens are then kept for the task only.
      - If not set, the value of the E(M365_CBA_TOKEN_CACHE_DIR) environment variable is used.
    type: str
  replication_timeout:
    description:
      - How many seconds the module waits for an object to become visible on every replica of the
        directory, when Microsoft Graph has just created it or it does not exist yet. Graph is
        eventually consistent; a new application or service principal can answer C(404) or
        C(does not reference a valid application object) for a while after it was written.
      - Within this time the module asks again, waiting longer between attempts; after it, the
        module fails, as it does for an object that really does not exist (for example a wrong
        application ID, which is only reported once this time has passed).
      - V(0) means do not wait. Must not be negative.
      - If not set, the value of the E(M365_CBA_REPLICATION_TIMEOUT) environment variable is used.
    type: int
    default: 60
  token_retry_timeout:
    description:
      - How many seconds, from the first request, the module keeps asking the sign-in service for a
        token when it answers C(429) or C(5xx) or drops the connection. A C(Retry-After) of up to 60
        seconds is honoured; otherwise the waits grow from 1 to 8 seconds, and at most 12 requests
        are sent. The default rides out an outage of about a minute.
      - When the time is up, the module fails with what the sign-in service answered last, its
        C(AADSTS) code and request ID.
      - V(0) means ask once. From V(0) to V(3600).
      - If not set, the value of the E(M365_CBA_TOKEN_RETRY_TIMEOUT) environment variable is used.
    type: int
    default: 90
notes:
  - A credential given to the task always wins over the environment. From the environment, empty variables
    are ignored and one credential is taken, in this order - E(AZURE_CLIENT_SECRET),
    E(AZURE_CLIENT_CERTIFICATE_PATH) (with E(AZURE_CLIENT_CERTIFICATE_PASSWORD)), E(M365_CBA_ACCESS_TOKEN).
  - The identity needs these Microsoft Graph application permissions, with admin consent,
    depending on the module; C(Application.ReadWrite.All), C(AppRoleAssignment.ReadWrite.All),
    C(RoleManagement.ReadWrite.Directory) and C(Organization.Read.All) cover them all.
requirements:
  - msal >= 1.35.0
  - requests >= 2.31.0
"""
