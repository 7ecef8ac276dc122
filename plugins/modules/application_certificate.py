#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: application_certificate
short_description: Add or remove a certificate in a Microsoft Entra ID application's key credentials
version_added: 1.0.0
description:
  - Uploads the public part of a certificate to the C(keyCredentials) of an application registration,
    so the application can sign in with the certificate (for example C(Connect-ExchangeOnline
    -CertificateThumbprint)), or removes it.
  - Certificates are identified by their SHA-1 thumbprint. A certificate already present is left as it is;
    every other certificate of the application is kept unless O(exclusive) or O(prune_expired) says otherwise.
  - Microsoft Graph replaces the whole list on every write, so the module reads the full list first and
    writes it back with every entry it keeps unchanged. Nothing is written when nothing changes.
  - The application is found by O(unique_name), O(app_id) or O(object_id). It is never created here; use
    M(m365.cba.application) first.
author:
  - m365.cba maintainers (@m365-cba)
extends_documentation_fragment:
  - m365.cba.graph_auth
  - m365.cba.attributes
  - m365.cba.attributes.actiongroup_graph
attributes:
  check_mode:
    support: full
    details:
      - When the application does not exist in check mode, the module assumes an earlier task that also ran
        in check mode would have created it, and predicts the result for an application without
        certificates (a change with O(state=present)) instead of failing.
  diff_mode:
    support: full
    details:
      - Before and after list each certificate's thumbprint and validity dates, never key material.
  idempotent:
    support: full
options:
  state:
    description:
      - V(present) adds the certificate unless a certificate with its thumbprint is there already.
      - V(absent) removes every certificate with the thumbprint.
    type: str
    choices: [present, absent]
    default: present
  unique_name:
    description: The application's unique name (Graph C(uniqueName)), as set by M(m365.cba.application).
    type: str
  app_id:
    description: Find the application by its application (client) ID instead.
    type: str
  object_id:
    description: Find the application by its object ID instead.
    type: str
  certificate_path:
    description:
      - Path on the control node to the certificate, PEM (C(.crt), C(.pem)) or DER (C(.cer)).
      - Only the certificate is read; a file holding a private key alone is refused. Give the public
        certificate, never the key.
      - Mutually exclusive with O(certificate_content).
    type: path
  certificate_content:
    description:
      - The certificate as PEM text or as base64 of its DER form.
      - Mutually exclusive with O(certificate_path).
    type: str
  thumbprint:
    description:
      - SHA-1 thumbprint of the certificate, 40 hexadecimal characters (colons and spaces are ignored).
      - With O(state=absent), removes the certificate without needing the certificate itself.
      - With O(state=present), a safety check; the module fails when it differs from the certificate's.
    type: str
  display_name:
    description:
      - Display name of the key credential when the certificate is added.
      - Defaults to the common name of the certificate's subject.
      - Microsoft Graph does not allow changing an existing key credential, so this does not rename a
        certificate that is already there.
    type: str
  prune_expired:
    description:
      - Also remove every certificate whose end date has passed.
      - The certificate given is never removed by this with O(state=present).
      - With O(state=absent), this may be used without a certificate or thumbprint, only to prune.
    type: bool
    default: false
  exclusive:
    description:
      - Remove every other certificate of the application, so that only this one is left.
      - Only with O(state=present).
    type: bool
    default: false
  supersede:
    description:
      - Remove the other certificates that carry the same display name as this one (O(display_name)), that is the
        certificates this one replaces after a rotation. Certificates with other names are kept.
      - Only with O(state=present). Run it once the new certificate is proven to work.
    type: bool
    default: false
  supersede_grace_days:
    description:
      - With O(supersede), remove the replaced certificates only once this certificate has been valid for this
        many days, so that sessions still using an old certificate keep working meanwhile.
    type: int
    default: 0
notes:
  - Needs the Microsoft Graph application permission C(Application.ReadWrite.All).
  - A run reads the application with one single-object request that selects C(keyCredentials) (the only read
    for which Graph returns the certificates themselves); Microsoft throttles such requests to 150 per minute
    per tenant. A run that changes something adds one C(PATCH) and one read-back.
  - After a change, the module reads the application back until Graph returns the new list, so that a
    following task does not start from a replica that has not seen the change yet and drop it.
  - When the application is not found outside check mode, the module first waits up to O(replication_timeout)
    seconds for it to replicate (it may have been created by the previous task), then fails.
  - Graph has no conditional write for applications. Two writers changing the same application's
    certificates at the same moment can undo each other; serialise them (for example C(throttle=1)).
  - A certificate is added with type C(AsymmetricX509Cert), usage C(Verify), the certificate's own validity
    dates and the thumbprint as C(customKeyIdentifier), so that list reads can tell the thumbprint too.
seealso:
  - module: m365.cba.certificate
  - module: m365.cba.application
  - module: m365.cba.application_info
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
# or, without module_defaults, from the environment: AZURE_TENANT_ID, AZURE_CLIENT_ID and
# AZURE_CLIENT_CERTIFICATE_PATH (or AZURE_CLIENT_SECRET).
#
# m365_cba_certificate_dir and m365_cba_pfx_password are the setup role's variables
# (ansible-doc -t role m365.cba.setup); keep the password in a vault.

- name: Register the application
  m365.cba.application:
    unique_name: m365-cba-exchange-online
    display_name: Exchange Online automation
  register: app

- name: Make its certificate on the control node
  m365.cba.certificate:
    path: "{{ m365_cba_certificate_dir }}"
    name: exo-automation
    common_name: exo-automation
    pfx_password: "{{ m365_cba_pfx_password }}"
  delegate_to: localhost
  register: cert

- name: Upload the automation certificate, keeping the others
  m365.cba.application_certificate:
    unique_name: m365-cba-exchange-online
    certificate_path: "{{ cert.cer_path }}"

- name: Make its successor
  m365.cba.certificate:
    path: "{{ m365_cba_certificate_dir }}"
    name: exo-automation-2027
    common_name: exo-automation-2027
    pfx_password: "{{ m365_cba_pfx_password }}"
  delegate_to: localhost
  register: new_cert

- name: Rotate - upload the successor beside it, from the certificate module's result
  m365.cba.application_certificate:
    unique_name: m365-cba-exchange-online
    certificate_content: "{{ new_cert.certificate_base64 }}"
    display_name: exo-automation-2027

- name: Once the successor is in use, remove the old certificate by thumbprint, and every expired one
  m365.cba.application_certificate:
    app_id: "{{ app.application.app_id }}"
    thumbprint: "{{ cert.thumbprint }}"
    prune_expired: true
    state: absent

- name: Keep the successor only, removing any other certificate (one added in the portal, say)
  m365.cba.application_certificate:
    unique_name: m365-cba-exchange-online
    certificate_path: "{{ new_cert.cer_path }}"
    exclusive: true
"""

RETURN = r"""
thumbprint:
  description: SHA-1 thumbprint of the certificate given (uppercase hex). Null when only pruning.
  returned: always
  type: str
  sample: 2581BEE6F747A73E6CB7A89051028BADBB1BFAED
added:
  description: Thumbprints added (in check mode, that would be added).
  returned: always
  type: list
  elements: str
  sample: [2581BEE6F747A73E6CB7A89051028BADBB1BFAED]
removed:
  description:
    - Thumbprints removed (in check mode, that would be removed), one per removed key credential.
  returned: always
  type: list
  elements: str
  sample: []
application:
  description: The application. Its IDs are null in check mode when it does not exist yet.
  returned: always
  type: dict
  sample:
    id: 7c3e9a1d-52b4-4f0e-8a6c-1d9e3b7f2a45
    app_id: 5a1c3f0e-8d2b-4c7a-9e61-2f4b8d0c7a35
  contains:
    id:
      description: Object ID.
      type: str
      sample: 7c3e9a1d-52b4-4f0e-8a6c-1d9e3b7f2a45
    app_id:
      description: Application (client) ID.
      type: str
      sample: 5a1c3f0e-8d2b-4c7a-9e61-2f4b8d0c7a35
key_credentials:
  description: The application's key credentials after the change (in check mode, as they would be).
  returned: always
  type: list
  elements: dict
  contains:
    key_id:
      description: The key credential's ID.
      type: str
      sample: 0f0b7a5e-3b0f-4a57-9d4e-4b8f0c3f2a11
    thumbprint:
      description: SHA-1 thumbprint of the certificate, uppercase hex.
      type: str
      sample: 2581BEE6F747A73E6CB7A89051028BADBB1BFAED
    thumbprint_source:
      description: Where the thumbprint was read from, V(key) (the certificate itself) or V(custom_key_identifier).
      type: str
      sample: key
    display_name:
      description: Display name.
      type: str
      sample: exo-automation
    type:
      description: Credential type, normally C(AsymmetricX509Cert).
      type: str
      sample: AsymmetricX509Cert
    usage:
      description: Credential usage, normally C(Verify).
      type: str
      sample: Verify
    start_date_time:
      description: Start of validity, ISO 8601 UTC.
      type: str
      sample: '2026-11-26T23:10:41Z'
    end_date_time:
      description: End of validity, ISO 8601 UTC.
      type: str
      sample: '2027-11-26T23:15:41Z'
    days_to_expiry:
      description: Whole days until RV(key_credentials[].end_date_time); negative once expired.
      type: int
      sample: 364
    expired:
      description: Whether the end date has passed.
      type: bool
      sample: false
  sample:
    - key_id: 0f0b7a5e-3b0f-4a57-9d4e-4b8f0c3f2a11
      thumbprint: 2581BEE6F747A73E6CB7A89051028BADBB1BFAED
      thumbprint_source: key
      display_name: exo-automation
      type: AsymmetricX509Cert
      usage: Verify
      start_date_time: "2026-11-26T23:10:41Z"
      end_date_time: "2027-11-26T23:15:41Z"
      days_to_expiry: 364
      expired: false
"""

from ansible_collections.m365.cba.plugins.module_utils._applications import ApplicationInputError
from ansible_collections.m365.cba.plugins.module_utils._graph import GraphError
from ansible_collections.m365.cba.plugins.module_utils._key_credentials import (
    KeyCredentialInputError,
    check_request,
    diff_view,
    new_key_credential,
    read_key_credentials,
    reconcile,
    summarise_all,
    utc_now,
    validity_warning,
    wait_until_visible,
    write_key_credentials,
)
from ansible_collections.m365.cba.plugins.module_utils._module import graph_spec
from ansible_collections.m365.cba.plugins.module_utils._runner import run_module

KEY_OPTIONS = ("unique_name", "app_id", "object_id")


def run(gm):
    params = gm.params
    key_option = next(name for name in KEY_OPTIONS if params[name])
    cert_option = "certificate_path" if params["certificate_path"] else "certificate_content"
    try:
        certificate, thumbprint = check_request(params)
    except (ApplicationInputError, KeyCredentialInputError) as exc:
        gm.fail(exc.args[0], option=exc.option)

    now = utc_now()
    new_credential = None
    if params["state"] == "present":
        new_credential = new_key_credential(certificate, params["display_name"])
        problem = validity_warning(new_credential, now, cert_option)
        if problem:
            gm.warn(problem)

    keys = {name: params[name] for name in KEY_OPTIONS}
    try:
        # In check mode nothing earlier can have been written, so a missing application is not lag.
        app = read_key_credentials(gm.client, wait_for_replication=not gm.check_mode, **keys)
    except GraphError as exc:
        gm.fail(exc, option=key_option)
    if app is None and not gm.check_mode:
        gm.fail(f"no application with this {key_option}; create it with m365.cba.application first", option=key_option)

    current = (app or {}).get("keyCredentials") or []
    supersede = None
    if params["supersede"] and (now - certificate.not_valid_before_utc).total_seconds() >= params["supersede_grace_days"] * 86400:
        supersede = params["display_name"]
    plan = reconcile(current, thumbprint, new_credential, params["state"], params["prune_expired"],
                     params["exclusive"], now, supersede=supersede)
    if plan.changed and not gm.check_mode:
        try:
            write_key_credentials(gm.client, app["id"], plan.credentials)
        except GraphError as exc:
            gm.fail(exc, option=cert_option if plan.added else key_option)
        try:
            visible = wait_until_visible(gm.client, app["id"], plan.credentials)
        except GraphError as exc:
            gm.fail(exc, option=key_option)
        if not visible:
            gm.warn("the change was written, but Microsoft Graph still returned the previous certificates "
                    "when this task ended; a task reading them right now may not see it yet")
    gm.exit(
        plan.changed,
        thumbprint=thumbprint,
        added=plan.added,
        removed=plan.removed,
        application={"id": (app or {}).get("id"), "app_id": (app or {}).get("appId")},
        key_credentials=summarise_all(plan.credentials, now),
        diff=gm.diff(diff_view(current), diff_view(plan.credentials)),
    )


SPEC = graph_spec(
    argument_spec={
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "unique_name": {"type": "str"},
        "app_id": {"type": "str"},
        "object_id": {"type": "str"},
        "certificate_path": {"type": "path"},
        "certificate_content": {"type": "str"},
        "thumbprint": {"type": "str"},
        "display_name": {"type": "str"},
        "prune_expired": {"type": "bool", "default": False},
        "exclusive": {"type": "bool", "default": False},
        "supersede": {"type": "bool", "default": False},
        "supersede_grace_days": {"type": "int", "default": 0},
    },
    required_one_of=[list(KEY_OPTIONS)],
    mutually_exclusive=[list(KEY_OPTIONS), ["certificate_path", "certificate_content"]],
    required_if=[("state", "present", ("certificate_path", "certificate_content"), True)],
)


def main():
    run_module(SPEC, run)


if __name__ == "__main__":
    main()
