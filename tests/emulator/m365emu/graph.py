# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Microsoft Graph v1.0: authentication, the route table with the permissions each route needs,
request context helpers and error/response shaping."""

import datetime
import re
import uuid

from . import graph_applications as apps
from . import graph_directory as directory
from . import graph_service_principals as sps
from .errors import GraphError, bad_request, invalid_object_id, not_found
from .keys import is_guid, parse_key
from .odata import Query
from .wire import Response

_APP_READ = ("Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")
_RBAC_READ = ("RoleManagement.Read.Directory", "RoleManagement.Read.All", "RoleManagement.ReadWrite.Directory",
              "Directory.Read.All", "Directory.ReadWrite.All")

# Application permissions per operation. Each entry lists groups; the token needs one role of every group.
PERMISSIONS = {
    "applications.read": [_APP_READ],
    "applications.write": [("Application.ReadWrite.All",)],
    "servicePrincipals.read": [_APP_READ],
    "servicePrincipals.write": [("Application.ReadWrite.All", "Directory.ReadWrite.All")],
    "appRoleAssignments.read": [_APP_READ + ("AppRoleAssignment.ReadWrite.All",)],
    "appRoleAssignments.write": [("AppRoleAssignment.ReadWrite.All",), _APP_READ],
    "appRoleAssignments.delete": [("AppRoleAssignment.ReadWrite.All",)],
    "roleManagement.read": [_RBAC_READ],
    "roleManagement.write": [("RoleManagement.ReadWrite.Directory",)],
    "organization.read": [("Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All",
                           "Directory.ReadWrite.All")],
}

_APP_KEY = r"(?P<key>/[^/()]+|\((?:appId|uniqueName)=[^/]*\))"
_SP_KEY = r"(?P<key>/[^/()]+|\(appId=[^/]*\))"
_ARA = r"(?P<nav>appRoleAssignedTo|appRoleAssignments)"
_RBAC = "/roleManagement/directory"

# (method, path pattern below /v1.0, handler, permission)
ROUTES = [
    ("GET", "/applications", apps.list_applications, "applications.read"),
    ("POST", "/applications", apps.create_application, "applications.write"),
    ("GET", f"/applications{_APP_KEY}", apps.get_application, "applications.read"),
    ("PATCH", f"/applications{_APP_KEY}", apps.update_application, "applications.write"),
    ("DELETE", f"/applications{_APP_KEY}", apps.delete_application, "applications.write"),
    ("GET", "/servicePrincipals", sps.list_service_principals, "servicePrincipals.read"),
    ("POST", "/servicePrincipals", sps.create_service_principal, "servicePrincipals.write"),
    ("GET", f"/servicePrincipals{_SP_KEY}", sps.get_service_principal, "servicePrincipals.read"),
    ("PATCH", f"/servicePrincipals{_SP_KEY}", sps.update_service_principal, "servicePrincipals.write"),
    ("DELETE", f"/servicePrincipals{_SP_KEY}", sps.delete_service_principal, "servicePrincipals.write"),
    ("GET", f"/servicePrincipals{_SP_KEY}/{_ARA}", sps.list_assignments, "appRoleAssignments.read"),
    ("POST", f"/servicePrincipals{_SP_KEY}/{_ARA}", sps.create_assignment, "appRoleAssignments.write"),
    ("GET", f"/servicePrincipals{_SP_KEY}/{_ARA}/(?P<aid>[^/]+)", sps.get_assignment, "appRoleAssignments.read"),
    ("DELETE", f"/servicePrincipals{_SP_KEY}/{_ARA}/(?P<aid>[^/]+)", sps.delete_assignment, "appRoleAssignments.delete"),
    ("GET", f"{_RBAC}/roleDefinitions", directory.list_role_definitions, "roleManagement.read"),
    ("GET", f"{_RBAC}/roleDefinitions/(?P<rid>[^/]+)", directory.get_role_definition, "roleManagement.read"),
    ("GET", f"{_RBAC}/roleAssignments", directory.list_role_assignments, "roleManagement.read"),
    ("POST", f"{_RBAC}/roleAssignments", directory.create_role_assignment, "roleManagement.write"),
    ("GET", f"{_RBAC}/roleAssignments/(?P<rid>[^/]+)", directory.get_role_assignment, "roleManagement.read"),
    ("DELETE", f"{_RBAC}/roleAssignments/(?P<rid>[^/]+)", directory.delete_role_assignment, "roleManagement.write"),
    ("GET", "/organization", directory.list_organization, "organization.read"),
    ("GET", "/organization/(?P<rid>[^/]+)", directory.get_organization, "organization.read"),
]
_COMPILED = [(m, re.compile(f"^/v1\\.0{p}/?$", re.IGNORECASE), h, perm) for m, p, h, perm in ROUTES]
JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"


def route_name(method, path):
    """The normalised route of a request for counters, e.g. 'GET /v1.0/applications/{id}'."""
    for route_method, pattern, _handler, _perm in _COMPILED:
        match = pattern.match(path)
        if match and route_method == method:
            name = path
            for group in ("aid", "rid"):
                if match.groupdict().get(group):
                    name = name[:match.start(group)] + "{id}" + name[match.end(group):]
            key = match.groupdict().get("key")
            if key:
                kind = parse_key(key)[0]
                label = "/{id}" if kind == "id" else f"({kind}={{{kind}}})"
                name = name[:match.start("key")] + label + name[match.end("key"):]
            return f"{method} {name.rstrip('/')}"
    return f"{method} {path}"


class Context:
    """One authorised Graph request: tenant, caller, path parameters and response helpers."""

    def __init__(self, api, request, tenant, claims, params):
        self.api = api
        self.request = request
        self.tenant = tenant
        self.claims = claims
        self.params = params
        self.settings = api.directory.settings

    def body(self):
        content_type = (self.request.header("Content-Type") or "").lower()
        try:
            if "json" not in content_type:
                raise ValueError("not JSON")
            value = self.request.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise bad_request("Unable to read JSON request payload. Please ensure Content-Type header is set and "
                              "payload is of valid JSON format.", "BadRequest") from exc
        if not isinstance(value, dict):
            raise bad_request("Unable to read JSON request payload. Please ensure Content-Type header is set and "
                              "payload is of valid JSON format.", "BadRequest")
        return value

    def query(self, entity=None):
        return Query(self.request.pairs, self.request.headers, entity)

    def prefers(self, token):
        return token in (self.request.header("Prefer") or "").lower()

    def find(self, table, kind, value, primary=False, label=None):
        """The object addressed by key; GraphError 404 (or 400 for a malformed id) when absent."""
        if kind == "id" and not is_guid(value):
            raise invalid_object_id(value)
        pool = self.tenant.primary_all(table) if primary else self.tenant.read_all(table)
        for obj in pool:
            if str(obj.get(kind) or "").lower() == (value or "").lower():
                return obj
        raise not_found(label or value)

    def context_url(self, fragment):
        return f"{self.api.base_url}/v1.0/$metadata#{fragment}"

    def entity(self, fragment, obj, status=200):
        body = {"@odata.context": self.context_url(fragment)}
        body.update(obj)
        return Response.json(status, body, content_type=JSON_TYPE)

    def collection(self, fragment, items, query):
        """A page of `items` (already filtered) with @odata.nextLink carrying $skiptoken."""
        chunk, next_link = query.page(items, f"{self.api.base_url}{self.request.raw_path.rstrip('/')}")
        body = {"@odata.context": self.context_url(fragment + query.context_suffix())}
        if query.count and query.offset == 0:
            body["@odata.count"] = len(items)
        if next_link:
            body["@odata.nextLink"] = next_link
        body["value"] = [query.project(item) for item in chunk]
        return Response.json(200, body, content_type=JSON_TYPE)

    @staticmethod
    def no_content():
        return Response.empty(204)


class GraphApi:
    """Dispatches /v1.0 requests after checking the bearer token and the route's permissions."""

    def __init__(self, directory_, identity, base_url):
        self.directory = directory_
        self.identity = identity
        self.base_url = base_url

    def handle(self, request, meta):
        client_request_id = request.header("client-request-id") or str(uuid.uuid4())
        request_id = str(uuid.uuid4())
        meta["request_id"] = request_id
        try:
            response = self._dispatch(request, meta)
        except GraphError as exc:
            response = error_response(exc, request_id, client_request_id)
            if exc.status == 401:
                response.headers["WWW-Authenticate"] = (
                    f'Bearer realm="", authorization_uri="{self.base_url}/common/oauth2/authorize", '
                    'client_id="00000003-0000-0000-c000-000000000000"')
        response.headers.update({"request-id": request_id, "client-request-id": client_request_id,
                                 "OData-Version": "4.0", "Cache-Control": "no-cache",
                                 "x-ms-ags-diagnostic": '{"ServerInfo":{"DataCenter":"Local","Slice":"E","Ring":"0"}}'})
        return response

    def _dispatch(self, request, meta):
        tenant, claims = self.identity.verify_graph_token(request.header("Authorization"))
        meta["tenant"] = tenant.tenant_id
        meta["client_id"] = claims.get("appid")
        handler, permission, params = self._route(request)
        granted = set(claims.get("roles") or [])
        if not all(granted.intersection(group) for group in PERMISSIONS[permission]):
            raise GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        return handler(Context(self, request, tenant, claims, params))

    @staticmethod
    def _route(request):
        path_known = False
        for method, pattern, handler, permission in _COMPILED:
            match = pattern.match(request.path)
            if match:
                path_known = True
                if method == request.method:
                    return handler, permission, match.groupdict()
        if path_known:
            raise GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request uri.")
        segments = [s for s in request.path.split("/") if s]
        if not segments or segments[0].lower() != "v1.0":
            raise bad_request(f"Invalid version: {segments[0] if segments else ''}", "BadRequest")
        segment = segments[-1] if len(segments) > 1 else ""
        raise bad_request(f"Resource not found for the segment '{segment}'.", "BadRequest")


def error_response(exc, request_id, client_request_id):
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    body = {"error": {"code": exc.code, "message": exc.message,
                      "innerError": {"date": date, "request-id": request_id, "client-request-id": client_request_id}}}
    return Response.json(exc.status, body, exc.headers, content_type=JSON_TYPE)
