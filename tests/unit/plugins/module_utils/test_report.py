# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The tenant report file: its text, when it is written, and its errors."""

from __future__ import annotations

import os
import stat

import pytest

from ansible.plugins.filter.core import to_nice_json

from ansible_collections.m365.cba.plugins.module_utils import _report
from ansible_collections.m365.cba.plugins.module_utils._certs import CertificateError

REPORT = {"tenant": "Zürich", "verified": True, "token_roles": ["Exchange.ManageAsApp"], "service_principal_id": None,
          "connect": ["Connect-ExchangeOnline -CertificateThumbPrint AB -AppID 1"], "nested": {"b": 1, "a": [1.5, "x"]}}


def test_the_text_is_what_to_nice_json_wrote_so_old_reports_stay():
    assert _report.render(REPORT) == to_nice_json(REPORT) + "\n"


def test_write_then_keep(tmp_path):
    path = str(tmp_path / "r.json")
    predicted = _report.ensure_present(path, REPORT, check_mode=True)
    assert predicted.changed and not os.path.exists(path)
    written = _report.ensure_present(path, REPORT)
    assert written.changed and written.before == "" and written.after == predicted.after
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not _report.ensure_present(path, REPORT).changed
    assert not _report.ensure_present(path, dict(REPORT), check_mode=True).changed


def test_a_wrong_mode_alone_is_a_change(tmp_path):
    path = str(tmp_path / "r.json")
    _report.ensure_present(path, REPORT)
    os.chmod(path, 0o644)
    assert _report.ensure_present(path, REPORT, check_mode=True).changed
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert _report.ensure_present(path, REPORT).changed
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_remove(tmp_path):
    path = str(tmp_path / "r.json")
    assert not _report.ensure_absent(path).changed
    _report.ensure_present(path, REPORT)
    assert _report.ensure_absent(path, check_mode=True).changed and os.path.exists(path)
    removed = _report.ensure_absent(path)
    assert removed.changed and removed.before == _report.render(REPORT) and not os.path.exists(path)


def test_a_missing_directory_is_predicted_then_created(tmp_path):
    path = str(tmp_path / "certs" / "contoso" / "r.json")
    assert _report.ensure_present(path, REPORT, check_mode=True).changed
    assert not os.path.exists(tmp_path / "certs")
    assert _report.ensure_present(path, REPORT).changed
    assert stat.S_IMODE(os.stat(tmp_path / "certs" / "contoso").st_mode) == 0o700
    assert not _report.ensure_present(path, REPORT).changed


@pytest.mark.parametrize("make, message", [
    (lambda tmp: (tmp / "file").write_text("x") and str(tmp / "file" / "r.json"), "is not a directory"),
    (lambda tmp: (tmp / "r.json").mkdir() or str(tmp / "r.json"), "is a directory"),
])
@pytest.mark.parametrize("check_mode", [True, False])
def test_errors_name_the_path_option(tmp_path, make, message, check_mode):
    with pytest.raises(CertificateError) as error:
        _report.ensure_present(make(tmp_path), REPORT, check_mode=check_mode)
    assert error.value.option == "path" and message in str(error.value)


def test_directories_made_under_umask_000_are_closed_to_others(tmp_path):
    previous = os.umask(0)
    try:
        _report.ensure_present(str(tmp_path / "reports" / "contoso" / "r.json"), REPORT)
    finally:
        os.umask(previous)
    assert [stat.S_IMODE(os.stat(tmp_path / p).st_mode) for p in ("reports", "reports/contoso", "reports/contoso/r.json")] == [
        0o755, 0o700, 0o600]


@pytest.fixture
def nobody():
    if os.geteuid() != 0:
        pytest.skip("giving files to another user needs root")
    import pwd  # pylint: disable=import-outside-toplevel

    return pwd.getpwnam("nobody")


@pytest.mark.parametrize("check_mode", [True, False])
@pytest.mark.parametrize("what", ["the report directory", "the report file"])
def test_a_report_or_directory_of_another_user_is_refused(tmp_path, nobody, check_mode, what):
    path = tmp_path / "reports" / "r.json"
    _report.ensure_present(str(path), REPORT)
    target = path if what == "the report file" else path.parent
    os.chown(target, nobody.pw_uid, nobody.pw_gid)
    before = path.read_bytes()
    with pytest.raises(CertificateError) as error:
        _report.ensure_present(str(path), dict(REPORT, verified=False), check_mode=check_mode)
    assert str(error.value).startswith(f"path: {what} {target} is owned by nobody"), str(error.value)
    assert path.read_bytes() == before


@pytest.mark.parametrize("exists", [True, False])
def test_a_directory_above_that_others_can_write_to_is_refused(tmp_path, exists):
    path = tmp_path / "open" / "reports" / "r.json"
    if exists:
        _report.ensure_present(str(path), REPORT)
    else:
        (tmp_path / "open").mkdir()
    os.chmod(tmp_path / "open", 0o777)
    for check_mode in (True, False):
        with pytest.raises(CertificateError) as error:
            _report.ensure_present(str(path), dict(REPORT, verified=False), check_mode=check_mode)
        assert str(error.value).startswith(f"path: {tmp_path / 'open'}, a directory above {path.parent}, is writable by"), \
            str(error.value)
    assert path.exists() is exists
