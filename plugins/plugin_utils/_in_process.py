# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run m365.cba's modules inside the controller's worker process. Private to m365.cba; no stable API.

Every module of this collection talks to Microsoft Graph over HTTPS and keeps its files on the
control node, so on a ``local`` connection the only difference between running it as a module
and running its ``main()`` in the worker that would start it is the cost: packaging the module,
starting a Python interpreter and importing requests, cryptography and msal again for every task.

``InProcessAction`` is the action plugin named like each module. On a ``local`` connection without
``become`` or ``async`` it runs the module's own ``main()`` -- the same AnsibleModule, argument spec,
check mode, diff, ``no_log`` scrubbing and result -- with the task's arguments and ``environment``,
and reads the result the way a module's output is read. Anywhere else, when the controller's Python
cannot import the libraries the modules need, or with ``m365_cba_in_process: false``, it runs the
module the ordinary way.

The module and the libraries it needs are imported when the action plugin is loaded, which Ansible
does once in the main process before it forks a worker per task, so the workers share them.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import io
import json
import os

from ansible.module_utils import _internal, basic
from ansible.module_utils.common import warnings as module_warnings
from ansible.module_utils.common.json import Direction, get_module_encoder
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action.normal import ActionModule as NormalAction
from ansible.utils.display import Display
from ansible.vars.clean import remove_internal_keys

display = Display()

# Modules without serialization metadata (all of ours) use this profile, as module_common does.
PROFILE = "legacy"
SWITCH = "m365_cba_in_process"


# What the modules import on their way: the HTTP client, the token library (on a token-cache miss)
# and the certificate code.
LIBRARIES = (
    "requests",
    "msal",
    "cryptography.x509",
    "cryptography.hazmat.primitives.serialization.pkcs12",
)


# The libraries the controller's Python could not import: the modules then run as module processes,
# with the interpreter the inventory gives the host, which may have them.
MISSING = set()


def preload(module):
    """Import ``module`` and the libraries it needs now, in the process that forks the workers."""
    for name in LIBRARIES:
        try:
            importlib.import_module(name)
        except ImportError:
            MISSING.add(name.split(".", maxsplit=1)[0])
    importlib.import_module(module_fqn(module))


def module_fqn(name):
    return f"ansible_collections.m365.cba.plugins.modules.{name}"


class ModuleExit(Exception):
    """The module returned without printing a result (it must always print one)."""


class InProcessAction(NormalAction):
    """Run the module named ``MODULE`` in this worker when it would run on this machine anyway."""

    MODULE = None  # the module's short name, set by each action plugin

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        reason = self._why_not_in_process(task_vars)
        if reason:
            display.vvv(f"m365.cba.{self.MODULE}: running as a module ({reason})", host=self._host_name(task_vars))
            return super().run(tmp, task_vars)
        result = super(NormalAction, self).run(tmp, task_vars)  # pylint: disable=bad-super-call
        display.vvv(f"m365.cba.{self.MODULE}: running in the controller's worker process", host=self._host_name(task_vars))
        result.update(self._run_in_process(task_vars))
        return result

    @staticmethod
    def _host_name(task_vars):
        return task_vars.get("inventory_hostname")

    def _why_not_in_process(self, task_vars):
        """None when the module can run here; otherwise why not (shown at -vvv)."""
        switch = task_vars.get(SWITCH, True)
        try:
            if not boolean(switch, strict=True):
                return f"{SWITCH} is false"
        except TypeError:
            return f"{SWITCH} is not a boolean"
        if getattr(self._connection, "transport", None) != "local":
            return "the connection is not local"
        if self._play_context.become:
            return "become is set"
        if self._task.async_val:
            return "async is set"
        if MISSING:
            return f"the controller's Python cannot import {', '.join(sorted(MISSING))}"
        return None

    def _module_args(self, task_vars):
        args = copy.deepcopy(self._task.args)
        self._update_module_args(self._task.resolved_action or self._task.action, args, task_vars)
        return encode_module_args(args)

    def _run_in_process(self, task_vars):
        params = self._module_args(task_vars)
        environment = {}
        self._compute_environment_string(environment)
        module = importlib.import_module(module_fqn(self.MODULE))
        stdout, stderr = io.StringIO(), io.StringIO()
        rc = 0
        with module_context(params), _environment(environment), \
                contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                module.main()
            except SystemExit as exc:
                rc = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
            else:
                raise ModuleExit(f"m365.cba.{self.MODULE} returned without a result")
        data = self._parse_returned_data({"rc": rc, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()}, PROFILE)
        remove_internal_keys(data)
        return data


def encode_module_args(args):
    """The parameters as the controller sends them to a module (``ANSIBLE_MODULE_ARGS``, legacy profile)."""
    encoder = get_module_encoder(PROFILE, Direction.CONTROLLER_TO_MODULE)
    return json.dumps({"ANSIBLE_MODULE_ARGS": args}, cls=encoder).encode()


@contextlib.contextmanager
def module_context(params):
    """What the AnsiballZ wrapper gives a module before it runs it, restored after.

    AnsibleModule reads its parameters from ``basic._ANSIBLE_ARGS``. In a process that has loaded
    the controller, ``module_utils`` would send ``warn()`` and ``deprecate()`` straight to the
    screen instead of into the module's result, so the module runs with ansible-core's
    ``is_controller`` flag off, as on a target, and its warnings reach the result (and the callbacks
    that read them) as they do from a module process.
    """
    saved = (basic._ANSIBLE_ARGS, basic._ANSIBLE_PROFILE, _internal.is_controller)  # pylint: disable=protected-access
    basic._ANSIBLE_ARGS, basic._ANSIBLE_PROFILE = params, PROFILE  # pylint: disable=protected-access
    _internal.is_controller = False
    _clear_module_messages()
    try:
        yield
    finally:
        _clear_module_messages()
        basic._ANSIBLE_ARGS, basic._ANSIBLE_PROFILE, _internal.is_controller = saved  # pylint: disable=protected-access


def _clear_module_messages():
    """Forget the warnings and deprecations module_utils collected for a module's result."""
    for name in ("_global_warnings", "_global_deprecations"):
        collected = getattr(module_warnings, name, None)
        if collected is not None:
            collected.clear()


@contextlib.contextmanager
def _environment(overlay):
    """The task's ``environment`` over the controller's, as a module process would see it."""
    if not overlay:
        yield
        return
    saved = dict(os.environ)
    os.environ.update({str(key): str(value) for key, value in overlay.items()})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
