# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The module seam: one run(ctx), the same result as a module process and in the worker."""

from __future__ import annotations

import sys
import types

import pytest

from ansible_collections.m365.cba.plugins.module_utils import _runner

SPEC = _runner.ModuleSpec(
    {
        "name": {"type": "str", "required": True},
        "password": {"type": "str", "no_log": True},
        "items": {"type": "list", "elements": "dict", "options": {"token": {"type": "str", "no_log": True}}},
        "returned": {"type": "dict", "default": {}},
    },
)


def echo(ctx):
    """A module whose result is what the task asks for; warns once."""
    ctx.warn("a warning")
    diff = ctx.diff({"a": 1}, {"a": 2})
    ctx.exit(not ctx.check_mode, **ctx.params["returned"], **({"diff": diff} if diff else {}))


@pytest.fixture
def module():
    return types.SimpleNamespace(__name__="ansible_collections.m365.cba.plugins.modules.echo", SPEC=SPEC, run=echo,
                                 main=lambda: _runner.run_module(SPEC, echo))


def test_the_same_result_both_ways(run_module, module):
    result = run_module(module, {"name": "n", "returned": {"id": "abc"}}, check_mode=True, diff_mode=True)
    assert result["changed"] is False and result["id"] == "abc"
    assert result["diff"] == {"before": {"a": 1}, "after": {"a": 2}}
    assert result["invocation"]["module_args"]["name"] == "n"
    applied = run_module(module, {"name": "n"})
    assert applied["changed"] is True and "diff" not in applied


def test_warnings_reach_the_result_in_the_worker(module):
    assert _runner.run_in_worker("echo", SPEC, echo, {"name": "n"})["warnings"] == ["a warning"]


def test_secrets_are_masked_in_sub_options_too(run_module, module, shown):
    result = run_module(module, {"name": "n", "password": "p4ssword-long", "items": [{"token": "t0ken-value"}],
                                 "returned": {"note": "p4ssword-long and t0ken-value"}})
    assert shown(result["note"]) == "******** and ********"
    assert "p4ssword-long" not in shown(result) and "t0ken-value" not in shown(result)
    if _runner.register_secrets is None:
        assert result["invocation"]["module_args"]["password"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def test_an_identifier_holding_a_secret_fails_instead_of_being_masked(run_module, module, shown):
    result = run_module(module, {"name": "n", "password": "3EBF", "returned": {"thumbprint": "6783EBF0AA"}})
    assert result["failed"] is True
    assert result["msg"].startswith("password: its value occurs inside the returned thumbprint")
    assert "6783EBF0AA" not in shown(result) and "3EBF" not in shown(result)


def test_a_secret_found_at_run_time_is_masked_and_guarded_too(run_module, module, shown):
    def run(ctx):
        ctx.no_log("runtime-secret-value")
        ctx.exit(False, note="runtime-secret-value")

    module.run, module.main = run, lambda: _runner.run_module(SPEC, run)
    note = run_module(module, {"name": "n"})["note"]
    if _runner.register_secrets is None:
        assert note == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"  # as AnsibleModule
    else:
        assert shown(note) == "********"


def test_where_ansible_masks_secrets_itself_they_are_registered_not_removed(monkeypatch):
    """ansible-core 2.22 and later (ansible.module_utils.secrets): every secret, of an option, a sub-option or
    found at run time, is registered for Ansible to mask, and the result is returned as is; remove_values,
    deprecated there, is not called. The other way is the one the tests above see before 2.22."""
    registered = []
    monkeypatch.setattr(_runner, "register_secrets", registered.extend)
    monkeypatch.setattr(_runner, "remove_values", lambda *a: pytest.fail("remove_values called"))

    def run(ctx):
        ctx.no_log("runtime-secret-value")
        ctx.exit(False, note="p4ssword-long, t0ken-value, runtime-secret-value")

    result = _runner.run_in_worker("echo", SPEC, run, {"name": "n", "password": "p4ssword-long",
                                                       "items": [{"token": "t0ken-value"}]})
    assert result["note"] == "p4ssword-long, t0ken-value, runtime-secret-value"
    assert {"p4ssword-long", "t0ken-value", "runtime-secret-value"} <= set(registered)


def test_the_secrets_interface_is_chosen_by_what_ansible_core_has():
    """The public ansible.module_utils.secrets where it exists (2.22 and later), remove_values before."""
    try:
        from ansible.module_utils import secrets  # pylint: disable=import-outside-toplevel
    except ImportError:
        assert _runner.register_secrets is None and callable(_runner.remove_values)
    else:
        assert _runner.register_secrets is secrets.register_secrets
        assert _runner.remove_values is None


def test_a_missing_library_fails_with_ansibles_message(run_module, module, monkeypatch):
    spec = _runner.ModuleSpec(SPEC.argument_spec, libraries=(("m365_cba_no_such_library", "no-such-package"),))
    module.SPEC, module.main = spec, lambda: _runner.run_module(spec, echo)
    result = run_module(module, {"name": "n"})
    assert result["failed"] is True
    assert "Failed to import the required Python library (no-such-package)" in result["msg"]


def test_a_module_that_ends_without_a_result_is_a_bug():
    with pytest.raises(_runner.ModuleIncomplete):
        _runner.call(SPEC, lambda ctx: None, _runner.Context({}))


@pytest.mark.parametrize("value, expected", [
    ({"a": ("x", 1, True, None, 1.5)}, {"a": ["x", 1, True, None, 1.5]}),
    (type("Tagged", (str,), {})("text"), "text"),
])
def test_task_arguments_become_plain_data(value, expected):
    plain = _runner.plain(value)
    assert plain == expected and type(plain) is type(expected)  # pylint: disable=unidiomatic-typecheck


def test_the_module_code_runs_without_the_controller():
    """_runner is module_utils: it must not import anything from the controller side."""
    assert all(not name.startswith("ansible.plugins") for name in getattr(_runner, "__dict__", {}))
    assert "ansible_collections.m365.cba.plugins.module_utils._runner" in sys.modules
