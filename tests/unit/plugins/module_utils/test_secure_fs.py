# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private directories and the checks against other local users (OpenSSH's StrictModes)."""

from __future__ import annotations

import os
import pwd
import stat

import pytest

from ansible_collections.m365.cba.plugins.module_utils import _secure_fs
from ansible_collections.m365.cba.plugins.module_utils._secure_fs import UnsafePathError


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def other_uid():
    if os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    return pwd.getpwnam("nobody").pw_uid


@pytest.fixture
def umask_000():
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def test_created_directories_have_exact_modes_whatever_the_umask(tmp_path, umask_000):
    target = tmp_path / "a" / "b" / "c"
    assert _secure_fs.make_private_dirs(str(target)) is True
    assert [mode_of(tmp_path / p) for p in ("a", "a/b", "a/b/c")] == [0o755, 0o755, 0o700]
    assert _secure_fs.make_private_dirs(str(target)) is False


def test_created_directories_have_exact_modes_under_a_narrow_umask(tmp_path):
    previous = os.umask(0o077)
    try:
        _secure_fs.make_private_dirs(str(tmp_path / "a" / "b"), mode=0o700, parent_mode=0o755)
    finally:
        os.umask(previous)
    assert (mode_of(tmp_path / "a"), mode_of(tmp_path / "a" / "b")) == (0o755, 0o700)


def test_an_existing_directory_keeps_its_mode(tmp_path):
    os.chmod(tmp_path, 0o755)
    assert _secure_fs.make_private_dirs(str(tmp_path)) is False
    assert mode_of(tmp_path) == 0o755


def test_a_file_where_a_directory_belongs(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        _secure_fs.make_private_dirs(str(tmp_path / "file"))
    with pytest.raises(NotADirectoryError):
        _secure_fs.make_private_dirs(str(tmp_path / "file" / "below"))


@pytest.mark.parametrize("mode, writers", [(0o777, "group and others"), (0o757, "others"), (0o775, "group")])
def test_a_writable_parent_without_sticky_bit_is_refused(tmp_path, mode, writers):
    target = tmp_path / "shared" / "tenant"
    target.mkdir(parents=True, mode=0o700)
    os.chmod(tmp_path / "shared", mode)
    with pytest.raises(UnsafePathError) as err:
        _secure_fs.check_path(str(target), what="the certificate directory")
    assert err.value.path == str(tmp_path / "shared")
    text = str(err.value)
    assert text.startswith(f"{tmp_path / 'shared'}, a directory above {target}, is writable by {writers} (mode {mode:04o})")
    assert "sticky" in text
    # a directory about to be created below it is refused as well, before anything is made
    with pytest.raises(UnsafePathError):
        _secure_fs.make_private_dirs(str(tmp_path / "shared" / "new" / "tenant"))
    assert not (tmp_path / "shared" / "new").exists()


def test_a_writable_parent_with_the_sticky_bit_is_fine(tmp_path):
    target = tmp_path / "shared" / "tenant"
    target.mkdir(parents=True, mode=0o700)
    os.chmod(tmp_path / "shared", 0o1777)
    assert _secure_fs.check_path(str(target)) is True


@pytest.mark.parametrize("mode", [0o777, 0o720, 0o702])
def test_a_writable_target_is_refused(tmp_path, mode):
    target = tmp_path / "tenant"
    target.mkdir()
    os.chmod(target, mode)
    with pytest.raises(UnsafePathError) as err:
        _secure_fs.check_path(str(target), what="the certificate directory")
    assert err.value.path == str(target)
    assert str(err.value).startswith(f"the certificate directory {target} is writable by ")
    assert f"chmod go-w {target}" in str(err.value)


def test_a_target_of_another_user_is_refused(tmp_path, other_uid):
    target = tmp_path / "tenant"
    target.mkdir(mode=0o700)
    os.chown(target, other_uid, -1)
    with pytest.raises(UnsafePathError) as err:
        _secure_fs.check_path(str(target), what="the certificate directory")
    assert str(err.value).startswith(f"the certificate directory {target} is owned by nobody (uid {other_uid}), not by ")
    key = tmp_path / "key"
    key.write_text("x")
    os.chown(key, other_uid, -1)
    with open(key, "rb") as handle:
        with pytest.raises(UnsafePathError) as err:
            _secure_fs.check_owner_and_mode(str(key), os.fstat(handle.fileno()), what="the private key file")
    assert str(err.value).startswith(f"the private key file {key} is owned by nobody")


def test_a_parent_of_another_user_is_refused(tmp_path, other_uid):
    target = tmp_path / "theirs" / "tenant"
    target.mkdir(parents=True, mode=0o700)
    os.chown(tmp_path / "theirs", other_uid, -1)
    with pytest.raises(UnsafePathError) as err:
        _secure_fs.check_path(str(target))
    assert err.value.path == str(tmp_path / "theirs")
    assert "is owned by nobody" in str(err.value) and "not by root or " in str(err.value)


def test_the_directories_a_symbolic_link_leads_to_are_checked(tmp_path):
    elsewhere = tmp_path / "open" / "real"
    elsewhere.mkdir(parents=True, mode=0o700)
    os.chmod(tmp_path / "open", 0o777)
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    (private / "link").symlink_to(elsewhere)
    with pytest.raises(UnsafePathError) as err:
        _secure_fs.check_path(str(private / "link"))
    assert err.value.path == str(tmp_path / "open")
    with pytest.raises(UnsafePathError):
        _secure_fs.check_path(str(private / "link" / "missing"), missing_ok=True)


def test_missing_paths(tmp_path):
    with pytest.raises(FileNotFoundError):
        _secure_fs.check_path(str(tmp_path / "none"))
    assert _secure_fs.check_path(str(tmp_path / "none" / "deeper"), missing_ok=True) is False
