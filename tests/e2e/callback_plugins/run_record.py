# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Record a playbook run as JSON for the end-to-end tests, beside the normal screen output.

Enabled with ANSIBLE_CALLBACKS_ENABLED=run_record; writes the file named by M365_CBA_RUN_RECORD at the
end of the run: per-host stats and, per task result, only status fields, messages and warnings (never
the module's return values, which may name secrets' paths or claims).
"""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: run_record
type: aggregate
short_description: write per-host stats and task outcomes as JSON
description:
  - Writes the file named by the E(M365_CBA_RUN_RECORD) environment variable when the playbook ends.
"""


def _text(value):
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_text(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _text(item) for key, item in value.items()}
    return str(value)


def _warnings(result):
    found = []
    for warning in getattr(result, "warnings", None) or []:
        event = getattr(warning, "event", None)
        found.append(str(getattr(event, "msg", None) or warning))
    return found


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "run_record"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._tasks = []

    def _record(self, result, status):
        data = getattr(result, "result", None)
        if data is None:
            data = result._result  # pylint: disable=protected-access
        task = result.task if hasattr(result, "task") else result._task  # pylint: disable=protected-access
        host = result.host if hasattr(result, "host") else result._host  # pylint: disable=protected-access
        self._tasks.append({
            "host": host.get_name(),
            "task": task.get_name(),
            "action": task.action,
            "status": status,
            "changed": bool(data.get("changed", False)),
            "msg": _text(data.get("msg")),
            "warnings": _warnings(result),
        })

    def v2_runner_on_ok(self, result, *args, **kwargs):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, *args, **kwargs):
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result, *args, **kwargs):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result, *args, **kwargs):
        self._record(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("M365_CBA_RUN_RECORD")
        if not path:
            return
        hosts = {host: stats.summarize(host) for host in sorted(stats.processed)}
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"stats": hosts, "tasks": self._tasks}, handle, indent=1)
