# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Runs m365.cba.certificate_store in the controller's worker process on a local connection (see plugin_utils._in_process).

With ``state: restored`` and no ``dest``, it first makes the private directory the files go to, below
``tmpdir`` (see plugin_utils._workdirs, which also removes the ones killed runs left there), here in
the worker, whose parent process is the run: the module then restores into it as into any ``dest``.
The directory is removed again when the task fails; otherwise removing it is the playbook's part.
"""

from __future__ import annotations

import os
import shutil

from ansible.utils.display import Display

from ansible_collections.m365.cba.plugins.module_utils import _secure_fs
from ansible_collections.m365.cba.plugins.plugin_utils import _workdirs
from ansible_collections.m365.cba.plugins.plugin_utils._in_process import InProcessAction, preload

display = Display()

preload("certificate_store")


def _failure(msg, **error):
    return {"failed": True, "changed": False, "msg": msg, "error": error}


class ActionModule(InProcessAction):
    MODULE = "certificate_store"

    def run(self, tmp=None, task_vars=None):
        args = self._task.args
        if args.get("state") != "restored" or args.get("dest"):
            return super().run(tmp, task_vars)
        tmpdir = args.get("tmpdir")
        tmpdir = os.path.expanduser(os.path.expandvars(str(tmpdir))) if tmpdir else None
        if getattr(self._connection, "transport", None) != "local":
            return _failure("dest: required with state=restored when the task does not run on the control node: the private "
                            "directory made without it is the control node's", option="dest")
        try:
            if self._task.check_mode:
                # Nothing is made in check mode; the module says what would be restored, without a path.
                _workdirs.check_parent(tmpdir)
                return super().run(tmp, task_vars)
            workdir, removed = _workdirs.make(tmpdir)
        except _secure_fs.UnsafePathError as exc:
            return _failure(str(exc), option="tmpdir", path=exc.path)
        except OSError as exc:
            where = tmpdir or "the system's temporary directory"
            return _failure(f"tmpdir: cannot make a private directory below {where}: {exc.strerror or exc}",
                            option="tmpdir", path=getattr(exc, "filename", None))
        for path in removed:
            display.vv(f"m365.cba.certificate_store: removed {path}, left by a run that is no longer running")
        self._task.args = dict(args, dest=workdir)
        try:
            result = super().run(tmp, task_vars)
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        finally:
            self._task.args = args
        if result.get("failed"):
            shutil.rmtree(workdir, ignore_errors=True)
        return result
