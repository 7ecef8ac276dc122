# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""AWX's rules for custom credential types, and what a job gets from one, for tests.

AWX validates a credential type's ``inputs`` and ``injectors`` against a JSON schema (``inputs`` has
only ``fields`` and ``required``; ``dependencies`` is refused for custom types, so "one of these two
fields" cannot be required) and renders each injector template once with every field set to
``"EXAMPLE"`` (undefined names are errors, so both branches of a ``{% if %}`` are not checked).

At launch it renders the templates in a sandboxed Jinja environment (full Jinja: ``{% if %}`` works)
with the default ``Undefined``: inputs left empty are not in the namespace at all, so they are falsy
in a condition and render as empty strings. It writes every ``file`` template to its own file in the
job's private ``env`` directory, mode 0600, even when it renders empty, exposes those paths as
``tower.filename.<name>``, and sets every ``env`` variable and every ``extra_vars`` variable, empty or
not.

Sources: awx/main/fields.py (CredentialTypeInputField, CredentialTypeInjectorField) and
awx/main/models/credential/__init__.py (CredentialType.inject_credential) in ansible/awx, and
awx_plugins/interfaces/_temporary_private_inject_api.py (inject_credential) in
ansible/awx_plugins.interfaces, which newer AWX releases use.
"""

from __future__ import annotations

import os
import stat
import tempfile
from types import SimpleNamespace

import jsonschema
from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

NAME = r"^[a-zA-Z_]+[a-zA-Z0-9_]*$"

INPUTS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "required": {"type": "array", "items": {"type": "string"}},
        "fields": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "label"],
                "properties": {
                    "id": {"type": "string", "pattern": NAME},
                    "label": {"type": "string"},
                    "type": {"enum": ["string", "boolean"]},
                    "format": {"enum": ["ssh_private_key", "url"]},
                    "choices": {"type": "array", "minItems": 1, "items": {"type": "string"}, "uniqueItems": True},
                    "help_text": {"type": "string"},
                    "multiline": {"type": "boolean"},
                    "secret": {"type": "boolean"},
                    "ask_at_runtime": {"type": "boolean"},
                    "default": {},
                },
            },
        },
    },
}

INJECTORS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "file": {"type": "object", "additionalProperties": False,
                 "patternProperties": {r"^template(\.[a-zA-Z_]+[a-zA-Z0-9_]*)?$": {"type": "string"}}},
        "env": {"type": "object", "additionalProperties": False,
                "patternProperties": {NAME: {"type": "string", "pattern": "^[\x00-\x7F]*$"}}},
        "extra_vars": {"type": "object", "additionalProperties": False,
                       "patternProperties": {NAME: {"type": "string"}}},
    },
}

# Variables AWX refuses in credential injectors (besides every ANSIBLE_* variable).
ENV_BLOCKLIST = frozenset((
    "VIRTUAL_ENV", "PATH", "PYTHONPATH", "JOB_ID", "INVENTORY_ID", "INVENTORY_SOURCE_ID", "INVENTORY_UPDATE_ID",
    "AD_HOC_COMMAND_ID", "REST_API_URL", "REST_API_TOKEN", "MAX_EVENT_RES", "CALLBACK_QUEUE", "CALLBACK_CONNECTION",
    "CACHE", "JOB_CALLBACK_DEBUG", "INVENTORY_HOSTVARS", "AWX_HOST", "PROJECT_REVISION", "SUPERVISOR_CONFIG_PATH",
))


def validation_errors(credential_type):
    """Everything AWX would refuse in ``credential_type`` (a dict with ``inputs`` and ``injectors``)."""
    inputs = credential_type.get("inputs") or {}
    injectors = credential_type.get("injectors") or {}
    errors = [f"inputs: {e.message}" for e in jsonschema.Draft4Validator(INPUTS_SCHEMA).iter_errors(inputs)]
    errors += [f"injectors: {e.message}" for e in jsonschema.Draft4Validator(INJECTORS_SCHEMA).iter_errors(injectors)]
    if errors:
        return errors
    if "dependencies" in inputs:
        errors.append("inputs: 'dependencies' is not supported for custom credential types")
    ids = []
    for field in inputs.get("fields", []):
        kind = field.get("type", "string")
        if field["id"] == "tower":
            errors.append("inputs: 'tower' is a reserved field name")
        if field["id"] in ids:
            errors.append(f"inputs: field IDs must be unique ({field['id']})")
        ids.append(field["id"])
        if "default" in field and not isinstance(field["default"], {"string": str, "boolean": bool}[kind]):
            errors.append(f"inputs: default of {field['id']} is not a {kind}")
        for key in ("choices", "multiline", "format", "secret"):
            if key in field and kind != "string":
                errors.append(f"inputs: {key} not allowed for {kind} field {field['id']}")
        if "choices" in field and "default" in field and field["default"] not in field["choices"]:
            errors.append(f"inputs: default of {field['id']} is not one of its choices")
    errors += [f"inputs: required field {name} is not defined" for name in inputs.get("required", []) if name not in ids]

    templates = list(injectors.get("file", {}))
    tower = SimpleNamespace(filename=SimpleNamespace())
    if "template" in templates:
        if len(templates) > 1:
            errors.append("injectors: use the multi-file syntax (template.<name>) for several files")
        tower.filename = "EXAMPLE_FILENAME"
    else:
        for name in templates:
            setattr(tower.filename, name.split(".", 1)[1], "EXAMPLE_FILENAME")
    namespace = {name: "EXAMPLE" for name in ids}
    namespace["tower"] = tower
    for env_var in injectors.get("env", {}):
        if env_var.startswith("ANSIBLE_") or env_var in ENV_BLOCKLIST:
            errors.append(f"injectors: environment variable {env_var} is not allowed in credentials")
    strict = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    for kind, entries in injectors.items():
        for key, template in entries.items():
            try:
                strict.from_string(template).render(namespace)
            except (UndefinedError, SecurityError, TemplateSyntaxError) as exc:
                errors.append(f"injectors: {kind}.{key}: {exc}")
    return errors


def inject(credential_type, values, private_data_dir):
    """What a job gets from a credential with ``values``: (env, extra_vars, files by template name)."""
    fields = {field["id"]: field for field in credential_type["inputs"].get("fields", [])}
    unknown = set(values) - set(fields)
    if unknown:
        raise ValueError(f"not fields of the credential type: {sorted(unknown)}")
    missing = [name for name in credential_type["inputs"].get("required", [])
               if values.get(name) in (None, "") and fields[name].get("default") in (None, "")]
    if missing:
        raise ValueError(f"required inputs missing: {missing}")

    namespace = {}
    for name, field in fields.items():
        value = values.get(name)
        if value in (None, "") and field.get("default") is not None:
            value = field["default"]
        if field.get("type", "string") == "boolean":
            namespace[name] = bool(value)
        elif value not in (None, ""):
            if field.get("format") == "ssh_private_key" and not value.endswith("\n"):
                value += "\n"
            namespace[name] = value
    tower = SimpleNamespace(filename=SimpleNamespace())
    namespace["tower"] = tower

    sandbox = ImmutableSandboxedEnvironment()
    env_dir = os.path.join(private_data_dir, "env")
    os.makedirs(env_dir, exist_ok=True)
    files = {}
    for label, template in credential_type["injectors"].get("file", {}).items():
        fd, path = tempfile.mkstemp(dir=env_dir)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(sandbox.from_string(template).render(**namespace))
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        if "." in label:
            name = label.split(".", 1)[1]
            setattr(tower.filename, name, path)
            files[name] = path
        else:
            tower.filename = path
            files[label] = path
    env = {name: sandbox.from_string(template).render(**namespace)
           for name, template in credential_type["injectors"].get("env", {}).items()}
    extra_vars = {name: sandbox.from_string(template).render(**namespace)
                  for name, template in credential_type["injectors"].get("extra_vars", {}).items()}
    return env, extra_vars, files
