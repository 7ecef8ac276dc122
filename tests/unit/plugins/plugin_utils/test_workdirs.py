# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The private directories m365.cba.certificate_store restores into without dest: made 0700 whatever the
umask below a checked parent, marked with the run, and removed by a later run only when that run is gone;
and the action plugin that makes them."""

from __future__ import annotations

import multiprocessing
import os
import stat
import subprocess
import sys
import types

import pytest

from ansible_collections.m365.cba.plugins.action import certificate_store as action
from ansible_collections.m365.cba.plugins.module_utils import _secure_fs
from ansible_collections.m365.cba.plugins.plugin_utils import _in_process, _workdirs

NOBODY = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory to another user needs root")


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def marked(parent, pid, start, context=None, tail="abcd1234"):
    """A directory below ``parent`` named as ``make`` names one, for the run ``pid`` started at ``start``."""
    path = os.path.join(str(parent), f"{_workdirs.PREFIX}{pid}-{start}-{context or _workdirs.context()}-{tail}")
    os.mkdir(path, 0o700)
    with open(os.path.join(path, "app.key"), "w", encoding="utf-8") as handle:
        handle.write("key")
    return path


def gone_pid():
    """The process ID of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])  # pylint: disable=consider-using-with
    process.wait()
    return process.pid


@pytest.fixture
def umask():
    saved = os.umask(0o022)
    os.umask(saved)

    def set_umask(value):
        os.umask(value)

    yield set_umask
    os.umask(saved)


@pytest.mark.parametrize("value", [0o000, 0o022, 0o077, 0o777])
def test_made_0700_whatever_the_umask_and_named_after_the_run(tmp_path, umask, value):
    umask(value)
    parent = tmp_path / "made" / "tmp"  # missing: made 0700 (and what is above it 0755)
    path, removed = _workdirs.make(str(parent))
    umask(0o022)
    assert removed == []
    assert os.path.dirname(path) == str(parent) and mode(path) == 0o700 and mode(parent) == 0o700
    assert mode(tmp_path / "made") == 0o755
    match = _workdirs.NAME.match(os.path.basename(path))
    assert match, path
    # Outside a worker process, the run is this process.
    assert int(match["pid"]) == os.getpid() and int(match["start"]) == (_workdirs.start_time(os.getpid()) or 0)
    assert match["context"] == _workdirs.context()


def _report_run_process(queue):
    queue.put(_workdirs.run_process())


def test_in_a_worker_the_run_is_the_process_that_forked_it():
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    worker = context.Process(target=_report_run_process, args=(queue,))
    worker.start()
    try:
        assert queue.get(timeout=30) == os.getpid()
    finally:
        worker.join(30)


def test_a_later_run_removes_only_what_runs_of_its_user_left_that_are_gone(tmp_path):
    me, my_start = os.getpid(), _workdirs.start_time(os.getpid())
    dead = marked(tmp_path, gone_pid(), 4242, tail="dead0000")
    reused = marked(tmp_path, me, (my_start or 0) + 1, tail="reused00")  # this ID now names another process
    live = marked(tmp_path, me, my_start or 0, tail="live0000")
    live_unknown_start = marked(tmp_path, me, 0, tail="unknown0")
    elsewhere = marked(tmp_path, gone_pid(), 4242, context="0123abcd", tail="other000")  # another host or container
    unmarked = tmp_path / "m365-cba-x7k2ansible"  # as ansible.builtin.tempfile named them
    unmarked.mkdir()
    a_file = tmp_path / f"{_workdirs.PREFIX}{gone_pid()}-1-{_workdirs.context()}-file0000"
    a_file.write_text("not a directory")
    target = tmp_path / "target"
    target.mkdir()
    (target / "keep").write_text("keep")
    link = tmp_path / f"{_workdirs.PREFIX}{gone_pid()}-1-{_workdirs.context()}-link0000"
    link.symlink_to(target)

    expected = sorted([dead] + ([reused] if my_start is not None else []))
    assert sorted(_workdirs.stale(str(tmp_path))) == expected
    path, removed = _workdirs.make(str(tmp_path))
    assert sorted(removed) == expected
    for kept in (live, live_unknown_start, elsewhere, unmarked, a_file, link, target / "keep", path):
        assert os.path.lexists(kept), kept
    assert not os.path.exists(dead)


@as_root
def test_another_users_directory_is_never_removed(tmp_path):
    theirs = marked(tmp_path, gone_pid(), 4242)
    os.chown(theirs, NOBODY, NOBODY)
    assert _workdirs.stale(str(tmp_path)) == []
    _workdirs.make(str(tmp_path))
    assert os.path.isdir(theirs)


def test_removing_what_is_already_gone_is_no_error(tmp_path, monkeypatch):
    """Two runs cleaning at once: the second finds the directory gone."""
    dead = marked(tmp_path, gone_pid(), 4242)
    monkeypatch.setattr(_workdirs, "stale", lambda parent: [dead, dead])
    assert _workdirs.remove_stale(str(tmp_path)) == [dead, dead]


@pytest.mark.parametrize("parent_mode, refused", [(0o777, True), (0o775, True), (0o1777, False), (0o755, False)])
def test_a_parent_others_can_write_to_is_refused_naming_it(tmp_path, parent_mode, refused):
    parent = tmp_path / "shared"
    parent.mkdir()
    os.chmod(parent, parent_mode)
    stale = marked(parent, gone_pid(), 4242)
    if not refused:
        path, _removed = _workdirs.make(str(parent))
        assert mode(path) == 0o700
        return
    with pytest.raises(_secure_fs.UnsafePathError) as failure:
        _workdirs.make(str(parent), what="m365_cba_vault_tmpdir")
    assert failure.value.path == str(parent)
    assert str(failure.value).startswith(f"m365_cba_vault_tmpdir: {parent}, a directory above "), str(failure.value)
    assert "without the sticky bit" in str(failure.value)
    # Nothing was made or removed there.
    assert os.listdir(parent) == [os.path.basename(stale)]


def test_a_directory_above_the_parent_others_can_write_to_is_refused_naming_it(tmp_path):
    above = tmp_path / "open"
    (above / "tmp").mkdir(parents=True)
    os.chmod(above, 0o777)
    with pytest.raises(_secure_fs.UnsafePathError) as failure:
        _workdirs.make(str(above / "tmp"))
    assert failure.value.path == str(above) and str(failure.value).startswith(f"tmpdir: {above}, a directory above")
    assert os.listdir(above / "tmp") == []


@as_root
def test_a_parent_another_user_owns_is_refused_naming_it(tmp_path):
    parent = tmp_path / "theirs"
    parent.mkdir(mode=0o755)
    os.chown(parent, NOBODY, NOBODY)
    with pytest.raises(_secure_fs.UnsafePathError) as failure:
        _workdirs.make(str(parent))
    assert failure.value.path == str(parent), str(failure.value)
    assert str(failure.value).startswith(f"tmpdir: {parent}, a directory above") and f"(uid {NOBODY})" in str(failure.value)
    assert os.listdir(parent) == []


# -- the action plugin ---------------------------------------------------------------------------

def _action(args, check_mode=False, transport="local", outcome=None):
    """The certificate_store action plugin with the module's run replaced by one that records its arguments."""
    plugin = action.ActionModule.__new__(action.ActionModule)
    plugin._connection = types.SimpleNamespace(transport=transport)  # pylint: disable=protected-access
    plugin._task = types.SimpleNamespace(args=dict(args), check_mode=check_mode)  # pylint: disable=protected-access
    plugin.seen = []

    def module_run(self, tmp=None, task_vars=None):
        self.seen.append(dict(self._task.args))  # pylint: disable=protected-access
        dest = self._task.args.get("dest")  # pylint: disable=protected-access
        if outcome == "raise":
            raise RuntimeError("boom")
        return dict(outcome or {"changed": True}, dest=dest)

    plugin.module_run = types.MethodType(module_run, plugin)
    return plugin


@pytest.fixture
def module_run(monkeypatch):
    """InProcessAction.run calls the plugin's module_run (set by _action)."""
    monkeypatch.setattr(_in_process.InProcessAction, "run", lambda self, tmp=None, task_vars=None: self.module_run(tmp, task_vars))


def test_the_action_restores_into_a_new_private_directory(tmp_path, module_run):
    args = {"state": "restored", "path": "m365-cba/a/b", "tmpdir": str(tmp_path)}
    plugin = _action(args)
    result = plugin.run(task_vars={})
    (seen,) = plugin.seen
    assert seen == dict(args, dest=result["dest"])
    assert os.path.dirname(result["dest"]) == str(tmp_path) and mode(result["dest"]) == 0o700
    assert plugin._task.args == args  # pylint: disable=protected-access


@pytest.mark.parametrize("outcome", [{"failed": True, "msg": "store down"}, "raise"])
def test_the_action_removes_the_directory_when_the_task_fails(tmp_path, module_run, outcome):
    plugin = _action({"state": "restored", "path": "m365-cba/a/b", "tmpdir": str(tmp_path)}, outcome=outcome)
    if outcome == "raise":
        with pytest.raises(RuntimeError):
            plugin.run(task_vars={})
    else:
        assert plugin.run(task_vars={})["failed"] is True
    assert plugin.seen and os.listdir(tmp_path) == []


@pytest.mark.parametrize("args, check_mode", [
    ({"state": "restored", "path": "p", "dest": "/somewhere"}, False),
    ({"state": "present", "path": "p"}, False),
    ({"path": "p"}, False),
    ({"state": "restored", "path": "p"}, True),  # check mode makes nothing: the module predicts without a path
])
def test_the_action_leaves_other_tasks_to_the_module(tmp_path, module_run, args, check_mode):
    args = dict(args, tmpdir=str(tmp_path))
    plugin = _action(args, check_mode=check_mode)
    plugin.run(task_vars={})
    assert plugin.seen == [args] and os.listdir(tmp_path) == []


def test_the_action_refuses_an_unsafe_tmpdir_naming_it(tmp_path, module_run):
    os.chmod(tmp_path, 0o777)
    for check_mode in (False, True):
        plugin = _action({"state": "restored", "path": "p", "tmpdir": str(tmp_path)}, check_mode=check_mode)
        result = plugin.run(task_vars={})
        assert result["failed"] is True and plugin.seen == []
        assert result["msg"].startswith(f"tmpdir: {tmp_path}, a directory above"), result["msg"]
        assert result["error"] == {"option": "tmpdir", "path": str(tmp_path)}
    os.chmod(tmp_path, 0o700)


def test_the_action_needs_dest_away_from_the_control_node(module_run):
    result = _action({"state": "restored", "path": "p"}, transport="ssh").run(task_vars={})
    assert result["failed"] is True and result["msg"].startswith("dest: required with state=restored"), result
