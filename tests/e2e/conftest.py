# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures of the end-to-end tests: one emulator for the session with distinct tenants per scenario,
the installed collection (found through ANSIBLE_COLLECTIONS_PATH) and a playbook runner.

Run: ANSIBLE_COLLECTIONS_PATH=<build>/collections python -m pytest -q tests/e2e
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from pathlib import Path

import pytest

from e2e_support import ALL_TENANTS, DEPLOY_TENANTS, PlaybookRunner

from m365emu import Emulator  # e2e_support puts tests/emulator on sys.path


@pytest.fixture(scope="session")
def collection():
    """The installed m365.cba collection the playbook runs from."""
    value = os.environ.get("ANSIBLE_COLLECTIONS_PATH")
    if not value:
        pytest.skip("ANSIBLE_COLLECTIONS_PATH is not set; build the collection first "
                    "(make collection BUILD=DIR) and set ANSIBLE_COLLECTIONS_PATH=DIR/collections")
    for entry in value.split(os.pathsep):
        candidate = Path(entry).expanduser() / "ansible_collections" / "m365" / "cba"
        if (candidate / "roles" / "setup").is_dir() and (candidate / "playbooks" / "setup.yml").is_file():
            return candidate
    pytest.skip(f"no m365.cba collection with roles/setup below ANSIBLE_COLLECTIONS_PATH={value}")


@pytest.fixture(scope="session")
def ansible_playbook():
    beside = Path(sys.executable).with_name("ansible-playbook")
    found = str(beside) if beside.exists() else shutil.which("ansible-playbook")
    if not found:
        pytest.skip("ansible-playbook is not installed beside this Python or on PATH")
    return found


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    with Emulator(str(tmp_path_factory.mktemp("emulator")), seed=[{"name": name} for name in ALL_TENANTS]) as emu:
        yield emu


@pytest.fixture(scope="session")
def pfx_password():
    return secrets.token_urlsafe(24)


@pytest.fixture(scope="session")
def runner(emulator, collection, ansible_playbook, tmp_path_factory, pfx_password):
    return PlaybookRunner(emulator, collection, ansible_playbook, tmp_path_factory.mktemp("runs"), pfx_password)


@pytest.fixture(scope="session")
def deployed(runner, tmp_path_factory):
    """Five fresh tenants set up (run "first"), then the same run again (run "again")."""
    cert_root = tmp_path_factory.mktemp("deploy-certificates")
    first = runner.run("first", DEPLOY_TENANTS, cert_root)
    again = runner.run("again", DEPLOY_TENANTS, cert_root)
    return {"cert_root": cert_root, "first": first, "again": again}
