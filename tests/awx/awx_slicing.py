# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How AWX spreads a sliced job template over its inventory, for tests: written from reading AWX's source
(ansible/awx: awx/main/models/inventory.py Inventory.get_sliced_hosts and get_script_data,
awx/main/models/jobs.py JobTemplate.get_effective_slice_ct and create_unified_job, awx/main/tasks/jobs.py
BaseTask.build_inventory, awx/main/models/unified_jobs.py awx_meta_vars, awx/main/utils/mem_inventory.py
dict_to_mem_data), not copied from it.

What AWX does:

- An inventory update runs ``ansible-inventory -i <source> --list --export`` and imports the result: every group
  but ``all`` and ``ungrouped`` with its direct hosts, child groups and variables; the variables of ``all`` become
  the inventory's variables; every host with its own variables. (Hosts are enabled unless the source names an
  ``enabled_var``; the tenants plugin names none.)
- A job template with ``job_slice_count`` N launches, when N > 1, a workflow job of min(N, number of hosts in the
  inventory) slice jobs, numbered from 1. With one host or fewer the job is not sliced.
- Slice k of n runs on the enabled hosts ordered by name, taking every n-th host from position k - 1 (round robin:
  with 30 hosts and 3 slices, slice 1 gets the 1st, 4th, 7th, ... host by name).
- Each slice job gets an inventory of its own, a script printing JSON: ``all`` with the inventory's variables, its
  ungrouped hosts of the slice and every group as a child (empty groups too); every group with only the hosts of the
  slice, its children and its variables; ``_meta.hostvars`` for the hosts of the slice with AWX's
  ``remote_tower_enabled``, ``remote_tower_id``, ``remote_host_enabled`` and ``remote_host_id``.
- Each slice job gets AWX's extra variables (``awx_*`` and ``tower_*``): its own job ID, and the ID and name of the
  workflow job of the slices; and the environment variables ``JOB_ID`` and ``INVENTORY_ID``.
"""

from __future__ import annotations

import json
import os
import stat
import sys

JOB_VARIABLE_PREFIXES = ("awx", "tower")


class ImportedInventory:
    """An AWX inventory after an update from an inventory source (``ansible-inventory --list --export`` output)."""

    def __init__(self, listing, inventory_id=1, name="Microsoft 365 tenants"):
        self.id = inventory_id
        self.name = name
        listing = json.loads(json.dumps(listing))
        meta = listing.pop("_meta", {})
        self.variables = dict(listing.get("all", {}).get("vars") or {})
        self.groups = {}
        host_names = set(meta.get("hostvars", {}))
        for group_name, group in listing.items():
            host_names.update(group.get("hosts") or [])
            if group_name in ("all", "ungrouped"):
                continue
            self.groups[group_name] = {
                "hosts": list(group.get("hosts") or []),
                "children": [child for child in group.get("children") or [] if child != "ungrouped"],
                "vars": dict(group.get("vars") or {}),
            }
        # Hosts get their database IDs in the order they are imported; the slices do not depend on them.
        self.hosts = {name: {"id": number, "enabled": True, "variables": dict(meta.get("hostvars", {}).get(name) or {})}
                      for number, name in enumerate(sorted(host_names), start=1)}

    def enabled_hosts_by_name(self):
        return sorted(name for name, host in self.hosts.items() if host["enabled"])

    def effective_slice_count(self, job_slice_count):
        """How many slice jobs a launch makes: the template's count, at most one per host."""
        return min(job_slice_count, len(self.hosts))

    def sliced_hosts(self, slice_number, slice_count):
        hosts = self.enabled_hosts_by_name()
        if slice_count > 1 and slice_number > 0:
            return hosts[slice_number - 1::slice_count]
        return hosts

    def script_data(self, slice_number=1, slice_count=1):
        """The JSON the inventory script of one slice job prints."""
        hosts = self.sliced_hosts(slice_number, slice_count)
        in_slice = set(hosts)
        data = {"all": {}}
        if self.variables:
            data["all"]["vars"] = dict(self.variables)
        grouped = set()
        for group_name, group in self.groups.items():
            members = [name for name in group["hosts"] if name in in_slice]
            grouped.update(members)
            entry = {}
            if members:
                entry["hosts"] = members
            if group["children"]:
                entry["children"] = list(group["children"])
            if group["vars"]:
                entry["vars"] = dict(group["vars"])
            if entry:
                data[group_name] = entry
        data["all"]["hosts"] = [name for name in hosts if name not in grouped]
        if self.groups:
            data["all"]["children"] = list(self.groups)
        hostvars = {}
        for name in hosts:
            host = self.hosts[name]
            variables = dict(host["variables"])
            for prefix in ("host", "tower"):
                variables[f"remote_{prefix}_enabled"] = str(host["enabled"]).lower()
                variables[f"remote_{prefix}_id"] = host["id"]
            hostvars[name] = variables
        data["_meta"] = {"hostvars": hostvars}
        return data

    def write_inventory_script(self, private_data_dir, slice_number=1, slice_count=1):
        """The slice job's inventory as AWX writes it: <private data dir>/inventory/hosts, an executable script."""
        folder = os.path.join(str(private_data_dir), "inventory")
        os.makedirs(folder, mode=0o700, exist_ok=True)
        path = os.path.join(folder, "hosts")
        script = f"#!{sys.executable}\n# -*- coding: utf-8 -*-\nprint({json.dumps(json.dumps(self.script_data(slice_number, slice_count)))})\n"
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(script)
        os.chmod(path, stat.S_IRWXU)
        return path


def slice_job_variables(job_id, workflow_job_id, template_name, inventory):
    """AWX's extra variables of one slice job of a workflow job that a user launched."""
    variables = {}
    for prefix in JOB_VARIABLE_PREFIXES:
        variables.update({
            f"{prefix}_job_id": job_id,
            f"{prefix}_job_launch_type": "workflow",
            f"{prefix}_workflow_job_id": workflow_job_id,
            f"{prefix}_workflow_job_name": template_name,
            f"{prefix}_workflow_job_launch_type": "manual",
            f"{prefix}_job_template_name": template_name,
            f"{prefix}_inventory_id": inventory.id,
            f"{prefix}_inventory_name": inventory.name,
        })
    return variables


def slice_job_environment(job_id, inventory):
    return {"JOB_ID": str(job_id), "INVENTORY_ID": str(inventory.id)}
