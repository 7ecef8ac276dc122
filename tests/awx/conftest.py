# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for the AWX / execution environment / report tests.

They use the built copy of the collection on ANSIBLE_COLLECTIONS_PATH (``make collection`` writes one),
the playbooks of this checkout (what an AWX project holds) and an in-process emulator.
"""

from __future__ import annotations

import os
import sys

import pytest

from awx_helpers import EMULATOR_PATH

if EMULATOR_PATH not in sys.path:
    sys.path.insert(0, EMULATOR_PATH)


@pytest.fixture(scope="session")
def collections_path():
    """The directory holding ansible_collections/m365/cba, from ANSIBLE_COLLECTIONS_PATH."""
    value = os.environ.get("ANSIBLE_COLLECTIONS_PATH")
    if not value:
        pytest.skip("ANSIBLE_COLLECTIONS_PATH is not set: build the collection with "
                    "`make collection BUILD=/tmp/b-awx` and set ANSIBLE_COLLECTIONS_PATH=/tmp/b-awx/collections")
    for entry in value.split(os.pathsep):
        if os.path.isfile(os.path.join(entry, "ansible_collections", "m365", "cba", "galaxy.yml")):
            return entry
    pytest.skip(f"no ansible_collections/m365/cba under ANSIBLE_COLLECTIONS_PATH={value}: run `make collection`")
    return None


@pytest.fixture(scope="session")
def collection_dir(collections_path):
    return os.path.join(collections_path, "ansible_collections", "m365", "cba")


@pytest.fixture(scope="session")
def collection_import(collections_path):
    """Make ansible_collections.m365.cba importable from the built copy."""
    if collections_path not in sys.path:
        sys.path.insert(0, collections_path)
    return collections_path


@pytest.fixture(scope="session")
def ansible_env(collections_path):
    """Environment for ansible-playbook runs: the built collection, no colour, no retry files."""
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": collections_path,
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_HOST_KEY_CHECKING": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
    })
    for name in list(env):
        if name.startswith(("AZURE_", "M365_CBA_")):
            del env[name]
    return env
