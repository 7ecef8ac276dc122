# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: tenants
type: stdout
short_description: One line per tenant with a running count, totals, every failure with its task and message
version_added: 1.0.0
author:
  - m365.cba maintainers (@m365-cba)
description:
  - "A stdout callback for runs over many tenants (one inventory host per tenant). Instead of one line per task and
    tenant, it prints one line per tenant as it finishes, with a running count over the hosts of the play (after
    C(--limit)), for example C([137/500] tenant137: verified, no change)."
  - "A tenant has finished when it fails (its line comes at once) or when the play ends for it. With the default
    C(linear) strategy every tenant moves through the tasks together, so the lines of the tenants that did not fail
    come as the play ends; with C(serial) batches they come as each batch ends. The name of each task is printed as
    it starts (O(show_tasks)), so a long run shows where it is."
  - "What a line says: C(verified) when the C(m365.cba.setup) role proved that the certificate gets a token with the
    workload's permission (its result fact C(m365_cba_result.verified)), C(NOT verified) when the role set up the
    tenant without that proof, C(removed) or C(nothing to remove) for a teardown, C(would be set up (check mode));
    then C(no change) or C(changed (N tasks)). A host of any other play says C(ok) or C(skipped). A failed tenant's
    line names the task that failed and its message."
  - "At the end: the totals C(verified), C(changed), C(unchanged), C(failed) and C(skipped) (every tenant is exactly one
    of changed, unchanged, failed or skipped; verified counts the verified ones among them, and is left out when no
    tenant ran the setup role's set-up, as in a report or a teardown), then every failed tenant with the task that
    failed and its error message, and the JSON summary's path when O(summary_path) is set."
  - A failure that a block's C(rescue) handles is printed when it happens; the totals count that tenant by how it
    ended.
  - A tenant that later plays of the same run fail (the setup playbook fails tenants whose lost certificate was
    replaced) is listed again with that failure, without a count, and counts as failed.
  - "Module warnings are shown as warnings naming the tenant. Diffs (C(--diff)) are not shown; at C(-v) each task's
    result is shown per tenant in one short line."
  - "Set it with C(ANSIBLE_STDOUT_CALLBACK=m365.cba.tenants), or C(stdout_callback = m365.cba.tenants) in the
    C([defaults]) section of C(ansible.cfg)."
options:
  summary_path:
    description:
      - Write a JSON summary of the run to this file at the end (mode 0600; replaced atomically; the directory must
        exist). It holds C(totals) (C(verified) V(null) when no tenant ran the set-up), and per tenant its C(status)
        (C(changed), C(unchanged), C(failed) or C(skipped)), C(verified), C(line) (the text of its line),
        C(changed_tasks), C(failed_task) and C(message) for a failure, and C(result) (tenant ID, organization,
        workload, application ID, thumbprint and expiry from the setup role).
      - Not written when unset.
    type: path
    env:
      - name: M365_CBA_SUMMARY_PATH
    ini:
      - section: m365_cba
        key: summary_path
  show_tasks:
    description: Print the name of each task as it starts (one line per task, not per tenant).
    type: bool
    default: true
    env:
      - name: M365_CBA_SHOW_TASKS
    ini:
      - section: m365_cba
        key: show_tasks
  show_debug:
    description:
      - Print the messages of C(ansible.builtin.debug) tasks (the setup playbook's connect lines, the report's
        summary). Turn it off for the shortest output at hundreds of tenants; the JSON summary and the per-tenant
        reports hold the same facts.
    type: bool
    default: true
    env:
      - name: M365_CBA_SHOW_DEBUG
    ini:
      - section: m365_cba
        key: show_debug
notes:
  - Works with any number of forks and with C(--limit); the count of a play is the number of its hosts after
    C(--limit) that no earlier play of the run has listed.
  - "In AWX the job output goes through AWX's own callback; use the JSON summary to keep the totals. A job template
    has no environment of its own: set E(M365_CBA_SUMMARY_PATH) (for example C(/runner/artifacts/m365-cba-$JOB_ID.json))
    and E(ANSIBLE_STDOUT_CALLBACK) in AWX's Extra Environment Variables setting; Ansible expands the variables in the path,
    so each job slice writes its own summary."
"""

import json
import os
import re
import tempfile
import time

from ansible import context
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.callback import CallbackBase

RESULT_FIELDS = ("tenant_id", "organization", "workload", "cloud", "app_unique_name", "app_id", "thumbprint",
                 "certificate_not_after", "verified", "state", "removed")


def _host_name(result):
    # ansible-core 2.19 and later name these `host`, `task` and `result`; earlier versions only have the
    # underscored names, which ansible-core's own docstrings name as the ones to use for those versions.
    host = getattr(result, "host", None) or getattr(result, "_host")
    return host.get_name()


def _task(result):
    return getattr(result, "task", None) or getattr(result, "_task")


def _task_name(result):
    """The task's name as written, without the "role : " prefix some ansible-core versions add."""
    name = to_text(getattr(result, "task_name", None) or _task(result).get_name()).strip()
    return re.sub(r"^[\w.-]+ : ", "", name)


def _result_dict(result):
    data = getattr(result, "result", None)
    if not isinstance(data, dict):
        data = getattr(result, "_result", None)
    return data if isinstance(data, dict) else {}


def _warnings(result, data):
    found = []
    summaries = getattr(result, "warnings", None)
    if summaries is not None and not isinstance(summaries, (str, bytes)):
        for warning in summaries:
            event = getattr(warning, "event", None)
            found.append(to_text(getattr(event, "msg", None) or warning))
    else:
        found.extend(to_text(item) for item in data.get("warnings") or [])
    return found


def failure_message(data):
    """The error message of a failed result: its msg, the failed items' messages, or its stderr."""
    messages = []
    if data.get("msg"):
        messages.append(to_text(data["msg"]))
    items = data.get("results")
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict) and item.get("failed") and item.get("msg"):
                label = item.get("item")
                text = to_text(item["msg"])
                messages.append(f"{label}: {text}" if label is not None and not isinstance(label, (dict, list)) else text)
    if not messages:
        for key in ("stderr", "module_stderr", "reason", "exception"):
            if data.get(key):
                messages.append(to_text(data[key]).strip())
                break
    text = "; ".join(dict.fromkeys(messages))
    return text or "(the task gave no message)"


class _Tenant:
    """What the run did to one host."""

    def __init__(self, name):
        self.name = name
        self.index = None          # its place in the running count, once its line is printed
        self.play = None           # the play in which its line was printed
        self.results = 0
        self.skipped = 0
        self.changed_tasks = 0
        self.failed = False
        self.unreachable = False
        self.failed_task = None
        self.failed_play = None
        self.message = None
        self.failures = []         # (task, message, play) of every failure, in order
        self.result = None         # m365_cba_result of the setup role, when it was set
        self.line = None

    @property
    def status(self):
        if self.failed:
            return "failed"
        if self.results == 0 or self.results == self.skipped:
            return "skipped"
        return "changed" if self.changed_tasks else "unchanged"

    @property
    def verified(self):
        if self.result is None or self.result.get("state", "present") == "absent":
            return None
        return bool(self.result.get("verified")) and not self.failed


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "m365.cba.tenants"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._tenants = {}
        self._play_name = None
        self._play_hosts_all = []  # the current play's hosts after --limit
        self._play_hosts = []      # those of them not listed by an earlier play
        self._batch_hosts = set()  # the hosts that answered in the current serial batch
        self._play_printed = 0
        self._plays = []
        self._started = time.time()

    # ------------------------------------------------------------------ helpers
    def _check_mode(self):
        return bool(context.CLIARGS.get("check", False))

    def _tenant(self, name):
        tenant = self._tenants.get(name)
        if tenant is None:
            tenant = self._tenants[name] = _Tenant(name)
        return tenant

    def _outcome(self, tenant):
        """The text after 'name: ' on a tenant's line."""
        if tenant.failed:
            what = "UNREACHABLE" if tenant.unreachable else "FAILED"
            return f"{what} at '{tenant.failed_task}': {tenant.message}"
        check = self._check_mode()
        result = tenant.result
        if result is not None and result.get("state", "present") == "absent":
            if result.get("removed"):
                text = "would be removed (check mode)" if check else "removed"
            else:
                text = "nothing to remove"
        elif result is not None and result.get("app_id"):
            text = "verified" if result.get("verified") else "NOT verified"
        elif result is not None:
            text = "would be set up (check mode)" if check else "set up"
        elif tenant.status == "skipped":
            return "skipped"
        else:
            text = "ok"
        if tenant.changed_tasks == 0:
            return text + ", no change"
        tasks = "1 task" if tenant.changed_tasks == 1 else f"{tenant.changed_tasks} tasks"
        return text + (f", would change ({tasks})" if check else f", changed ({tasks})")

    def _print_line(self, tenant):
        outcome = self._outcome(tenant)
        tenant.line = f"{tenant.name}: {outcome}"
        if tenant.index is None and tenant.name in self._play_hosts:
            self._play_printed += 1
            tenant.index = self._play_printed
            tenant.play = self._play_name
            prefix = f"[{tenant.index}/{len(self._play_hosts)}] "
        else:
            prefix = ""
        color = "bright red" if tenant.failed else "yellow" if tenant.changed_tasks else "green"
        if tenant.status == "skipped":
            color = "cyan"
        self._display.display(prefix + tenant.line, color=color)

    def _settle_play(self):
        """The play ended: every tenant of it without a line yet gets one, in the order they last answered."""
        if self._play_name is None:
            return
        for name in self._play_hosts:
            tenant = self._tenant(name)
            if tenant.index is None:
                self._print_line(tenant)
        self._play_name = None
        self._play_hosts = []

    def _play_host_names(self, play):
        """The play's hosts after --limit (ansible_play_hosts_all), through the play's public variable manager."""
        try:
            manager = play.get_variable_manager()
            names = manager.get_vars(play=play).get("ansible_play_hosts_all")
            return [to_text(name) for name in names or []]
        except Exception:  # pylint: disable=broad-except  # the count then grows as hosts answer
            return None

    # ------------------------------------------------------------------ playbook and play
    def v2_playbook_on_play_start(self, play):
        name = to_text(play.get_name()).strip() or "play"
        hosts = self._play_host_names(play)
        if self._play_name is not None and name == self._play_name and hosts is not None and \
                sorted(hosts) == sorted(self._play_hosts_all):
            # The next serial batch of the same play: the tenants of the batch that ended get their lines, and the
            # count goes on.
            for host in self._play_hosts:
                if host in self._batch_hosts and self._tenant(host).index is None:
                    self._print_line(self._tenant(host))
            self._batch_hosts = set()
            return
        self._settle_play()
        self._play_name = name
        self._play_hosts_all = list(hosts or [])
        self._batch_hosts = set()
        self._play_hosts = [host for host in self._play_hosts_all if self._tenant(host).index is None]
        self._play_printed = 0
        self._plays.append({"name": name, "hosts": len(self._play_hosts_all), "new_hosts": len(self._play_hosts)})
        mode = " (check mode)" if self._check_mode() else ""
        self._display.banner(f"PLAY [{name}] {len(self._play_hosts_all)} host(s){mode}")

    def v2_playbook_on_no_hosts_matched(self):
        self._display.display("No host matched the play's hosts (after --limit).", color="cyan")

    def v2_playbook_on_task_start(self, task, is_conditional):
        if self.get_option("show_tasks"):
            self._display.display(f"  - {to_text(task.get_name()).strip()}", color="bright gray")

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)

    # ------------------------------------------------------------------ results
    def _seen(self, result):
        name = _host_name(result)
        tenant = self._tenant(name)
        if self._play_name is not None and name not in self._play_hosts_all:
            # Hosts the play did not announce (a failed variable lookup above): count them as they answer.
            self._play_hosts_all.append(name)
            if tenant.index is None:
                self._play_hosts.append(name)
        tenant.results += 1
        self._batch_hosts.add(name)
        data = _result_dict(result)
        for warning in _warnings(result, data):
            self._display.warning(f"{name}: {warning}")
        return tenant, data

    def _verbose(self, tenant, result, status):
        if self._display.verbosity >= 1:
            self._display.display(f"    {tenant.name}: {status}: {_task_name(result)}", color="bright gray")

    def v2_runner_on_ok(self, result):
        tenant, data = self._seen(result)
        if data.get("changed"):
            tenant.changed_tasks += 1
        facts = data.get("ansible_facts")
        if isinstance(facts, dict) and isinstance(facts.get("m365_cba_result"), dict):
            tenant.result = {key: facts["m365_cba_result"].get(key) for key in RESULT_FIELDS
                             if key in facts["m365_cba_result"]}
        if self.get_option("show_debug") and "msg" in data and _task(result).action in (
                "debug", "ansible.builtin.debug", "ansible.legacy.debug"):
            self._show_debug(tenant, data["msg"])
        self._verbose(tenant, result, "changed" if data.get("changed") else "ok")

    def _show_debug(self, tenant, message):
        lines = message if isinstance(message, list) else [message]
        for line in lines:
            text = line if isinstance(line, str) else json.dumps(line, default=str)
            self._display.display(f"{tenant.name} | {text}" if len(lines) == 1 else text)

    def v2_runner_on_skipped(self, result):
        tenant, dummy = self._seen(result)
        tenant.skipped += 1
        self._verbose(tenant, result, "skipped")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        tenant, data = self._seen(result)
        if ignore_errors:
            if data.get("changed"):
                tenant.changed_tasks += 1
            self._verbose(tenant, result, "failed (ignored)")
            return
        self._fail(tenant, result, failure_message(data))

    def v2_runner_on_unreachable(self, result):
        tenant, data = self._seen(result)
        tenant.unreachable = True
        self._fail(tenant, result, failure_message(data))

    def _fail(self, tenant, result, message):
        task = _task_name(result)
        tenant.failures.append((task, message, self._play_name))
        if tenant.failed:
            # Failed again after a block's rescue or in an always section: shown, without a count. The totals
            # name the failure that was not rescued.
            self._display.display(f"{tenant.name}: FAILED at '{task}': {message}", color="bright red")
            return
        tenant.failed = True
        tenant.failed_task = task
        tenant.failed_play = self._play_name
        tenant.message = message
        self._print_line(tenant)

    # ------------------------------------------------------------------ the end
    def v2_playbook_on_stats(self, stats):
        self._settle_play()
        for name in sorted(getattr(stats, "processed", {}) or {}):
            tenant = self._tenant(name)
            summary = stats.summarize(name)
            rescued = summary.get("rescued") or 0
            if summary.get("failures") or summary.get("unreachable"):
                if rescued and len(tenant.failures) > rescued:
                    # The first failures were rescued (in order); the first one after them stopped the tenant.
                    tenant.failed_task, tenant.message, tenant.failed_play = tenant.failures[rescued]
                tenant.failed = True
                tenant.failed_task = tenant.failed_task or "(unknown task)"
                tenant.message = tenant.message or "(failed without a message)"
            elif tenant.failed and rescued:
                tenant.failed = False
            if tenant.index is None and tenant.line is None:
                tenant.line = f"{name}: {self._outcome(tenant)}"
        tenants = [self._tenants[name] for name in sorted(self._tenants)]
        # Only the setup role proves anything: a run without its result (the report, a teardown) verifies nothing,
        # and its totals say nothing about it rather than "verified 0".
        provable = [t for t in tenants if t.verified is not None]
        totals = {"tenants": len(tenants), "verified": sum(1 for t in provable if t.verified) if provable else None,
                  "changed": 0, "unchanged": 0, "failed": 0, "skipped": 0}
        for tenant in tenants:
            totals[tenant.status] += 1
        self._display.banner("TENANTS")
        self._display.display(" | ".join(f"{key} {value}" for key, value in totals.items() if value is not None),
                              color="bright red" if totals["failed"] else "green")
        failed = [t for t in tenants if t.failed]
        if failed:
            self._display.display(f"Failed tenants ({len(failed)}):", color="bright red")
            for tenant in failed:
                self._display.display(f"  {tenant.name}: task '{tenant.failed_task}': {tenant.message}", color="bright red")
        path = self.get_option("summary_path")
        if path:
            self._write_summary(path, totals, tenants)

    def _write_summary(self, path, totals, tenants):
        document = {
            "version": 1,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._started)),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "check_mode": self._check_mode(),
            "limit": context.CLIARGS.get("subset") or None,
            "plays": self._plays,
            "totals": totals,
            "tenants": {
                tenant.name: {
                    "status": tenant.status,
                    "verified": tenant.verified,
                    "line": tenant.line or f"{tenant.name}: {self._outcome(tenant)}",
                    "count": tenant.index,
                    "play": tenant.play,
                    "changed_tasks": tenant.changed_tasks,
                    "failed_task": tenant.failed_task if tenant.failed else None,
                    "failed_play": tenant.failed_play if tenant.failed else None,
                    "unreachable": tenant.unreachable,
                    "message": tenant.message if tenant.failed else None,
                    "result": tenant.result,
                }
                for tenant in tenants
            },
        }
        path = os.path.abspath(os.path.expanduser(path))
        try:
            handle, temporary = tempfile.mkstemp(prefix=".m365-cba-summary-", dir=os.path.dirname(path))
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(document, stream, indent=2, sort_keys=True, default=str)
                stream.write("\n")
            os.chmod(temporary, 0o600)
            os.replace(temporary, path)
        except OSError as exc:
            self._display.warning(f"Could not write the tenant summary to {path}: {exc}")
            return
        self._display.display(f"Summary written to {path}")
