# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The message the m365.cba.tenants callback shows for a failed task (its output as a whole is tested end to end
in tests/e2e/test_tenants_callback.py)."""

from __future__ import annotations

import pytest

from ansible_collections.m365.cba.plugins.callback import tenants


@pytest.mark.parametrize("result, expected", [
    ({"failed": True, "msg": "HTTP 403 Authorization_RequestDenied"}, "HTTP 403 Authorization_RequestDenied"),
    # A loop: ansible-core's summary, then each failed item's own message, labelled with the item.
    ({"failed": True, "msg": "One or more items failed", "results": [
        {"item": "app-a", "failed": False, "msg": "fine"},
        {"item": "app-b", "failed": True, "msg": "HTTP 404"},
        {"item": {"name": "c"}, "failed": True, "msg": "HTTP 500"}]},
     "One or more items failed; app-b: HTTP 404; HTTP 500"),
    ({"failed": True, "module_stderr": "Traceback ...\n", "msg": ""}, "Traceback ..."),
    ({"failed": True}, "(the task gave no message)"),
    ({"failed": True, "msg": "same", "results": [{"item": None, "failed": True, "msg": "same"}]}, "same"),
])
def test_failure_message(result, expected):
    assert tenants.failure_message(result) == expected
