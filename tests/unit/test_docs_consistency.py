# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The documentation names only what the collection has, as users get it installed.

Read from the files themselves (nothing runs): README.md, docs/*.md, roles/setup/README.md and the inventory
examples. Checked:

- every ``m365_cba_*`` variable they name is a variable of the setup role (its argument spec), of a playbook
  (its vars, vars_prompt, ``default(...)`` and ``is defined`` uses), a fact or statistic the role or a playbook
  sets, one the inventory plugin documents, or one the action plugins read;
- every option given to an ``m365.cba.<module>`` (in YAML examples, ad-hoc commands and prose such as
  "``m365.cba.x`` (``option: value``)") is an option of that module;
- every relative link, and every ``playbooks/``, ``roles/``, ``extensions/``, ``inventory/`` and ``docs/`` path,
  exists and is in the collection archive (not left out by galaxy.yml's build_ignore);
- commands for users of the installed collection run playbooks by name (``m365.cba.setup``) and take no path
  relative to the collection's root, which is not their working directory;
- a list of the collection's Python requirements names all of them;
- the multi-tenant bootstrap application's certificate is the file ``m365.cba.bootstrap`` makes;
- no looped task in an example names its loop item in its name (ansible-core 2.19 and later template a task's
  name before the loop, where the item is undefined, and print a template error).
"""

from __future__ import annotations

import ast
import fnmatch
import glob
import os
import re
import shlex
import sys

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The modules' options, the role's variables and the plugins' doc strings, read as the module docs test
# (tests/unit/plugins/test_docs.py) reads them.
sys.path.insert(0, os.path.join(REPO, "tests", "unit", "plugins"))
from test_docs import MODULES, doc_string, options_of, role_variables  # noqa: E402  pylint: disable=wrong-import-position

COLLECTION = "m365.cba"

# Sections of README.md written for people working on the collection in its repository, where relative paths
# and playbook files are right.
DEVELOPER_SECTIONS = {"Quick start", "The emulator", "Development"}
# Documents written for people working on the collection (written by make bench and make soak).
DEVELOPER_DOCS = {"docs/benchmarks.md", "docs/soak.md"}
PATH_PREFIXES = ("playbooks", "roles", "extensions", "inventory", "docs")
SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}
VARIABLE = re.compile(r"\bm365_cba_[A-Za-z0-9_]+")
COLLECTION_PATH = re.compile(r"(?<![\w./~$<>{}-])((?:" + "|".join(PATH_PREFIXES) + r")/[\w.*/-]*)")
FENCE = re.compile(r"^(\s*)```([\w-]*)\s*$")


def read(relative):
    with open(os.path.join(REPO, relative), encoding="utf-8") as handle:
        return handle.read()


def doc_files():
    names = ["README.md"] + sorted(os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "docs", "*.md")))
    if os.path.exists(os.path.join(REPO, "roles", "setup", "README.md")):
        names.append("roles/setup/README.md")
    return names


def inventory_examples():
    found = []
    for folder, _dirs, files in os.walk(os.path.join(REPO, "inventory")):
        found += [os.path.relpath(os.path.join(folder, name), REPO) for name in sorted(files)]
    return sorted(found)


# -- reading Markdown --------------------------------------------------------------------------------------

class Block:
    """A fenced code block, or a run of prose, of a Markdown file, with the section it is in."""

    def __init__(self, path, line, language, text, section):
        self.path, self.line, self.language, self.text, self.section = path, line, language, text, section

    @property
    def where(self):
        return f"{self.path}:{self.line}"

    @property
    def for_users(self):
        return self.path not in DEVELOPER_DOCS and self.section not in DEVELOPER_SECTIONS


def markdown_blocks(path, text=None):
    text = read(path) if text is None else text
    blocks, section, prose, prose_line = [], None, [], 1
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        fence = FENCE.match(line)
        heading = re.match(r"^## (.+?)\s*$", line)  # a section; ### subsections belong to theirs
        if (fence or heading) and prose:
            blocks.append(Block(path, prose_line, None, "\n".join(prose), section))
            prose = []
        if fence:
            indent, language, body, start = fence.group(1), fence.group(2).lower(), [], index + 1
            index += 1
            while index < len(lines) and not re.match(r"^\s*```\s*$", lines[index]):
                body.append(lines[index][len(indent):] if lines[index].startswith(indent) else lines[index])
                index += 1
            blocks.append(Block(path, start + 1, language, "\n".join(body), section))
        else:
            if heading:
                section = heading.group(1)
            if not prose:
                prose_line = index + 1
            prose.append(line)
        index += 1
    if prose:
        blocks.append(Block(path, prose_line, None, "\n".join(prose), section))
    return blocks


def all_blocks():
    blocks = []
    for path in doc_files():
        blocks += markdown_blocks(path)
    return blocks


# -- what the collection has -------------------------------------------------------------------------------

def module_options():
    """{module: the options (and aliases) it documents, with those of its doc fragments}."""
    return {name: options_of(name) for name in MODULES}


def graph_group_options():
    path = os.path.join(REPO, "plugins", "doc_fragments", "graph_auth.py")
    return set(yaml.safe_load(doc_string(path, "DOCUMENTATION", "ModuleDocFragment"))["options"])


def playbook_variables():
    """The variables the playbooks read (play vars, vars_prompt, default(...) and is defined uses) or set (set_fact,
    set_stats): the playbooks' own interface."""
    names = set()
    for path in sorted(glob.glob(os.path.join(REPO, "playbooks", "*.yml"))):
        text = read(os.path.relpath(path, REPO))
        for play in yaml.safe_load(text) or []:
            names |= {n for n in (play.get("vars") or {}) if n.startswith("m365_cba_")}
            names |= {p["name"] for p in play.get("vars_prompt") or [] if p.get("name", "").startswith("m365_cba_")}
        names |= set(re.findall(r"\b(m365_cba_\w+)\s*\|\s*default\(", text))
        names |= set(re.findall(r"\b(m365_cba_\w+) is (?:not )?defined", text))
        names |= set_variables(text)
    return names


def set_variables(text):
    """Public names set by set_fact or set_stats in a task file or playbook."""
    names = set()

    def walk(node):
        if isinstance(node, dict):
            for key in ("ansible.builtin.set_fact", "set_fact"):
                if isinstance(node.get(key), dict):
                    names.update(n for n in node[key] if n.startswith("m365_cba_"))
            for key in ("ansible.builtin.set_stats", "set_stats"):
                if isinstance(node.get(key), dict) and isinstance(node[key].get("data"), dict):
                    names.update(n for n in node[key]["data"] if n.startswith("m365_cba_"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(yaml.safe_load(text))
    return names


def role_facts():
    names = set()
    for path in sorted(glob.glob(os.path.join(REPO, "roles", "setup", "tasks", "*.yml"))):
        names |= set_variables(read(os.path.relpath(path, REPO)))
    return names


def inventory_plugin_variables():
    return set(VARIABLE.findall(doc_string(os.path.join(REPO, "plugins", "inventory", "tenants.py"), "DOCUMENTATION")))


def action_plugin_variables():
    """Task variables the action plugins read (string constants in plugins/plugin_utils and plugins/action)."""
    names = set()
    for path in sorted(glob.glob(os.path.join(REPO, "plugins", "plugin_utils", "*.py"))
                       + glob.glob(os.path.join(REPO, "plugins", "action", "*.py"))):
        for node in ast.walk(ast.parse(read(os.path.relpath(path, REPO)))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r"m365_cba_\w+", node.value):
                names.add(node.value)
    return names


def known_variables():
    return role_variables() | playbook_variables() | role_facts() | inventory_plugin_variables() | action_plugin_variables()


def build_ignore():
    return yaml.safe_load(read("galaxy.yml")).get("build_ignore") or []


def left_out(relative, patterns):
    """The build_ignore pattern that leaves `relative` (or a directory above it) out of the archive, as
    ansible-galaxy matches them (fnmatch on the path relative to the collection's root; `*` matches `/`)."""
    parts = relative.strip("/").split("/")
    for depth in range(1, len(parts) + 1):
        candidate = "/".join(parts[:depth])
        for pattern in patterns:
            if fnmatch.fnmatch(candidate, pattern):
                return pattern
    return None


def requirement_names():
    names = []
    for line in read("requirements.txt").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower())
    return names


def bootstrap_certificate_file():
    (play,) = yaml.safe_load(read("playbooks/bootstrap.yml"))
    return play["vars"]["m365_cba_bootstrap_unique_name"] + ".pfx"


# -- the checks, as functions of the text, so that the tests below can show what each one finds ------------

def unknown_variables(text, known):
    found = []
    for name in VARIABLE.findall(text):
        if name.endswith("_"):  # a family, as in m365_cba_home_*
            if not any(k.startswith(name) for k in known):
                found.append(name + "*")
        elif name not in known:
            found.append(name)
    return sorted(set(found))


def yaml_documents(block):
    try:
        return [document for document in yaml.safe_load_all(block.text) if document is not None]
    except yaml.YAMLError:
        return []


def task_option_problems(document, options, graph_options):
    problems = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if not isinstance(key, str):
                    continue
                module = re.fullmatch(r"m365\.cba\.(\w+)", key)
                if module and module.group(1) in options and isinstance(value, dict):
                    problems.extend(f"{key}: no option {option!r}" for option in value
                                    if option not in options[module.group(1)])
                if key == "group/m365.cba.graph" and isinstance(value, dict):
                    problems.extend(f"{key}: no option {option!r}" for option in value if option not in graph_options)
                walk(value)
            loops = [k for k in node if k == "loop" or str(k).startswith("with_")]
            if loops and isinstance(node.get("name"), str) and re.search(r"{{[^}]*\bitem\b", node["name"]):
                problems.append(f"task {node['name']!r}: names its loop item (an error before the loop on ansible-core "
                                "2.19 and later)")
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    return problems


def adhoc_option_problems(text, options):
    problems = []
    for module, arguments in re.findall(r"-m\s+m365\.cba\.(\w+)\s+-a\s+(?:'([^']*)'|\"[^\"]*\")", text):
        if module not in options:
            continue
        for word in shlex.split(arguments):
            option = word.split("=", 1)[0]
            if "=" in word and option not in options[module]:
                problems.append(f"m365.cba.{module}: no option {option!r}")
    return problems


def prose_option_problems(text, options):
    """Options named right after a module in prose: "`m365.cba.x` (`option: value`, ...)" or "... with `option: value`"."""
    problems = []
    for match in re.finditer(r"`m365\.cba\.(\w+)`", text):
        module = match.group(1)
        if module not in options:
            continue
        following = re.match(r"[^.;`]{0,12}(?:\(|with\s)((?:\s*`\w+: [^`]*`,?(?:\s*or)?)+)", text[match.end():])
        if following:
            for option in re.findall(r"`(\w+): ", following.group(1)):
                if option not in options[module]:
                    problems.append(f"m365.cba.{module}: no option {option!r}")
    return problems


def path_problems(block, patterns):
    problems = []
    for path in COLLECTION_PATH.findall(block.text):
        path = path.rstrip(".,:;*")
        if not path or path.endswith("/<"):
            continue
        if not glob.glob(os.path.join(REPO, path)):
            problems.append(f"{path}: not in the collection")
        elif left_out(path, patterns):
            problems.append(f"{path}: left out of the archive by build_ignore {left_out(path, patterns)!r}")
    if block.language is None:
        for target in re.findall(r"\]\(([^)\s]+)\)", block.text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue
            target = target.split("#", 1)[0]
            relative = os.path.normpath(os.path.join(os.path.dirname(block.path), target))
            if not os.path.exists(os.path.join(REPO, relative)):
                problems.append(f"link {target}: no such file")
            elif left_out(relative, patterns):
                problems.append(f"link {target}: left out of the archive by build_ignore {left_out(relative, patterns)!r}")
    return problems


def command_problems(text):
    """Playbook paths and collection-relative paths in the commands of a shell block for users."""
    problems = []
    for line in text.replace("\\\n", " ").splitlines():
        command = line.split("#", 1)[0]
        for playbook in re.findall(r"(?<![\w./~-])(playbooks/(\w+)\.ya?ml)", command):
            problems.append(f"{playbook[0]}: run it as {COLLECTION}.{playbook[1]} (an installed collection is not the "
                            "working directory)")
        for path in COLLECTION_PATH.findall(command):
            if not path.startswith("playbooks/") and glob.glob(os.path.join(REPO, path.rstrip("/"))):
                problems.append(f"{path}: a path relative to the collection's root; name its installed path")
    return problems


def requirement_list_problems(text, requirements):
    problems = []
    for group in re.findall(r"\(([^()]*)\)", text):
        named = [name for name in requirements if f"`{name}`" in group]
        if len(named) >= 2 and len(named) < len(requirements):
            missing = [name for name in requirements if name not in named]
            problems.append(f"({group.strip()}): names {len(named)} of the {len(requirements)} Python requirements, "
                            f"not {', '.join(missing)}")
    return problems


def bootstrap_certificate_problems(document, expected, multitenant=False):
    """The client certificate of the multi-tenant bootstrap application (where the mapping sets
    m365_cba_bootstrap_multitenant, or the whole text is about that application) is the file bootstrap.yml makes."""
    problems = []

    def walk(node):
        if isinstance(node, dict):
            path = node.get("m365_cba_client_certificate_path")
            if isinstance(path, str) and (multitenant or "m365_cba_bootstrap_multitenant" in node) \
                    and os.path.basename(path) != expected:
                problems.append(f"{path}: m365.cba.bootstrap makes {expected}")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    return problems


# -- the tests ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def blocks():
    return all_blocks()


def test_the_documents_are_read():
    names = doc_files()
    assert "README.md" in names and "docs/security.md" in names and "docs/awx.md" in names
    assert "inventory/example/hosts.yml" in inventory_examples()
    assert {"m365_cba_pfx_password", "m365_cba_replace_lost_certificate"} <= role_variables()
    assert {"m365_cba_report_dir", "m365_cba_bootstrap_pfx_password", "m365_cba_certificate_report"} <= playbook_variables()
    assert {"m365_cba_result", "m365_cba_replaced_lost_certificate"} <= role_facts()
    assert {"m365_cba_workloads"} <= inventory_plugin_variables()
    assert {"unique_name", "thumbprint", "state", "tenant_id"} <= module_options()["application_certificate"]


def test_every_variable_named_exists():
    known = known_variables()
    problems = []
    for path in doc_files() + inventory_examples():
        problems += [f"{path}: {name}" for name in unknown_variables(read(path), known)]
    assert not problems, "\n".join(problems)


def test_every_module_option_named_exists(blocks):
    options, graph_options = module_options(), graph_group_options()
    problems = []
    for block in blocks:
        if block.language in ("yaml", "yml"):
            for document in yaml_documents(block):
                problems += [f"{block.where}: {p}" for p in task_option_problems(document, options, graph_options)]
        elif block.language in SHELL_LANGUAGES:
            problems += [f"{block.where}: {p}" for p in adhoc_option_problems(block.text, options)]
        elif block.language is None:
            problems += [f"{block.where}: {p}" for p in prose_option_problems(block.text, options)]
    assert not problems, "\n".join(problems)


def test_every_path_named_is_in_the_collection_archive(blocks):
    patterns = build_ignore()
    problems = [f"{block.where}: {p}" for block in blocks for p in path_problems(block, patterns)]
    for path in inventory_examples():
        problems += [f"{path}: {p}" for p in path_problems(Block(path, 1, "yaml", read(path), None), patterns)]
    assert not problems, "\n".join(problems)


def test_commands_for_users_run_the_installed_collection(blocks):
    problems = [f"{block.where}: {p}" for block in blocks
                if block.language in SHELL_LANGUAGES and block.for_users for p in command_problems(block.text)]
    assert not problems, "\n".join(problems)


def test_lists_of_the_python_requirements_are_complete(blocks):
    requirements = requirement_names()
    assert {"msal", "cryptography", "requests", "hvac"} <= set(requirements)
    problems = [f"{block.where}: {p}" for block in blocks if block.language is None
                for p in requirement_list_problems(block.text, requirements)]
    assert not problems, "\n".join(problems)


def test_the_bootstrap_certificate_is_the_one_bootstrap_makes(blocks):
    expected = bootstrap_certificate_file()
    problems = []
    for block in blocks:
        if block.language in ("yaml", "yml"):
            for document in yaml_documents(block):
                problems += [f"{block.where}: {p}" for p in bootstrap_certificate_problems(document, expected)]
    for path in inventory_examples():
        text = read(path)
        if path.endswith((".yml", ".yaml")):
            problems += [f"{path}: {p}" for p in bootstrap_certificate_problems(yaml.safe_load(text), expected,
                                                                                multitenant="multi-tenant" in text)]
    assert not problems, "\n".join(problems)


# -- each check finds what it is for -----------------------------------------------------------------------

def test_the_checks_find_what_they_are_for():
    options = {"application_certificate": {"state", "thumbprint", "unique_name"}}
    assert unknown_variables("m365_cba_pfx_password, m365_cba_nope and m365_cba_home_*", {"m365_cba_pfx_password"}) == [
        "m365_cba_home_*", "m365_cba_nope"]
    document = yaml.safe_load("""
    - name: Type {{ item.name }}
      m365.cba.application_certificate: {state: absent, thumbprints: x}
      loop: [1]
    - module_defaults:
        group/m365.cba.graph: {tenant_id: x, tenant: y}
    """)
    assert task_option_problems(document, options, {"tenant_id"}) == [
        "m365.cba.application_certificate: no option 'thumbprints'",
        "task 'Type {{ item.name }}': names its loop item (an error before the loop on ansible-core 2.19 and later)",
        "group/m365.cba.graph: no option 'tenant'"]
    assert adhoc_option_problems("ansible t -m m365.cba.application_certificate -a 'state=absent thumb=1'", options) == [
        "m365.cba.application_certificate: no option 'thumb'"]
    assert prose_option_problems("remove it with `m365.cba.application_certificate` (`state: absent`, `thumb: ...`)",
                                 options) == ["m365.cba.application_certificate: no option 'thumb'"]
    assert command_problems("cp -r inventory/example my-inventory\nansible-playbook -i my-inventory playbooks/setup.yml") == [
        "inventory/example: a path relative to the collection's root; name its installed path",
        "playbooks/setup.yml: run it as m365.cba.setup (an installed collection is not the working directory)"]
    assert command_problems("ansible-playbook -i inventory.yml m365.cba.report") == []
    block = Block("docs/x.md", 1, None, "see [the role](../roles/setup/nothing.md) and `inventory/none.yml`", None)
    assert path_problems(block, ["*.pem"]) == ["inventory/none.yml: not in the collection",
                                               "link ../roles/setup/nothing.md: no such file"]
    assert left_out("build/collections/x", ["build"]) == "build" and left_out("inventory/example/hosts.yml", ["*.pem"]) is None
    assert requirement_list_problems("three libraries (`msal`, `cryptography`, `requests`)",
                                     ["msal", "cryptography", "requests", "hvac"]) == [
        "(`msal`, `cryptography`, `requests`): names 3 of the 4 Python requirements, not hvac"]
    msp = {"vars": {"m365_cba_bootstrap_multitenant": True, "m365_cba_client_certificate_path": "/etc/bootstrap.pem"}}
    assert bootstrap_certificate_problems(msp, "m365-cba-bootstrap.pfx") == [
        "/etc/bootstrap.pem: m365.cba.bootstrap makes m365-cba-bootstrap.pfx"]
    own = {"vars": {"m365_cba_client_certificate_path": "/etc/bootstrap.pem"}}
    assert bootstrap_certificate_problems(own, "m365-cba-bootstrap.pfx") == []
    assert bootstrap_certificate_problems(own, "m365-cba-bootstrap.pfx", multitenant=True) != []
    blocks = markdown_blocks("README.md", "intro\n## Quick start\n```sh\nmake demo\n```\n## Use\ntext\n")
    assert [(b.section, b.language, b.for_users) for b in blocks] == [
        (None, None, True), ("Quick start", None, False), ("Quick start", "sh", False), ("Use", None, True)]
