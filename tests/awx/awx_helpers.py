# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared helpers of the AWX / execution environment / report tests."""

from __future__ import annotations

import os
import re

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EMULATOR_PATH = os.path.join(REPO, "tests", "emulator")
UNIQUE_NAME = "m365-cba-exchange-online"
EXCHANGE_RESOURCE = "Office 365 Exchange Online"
EXCHANGE_PERMISSION = "Exchange.ManageAsApp"


def load_yaml(*parts):
    with open(os.path.join(REPO, *parts), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def pem_body_lines(path):
    """The base64 lines of every PRIVATE KEY block in a PEM file (what must never be printed)."""
    with open(path, encoding="ascii") as handle:
        text = handle.read()
    lines = []
    for block in re.findall(r"-----BEGIN [A-Z ]*PRIVATE KEY-----\n(.*?)-----END", text, re.S):
        lines += [line.strip() for line in block.splitlines() if len(line.strip()) >= 32]
    assert lines, f"no private key in {path}"
    return lines


def is_token_request(entry):
    return entry["method"] == "POST" and entry["path"].endswith("/oauth2/v2.0/token")


def writes(requests):
    """The requests of an emulator log that could change something: all but GETs and token requests."""
    return [(r["method"], r["path"], r["status"]) for r in requests if r["method"] != "GET" and not is_token_request(r)]


def setup_objects(tenant_state, unique_name=UNIQUE_NAME):
    """The setup role's objects in one tenant of an emulator state dump: application, its service
    principal, the Exchange.ManageAsApp assignment and the directory role assignments."""
    app = next((a for a in tenant_state["applications"] if a.get("uniqueName") == unique_name), None)
    if app is None:
        return None, None, [], []
    sp = next((s for s in tenant_state["servicePrincipals"] if s["appId"] == app["appId"]), None)
    exchange = next(s for s in tenant_state["servicePrincipals"] if s["displayName"] == EXCHANGE_RESOURCE)
    role_id = next(r["id"] for r in exchange["appRoles"] if r["value"] == EXCHANGE_PERMISSION)
    consent = [a for a in tenant_state["appRoleAssignments"]
               if sp and a["principalId"] == sp["id"] and a["resourceId"] == exchange["id"] and a["appRoleId"] == role_id]
    roles = [r for r in tenant_state["roleAssignments"] if sp and r["principalId"] == sp["id"]]
    return app, sp, consent, roles
