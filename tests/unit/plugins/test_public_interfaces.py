# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection's code uses ansible-core's public names only: private ones change with every release.

Every import from ``ansible`` (not ``ansible_collections``) under plugins/ is read: no module on the
path and no imported name may start with ``_``, and no attribute starting with ``_`` may be read
from an imported ansible-core module. The one private name read elsewhere, AnsibleModule's
``_diff`` (it has no public twin), is read with a fallback that is tested below.
"""

from __future__ import annotations

import ast
import os

import pytest

PLUGINS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))), "plugins")


def python_files():
    for folder, _dirs, files in os.walk(PLUGINS):
        for name in sorted(files):
            if name.endswith(".py"):
                yield os.path.join(folder, name)


def is_ansible_core(module):
    return module == "ansible" or module.startswith("ansible.")


def private_uses(source):
    """(line, what) for every private ansible-core name the source imports or reads."""
    tree = ast.parse(source)
    found = []
    core_names = set()  # local names bound to ansible-core modules or objects
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if is_ansible_core(alias.name):
                    if any(part.startswith("_") for part in alias.name.split(".")):
                        found.append((node.lineno, alias.name))
                    core_names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and is_ansible_core(node.module):
            if any(part.startswith("_") for part in node.module.split(".")):
                found.append((node.lineno, node.module))
            for alias in node.names:
                if alias.name.startswith("_"):
                    found.append((node.lineno, f"{node.module}.{alias.name}"))
                core_names.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in core_names:
                found.append((node.lineno, f"{root.id}...{node.attr}"))
    return found


@pytest.mark.parametrize("path", list(python_files()), ids=lambda path: os.path.relpath(path, PLUGINS))
def test_no_private_ansible_core_name(path):
    with open(path, encoding="utf-8") as handle:
        assert private_uses(handle.read()) == []


@pytest.mark.parametrize("source, expected", [
    ("from ansible.module_utils import _internal", [(1, "ansible.module_utils._internal")]),
    ("from ansible.module_utils._internal import x", [(1, "ansible.module_utils._internal")]),
    ("import ansible.module_utils._internal.foo", [(1, "ansible.module_utils._internal.foo")]),
    ("from ansible.vars.clean import _x as y", [(1, "ansible.vars.clean._x")]),
    ("from ansible.module_utils import basic\nbasic._ANSIBLE_ARGS = 1", [(2, "basic..._ANSIBLE_ARGS")]),
    ("from ansible_collections.m365.cba.plugins.module_utils import _runner", []),
    ("from ansible.module_utils.common.arg_spec import ArgumentSpecValidator", []),
    ("self._task.args", []),  # the action plugin API of ActionBase
])
def test_the_scan_finds_private_names(source, expected):
    assert private_uses(source) == expected


def test_the_diff_flag_has_a_fallback(monkeypatch, module_args):
    """AnsibleModule keeps --diff only in ``_diff``; without it the run is simply not in diff mode."""
    from ansible_collections.m365.cba.plugins.module_utils import _runner

    seen = []

    def run(ctx):
        seen.append(ctx.diff_mode)
        ctx.exit(False)

    spec = _runner.ModuleSpec({})
    with module_args({"_ansible_diff": True}):
        with pytest.raises(SystemExit):
            _runner.run_module(spec, run)
    original = _runner.AnsibleModule.__init__

    def without_diff(self, *args, **kwargs):
        original(self, *args, **kwargs)
        del self._diff

    monkeypatch.setattr(_runner.AnsibleModule, "__init__", without_diff)
    with module_args({"_ansible_diff": True}):
        with pytest.raises(SystemExit):
            _runner.run_module(spec, run)
    assert seen == [True, False]
