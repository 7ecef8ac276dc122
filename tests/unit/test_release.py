# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One version everywhere: galaxy.yml, the changelog's releases, the plugins' version_added, the User-Agent the
modules send, and the archive and image names the docs show. The first release has a summary and no
breaking changes (nothing shipped before it could break)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
VERSION = yaml.safe_load((REPO / "galaxy.yml").read_text(encoding="utf-8"))["version"]
CHANGELOG = yaml.safe_load((REPO / "changelogs" / "changelog.yaml").read_text(encoding="utf-8"))
RELEASES = CHANGELOG.get("releases") or {}
DOCS = [REPO / "README.md", REPO / "execution-environment.yml", REPO / "roles" / "setup" / "README.md",
        *sorted((REPO / "docs").glob("*.md"))]


def plugin_docs():
    """(path, DOCUMENTATION as data) of every plugin that has one."""
    for path in sorted((REPO / "plugins").glob("*/*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "DOCUMENTATION" for t in node.targets):
                yield path, yaml.safe_load(node.value.value)


def test_the_version_is_one_automation_hub_accepts():
    assert Version(VERSION) >= Version("1.0.0") and re.fullmatch(r"\d+\.\d+\.\d+", VERSION)


def test_the_changelog_has_a_release_for_this_version():
    assert VERSION in RELEASES, f"changelogs/changelog.yaml has no release {VERSION} (antsibull-changelog release)"
    assert max(RELEASES, key=Version) == VERSION


def test_the_first_release_has_a_summary_and_breaks_nothing():
    first = min(RELEASES, key=Version)
    changes = RELEASES[first].get("changes") or {}
    assert changes.get("release_summary"), f"{first} has no release_summary"
    assert not {"breaking_changes", "removed_features"} & set(changes), (
        f"{first} is the first release: nothing shipped before it could break or be removed")


def test_the_modules_send_this_version():
    source = (REPO / "plugins" / "module_utils" / "_graph.py").read_text(encoding="utf-8")
    assert f'COLLECTION_VERSION = "{VERSION}"' in source


@pytest.mark.parametrize("path, doc", list(plugin_docs()), ids=lambda v: v.name if isinstance(v, Path) else "")
def test_every_plugin_was_added_in_a_release(path, doc):
    """A release of the changelog, or, for a plugin of the next release, a version after every release while changelog
    fragments wait for that release."""
    added = str(doc.get("version_added", ""))
    upcoming = (re.fullmatch(r"\d+\.\d+\.\d+", added) and Version(added) > max(map(Version, RELEASES))
                and any((REPO / "changelogs" / "fragments").glob("*.y*ml")))
    assert added in RELEASES or upcoming, (
        f"{path.name}: version_added {added!r} is neither a release of changelogs/changelog.yaml nor the next one")


def test_the_docs_name_this_version():
    """Archive, image and listing lines that carry a version carry this one."""
    patterns = (r"m365-cba-(\d+\.\d+\.\d+)\.tar\.gz", r"m365-cba-ee:(\d+\.\d+\.\d+)", r"^# m365\.cba +(\d+\.\d+\.\d+)$")
    found = {}
    for path in DOCS:
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            for pattern in patterns:
                for version in re.findall(pattern, text, re.M):
                    found.setdefault(version, []).append(path.name)
    assert found and set(found) == {VERSION}, found
