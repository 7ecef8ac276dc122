# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""execution-environment.yml and meta/execution-environment.yml with ansible-builder, offline:
`ansible-builder create` writes the build context (no image is built), and `ansible-builder
introspect` reads the collection's own requirements the way an image build does."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile

import yaml

from awx_helpers import REPO, load_yaml


def requirement_lines(text):
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def builder(*args, cwd):
    result = subprocess.run([sys.executable, "-m", "ansible_builder", *args], cwd=cwd, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_build_context_holds_the_requirements_and_the_collection(collection_dir, ansible_env, tmp_path):
    # The steps of the definition's header, in a scratch copy of the repository root.
    shutil.copy(os.path.join(REPO, "execution-environment.yml"), tmp_path)
    shutil.copy(os.path.join(REPO, "requirements.txt"), tmp_path)
    out = tmp_path / "build" / "ee"
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-galaxy"), "collection", "build", "--force",
                    "--output-path", str(out), collection_dir], env=ansible_env, capture_output=True, check=True, timeout=120)
    (archive,) = out.glob("m365-cba-*.tar.gz")
    archive.rename(out / "m365-cba.tar.gz")

    builder("create", "-f", "execution-environment.yml", "-c", "context", "--output-filename", "Containerfile", cwd=tmp_path)
    context = tmp_path / "context"

    # Our Python requirements, as they are.
    with open(os.path.join(REPO, "requirements.txt"), encoding="utf-8") as handle:
        ours = requirement_lines(handle.read())
    assert {re.split(r"[<>=!~ ]", line)[0] for line in ours} >= {"msal", "cryptography", "requests"}
    assert requirement_lines((context / "_build" / "requirements.txt").read_text(encoding="utf-8")) == ours

    # The collection, from the archive, installed in the galaxy stage.
    galaxy = yaml.safe_load((context / "_build" / "requirements.yml").read_text(encoding="utf-8"))
    assert galaxy["collections"] == [{"name": "collections/m365-cba.tar.gz", "type": "file"}]
    with tarfile.open(context / "_build" / "collections" / "m365-cba.tar.gz") as tar:
        names = set(tar.getnames())
        manifest = yaml.safe_load(tar.extractfile("MANIFEST.json"))
    assert manifest["collection_info"]["namespace"] == "m365" and manifest["collection_info"]["name"] == "cba"
    assert manifest["collection_info"]["version"] == load_yaml("galaxy.yml")["version"]
    assert {"requirements.txt", "meta/execution-environment.yml", "roles/setup/tasks/main.yml", "playbooks/setup.yml"} <= names

    containerfile = (context / "Containerfile").read_text(encoding="utf-8")
    assert "ansible-galaxy collection install" in containerfile and "-r requirements.yml" in containerfile
    assert "introspect --user-pip=requirements.txt" in containerfile
    assert re.search(r'ARG ANSIBLE_INSTALL_REFS=".*ansible-core>=2\.19.*ansible-runner', containerfile)


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
