# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A guard against identifiers that Ansible would mask. Private to m365.cba; no stable API.

Ansible replaces a ``no_log`` value wherever it occurs in a module's result, also inside another
string: with a PFX password ``F3`` a thumbprint ``678F3EBF...`` comes back as ``678********EBF...``,
and every later task and report carries the corrupted value. A result whose identifiers hold a
secret is therefore refused with a clear message instead of being returned.
"""

from __future__ import annotations

from collections.abc import Mapping

# Result keys whose values are identifiers a later task, a report or a person copies as they are.
IDENTIFIER_KEYS = frozenset((
    "thumbprint", "thumbprint_sha256", "serial_number", "certificate_base64", "custom_key_identifier", "key_id",
    "app_id", "appid", "id", "object_id", "tenant_id", "tid", "oid", "principal_id", "resource_id", "app_role_id",
    "service_principal_id", "role_definition_id", "publisher_domain", "initial_domain", "unique_name",
))


def masked_identifiers(result, no_log_values, keys=IDENTIFIER_KEYS):
    """The places (``a.b[0].thumbprint``) in ``result`` where an identifier holds one of
    ``no_log_values``, which Ansible would mask. Empty when there is none."""
    secrets = [str(value) for value in no_log_values or () if value not in (None, "")]
    found = []
    if not secrets:
        return found

    def walk(value, where, key=None):
        if isinstance(value, Mapping):
            for name, item in value.items():
                walk(item, f"{where}.{name}" if where else str(name), name)
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                walk(item, f"{where}[{index}]", key)
        elif key in keys and isinstance(value, (str, int)) and not isinstance(value, bool):
            text = str(value)
            if any(secret in text for secret in secrets):
                found.append(where)

    walk(result, "")
    return found


def masked_identifier_message(places, secret="a secret of this task (a no_log option such as pfx_password)"):
    """The failure message for :func:`masked_identifiers`' answer, or None when it is empty."""
    if not places:
        return None
    return (f"{secret} occurs inside the returned {', '.join(places)}; Ansible would mask it there and return a "
            "corrupted identifier. Use a longer, random secret.")


def check_identifiers(result, no_log_values, keys=IDENTIFIER_KEYS, **message):
    """:func:`masked_identifier_message` for ``result``: None when no identifier holds a secret."""
    return masked_identifier_message(masked_identifiers(result, no_log_values, keys), **message)
