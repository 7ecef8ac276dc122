# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One way to run a module's work, as a module or in the controller's worker. Private to m365.cba; no stable API.

A module of this collection is three things: its documentation, a ``ModuleSpec`` (argument spec,
the checks between options, the libraries it needs) and a function ``run(ctx)`` that does the work
over validated parameters and a small ``Context``: ``ctx.params``, ``ctx.check_mode``,
``ctx.diff_mode``, ``ctx.warn()``, ``ctx.no_log()``, and ``ctx.exit()`` / ``ctx.fail()``, which end
the run with a result.

``run_module()`` adapts AnsibleModule to that: it is each module's ``main()``.
``run_in_worker()`` does the same without AnsibleModule, with ansible-core's public argument-spec
validator (``ansible.module_utils.common.arg_spec``): the action plugins call it to run the module
inside the worker process on a local connection (plugin_utils/_in_process.py). Both give the same
parameters, the same failures for bad arguments, the same masking of ``no_log`` values and the same
result.

Masking follows the running ansible-core. From 2.22 on, Ansible masks every registered secret wherever
it shows a result, and a module registers secrets instead of cleaning its result; ``remove_values`` is
deprecated there. Where the public ``ansible.module_utils.secrets`` exists, secrets are registered with
it; before 2.22 the result itself is cleaned with ``remove_values``, as AnsibleModule cleans it.
"""

from __future__ import annotations

import importlib
import traceback
from collections.abc import Mapping

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError

try:  # ansible-core 2.22 and later: registered secrets are masked wherever Ansible shows a result
    from ansible.module_utils.secrets import register_secrets
except ImportError:
    register_secrets = None
if register_secrets is None:  # earlier: the result is cleaned before it is returned
    from ansible.module_utils.common.parameters import remove_values
else:  # deprecated in 2.22, to be removed in 2.25
    remove_values = None

from ._identifiers import check_identifiers


class ModuleSpec:
    """What AnsibleModule would be given, plus the Python libraries the module needs."""

    def __init__(self, argument_spec, mutually_exclusive=None, required_together=None, required_one_of=None,
                 required_if=None, required_by=None, supports_check_mode=True, libraries=(), adapter=None):
        self.argument_spec = argument_spec
        self.mutually_exclusive = list(mutually_exclusive or [])
        self.required_together = list(required_together or [])
        self.required_one_of = list(required_one_of or [])
        self.required_if = list(required_if or [])
        self.required_by = dict(required_by or {})
        self.supports_check_mode = supports_check_mode
        # (import name, package name): a missing one fails with Ansible's missing_required_lib message.
        self.libraries = tuple(libraries)
        # How run() is called with a Context: run(ctx) unless a kind of module wraps it (GraphModule).
        self.adapter = adapter

    def checks(self):
        return {
            "mutually_exclusive": self.mutually_exclusive,
            "required_together": self.required_together,
            "required_one_of": self.required_one_of,
            "required_if": self.required_if,
            "required_by": self.required_by,
        }

    def missing_library(self):
        """(package name, traceback) of the first library that cannot be imported, or None."""
        for import_name, package in self.libraries:
            try:
                importlib.import_module(import_name)
            except ImportError:
                return package, traceback.format_exc()
        return None

    def call(self, run, ctx):
        if self.adapter is None:
            run(ctx)
        else:
            self.adapter(ctx, run)


class ModuleDone(Exception):
    """How ``ctx.exit()`` and ``ctx.fail()`` end a run: the result travels up to the adapter."""

    def __init__(self, result, failed=False):
        super().__init__(result.get("msg", "done"))
        self.result = result
        self.failed = failed


class ModuleIncomplete(Exception):
    """run() returned without ctx.exit() or ctx.fail(): a bug in the module."""


class Context:
    """What a module's work sees of Ansible."""

    def __init__(self, params, check_mode=False, diff_mode=False):
        self.params = params
        self.check_mode = bool(check_mode)
        self.diff_mode = bool(diff_mode)
        self.warnings = []
        self.no_log_values = set()

    def warn(self, message):
        self.warnings.append(message)

    def no_log(self, value):
        """Mask ``value`` (a secret found at run time, e.g. in the environment) wherever it would appear in the result."""
        if value not in (None, ""):
            self.no_log_values.add(str(value))
            if register_secrets is not None:
                register_secrets([str(value)])

    def diff(self, before, after, **headers):
        """The diff to return, or None when diff mode is off."""
        return dict(before=before, after=after, **headers) if self.diff_mode else None

    def exit(self, changed, **result):
        result["changed"] = bool(changed)
        raise ModuleDone(result)

    def fail(self, msg, **result):
        result["msg"] = msg
        raise ModuleDone(result, failed=True)


def call(spec, run, ctx, secrets=()):
    """(failed, result) of ``run`` with ``ctx``.

    A result whose identifiers hold a ``no_log`` value fails instead: Ansible would mask the value
    there and every later task and report would carry a corrupted thumbprint or id.
    """
    outcome = None
    try:
        spec.call(run, ctx)
    except ModuleDone as done:
        outcome = done
    if outcome is None:
        raise ModuleIncomplete("the module returned without a result")
    failed, result = outcome.failed, outcome.result
    problem = None if failed else masked_identifier_problem(spec, ctx, result, secrets)
    if problem:
        return True, {"msg": problem}
    return failed, result


def masked_identifier_problem(spec, ctx, result, secrets):
    """Why ``result`` cannot be returned as is (an identifier holds a secret), naming the option; or None."""
    for name, option in spec.argument_spec.items():
        value = ctx.params.get(name)
        if option.get("no_log") and isinstance(value, str) and value:
            problem = check_identifiers(result, [value], secret="its value")
            if problem:
                return f"{name}: {problem}"
    # Secrets found at run time (a credential from the environment) have no option to name.
    return check_identifiers(result, set(secrets) | ctx.no_log_values)


def run_module(spec, run):
    """A module's ``main()``: AnsibleModule in, exit_json/fail_json out."""
    module = AnsibleModule(argument_spec=spec.argument_spec, supports_check_mode=spec.supports_check_mode, **spec.checks())
    missing = spec.missing_library()
    if missing:
        module.fail_json(msg=missing_required_lib(missing[0]), exception=missing[1])
    # AnsibleModule keeps the task's --diff in _diff: no public name, and every module reads it there.
    ctx = Context(module.params, check_mode=module.check_mode, diff_mode=getattr(module, "_diff", False))
    failed, result = call(spec, run, ctx, secrets=module.no_log_values)
    module.no_log_values.update(ctx.no_log_values)
    for message in ctx.warnings:
        module.warn(message)
    if failed:
        module.fail_json(**result)
    module.exit_json(**result)


def no_log_values(argument_spec, params):
    """The values of every ``no_log`` option in ``params`` (sub-options included), as strings."""
    found = set()
    for name, option in argument_spec.items():
        value = params.get(name) if isinstance(params, Mapping) else None
        if value is None:
            continue
        if option.get("no_log"):
            if isinstance(value, Mapping):
                found.update(str(item) for item in value.values() if item not in (None, ""))
            elif isinstance(value, (list, tuple)):
                found.update(str(item) for item in value if item not in (None, ""))
            elif value != "":
                found.add(str(value))
        suboptions = option.get("options")
        if suboptions:
            for element in value if isinstance(value, list) else [value]:
                found.update(no_log_values(suboptions, element))
    return found


def plain(value):
    """Task arguments as plain Python data, as a module process would receive them over JSON."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(item) for item in value]
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    # str and its subclasses (templated or tagged strings), and vault-encrypted values, which decrypt to text
    return str(value)


def masked(result, secrets):
    """``result`` as AnsibleModule returns it: with ansible-core 2.22 and later the secrets registered, for
    Ansible to mask wherever it shows the result; before, every secret replaced (None and booleans kept)."""
    if register_secrets is not None:
        register_secrets(secrets)
        return result
    kept = {key: value for key, value in result.items() if value is None or isinstance(value, bool)}
    cleaned = remove_values(result, secrets) if secrets else result
    cleaned.update(kept)
    return cleaned


def validation_failure(name, validation):
    """The message AnsibleModule fails with for bad arguments, or None."""
    if not validation.error_messages:
        return None
    msg = validation.errors.msg
    if isinstance(validation.errors[0], UnsupportedError):
        msg = f"Unsupported parameters for ({name}) module: {msg}"
    return msg


def run_in_worker(name, spec, run, args, check_mode=False, diff_mode=False, invocation=True):
    """Run a module's work here, without a module process; returns the module's result.

    ``args`` are the task's arguments (module_defaults applied). The caller sets up the task's
    environment first: environment fallbacks are read during validation, as AnsibleModule does.
    ``invocation``: whether the result carries ``invocation`` (the module's arguments), as a module
    process's does before ansible-core 2.21 and, from 2.21 on, only when Ansible asks for it.
    """
    validator = ArgumentSpecValidator(spec.argument_spec, **spec.checks())
    validation = validator.validate(plain(args))
    params = validation.validated_parameters
    secrets = no_log_values(spec.argument_spec, params)
    msg = validation_failure(name, validation)
    if msg:
        failure = {"failed": True, "msg": msg}
        if invocation:
            failure["invocation"] = {"module_args": params}
        return masked(failure, secrets)
    if check_mode and not spec.supports_check_mode:
        return {"skipped": True, "msg": "remote module does not support check mode", "changed": False}
    missing = spec.missing_library()
    if missing:
        return {"failed": True, "msg": missing_required_lib(missing[0]), "exception": missing[1]}
    ctx = Context(params, check_mode=check_mode, diff_mode=diff_mode)
    try:
        failed, result = call(spec, run, ctx, secrets=secrets)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        # As a module process fails on a bug: the message in the result, the traceback at -vvv.
        failed, result = True, {"msg": f"m365.cba.{name} failed unexpectedly: {type(exc).__name__}: {exc}",
                                "exception": traceback.format_exc()}
    result = dict(result)
    if failed:
        result["failed"] = True
    if ctx.warnings:
        result["warnings"] = list(ctx.warnings)
    if invocation:
        result.setdefault("invocation", {"module_args": params})
    return masked(result, secrets | ctx.no_log_values)
