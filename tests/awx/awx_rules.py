# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""AWX's rules for schedules and notification templates, for tests, written from reading AWX's source
(ansible/awx: awx/api/serializers.py SchedulePreviewSerializer.validate_rrule and NotificationTemplateSerializer,
awx/main/models/schedules.py Schedule.rrulestr, awx/main/notifications/*_backend.py init_parameters,
awx/main/models/notifications.py JobNotificationMixin.context_stub, awx/main/notifications/webhook_backend.py
format_body), and the option names of the awx.awx modules (awx_collection/plugins/modules).

Schedules: the rrule needs exactly one DTSTART with a time zone (``DTSTART;TZID=<zone>:`` or a UTC time ending in
``Z``), at least one RRULE, each with an INTERVAL, no SECONDLY, no BYDAY with a number, not COUNT and UNTIL together,
COUNT at most 999, no EXDATE or RDATE; then python-dateutil must parse it as a rule set.

Notification templates: the configuration has every parameter of its type that has no default, each of its type (a
list not empty); messages are only for started, success, error and workflow_approval, each with a ``message`` (one
line) and a ``body``, rendered in a sandbox where an unknown name is an error; a webhook's body is sent only when it
renders to a JSON object (otherwise AWX sends ``{}``).
"""

from __future__ import annotations

import datetime
import json
import re

from dateutil import rrule as dateutil_rrule
from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

JOB_TEMPLATE_OPTIONS = {
    "name", "description", "organization", "project", "playbook", "inventory", "execution_environment", "credentials",
    "job_type", "ask_job_type_on_launch", "ask_credential_on_launch", "ask_limit_on_launch", "ask_variables_on_launch",
    "ask_forks_on_launch", "ask_job_slice_count_on_launch", "ask_instance_groups_on_launch", "instance_groups",
    "forks", "limit", "verbosity", "extra_vars", "survey_enabled", "survey_spec", "job_tags", "skip_tags", "timeout",
    "job_slice_count", "allow_simultaneous", "notification_templates_started", "notification_templates_success",
    "notification_templates_error",
}
SCHEDULE_OPTIONS = {
    "name", "description", "rrule", "unified_job_template", "organization", "enabled", "extra_data", "inventory",
    "credentials", "execution_environment", "forks", "instance_groups", "job_slice_count", "labels", "timeout",
    "job_type", "job_tags", "skip_tags", "limit", "diff_mode", "verbosity", "scm_branch",
}
NOTIFICATION_TEMPLATE_OPTIONS = {"name", "description", "organization", "notification_type", "notification_configuration",
                                 "messages"}

# The parameters of the notification types, as {name: (type, has a default)}.
NOTIFICATION_PARAMETERS = {
    "email": {"host": ("string", False), "port": ("int", False), "username": ("string", False),
              "password": ("password", False), "use_tls": ("bool", False), "use_ssl": ("bool", False),
              "sender": ("string", False), "recipients": ("list", False), "timeout": ("int", True)},
    "webhook": {"url": ("string", False), "http_method": ("string", True), "disable_ssl_verification": ("bool", True),
                "username": ("string", True), "password": ("password", True), "headers": ("object", False)},
    "slack": {"token": ("password", False), "channels": ("list", False)},
}
PYTHON_TYPES = {"string": (str,), "password": (str,), "int": (int,), "bool": (bool,), "list": (list,), "object": (dict,)}
EVENTS = ("started", "success", "error", "workflow_approval")


def rrule_errors(value):
    """What AWX says about a schedule's rrule; [] when it takes it."""
    errors = []
    starts = re.findall(r"DTSTART(?:;[^:]+)?:[0-9]+T[0-9]+Z?", value)
    if not starts:
        errors.append("a DTSTART is required")
    elif len(starts) > 1:
        errors.append("only one DTSTART")
    if re.search(r"DTSTART:[0-9]+T[0-9]+(\s|$)", value):
        errors.append("DTSTART without a time zone")
    if "rrule:" not in value.lower():
        errors.append("an RRULE is required")
    if re.search(r"(EXDATE|RDATE)[;:]", value, re.I):
        errors.append("EXDATE and RDATE are not allowed")
    for rule in re.findall(r"RRULE:\S*", value):
        upper = rule.upper()
        if "INTERVAL=" not in upper:
            errors.append(f"INTERVAL is required: {rule}")
        if "FREQ=SECONDLY" in upper:
            errors.append(f"SECONDLY is not supported: {rule}")
        if re.search(r"BYDAY=[^;]*[+-]?[0-9]+[A-Z]{2}", upper):
            errors.append(f"BYDAY with a number is not supported: {rule}")
        if "COUNT=" in upper and "UNTIL=" in upper:
            errors.append(f"COUNT and UNTIL together: {rule}")
        count = re.search(r"COUNT=([0-9]+)", upper)
        if count and int(count.group(1)) > 999:
            errors.append(f"COUNT over 999: {rule}")
    if not errors:
        try:
            parsed = rule_set(value)
            if parsed[0].tzinfo is None:
                errors.append("the start has no time zone")
        except (ValueError, TypeError, IndexError) as exc:
            errors.append(f"rrule parsing failed: {exc}")
    return errors


def rule_set(value):
    """The schedule as python-dateutil's rule set (as AWX parses it)."""
    return dateutil_rrule.rrulestr(value, forceset=True)


def next_runs(value, after, count):
    runs = []
    moment = after
    parsed = rule_set(value)
    for dummy in range(count):
        moment = parsed.after(moment)
        runs.append(moment)
    return runs


def notification_context(**job):
    """A job's notification context, shaped like AWX's context stub, with the fields set in `job`."""
    fields = {
        "id": 42, "name": "m365.cba - set up certificate-based authentication", "status": "failed", "failed": True,
        "job_slice_number": 0, "job_slice_count": 1, "limit": "", "launch_type": "scheduled", "playbook": "playbooks/setup.yml",
        "host_status_counts": {"skipped": 0, "ok": 8, "changed": 1, "failures": 1, "dark": 0, "failed": True,
                               "processed": 10, "rescued": 0},
        "summary_fields": {"inventory": {"id": 17, "name": "Microsoft 365 tenants", "total_hosts": 30},
                           "job_template": {"id": 39, "name": "m365.cba - set up certificate-based authentication"}},
        "created": datetime.datetime(2026, 11, 30, 6, 0, tzinfo=datetime.timezone.utc), "elapsed": 61.2,
        "url": "/api/v2/jobs/42/",
    }
    fields.update(job)
    return {"job": fields, "job_friendly_name": "Job", "url": "https://awx.example.com/#/jobs/playbook/42",
            "job_metadata": json.dumps({"id": fields["id"], "name": fields["name"], "status": fields["status"]})}


def render(template, context):
    return ImmutableSandboxedEnvironment(undefined=StrictUndefined).from_string(template).render(context)


def notification_template_errors(notification_template):
    """What AWX says about a notification template; [] when it takes it."""
    errors = []
    kind = notification_template.get("notification_type")
    if kind not in NOTIFICATION_PARAMETERS:
        return [f"notification type {kind!r} is not one of {sorted(NOTIFICATION_PARAMETERS)}"]
    configuration = notification_template.get("notification_configuration") or {}
    parameters = NOTIFICATION_PARAMETERS[kind]
    for name, (kind_of_value, has_default) in parameters.items():
        if name not in configuration:
            if not has_default:
                errors.append(f"missing configuration field {name}")
            continue
        value = configuration[name]
        if type(value) not in PYTHON_TYPES[kind_of_value]:  # pylint: disable=unidiomatic-typecheck  # as AWX checks
            errors.append(f"configuration field {name} must be a {kind_of_value}")
        elif kind_of_value == "list" and not value:
            errors.append(f"configuration field {name} has no values")
    errors.extend(f"unknown configuration field {name}" for name in set(configuration) - set(parameters))
    if kind == "webhook" and str(configuration.get("http_method", "POST")).lower() not in ("post", "put"):
        errors.append("the webhook's HTTP method must be POST or PUT")
    messages = notification_template.get("messages") or {}
    for event, entry in messages.items():
        if event not in EVENTS:
            errors.append(f"messages for an unknown event {event}")
            continue
        if entry is None:
            continue
        for part, text in entry.items():
            if part not in ("message", "body"):
                errors.append(f"{event}: unknown part {part}")
                continue
            if text is None:
                continue
            if part == "message" and "\n" in text:
                errors.append(f"{event}: the message has a line break")
            try:
                rendered = render(text, notification_context())
            except (TemplateSyntaxError, UndefinedError, SecurityError) as exc:
                errors.append(f"{event} {part}: {exc}")
                continue
            if kind == "webhook" and part == "body":
                try:
                    loaded = json.loads(rendered)
                except ValueError:
                    loaded = None
                if not isinstance(loaded, dict):
                    errors.append(f"{event}: the webhook body is not a JSON object, AWX would send {{}}")
    return errors
