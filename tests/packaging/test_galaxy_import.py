# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Galaxy's own import checks (galaxy-importer) on the collection archive, and the archive for publishing
(`make release REPOSITORY=<url>`, tests/packaging/galaxy_release.py): the address goes into a copy's
galaxy.yml, never into the tracked one, and a release without it or with the placeholder is refused."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import yaml

import galaxy_release
from packaging_support import build, members

# Reserved for documentation (RFC 2606): an address that is clearly no project's.
ADDRESS = "https://git.example.org/m365/cba"
SCRIPT = galaxy_release.__file__


def test_archive_passes_galaxy_import_checks(archive, tmp_path):
    """The archive the tests build carries galaxy.yml's placeholder address; Galaxy's importer reports
    neither an error nor a warning about it."""
    placeholder = galaxy_release.placeholder_address()
    assert galaxy_release.is_placeholder(placeholder, placeholder)
    assert galaxy_release.manifest_info(archive)["repository"] == placeholder
    # Galaxy stops on a role without a README: build_ignore must keep it.
    assert "roles/setup/README.md" in members(archive)

    result = galaxy_release.galaxy_import(archive, tmp_path, "galaxy")
    assert not result.errors and not result.warnings, result.report()
    assert galaxy_release.COMPLETED in result.stdout, result.report()
    # It looked at the collection's content, not only at its metadata.
    assert "Loading role setup" in result.stdout and "...ansible-lint run complete" in result.stdout, result.report()


def test_automation_hub_checks_for_information(archive, tmp_path, capsys):
    """Automation Hub's stricter settings (required tags, version 1.0.0 or later, flake8): printed, never failing."""
    try:
        report = galaxy_release.galaxy_import(archive, tmp_path, "automation-hub").report()
    except (OSError, subprocess.SubprocessError) as problem:
        report = f"galaxy-importer (automation-hub settings) did not run: {problem!r}"
    with capsys.disabled():
        print(f"\n[information only] {report}")


def test_parse_output_counts_levels_and_an_unfinished_run():
    clean = galaxy_release.parse_output("galaxy", 0, f"Loading role setup\n{galaxy_release.COMPLETED}\n", "")
    assert not clean.errors and not clean.warnings

    output = ("Importing with galaxy-importer 0.4.44\nWARNING: roles/setup/tasks/main.yml:3: name[casing]\n"
              "ERROR: The import failed for the following reason: No role readme found.\n")
    failed = galaxy_release.parse_output("galaxy", 1, output, "Ignoring a broken link\n")
    assert failed.errors == ["ERROR: The import failed for the following reason: No role readme found."]
    assert failed.warnings == ["WARNING: roles/setup/tasks/main.yml:3: name[casing]", "stderr: Ignoring a broken link"]
    assert "1 error(s), 2 warning(s)" in failed.report() and "name[casing]" in failed.report()

    # A run that stopped without a message still counts as an error.
    assert galaxy_release.parse_output("galaxy", -9, "Importing with galaxy-importer 0.4.44\n", "").errors


@pytest.mark.parametrize("address", [
    None, "", "   ",
    "https://example.invalid/m365/cba", "https://example.invalid/m365/cba/", "https://code.example.invalid/m365/cba",
    "ftp://git.example.org/m365/cba", "git.example.org/m365/cba", "https://git.example.org/m365/cba\" x",
])
def test_release_refuses_a_missing_or_placeholder_address(address, tmp_path):
    command = [sys.executable, SCRIPT, "release", "--build", tmp_path]
    if address is not None:
        command += ["--repository", address]
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "make release: refused:" in result.stderr
    # Refused before anything was copied or built.
    assert not list(tmp_path.iterdir())


def test_release_archive_carries_the_given_address(repo, tmp_path):
    tracked = (repo / "galaxy.yml").read_bytes()
    stale = tmp_path / "release" / "m365-cba-0.0.1.tar.gz"
    stale.parent.mkdir()
    stale.write_bytes(b"an earlier archive")

    # The working tree's archive, built just before (the session's may be older than the tree).
    archive = build(repo, tmp_path / "tree", cwd=tmp_path)
    release = galaxy_release.build_release(repo, tmp_path, ADDRESS)

    assert release.parent == tmp_path / "release" and not stale.exists()
    assert galaxy_release.manifest_info(release)["repository"] == ADDRESS
    # Only the copy's galaxy.yml has the address; the rest of it is the tracked one's.
    assert (repo / "galaxy.yml").read_bytes() == tracked
    copied = yaml.safe_load((tmp_path / "release-tree" / "galaxy.yml").read_text(encoding="utf-8"))
    original = yaml.safe_load(tracked)
    assert copied.pop("repository") == ADDRESS and original.pop("repository") == galaxy_release.placeholder_address()
    assert copied == original
    # The same collection as the archive of the working tree.
    assert members(release) == members(archive), sorted(members(release) ^ members(archive))
    manifest, published = galaxy_release.manifest_info(archive), galaxy_release.manifest_info(release)
    assert {key: value for key, value in published.items() if key != "repository"} == \
        {key: value for key, value in manifest.items() if key != "repository"}


def test_make_release_passes_the_address_to_the_script(repo):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    env = {name: value for name, value in os.environ.items() if name not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    result = subprocess.run(["make", "-n", "--no-print-directory", "release", f"REPOSITORY={ADDRESS}"], cwd=str(repo),
                            env=env, capture_output=True, text=True, timeout=60, check=True)
    assert f'tests/packaging/galaxy_release.py release --repository "{ADDRESS}"' in result.stdout, result.stdout
