# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""An emulator for the collection's own tests (module scope, reset before each test)."""

from __future__ import annotations

import pytest

from m365emu import Emulator


@pytest.fixture(scope="module")
def module_emulator(tmp_path_factory):
    with Emulator(str(tmp_path_factory.mktemp("emulator")), tenants=2) as emu:
        yield emu


@pytest.fixture
def emu(module_emulator):
    # REQUESTS_CA_BUNDLE stays as the machine sets it: the collection must trust its ca_bundle anyway.
    module_emulator.reset(faults=True, requests=True, settings=True)
    return module_emulator
