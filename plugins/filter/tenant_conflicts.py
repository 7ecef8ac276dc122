# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: tenant_conflicts
short_description: Inventory hosts that set up the same application in the same tenant
version_added: 1.0.0
description:
  - Takes one record per inventory host (its name, the tenant as the inventory gives it, the tenant ID read from
    Microsoft Graph when known, and the application's unique name) and returns, for every host that shares its
    application and tenant with another host, why it must not go on.
  - Two hosts are one tenant when their tenant IDs are equal, or, for a host whose ID is not known, when the tenant as
    written (an ID or a domain) equals the other's ID or tenant as written; every comparison ignores letter case, as
    Microsoft Entra ID does. Unique names are compared without letter case too.
  - Two such hosts would replace each other's certificate on the application on every run. The C(m365.cba.setup) role
    runs this once per run over the hosts of the play, after each tenant's ID was read, and fails those hosts before
    anything is written.
author:
  - m365.cba maintainers (@m365-cba)
options:
  _input:
    description:
      - One record per host, with the keys C(host), C(tenant) (the tenant ID or domain as configured, or V(null)),
        C(tenant_id) (the ID read from the tenant, or V(null)) and C(application) (the unique name; a record without
        one is not compared).
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: Find hosts that set up one application in one tenant
  ansible.builtin.debug:
    msg: "{{ records | m365.cba.tenant_conflicts }}"
  vars:
    records:
      - {host: contoso, tenant: contoso.onmicrosoft.com, tenant_id: 7d1c3a8e-2b4f-4e6a-9c0d-5f8e1a2b3c4d,
         application: m365-cba-exchange-online}
      - {host: contoso-old, tenant: 7D1C3A8E-2B4F-4E6A-9C0D-5F8E1A2B3C4D, tenant_id: null,
         application: m365-cba-exchange-online}
"""

RETURN = r"""
_value:
  description: For each host that shares its application and tenant with another, the message to fail it with.
  type: dict
  sample:
    contoso: "contoso (m365_cba_tenant_id 'contoso.onmicrosoft.com') and contoso-old ('7D1C3A8E-…') are the same tenant …"
"""

from ansible.errors import AnsibleFilterError


def _text(value):
    return "" if value is None else str(value).strip()


def _names(record):
    """The lower-case names a record is known by: the tenant ID read from Graph and the tenant as written."""
    return {name.lower() for name in (_text(record.get("tenant_id")), _text(record.get("tenant"))) if name}


def _tenant_conflicts(records):
    if not isinstance(records, (list, tuple)) or not all(isinstance(record, dict) for record in records):
        raise AnsibleFilterError("tenant_conflicts: expects a list of records (host, tenant, tenant_id, application)")
    seen = {}
    for record in records:
        application = _text(record.get("application")).lower()
        if application and _text(record.get("host")):
            for name in _names(record):
                seen.setdefault((application, name), []).append(record)
    conflicts = {}
    for record in records:
        host = _text(record.get("host"))
        application = _text(record.get("application"))
        peers = {}
        for name in _names(record):
            for peer in seen.get((application.lower(), name), []):
                if _text(peer.get("host")) != host:
                    peers.setdefault(_text(peer.get("host")), peer)
        if not host or not application or not peers:
            continue
        tenant_id = _text(record.get("tenant_id")) or next(
            (_text(peer.get("tenant_id")) for peer in peers.values() if _text(peer.get("tenant_id"))), "")
        others = ", ".join(f"{name} ('{_text(peer.get('tenant')) or _text(peer.get('tenant_id'))}')"
                           for name, peer in sorted(peers.items()))
        conflicts[host] = (
            f"{host} (m365_cba_tenant_id '{_text(record.get('tenant')) or tenant_id}') and {others} are the same tenant"
            f"{' (' + tenant_id + ')' if tenant_id else ''} and set up the same application {application}: each run "
            "would replace the other's certificate on it (the first run fails with AADSTS700027). Nothing was changed. Keep one "
            "host per tenant and application: remove the others from the inventory, or give them another "
            "m365_cba_workload or m365_cba_app_unique_name.")
    return conflicts


class FilterModule:
    def filters(self):
        return {"tenant_conflicts": _tenant_conflicts}
