# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Files and directories on the control node that no other local user can replace. Private to
m365.cba; no stable API.

The rules are those of OpenSSH's StrictModes:

- the path itself (a directory or a file the collection keeps secrets or certificates in) must be
  owned by the user running the module and not writable by group or others;
- every directory above it, up to ``/`` (along the path as given and along the path it resolves to),
  must be owned by root or by that user, and must not be writable by group or others unless it has
  the sticky bit (as ``/tmp`` has: there nobody can rename or remove what another user owns).

``make_private_dirs`` creates a directory and its missing parents with exact modes (0700 and 0755 by
default), whatever the umask, and checks the result; ``check_path`` checks an existing path (or the
existing part of one about to be created); ``check_owner_and_mode`` checks what ``os.fstat`` said of
a file already opened, so that the file checked is the file read. Each raises ``UnsafePathError``,
whose message names the path and what is wrong with it.
"""

from __future__ import annotations

import errno
import os
import stat

DIRECTORY_MODE = 0o700
PARENT_MODE = 0o755


class UnsafePathError(Exception):
    """A path another local user could replace or change; ``path`` is the one at fault."""

    def __init__(self, path, problem):
        super().__init__(problem)
        self.path = path

    def __str__(self):
        return self.args[0]


def _user(uid):
    try:
        import pwd  # pylint: disable=import-outside-toplevel

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def _writers(mode):
    return " and ".join(who for who, bit in (("group", stat.S_IWGRP), ("others", stat.S_IWOTH)) if mode & bit)


def _named(path, what):
    return f"{what} {path}" if what else path


def check_owner_and_mode(path, info, what=None):
    """Refuse ``path`` (whose ``os.stat``/``os.fstat`` result is ``info``) unless the running user owns
    it and neither group nor others may write to it."""
    me = os.geteuid()
    if info.st_uid != me:
        raise UnsafePathError(path, (
            f"{_named(path, what)} is owned by {_user(info.st_uid)}, not by {_user(me)} who runs this: another local user "
            "may have put it there; refusing to use it"))
    mode = stat.S_IMODE(info.st_mode)
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafePathError(path, (
            f"{_named(path, what)} is writable by {_writers(mode)} (mode {mode:04o}): another local user could change "
            f"or replace what it holds; refusing to use it until that is removed (chmod go-w {path})"))


def _check_parent(directory, below, info):
    me = os.geteuid()
    if info.st_uid not in (0, me):
        raise UnsafePathError(directory, (
            f"{directory}, a directory above {below}, is owned by {_user(info.st_uid)}, not by root or {_user(me)} who "
            f"runs this: its owner could replace what is below it; refusing to use {below}"))
    mode = stat.S_IMODE(info.st_mode)
    if mode & (stat.S_IWGRP | stat.S_IWOTH) and not mode & stat.S_ISVTX:
        raise UnsafePathError(directory, (
            f"{directory}, a directory above {below}, is writable by {_writers(mode)} (mode {mode:04o}) without the "
            "sticky bit: another local user could rename what is below it away and put their own in its place; "
            f"refusing to use {below} until that is removed (chmod go-w {directory}, or chmod +t {directory} as /tmp has)"))


def _ancestors(path):
    """The directories above ``path``, from the root down."""
    found = []
    current = path
    while True:
        parent = os.path.dirname(current)
        if parent == current:
            return list(reversed(found))
        found.append(parent)
        current = parent


def check_path(path, what=None, missing_ok=False):
    """Refuse ``path`` unless it is safe from other local users (see the module's description).

    ``what`` names the path in messages ("the certificate directory"). With ``missing_ok``, a path
    that does not exist (yet) is not an error: the part of it that exists is checked as the
    directories above it, and False returned. Returns True when the path exists. A path that cannot
    be examined raises OSError.
    """
    path = os.path.abspath(path)
    exists = os.path.exists(path)
    if exists:
        parents = _ancestors(path)
        real = os.path.realpath(path)
        real_parents = _ancestors(real)
    elif missing_ok:
        base = path
        while not os.path.exists(base):
            base = os.path.dirname(base)
        parents = _ancestors(base) + [base]
        real = os.path.realpath(base)
        real_parents = _ancestors(real) + [real]
    else:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
    # Along the path as given and along what it resolves to (a symbolic link on the way leads
    # elsewhere), the directory closest to the root first: it is the one to fix first.
    for directory in parents + [d for d in real_parents if d not in parents]:
        _check_parent(directory, path, os.stat(directory))
    if exists:
        check_owner_and_mode(path, os.stat(path), what)
    return exists


def make_private_dirs(path, what=None, mode=DIRECTORY_MODE, parent_mode=PARENT_MODE):
    """Create the directory ``path`` with ``mode`` (0700) and each missing directory above it with
    ``parent_mode`` (0755), set exactly whatever the umask, after checking what exists and before
    returning checking the result (``check_path``). Returns True when ``path`` itself was created.

    An existing directory keeps its mode (when it passes the check). Raises UnsafePathError for an
    unsafe path, NotADirectoryError when a file stands where a directory belongs, and OSError when a
    directory cannot be created.
    """
    path = os.path.abspath(path)
    if check_path(path, what, missing_ok=True):
        if not os.path.isdir(path):
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
        return False
    missing = [directory for directory in _ancestors(path) + [path] if not os.path.exists(directory)]
    created = False
    for directory in missing:
        wanted = mode if directory == path else parent_mode
        try:
            # The umask can only narrow the mode mkdir gives; chmod then sets it exactly.
            os.mkdir(directory, wanted)
        except FileExistsError:
            if not os.path.isdir(directory):
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), directory) from None
            continue  # made meanwhile by a concurrent run: the check below judges it
        os.chmod(directory, wanted)
        created = created or directory == path
    check_path(path, what)
    return created
