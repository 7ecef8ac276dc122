# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection archive for publishing, and Galaxy's import checks of an archive (galaxy-importer).

galaxy.yml names a placeholder repository address: the real one is given when a release is built.
`make release REPOSITORY=<url>` runs

    python tests/packaging/galaxy_release.py release --repository <url> --build build

which copies the working tree (the files git tracks or would track) to build/release-tree, writes the
address into the copy's galaxy.yml (the tracked one keeps its placeholder), builds the archive into
build/release/ and runs galaxy-importer on it with Galaxy's settings: any error or warning fails it.
Without an address, or with the placeholder, it refuses before anything is copied.

    python tests/packaging/galaxy_release.py import <archive> [--settings galaxy|automation-hub]

runs galaxy-importer alone. tests/packaging/test_galaxy_import.py uses the same functions.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from packaging_support import REPO, build, clean_env

# What galaxy.ansible.com checks, without ansible-test sanity (Galaxy does not run it; it needs a
# container runtime). Keys are galaxy-importer's settings (galaxy_importer/config.py).
GALAXY_SETTINGS = {
    "RUN_ANSIBLE_TEST": False,
    "RUN_ANSIBLE_DOC": True,
    "RUN_ANSIBLE_LINT": True,
    "OFFLINE_ANSIBLE_LINT": True,
    "CHECK_CHANGELOG": True,
    "CHECK_REQUIRED_TAGS": False,
    "REQUIRE_V1_OR_GREATER": False,
    "RUN_FLAKE8": False,
}

# What Automation Hub's certification adds: one of its required tags, a version of 1.0.0 or later, and
# flake8 on every plugin. Its ansible-test sanity run needs a container runtime and stays off here.
AUTOMATION_HUB_SETTINGS = {**GALAXY_SETTINGS, "CHECK_REQUIRED_TAGS": True, "REQUIRE_V1_OR_GREATER": True, "RUN_FLAKE8": True}

SETTINGS = {"galaxy": GALAXY_SETTINGS, "automation-hub": AUTOMATION_HUB_SETTINGS}

COMPLETED = "Importer processing completed successfully"
IMPORT_TIMEOUT = 900
ARCHIVE_GLOB = "m365-cba-*.tar.gz"


class RefusedAddress(ValueError):
    """The repository address given for a release cannot be published."""


def placeholder_address(galaxy_yml=REPO / "galaxy.yml"):
    """The repository address the tracked galaxy.yml names: a placeholder, never published."""
    return yaml.safe_load(Path(galaxy_yml).read_text(encoding="utf-8"))["repository"]


def is_placeholder(address, placeholder):
    host = urlsplit(address).hostname or ""
    # .invalid is the top-level domain reserved for names that can never resolve (RFC 2606).
    return address.rstrip("/") == placeholder.rstrip("/") or host == "invalid" or host.endswith(".invalid")


def check_address(address, placeholder):
    """The address to publish, or RefusedAddress saying what is wrong with it."""
    address = (address or "").strip()
    if not address:
        raise RefusedAddress("a release needs the collection's public repository address: make release REPOSITORY=https://<host>/<path>")
    parts = urlsplit(address)
    if parts.scheme not in ("https", "http") or not parts.hostname or re.search(r"[\s\"'<>]", address):
        raise RefusedAddress(f"REPOSITORY={address!r} is not an http(s) address of a repository")
    if is_placeholder(address, placeholder):
        raise RefusedAddress(f"REPOSITORY={address!r} is the placeholder of galaxy.yml; give the real repository address")
    return address


def write_address(galaxy_yml, address):
    """Set galaxy.yml's `repository:` to address, keeping the rest of the file as it is."""
    text = galaxy_yml.read_text(encoding="utf-8")
    # A JSON string is a YAML double-quoted scalar: nothing in the address can change the document.
    updated, count = re.subn(r"^repository:.*$", lambda _match: "repository: " + json.dumps(address), text, flags=re.M)
    if count != 1:
        raise RuntimeError(f"{galaxy_yml}: expected one top-level 'repository:' line, found {count}")
    galaxy_yml.write_text(updated, encoding="utf-8")
    assert yaml.safe_load(updated)["repository"] == address
    return galaxy_yml


def tree_files(source):
    """The working tree's files that git tracks or would track (not what .gitignore leaves out)."""
    listed = subprocess.run(["git", "-C", str(source), "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                            capture_output=True, check=True).stdout.decode("utf-8").split("\0")
    return sorted({name for name in listed if name and (Path(source) / name).is_file()})


def copy_for_release(source, target):
    if target.exists():
        shutil.rmtree(target)
    for name in tree_files(source):
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(source) / name, destination)
    return target


def manifest_info(archive):
    with tarfile.open(archive) as tar:
        return json.load(tar.extractfile("MANIFEST.json"))["collection_info"]


def build_release(source, build_dir, address):
    """The archive to publish, in <build_dir>/release/, with address as its repository."""
    source, build_dir = Path(source), Path(build_dir)
    address = check_address(address, placeholder_address(source / "galaxy.yml"))
    tree = copy_for_release(source, build_dir / "release-tree")
    write_address(tree / "galaxy.yml", address)
    output = build_dir / "release"
    for earlier in output.glob(ARCHIVE_GLOB):
        earlier.unlink()
    archive = build(tree, output, cwd=build_dir)
    assert manifest_info(archive)["repository"] == address, manifest_info(archive)
    return archive


@dataclass
class ImportResult:
    settings: str
    returncode: int
    stdout: str
    stderr: str
    errors: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    def summary(self):
        return f"galaxy-importer ({self.settings} settings): {len(self.errors)} error(s), {len(self.warnings)} warning(s)"

    def report(self):
        """The summary, every offending line, and the importer's output without its per-file progress lines."""
        progress = re.compile(r"^(Loading \S+ \S+|Linting \S+ \S+ via flake8\.\.\.)$")
        lines = [self.summary()] + [f"  {line}" for line in self.errors + self.warnings]
        lines += ["-- output --"] + [line for line in self.stdout.splitlines() if not progress.match(line)]
        if self.stderr.strip():
            lines += ["-- stderr --", self.stderr.rstrip()]
        return "\n".join(lines)


def parse_output(settings, returncode, stdout, stderr):
    """galaxy-importer prints INFO messages bare and the others as `LEVEL: message`; messages of its
    own module loggers reach stderr through Python's last-resort handler, without a level."""
    result = ImportResult(settings, returncode, stdout, stderr)
    for line in stdout.splitlines():
        if line.startswith(("ERROR: ", "CRITICAL: ")):
            result.errors.append(line)
        elif line.startswith("WARNING: "):
            result.warnings.append(line)
    result.warnings += [f"stderr: {line}" for line in stderr.splitlines() if line.strip()]
    if (returncode != 0 or COMPLETED not in stdout) and not result.errors:
        result.errors.append(f"galaxy-importer exited with {returncode} without '{COMPLETED}'")
    return result


def galaxy_import(archive, workdir, settings="galaxy"):
    """Run `python -m galaxy_importer.main <archive>` with the named settings, in workdir (its
    configuration file, temporary files and importer_result.json go there)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / f"galaxy-importer-{settings}.cfg"
    values = {**SETTINGS[settings], "ANSIBLE_LOCAL_TMP": workdir / "ansible-tmp", "TMP_ROOT_DIR": workdir, "LOG_LEVEL_MAIN": "INFO"}
    config.write_text("[galaxy-importer]\n" + "".join(f"{key} = {value}\n" for key, value in values.items()), encoding="utf-8")
    env = {name: value for name, value in clean_env().items() if not name.startswith("GALAXY_IMPORTER_")}
    # The tools it calls (ansible-doc, ansible-lint, flake8) from the virtual environment that runs this.
    env.update(GALAXY_IMPORTER_CONFIG=str(config), PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]))
    completed = subprocess.run([sys.executable, "-m", "galaxy_importer.main", str(Path(archive).resolve())], cwd=str(workdir),
                               env=env, capture_output=True, text=True, timeout=IMPORT_TIMEOUT, check=False)
    return parse_output(settings, completed.returncode, completed.stdout, completed.stderr)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    release = commands.add_parser("release", help="build the archive to publish and run Galaxy's import checks on it")
    release.add_argument("--repository", default="", help="the collection's public repository address")
    release.add_argument("--build", type=Path, default=REPO / "build", help="build directory (default: build/)")
    check = commands.add_parser("import", help="run galaxy-importer on an archive")
    check.add_argument("archive", type=Path)
    check.add_argument("--settings", choices=sorted(SETTINGS), default="galaxy")
    check.add_argument("--workdir", type=Path, default=REPO / "build" / "galaxy-importer")
    args = parser.parse_args(argv)

    if args.command == "import":
        result = galaxy_import(args.archive, args.workdir, args.settings)
        print(result.report())
        return 1 if result.errors or result.warnings else 0

    try:
        archive = build_release(REPO, args.build.resolve(), args.repository)
    except RefusedAddress as refused:
        print(f"make release: refused: {refused}", file=sys.stderr)
        return 2
    result = galaxy_import(archive, args.build.resolve() / "galaxy-importer", "galaxy")
    print(result.report())
    if result.errors or result.warnings:
        print(f"make release: {archive} does not pass Galaxy's import checks", file=sys.stderr)
        return 1
    hub = galaxy_import(archive, args.build.resolve() / "galaxy-importer", "automation-hub")
    print(f"For information, {hub.summary()}" + "".join(f"\n  {line}" for line in hub.errors + hub.warnings))
    print(f"make release: {archive} (repository {manifest_info(archive)['repository']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
