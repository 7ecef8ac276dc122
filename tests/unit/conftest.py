# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Make ``ansible_collections.m365.cba`` importable from this checkout for plain pytest runs."""

from __future__ import annotations

import os
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _collection_root():
    """A directory holding ansible_collections/m365/cba -> this repository (a symlink is fine for pytest)."""
    parts = REPO.split(os.sep)
    if len(parts) > 3 and parts[-3] == "ansible_collections":
        return os.sep.join(parts[:-3])
    root = os.path.join(tempfile.gettempdir(), f"m365cba-pytest-{os.getuid()}")
    link = os.path.join(root, "ansible_collections", "m365", "cba")
    os.makedirs(os.path.dirname(link), exist_ok=True)
    if not os.path.islink(link) or os.readlink(link) != REPO:
        tmp = link + f".{os.getpid()}"
        os.symlink(REPO, tmp)
        os.replace(tmp, link)
    return root


sys.path.insert(0, _collection_root())
sys.path.insert(0, os.path.join(REPO, "tests", "emulator"))
