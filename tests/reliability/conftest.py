# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for the reliability tests: an in-process emulator and real Ansible runs against it.

These tests run the collection the way users do, through ``ansible-playbook``, so they need an
installed copy of the collection: ``make collection BUILD=/tmp/b`` and then
``ANSIBLE_COLLECTIONS_PATH=/tmp/b/collections pytest tests/reliability``. Without
``ANSIBLE_COLLECTIONS_PATH`` (or without m365.cba below it) every test that runs Ansible is skipped.

Fixtures
  ``emulator``     one emulator per test module, started in this process (``EMULATOR_TENANTS``
                   tenants: 2, or the value the test module sets)
  ``emu``          the module's emulator back at its seed state (faults, request log, settings cleared)
  ``ansible``      an :class:`AnsibleRunner`: ``ansible.playbook(...)`` / ``ansible.module(...)``, each
                   returning a :class:`RunResult` with every task result as the module returned it
  ``emulator_connection``  ``connection_vars(emu, tenant, credential)``: module options signing in
                   to a tenant as its bootstrap identity
  ``tenant_inventory``     ``emulator_inventory(emu, path, ...)``: an inventory for playbooks/setup.yml
  ``snapshots``    ``{"tree": tree_snapshot, "emulator": emulator_snapshot}``: paths, modes and
                   digests of every file below a directory; the emulator's full state dump
Test modules cannot import this file (other test directories have a conftest.py too): use the
fixtures.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EMULATOR_PATH = os.path.join(REPO, "tests", "emulator")
if EMULATOR_PATH not in sys.path:
    sys.path.insert(0, EMULATOR_PATH)

from m365emu import Emulator  # noqa: E402  pylint: disable=wrong-import-position

EMULATOR_TENANTS = 2

# Environment variables a user's shell may carry that would change what the modules do.
_FOREIGN_ENV_PREFIXES = ("AZURE_", "M365_CBA_", "ANSIBLE_")
# Extra variables that keep Ansible quiet, local and confined to a scratch directory.
_ANSIBLE_SETTINGS = {
    "ANSIBLE_RETRY_FILES_ENABLED": "false",
    "ANSIBLE_NOCOLOR": "1",
    "ANSIBLE_FORCE_COLOR": "0",
    "ANSIBLE_HOST_KEY_CHECKING": "false",
    "ANSIBLE_DEPRECATION_WARNINGS": "false",
    "ANSIBLE_SYSTEM_WARNINGS": "false",
    "ANSIBLE_LOCALHOST_WARNING": "false",
    "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
    "ANSIBLE_GATHERING": "explicit",
}

# A notification callback that appends every task result, as the module returned it (after
# Ansible's no_log masking), to the JSON-lines file named by ANSIBLE_RESULT_LOG.
RESULT_LOG_CALLBACK = '''
from __future__ import annotations

DOCUMENTATION = """
name: result_log
type: notification
short_description: Append every task result to a JSON-lines file
description: Writes one line per task result (host, task name, action, status, result) to O(path).
options:
  path:
    description: The file to append to.
    env:
      - name: ANSIBLE_RESULT_LOG
    type: path
"""

import json
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "result_log"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._started = time.monotonic()

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._started = time.monotonic()

    def _write(self, status, result):
        path = self.get_option("path")
        if not path:
            return
        data = getattr(result, "result", None)
        if data is None:
            data = result._result
        task = result._task
        entry = {
            "host": result._host.get_name(),
            "task": task.get_name(),
            "action": task.action,
            "status": status,
            "seconds": round(time.monotonic() - self._started, 3),
            "result": data,
        }
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, default=repr) + "\\n")

    def v2_runner_on_ok(self, result, **kwargs):
        self._write("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False, **kwargs):
        self._write("failed", result)

    def v2_runner_on_skipped(self, result, **kwargs):
        self._write("skipped", result)

    def v2_runner_on_unreachable(self, result, **kwargs):
        self._write("unreachable", result)

    def v2_runner_item_on_ok(self, result, **kwargs):
        self._write("item_ok", result)

    def v2_runner_item_on_failed(self, result, **kwargs):
        self._write("item_failed", result)
'''


# -- results ---------------------------------------------------------------------------------------

@dataclass
class RunResult:
    """One ``ansible-playbook`` run: exit code, output, and every task result in order."""

    rc: int
    stdout: str
    stderr: str
    duration: float
    results: list = field(default_factory=list)
    playbook: str = ""

    def entry(self, name, host=None):
        """The last callback entry (host, task, action, status, seconds, result) of the task ``name``
        (a role's task also answers to its name without the ``role : `` prefix)."""
        found = [r for r in self.results if (r["task"] == name or r["task"].endswith(" : " + name))
                 and (host is None or r["host"] == host)]
        if not found:
            raise KeyError(f"no result for task {name!r}; tasks run: {[r['task'] for r in self.results]}\n{self.output_tail()}")
        return found[-1]

    def task(self, name, host=None):
        """The last result of the task called ``name`` (on ``host`` when given)."""
        return self.entry(name, host)["result"]

    def failed(self, name, host=None):
        """Whether the task called ``name`` failed (also when its errors were ignored)."""
        entry = self.entry(name, host)
        return entry["status"] in ("failed", "item_failed") or bool(entry["result"].get("failed"))

    def output_tail(self, lines=60):
        return "\n".join((self.stdout + "\n" + self.stderr).splitlines()[-lines:])


# -- running Ansible -------------------------------------------------------------------------------

def _installed_collection(paths):
    for path in paths.split(os.pathsep):
        if path and os.path.isfile(os.path.join(path, "ansible_collections", "m365", "cba", "galaxy.yml")):
            return os.path.join(path, "ansible_collections", "m365", "cba")
    return None


class AnsibleRunner:
    """Runs ``ansible-playbook`` with the collection from ANSIBLE_COLLECTIONS_PATH, locally.

    Every run gets the interpreter of this test process (which has msal, requests and
    cryptography), a private ANSIBLE_HOME and the ``result_log`` callback.
    """

    def __init__(self, collections_path, collection_dir, workdir):
        self.collections_path = collections_path
        self.collection_dir = collection_dir
        self.workdir = workdir
        self._counter = 0
        bindir = os.path.dirname(sys.executable)
        self.ansible_playbook = os.path.join(bindir, "ansible-playbook")
        if not os.path.exists(self.ansible_playbook):
            self.ansible_playbook = shutil.which("ansible-playbook")
        callbacks = os.path.join(workdir, "callback_plugins")
        os.makedirs(callbacks, exist_ok=True)
        with open(os.path.join(callbacks, "result_log.py"), "w", encoding="utf-8") as handle:
            handle.write(RESULT_LOG_CALLBACK)
        home = os.path.join(workdir, "ansible-home")
        os.makedirs(os.path.join(home, "tmp"), exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN_ENV_PREFIXES)}
        env.update(_ANSIBLE_SETTINGS)
        env.update({
            "ANSIBLE_COLLECTIONS_PATH": collections_path,
            "ANSIBLE_HOME": home,
            "ANSIBLE_LOCAL_TEMP": os.path.join(home, "tmp"),
            "ANSIBLE_ASYNC_DIR": os.path.join(home, "async"),
            "ANSIBLE_CALLBACK_PLUGINS": callbacks,
            "ANSIBLE_CALLBACKS_ENABLED": "result_log",
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        })
        self.env = env

    def _next(self, prefix):
        self._counter += 1
        return os.path.join(self.workdir, f"{prefix}-{self._counter:03d}")

    def localhost_inventory(self, path=None):
        path = path or self._next("inventory") + ".json"
        inventory = {"all": {"hosts": {"localhost": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}
        _write_json(path, inventory)
        return path

    def playbook(self, playbook, inventory=None, extra_vars=None, extra_vars_files=(), check=False, diff=False,
                 verbosity=0, env=None, args=(), timeout=600):
        """Run a playbook given as a path or as a list of plays (written to a file as JSON)."""
        if not isinstance(playbook, (str, os.PathLike)):
            path = self._next("playbook") + ".yml"
            _write_json(path, playbook, private=True)  # module options may hold secrets
            playbook = path
        log = self._next("results") + ".jsonl"
        command = [self.ansible_playbook, "-i", str(inventory or self.localhost_inventory()), str(playbook)]
        if extra_vars:
            vars_path = self._next("vars") + ".json"
            _write_json(vars_path, extra_vars, private=True)
            command += ["-e", "@" + vars_path]
        for vars_file in extra_vars_files:
            command += ["-e", "@" + str(vars_file)]
        if check:
            command.append("--check")
        if diff:
            command.append("--diff")
        if verbosity:
            command.append("-" + "v" * verbosity)
        command += list(args)
        run_env = dict(self.env, ANSIBLE_RESULT_LOG=log)
        run_env.update(env or {})
        started = time.monotonic()
        proc = subprocess.run(command, env=run_env, capture_output=True, text=True, timeout=timeout, check=False,
                              cwd=self.workdir)
        duration = time.monotonic() - started
        results = []
        if os.path.exists(log):
            with open(log, encoding="utf-8") as handle:
                results = [json.loads(line) for line in handle if line.strip()]
        return RunResult(proc.returncode, proc.stdout, proc.stderr, duration, results, str(playbook))

    def module(self, module, args, check=False, task_vars=None, **kwargs):
        """Run one module task on localhost; returns ``(result dict, RunResult)``."""
        module = module if "." in module else "m365.cba." + module
        play = [{"name": "One task", "hosts": "localhost", "gather_facts": False, "vars": task_vars or {},
                 "tasks": [{"name": "task", module: args, "ignore_errors": True}]}]
        run = self.playbook(play, check=check, **kwargs)
        return run.task("task"), run


@pytest.fixture(scope="session")
def ansible(tmp_path_factory):
    """An :class:`AnsibleRunner`, or a skip when the installed collection cannot be found."""
    paths = os.environ.get("ANSIBLE_COLLECTIONS_PATH") or os.environ.get("ANSIBLE_COLLECTIONS_PATHS")
    if not paths:
        pytest.skip("ANSIBLE_COLLECTIONS_PATH is not set; run `make collection BUILD=DIR` and set it to DIR/collections")
    collection_dir = _installed_collection(paths)
    if collection_dir is None:
        pytest.skip(f"m365.cba is not installed below ANSIBLE_COLLECTIONS_PATH={paths}")
    runner = AnsibleRunner(paths, collection_dir, str(tmp_path_factory.mktemp("ansible")))
    if not runner.ansible_playbook:
        pytest.skip("ansible-playbook not found beside this Python or on PATH")
    return runner


# -- the emulator ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def emulator(request, tmp_path_factory):
    """One emulator for the whole test module: ``EMULATOR_TENANTS`` tenants (a module may set its own)."""
    tenants = getattr(request.module, "EMULATOR_TENANTS", EMULATOR_TENANTS)
    with Emulator(str(tmp_path_factory.mktemp("emulator")), tenants=tenants) as emu:
        yield emu


@pytest.fixture
def emu(emulator):
    """The module's emulator at its seed state, with no faults, an empty request log, default settings."""
    emulator.reset(faults=True, requests=True, settings=True)
    return emulator


def connection_vars(emu, tenant="tenant01", credential="certificate", token_cache_dir="none"):
    """Module options that sign in to ``tenant`` of ``emu`` as its bootstrap identity.

    ``credential`` is ``certificate`` (PEM), ``pfx`` (PFX + password) or ``secret``.
    """
    info = emu.tenant(tenant)
    bootstrap = info["bootstrap"]
    options = {
        "tenant_id": info["tenant_id"],
        "client_id": bootstrap["client_id"],
        "authority_host": emu.base_url,
        "graph_endpoint": emu.base_url,
        "ca_bundle": emu.ca_bundle,
        "token_cache_dir": token_cache_dir,
    }
    if credential == "certificate":
        options["client_certificate_path"] = bootstrap["certificate_path"]
    elif credential == "pfx":
        options["client_certificate_path"] = bootstrap["pfx_path"]
        options["client_certificate_password"] = bootstrap["pfx_password"]
    elif credential == "secret":
        options["client_secret"] = bootstrap["client_secret"]
    else:
        raise ValueError(credential)
    return options


def emulator_inventory(emu, path, tenants=None, credentials=None, host_vars=None, group_vars=None):
    """An inventory file for playbooks/setup.yml: group ``tenants`` with one local host per tenant.

    ``credentials`` maps a tenant name to how its bootstrap identity signs in: ``certificate``
    (PEM, the default), ``pfx`` (PFX + password), ``secret`` or ``token`` (an access token given in
    ``host_vars`` as ``m365_cba_access_token``). ``host_vars``/``group_vars`` are merged last.
    """
    hosts = {}
    for info in emu.tenants:
        if tenants is not None and info["name"] not in tenants:
            continue
        bootstrap = info["bootstrap"]
        host = {
            "m365_cba_tenant_id": info["tenant_id"],
            "m365_cba_client_id": bootstrap["client_id"],
            "m365_cba_initial_domain": info["initial_domain"],
        }
        kind = (credentials or {}).get(info["name"], "certificate")
        if kind == "certificate":
            host["m365_cba_client_certificate_path"] = bootstrap["certificate_path"]
        elif kind == "pfx":
            host["m365_cba_client_certificate_path"] = bootstrap["pfx_path"]
            host["m365_cba_client_certificate_password"] = bootstrap["pfx_password"]
        elif kind == "secret":
            host["m365_cba_client_secret"] = bootstrap["client_secret"]
        elif kind != "token":
            raise ValueError(f"unknown credential kind {kind!r}")
        host.update((host_vars or {}).get(info["name"], {}))
        hosts[info["name"]] = host
    group = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "m365_cba_authority_host": emu.base_url,
        "m365_cba_graph_endpoint": emu.base_url,
        "m365_cba_ca_bundle": emu.ca_bundle,
    }
    group.update(group_vars or {})
    localhost = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    _write_json(path, {"all": {"children": {"tenants": {"vars": group, "hosts": hosts}},
                               "hosts": {"localhost": localhost}}}, private=True)
    return str(path)


# -- snapshots -------------------------------------------------------------------------------------

def tree_snapshot(root):
    """``{relative path: (kind, mode, sha256 of a file's content)}`` for ``root`` and everything below it."""
    root = str(root)
    found = {}
    if not os.path.lexists(root):
        return found
    for current, dirs, files in os.walk(root):
        for name in [None] + sorted(dirs) + sorted(files):
            path = current if name is None else os.path.join(current, name)
            if name is None and current != root:
                continue
            info = os.lstat(path)
            digest = None
            if stat.S_ISREG(info.st_mode):
                with open(path, "rb") as handle:
                    digest = hashlib.sha256(handle.read()).hexdigest()
            kind = "dir" if stat.S_ISDIR(info.st_mode) else "file" if stat.S_ISREG(info.st_mode) else "other"
            found[os.path.relpath(path, root)] = (kind, stat.S_IMODE(info.st_mode), digest)
    return found


def emulator_snapshot(emu):
    """The emulator's objects in every tenant (its full state dump, as plain JSON), for before/after comparisons."""
    return json.loads(json.dumps(emu.state(), sort_keys=True, default=str))


@pytest.fixture(scope="session")
def snapshots():
    """The snapshot helpers, for test modules that prefer fixtures to imports."""
    return {"tree": tree_snapshot, "emulator": emulator_snapshot}


@pytest.fixture(scope="session")
def emulator_connection():
    """``connection_vars(emu, tenant, credential)`` as a fixture."""
    return connection_vars


@pytest.fixture(scope="session")
def tenant_inventory():
    """``emulator_inventory(emu, path, ...)`` as a fixture."""
    return emulator_inventory


# -- small utilities -------------------------------------------------------------------------------

def _write_json(path, data, private=False):
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    descriptor = os.open(str(path), flags, 0o600 if private else 0o644)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1)
