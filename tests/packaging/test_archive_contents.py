# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What `ansible-galaxy collection build` puts into the collection archive: everything a user needs,
and none of the local state a working tree collects (caches, virtual environments, build copies,
test output, an emulator's state, certificates and private keys, reports, earlier archives)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tarfile
import urllib.parse

import pytest
import yaml

from packaging_support import build, members

from m365emu import Emulator

# Paths relative to the collection root, each written into a copy of the working tree before the build.
LEFTOVER_FILES = (
    # ansible-lint and ansible-core's local directory, pytest caches, byte code
    ".ansible/collections/ansible_collections/m365/cba/galaxy.yml",
    ".ansible/tmp/ansible-local-1234/x",
    ".pytest_cache/v/cache/lastfailed",
    "tests/unit/.pytest_cache/v/cache/nodeids",
    "plugins/modules/__pycache__/certificate.cpython-311.pyc",
    "plugins/module_utils/_graph.pyc",
    ".mypy_cache/3.11/cache.json",
    # virtual environments, build copies, ansible-test output and settings
    ".venv/bin/python",
    ".venv/lib/python3.11/site-packages/msal/__init__.py",
    "venv/pyvenv.cfg",
    ".tox/py311/pyvenv.cfg",
    "build/collections/ansible_collections/m365/cba/galaxy.yml",
    "tests/output/junit/python3.11-modules.xml",
    "tests/output/.tmp/sanity/x.json",
    "tests/integration/integration_config.yml",
    "tests/integration/inventory",
    "changelogs/.plugin-cache.yaml",
    ".env",
    "ansible.log",
    # a user's own inventory, certificates and keys, a bootstrap identity, token cache, vars
    "inventory.yml",
    "contoso/m365-cba-exchange-online.key",
    "contoso/m365-cba-exchange-online.pem",
    "contoso/m365-cba-exchange-online.pfx",
    "contoso/m365-cba-exchange-online.cer",
    "contoso/m365-cba-exchange-online.crt",
    "contoso/m365-cba-exchange-online.report.json",
    "bootstrap.pem",
    "bootstrap.p12",
    "playbooks/bootstrap.der",
    "token-cache/0a1b2c.json",
    "build/token-cache/0a1b2c.json",
    "demo-vars.json",
    # reports of playbooks/report.yml (its default directory, relative to where it was started)
    "m365-cba-report/certificate-expiry.csv",
    "m365-cba-report/certificate-expiry.md",
    "playbooks/m365-cba-report/certificate-expiry.csv",
    "certificate-expiry.csv",
    # earlier archives
    "m365-cba-0.0.9.tar.gz",
    "build/ee/m365-cba-0.1.0.tar.gz",
    "backup.tar.gz",
)

# What the emulator writes into a state directory, wherever it is (`make demo` keeps it in build/).
EMULATOR_STATE_DIRS = ("build/emulator", "emulator-state")

# Certificates and keys have no place in the archive: the collection ships none.
SECRET_SUFFIXES = (".key", ".pem", ".pfx", ".p12", ".cer", ".crt", ".der")
CACHE_PARTS = {".ansible", ".pytest_cache", "__pycache__", ".mypy_cache", ".venv", "venv", ".tox", "build"}


def copy_of_the_tree(repo, target):
    """The working tree as a developer has it, without the large local directories (planted again below)."""
    shutil.copytree(repo, target, ignore=shutil.ignore_patterns(".git", ".venv", "build", "output", "__pycache__",
                                                                ".pytest_cache", ".ansible", "*.tar.gz"))
    return target


def plant(tree):
    for relative in LEFTOVER_FILES:
        path = tree / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("leftover\n", encoding="utf-8")
    planted = set(LEFTOVER_FILES)
    for relative in EMULATOR_STATE_DIRS:
        with Emulator(str(tree / relative), tenants=1):
            pass
        planted |= {str(path.relative_to(tree)) for path in (tree / relative).rglob("*") if path.is_file()}
    return planted


def test_leftovers_stay_out_of_the_archive(repo, tmp_path):
    tree = copy_of_the_tree(repo, tmp_path / "tree")
    clean = members(build(tree, tmp_path / "clean", cwd=tmp_path))

    planted = plant(tree)
    assert any(name.endswith("/ca.key") for name in planted) and any(name.endswith("inventory.yml") for name in planted)
    assert len(planted) > len(LEFTOVER_FILES) + 8, planted
    names = members(build(tree, tmp_path / "dirty", cwd=tmp_path))

    leaked = sorted(name for name in names if name in planted or any(name.startswith(p + "/") for p in planted))
    assert not leaked
    # Nothing else came in with them either: the archive holds the files of the tree without leftovers
    # (at most an empty directory more, where a leftover was the only file).
    assert names == clean, sorted(names ^ clean)
    assert not [name for name in names if name.endswith(SECRET_SUFFIXES) or name.endswith(".tar.gz")]
    assert not [name for name in names if CACHE_PARTS & set(name.split("/"))]


def test_archive_holds_what_users_need(archive, module_names, repo):
    names = members(archive)
    required = {
        "MANIFEST.json", "FILES.json", "LICENSE", "README.md", "requirements.txt",
        "meta/runtime.yml", "meta/execution-environment.yml", "execution-environment.yml",
        "playbooks/setup.yml", "playbooks/report.yml", "playbooks/templates/summary.j2",
        "roles/setup/tasks/main.yml", "roles/setup/tasks/present.yml", "roles/setup/meta/argument_specs.yml",
        "roles/setup/defaults/main.yml", "plugins/doc_fragments/graph_auth.py", "plugins/filter/connect_commands.py",
        "extensions/awx/credential_types.yml", "inventory/example/hosts.yml", "docs/awx.md",
    }
    required |= {f"plugins/modules/{name}.py" for name in module_names}
    required |= {f"plugins/action/{name}.py" for name in module_names}
    required |= {str(path.relative_to(repo)) for path in (repo / "plugins" / "module_utils").glob("*.py")}
    assert not required - names, sorted(required - names)

    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("MANIFEST.json"))["collection_info"]
        files = json.load(tar.extractfile("FILES.json"))["files"]
        licence = tar.extractfile("LICENSE").read().decode("utf-8")
        headers = {name: tar.extractfile(name).read().decode("utf-8") for name in names if name.endswith(".py")}

    # FILES.json lists exactly what is in the archive.
    assert {entry["name"] for entry in files if entry["ftype"] == "file"} == names - {"MANIFEST.json", "FILES.json"}

    # The licence: the full GNU GPL v3 text, as galaxy.yml and every file header say.
    assert manifest["license"] == ["GPL-3.0-or-later"]
    assert "GNU GENERAL PUBLIC LICENSE" in licence and "Version 3, 29 June 2007" in licence
    assert "END OF TERMS AND CONDITIONS" in licence and len(licence) > 30000
    pointers = {match for text in headers.values() for match in re.findall(r"^# GNU General Public License v3\.0\+ \(see (\S+) or ", text, re.M)}
    assert pointers, "no licence pointer found in the Python file headers"
    assert pointers <= names, sorted(pointers - names)

    # No invented addresses: the repository is a placeholder that can never resolve (a .invalid host; the archive
    # for publishing gets the real one, make release REPOSITORY=...), and no other address is named.
    for key in ("documentation", "homepage", "issues"):
        assert not manifest[key], (key, manifest[key])
    galaxy = yaml.safe_load((repo / "galaxy.yml").read_text(encoding="utf-8"))
    assert manifest["repository"] == galaxy["repository"]
    assert urllib.parse.urlsplit(manifest["repository"]).hostname.endswith(".invalid"), manifest["repository"]
    assert manifest["version"] == yaml.safe_load((repo / "galaxy.yml").read_text(encoding="utf-8"))["version"]


# Tracked files that stay out on purpose: development tooling that does not work from an installed
# collection, and galaxy.yml (ansible-galaxy writes MANIFEST.json from it).
NOT_SHIPPED = {"Makefile", "galaxy.yml"}
NOT_SHIPPED_DIRS = (".ci/",)


def test_every_tracked_file_is_shipped(archive, repo):
    """build_ignore keeps out local state, not the collection's own files."""
    if not (repo / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout")
    tracked = subprocess.run(["git", "-C", str(repo), "ls-files", "-z"], capture_output=True, check=True).stdout.decode().split("\0")
    expected = {name for name in tracked if name and name not in NOT_SHIPPED and not name.startswith(NOT_SHIPPED_DIRS)
                and (repo / name).is_file()}
    assert not expected - members(archive), sorted(expected - members(archive))
