# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run m365.cba's modules inside the controller's worker process. Private to m365.cba; no stable API.

Every module of this collection talks to Microsoft Graph over HTTPS and keeps its files on the
control node, so on a ``local`` connection the only difference between running it as a module
and running its work in the worker that would start it is the cost: packaging the module,
starting a Python interpreter and importing requests, cryptography and msal again for every task.

``InProcessAction`` is the action plugin named like each module. On a ``local`` connection without
``become`` or ``async`` it runs the module's ``run(ctx)`` through ``module_utils._runner.run_in_worker``:
the same argument spec (checked by ansible-core's public ``ArgumentSpecValidator``), check mode,
diff, ``no_log`` masking, warnings and result as the module process, with the task's ``environment``
set for the call. Anywhere else, when the controller's Python cannot import the libraries the
modules need, when this ansible-core lacks what the worker path uses, or with
``m365_cba_in_process: false``, it runs the module the ordinary way. ``-vvv`` says which and why.

Only public names of ansible-core are imported here, and loading this file never fails: whatever
cannot be imported turns into a reason to run the module the ordinary way.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import traceback

from ansible import constants as C
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action.normal import ActionModule as NormalAction
from ansible.utils.display import Display

display = Display()

SWITCH = "m365_cba_in_process"

# What the modules import on their way: the HTTP client, the token library (on a token-cache miss)
# and the certificate code. Imported once, in the process that forks the workers.
LIBRARIES = (
    "requests",
    "msal",
    "cryptography.x509",
    "cryptography.hazmat.primitives.serialization.pkcs12",
)

# Imported by the libraries above only when they first sign a client assertion (PyJWT, for msal):
# imported here too when present, but never a reason to run the modules as module processes.
OPTIONAL_LIBRARIES = ("jwt",)

# The libraries the controller's Python could not import: the modules then run as module processes,
# with the interpreter the inventory gives the host, which may have them.
MISSING = set()

# Why a module cannot run in the worker at all (its import failed), by module name.
UNUSABLE = {}


def module_fqn(name):
    return f"ansible_collections.m365.cba.plugins.modules.{name}"


def preload(module):
    """Import ``module`` and the libraries it needs now, in the process that forks the workers.

    Never raises: a plugin that fails to load would fail the task before ``m365_cba_in_process``
    is even read.
    """
    for name in LIBRARIES + OPTIONAL_LIBRARIES:
        try:
            importlib.import_module(name)
        except ImportError:
            if name in LIBRARIES:
                MISSING.add(name.split(".", maxsplit=1)[0])
    try:
        loaded = importlib.import_module(module_fqn(module))
        getattr(loaded, "SPEC")
        getattr(loaded, "run")
    except Exception as exc:  # pylint: disable=broad-exception-caught
        UNUSABLE[module] = f"its code could not be loaded here: {type(exc).__name__}: {exc}"


def worker_runner():
    """The runner module, or None when this ansible-core lacks a public interface it needs."""
    try:
        return importlib.import_module("ansible_collections.m365.cba.plugins.module_utils._runner")
    except ImportError:
        return None


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
        if self.MODULE in UNUSABLE:
            return UNUSABLE[self.MODULE]
        if worker_runner() is None:
            return "this ansible-core has no public argument-spec validator"
        if not callable(getattr(self, "_compute_environment_string", None)):
            return "this ansible-core's action plugins cannot compute the task environment"
        return None

    def _task_environment(self):
        """The task's ``environment``, templated and merged as ansible-core does for a module."""
        environment = {}
        self._compute_environment_string(environment)
        return environment

    @staticmethod
    def _invocation_wanted(task_vars):
        """Whether a module process would return ``invocation``: AnsibleModule adds it always before
        ansible-core 2.21, and from 2.21 on only with the INJECT_INVOCATION setting."""
        try:
            wanted = C.config.get_config_value("INJECT_INVOCATION", variables=task_vars)
        except Exception:  # pylint: disable=broad-exception-caught  # an ansible-core without the setting
            return True
        return boolean(wanted, strict=False)

    def _run_in_process(self, task_vars=None):
        module = importlib.import_module(module_fqn(self.MODULE))
        runner = worker_runner()
        with task_environment(self._task_environment()):
            try:
                return runner.run_in_worker(
                    self.MODULE, module.SPEC, module.run, self._task.args,
                    check_mode=bool(self._task.check_mode), diff_mode=bool(self._task.diff),
                    invocation=self._invocation_wanted(task_vars or {}),
                )
            except Exception as exc:  # pylint: disable=broad-exception-caught
                # As a module process would fail: the message here, the traceback at -vvv.
                return {
                    "failed": True,
                    "msg": f"m365.cba.{self.MODULE} failed unexpectedly: {type(exc).__name__}: {exc}",
                    "exception": traceback.format_exc(),
                }


@contextlib.contextmanager
def task_environment(overlay):
    """The task's ``environment`` over the controller's, as a module process would see it; restored after."""
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
