# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""When the action plugins run a module in the worker, and what they leave behind in it."""

from __future__ import annotations

import importlib
import os
import sys
import types

import pytest

from ansible.module_utils import _internal, basic
from ansible.module_utils.common import warnings as module_warnings

from ansible_collections.m365.cba.plugins.plugin_utils import _in_process


def _action(transport="local", become=False, async_val=0):
    action = _in_process.InProcessAction.__new__(_in_process.InProcessAction)
    action._connection = types.SimpleNamespace(transport=transport)
    action._play_context = types.SimpleNamespace(become=become)
    action._task = types.SimpleNamespace(async_val=async_val)
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
    _in_process.preload("organization_info")
    assert _in_process.MISSING == {"m365_cba_no_such_library"}


def test_the_task_environment_is_seen_inside_and_undone_after(monkeypatch):
    monkeypatch.setenv("M365_CBA_TEST_KEEP", "controller")
    monkeypatch.delenv("M365_CBA_TEST_NEW", raising=False)
    with _in_process._environment({"M365_CBA_TEST_KEEP": "task", "M365_CBA_TEST_NEW": 1}):
        assert os.environ["M365_CBA_TEST_KEEP"] == "task"
        assert os.environ["M365_CBA_TEST_NEW"] == "1"
    assert os.environ["M365_CBA_TEST_KEEP"] == "controller"
    assert "M365_CBA_TEST_NEW" not in os.environ


def test_the_environment_is_undone_when_the_module_raises(monkeypatch):
    monkeypatch.delenv("M365_CBA_TEST_NEW", raising=False)
    with pytest.raises(SystemExit):
        with _in_process._environment({"M365_CBA_TEST_NEW": "x"}):
            raise SystemExit(1)
    assert "M365_CBA_TEST_NEW" not in os.environ


def test_the_module_parameters_are_set_for_the_call_only():
    before = (basic._ANSIBLE_ARGS, basic._ANSIBLE_PROFILE)
    params = _in_process.encode_module_args({"name": "x"})
    with pytest.raises(SystemExit):
        with _in_process.module_context(params):
            assert basic._ANSIBLE_ARGS == params == b'{"ANSIBLE_MODULE_ARGS": {"name": "x"}}'
            assert basic._ANSIBLE_PROFILE == "legacy"
            raise SystemExit(0)
    assert (basic._ANSIBLE_ARGS, basic._ANSIBLE_PROFILE) == before


def test_module_warnings_go_into_the_result_not_to_the_screen(capsys):
    # Loading the action plugins loaded the controller: module_utils would display warnings itself.
    assert _internal.is_controller is True
    with _in_process.module_context(_in_process.encode_module_args({})):
        assert _internal.is_controller is False
        module_warnings.warn("every run renews")
        assert module_warnings.get_warning_messages() == ("every run renews",)
    assert _internal.is_controller is True
    assert module_warnings.get_warning_messages() == ()
    assert "every run renews" not in capsys.readouterr().err


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
