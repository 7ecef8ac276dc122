# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""An emulator for the collection's own tests (module scope, reset before each test), and two ways to run a module."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
from ansible.module_utils.common.parameters import PASS_VARS

try:  # ansible-core 2.19 and later
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # earlier: the way those versions' developer guide gives for unit tests (set_module_args)
    from ansible.module_utils import basic as _basic

    @contextlib.contextmanager
    def patch_module_args(args):
        saved = _basic._ANSIBLE_ARGS  # pylint: disable=protected-access
        _basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()  # pylint: disable=protected-access
        try:
            yield
        finally:
            _basic._ANSIBLE_ARGS = saved  # pylint: disable=protected-access

from ansible_collections.m365.cba.plugins.module_utils import _runner

from m365emu import Emulator


@pytest.fixture(scope="module")
def module_emulator(tmp_path_factory):
    with Emulator(str(tmp_path_factory.mktemp("emulator")), tenants=2) as emu:
        yield emu


@pytest.fixture
def emu(module_emulator):
    # REQUESTS_CA_BUNDLE stays as the machine sets it: the collection must trust its ca_bundle anyway.
    module_emulator.reset(faults=True, requests=True, settings=True)
    return module_emulator


def run_in_worker(module, args, check_mode=False, diff_mode=False):
    """A module's result as the action plugin gets it in the worker (module_utils._runner.run_in_worker)."""
    name = module.__name__.rsplit(".", maxsplit=1)[-1]
    return _runner.run_in_worker(name, module.SPEC, module.run, args, check_mode=check_mode, diff_mode=diff_mode)


@pytest.fixture(name="module_args")
def module_args_fixture():
    """A context manager that hands a module main() its arguments, as ansible-core does."""
    return patch_module_args


def run_main(module, args, check_mode=False, diff_mode=False):
    """A module's result as a module process prints it: its main() with AnsibleModule."""
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff_mode)
    if "inject_invocation" in PASS_VARS:  # ansible-core 2.21 and later add invocation only when asked
        args["_ansible_inject_invocation"] = True
    out = io.StringIO()
    with patch_module_args(args), contextlib.redirect_stdout(out):
        with pytest.raises(SystemExit) as exit_info:
            module.main()
    result = json.loads(out.getvalue())
    assert (exit_info.value.code == 1) == bool(result.get("failed"))
    return result


@pytest.fixture(params=["worker", "module"])
def run_module(request):
    """Run a module both ways: the results must be alike."""
    return run_in_worker if request.param == "worker" else run_main


@pytest.fixture
def shown():
    """What Ansible shows of a module's result (as JSON text): with ansible-core 2.22 and later it masks every
    registered secret itself and the result is returned as is; before, the result arrives masked."""
    def show(value):
        text = value if isinstance(value, str) else json.dumps(value)
        return text if _runner.register_secrets is None else _mask_secrets(text, mask_placeholder="********")
    return show


try:
    from ansible.module_utils.secrets import mask_secrets as _mask_secrets
except ImportError:  # before ansible-core 2.22
    _mask_secrets = None
