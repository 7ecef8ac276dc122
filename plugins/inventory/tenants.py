# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: tenants
short_description: Microsoft 365 tenants from a CSV or YAML tenant list
version_added: 1.0.0
author:
  - m365.cba maintainers (@m365-cba)
description:
  - Reads a list of tenants (a CSV file, or a YAML or JSON file) and makes one inventory host per tenant in the group
    O(group) (default C(tenants)), with the variables the C(m365.cba.setup) role and the C(m365.cba.report) playbook
    need, so that a list of hundreds of customer tenants becomes an inventory without typing a hosts file.
  - "Each tenant has a C(name) (the inventory host name), a C(tenant) (its tenant ID or one of its verified domains),
    optionally a C(cloud) (V(global), V(usgov_high), V(usgov_dod) or V(china); O(default_cloud) when empty) and
    C(workloads) (V(exchange_online), V(security_compliance); O(default_workloads) when empty). Every other column
    or key is a host variable of that tenant (a per-tenant override such as C(m365_cba_directory_roles))."
  - "Sets per tenant: C(m365_cba_tenant_id), C(m365_cba_cloud), C(m365_cba_workloads) (the list), C(m365_cba_workload)
    (the first of them: the setup role sets up one workload per run). Sets on the group O(group):
    C(ansible_connection=local) and C(ansible_python_interpreter={{ ansible_playbook_python }}) (every tenant is
    reached from the control node), then the variables of O(vars)."
  - "Groups: every tenant is in O(group); C(cloud_<cloud>) and C(workload_<workload>) (with O(cloud_group_prefix) and
    O(workload_group_prefix)) group them by cloud and workload, as children of O(group)."
  - "CSV: the first line names the columns; cells are text, except cells holding JSON (numbers, V(true), V(false),
    lists such as C([\"Exchange Recipient Administrator\"]), objects), which are read as JSON. An empty cell sets
    nothing. Workloads are separated by spaces, commas, semicolons or C(|). Empty lines and lines starting with C(#)
    are skipped. YAML: a list of mappings, or a mapping with the key C(tenants) holding that list."
  - "Every row is checked before any host is made: a missing name or tenant, a name or tenant listed twice, an unknown
    cloud or workload, or a column that is not a valid variable name fails the inventory with the file and line of
    each bad row."
  - "Names and tenants are compared without letter case, as Microsoft Entra ID compares them: a tenant ID written once
    in upper and once in lower case, or a domain written in another case, is a tenant listed twice. A tenant ID and a
    domain of that tenant (or two of its domains) cannot be told apart without asking Microsoft Graph, which this
    plugin does not do: the C(m365.cba.setup) role refuses such hosts when it runs, after it read each tenant's ID and
    before it writes anything."
  - "A list that fails fails only its inventory source: C(ansible-inventory) and C(ansible-playbook) print the error as a
    warning and go on without its tenants (AWX's inventory update sets C(ANSIBLE_INVENTORY_UNPARSED_FAILED) and
    fails). The collection's playbooks (C(m365.cba.setup), C(m365.cba.report), C(m365.cba.bootstrap)) read every
    tenant list of the run's inventory first, with this plugin's code (the C(m365.cba.tenant_list_problems) filter),
    and stop before their first play, naming every problem."
  - "The inventory source is a YAML file whose name ends in C(tenants.yml) or C(tenants.yaml), with
    C(plugin: m365.cba.tenants); C(ansible-inventory) and AWX read it through the C(auto) inventory plugin (enabled by
    default)."
options:
  plugin:
    description: The name of this plugin; makes the file an inventory source of this plugin.
    type: str
    required: true
    choices: [m365.cba.tenants]
  source:
    description:
      - The tenant list. A path relative to the directory of the inventory source file, an absolute path, or one
        starting with C(~).
    type: str
    required: true
  format:
    description:
      - The tenant list's format. V(auto) takes it from the file name (C(.csv) is CSV; C(.yml), C(.yaml) and C(.json)
        are YAML).
    type: str
    choices: [auto, csv, yaml]
    default: auto
  group:
    description: The group every tenant is in; the playbooks of the collection run on C(tenants).
    type: str
    default: tenants
  default_cloud:
    description: The cloud of a tenant whose C(cloud) is empty or missing.
    type: str
    choices: [global, usgov_high, usgov_dod, china]
    default: global
  default_workloads:
    description: The workloads of a tenant whose C(workloads) is empty or missing.
    type: list
    elements: str
    default: [exchange_online]
  cloud_group_prefix:
    description: Prefix of the groups by cloud.
    type: str
    default: cloud_
  workload_group_prefix:
    description: Prefix of the groups by workload.
    type: str
    default: workload_
  vars:
    description:
      - Variables for every tenant, set on the group O(group) (a tenant's own columns or keys win over them).
        Keep secrets out; they belong in a vault or an AWX credential.
    type: dict
    default: {}
notes:
  - Secrets do not belong in the tenant list; it is read as plain text.
  - "In AWX: commit the tenant list and the C(*.tenants.yml) file to a project, and add to an inventory a source
    C(Sourced from a Project) with that project and the C(*.tenants.yml) file as its inventory file. The execution
    environment of the inventory update needs the collection (the collection's C(execution-environment.yml) has it).
    An update reads the list again; C(Overwrite) removes tenants that left the list."
"""

EXAMPLES = r"""
# inventory/customers.tenants.yml
plugin: m365.cba.tenants
source: customers.csv
vars:
  m365_cba_client_id: 3f2a8c71-0c5e-4c1e-9a53-0a4b2b1e6f10
  m365_cba_client_certificate_path: /etc/m365-cba/bootstrap.pem
  m365_cba_certificate_dir: "/var/lib/m365-cba/{{ inventory_hostname }}"

# inventory/customers.csv
# name,tenant,cloud,workloads,m365_cba_directory_roles
# contoso,contoso.onmicrosoft.com,,,
# fabrikam,7d1c3a8e-2b4f-4e6a-9c0d-5f8e1a2b3c4d,global,exchange_online;security_compliance,
# agency,agency.onmicrosoft.us,usgov_high,,"[""Exchange Recipient Administrator""]"

# The same list in YAML (customers.yml, with source: customers.yml):
# tenants:
#   - name: contoso
#     tenant: contoso.onmicrosoft.com
#   - name: fabrikam
#     tenant: 7d1c3a8e-2b4f-4e6a-9c0d-5f8e1a2b3c4d
#     workloads: [exchange_online, security_compliance]
#   - name: agency
#     tenant: agency.onmicrosoft.us
#     cloud: usgov_high
#     m365_cba_directory_roles: [Exchange Recipient Administrator]

# ansible-inventory -i inventory/customers.tenants.yml --graph
# ansible-playbook -i inventory/customers.tenants.yml m365.cba.setup --limit cloud_usgov_high
# ansible-playbook -i inventory/customers.tenants.yml m365.cba.setup --limit workload_security_compliance \
#   -e m365_cba_workload=security_compliance
"""

import csv
import json
import os
import re

import yaml

from ansible import constants as C
from ansible.errors import AnsibleError, AnsibleParserError
from ansible.module_utils.common.text.converters import to_native
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.inventory import BaseInventoryPlugin
from ansible.plugins.loader import inventory_loader

CLOUDS = ("global", "usgov_high", "usgov_dod", "china")
WORKLOADS = ("exchange_online", "security_compliance")
RESERVED = ("name", "tenant", "cloud", "workloads")
# Variables this plugin sets from the main columns; a column of the same name would contradict them.
DERIVED = ("m365_cba_tenant_id", "m365_cba_cloud", "m365_cba_workload", "m365_cba_workloads")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
VARIABLE_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
GUID_PATTERN = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DOMAIN_PATTERN = re.compile(r"^(?=.{4,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")
WORKLOAD_SEPARATORS = re.compile(r"[\s,;|]+")


class TenantListError(Exception):
    """Every problem of a tenant list, each with its line."""

    def __init__(self, path, problems):
        self.path = path
        self.problems = problems
        super().__init__("\n".join(self.lines()))

    def lines(self):
        return [f"{self.path}: {problem}" for problem in self.problems]

    def summary(self):
        return f"The tenant list has {len(self.problems)} problem(s):\n{self}"


class _LineLoader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
    """A safe YAML loader that remembers the line of every mapping."""


class _Entry(dict):
    line = None


def _construct_mapping(loader, node):
    entry = _Entry(loader.construct_mapping(node, deep=True))
    entry.line = node.start_mark.line + 1
    return entry


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _cell(text):
    """A CSV cell: JSON when it is JSON (numbers, booleans, lists, objects), text otherwise; None when empty."""
    text = text.strip()
    if not text:
        return None
    if text[0] in "[{" or text in ("true", "false") or re.match(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$", text):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def read_csv(path):
    """[(line, {column: value})] of a CSV tenant list."""
    rows = []
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = None
        header_line = None
        for cells in reader:
            line = reader.line_num
            if not cells or all(not cell.strip() for cell in cells) or cells[0].lstrip().startswith("#"):
                continue
            if header is None:
                header = [cell.strip() for cell in cells]
                header_line = line
                continue
            if len(cells) > len(header):
                raise TenantListError(path, [f"line {line}: {len(cells)} cells, but the header on line {header_line} "
                                             f"names {len(header)} columns"])
            rows.append((line, {column: _cell(cell) for column, cell in zip(header, cells) if column}))
    if header is None:
        raise TenantListError(path, ["no header line (name,tenant,...) and no tenants"])
    problems = []
    for column in ("name", "tenant"):
        if column not in header:
            problems.append(f"line {header_line}: no column '{column}'; the header names {', '.join(header)}")
    seen = set()
    for column in header:
        if column in seen:
            problems.append(f"line {header_line}: the column '{column}' is named twice")
        seen.add(column)
        if column and column not in RESERVED and not VARIABLE_PATTERN.match(column):
            problems.append(f"line {header_line}: the column '{column}' is not a valid variable name for a per-tenant value")
        elif column in DERIVED:
            problems.append(f"line {header_line}: the column '{column}' is set from the columns name, tenant, cloud and "
                            "workloads; give it there instead")
    if problems:
        raise TenantListError(path, problems)
    return rows


def read_yaml(path):
    """[(line, {key: value})] of a YAML (or JSON) tenant list."""
    with open(path, encoding="utf-8-sig") as handle:
        try:
            data = yaml.load(handle, Loader=_LineLoader)  # nosec B506 - a SafeLoader subclass
        except yaml.YAMLError as exc:
            raise TenantListError(path, [f"not valid YAML: {exc}"]) from None
    if isinstance(data, dict) and "tenants" in data:
        data = data["tenants"]
    if data is None:
        data = []
    if not isinstance(data, list):
        raise TenantListError(path, ["expected a list of tenants, or a mapping with the key 'tenants' holding one"])
    rows = []
    problems = []
    for index, entry in enumerate(data, start=1):
        line = getattr(entry, "line", None)
        if not isinstance(entry, dict):
            problems.append(f"entry {index}: a tenant is a mapping with at least 'name' and 'tenant', not {entry!r}")
            continue
        rows.append((line, dict(entry)))
    if problems:
        raise TenantListError(path, problems)
    return rows


def _text(value):
    return None if value is None else str(value).strip()


def parse_tenants(path, rows, default_cloud="global", default_workloads=("exchange_online",)):
    """Check every row; return [{name, tenant, cloud, workloads, vars, line}] or raise TenantListError."""
    problems = []
    tenants = []
    names = {}
    tenant_ids = {}
    for line, row in rows:
        where = f"line {line}" if line else "an entry"
        row_problems = []
        name = _text(row.get("name"))
        tenant = _text(row.get("tenant"))
        if not name:
            row_problems.append(f"{where}: no tenant name (column 'name')")
        elif not NAME_PATTERN.match(name):
            row_problems.append(f"{where}: '{name}' is not a valid tenant name: 1 to 128 letters, digits, '.', '_' or '-', "
                                "starting with a letter or digit (it names the inventory host and the certificate directory)")
        elif name.lower() in names:
            row_problems.append(f"{where}: the tenant name '{name}' is listed twice (first on line {names[name.lower()]})")
        if not tenant:
            row_problems.append(f"{where}: no tenant ID or domain for '{name or '?'}' (column 'tenant')")
        elif not (GUID_PATTERN.match(tenant) or DOMAIN_PATTERN.match(tenant)):
            row_problems.append(f"{where}: '{tenant}' is neither a tenant ID (a GUID) nor a domain name")
        elif tenant.lower() in tenant_ids:
            row_problems.append(f"{where}: the tenant '{tenant}' is listed twice (first on line {tenant_ids[tenant.lower()]}); "
                                "two hosts for one tenant would change the same application at the same time")
        cloud = (_text(row.get("cloud")) or default_cloud).lower()
        if cloud not in CLOUDS:
            row_problems.append(f"{where}: unknown cloud '{row.get('cloud')}'; choose one of {', '.join(CLOUDS)}")
        workloads_value = row.get("workloads")
        if isinstance(workloads_value, (list, tuple)):
            workloads = [_text(item).lower() for item in workloads_value if _text(item)]
        else:
            workloads = [item.lower() for item in WORKLOAD_SEPARATORS.split(_text(workloads_value) or "") if item]
        workloads = list(dict.fromkeys(workloads or default_workloads))
        unknown = [item for item in workloads if item not in WORKLOADS]
        if unknown:
            row_problems.append(f"{where}: unknown workload {', '.join(repr(item) for item in unknown)}; "
                                f"choose from {', '.join(WORKLOADS)}")
        variables = {}
        for key, value in row.items():
            if key in RESERVED or value is None:
                continue
            key = str(key)
            if not VARIABLE_PATTERN.match(key):
                row_problems.append(f"{where}: '{key}' is not a valid variable name for a per-tenant value")
            elif key in DERIVED:
                row_problems.append(f"{where}: '{key}' is set from the columns name, tenant, cloud and workloads; "
                                    "give it there instead")
            else:
                variables[key] = value
        if name and NAME_PATTERN.match(name) and name.lower() not in names:
            names[name.lower()] = line
        if tenant and tenant.lower() not in tenant_ids:
            tenant_ids[tenant.lower()] = line
        if row_problems:
            problems.extend(row_problems)
            continue
        tenants.append({"name": name, "tenant": tenant, "cloud": cloud, "workloads": workloads, "vars": variables,
                        "line": line})
    if problems:
        raise TenantListError(path, problems)
    return tenants


def inventory_files(source):
    """The files Ansible reads for one inventory source: the file, or every file below the directory that its
    inventory manager does not skip (hidden names, host_vars, group_vars, vars_plugins, the configured ignores)."""
    if os.path.isfile(source):
        yield source
        return
    if not os.path.isdir(source):
        return  # a host list such as "a,b," or a path that does not exist: no file of this plugin
    patterns = [r"^\.", r"^host_vars$", r"^group_vars$", r"^vars_plugins$"]
    patterns.extend(str(pattern) for pattern in C.INVENTORY_IGNORE_PATTERNS or [])
    patterns.extend(re.escape(str(ext)) + "$" for ext in C.INVENTORY_IGNORE_EXTS or [])
    ignored = re.compile("|".join(patterns))
    for name in sorted(os.listdir(source)):
        if not ignored.search(name):
            yield from inventory_files(os.path.join(source, name))


def tenant_list_problems(sources):
    """Every problem of the sources of this plugin among the inventory sources ``sources`` (paths, as given to -i),
    each as "file: problem", as parse() finds them. ansible-playbook turns the error of a source it cannot parse into a
    warning and goes on without its hosts; the collection's playbooks call this (through the tenant_list_problems
    filter) to fail instead."""
    enabled = [str(name) for name in C.INVENTORY_ENABLED or []]
    if not {"auto", "ansible.builtin.auto", "m365.cba.tenants"} & set(enabled):
        return []  # Ansible does not read these sources at all
    if isinstance(sources, (str, bytes)):
        sources = [sources]
    loader = DataLoader()
    problems = []
    for source in sources or []:
        for path in inventory_files(os.path.expanduser(to_native(source))):
            plugin = inventory_loader.get("m365.cba.tenants")
            if not plugin.verify_file(path):
                continue
            try:
                config = loader.load_from_file(path)
            except AnsibleError:
                continue  # vault-encrypted (Ansible reads it with the run's vault secrets), or not YAML: not ours to judge
            if not isinstance(config, dict) or config.get("plugin") not in ("m365.cba.tenants",):
                continue
            try:
                plugin.read_source(loader, path)
            except TenantListError as exc:
                problems.extend(exc.lines())
    return problems


class InventoryModule(BaseInventoryPlugin):
    NAME = "m365.cba.tenants"
    # The tenant list and this file are the user's inventory, like a YAML inventory: their "{{ }}" are templates
    # (ansible-core 2.19 and later mark them so; earlier versions trust every inventory value).
    trusted_by_default = True

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(("tenants.yml", "tenants.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache=cache)
        try:
            tenants = self.read_source(loader, path)
        except TenantListError as exc:
            raise AnsibleParserError(exc.summary()) from None
        self._populate(tenants)

    def read_source(self, loader, path):
        """The tenants of the inventory source ``path`` (a ``*.tenants.yml`` file) and of its tenant list, every row
        checked; TenantListError naming every problem. Makes no host: parse() and the tenant_list_problems filter
        (which checks the sources of a playbook run before its first play) both read a source through here."""
        config = loader.load_from_file(path)
        if not isinstance(config, dict) or config.get("plugin") not in ("m365.cba.tenants",):
            raise TenantListError(to_native(path), ["not an inventory source of m365.cba.tenants (plugin: m365.cba.tenants)"])
        try:
            self.set_options(direct=config)
        except Exception as exc:  # the option validation's own error type differs between ansible-core versions
            raise TenantListError(to_native(path), [to_native(exc)]) from None

        source = os.path.expanduser(str(self.get_option("source")))
        if not os.path.isabs(source):
            source = os.path.join(os.path.dirname(os.path.abspath(path)), source)
        source = os.path.normpath(source)
        if not os.path.isfile(source):
            raise TenantListError(to_native(path), [f"the tenant list {source} does not exist"])
        file_format = self.get_option("format")
        if file_format == "auto":
            file_format = "csv" if source.lower().endswith(".csv") else "yaml"
        try:
            rows = read_csv(source) if file_format == "csv" else read_yaml(source)
            return parse_tenants(source, rows, self.get_option("default_cloud"), self.get_option("default_workloads"))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise TenantListError(source, [f"cannot be read: {to_native(exc)}"]) from None

    def _populate(self, tenants):
        group = self.inventory.add_group(self.get_option("group"))
        self.inventory.set_variable(group, "ansible_connection", "local")
        self.inventory.set_variable(group, "ansible_python_interpreter", "{{ ansible_playbook_python }}")
        for key, value in (self.get_option("vars") or {}).items():
            self.inventory.set_variable(group, key, value)
        for tenant in tenants:
            host = self.inventory.add_host(tenant["name"], group=group)
            self.inventory.set_variable(host, "m365_cba_tenant_id", tenant["tenant"])
            self.inventory.set_variable(host, "m365_cba_cloud", tenant["cloud"])
            self.inventory.set_variable(host, "m365_cba_workloads", tenant["workloads"])
            self.inventory.set_variable(host, "m365_cba_workload", tenant["workloads"][0])
            for key, value in tenant["vars"].items():
                self.inventory.set_variable(host, key, value)
            for child in [self.get_option("cloud_group_prefix") + tenant["cloud"]] + [
                    self.get_option("workload_group_prefix") + workload for workload in tenant["workloads"]]:
                self.inventory.add_group(child)
                self.inventory.add_child(group, child)
                self.inventory.add_host(host, group=child)
