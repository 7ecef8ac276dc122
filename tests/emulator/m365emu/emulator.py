# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Emulator: seeds or loads tenants, serves HTTPS on a background thread, exposes the
control operations as Python methods, and persists state to a state file if asked to."""

import copy
import json
import os
import threading

from . import exchange_state, keycreds, tls, wellknown
from . import consent as consenting
from . import seed as seeding
from .dispatch import Dispatcher
from .control import ControlApi
from .faults import FaultInjector
from .files import read_json, write_json
from .identity import Identity
from .outputs import write_bootstrap_files, write_run_files
from .reqlog import RequestLog
from .server import TlsServer
from .state import TABLES, Directory, Settings

STATE_FILE_VERSION = 1


class Emulator:
    """Microsoft Entra ID + Microsoft Graph emulator (see the package docstring)."""

    def __init__(self, state_dir, tenants=3, seed=None, port=0, replication_lag=0.0, state_file=None,
                 faults=None, settings=None, fault_seed=None, host="127.0.0.1"):
        self.state_dir = os.path.abspath(state_dir)
        self.state_file = os.path.abspath(state_file) if state_file else None
        self.host = host
        self.requested_port = int(port)
        self._seed_specs = _specs(tenants, seed)
        self._initial_settings = dict(settings or {})
        self._initial_settings.setdefault("replication_lag", float(replication_lag))
        self.directory = Directory(Settings(**self._initial_settings))
        self.fault_injector = FaultInjector(fault_seed)
        self.log = RequestLog()
        self._initial_faults = faults or []
        self._server = None
        self._thread = None
        self._identity = None
        self._seed_snapshot = None
        self._signing_key_pem = None
        self.base_url = None
        self.port = None
        self.tenants = []

    # ------------------------------------------------------------ lifecycle
    def start(self):
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        self._load_or_seed()
        context = tls.server_context(self.state_dir)
        self._server = TlsServer((self.host, self.requested_port), context)
        self.port = self._server.server_address[1]
        self.base_url = f"https://{self.host}:{self.port}"
        self._identity = Identity(self.directory, self.base_url, self._signing_key_pem)
        self._signing_key_pem = self._identity.export_key()
        self._server.dispatcher = Dispatcher(self.directory, self._identity, self.fault_injector, self.log,
                                             ControlApi(self), on_write=self.save_state if self.state_file else None)
        if self._initial_faults:
            self.fault_injector.add(self._initial_faults)
        self._write_files()
        self.save_state()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="m365emu", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        self._server = None
        self.save_state()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    @property
    def ca_bundle(self):
        return tls.ca_bundle_path(self.state_dir)

    def _load_or_seed(self):
        if self.state_file and os.path.exists(self.state_file):
            data = read_json(self.state_file)
            if data.get("version") != STATE_FILE_VERSION:
                raise ValueError(f"{self.state_file}: unsupported state file version")
            self._signing_key_pem = data.get("signing_key_pem")
            self._seed_snapshot = data["seed"]
            self.directory.load(data["tenants"], seeding.role_definitions)
        else:
            for spec in self._seed_specs:
                self.directory.add(seeding.build_tenant(spec))
            self._seed_snapshot = self.directory.dump()

    def _write_files(self):
        self.tenants = []
        for tenant in self.directory.tenants.values():
            bootstrap = write_bootstrap_files(self.state_dir, tenant)
            self.tenants.append({"name": tenant.name, "tenant_id": tenant.tenant_id, "cloud": tenant.cloud,
                                 "initial_domain": tenant.initial_domain, "bootstrap": bootstrap})
        write_run_files(self.state_dir, {
            "base_url": self.base_url, "port": self.port, "pid": os.getpid(), "ca_bundle": self.ca_bundle,
            "state_dir": self.state_dir, "state_file": self.state_file,
            "inventory": os.path.join(self.state_dir, "inventory.yml"), "tenants": self.tenants,
        })

    def save_state(self):
        """Write the state file (if configured): current objects, the seed, the token signing key."""
        if not self.state_file:
            return
        with self.directory.lock:
            data = {"version": STATE_FILE_VERSION, "signing_key_pem": self._signing_key_pem,
                    "seed": self._seed_snapshot, "tenants": self.directory.dump()}
        write_json(self.state_file, data, private=True)

    # ------------------------------------------------------------ inspection
    def tenant(self, name):
        """The seeded-tenant info dict (name, tenant_id, initial_domain, bootstrap) by name or id."""
        for info in self.tenants:
            if name in (info["name"], info["tenant_id"]):
                return info
        raise KeyError(name)

    def state(self, tenant=None):
        """Full dump per tenant (keyCredentials with key and thumbprints, pending replication)."""
        with self.directory.lock:
            selected = [t for t in self.directory.tenants.values()
                        if tenant is None or tenant in (t.name, t.tenant_id)]
            if tenant is not None and not selected:
                raise KeyError(f"unknown tenant {tenant}")
            return {"tenants": [_tenant_dump(t, self.directory.lag_for(t)) for t in selected]}

    def requests(self):
        return self.log.entries()

    def counters(self):
        return self.log.counters()

    def reset_requests(self):
        self.log.reset()

    # ------------------------------------------------------------ control
    def faults(self):
        return self.fault_injector.rules()

    def add_faults(self, rules):
        return self.fault_injector.add(rules)

    def clear_faults(self):
        self.fault_injector.clear()

    def settings(self):
        return self.directory.settings.to_dict()

    def update_settings(self, **values):
        with self.directory.lock:
            self.directory.settings.update(values)
            return self.settings()

    def reset(self, faults=False, requests=False, settings=False):
        """Back to the seed state (objects, bootstrap permissions); optionally also clear the fault
        rules and the request log, and restore the settings given at construction."""
        with self.directory.lock:
            self.directory.load(copy.deepcopy(self._seed_snapshot), seeding.role_definitions)
            if settings:
                self.directory.settings = Settings(**self._initial_settings)
        if faults:
            self.clear_faults()
        if requests:
            self.reset_requests()
        self.save_state()

    def set_bootstrap_permissions(self, tenant, permissions):
        """Make the tenant's bootstrap service principal hold exactly these Graph app roles."""
        with self.directory.lock:
            target = self.directory.find(tenant)
            if target is None:
                raise KeyError(f"unknown tenant {tenant}")
            seeding.set_bootstrap_permissions(target, list(permissions))
        self.save_state()
        return sorted(permissions)

    def exchange(self, tenant):
        """Exchange Online's state of the tenant: organization (IsDehydrated), mailboxes, DLP policies,
        compliance region."""
        with self.directory.lock:
            return exchange_state.view(self._tenant_object(tenant))

    def update_exchange(self, tenant, **changes):
        """Change the tenant's Exchange state: ``mailboxes=N`` (re-seed N mailboxes), ``dehydrated=bool``,
        ``compliance_region="eur02b"``, ``dlp_policies=[names]``. Returns the new state."""
        with self.directory.lock:
            state = exchange_state.update(self._tenant_object(tenant), changes)
        self.save_state()
        return state

    def _tenant_object(self, tenant):
        target = self.directory.find(tenant)
        if target is None:
            raise KeyError(f"unknown tenant {tenant}")
        return target

    def admin_consent(self, tenant, client_id, permissions=None):
        """An administrator of ``tenant`` accepts the admin consent prompt for ``client_id``: its service
        principal is created there and granted the application permissions it requests (only
        ``permissions`` of them when given). Raises consent.ConsentError (AADSTS code and message)."""
        with self.directory.lock:
            target = self.directory.find(tenant)
            if target is None:
                raise KeyError(f"unknown tenant {tenant}")
            result = consenting.admin_consent(self.directory, target, client_id,
                                              None if permissions is None else list(permissions))
        self.save_state()
        return result


def _load_seed(value):
    """The seed as a list of tenant specs: given directly, or a JSON file (a list, or {"tenants": [...]})."""
    if value is None or isinstance(value, list):
        return value
    with open(value, encoding="utf-8") as stream:
        loaded = json.load(stream)
    return loaded["tenants"] if isinstance(loaded, dict) else loaded


def _specs(tenants, seed_value):
    return seeding.tenant_specs(tenants, _load_seed(seed_value))


def _tenant_dump(tenant, lag):
    objects = {table: tenant.primary_all(table) for table in TABLES}
    for app in objects["applications"]:
        for credential in app.get("keyCredentials") or []:
            prints = keycreds.thumbprints(credential)
            credential["thumbprint_sha1"], credential["thumbprint_sha256"] = prints["sha1"], prints["sha256"]
        for credential in app.get("passwordCredentials") or []:
            credential.pop("_secret_sha256", None)
    pending = {table: sorted(ids) for table, ids in tenant.pending().items() if ids}
    return {
        "name": tenant.name, "tenant_id": tenant.tenant_id, "initial_domain": tenant.initial_domain,
        "cloud": tenant.cloud, "replication_lag": lag, "organization": copy.deepcopy(tenant.organization),
        "applications": objects["applications"], "servicePrincipals": objects["servicePrincipals"],
        "appRoleAssignments": objects["appRoleAssignments"], "roleAssignments": objects["roleAssignments"],
        "deletedItems": [_strip_internal(item) for item in tenant.deleted_items],
        "pendingReplication": pending,
        "wellKnown": {"exchangeAppId": wellknown.EXCHANGE_APP_ID, "graphAppId": wellknown.GRAPH_APP_ID},
    }


def _strip_internal(item):
    shown = {k: v for k, v in copy.deepcopy(item).items() if not k.startswith("_")}
    for credential in shown.get("passwordCredentials") or []:
        credential.pop("_secret_sha256", None)
    return shown
