# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Files the emulator writes for its clients: bootstrap credentials per tenant, emulator.json and
an Ansible inventory of the tenants."""

import json
import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from .crypto import cert_der, load_cert_pem, load_key_pem, sha256_hex
from .files import write_bytes, write_json, write_private, write_text


def write_bootstrap_files(state_dir, tenant):
    """Write DIR/tenants/<name>/bootstrap.{json,pem,pfx,cer} and bootstrap-cert.pem; return the JSON."""
    material = tenant.bootstrap
    folder = os.path.join(state_dir, "tenants", tenant.name)
    key = load_key_pem(material["private_key_pem"])
    cert = load_cert_pem(material["certificate_pem"])
    paths = {name: os.path.join(folder, name) for name in
             ("bootstrap.pem", "bootstrap.pfx", "bootstrap.cer", "bootstrap-cert.pem", "bootstrap.json")}
    write_private(paths["bootstrap.pem"], material["private_key_pem"] + material["certificate_pem"])
    pfx = pkcs12.serialize_key_and_certificates(
        tenant.name.encode("ascii"), key, cert, None,
        serialization.BestAvailableEncryption(material["pfx_password"].encode("utf-8")))
    write_private(paths["bootstrap.pfx"], pfx)
    write_bytes(paths["bootstrap.cer"], cert_der(cert))
    write_text(paths["bootstrap-cert.pem"], material["certificate_pem"])
    info = {
        "tenant_id": tenant.tenant_id, "client_id": material["client_id"], "client_secret": material["client_secret"],
        "certificate_path": paths["bootstrap.pem"], "public_certificate_path": paths["bootstrap-cert.pem"],
        "cer_path": paths["bootstrap.cer"], "pfx_path": paths["bootstrap.pfx"], "pfx_password": material["pfx_password"],
        "thumbprint": material["thumbprint"], "thumbprint_sha256": sha256_hex(cert_der(cert)),
        "application_id": material["application_id"], "service_principal_id": material["service_principal_id"],
    }
    write_json(paths["bootstrap.json"], info, private=True)
    return dict(info, bootstrap_json=paths["bootstrap.json"])


def _quote(value):
    return json.dumps(str(value))


def inventory_text(base_url, ca_bundle, tenants):
    lines = [
        "# Written by the m365emu emulator; regenerated on every start.",
        "all:", "  children:", "    tenants:", "      vars:",
        "        ansible_connection: local",
        '        ansible_python_interpreter: "{{ ansible_playbook_python }}"',
        f"        m365_cba_authority_host: {_quote(base_url)}",
        f"        m365_cba_graph_endpoint: {_quote(base_url)}",
        f"        m365_cba_ca_bundle: {_quote(ca_bundle)}",
        "      hosts:",
    ]
    for tenant in tenants:
        lines += [
            f"        {tenant['name']}:",
            f"          m365_cba_tenant_id: {_quote(tenant['tenant_id'])}",
            f"          m365_cba_client_id: {_quote(tenant['bootstrap']['client_id'])}",
            f"          m365_cba_client_certificate_path: {_quote(tenant['bootstrap']['certificate_path'])}",
            f"          m365_cba_initial_domain: {_quote(tenant['initial_domain'])}",
        ]
    return "\n".join(lines) + "\n"


def write_run_files(state_dir, info):
    """emulator.json (everything a client needs, incl. bootstrap secrets) and inventory.yml."""
    write_text(os.path.join(state_dir, "inventory.yml"), inventory_text(info["base_url"], info["ca_bundle"], info["tenants"]))
    write_json(os.path.join(state_dir, "emulator.json"), info, private=True)
