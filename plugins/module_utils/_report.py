# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The per-tenant setup report: a JSON file on the control node. Private to m365.cba; no stable API."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from ._certs import check_directory, check_not_a_file, ensure_directory, path_error, read_checked, write_file_atomic

REPORT_MODE = 0o600


def render(content) -> str:
    """The report's text: the layout of Ansible's ``to_nice_json`` (so a report written by earlier
    releases with ``copy`` and ``to_nice_json`` is not rewritten), and a final newline."""
    return json.dumps(content, indent=4, sort_keys=True, separators=(",", ": ")) + "\n"


@dataclass
class Outcome:
    changed: bool
    before: str
    after: str


REPORT_DIRECTORY = "the report directory"


def _read(path):
    """``(text, mode)`` of the report, ``("", None)`` when there is none; refused when another local
    user owns it or may write to it."""
    data, mode = read_checked(path, "the report file")
    if data is None:
        return "", None
    return data.decode("utf-8", errors="replace"), mode


def ensure_present(path, content, check_mode=False) -> Outcome:
    """Write ``content`` as the report at ``path`` (mode 0600) unless it is there already; a missing
    directory is created (mode 0700, missing ones above it 0755), as the certificate's is. A
    directory another local user could replace is refused, as the certificate's is."""
    directory = os.path.dirname(path) or "."
    text = render(content)
    if os.path.isdir(directory):
        check_directory(directory, REPORT_DIRECTORY)
        before, mode = _read(path)
    else:
        check_not_a_file(directory)
        check_directory(directory, REPORT_DIRECTORY, missing_ok=True)
        before, mode = "", None
    if before == text and mode == REPORT_MODE:
        return Outcome(False, before, text)
    if not check_mode:
        ensure_directory(directory, REPORT_DIRECTORY)
        if before == text:
            try:
                os.chmod(path, REPORT_MODE)
            except OSError as exc:
                raise path_error("set the mode of", path, exc) from None
        else:
            write_file_atomic(path, text.encode("utf-8"), REPORT_MODE)
    return Outcome(True, before, text)


def ensure_absent(path, check_mode=False) -> Outcome:
    before, mode = _read(path)
    if mode is None:
        return Outcome(False, "", "")
    if not check_mode:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass  # removed meanwhile: the outcome is the same
        except OSError as exc:
            raise path_error("remove", path, exc) from None
    return Outcome(True, before, "")
