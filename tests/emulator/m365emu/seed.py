# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Seeding: tenants with their organization, first-party service principals, built-in directory
roles and a bootstrap application holding Microsoft Graph permissions and two credentials."""

import datetime
import hashlib
import re
import secrets
import uuid

from . import exchange_state, objects, wellknown
from .crypto import cert_der, cert_pem, iso, iso7, key_pem, load_cert_pem, new_rsa_key, self_signed_cert, sha1_hex, utc_now
from .keycreds import b64_der, custom_key_identifier
from .state import Tenant

BOOTSTRAP_DISPLAY_NAME = "m365.cba bootstrap"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,26}$")


def role_definitions():
    return {rid: objects.role_definition(name, rid, text) for name, rid, text in wellknown.DIRECTORY_ROLES}


def tenant_specs(tenants=3, seed=None):
    """Normalise the seed (a list of dicts) or a tenant count into a list of tenant specs."""
    if seed is None:
        specs = [{"name": f"tenant{i:02d}"} for i in range(1, int(tenants) + 1)]
        for spec in specs[::2]:  # tenant01, tenant03, ...: a tenant as an organization that uses it has it
            spec["verified_domains"] = mixed_case_domains(spec["name"])
    else:
        specs = seed
    names = set()
    for spec in specs:
        name = spec.get("name", "")
        if not _NAME_RE.match(name) or name in names:
            raise ValueError(f"invalid or duplicate tenant name {name!r} (lowercase letters, digits, '-')")
        if spec.get("cloud", "global") not in wellknown.CLOUDS:
            raise ValueError(f"unknown cloud {spec.get('cloud')!r} for tenant {name}")
        unknown = set(spec) - {"name", "tenant_id", "bootstrap_permissions", "cloud", "display_name", "verified_domains",
                               "exchange"}
        if unknown:
            raise ValueError(f"unknown seed keys for tenant {name}: {', '.join(sorted(unknown))}")
        if "verified_domains" in spec:
            _check_domains(name, spec["verified_domains"])
        exchange_state.check_spec(name, spec.get("exchange"))
        names.add(name)
    return specs


def mixed_case_domains(name):
    """Verified domains of a tenant in use: a custom default domain listed first, the initial
    *.onmicrosoft.com domain in mixed case and not the default, and the *.mail.onmicrosoft.com
    domain Exchange Online adds (an onmicrosoft.com domain that is not the initial one)."""
    title = name[:1].upper() + name[1:]
    return [
        {"name": f"{title}.Example.com", "isDefault": True, "isInitial": False},
        {"name": f"{title}.onmicrosoft.com", "isDefault": False, "isInitial": True},
        {"name": f"{title}.mail.onmicrosoft.com", "isDefault": False, "isInitial": False},
        {"name": f"Mail.{title}.example.com", "isDefault": False, "isInitial": False},
    ]


def _check_domains(name, domains):
    if not isinstance(domains, list) or not domains or not all(isinstance(d, dict) and d.get("name") for d in domains):
        raise ValueError(f"verified_domains of tenant {name} must be a non-empty list of {{name, isDefault, isInitial}}")
    initial = [d for d in domains if d.get("isInitial")]
    if len(initial) != 1 or not initial[0]["name"].lower().endswith(".onmicrosoft.com"):
        raise ValueError(f"tenant {name} needs exactly one initial domain, a *.onmicrosoft.com one")
    if sum(1 for d in domains if d.get("isDefault")) != 1:
        raise ValueError(f"tenant {name} needs exactly one default domain")


def _first_party(tenant, app_id, display_name, names, roles, created):
    sp = objects.service_principal(
        app_id, display_name, wellknown.MICROSOFT_SERVICES_TENANT_ID, created,
        servicePrincipalNames=[app_id] + names,
        appRoles=[objects.app_role(value, rid, text) for value, rid, text in roles],
    )
    tenant.write("servicePrincipals", sp, lag=0)
    return sp


def _seed_first_party(tenant, created):
    cloud = wellknown.CLOUDS[tenant.cloud]
    exchange_names = [cloud["exchange"], cloud["exchange"] + "/", cloud["compliance"],
                      f"{wellknown.EXCHANGE_APP_ID}/{cloud['exchange'].split('//')[1]}"]
    graph_names = [cloud["graph"], cloud["graph"] + "/", f"{wellknown.GRAPH_APP_ID}/ags.windows.net"]
    exchange = _first_party(tenant, wellknown.EXCHANGE_APP_ID, "Office 365 Exchange Online", exchange_names,
                            wellknown.EXCHANGE_APP_ROLES, created)
    graph = _first_party(tenant, wellknown.GRAPH_APP_ID, "Microsoft Graph", graph_names,
                         wellknown.GRAPH_APP_ROLES, created)
    return exchange, graph


def bootstrap_material(tenant_name):
    """A fresh certificate, client secret and PFX password for a tenant's bootstrap application."""
    key = new_rsa_key()
    cert = self_signed_cert(key, f"{BOOTSTRAP_DISPLAY_NAME} {tenant_name}", days=730)
    return {
        "private_key_pem": key_pem(key), "certificate_pem": cert_pem(cert),
        "client_secret": secrets.token_urlsafe(30), "pfx_password": secrets.token_urlsafe(18),
        "thumbprint": sha1_hex(cert_der(cert)),
    }


def _bootstrap_credentials(material, created):
    cert = load_cert_pem(material["certificate_pem"])
    der = cert_der(cert)
    key_credential = {
        "customKeyIdentifier": custom_key_identifier(None, der), "displayName": cert.subject.rfc4514_string(),
        "endDateTime": iso7(cert.not_valid_after_utc), "key": b64_der(der), "keyId": str(uuid.uuid4()),
        "startDateTime": iso7(cert.not_valid_before_utc), "type": "AsymmetricX509Cert", "usage": "Verify",
    }
    secret = material["client_secret"]
    password_credential = {
        "customKeyIdentifier": None, "displayName": "bootstrap", "hint": secret[:3], "keyId": str(uuid.uuid4()),
        "secretText": None, "startDateTime": created,
        "endDateTime": iso(utc_now() + datetime.timedelta(days=730)),
        "_secret_sha256": hashlib.sha256(secret.encode("utf-8")).hexdigest(),
    }
    return key_credential, password_credential


def _seed_bootstrap(tenant, graph_sp, permissions, created):
    material = bootstrap_material(tenant.name)
    app = objects.application(tenant.initial_domain, BOOTSTRAP_DISPLAY_NAME, created, "AzureADMyOrg")
    key_credential, password_credential = _bootstrap_credentials(material, created)
    app["keyCredentials"] = [key_credential]
    app["passwordCredentials"] = [password_credential]
    app["requiredResourceAccess"] = [{
        "resourceAppId": wellknown.GRAPH_APP_ID,
        "resourceAccess": [{"id": wellknown.graph_role_id(p), "type": "Role"} for p in permissions],
    }]
    tenant.write("applications", app, lag=0)
    sp = objects.service_principal(app["appId"], app["displayName"], tenant.tenant_id, created,
                                   signInAudience="AzureADMyOrg")
    tenant.write("servicePrincipals", sp, lag=0)
    material.update({"tenant_id": tenant.tenant_id, "client_id": app["appId"], "application_id": app["id"],
                     "service_principal_id": sp["id"]})
    tenant.bootstrap = material
    set_bootstrap_permissions(tenant, permissions, graph_sp)


def set_bootstrap_permissions(tenant, permissions, graph_sp=None):
    """Make the bootstrap SP hold exactly these Microsoft Graph application permissions (no lag)."""
    unknown = [p for p in permissions if wellknown.graph_role_id(p) is None]
    if unknown:
        raise ValueError(f"unknown Microsoft Graph application permissions: {', '.join(unknown)}")
    graph_sp = graph_sp or next(sp for sp in tenant.primary_all("servicePrincipals")
                                if sp["appId"] == wellknown.GRAPH_APP_ID)
    principal = tenant.primary("servicePrincipals", tenant.bootstrap["service_principal_id"])
    for assignment in tenant.primary_all("appRoleAssignments"):
        if assignment["principalId"] == principal["id"] and assignment["resourceId"] == graph_sp["id"]:
            tenant.delete("appRoleAssignments", assignment["id"], lag=0)
    for permission in permissions:
        tenant.write("appRoleAssignments", objects.app_role_assignment(
            principal, graph_sp, wellknown.graph_role_id(permission), iso(utc_now())), lag=0)


def build_tenant(spec):
    created = iso(utc_now())
    tenant_id = str(uuid.UUID(spec["tenant_id"])) if spec.get("tenant_id") else str(uuid.uuid4())
    name = spec["name"]
    organization = objects.organization(tenant_id, spec.get("display_name") or name, f"{name}.onmicrosoft.com", created)
    if spec.get("verified_domains"):
        organization["verifiedDomains"] = [
            {"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": bool(d.get("isDefault")),
             "isInitial": bool(d.get("isInitial")), "name": d["name"], "type": "Managed"}
            for d in spec["verified_domains"]]
    tenant = Tenant(tenant_id, name, spec.get("cloud", "global"), organization, {}, role_definitions())
    _exchange, graph = _seed_first_party(tenant, created)
    permissions = spec.get("bootstrap_permissions") or list(wellknown.DEFAULT_BOOTSTRAP_PERMISSIONS)
    _seed_bootstrap(tenant, graph, permissions, created)
    tenant.exchange = exchange_state.seed(tenant, spec.get("exchange"))
    return tenant
