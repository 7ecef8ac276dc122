# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Atomic file writing helpers (private material is written with mode 0600)."""

import json
import os
import tempfile


def _atomic_write(path, data, mode):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, tmp_path = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        os.fchmod(handle, mode)
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)
        raise


def write_text(path, text, mode=0o644):
    _atomic_write(path, text.encode("utf-8"), mode)


def write_private(path, data):
    _atomic_write(path, data if isinstance(data, bytes) else data.encode("utf-8"), 0o600)


def write_bytes(path, data, mode=0o644):
    _atomic_write(path, data, mode)


def write_json(path, value, private=False):
    text = json.dumps(value, indent=2, sort_keys=True) + "\n"
    if private:
        write_private(path, text)
    else:
        write_text(path, text)


def read_json(path):
    with open(path, encoding="utf-8") as stream:
        return json.load(stream)
