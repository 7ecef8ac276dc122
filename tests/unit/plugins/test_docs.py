# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every value a module returns is documented with a sample that has the documented type and, for
dictionaries, only documented keys. The docs are read from the source (ast), as ansible-doc reads them."""

from __future__ import annotations

import ast
import os

import pytest
import yaml

MODULES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
                           "plugins", "modules")
MODULES = sorted(name[:-3] for name in os.listdir(MODULES_DIR) if name.endswith(".py") and name != "__init__.py")

PYTHON_TYPES = {"str": str, "int": int, "bool": bool, "float": (int, float), "list": list, "dict": dict}


def return_doc(module):
    with open(os.path.join(MODULES_DIR, module + ".py"), encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["RETURN"]:
            return yaml.safe_load(node.value.value) or {}
    raise AssertionError(f"{module} has no RETURN")


def fits(value, kind):
    if kind == "bool":
        return isinstance(value, bool)
    return not isinstance(value, bool) and isinstance(value, PYTHON_TYPES[kind])


def type_problems(value, spec, where):
    """Where `value` (a sample, or part of one) does not fit the documented `spec`."""
    if value is None:
        return []  # documented as null in some cases (check mode, absent)
    kind = spec.get("type")
    if kind in PYTHON_TYPES and not fits(value, kind):
        return [f"{where}: sample {value!r} is not of type {kind}"]
    problems = []
    contains = spec.get("contains") or {}
    items = value if kind == "list" else [value] if kind == "dict" else []
    for index, item in enumerate(items):
        if kind == "list" and spec.get("elements") in PYTHON_TYPES and spec.get("elements") != "dict":
            problems += type_problems(item, {"type": spec["elements"]}, f"{where}[{index}]")
        elif contains and isinstance(item, dict):
            problems += [f"{where}: sample key {key!r} is not documented" for key in sorted(set(item) - set(contains))]
            problems += [p for key in sorted(set(item) & set(contains)) for p in type_problems(item[key], contains[key], f"{where}.{key}")]
        elif contains:
            problems.append(f"{where}: sample {item!r} is not a dictionary")
    return problems


def sample_problems(doc, prefix=""):
    """Every returned key, recursively into `contains`, without a sample or with one that does not fit."""
    problems = []
    for key, spec in (doc or {}).items():
        where = prefix + key
        if "sample" not in spec:
            problems.append(f"{where}: no sample")
        else:
            problems += type_problems(spec["sample"], spec, where)
        if spec.get("contains"):
            problems += sample_problems(spec["contains"], where + ".")
    return problems


def test_every_module_is_checked():
    assert len(MODULES) >= 10 and "certificate" in MODULES and "application_info" in MODULES


@pytest.mark.parametrize("module", MODULES)
def test_every_return_value_has_a_fitting_sample(module):
    doc = return_doc(module)
    assert doc, f"{module}: RETURN documents nothing"
    assert sample_problems(doc) == []


def test_the_check_finds_what_is_missing_or_wrong():
    doc = yaml.safe_load("""
    app:
      description: An application.
      type: dict
      sample: {id: "1", name: x, extra: 1}
      contains:
        id: {description: ID, type: str, sample: "1"}
        name: {description: Name, type: str}
        count: {description: Count, type: int, sample: "3"}
    items:
      description: Items.
      type: list
      elements: str
      sample: [a, 2]
    flag: {description: A flag, type: bool, sample: 1}
    """)
    assert sample_problems(doc) == [
        "app: sample key 'extra' is not documented",
        "app.name: no sample",
        "app.count: sample '3' is not of type int",
        "items[1]: sample 2 is not of type str",
        "flag: sample 1 is not of type bool",
    ]
