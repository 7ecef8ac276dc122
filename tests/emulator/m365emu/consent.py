# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tenant-wide admin consent to an application, as the admin consent endpoint
(`{authority}/{tenant}/adminconsent?client_id=...`) grants it when an administrator clicks "Accept":
the application's service principal is created in the consenting tenant (for an application of
another tenant only when it is multi-tenant), and the application permissions (app roles) it lists
in `requiredResourceAccess` are granted to it."""

from . import objects
from .crypto import iso, utc_now

MULTI_TENANT_AUDIENCES = ("AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount")


class ConsentError(ValueError):
    """The consent could not be given; ``code`` is the AADSTS number Entra shows for it."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def not_found_message(client_id, tenant):
    return (f"AADSTS700016: Application with identifier '{client_id}' was not found in the directory "
            f"'{tenant.display_name}'. This can happen if the application has not been installed by the administrator "
            "of the tenant or consented to by any user in the tenant. You may have sent your authentication request to "
            "the wrong tenant.")


def find_application(directory, client_id):
    """(application, home tenant) of the registration with this appId in any tenant, else (None, None)."""
    for tenant in directory.tenants.values():
        for app in tenant.read_all("applications"):
            if app["appId"].lower() == client_id.lower():
                return app, tenant
    return None, None


def foreign_application(directory, tenant, client_id):
    """The application of another tenant that may sign in to ``tenant``: multi-tenant, and consented
    there (its service principal exists in ``tenant``). None otherwise."""
    if not any(sp["appId"].lower() == client_id.lower() for sp in tenant.read_all("servicePrincipals")):
        return None
    app, home = find_application(directory, client_id)
    if app is None or home is tenant or app.get("signInAudience") not in MULTI_TENANT_AUDIENCES:
        return None
    return app


def admin_consent(directory, tenant, client_id, permissions=None):
    """Grant tenant-wide admin consent in ``tenant`` to the application ``client_id``.

    ``permissions`` (app role values), when given, grants only those of the requested application
    permissions: it stands for a consent given when the application requested fewer. Writes
    replicate with the tenant's lag, like any other write."""
    app, home = find_application(directory, client_id)
    if app is None or (home is not tenant and app.get("signInAudience") not in MULTI_TENANT_AUDIENCES):
        # A single-tenant application of another tenant is not found there either.
        raise ConsentError(700016, not_found_message(client_id, tenant))
    now = iso(utc_now())
    sp = next((s for s in tenant.primary_all("servicePrincipals") if s["appId"].lower() == client_id.lower()), None)
    created = sp is None
    if created:
        sp = objects.service_principal(
            app["appId"], app["displayName"], home.tenant_id, now,
            tags=list(app.get("tags") or []), appRoles=[dict(r) for r in app.get("appRoles") or []],
            servicePrincipalNames=[app["appId"]] + list(app.get("identifierUris") or []),
            signInAudience=app["signInAudience"], appDescription=app.get("description"))
    requested = _requested_roles(tenant, app)
    if permissions is not None:
        known = {value for _resource, _role_id, value in requested}
        unknown = sorted(set(permissions) - known)
        if unknown:
            raise ValueError(f"not requested by the application {client_id}: {', '.join(unknown)}")
        requested = [entry for entry in requested if entry[2] in set(permissions)]
    if created:
        tenant.write("servicePrincipals", sp)
    held = {(a["resourceId"], a["appRoleId"].lower()) for a in tenant.primary_all("appRoleAssignments")
            if a["principalId"] == sp["id"]}
    granted = []
    for resource, role_id, value in requested:
        if (resource["id"], role_id.lower()) not in held:
            tenant.write("appRoleAssignments", objects.app_role_assignment(sp, resource, role_id, now))
            held.add((resource["id"], role_id.lower()))
            granted.append(value)
    return {"tenant": tenant.name, "tenant_id": tenant.tenant_id, "client_id": app["appId"],
            "home_tenant_id": home.tenant_id, "service_principal_id": sp["id"], "created": created,
            "granted": sorted(granted), "permissions": held_permissions(tenant, sp["id"])}


def _requested_roles(tenant, app):
    """[(resource service principal, app role id, value)] of the application permissions requested."""
    found = []
    for entry in app.get("requiredResourceAccess") or []:
        resource = next((sp for sp in tenant.primary_all("servicePrincipals")
                         if sp["appId"].lower() == str(entry.get("resourceAppId", "")).lower()), None)
        if resource is None:
            raise ConsentError(650052, f"AADSTS650052: The app needs access to a service (\"{entry.get('resourceAppId')}\") "
                               f"that your organization \"{tenant.display_name}\" has not subscribed to or enabled. Contact "
                               "your IT Admin to review the configuration of your service subscriptions.")
        roles = {r["id"].lower(): r for r in resource.get("appRoles") or []}
        for access in entry.get("resourceAccess") or []:
            # Delegated permissions (type Scope) need an oauth2PermissionGrant, which the emulator does not keep.
            if access.get("type") != "Role":
                continue
            role = roles.get(str(access.get("id", "")).lower())
            if role is None or not role.get("isEnabled"):
                raise ConsentError(650054, "AADSTS650054: The application asked for permissions to access a resource "
                                   "that has been removed or is no longer available. Make sure that all resources the app "
                                   "is calling are present in the tenant you're operating in.")
            found.append((resource, role["id"], role["value"]))
    return found


def held_permissions(tenant, principal_id):
    """Sorted app role values the principal holds on any resource (primary view)."""
    values = []
    sps = {sp["id"]: sp for sp in tenant.primary_all("servicePrincipals")}
    for assignment in tenant.primary_all("appRoleAssignments"):
        if assignment["principalId"] != principal_id or assignment["resourceId"] not in sps:
            continue
        for role in sps[assignment["resourceId"]].get("appRoles") or []:
            if role["id"].lower() == assignment["appRoleId"].lower():
                values.append(role["value"])
    return sorted(values)
