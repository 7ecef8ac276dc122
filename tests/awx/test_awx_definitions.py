# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The AWX credential type, job templates, schedules and notification templates in extensions/awx: valid for
AWX, and consistent with what the modules read, what the setup role accepts and each other."""

from __future__ import annotations

import copy
import datetime
import json
import os

import pytest
from jinja2 import meta as jinja2_meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from awx_helpers import REPO, load_yaml
from awx_injection import inject, validation_errors
from awx_rules import (JOB_TEMPLATE_OPTIONS, NOTIFICATION_TEMPLATE_OPTIONS, SCHEDULE_OPTIONS, next_runs,
                       notification_context, notification_template_errors, render, rrule_errors)

CREDENTIAL_TYPES = load_yaml("extensions", "awx", "credential_types.yml")
JOB_TEMPLATES = load_yaml("extensions", "awx", "job_templates.yml")
SCHEDULES = load_yaml("extensions", "awx", "schedules.yml")
NOTIFICATION_TEMPLATES = load_yaml("extensions", "awx", "notification_templates.yml")
ROLE_OPTIONS = load_yaml("roles", "setup", "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
ROLE_VARS = load_yaml("roles", "setup", "vars", "main.yml")
SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}


CREDENTIAL_TYPE_NAME = "Microsoft 365 CBA bootstrap identity (m365.cba)"
CREDENTIAL_TYPE = CREDENTIAL_TYPES[0]
SIGN_IN_VARIABLES = ("AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH")
CERTIFICATE = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

# The credential a user fills in, by what it signs in with.
SIGN_IN_INPUTS = {
    "certificate": {"client_certificate": CERTIFICATE},
    "encrypted certificate": {"client_certificate": CERTIFICATE, "client_certificate_password": "not-a-real-key-password"},
    "secret": {"client_secret": "not-a-real-secret"},
    "both": {"client_certificate": CERTIFICATE, "client_secret": "not-a-real-secret"},
    "neither": {},
}


def fill_in(sign_in, **values):
    base = {"tenant_id": "contoso.onmicrosoft.com", "client_id": "00000000-0000-0000-0000-000000000001",
            "pfx_password": "not-a-real-password"}
    return dict(base, **SIGN_IN_INPUTS[sign_in], **values)


def test_one_credential_type():
    assert [t["name"] for t in CREDENTIAL_TYPES] == [CREDENTIAL_TYPE_NAME]


def test_credential_type_is_valid_for_awx():
    credential_type = CREDENTIAL_TYPE
    assert validation_errors(credential_type) == []
    assert credential_type["kind"] == "cloud"
    fields = {f["id"]: f for f in credential_type["inputs"]["fields"]}
    for name, field in fields.items():
        if "secret" in name or "password" in name or name == "client_certificate":
            assert field.get("secret") is True, f"{name} must be a secret input"
    # Either way of signing in may be left empty (AWX cannot require one of two fields); the injectors
    # hand the job at most one of them.
    assert {"client_certificate", "client_secret"} <= set(fields)
    assert not {"client_certificate", "client_secret"} & set(credential_type["inputs"]["required"])
    env = credential_type["injectors"]["env"]
    assert set(SIGN_IN_VARIABLES) <= set(env)
    assert "M365_CBA_ACCESS_TOKEN" not in env


@pytest.mark.parametrize("section, key, value, message", [
    # "Exactly one of the certificate and the secret" would need `dependencies` (or oneOf), which AWX
    # refuses for custom credential types.
    ("inputs", "dependencies", {"client_certificate_password": ["client_certificate"]}, "dependencies"),
    ("env", "AZURE_CLIENT_SECRET", "{{ client_secrett }}", "client_secrett"),
    ("env", "ANSIBLE_CONFIG", "x", "ANSIBLE_CONFIG"),
])
def test_validation_refuses_what_awx_refuses(section, key, value, message):
    """The emulation of AWX's checks is no rubber stamp."""
    broken = copy.deepcopy(CREDENTIAL_TYPE)
    (broken["inputs"] if section == "inputs" else broken["injectors"][section])[key] = value
    errors = validation_errors(broken)
    assert errors and message in "\n".join(errors)


def undeclared_names(credential_type):
    """Names the injector templates use that are neither inputs nor AWX's ``tower``."""
    environment = ImmutableSandboxedEnvironment()
    ids = {field["id"] for field in credential_type["inputs"]["fields"]} | {"tower"}
    return {name for entries in credential_type["injectors"].values() for template in entries.values()
            for name in jinja2_meta.find_undeclared_variables(environment.parse(template))} - ids


def test_injectors_name_only_inputs():
    """AWX renders the injectors once, with every input set, so it misses a wrong name in the branch of
    an `{% if %}` that needs an input to be empty; check every name of every branch."""
    assert undeclared_names(CREDENTIAL_TYPE) == set()
    broken = copy.deepcopy(CREDENTIAL_TYPE)
    broken["injectors"]["env"]["AZURE_CLIENT_SECRET"] = "{% if not client_certificate %}{{ client_secrett }}{% endif %}"
    assert validation_errors(broken) == []
    assert undeclared_names(broken) == {"client_secrett"}


def test_injected_names_are_what_the_collection_reads(collection_import):
    from ansible_collections.m365.cba.plugins.module_utils._module import (  # pylint: disable=import-error
        CREDENTIAL_ENVIRONMENT,
        graph_argument_spec,
    )

    module_env = {name for option in graph_argument_spec().values() if "fallback" in option for name in option["fallback"][1]}
    for dummy, variable, companions in CREDENTIAL_ENVIRONMENT:
        module_env |= {variable} | {companion_variable for dummy2, companion_variable in companions}
    assert set(CREDENTIAL_TYPE["injectors"]["env"]) <= module_env
    for variable in CREDENTIAL_TYPE["injectors"]["extra_vars"]:
        assert variable in ROLE_OPTIONS and ROLE_OPTIONS[variable].get("no_log") is True


def module_params(env, monkeypatch):
    """What an m365.cba module makes of a job environment ``env`` (nothing else set)."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    from ansible_collections.m365.cba.plugins.module_utils._module import (  # pylint: disable=import-error
        CREDENTIAL_OPTIONS,
        credentials_from_environment,
        graph_argument_spec,
    )

    for name in list(os.environ):
        if name.startswith(("AZURE_", "M365_CBA_")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = ArgumentSpecValidator(graph_argument_spec(), mutually_exclusive=[CREDENTIAL_OPTIONS]).validate({})
    assert result.error_messages == []
    return credentials_from_environment(result.validated_parameters)


@pytest.mark.parametrize("sign_in", ["certificate", "encrypted certificate", "secret", "both"])
def test_injected_environment_gives_the_modules_one_credential(sign_in, collection_import, tmp_path, monkeypatch):
    """What AWX injects, blanks included, passes the modules' argument checks and picks the right
    credential, endpoints and cloud. With a certificate and a secret, the certificate is used."""
    from ansible_collections.m365.cba.plugins.module_utils._auth import Connection, credential_for  # pylint: disable=import-error

    values = fill_in(sign_in)
    env, extra_vars, files = inject(CREDENTIAL_TYPE, values, str(tmp_path))
    assert extra_vars == {"m365_cba_pfx_password": "not-a-real-password"}
    assert env["M365_CBA_CLOUD"] == "global"
    assert env["M365_CBA_CA_BUNDLE"] == env["M365_CBA_AUTHORITY_HOST"] == env["M365_CBA_GRAPH_ENDPOINT"] == ""
    # The job gets exactly one way to sign in.
    assert [name for name in SIGN_IN_VARIABLES if env[name]] == (
        ["AZURE_CLIENT_SECRET"] if sign_in == "secret" else ["AZURE_CLIENT_CERTIFICATE_PATH"])

    connection = Connection.from_params(module_params(env, monkeypatch))
    assert connection.authority_base.startswith("https://login.")
    assert connection.verify is True
    if sign_in == "secret":
        assert credential_for(connection).kind == "secret"
        assert not connection.client_certificate_path
        assert env["AZURE_CLIENT_CERTIFICATE_PASSWORD"] == ""
    else:
        assert not connection.client_secret
        assert connection.client_certificate_path == files["client_certificate"]
        assert connection.client_certificate_password == values.get("client_certificate_password")
        with open(files["client_certificate"], encoding="ascii") as handle:
            assert handle.read() == values["client_certificate"]


def test_neither_certificate_nor_secret_fails_clearly(collection_import, tmp_path, monkeypatch):
    """AWX accepts a credential with neither (it cannot require one of two fields): the job gets no
    credential, and the modules say so instead of signing in with something else."""
    from ansible_collections.m365.cba.plugins.module_utils._auth import AuthError, Connection, credential_for  # pylint: disable=import-error

    env, dummy, files = inject(CREDENTIAL_TYPE, fill_in("neither", client_certificate_password="stray"), str(tmp_path))
    # AWX writes the certificate file anyway, empty; the job is not pointed at it.
    assert os.path.getsize(files["client_certificate"]) == 0
    assert env["AZURE_CLIENT_CERTIFICATE_PATH"] == env["AZURE_CLIENT_SECRET"] == env["AZURE_CLIENT_CERTIFICATE_PASSWORD"] == ""
    params = module_params(env, monkeypatch)
    assert not any(params.get(name) for name in ("client_secret", "client_certificate_path", "access_token"))
    with pytest.raises(AuthError, match=r"no credential given: set client_secret, client_certificate_path or access_token"):
        credential_for(Connection.from_params(params))


def test_multi_tenant_credential_leaves_the_tenant_to_the_inventory(tmp_path):
    env, dummy, dummy = inject(CREDENTIAL_TYPE, {"client_id": "x", "client_secret": "y", "pfx_password": "z"}, str(tmp_path))
    assert env["AZURE_TENANT_ID"] == ""


def test_required_inputs(tmp_path):
    with pytest.raises(ValueError, match="pfx_password"):
        inject(CREDENTIAL_TYPE, {"client_id": "x", "client_certificate": "pem"}, str(tmp_path))
    with pytest.raises(ValueError, match="client_id"):
        inject(CREDENTIAL_TYPE, {"client_secret": "y", "pfx_password": "z"}, str(tmp_path))


@pytest.mark.parametrize("template", JOB_TEMPLATES, ids=lambda t: t["name"])
def test_job_template_is_valid_for_awx(template):
    assert set(template) <= JOB_TEMPLATE_OPTIONS
    assert os.path.isfile(os.path.join(REPO, template["playbook"]))
    assert template["job_type"] in ("run", "check")
    spec = template["survey_spec"]
    assert template["survey_enabled"] is True and spec["name"] and "description" in spec
    variables = [question["variable"] for question in spec["spec"]]
    assert len(variables) == len(set(variables))
    for question in spec["spec"]:
        assert {"question_name", "variable", "type", "required"} <= set(question)
        assert question["type"] in SURVEY_TYPES
        default = question.get("default")
        if question["type"] in ("multiplechoice", "multiselect"):
            assert isinstance(question["choices"], list) and question["choices"]
            if default is not None:
                assert all(value in question["choices"] for value in str(default).splitlines())
        if question["type"] == "integer" and default is not None:
            assert isinstance(default, int) and question["min"] <= default <= question["max"]
        # What the survey sets, the role (or the report) takes with the same type.
        option = ROLE_OPTIONS[question["variable"]]
        kind = {"multiplechoice": "str", "multiselect": "list", "integer": "int"}.get(question["type"], "str")
        assert option["type"] == kind
        if "choices" in option:
            assert question["choices"] == option["choices"]
        if "default" in option and default is not None:
            assert default == option["default"]
    # The certificate directory must outlive the job: it is never left at the default in AWX.
    if template["playbook"] == "playbooks/setup.yml":
        assert template["extra_vars"]["m365_cba_certificate_dir"].startswith("/")


def test_setup_survey_roles_and_check_mode():
    (setup,) = [t for t in JOB_TEMPLATES if t["playbook"] == "playbooks/setup.yml"]
    # Check mode is the job type, asked at launch next to the survey.
    assert setup["ask_job_type_on_launch"] is True
    questions = {q["variable"]: q for q in setup["survey_spec"]["spec"]}
    assert set(questions) == {"m365_cba_workload", "m365_cba_directory_roles", "m365_cba_certificate_renew_before_days"}
    allowed = set().union(*(preset["allowed_roles"] for preset in ROLE_VARS["__m365_cba_presets"].values()))
    offered = set(questions["m365_cba_directory_roles"]["choices"])
    assert offered <= allowed
    # The privileged roles are not one click away.
    assert not offered & set(ROLE_VARS["__m365_cba_privileged_roles"])
    assert questions["m365_cba_directory_roles"]["required"] is False


# ------------------------------------------------------------------------------ slicing, schedules, notifications
@pytest.mark.parametrize("template", JOB_TEMPLATES, ids=lambda t: t["name"])
def test_job_template_slices_and_forks_are_sane(template):
    """Every template spreads its tenants over a few slice jobs (AWX makes at most one per host), each with a
    number of forks an execution node carries."""
    slices = template["job_slice_count"]
    assert isinstance(slices, int) and not isinstance(slices, bool) and 2 <= slices <= 10
    forks = template["forks"]
    assert isinstance(forks, int) and not isinstance(forks, bool) and 1 <= forks <= 50
    # Slicing needs the whole inventory in one job: the template must not be pinned to one tenant.
    assert not template.get("limit")
    # Two launches of the same template do not run at once (the slices of one launch always do).
    assert template.get("allow_simultaneous", False) is False


@pytest.mark.parametrize("template", JOB_TEMPLATES, ids=lambda t: t["name"])
def test_job_template_notifies_on_failure(template):
    defined = {n["name"] for n in NOTIFICATION_TEMPLATES}
    attached = template["notification_templates_error"]
    assert attached and set(attached) <= defined
    # Failures only: a daily report that mails on success teaches people to ignore the mail.
    assert not template.get("notification_templates_success") and not template.get("notification_templates_started")


def test_every_notification_template_is_attached_on_failure():
    attached = {name for t in JOB_TEMPLATES for name in t["notification_templates_error"]}
    assert {n["name"] for n in NOTIFICATION_TEMPLATES} == attached
    assert len({n["name"] for n in NOTIFICATION_TEMPLATES}) == len(NOTIFICATION_TEMPLATES)


@pytest.mark.parametrize("notification", NOTIFICATION_TEMPLATES, ids=lambda n: n["name"])
def test_notification_template_is_valid_for_awx(notification):
    assert set(notification) <= NOTIFICATION_TEMPLATE_OPTIONS
    assert notification_template_errors(notification) == []
    assert set(notification["messages"]) == {"error"}
    configuration = notification["notification_configuration"]
    # No secret in the file: passwords stay empty, to be set from a vault when the template is created.
    assert configuration.get("password", "") == ""
    assert not any("authorization" == name.lower() for name in configuration.get("headers", {}))


@pytest.mark.parametrize("notification", NOTIFICATION_TEMPLATES, ids=lambda n: n["name"])
def test_notification_names_the_failed_slice(notification):
    error = notification["messages"]["error"]
    sliced = notification_context(id=107, job_slice_number=2, job_slice_count=3, limit="cloud_global")
    whole = notification_context(id=108, job_slice_number=0, job_slice_count=1)
    if notification["notification_type"] == "webhook":
        body = json.loads(render(error["body"], sliced))
        assert body["job_id"] == 107 and (body["slice"], body["slices"]) == (2, 3)
        assert body["failed_tenants"] == 1 and body["limit"] == "cloud_global"
        assert body["url"] == sliced["url"]
        assert json.loads(render(error["body"], whole))["slices"] == 1
    else:
        subject = render(error["message"], sliced)
        assert "\n" not in subject and "#107" in subject and "(slice 2 of 3)" in subject and sliced["url"] in subject
        assert "slice" not in render(error["message"], whole)
        body = render(error["body"], sliced)
        assert "slice 2 of 3" in body and "Limit: cloud_global" in body and "1 failed" in body
        assert "slice" not in render(error["body"], whole) and "Limit" not in render(error["body"], whole)


@pytest.mark.parametrize("broken, message", [
    ({"messages": {"error": {"message": "line one\nline two"}}}, "line break"),
    ({"messages": {"error": {"message": "{{ job.nmae }}"}}}, "nmae"),
    ({"messages": {"failure": {"message": "x"}}}, "unknown event"),
    ({"notification_configuration": {"url": "https://example.com", "headers": {}, "http_method": "GET"}}, "POST or PUT"),
    ({"messages": {"error": {"body": "{{ job.name }} failed"}}}, "not a JSON object"),
    ({"notification_configuration": {"url": "https://example.com"}}, "missing configuration field headers"),
])
def test_notification_validation_refuses_what_awx_refuses(broken, message):
    webhook = copy.deepcopy(next(n for n in NOTIFICATION_TEMPLATES if n["notification_type"] == "webhook"))
    webhook.update(broken)
    errors = notification_template_errors(webhook)
    assert errors and message in "\n".join(errors)


def test_email_notification_needs_its_fields():
    email = copy.deepcopy(next(n for n in NOTIFICATION_TEMPLATES if n["notification_type"] == "email"))
    del email["notification_configuration"]["sender"]
    email["notification_configuration"]["port"] = "587"
    email["notification_configuration"]["recipients"] = []
    assert notification_template_errors(email) == [
        "configuration field port must be a int", "missing configuration field sender",
        "configuration field recipients has no values"]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: s["name"])
def test_schedule_is_valid_for_awx(schedule):
    assert set(schedule) <= SCHEDULE_OPTIONS
    assert rrule_errors(schedule["rrule"]) == []
    assert schedule["enabled"] is True
    (template,) = [t for t in JOB_TEMPLATES if t["name"] == schedule["unified_job_template"]]
    assert schedule["organization"] == template["organization"]
    assert os.path.isfile(os.path.join(REPO, template["playbook"]))


def test_setup_weekly_report_daily():
    """The setup runs once a week and the report every day, at a fixed hour, the report never at the same time as
    the setup."""
    start = datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)
    runs = {}
    for schedule in SCHEDULES:
        (template,) = [t for t in JOB_TEMPLATES if t["name"] == schedule["unified_job_template"]]
        runs[template["playbook"]] = next_runs(schedule["rrule"], start, 15)
    assert set(runs) == {"playbooks/setup.yml", "playbooks/report.yml"}
    for playbook, days in (("playbooks/setup.yml", 7), ("playbooks/report.yml", 1)):
        times = runs[playbook]
        assert all(b - a == datetime.timedelta(days=days) for a, b in zip(times, times[1:])), (playbook, times)
        assert times[0] - start <= datetime.timedelta(days=days)
    assert not set(runs["playbooks/setup.yml"]) & set(runs["playbooks/report.yml"])


@pytest.mark.parametrize("rrule, message", [
    ("RRULE:FREQ=DAILY;INTERVAL=1", "DTSTART is required"),
    ("DTSTART:20260101T060000 RRULE:FREQ=DAILY;INTERVAL=1", "without a time zone"),
    ("DTSTART;TZID=UTC:20260101T060000 RRULE:FREQ=DAILY", "INTERVAL is required"),
    ("DTSTART;TZID=UTC:20260101T060000 RRULE:FREQ=MONTHLY;INTERVAL=1;BYDAY=2SU", "BYDAY with a number"),
    ("DTSTART;TZID=UTC:20260101T060000 RRULE:FREQ=DAILY;INTERVAL=1;COUNT=3;UNTIL=20260201T000000Z", "COUNT and UNTIL"),
    ("DTSTART;TZID=UTC:20260101T060000 RRULE:FREQ=DAILY;INTERVAL=1;COUNT=1000", "COUNT over 999"),
    ("DTSTART;TZID=UTC:20260101T060000 RRULE:FREQ=SECONDLY;INTERVAL=1", "SECONDLY"),
    ("DTSTART;TZID=UTC:20260101T060000 RRULE:FREQ=FORTNIGHTLY;INTERVAL=1", "parsing failed"),
    ("DTSTART;TZID=UTC:20260101T060000", "an RRULE is required"),
])
def test_rrule_validation_refuses_what_awx_refuses(rrule, message):
    errors = rrule_errors(rrule)
    assert errors and message in "\n".join(errors)
