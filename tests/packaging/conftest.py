# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures of the packaging tests: the collection as `ansible-galaxy collection build` archives it and
as `ansible-galaxy collection install` installs it, with nothing of the repository on the way.

Run from the repository root: .venv/bin/python -m pytest -q tests/packaging
(no built copy of the collection is needed: the tests build their own archive of this working tree).
"""

from __future__ import annotations

import pytest

from packaging_support import REPO, build


@pytest.fixture(scope="session")
def repo():
    return REPO


@pytest.fixture(scope="session")
def module_names():
    return sorted(path.stem for path in (REPO / "plugins" / "modules").glob("*.py") if path.stem != "__init__")


@pytest.fixture(scope="session")
def archive(tmp_path_factory):
    """The archive of this working tree, built the way a release is."""
    workdir = tmp_path_factory.mktemp("archive")
    return build(REPO, workdir / "dist", cwd=workdir)
