# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""execution-environment.yml and meta/execution-environment.yml with ansible-builder, offline:
`ansible-builder create` writes the build context (no image is built) or stops when the collection
archive was not prepared, the galaxy stage's install runs in that context as it runs in the image,
and `ansible-builder introspect` reads the collection's own requirements the way an image build does."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile

import yaml
from packaging.specifiers import SpecifierSet

from awx_helpers import REPO, load_yaml


def requirement_lines(text):
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def builder(*args, cwd, check=True):
    result = subprocess.run([sys.executable, "-m", "ansible_builder", *args], cwd=cwd, capture_output=True, text=True,
                            timeout=120, check=False)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout if check else result


def galaxy(*args, cwd, env):
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-galaxy"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def versions_in(specifiers):
    """Which of a spread of ansible-core versions a requirement admits."""
    spread = ["2.15.13", "2.16.0", "2.16.14", "2.17.1", "2.18.3", "2.19.14", "2.20.10", "2.21.5", "2.22.0", "2.23.1"]
    return [version for version in spread if SpecifierSet(specifiers).contains(version)]


def test_build_context_holds_the_requirements_and_the_collection(collection_dir, ansible_env, tmp_path):
    # The steps of the definition's header, in a scratch copy of the repository root.
    shutil.copy(os.path.join(REPO, "execution-environment.yml"), tmp_path)
    shutil.copy(os.path.join(REPO, "requirements.txt"), tmp_path)

    # Without the collection archive, the build context step stops, and says what is missing.
    missing = builder("create", "-f", "execution-environment.yml", "-c", "context", "--output-filename", "Containerfile",
                      cwd=tmp_path, check=False)
    assert missing.returncode != 0, missing.stdout + missing.stderr
    assert "build/ee/requirements.yml does not exist" in missing.stdout + missing.stderr
    assert not (tmp_path / "context" / "Containerfile").exists()

    out = tmp_path / "build" / "ee"
    downloaded = galaxy("collection", "download", "-p", str(out), collection_dir, cwd=tmp_path, env=ansible_env)
    assert downloaded.returncode == 0, downloaded.stdout + downloaded.stderr
    (archive,) = out.glob("m365-cba-*.tar.gz")
    assert archive.name == f"m365-cba-{load_yaml('galaxy.yml')['version']}.tar.gz"

    builder("create", "-f", "execution-environment.yml", "-c", "context", "--output-filename", "Containerfile", cwd=tmp_path)
    context = tmp_path / "context"

    # Our Python requirements, as they are.
    with open(os.path.join(REPO, "requirements.txt"), encoding="utf-8") as handle:
        ours = requirement_lines(handle.read())
    assert {re.split(r"[<>=!~ ]", line)[0] for line in ours} >= {"msal", "cryptography", "requests"}
    assert requirement_lines((context / "_build" / "requirements.txt").read_text(encoding="utf-8")) == ours

    # The collection, from the archive, installed in the galaxy stage.
    galaxy_requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text(encoding="utf-8"))
    assert [entry["name"] for entry in galaxy_requirements["collections"]] == [archive.name]
    with tarfile.open(context / "_build" / archive.name) as tar:
        names = set(tar.getnames())
        manifest = yaml.safe_load(tar.extractfile("MANIFEST.json"))
    assert manifest["collection_info"]["namespace"] == "m365" and manifest["collection_info"]["name"] == "cba"
    assert manifest["collection_info"]["version"] == load_yaml("galaxy.yml")["version"]
    assert {"requirements.txt", "meta/execution-environment.yml", "roles/setup/tasks/main.yml", "playbooks/setup.yml"} <= names

    containerfile = (context / "Containerfile").read_text(encoding="utf-8")
    assert "COPY _build /build" in containerfile and "WORKDIR /build" in containerfile
    assert "ansible-galaxy collection install" in containerfile and "-r requirements.yml" in containerfile
    assert "introspect --user-pip=requirements.txt" in containerfile

    # The galaxy stage's command, run in the build context as the image build runs it in /build.
    image_env = dict(ansible_env, ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "image"))
    installed = galaxy("collection", "install", "--offline", "-r", "requirements.yml", "-p", str(tmp_path / "image"),
                       cwd=context / "_build", env=image_env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert (tmp_path / "image" / "ansible_collections" / "m365" / "cba" / "roles" / "setup" / "tasks" / "main.yml").is_file()

    # The base image, fully qualified (registry host, repository, tag).
    (base,) = re.findall(r'^ARG EE_BASE_IMAGE="([^"]+)"$', containerfile, re.M)
    registry, _slash, rest = base.partition("/")
    assert "." in registry and "/" in rest and re.fullmatch(r"[^:@/]+(/[^:@/]+)+:[\w][\w.-]*", rest), base

    # ansible-core: the range the collection supports, as meta/runtime.yml states it.
    (refs,) = re.findall(r'^ARG ANSIBLE_INSTALL_REFS="([^"]+)"$', containerfile, re.M)
    core = next(ref for ref in refs.split() if ref.startswith("ansible-core"))[len("ansible-core"):]
    assert versions_in(core) == versions_in(load_yaml("meta", "runtime.yml")["requires_ansible"]), (core, refs)
    # No upper bound: a new ansible-core release is never refused.
    assert versions_in(core)[0] == "2.16.0" and versions_in(core)[-1] == "2.23.1"
    assert "ansible-runner" in refs


def test_a_context_without_the_archive_fails_the_image_build(collection_dir, ansible_env, tmp_path):
    """requirements.yml left behind, archive gone: ansible-builder only warns, and the galaxy stage stops."""
    shutil.copy(os.path.join(REPO, "execution-environment.yml"), tmp_path)
    shutil.copy(os.path.join(REPO, "requirements.txt"), tmp_path)
    out = tmp_path / "build" / "ee"
    assert galaxy("collection", "download", "-p", str(out), collection_dir, cwd=tmp_path, env=ansible_env).returncode == 0
    for archive in out.glob("m365-cba-*.tar.gz"):
        archive.unlink()
    created = builder("create", "-f", "execution-environment.yml", "-c", "context", cwd=tmp_path, check=False)
    assert "No matches for 'build/ee/m365-cba-*.tar.gz'" in created.stdout + created.stderr
    image_env = dict(ansible_env, ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "image"))
    installed = galaxy("collection", "install", "--offline", "-r", "requirements.yml", "-p", str(tmp_path / "image"),
                       cwd=tmp_path / "context" / "_build", env=image_env)
    assert installed.returncode != 0 and "m365-cba-" in installed.stdout + installed.stderr
    assert not (tmp_path / "image" / "ansible_collections" / "m365" / "cba").exists()


def test_collection_declares_its_requirements_to_ansible_builder(collections_path, collection_dir, tmp_path):
    """What an image build's introspection step finds in the installed collection."""
    # ansible-builder reads the files named here relative to the collection root (not to meta/).
    with open(os.path.join(collection_dir, "meta", "execution-environment.yml"), encoding="utf-8") as handle:
        declared = yaml.safe_load(handle)["dependencies"]
    assert os.path.isfile(os.path.join(collection_dir, declared["python"]))
    output = builder("introspect", "--sanitize", "--write-pip", str(tmp_path / "pip.txt"), collections_path, cwd=tmp_path)
    found = requirement_lines((tmp_path / "pip.txt").read_text(encoding="utf-8"))
    for name in ("msal", "cryptography", "requests"):
        assert any(line.startswith(name) and "m365.cba" in line for line in found), output
