# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""When the action plugins run a module in the worker, what they pass it, and what they leave behind."""

from __future__ import annotations

import importlib
import os
import sys
import types

import pytest

from ansible_collections.m365.cba.plugins.module_utils import _runner
from ansible_collections.m365.cba.plugins.plugin_utils import _in_process


def _action(transport="local", become=False, async_val=0, module="organization_info", args=None, check_mode=False,
            diff=False, environment=None):
    action = _in_process.InProcessAction.__new__(_in_process.InProcessAction)
    action.MODULE = module
    action._connection = types.SimpleNamespace(transport=transport)
    action._play_context = types.SimpleNamespace(become=become)
    action._task = types.SimpleNamespace(async_val=async_val, args=args or {}, check_mode=check_mode, diff=diff)
    action._compute_environment_string = lambda out: out.update(environment or {})
    return action


def test_a_local_connection_runs_in_the_worker():
    assert _action()._why_not_in_process({}) is None
    assert _action()._why_not_in_process({"m365_cba_in_process": "yes"}) is None


@pytest.mark.parametrize("action, task_vars, reason", [
    (_action(transport="ssh"), {}, "the connection is not local"),
    (_action(transport="ansible.netcommon.httpapi"), {}, "the connection is not local"),
    (_action(become=True), {}, "become is set"),
    (_action(async_val=60), {}, "async is set"),
    (_action(), {"m365_cba_in_process": False}, "m365_cba_in_process is false"),
    (_action(), {"m365_cba_in_process": "no"}, "m365_cba_in_process is false"),
    (_action(), {"m365_cba_in_process": "sometimes"}, "m365_cba_in_process is not a boolean"),
])
def test_anything_else_runs_as_a_module(action, task_vars, reason):
    assert action._why_not_in_process(task_vars) == reason


def test_a_controller_without_the_libraries_runs_the_modules_as_modules(monkeypatch):
    monkeypatch.setattr(_in_process, "MISSING", {"msal"})
    assert _action()._why_not_in_process({}) == "the controller's Python cannot import msal"


def test_preload_notes_a_library_that_is_not_there(monkeypatch):
    monkeypatch.setattr(_in_process, "MISSING", set())
    monkeypatch.setattr(_in_process, "LIBRARIES", ("requests", "m365_cba_no_such_library.sub"))
    monkeypatch.setattr(_in_process, "OPTIONAL_LIBRARIES", ("jwt", "m365_cba_no_such_optional_library"))
    _in_process.preload("organization_info")
    # An optional library that is not there is no reason to run the modules as module processes.
    assert _in_process.MISSING == {"m365_cba_no_such_library"}


def test_a_module_that_cannot_load_runs_as_a_module_and_loading_never_raises(monkeypatch):
    monkeypatch.setattr(_in_process, "UNUSABLE", {})
    _in_process.preload("no_such_module")  # must not raise: the plugin would fail before the switch is read
    reason = _action(module="no_such_module")._why_not_in_process({})
    assert reason.startswith("its code could not be loaded here: ModuleNotFoundError")


# Feature detection: where this ansible-core lacks what the worker path uses, the module runs the ordinary way.
def test_no_public_argument_spec_validator_falls_back_to_the_module(monkeypatch):
    monkeypatch.setattr(_in_process, "worker_runner", lambda: None)
    assert _action()._why_not_in_process({}) == "this ansible-core has no public argument-spec validator"


def test_no_environment_computation_falls_back_to_the_module():
    action = _action()
    action._compute_environment_string = None
    assert action._why_not_in_process({}) == "this ansible-core's action plugins cannot compute the task environment"


def test_the_fallback_really_runs_the_module_path(monkeypatch):
    calls = []
    monkeypatch.setattr(_in_process.NormalAction, "run", lambda self, tmp=None, task_vars=None: calls.append("module") or {"ok": 1})
    monkeypatch.setattr(_in_process, "worker_runner", lambda: None)
    assert _action().run(task_vars={}) == {"ok": 1}
    assert calls == ["module"]


def test_the_task_environment_is_seen_inside_and_undone_after(monkeypatch):
    monkeypatch.setenv("M365_CBA_TEST_KEEP", "controller")
    monkeypatch.delenv("M365_CBA_TEST_NEW", raising=False)
    with _in_process.task_environment({"M365_CBA_TEST_KEEP": "task", "M365_CBA_TEST_NEW": 1}):
        assert os.environ["M365_CBA_TEST_KEEP"] == "task"
        assert os.environ["M365_CBA_TEST_NEW"] == "1"
    assert os.environ["M365_CBA_TEST_KEEP"] == "controller"
    assert "M365_CBA_TEST_NEW" not in os.environ


def test_the_environment_is_undone_when_the_module_raises(monkeypatch):
    monkeypatch.delenv("M365_CBA_TEST_NEW", raising=False)
    with pytest.raises(SystemExit):
        with _in_process.task_environment({"M365_CBA_TEST_NEW": "x"}):
            raise SystemExit(1)
    assert "M365_CBA_TEST_NEW" not in os.environ


def test_bad_arguments_fail_like_ansiblemodule_with_secrets_masked(monkeypatch, shown):
    monkeypatch.delenv("AZURE_TENANT_ID", raising=False)
    args = {"tenant_id": "contoso", "client_id": "x", "client_secret": "hunter2-secret", "colour": "blue"}
    result = _action(args=args)._run_in_process({"ansible_inject_invocation": True})
    assert result["failed"] is True
    assert result["msg"].startswith("Unsupported parameters for (organization_info) module: colour.")
    assert "hunter2-secret" not in shown(result)
    if _runner.register_secrets is None:  # before ansible-core 2.22, as AnsibleModule masks it
        assert result["invocation"]["module_args"]["client_secret"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def test_environment_fallbacks_come_from_the_task_environment(monkeypatch):
    monkeypatch.delenv("AZURE_TENANT_ID", raising=False)
    args = {"client_id": "app", "client_secret": "a-long-secret", "replication_timeout": -1}
    missing = _action(args=args)._run_in_process()
    assert missing["msg"] == "missing required arguments: tenant_id"
    found = _action(args=args, environment={"AZURE_TENANT_ID": "contoso.onmicrosoft.com"})._run_in_process(
        {"ansible_inject_invocation": True})
    # validated, then refused by the module itself before any request
    assert found["msg"].startswith("replication_timeout: ")
    assert found["invocation"]["module_args"]["tenant_id"] == "contoso.onmicrosoft.com"
    assert "AZURE_TENANT_ID" not in os.environ


def test_an_unexpected_error_fails_the_task_with_its_traceback_and_no_secret(monkeypatch, shown):
    from ansible_collections.m365.cba.plugins.modules import organization_info

    def broken(gm):
        raise RuntimeError(f"bug near {gm.params['client_secret']}")

    monkeypatch.setattr(organization_info, "run", broken)
    result = _action(args={"tenant_id": "t", "client_id": "c", "client_secret": "hunter2-secret"})._run_in_process()
    assert result["failed"] is True
    assert result["msg"].startswith("m365.cba.organization_info failed unexpectedly: RuntimeError: bug near")
    assert "RuntimeError" in result["exception"]
    assert "hunter2-secret" not in shown(result)


def test_every_module_has_an_action_plugin_that_runs_it():
    plugins = os.path.dirname(os.path.dirname(os.path.abspath(_in_process.__file__)))
    modules = sorted(name[:-3] for name in os.listdir(os.path.join(plugins, "modules")) if name.endswith(".py"))
    actions = sorted(name[:-3] for name in os.listdir(os.path.join(plugins, "action")) if name.endswith(".py"))
    assert actions == modules
    for name in actions:
        action = importlib.import_module(f"ansible_collections.m365.cba.plugins.action.{name}").ActionModule
        assert issubclass(action, _in_process.InProcessAction)
        assert action.MODULE == name
        # Loading the action plugin imported the module, so the forked workers find it imported.
        assert _in_process.module_fqn(name) in sys.modules
        module = sys.modules[_in_process.module_fqn(name)]
        assert callable(module.run) and module.SPEC.argument_spec
        assert name not in _in_process.UNUSABLE


def test_the_result_carries_invocation_when_a_module_process_would(monkeypatch):
    """AnsibleModule returns ``invocation`` always before ansible-core 2.21, and from 2.21 on only with the
    INJECT_INVOCATION setting (ansible_inject_invocation): the worker does the same."""
    from ansible import constants as C  # pylint: disable=import-outside-toplevel

    monkeypatch.delenv("ANSIBLE_INJECT_INVOCATION", raising=False)
    args = {"tenant_id": "contoso", "client_id": "x", "client_secret": "hunter2-secret", "colour": "blue"}
    has_setting = "INJECT_INVOCATION" in C.config.get_configuration_definitions()
    plain = _action(args=args)._run_in_process({})
    assert ("invocation" in plain) is not has_setting
    asked = _action(args=args)._run_in_process({"ansible_inject_invocation": True})
    assert "invocation" in asked
