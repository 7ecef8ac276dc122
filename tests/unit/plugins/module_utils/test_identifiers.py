# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The guard against identifiers that Ansible would mask because a secret occurs inside them."""

from __future__ import annotations

from ansible.module_utils.common.parameters import remove_values

from ansible_collections.m365.cba.plugins.module_utils._identifiers import (
    check_identifiers,
    masked_identifiers,
)

THUMBPRINT = "678F3EBF0A1B2C3D4E5F60718293A4B5C6D7E8F9"
RESULT = {
    "thumbprint": THUMBPRINT,
    "thumbprint_sha256": "AB" * 32,
    "subject": "CN=m365.cba",
    "application": {"app_id": "0f3e2d1c-0000-4000-8000-000000000001", "display_name": "F3 tools"},
    "key_credentials": [{"thumbprint": "00" * 20}, {"thumbprint": THUMBPRINT, "key_id": "k-1"}],
}


def test_ansible_masks_a_secret_inside_an_identifier():
    """Why the guard exists: the thumbprint comes back corrupted when the password is "F3"."""
    assert remove_values(RESULT, {"F3"})["thumbprint"] == "678********EBF0A1B2C3D4E5F60718293A4B5C6D7E8F9"


def test_the_guard_names_every_identifier_that_holds_a_secret():
    assert masked_identifiers(RESULT, ["F3"]) == ["thumbprint", "key_credentials[1].thumbprint"]
    assert masked_identifiers(RESULT, ["nothing", "2d1c"]) == ["application.app_id"]
    message = check_identifiers(RESULT, ["F3"])
    assert "thumbprint" in message and "key_credentials[1].thumbprint" in message and "pfx_password" in message
    assert "F3" not in message  # the secret itself is never shown


def test_other_fields_and_long_secrets_pass():
    # display_name and subject are not identifiers (masking them is harmless), and a 24-character secret occurs nowhere.
    assert masked_identifiers({"display_name": "F3 tools", "subject": "CN=F3"}, ["F3"]) == []
    assert check_identifiers(RESULT, ["a-long-random-pfx-password"]) is None
    assert check_identifiers(RESULT, [None, ""]) is None
    assert check_identifiers(RESULT, []) is None
