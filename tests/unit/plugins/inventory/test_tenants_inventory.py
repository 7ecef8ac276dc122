# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The m365.cba.tenants inventory plugin, loaded by ansible-core's InventoryManager from real files.

Each case writes a tenant list and a ``*.tenants.yml`` source, and reads them with InventoryManager (the
class ansible-playbook and ansible-inventory use) in a fresh Python with the collection on its collection
path; the hosts, groups and variables are read back through the same inventory and VariableManager. The
row checks are also called directly, for the exact message of each bad row.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from ansible_collections.m365.cba.plugins.inventory import tenants as plugin

# Runs in a fresh interpreter: the collection loader must be set up before any plugin is looked up.
DRIVER = textwrap.dedent("""
    import json, sys
    from ansible.plugins.loader import init_plugin_loader
    init_plugin_loader([sys.argv[1]])
    from ansible import constants as C
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager
    C.INVENTORY_UNPARSED_IS_FAILED = True
    C.INVENTORY_ENABLED = ["auto"]
    loader = DataLoader()
    try:
        inventory = InventoryManager(loader=loader, sources=[sys.argv[2]])
    except Exception as exc:
        print(json.dumps({"error": str(exc)}))
        sys.exit(0)
    variables = VariableManager(loader=loader, inventory=inventory)
    out = {"groups": {name: sorted(h.name for h in group.get_hosts()) for name, group in inventory.groups.items()},
           "children": {name: sorted(c.name for c in group.child_groups) for name, group in inventory.groups.items()},
           "hosts": {}}
    for host in inventory.get_hosts():
        values = variables.get_vars(host=host)
        out["hosts"][host.name] = {key: values[key] for key in values
                                   if key.startswith(("m365_cba_", "ansible_connection", "ansible_python_interpreter"))}
    print(json.dumps(out, default=str))
""")


def collection_root():
    for entry in sys.path:
        if os.path.isdir(os.path.join(entry, "ansible_collections", "m365", "cba", "plugins", "inventory")):
            return entry
    raise AssertionError("the collection is not on sys.path (tests/unit/conftest.py puts it there)")


def load(tmp_path, tenant_list, list_name="customers.csv", config=None, config_name="customers.tenants.yml"):
    (tmp_path / list_name).write_text(tenant_list, encoding="utf-8")
    source = tmp_path / config_name
    source.write_text(config if config is not None else f"plugin: m365.cba.tenants\nsource: {list_name}\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-c", DRIVER, collection_root(), str(source)], capture_output=True,
                            text=True, check=False, timeout=120, cwd=str(tmp_path.parent))
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.splitlines()[-1])
    if "error" in found:
        found["error"] += "\n" + result.stderr  # the plugin's message comes as ansible-core's warning
    return found


CSV = """\
name,tenant,cloud,workloads,m365_cba_directory_roles,m365_cba_certificate_valid_days,m365_cba_app_display_name
# customers of the MSP; this line is a comment
contoso,contoso.onmicrosoft.com,,,,400,
fabrikam,7d1c3a8e-2b4f-4e6a-9c0d-5f8e1a2b3c4d,global,exchange_online;security_compliance,,,"Fabrikam, Exchange"

agency,Agency.onmicrosoft.us,USGov_High,security_compliance,"[""Exchange Recipient Administrator""]",,
"""


def test_csv_hosts_groups_and_variables(tmp_path):
    inventory = load(tmp_path, CSV, config=textwrap.dedent("""\
        plugin: m365.cba.tenants
        source: customers.csv
        vars:
          m365_cba_certificate_dir: "/var/lib/m365-cba/{{ inventory_hostname }}"
          m365_cba_client_id: 3f2a8c71-0c5e-4c1e-9a53-0a4b2b1e6f10
        """))
    assert "error" not in inventory, inventory
    groups = inventory["groups"]
    assert groups["tenants"] == ["agency", "contoso", "fabrikam"]
    assert groups["cloud_global"] == ["contoso", "fabrikam"]
    assert groups["cloud_usgov_high"] == ["agency"]
    assert groups["workload_exchange_online"] == ["contoso", "fabrikam"]
    assert groups["workload_security_compliance"] == ["agency", "fabrikam"]
    assert inventory["children"]["tenants"] == ["cloud_global", "cloud_usgov_high", "workload_exchange_online",
                                                "workload_security_compliance"]
    hosts = inventory["hosts"]
    assert hosts["contoso"] == {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "m365_cba_tenant_id": "contoso.onmicrosoft.com", "m365_cba_cloud": "global",
        "m365_cba_workloads": ["exchange_online"], "m365_cba_workload": "exchange_online",
        "m365_cba_certificate_valid_days": 400,
        "m365_cba_certificate_dir": "/var/lib/m365-cba/{{ inventory_hostname }}",
        "m365_cba_client_id": "3f2a8c71-0c5e-4c1e-9a53-0a4b2b1e6f10",
    }
    assert hosts["fabrikam"]["m365_cba_workloads"] == ["exchange_online", "security_compliance"]
    assert hosts["fabrikam"]["m365_cba_workload"] == "exchange_online"
    assert hosts["fabrikam"]["m365_cba_app_display_name"] == "Fabrikam, Exchange"
    assert "m365_cba_certificate_valid_days" not in hosts["fabrikam"]  # an empty cell sets nothing
    assert hosts["agency"]["m365_cba_cloud"] == "usgov_high"
    assert hosts["agency"]["m365_cba_tenant_id"] == "Agency.onmicrosoft.us"
    assert hosts["agency"]["m365_cba_workload"] == "security_compliance"
    assert hosts["agency"]["m365_cba_directory_roles"] == ["Exchange Recipient Administrator"]


def test_yaml_list_with_overrides_and_options(tmp_path):
    tenant_list = textwrap.dedent("""\
        tenants:
          - name: contoso
            tenant: contoso.onmicrosoft.com
          - name: fabrikam
            tenant: 7d1c3a8e-2b4f-4e6a-9c0d-5f8e1a2b3c4d
            cloud: china
            workloads: [security_compliance, exchange_online]
            m365_cba_directory_roles: [Exchange Recipient Administrator]
            m365_cba_verify: false
        """)
    inventory = load(tmp_path, tenant_list, list_name="customers.yml", config=textwrap.dedent("""\
        plugin: m365.cba.tenants
        source: customers.yml
        group: customers
        default_cloud: usgov_dod
        cloud_group_prefix: in_
        workload_group_prefix: wl_
        """))
    assert "error" not in inventory, inventory
    assert inventory["groups"]["customers"] == ["contoso", "fabrikam"]
    assert "tenants" not in inventory["groups"]
    assert inventory["groups"]["in_usgov_dod"] == ["contoso"]
    assert inventory["groups"]["in_china"] == ["fabrikam"]
    assert inventory["groups"]["wl_security_compliance"] == ["fabrikam"]
    fabrikam = inventory["hosts"]["fabrikam"]
    assert fabrikam["m365_cba_workload"] == "security_compliance"
    assert fabrikam["m365_cba_directory_roles"] == ["Exchange Recipient Administrator"]
    assert fabrikam["m365_cba_verify"] is False
    assert fabrikam["ansible_connection"] == "local"


def test_a_source_outside_the_directory_and_a_top_level_list(tmp_path):
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "all.yaml").write_text("- {name: one, tenant: one.onmicrosoft.com}\n", encoding="utf-8")
    inventory = load(tmp_path, "", list_name="unused.csv", config_name="prod.tenants.yaml",
                     config=f"plugin: m365.cba.tenants\nsource: {tmp_path}/lists/all.yaml\n")
    assert inventory["groups"]["tenants"] == ["one"]


@pytest.mark.parametrize("tenant_list, expected", [
    ("name,tenant\ncontoso,contoso.onmicrosoft.com\ncontoso,other.onmicrosoft.com\n",
     ["line 3: the tenant name 'contoso' is listed twice (first on line 2)"]),
    ("name,tenant\nContoso,contoso.onmicrosoft.com\ncontoso,other.onmicrosoft.com\n",
     ["line 3: the tenant name 'contoso' is listed twice (first on line 2)"]),
    ("name,tenant\na,contoso.onmicrosoft.com\nb,Contoso.onmicrosoft.com\n",
     ["line 3: the tenant 'Contoso.onmicrosoft.com' is listed twice (first on line 2); two hosts for one tenant "
      "would change the same application at the same time"]),
    ("name,tenant\na,7d1c3a8e-2b4f-4e6a-9c0d-5f8e1a2b3c4d\nb,7D1C3A8E-2B4F-4E6A-9C0D-5F8E1A2B3C4D\n",
     ["line 3: the tenant '7D1C3A8E-2B4F-4E6A-9C0D-5F8E1A2B3C4D' is listed twice (first on line 2); two hosts for one "
      "tenant would change the same application at the same time"]),
    ("name,tenant\n# header above\n\nnameless,\n",
     ["line 4: no tenant ID or domain for 'nameless' (column 'tenant')"]),
    ("name,tenant\n,contoso.onmicrosoft.com\n", ["line 2: no tenant name (column 'name')"]),
    ("name,tenant,cloud\nx,x.onmicrosoft.com,azure\n",
     ["line 2: unknown cloud 'azure'; choose one of global, usgov_high, usgov_dod, china"]),
    ("name,tenant,workloads\nx,x.onmicrosoft.com,exchange_online teams\n",
     ["line 2: unknown workload 'teams'; choose from exchange_online, security_compliance"]),
    ("name,tenant\nContoso Ltd,x.onmicrosoft.com\n",
     ["line 2: 'Contoso Ltd' is not a valid tenant name: 1 to 128 letters, digits, '.', '_' or '-', starting with a "
      "letter or digit (it names the inventory host and the certificate directory)"]),
    ("name,tenant\nx,not a domain\n", ["line 2: 'not a domain' is neither a tenant ID (a GUID) nor a domain name"]),
    ("name,cloud\nx,global\n", ["line 1: no column 'tenant'; the header names name, cloud"]),
    ("name,tenant,bad-column\nx,x.onmicrosoft.com,1\n",
     ["line 1: the column 'bad-column' is not a valid variable name for a per-tenant value"]),
    ("name,tenant,m365_cba_tenant_id\nx,x.onmicrosoft.com,\n",
     ["line 1: the column 'm365_cba_tenant_id' is set from the columns name, tenant, cloud and workloads; give it there instead"]),
    ("name,tenant\nx,x.onmicrosoft.com,extra\n", ["line 2: 3 cells, but the header on line 1 names 2 columns"]),
    ("", ["no header line (name,tenant,...) and no tenants"]),
])
def test_bad_csv_rows_name_file_and_line(tmp_path, tenant_list, expected):
    path = tmp_path / "list.csv"
    path.write_text(tenant_list, encoding="utf-8")
    with pytest.raises(plugin.TenantListError) as caught:
        plugin.parse_tenants(str(path), plugin.read_csv(str(path)))
    assert caught.value.problems == expected
    assert str(caught.value).splitlines() == [f"{path}: {problem}" for problem in expected]


def test_every_bad_row_is_reported_at_once_through_the_inventory(tmp_path):
    tenant_list = "name,tenant,cloud\ncontoso,contoso.onmicrosoft.com,\ncontoso,b.onmicrosoft.com,\nc,,\nd,d.onmicrosoft.com,moon\n"
    inventory = load(tmp_path, tenant_list)
    error = inventory["error"]
    path = tmp_path / "customers.csv"
    for line in (f"{path}: line 3: the tenant name 'contoso' is listed twice (first on line 2)",
                 f"{path}: line 4: no tenant ID or domain for 'c' (column 'tenant')",
                 f"{path}: line 5: unknown cloud 'moon'; choose one of global, usgov_high, usgov_dod, china"):
        assert line in error
    assert "3 problem(s)" in error


@pytest.mark.parametrize("tenant_list, expected", [
    ("tenants:\n  - name: a\n    tenant: a.onmicrosoft.com\n  - name: a\n    tenant: b.onmicrosoft.com\n",
     ["line 4: the tenant name 'a' is listed twice (first on line 2)"]),
    ("- name: a\n  tenant: a.onmicrosoft.com\n  cloud: azure\n",
     ["line 1: unknown cloud 'azure'; choose one of global, usgov_high, usgov_dod, china"]),
    ("- name: a\n\n- name: b\n  tenant: b.onmicrosoft.com\n", ["line 1: no tenant ID or domain for 'a' (column 'tenant')"]),
    ("- just a string\n", ["entry 1: a tenant is a mapping with at least 'name' and 'tenant', not 'just a string'"]),
    ("tenants: {a: 1}\n", ["expected a list of tenants, or a mapping with the key 'tenants' holding one"]),
])
def test_bad_yaml_entries_name_the_line(tmp_path, tenant_list, expected):
    path = tmp_path / "list.yml"
    path.write_text(tenant_list, encoding="utf-8")
    with pytest.raises(plugin.TenantListError) as caught:
        plugin.parse_tenants(str(path), plugin.read_yaml(str(path)))
    assert caught.value.problems == expected


def test_a_missing_list_and_a_foreign_file(tmp_path):
    inventory = load(tmp_path, "name,tenant\n", config="plugin: m365.cba.tenants\nsource: nowhere.csv\n")
    assert f"the tenant list {tmp_path / 'nowhere.csv'} does not exist" in inventory["error"]


@pytest.mark.parametrize("name, accepted", [
    ("customers.tenants.yml", True), ("tenants.yaml", True), ("m365_tenants.yml", True),
    ("hosts.yml", False), ("tenants.csv", False), ("tenants.yml.bak", False),
])
def test_verify_file_accepts_only_tenants_sources(tmp_path, name, accepted):
    path = tmp_path / name
    path.write_text("plugin: m365.cba.tenants\n", encoding="utf-8")
    assert plugin.InventoryModule().verify_file(str(path)) is accepted


def test_csv_cells_json_or_text():
    assert plugin._cell(" 400 ") == 400
    assert plugin._cell("true") is True
    assert plugin._cell('["a", "b"]') == ["a", "b"]
    assert plugin._cell("[not json") == "[not json"
    assert plugin._cell("0123") == "0123"
    assert plugin._cell("7d1c3a8e-2b4f-4e6a-9c0d-5f8e1a2b3c4d") == "7d1c3a8e-2b4f-4e6a-9c0d-5f8e1a2b3c4d"
    assert plugin._cell("  ") is None


def test_the_example_tenant_list(tmp_path):
    """inventory/tenant-list/ as the README shows it: three tenants, one of them in two workloads."""
    example = os.path.join(os.path.dirname(plugin.__file__), "..", "..", "inventory", "tenant-list")
    for name in ("customers.csv", "customers.tenants.yml"):
        with open(os.path.join(example, name), encoding="utf-8") as handle:
            (tmp_path / name).write_text(handle.read(), encoding="utf-8")
    inventory = load(tmp_path, (tmp_path / "customers.csv").read_text(encoding="utf-8"),
                     config=(tmp_path / "customers.tenants.yml").read_text(encoding="utf-8"))
    assert inventory["groups"]["tenants"] == ["agency", "contoso", "fabrikam"]
    assert inventory["groups"]["workload_security_compliance"] == ["fabrikam"]
    assert inventory["hosts"]["agency"]["m365_cba_cloud"] == "usgov_high"
    assert inventory["hosts"]["contoso"]["m365_cba_certificate_dir"] == "/var/lib/m365-cba/{{ inventory_hostname }}"


# Runs in a fresh interpreter, as the filter runs inside ansible-playbook: with the collection loader set up.
PROBLEMS_DRIVER = textwrap.dedent("""
    import json, sys
    from ansible.plugins.loader import init_plugin_loader
    init_plugin_loader([sys.argv[1]])
    from ansible_collections.m365.cba.plugins.filter.tenant_list_problems import FilterModule
    check = FilterModule().filters()["tenant_list_problems"]
    print(json.dumps(check(json.loads(sys.argv[2]))))
    try:
        check(json.loads(sys.argv[2]), fail=True)
        print(json.dumps("no error"))
    except Exception as exc:
        print(json.dumps(str(exc)))
""")


def tenant_list_problems(tmp_path, sources):
    result = subprocess.run([sys.executable, "-c", PROBLEMS_DRIVER, collection_root(), json.dumps([str(s) for s in sources])],
                            capture_output=True, text=True, check=False, timeout=120, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    problems, error = [json.loads(line) for line in result.stdout.splitlines()[-2:]]
    return problems, error


def test_the_problems_of_every_tenant_list_among_the_run_sources(tmp_path):
    """What the playbooks check before their first play: every source of the plugin among the inventory sources, a
    directory read as Ansible reads an inventory directory, each problem as the plugin words it."""
    inventory = tmp_path / "inventory"
    (inventory / "more").mkdir(parents=True)
    (inventory / "group_vars").mkdir()
    (inventory / "hosts.yml").write_text("tenants:\n  hosts:\n    other: {}\n", encoding="utf-8")
    (inventory / "customers.csv").write_text("name,tenant\na,a.onmicrosoft.com\na,b.onmicrosoft.com\nc,\n", encoding="utf-8")
    (inventory / "customers.tenants.yml").write_text("plugin: m365.cba.tenants\nsource: customers.csv\n", encoding="utf-8")
    (inventory / "more" / "fine.csv").write_text("name,tenant\nd,d.onmicrosoft.com\n", encoding="utf-8")
    (inventory / "more" / "fine.tenants.yml").write_text("plugin: m365.cba.tenants\nsource: fine.csv\n", encoding="utf-8")
    (inventory / "more" / "cloud.tenants.yaml").write_text(
        "plugin: m365.cba.tenants\nsource: fine.csv\ndefault_cloud: moon\n", encoding="utf-8")
    (inventory / "more" / "other.tenants.yml").write_text("plugin: some.other.plugin\n", encoding="utf-8")
    # Not read by Ansible (group_vars, a hidden file), or not a source of this plugin: not checked.
    (inventory / "group_vars" / "all.tenants.yml").write_text("plugin: m365.cba.tenants\nsource: nowhere.csv\n", encoding="utf-8")
    (inventory / ".old.tenants.yml").write_text("plugin: m365.cba.tenants\nsource: nowhere.csv\n", encoding="utf-8")
    lone = tmp_path / "lone.tenants.yml"
    lone.write_text("plugin: m365.cba.tenants\nsource: nowhere.csv\n", encoding="utf-8")

    problems, error = tenant_list_problems(tmp_path, [inventory, lone, "host1,host2,", tmp_path / "missing"])
    assert problems[:2] == [f"{inventory / 'customers.csv'}: line 3: the tenant name 'a' is listed twice (first on line 2)",
                            f"{inventory / 'customers.csv'}: line 4: no tenant ID or domain for 'c' (column 'tenant')"]
    assert problems[2].startswith(f"{inventory / 'more' / 'cloud.tenants.yaml'}: ") and "moon" in problems[2], problems
    assert problems[3:] == [f"{lone}: the tenant list {tmp_path / 'nowhere.csv'} does not exist"]
    assert error.startswith("The inventory's tenant list has 4 problem(s)") and error.endswith("\n".join(problems)), error

    assert tenant_list_problems(tmp_path, [inventory / "more" / "fine.tenants.yml", inventory / "hosts.yml"]) == ([], "no error")
