# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The AWX credential types and job templates in extensions/awx: valid for AWX, and consistent with
what the modules read and what the setup role accepts."""

from __future__ import annotations

import os

import pytest

from awx_helpers import REPO, load_yaml
from awx_injection import inject, validation_errors

CREDENTIAL_TYPES = load_yaml("extensions", "awx", "credential_types.yml")
JOB_TEMPLATES = load_yaml("extensions", "awx", "job_templates.yml")
ROLE_OPTIONS = load_yaml("roles", "setup", "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
ROLE_VARS = load_yaml("roles", "setup", "vars", "main.yml")
SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}
JOB_TEMPLATE_OPTIONS = {
    "name", "description", "organization", "project", "playbook", "inventory", "execution_environment", "credentials",
    "job_type", "ask_job_type_on_launch", "ask_credential_on_launch", "ask_limit_on_launch", "ask_variables_on_launch",
    "forks", "limit", "verbosity", "extra_vars", "survey_enabled", "survey_spec", "job_tags", "skip_tags", "timeout",
}


def by_kind(kind):
    variable = {"certificate": "AZURE_CLIENT_CERTIFICATE_PATH", "secret": "AZURE_CLIENT_SECRET"}[kind]
    (found,) = [t for t in CREDENTIAL_TYPES if variable in t["injectors"].get("env", {})]
    return found


@pytest.mark.parametrize("credential_type", CREDENTIAL_TYPES, ids=lambda t: t["name"])
def test_credential_type_is_valid_for_awx(credential_type):
    assert validation_errors(credential_type) == []
    assert credential_type["kind"] == "cloud"
    fields = {f["id"]: f for f in credential_type["inputs"]["fields"]}
    for name, field in fields.items():
        if "secret" in name or "password" in name or name == "client_certificate":
            assert field.get("secret") is True, f"{name} must be a secret input"
    # Only one way to sign in per type: a job with both would hand the modules two credentials.
    env = credential_type["injectors"]["env"]
    assert ("AZURE_CLIENT_SECRET" in env) != ("AZURE_CLIENT_CERTIFICATE_PATH" in env)
    assert "M365_CBA_ACCESS_TOKEN" not in env


@pytest.mark.parametrize("credential_type", CREDENTIAL_TYPES, ids=lambda t: t["name"])
def test_injected_names_are_what_the_collection_reads(credential_type, collection_import):
    from ansible_collections.m365.cba.plugins.module_utils._module import (  # pylint: disable=import-error
        CREDENTIAL_ENVIRONMENT,
        graph_argument_spec,
    )

    module_env = {name for option in graph_argument_spec().values() if "fallback" in option for name in option["fallback"][1]}
    for dummy, variable, companions in CREDENTIAL_ENVIRONMENT:
        module_env |= {variable} | {companion_variable for dummy2, companion_variable in companions}
    assert set(credential_type["injectors"]["env"]) <= module_env
    for variable in credential_type["injectors"]["extra_vars"]:
        assert variable in ROLE_OPTIONS and ROLE_OPTIONS[variable].get("no_log") is True


@pytest.mark.parametrize("kind", ["certificate", "secret"])
def test_injected_environment_gives_the_modules_one_credential(kind, collection_import, tmp_path, monkeypatch):
    """What AWX injects, blanks included, passes the modules' argument checks and picks the right
    credential, endpoints and cloud."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    from ansible_collections.m365.cba.plugins.module_utils._auth import Connection, credential_for  # pylint: disable=import-error
    from ansible_collections.m365.cba.plugins.module_utils._module import (  # pylint: disable=import-error
        CREDENTIAL_OPTIONS,
        credentials_from_environment,
        graph_argument_spec,
    )

    values = {"tenant_id": "contoso.onmicrosoft.com", "client_id": "00000000-0000-0000-0000-000000000001",
              "pfx_password": "not-a-real-password"}
    if kind == "certificate":
        values["client_certificate"] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    else:
        values["client_secret"] = "not-a-real-secret"
    env, extra_vars, files = inject(by_kind(kind), values, str(tmp_path))
    assert extra_vars == {"m365_cba_pfx_password": "not-a-real-password"}
    assert env["M365_CBA_CLOUD"] == "global"
    assert env["M365_CBA_CA_BUNDLE"] == env["M365_CBA_AUTHORITY_HOST"] == env["M365_CBA_GRAPH_ENDPOINT"] == ""

    for name in list(os.environ):
        if name.startswith(("AZURE_", "M365_CBA_")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = ArgumentSpecValidator(graph_argument_spec(), mutually_exclusive=[CREDENTIAL_OPTIONS]).validate({})
    assert result.error_messages == []
    connection = Connection.from_params(credentials_from_environment(result.validated_parameters))
    assert connection.authority_base.startswith("https://login.")
    assert connection.verify is True
    if kind == "certificate":
        assert connection.client_certificate_path == files["client_certificate"]
        assert not connection.client_certificate_password
        with open(files["client_certificate"], encoding="ascii") as handle:
            assert handle.read() == values["client_certificate"]
    else:
        assert credential_for(connection).kind == "secret"


def test_multi_tenant_credential_leaves_the_tenant_to_the_inventory(tmp_path):
    env, dummy, dummy = inject(by_kind("secret"), {"client_id": "x", "client_secret": "y", "pfx_password": "z"}, str(tmp_path))
    assert env["AZURE_TENANT_ID"] == ""


def test_required_inputs(tmp_path):
    with pytest.raises(ValueError, match="pfx_password"):
        inject(by_kind("certificate"), {"client_id": "x", "client_certificate": "pem"}, str(tmp_path))


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
