# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Directory state: tenants, their objects, replication lag and run-time settings.

Every object table keeps a short version history. Writes land on the primary at once; reads see
the newest version whose replication time has passed, which is how the emulator reproduces the
eventual consistency of the real directory (stale reads, 404 for a just-created object).
"""

import copy
import threading
import time

TABLES = ("applications", "servicePrincipals", "appRoleAssignments", "roleAssignments")


class Table:
    """Objects keyed by id; each key holds [(visible_at, object-or-None), ...] oldest first."""

    def __init__(self):
        self._rows = {}

    def put(self, obj, visible_at, now):
        history = self._rows.setdefault(obj["id"], [])
        history.append((visible_at, copy.deepcopy(obj)))
        self._prune(obj["id"], now)

    def remove(self, object_id, visible_at, now):
        if object_id in self._rows:
            self._rows[object_id].append((visible_at, None))
            self._prune(object_id, now)

    def _prune(self, object_id, now):
        history = self._rows[object_id]
        visible = [index for index, (at, _obj) in enumerate(history) if at <= now]
        if visible:
            del history[:visible[-1]]
        if len(history) == 1 and history[0][1] is None and history[0][0] <= now:
            del self._rows[object_id]

    def latest(self, object_id):
        history = self._rows.get(object_id)
        return copy.deepcopy(history[-1][1]) if history else None

    def visible(self, object_id, now):
        for at, obj in reversed(self._rows.get(object_id, ())):
            if at <= now:
                return copy.deepcopy(obj)
        return None

    def visible_since(self, object_id):
        """When the newest version of the object becomes (or became) visible to reads; None when it
        is absent or its newest version is a deletion."""
        history = self._rows.get(object_id)
        return history[-1][0] if history and history[-1][1] is not None else None

    def all_latest(self):
        return [copy.deepcopy(h[-1][1]) for h in self._rows.values() if h[-1][1] is not None]

    def all_visible(self, now):
        found = (self.visible(object_id, now) for object_id in list(self._rows))
        return [obj for obj in found if obj is not None]

    def pending(self, now):
        """Ids whose newest version (or deletion) has not replicated yet, with its time."""
        return {oid: h[-1][0] for oid, h in self._rows.items() if h[-1][0] > now}


class Settings:
    """Run-time knobs; the defaults follow the documented (or the stricter) behaviour."""

    DEFAULTS = {
        "replication_lag": 0.0,
        "tenant_replication_lag": {},
        "delete_app_removes_service_principal": False,
        "max_collection_items": 1000,
        "default_sign_in_audience": "AzureADMyOrg",
        "assertion_audience_error": "70002",
        "assertion_clock_skew": 300,
        "token_lifetime": 3599,
        "graph_token_clock_skew": 300,
        # Exchange Online admin API (see exchange.py and the README).
        "exchange_role_lag": 0.0,
        "exchange_unsupported_role_status": 403,
        "exchange_denied_cmdlet": "not_recognized",
        "exchange_role_rights": {},
        "exchange_clouds": {},
        "exchange_compliance_redirect": True,
        "exchange_dehydrated_refuses_writes": True,
        "exchange_next_link_lifetime": 300.0,
    }
    CHOICES = {
        "assertion_audience_error": ("70002", "700023"),
        "exchange_unsupported_role_status": (401, 403),
        "exchange_denied_cmdlet": ("not_recognized", "not_allowed"),
    }

    def __init__(self, **values):
        self.values = copy.deepcopy(self.DEFAULTS)
        self.update(values)

    def update(self, values):
        unknown = sorted(set(values) - set(self.DEFAULTS))
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(unknown)}")
        for key, value in values.items():
            self.values[key] = self._coerce(key, value)

    def _coerce(self, key, value):
        default = self.DEFAULTS[key]
        if key == "tenant_replication_lag":
            if not isinstance(value, dict):
                raise ValueError("tenant_replication_lag must be an object {tenant: seconds}")
            return {str(k): float(v) for k, v in value.items()}
        if key in self.CHOICES and value not in self.CHOICES[key]:
            raise ValueError(f"{key} must be one of {', '.join(repr(c) for c in self.CHOICES[key])}")
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise ValueError(f"{key} must be an object")
            return copy.deepcopy(value)
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ValueError(f"{key} must be a boolean")
            return value
        if isinstance(default, (int, float)):
            number = float(value)
            if number < 0:
                raise ValueError(f"{key} must not be negative")
            return number if isinstance(default, float) else int(number)
        return str(value)

    def __getitem__(self, key):
        return self.values[key]

    def to_dict(self):
        return copy.deepcopy(self.values)


class Tenant:
    """One directory: organization, objects, built-in role definitions, bootstrap material."""

    def __init__(self, tenant_id, name, cloud, organization, bootstrap, role_definitions):
        self.tenant_id = tenant_id
        self.name = name
        self.cloud = cloud
        self.organization = organization
        self.bootstrap = bootstrap
        self.role_definitions = role_definitions
        self.tables = {name_: Table() for name_ in TABLES}
        self.deleted_items = []
        self.exchange = None  # Exchange Online's view of the tenant (exchange_state.py)
        self._clock = time.time
        self._lag = lambda: 0.0

    @property
    def initial_domain(self):
        return next(d["name"] for d in self.organization["verifiedDomains"] if d["isInitial"])

    @property
    def display_name(self):
        return self.organization["displayName"]

    def bind(self, clock, lag):
        self._clock = clock
        self._lag = lag

    def now(self):
        return self._clock()

    # Reads through replicas (what GET and reference checks see).
    def read(self, table, object_id):
        return self.tables[table].visible(object_id, self.now())

    def read_all(self, table):
        return self.tables[table].all_visible(self.now())

    # Reads of the primary (uniqueness constraints, the writer's own view).
    def primary(self, table, object_id):
        return self.tables[table].latest(object_id)

    def primary_all(self, table):
        return self.tables[table].all_latest()

    def write(self, table, obj, lag=None):
        now = self.now()
        self.tables[table].put(obj, now + (self._lag() if lag is None else lag), now)

    def delete(self, table, object_id, lag=None):
        now = self.now()
        self.tables[table].remove(object_id, now + (self._lag() if lag is None else lag), now)

    def pending(self):
        now = self.now()
        return {table: self.tables[table].pending(now) for table in TABLES}

    def to_dict(self):
        return {
            "tenant_id": self.tenant_id,
            "name": self.name,
            "cloud": self.cloud,
            "organization": copy.deepcopy(self.organization),
            "bootstrap": copy.deepcopy(self.bootstrap),
            "objects": {table: self.primary_all(table) for table in TABLES},
            "deletedItems": copy.deepcopy(self.deleted_items),
            "exchange": copy.deepcopy(self.exchange),
        }

    @classmethod
    def from_dict(cls, data, role_definitions):
        tenant = cls(data["tenant_id"], data["name"], data.get("cloud", "global"), data["organization"],
                     data["bootstrap"], role_definitions)
        for table in TABLES:
            for obj in data["objects"].get(table, []):
                tenant.tables[table].put(obj, 0.0, 0.0)
        tenant.deleted_items = copy.deepcopy(data.get("deletedItems", []))
        tenant.exchange = copy.deepcopy(data.get("exchange"))
        return tenant


class Directory:
    """All tenants, a lock that serialises every request, and the settings."""

    def __init__(self, settings=None, clock=time.time):
        self.lock = threading.RLock()
        self.settings = settings or Settings()
        self.clock = clock
        self.tenants = {}

    def add(self, tenant):
        tenant.bind(self.clock, lambda: self.lag_for(tenant))
        self.tenants[tenant.tenant_id] = tenant

    def find(self, key):
        """Tenant by id, name or verified domain (case-insensitive), else None."""
        if not key:
            return None
        key = key.lower()
        for tenant in self.tenants.values():
            if key in (tenant.tenant_id.lower(), tenant.name.lower()):
                return tenant
            if any(d["name"].lower() == key for d in tenant.organization["verifiedDomains"]):
                return tenant
        return None

    def lag_for(self, tenant):
        per_tenant = self.settings["tenant_replication_lag"]
        for key in (tenant.name, tenant.tenant_id):
            if key in per_tenant:
                return per_tenant[key]
        return self.settings["replication_lag"]

    def dump(self):
        return [tenant.to_dict() for tenant in self.tenants.values()]

    def load(self, tenants, role_definitions_factory):
        self.tenants = {}
        for data in tenants:
            self.add(Tenant.from_dict(data, role_definitions_factory()))
