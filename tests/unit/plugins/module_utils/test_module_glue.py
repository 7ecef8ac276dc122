# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which credential a module uses when the task and the environment both offer some."""

from __future__ import annotations

from ansible_collections.m365.cba.plugins.module_utils._module import credentials_from_environment

NONE = {"client_secret": None, "client_certificate_path": None, "client_certificate_password": None, "access_token": None}


def test_the_task_credential_wins_over_the_environment():
    params = dict(NONE, client_certificate_path="/task.pem")
    got = credentials_from_environment(params, {"AZURE_CLIENT_SECRET": "s", "AZURE_CLIENT_CERTIFICATE_PASSWORD": "pw"})
    assert got["client_secret"] is None and got["client_certificate_path"] == "/task.pem"
    assert got["client_certificate_password"] == "pw"


def test_empty_variables_are_ignored_like_awx_injects_them():
    env = {"AZURE_CLIENT_SECRET": "", "AZURE_CLIENT_CERTIFICATE_PATH": "/env.pem", "AZURE_CLIENT_CERTIFICATE_PASSWORD": "",
           "M365_CBA_ACCESS_TOKEN": ""}
    got = credentials_from_environment(dict(NONE), env)
    assert got == dict(NONE, client_certificate_path="/env.pem")


def test_one_credential_from_the_environment_in_order():
    env = {"AZURE_CLIENT_SECRET": "s", "AZURE_CLIENT_CERTIFICATE_PATH": "/env.pem", "M365_CBA_ACCESS_TOKEN": "t"}
    got = credentials_from_environment(dict(NONE), env)
    assert got == dict(NONE, client_secret="s")


def test_nothing_anywhere_stays_nothing():
    assert credentials_from_environment(dict(NONE), {}) == NONE
