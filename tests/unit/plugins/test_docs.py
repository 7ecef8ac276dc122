# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every value a module returns is documented with a sample that has the documented type and, for
dictionaries, only documented keys. Every example task gives only documented options, refers only to
variables registered before it or to the setup role's (the inventory's) variables, and gets its Microsoft
Graph credential from the task or from the module_defaults / AZURE_* note at the top of its block
(tests/e2e/test_examples.py runs them). The docs are read from the source (ast), as ansible-doc reads them."""

from __future__ import annotations

import ast
import os
import re

import pytest
import yaml

COLLECTION_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
MODULES_DIR = os.path.join(COLLECTION_DIR, "plugins", "modules")
MODULES = sorted(name[:-3] for name in os.listdir(MODULES_DIR) if name.endswith(".py") and name != "__init__.py")

PYTHON_TYPES = {"str": str, "int": int, "bool": bool, "float": (int, float), "list": list, "dict": dict}


def doc_string(path, name, parent=None):
    """The string assigned to `name` at the top of the file (or in its class `parent`)."""
    with open(path, encoding="utf-8") as handle:
        body = ast.parse(handle.read()).body
    if parent:
        body = [n for n in body if isinstance(n, ast.ClassDef) and n.name == parent][0].body
    for node in body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [name]:
            return node.value.value
    raise AssertionError(f"{path} has no {name}")


def return_doc(module):
    return yaml.safe_load(doc_string(os.path.join(MODULES_DIR, module + ".py"), "RETURN")) or {}


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


# -- EXAMPLES ---------------------------------------------------------------------------------------------

CREDENTIALS = {"client_secret", "client_certificate_path", "access_token"}
# m365.cba.app_token_info signs in as the application it checks, with that application's certificate.
OWN_CREDENTIALS = {"m365.cba.app_token_info": {"certificate_path"}}
# Variables an example may use without defining them, besides the setup role's (the inventory's, as in
# inventory/example/): Ansible's own.
ANSIBLE_VARIABLES = {"inventory_hostname", "playbook_dir", "lookup", "omit"}
REFERENCE = re.compile(r"\{\{-?\s*([A-Za-z_]\w*)")


def graph_modules():
    with open(os.path.join(COLLECTION_DIR, "meta", "runtime.yml"), encoding="utf-8") as handle:
        return {f"m365.cba.{name}" for name in yaml.safe_load(handle)["action_groups"]["graph"]}


def options_of(module):
    """Every option (and alias) the module documents, with those of its m365.cba doc fragments."""
    doc = yaml.safe_load(doc_string(os.path.join(MODULES_DIR, module + ".py"), "DOCUMENTATION"))
    options = dict(doc.get("options") or {})
    for fragment in doc.get("extends_documentation_fragment") or []:
        if fragment == "m365.cba.graph_auth":
            path = os.path.join(COLLECTION_DIR, "plugins", "doc_fragments", "graph_auth.py")
            options.update(yaml.safe_load(doc_string(path, "DOCUMENTATION", "ModuleDocFragment"))["options"])
    return set(options) | {alias for spec in options.values() for alias in spec.get("aliases") or []}


def role_variables():
    """The variables of the setup role's argument specification."""
    with open(os.path.join(COLLECTION_DIR, "roles", "setup", "meta", "argument_specs.yml"), encoding="utf-8") as handle:
        specs = yaml.safe_load(handle)["argument_specs"]
    return {name for entry in specs.values() for name in entry.get("options") or {}}


def examples_of(module):
    return doc_string(os.path.join(MODULES_DIR, module + ".py"), "EXAMPLES")


def leading_comment(text):
    """The comment lines at the top of an EXAMPLES block, before its first task."""
    lines = []
    for line in text.strip().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines)


def example_problems(text, graph, options, known):
    """What keeps the tasks of an EXAMPLES block from running as written. `graph` is the set of modules that
    sign in to Microsoft Graph, `options` maps a module's FQCN to the options it takes, `known` holds the
    variables a task may use that no earlier task registers."""
    problems = []
    note = leading_comment(text)
    noted = all(word in note for word in ("module_defaults", "group/m365.cba.graph", "AZURE_"))
    registered = set()
    for task in yaml.safe_load(text):
        name = task.get("name", "?")
        for action in [key for key in task if key.startswith("m365.cba.")]:
            args = task[action] or {}
            problems += [f"{name}: {action} has no option {option!r}" for option in sorted(set(args) - options[action])]
            credentials = OWN_CREDENTIALS.get(action, CREDENTIALS)
            if action in graph and not noted and not ("tenant_id" in args and credentials & set(args)):
                problems.append(f"{name}: {action} gets no credential, and no comment at the top says where from")
        for variable in REFERENCE.findall(yaml.safe_dump(task)):
            if variable not in registered | known:
                problems.append(f"{name}: {variable} is neither registered by an earlier task nor a known variable")
        if task.get("register"):
            registered.add(task["register"])
    return problems


@pytest.mark.parametrize("module", MODULES)
def test_every_example_has_what_it_needs_to_run(module):
    options = {f"m365.cba.{name}": options_of(name) for name in MODULES}
    known = role_variables() | ANSIBLE_VARIABLES
    assert example_problems(examples_of(module), graph_modules(), options, known) == []


def test_the_examples_check_finds_what_would_not_run():
    options = {"m365.cba.application": {"unique_name", "tenant_id", "client_id", "client_certificate_path"}}
    graph = {"m365.cba.application"}
    task = """
- name: Register
  m365.cba.application:
    unique_name: a
    display: b
  register: app
- name: Show
  ansible.builtin.debug:
    msg: "{{ app.application.app_id }} {{ cert.thumbprint }} {{ m365_cba_tenant_id }}"
- name: Signed in
  m365.cba.application:
    tenant_id: "{{ m365_cba_tenant_id }}"
    client_certificate_path: /etc/m365-cba/bootstrap.pem
"""
    known = {"m365_cba_tenant_id"}
    assert example_problems(task, graph, options, known) == [
        "Register: m365.cba.application has no option 'display'",
        "Register: m365.cba.application gets no credential, and no comment at the top says where from",
        "Show: cert is neither registered by an earlier task nor a known variable",
    ]
    note = "# module_defaults for group/m365.cba.graph, or AZURE_TENANT_ID ...\n"
    assert example_problems(note + task, graph, options, known) == [
        "Register: m365.cba.application has no option 'display'",
        "Show: cert is neither registered by an earlier task nor a known variable",
    ]
