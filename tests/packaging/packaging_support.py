# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers of the packaging tests: Ansible's command line tools in a user's environment, and the
collection archive as `ansible-galaxy collection build` makes it."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EMULATOR_PATH = REPO / "tests" / "emulator"
if str(EMULATOR_PATH) not in sys.path:
    sys.path.insert(0, str(EMULATOR_PATH))

COMMAND_TIMEOUT = 600


def tool(name):
    """An Ansible command line tool of the Python that runs the tests."""
    path = Path(sys.executable).with_name(name)
    if not path.exists():
        pytest.skip(f"{name} is not installed beside {sys.executable}")
    return str(path)


def clean_env(**extra):
    """The environment of a user who has only what is given here: no ANSIBLE_* settings, no
    credentials, no PYTHONPATH that could reach the repository."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("ANSIBLE_", "AZURE_", "M365_CBA_")) and name not in ("PYTHONPATH", "PYTHONHOME")}
    env.update({"ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_RETRY_FILES_ENABLED": "0",
                "ANSIBLE_DEPRECATION_WARNINGS": "0"})
    env.update({name: str(value) for name, value in extra.items()})
    return env


def run(command, cwd, env, check=True):
    result = subprocess.run([str(part) for part in command], cwd=str(cwd), env=env, capture_output=True, text=True,
                            timeout=COMMAND_TIMEOUT, check=False)
    if check:
        assert result.returncode == 0, f"{command} rc={result.returncode}\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    return result


def build(source, output, cwd):
    """`ansible-galaxy collection build` of `source`; returns the archive's path."""
    output.mkdir(parents=True, exist_ok=True)
    run([tool("ansible-galaxy"), "collection", "build", "--force", "--output-path", output, source], cwd=cwd, env=clean_env())
    (archive,) = output.glob("m365-cba-*.tar.gz")
    return archive


def members(archive):
    """Names of the files in an archive (not of its directories: a leftover may leave an empty one)."""
    with tarfile.open(archive) as tar:
        return {member.name for member in tar.getmembers() if not member.isdir()}
