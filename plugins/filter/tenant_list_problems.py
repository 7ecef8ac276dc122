# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: tenant_list_problems
short_description: Every problem of the m365.cba.tenants tenant lists among a run's inventory sources
version_added: 1.0.0
description:
  - "Reads every inventory source of the C(m365.cba.tenants) inventory plugin among the paths given (as C(-i) gives
    them, in C(ansible_inventory_sources); a directory is read the way Ansible reads an inventory directory) with the
    plugin's own code, and returns each problem the plugin finds, as C(<file>: <problem>) (for a row, with its line)."
  - "Ansible turns a source that an inventory plugin cannot read into a warning and runs without its hosts, so a
    playbook over a broken tenant list ends with C(skipping: no hosts matched) and exit code 0. The collection's
    playbooks (C(m365.cba.setup), C(m365.cba.report), C(m365.cba.bootstrap)) call this filter with O(fail=true) in the
    C(hosts) of their first play, so that such a run stops before any play, naming every problem, also when
    C(--limit) leaves no tenant."
  - "Only files that the plugin would read are checked (named C(*tenants.yml) or C(*tenants.yaml), with
    C(plugin: m365.cba.tenants)); a vault-encrypted source file is left to Ansible. Other sources cost nothing but a
    look at their names."
author:
  - m365.cba maintainers (@m365-cba)
options:
  _input:
    description: The inventory sources, usually C(ansible_inventory_sources); a host list such as C(a,b,) is skipped.
    type: list
    elements: str
    required: true
  fail:
    description: Fail naming every problem instead of returning them; return an empty list when there is none.
    type: bool
    default: false
"""

EXAMPLES = r"""
# The first play of a playbook over the tenants: stop before anything runs when a tenant list has problems.
- name: Set up the tenants
  hosts: "{{ ansible_inventory_sources | m365.cba.tenant_list_problems(fail=true) or 'tenants' }}"
  gather_facts: false
  tasks:
    - name: Show the problems of the tenant lists (none here, or the play would not have started)
      ansible.builtin.debug:
        msg: "{{ ansible_inventory_sources | m365.cba.tenant_list_problems }}"
      run_once: true
"""

RETURN = r"""
_value:
  description: "Each problem, as C(<file>: <problem>); empty when every tenant list reads."
  type: list
  elements: str
  sample:
    - "/srv/inventory/customers.csv: line 3: the tenant name 'contoso' is listed twice (first on line 2)"
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.m365.cba.plugins.inventory.tenants import tenant_list_problems


def _tenant_list_problems(sources, fail=False):
    problems = tenant_list_problems(sources)
    if problems and fail:
        raise AnsibleFilterError(
            f"The inventory's tenant list has {len(problems)} problem(s); Ansible would only warn and run without its "
            "tenants. Nothing was run. Fix the list and run again:\n" + "\n".join(problems))
    return problems


class FilterModule:
    def filters(self):
        return {"tenant_list_problems": _tenant_list_problems}
