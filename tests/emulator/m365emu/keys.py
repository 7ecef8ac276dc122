# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Addressing of directory objects in Graph URLs: /{id}, (appId='..'), (uniqueName='..')."""

import re

from .errors import bad_request

_KEY_RE = re.compile(r"^\((appId|uniqueName)=(?:'((?:[^']|'')*)'|([^')]*))\)$", re.IGNORECASE)
_GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def parse_key(raw):
    """('/{id}' | "(appId='..')" | "(uniqueName='..')") -> (kind, value)."""
    if raw.startswith("/"):
        return "id", raw[1:]
    match = _KEY_RE.match(raw)
    if not match:
        raise bad_request(f"Invalid object identifier '{raw}'.")
    kind = "appId" if match.group(1).lower() == "appid" else "uniqueName"
    value = match.group(2).replace("''", "'") if match.group(2) is not None else match.group(3)
    return kind, value


def is_guid(value):
    return isinstance(value, str) and bool(_GUID_RE.match(value))
