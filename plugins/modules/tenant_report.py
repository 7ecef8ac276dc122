#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: tenant_report
short_description: Write or remove a tenant's setup report, a JSON file on the control node
version_added: 1.0.0
description:
  - Writes O(content) as indented JSON with sorted keys to O(path), with mode C(0600), when the file does not already
    hold exactly that; removes the file with O(state=absent).
  - The C(m365.cba.setup) role writes its per-tenant result with it; C(playbooks/report.yml) and other tools read it.
  - The text is laid out as Ansible's C(to_nice_json) filter lays it out, followed by a newline.
  - The file is written to a temporary file in the same directory, flushed to disk and renamed into place, so a reader
    sees the old or the new report, never half of one.
  - The module runs on the control node; use it with C(delegate_to=localhost) or in a play on C(localhost).
author:
  - m365.cba maintainers (@m365-cba)
extends_documentation_fragment:
  - m365.cba.attributes
attributes:
  check_mode:
    support: full
    details: Reads the file and predicts the same C(changed) a real run reports; writes nothing.
  diff_mode:
    support: full
    details: Before and after are the file's text.
  idempotent:
    support: full
options:
  path:
    description:
      - The report file. A missing directory is created with mode C(0700) (the missing ones above it C(0755)), as
        M(m365.cba.certificate) creates its own.
      - Refused, as M(m365.cba.certificate) refuses its directory and files, when the file or its directory is not
        owned by the user running the module or group or others may write to it, or when a directory above it is not
        owned by root or that user, or group or others may write to it without the sticky bit.
    type: path
    required: true
  content:
    description:
      - The report. Required with O(state=present).
    type: dict
  state:
    description:
      - V(present) writes the report; V(absent) removes the file.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
# Runs on the control node and needs no Microsoft Graph credential.
#
# m365_cba_certificate_dir and m365_cba_pfx_password are the setup role's variables
# (ansible-doc -t role m365.cba.setup); keep the password in a vault.

- name: Make or keep the tenant's certificate
  m365.cba.certificate:
    path: "{{ m365_cba_certificate_dir }}"
    name: m365-cba-exchange-online
    pfx_password: "{{ m365_cba_pfx_password }}"
  delegate_to: localhost
  register: cert

- name: Write the tenant's report beside its certificate
  m365.cba.tenant_report:
    path: "{{ m365_cba_certificate_dir }}/m365-cba-exchange-online.report.json"
    content:
      tenant: "{{ inventory_hostname }}"
      thumbprint: "{{ cert.thumbprint }}"
      expires: "{{ cert.not_after }}"
  delegate_to: localhost

- name: Remove it
  m365.cba.tenant_report:
    path: "{{ m365_cba_certificate_dir }}/m365-cba-exchange-online.report.json"
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
path:
  description: The report file.
  returned: always
  type: str
  sample: /srv/m365/contoso/m365-cba-exchange-online.report.json
"""

from ansible_collections.m365.cba.plugins.module_utils import _report
from ansible_collections.m365.cba.plugins.module_utils._certs import CertificateError
from ansible_collections.m365.cba.plugins.module_utils._runner import ModuleSpec, run_module

SPEC = ModuleSpec(
    {
        "path": {"type": "path", "required": True},
        "content": {"type": "dict"},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    },
    required_if=[("state", "present", ["content"])],
)


def run(ctx):
    path = ctx.params["path"]
    try:
        if ctx.params["state"] == "present":
            outcome = _report.ensure_present(path, ctx.params["content"], check_mode=ctx.check_mode)
        else:
            outcome = _report.ensure_absent(path, check_mode=ctx.check_mode)
    except CertificateError as exc:
        ctx.fail(str(exc), path=path)
    result = {"path": path}
    diff = ctx.diff(outcome.before, outcome.after, before_header=path, after_header=path)
    if diff is not None:
        result["diff"] = diff
    ctx.exit(outcome.changed, **result)


def main():
    run_module(SPEC, run)


if __name__ == "__main__":
    main()
