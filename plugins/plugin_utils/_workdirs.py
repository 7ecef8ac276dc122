# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private working directories of a playbook run on the control node, which a later run removes when
the run that made them was killed. Private to m365.cba; no stable API.

``make(parent)`` makes ``<parent>/m365-cba-run-<pid>-<start>-<context>-<random>``, mode 0700 whatever
the umask, after checking ``parent`` and the directories above it as OpenSSH's StrictModes would
(``module_utils._secure_fs``). The name marks the directory with the run that made it: the process ID
of ``ansible-playbook`` (the process that forks the worker running the task, and lives as long as the
run), that process's start time (Linux; 0 where it cannot be read) and a digest of the host name and
the PID namespace, all in the name so that a directory never exists unmarked.

Before making one, ``make`` removes the directories below ``parent`` that runs of the same user, on
the same host and in the same PID namespace, left behind: those whose process is gone, or whose
process ID now belongs to a process that started at another time. A directory of a live run, of
another user, of another host or container sharing ``parent``, or not named this way is never
removed.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
import shutil
import socket
import stat
import tempfile

from ansible_collections.m365.cba.plugins.module_utils import _secure_fs

PREFIX = "m365-cba-run-"
NAME = re.compile(r"^m365-cba-run-(?P<pid>[0-9]+)-(?P<start>[0-9]+)-(?P<context>[0-9a-f]{8})-[a-z0-9_]+$")
MODE = 0o700


def run_process():
    """The process ID of the run: the parent of this worker process (``ansible-playbook``), or this
    process when it is no worker."""
    parent = multiprocessing.parent_process()
    return parent.pid if parent is not None and parent.pid else os.getpid()


def start_time(pid):
    """When ``pid`` started, in clock ticks since boot (Linux), or None where it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            # The command name, in parentheses, may hold spaces: the fields after it are split.
            return int(handle.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def context():
    """A digest of the host name and the PID namespace: process IDs mean something only within both."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return hashlib.sha256(f"{socket.gethostname()}\0{namespace}".encode("utf-8")).hexdigest()[:8]


def alive(pid, start):
    """Whether the process ``pid`` that started at ``start`` (None: unknown) may still be running."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        pass  # it exists (another user's, perhaps): judged by its start time
    if start is None:
        return True
    now = start_time(pid)
    return now is None or now == start


def stale(parent):
    """The directories below ``parent`` that this user's killed runs left behind (see the module's description)."""
    me, here = os.geteuid(), context()
    found = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return found
    for entry in entries:
        match = NAME.match(entry.name)
        if not match or match["context"] != here:
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != me:
            continue
        if not alive(int(match["pid"]), int(match["start"]) or None):
            found.append(entry.path)
    return found


def remove_stale(parent):
    """Remove what ``stale(parent)`` finds; returns the directories removed. Two runs cleaning at once
    may both try: what one removed, the other finds gone."""
    removed = []
    for path in stale(parent):
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.lexists(path):
            removed.append(path)
    return removed


def check_parent(parent=None, what="tmpdir", create=False):
    """``parent`` (the system's temporary directory when None) as an absolute path, once it and the
    directories above it are safe to make a private directory in: owned by root or the running user,
    and not writable by group or others unless sticky (as ``/tmp`` is). With ``create``, a ``parent``
    that does not exist is made (0700, its missing parents 0755); without, it is not needed yet.
    Raises ``_secure_fs.UnsafePathError`` naming the directory at fault, prefixed with ``what``."""
    parent = os.path.abspath(parent or tempfile.gettempdir())
    try:
        if create and not os.path.isdir(parent):
            _secure_fs.make_private_dirs(parent)
        # Checked as the directories above the one about to be made: parent may be shared when sticky.
        _secure_fs.check_path(os.path.join(parent, PREFIX + "*"), missing_ok=True)
    except _secure_fs.UnsafePathError as exc:
        raise _secure_fs.UnsafePathError(exc.path, f"{what}: {exc}") from None
    return parent


def make(parent=None, what="tmpdir"):
    """A new private directory below ``parent`` (see ``check_parent``), after removing the stale ones
    there; returns ``(path, removed)``."""
    parent = check_parent(parent, what, create=True)
    removed = remove_stale(parent)
    pid = run_process()
    path = tempfile.mkdtemp(prefix=f"{PREFIX}{pid}-{start_time(pid) or 0}-{context()}-", dir=parent)
    try:
        os.chmod(path, MODE)  # mkdtemp's 0700 less the umask: exactly 0700
        _secure_fs.check_path(path)
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise
    return path, removed
