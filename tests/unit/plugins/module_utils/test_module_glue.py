# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which credential a module uses when the task and the environment both offer some, and the
replication_timeout option."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.m365.cba.plugins.module_utils._module import (
    GraphModule,
    credentials_from_environment,
    graph_argument_spec,
)
from ansible_collections.m365.cba.plugins.module_utils._runner import Context, ModuleDone, run_in_worker
from ansible_collections.m365.cba.plugins.modules import organization_info

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


# -- replication_timeout ---------------------------------------------------------------------------

CONNECTION = {"tenant_id": "contoso.onmicrosoft.com", "client_id": "00000000-0000-0000-0000-000000000001",
              "client_secret": "not-a-real-secret", "token_cache_dir": "none"}


def validated(params):
    result = ArgumentSpecValidator(graph_argument_spec()).validate(params)
    assert result.error_messages == []
    return result.validated_parameters


def test_replication_timeout_spec():
    spec = graph_argument_spec()["replication_timeout"]
    assert spec["type"] == "int" and spec["default"] == 60
    assert spec["fallback"][1] == ["M365_CBA_REPLICATION_TIMEOUT"]


def test_replication_timeout_default_environment_and_option(monkeypatch):
    monkeypatch.delenv("M365_CBA_REPLICATION_TIMEOUT", raising=False)
    assert validated(dict(CONNECTION))["replication_timeout"] == 60
    monkeypatch.setenv("M365_CBA_REPLICATION_TIMEOUT", "5")
    assert validated(dict(CONNECTION))["replication_timeout"] == 5
    assert validated(dict(CONNECTION, replication_timeout=0))["replication_timeout"] == 0  # the task wins


def test_replication_timeout_not_a_number_names_the_option(monkeypatch):
    monkeypatch.setenv("M365_CBA_REPLICATION_TIMEOUT", "a minute")
    result = ArgumentSpecValidator(graph_argument_spec()).validate(dict(CONNECTION))
    assert any("replication_timeout" in message for message in result.error_messages)


def run_module(args):
    return GraphModule(Context(validated(args)))


@pytest.mark.parametrize("value, expected", [(None, 60.0), (7, 7.0), (0, 0.0)])
def test_replication_timeout_reaches_the_graph_client(value, expected, monkeypatch):
    monkeypatch.delenv("M365_CBA_REPLICATION_TIMEOUT", raising=False)
    args = dict(CONNECTION) if value is None else dict(CONNECTION, replication_timeout=value)
    gm = run_module(args)
    assert gm.client.policy.lag_timeout == expected  # the client is built without any request


def test_replication_timeout_from_the_environment_reaches_the_graph_client(monkeypatch):
    monkeypatch.setenv("M365_CBA_REPLICATION_TIMEOUT", "3")
    assert run_module(dict(CONNECTION)).client.policy.lag_timeout == 3.0


def test_negative_replication_timeout_fails_naming_the_option(monkeypatch):
    monkeypatch.delenv("M365_CBA_REPLICATION_TIMEOUT", raising=False)
    with pytest.raises(ModuleDone) as done:
        run_module(dict(CONNECTION, replication_timeout=-1))
    assert done.value.failed is True
    # ... and the whole module fails before any request, with the secret masked
    result = run_in_worker("organization_info", organization_info.SPEC, organization_info.run,
                           dict(CONNECTION, replication_timeout=-1))
    assert result["failed"] is True
    assert result["msg"].startswith("replication_timeout:") and "-1" in result["msg"]
    assert "not-a-real-secret" not in json.dumps(result)
