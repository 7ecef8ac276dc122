# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The multi-tenant bootstrap application: the Microsoft Graph application permissions the setup
role needs, and the admin consent URL per tenant. Private to the m365.cba collection; no stable API."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from ._clouds import get_cloud
from ._module import _PERMISSION_BY_PATH

# Every Graph path the setup role's modules call needs one of these (the table the modules use to
# name a missing permission); nothing else is needed. Least privileged for each call.
BOOTSTRAP_PERMISSIONS = tuple(sorted({permission for _fragment, permission in _PERMISSION_BY_PATH}))


def permission_status(roles, required=None):
    """``{"required", "held", "missing", "extra"}`` for a token's ``roles`` claim."""
    held = sorted({str(role) for role in roles or []})
    wanted = sorted(set(required or BOOTSTRAP_PERMISSIONS))
    return {
        "required": wanted,
        "held": held,
        "missing": [p for p in wanted if p not in held],
        "extra": [p for p in held if p not in wanted],
    }


def consent_url(tenant, client_id, cloud=None, authority_host=None):
    """``{authority}/{tenant}/adminconsent?client_id=...``: where an administrator of ``tenant``
    grants tenant-wide admin consent to the application (and so creates its service principal)."""
    if not tenant or not str(tenant).strip():
        raise ValueError("a tenant (ID or domain) is required")
    if not client_id or not str(client_id).strip():
        raise ValueError("a client_id is required")
    host = (authority_host or get_cloud(cloud).authority_host).rstrip("/")
    if "://" not in host:
        host = "https://" + host
    return f"{host}/{quote(str(tenant).strip(), safe='')}/adminconsent?{urlencode({'client_id': str(client_id).strip()})}"
