# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Exchange Online's admin REST surface: ``POST /adminapi/beta/{tenant}/InvokeCommand``, the Admin API
``POST /adminapi/v2.0/{tenantGuid}/{OrganizationConfig|AcceptedDomain}``, ``GET
/adminapi/v1.0/{tenant}/EXOModuleFile``, and Security & Compliance's InvokeCommand behind its front door
(a 302 to the tenant's regional host).

Virtual hosts: a request whose ``Host`` names an Exchange or compliance host of a cloud (configurable,
``exchange_clouds``) is served as that host, whatever its path. On the emulator's own host (127.0.0.1),
which is the sign-in host and the Graph host at once, ``/adminapi/...`` is Exchange Online of the
tenant's cloud. Security & Compliance is reached only by its host names.

Checks, in the service's order: the bearer token (signature, issuer, lifetime, ``aud`` = the cloud's
Exchange or compliance resource), the tenant in the path (GUID, or any verified domain of the tenant on
beta and v1.0), ``tid`` = that tenant, the ``Exchange.ManageAsApp`` app role (``Exchange.ManageAsAppV2`` on
v2.0), then authorization from the directory roles in the token's ``wids`` (a token minted before a role
assignment keeps its old rights; a new assignment is honoured ``exchange_role_lag`` seconds after it became
visible), then the cmdlet and its parameters. See the README for the sources of each choice."""

import copy
import fnmatch
import hashlib
import json
import re
import time
import uuid
from urllib.parse import urlencode

from . import exchange_cmdlets as cmdlets
from . import exchange_state as xstate
from . import wellknown
from .crypto import b64url, b64url_decode
from .errors import ExchangeError, GraphError
from .graph import JSON_TYPE
from .keys import is_guid
from .wire import Response

# Per cloud: the resources a token's aud may name (Exchange, compliance), the host names, and the
# templates of the regional Security & Compliance hosts (the 302 target and the host clients then use).
CLOUDS = {
    "global": {
        "resources": [wellknown.CLOUDS["global"]["exchange"]],
        "hosts": ["outlook.office365.com", "outlook.office.com"],
        "compliance_resources": [wellknown.CLOUDS["global"]["compliance"]],
        "compliance_hosts": ["ps.compliance.protection.outlook.com"],
        "compliance_redirect": "{region}.admin.protection.outlook.com:446",
        "compliance_backend": "{region}.ps.compliance.protection.outlook.com",
    },
    "usgov_high": {
        "resources": [wellknown.CLOUDS["usgov_high"]["exchange"]],
        "hosts": ["outlook.office365.us"],
        "compliance_resources": [wellknown.CLOUDS["usgov_high"]["compliance"]],
        "compliance_hosts": ["ps.compliance.protection.office365.us"],
        "compliance_redirect": "{region}.admin.protection.office365.us:446",
        "compliance_backend": "{region}.ps.compliance.protection.office365.us",
    },
    "usgov_dod": {
        "resources": [wellknown.CLOUDS["usgov_dod"]["exchange"], "https://outlook-dod.office365.us"],
        "hosts": ["outlook-dod.office365.us", "webmail.apps.mil"],
        "compliance_resources": [wellknown.CLOUDS["usgov_dod"]["compliance"],
                                 "https://l5.ps.compliance.protection.office365.us"],
        "compliance_hosts": ["l5.ps.compliance.protection.office365.us", "compliance.dod.microsoft.com"],
        "compliance_redirect": "{region}.admin.protection.office365.us:446",
        "compliance_backend": "{region}.ps.compliance.protection.office365.us",
    },
    "china": {
        "resources": [wellknown.CLOUDS["china"]["exchange"], "https://outlook.office365.cn"],
        "hosts": ["outlook.office365.cn", "partner.outlook.cn"],
        "compliance_resources": [wellknown.CLOUDS["china"]["compliance"]],
        "compliance_hosts": ["ps.compliance.protection.partner.outlook.cn"],
        "compliance_redirect": "{region}.admin.protection.partner.outlook.cn:446",
        "compliance_backend": "{region}.ps.compliance.protection.partner.outlook.cn",
    },
}

# Cmdlet patterns each Entra role grants app-only callers, per workload (EXO-APP's table of supported
# roles; "*" for the roles its footnote says can do any task; reads for the others). Changeable through
# the exchange_role_rights setting: {"exchange"|"compliance": {"<role display name>": [patterns]}}.
ROLE_RIGHTS = {
    "exchange": {
        "Exchange Administrator": ["*"], "Global Administrator": ["*"], "Global Reader": ["Get-*"],
        "Security Reader": ["Get-*"], "Exchange Recipient Administrator": ["Get-*", "Set-Mailbox"],
        "Compliance Administrator": ["Get-*"], "Security Administrator": ["Get-*"], "Helpdesk Administrator": ["Get-*"],
    },
    "compliance": {
        "Global Administrator": ["*"], "Compliance Administrator": ["*"], "Security Administrator": ["*"],
        "Global Reader": ["Get-*"], "Security Reader": ["Get-*"],
    },
}
_ROLE_NAMES = {template.lower(): name for name, template, _text in wellknown.DIRECTORY_ROLES}

V2_ENDPOINTS = {"organizationconfig": ("OrganizationConfig", "Get-OrganizationConfig"),
                "accepteddomain": ("AcceptedDomain", "Get-AcceptedDomain")}
V2_NOT_EMULATED = {"mailbox", "mailboxfolderpermission", "distributiongroupmember", "dynamicdistributiongroupmember"}
_ROUTES = [
    ("POST", re.compile(r"^/adminapi/beta/(?P<tenant>[^/]+)/InvokeCommand/?$", re.IGNORECASE), "invoke",
     "/adminapi/beta/{tenant}/InvokeCommand"),
    ("POST", re.compile(r"^/adminapi/v2\.0/(?P<tenant>[^/]+)/(?P<endpoint>[^/]+)/?$", re.IGNORECASE), "v2",
     "/adminapi/v2.0/{tenant}/"),
    ("GET", re.compile(r"^/adminapi/v1\.0/(?P<tenant>[^/]+)/EXOModuleFile/?$", re.IGNORECASE), "module_file",
     "/adminapi/v1.0/{tenant}/EXOModuleFile"),
]
ODATA_EXCEPTION = "Microsoft.Exchange.Admin.OData.Core.ODataServiceException"
DIRECT_INVOKE = "Microsoft.Exchange.Management.PSDirectInvoke.DirectInvokeCmdletExecutionException"
CONCURRENCY_TEXT = "You have reached the maximum number of concurrent requests per tenant. Please wait and try again"
_FAULTS = {429: "TooManyRequests", 500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable",
           504: "GatewayTimeout"}
_MAX_PAGE = 1000


def cloud_config(settings, cloud):
    """The host and resource table of a cloud with the exchange_clouds setting applied."""
    config = copy.deepcopy(CLOUDS[cloud])
    config.update(settings["exchange_clouds"].get(cloud) or {})
    return config


class Route:
    """Where an Exchange request goes: service (exchange, compliance), cloud and region of a named host
    (None on the emulator's own host / the front door), action, path tenant, v2.0 endpoint, log name."""

    def __init__(self, host, service, cloud, region, label):
        self.host = host
        self.service = service
        self.cloud = cloud
        self.region = region
        self.label = label
        self.method = self.action = self.tenant = self.endpoint = None
        self.name = None


def unauthorized(message, base_url):
    challenge = (f'Bearer client_id="{wellknown.EXCHANGE_APP_ID}", trusted_issuers='
                 f'"00000001-0000-0000-c000-000000000000@*", authorization_uri="{base_url}/common/oauth2/authorize", '
                 'error="invalid_token"')
    return ExchangeError(401, "Unauthorized", message, headers={"WWW-Authenticate": challenge})


class ExchangeApi:
    """Routes, authenticates, authorizes and runs Exchange admin API requests over the tenants' state."""

    def __init__(self, directory, identity):
        self.directory = directory
        self.identity = identity

    @property
    def settings(self):
        return self.directory.settings

    # ------------------------------------------------------------ routing
    def _virtual_host(self, header):
        host = (header or "").strip().lower()
        host = host.rsplit(":", 1)[0] if ":" in host and not host.endswith("]") else host
        for cloud in CLOUDS:
            config = cloud_config(self.settings, cloud)
            if host in config["hosts"]:
                return Route(host, "exchange", cloud, None, host)
            if host in config["compliance_hosts"]:
                return Route(host, "compliance", cloud, None, host)
            prefix, _sep, suffix = config["compliance_backend"].partition("{region}")
            region = host[len(prefix):len(host) - len(suffix)] if host.startswith(prefix) and host.endswith(suffix) else ""
            if region.isalnum() and region.islower():
                return Route(host, "compliance", cloud, region, config["compliance_backend"])
        return None

    def route(self, request):
        """The Route of an Exchange request, or None when the request is not for Exchange."""
        found = self._virtual_host(request.header("Host"))
        if found is None:
            if not request.path.lower().startswith("/adminapi/"):
                return None
            found = Route(request.header("Host") or "", "exchange", None, None, "")
        found.name = f"{request.method} {found.label}{request.path}"
        for method, pattern, action, name in _ROUTES:
            match = pattern.match(request.path)
            if match:
                found.method, found.action, found.tenant = method, action, match.group("tenant")
                found.endpoint = match.groupdict().get("endpoint")
                found.name = f"{request.method} {found.label}{name}{found.endpoint or ''}"
                break
        return found

    # ------------------------------------------------------------ entry point
    def handle(self, request, route, meta):
        request_id = str(uuid.uuid4())
        meta["request_id"] = request_id
        meta["log"] = {"host": route.label or None, "cmdlet": None, "anchor": request.header("X-AnchorMailbox")}
        try:
            response = self._serve(request, route, meta)
        except ExchangeError as exc:
            response = error_response(exc)
        return self._stamp(response, request, request_id)

    @staticmethod
    def _stamp(response, request, request_id):
        response.headers["request-id"] = request_id
        if request.header("client-request-id"):
            response.headers["client-request-id"] = request.header("client-request-id")
        return response

    def _serve(self, request, route, meta):
        if route.action is None:
            raise ExchangeError(404, "NotFound", f"The resource '{request.path}' was not found.")
        if request.method != route.method:
            raise ExchangeError(405, "MethodNotAllowed", f"The HTTP method '{request.method}' is not allowed for "
                                f"'{request.path}'.")
        tenant, claims = self._authenticate(request, route)
        meta["tenant"], meta["client_id"] = tenant.tenant_id, claims.get("appid")
        if route.service == "compliance":
            redirect = self._compliance_redirect(request, route, tenant)
            if redirect is not None:
                return redirect
        if (request.header("X-ResponseFormat") or "").lower() == "clixml":
            raise cmdlets.not_emulated("X-ResponseFormat: clixml (answers are JSON only)")
        workload = route.service
        if route.action == "module_file":
            return self._module_file(tenant, claims, workload)
        name, parameters, body = _cmdlet_input(request)
        meta["log"]["cmdlet"] = name
        if route.action == "v2":
            _check_v2_endpoint(route.endpoint, name)
        return self._invoke(request, route, tenant, claims, (name, parameters, body), workload)

    # ------------------------------------------------------------ authentication
    def _authenticate(self, request, route):
        key = "compliance_resources" if route.service == "compliance" else "resources"

        def audiences(token_tenant):
            resources = cloud_config(self.settings, route.cloud or token_tenant.cloud)[key]
            return tuple(r.rstrip("/").lower() for r in resources)

        try:
            _token_tenant, claims = self.identity.verify_access_token(request.header("Authorization"), audiences)
        except GraphError as exc:
            raise unauthorized(exc.message, self.identity.base_url) from exc
        tenant = self._path_tenant(route)
        if str(claims.get("tid", "")).lower() != tenant.tenant_id.lower():
            raise unauthorized("The tenant of the access token doesn't match the tenant of the request.",
                               self.identity.base_url)
        role = "Exchange.ManageAsAppV2" if route.action == "v2" else "Exchange.ManageAsApp"
        if role not in (claims.get("roles") or []):
            raise unauthorized("The token contains no permissions, or permissions can not be understood.",
                               self.identity.base_url)
        return tenant, claims

    def _path_tenant(self, route):
        segment = route.tenant.lower()
        for tenant in self.directory.tenants.values():
            if route.cloud and tenant.cloud != route.cloud:
                continue
            if is_guid(segment) and segment == tenant.tenant_id.lower():
                return tenant
            if route.action != "v2" and any(d["name"].lower() == segment for d in tenant.organization["verifiedDomains"]):
                return tenant
        if route.service == "compliance" and route.region is None:
            raise ExchangeError(500, None, "Could not find the organization container")
        raise ExchangeError(404, "NotFound", f"The organization '{route.tenant}' was not found.")

    def _compliance_redirect(self, request, route, tenant):
        """302 from the front door (or another region's host) to the tenant's regional host on :446."""
        region = xstate.ensure(tenant)["complianceRegion"]
        if route.region == region or (route.region is None and not self.settings["exchange_compliance_redirect"]):
            return None
        host = cloud_config(self.settings, tenant.cloud)["compliance_redirect"].format(region=region)
        location = f"https://{host}{request.raw_path}" + (f"?{request.query}" if request.query else "")
        return Response(302, b"", {"Location": location})

    # ------------------------------------------------------------ authorization
    def _honoured_roles(self, tenant, claims):
        """Role names from the token's wids that Exchange honours: every one, except a role whose assignment
        became visible less than exchange_role_lag seconds ago."""
        lag = float(self.settings["exchange_role_lag"])
        table = tenant.tables["roleAssignments"]
        pending = set()
        for assignment in tenant.primary_all("roleAssignments"):
            since = table.visible_since(assignment["id"])
            if assignment["principalId"] == claims.get("oid") and since is not None and since + lag > tenant.now():
                pending.add(assignment["roleDefinitionId"].lower())
        wids = [str(w).lower() for w in claims.get("wids") or []]
        return [_ROLE_NAMES[w] for w in wids if w in _ROLE_NAMES and w not in pending]

    def _role_group_rights(self, tenant, claims):  # pylint: disable=unused-argument
        """Cmdlet patterns granted through Exchange role groups the application's Exchange service principal
        is a member of (New-ServicePrincipal + Add-RoleGroupMember, EXO-APP option 2): not modelled yet, so none."""
        return []

    def _rights(self, tenant, claims, workload):
        table = dict(ROLE_RIGHTS[workload])
        table.update((self.settings["exchange_role_rights"] or {}).get(workload) or {})
        patterns = [p for role in self._honoured_roles(tenant, claims) for p in table.get(role) or []]
        patterns += self._role_group_rights(tenant, claims)
        if not patterns:
            status = int(self.settings["exchange_unsupported_role_status"])
            raise ExchangeError(
                status, "Forbidden" if status == 403 else "Unauthorized",
                f"[AuthZRequestId={uuid.uuid4()}][FailureCategory=AuthZ-CmdletAccessDeniedException] The role assigned "
                f"to application {claims.get('appid')} isn't supported in this scenario. Please check online "
                "documentation for assigning correct Directory Roles to Azure AD Application for EXO App-Only "
                "Authentication.", "Microsoft.Exchange.Configuration.Authorization.CmdletAccessDeniedException")
        return patterns

    @staticmethod
    def _allowed(patterns, name):
        return any(fnmatch.fnmatchcase(name.lower(), p.lower()) for p in patterns)

    # ------------------------------------------------------------ actions
    def _module_file(self, tenant, claims, workload):
        patterns = self._rights(tenant, claims, workload)
        exported = [name for name in cmdlets.names(workload) if self._allowed(patterns, name)]
        return Response.json(200, {"value": [{"exportedCmdlets": ",".join(exported)}]}, content_type=JSON_TYPE)

    def _invoke(self, request, route, tenant, claims, cmdlet_input, workload):
        name, parameters, body = cmdlet_input
        patterns = self._rights(tenant, claims, workload)
        cmdlet = cmdlets.find(workload, name)
        if cmdlet is not None and not self._allowed(patterns, cmdlet.name):
            if self.settings["exchange_denied_cmdlet"] == "not_allowed":
                raise ExchangeError(401, "Unauthorized", f"User is not allowed to call {cmdlet.name}")
            cmdlet = None
        if cmdlet is None:
            raise ExchangeError(400, "BadRequest", f"The term '{name}' is not recognized as the name of a cmdlet, "
                                "function, script file, or operable program. Check the spelling of the name, or if a "
                                "path was included, verify that the path is correct and try again.",
                                "System.Management.Automation.CommandNotFoundException", "CommandNotFoundException")
        args = cmdlet.bind(parameters)
        offset = self._continuation(request, body)
        run = cmdlets.Run(tenant, self.settings, args)
        rows = cmdlet.handler(run)
        return self._result(request, route, body, rows, run.warnings, offset)

    # ------------------------------------------------------------ paging and the success envelope
    @staticmethod
    def _digest(request, body):
        text = json.dumps([request.path.lower(), body], sort_keys=True, separators=(",", ":"))
        return b64url(hashlib.sha256(text.encode("utf-8")).digest()[:12])

    def _continuation(self, request, body):
        """The offset a $skiptoken continues from; 400 when it is not one of ours, was issued for another
        request body (continuations repeat the same body), or is older than exchange_next_link_lifetime."""
        token = dict(request.pairs).get("$skiptoken")
        if token is None:
            return 0
        try:
            state = json.loads(b64url_decode(token))
            offset, digest, issued = int(state["o"]), str(state["d"]), float(state["t"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ExchangeError(400, "BadRequest", "The skip token is not valid.") from exc
        if digest != self._digest(request, body):
            raise ExchangeError(400, "BadRequest", "The skip token was issued for another request. Send the same "
                                "body to the @odata.nextLink URL.")
        lifetime = float(self.settings["exchange_next_link_lifetime"])
        if lifetime and time.time() - issued > lifetime:
            raise ExchangeError(400, "BadRequest", "The skip token has expired.")
        return offset

    @staticmethod
    def _page_size(request):
        match = re.search(r"odata\.maxpagesize\s*=\s*\"?(\d+)", request.header("Prefer") or "", re.IGNORECASE)
        size = int(match.group(1)) if match else _MAX_PAGE
        return size if 1 <= size <= _MAX_PAGE else _MAX_PAGE

    def _result(self, request, route, request_body, rows, warnings, offset):
        size = self._page_size(request)
        host = request.header("Host") or ""
        base = f"https://{host}{request.raw_path.rstrip('/')}"
        version = "v2.0" if route.action == "v2" else "beta"
        select = [s.strip().lower() for s in dict(request.pairs).get("$select", "").split(",") if s.strip()]
        body = {"@odata.context": f"https://{host}/adminapi/{version}/{route.tenant}/$metadata"
                                  "#Collection(Exchange.GenericHashTable)",
                "adminapi.warnings@odata.type": "#Collection(String)",
                "@adminapi.warnings": warnings if offset == 0 else []}
        if offset + size < len(rows):
            pairs = [(k, v) for k, v in request.pairs if k != "$skiptoken"]
            token = b64url(json.dumps({"o": offset + size, "d": self._digest(request, request_body),
                                       "t": time.time()}).encode("utf-8"))
            body["@odata.nextLink"] = f"{base}?{urlencode(pairs + [('$skiptoken', token)])}"
        body["value"] = [_project(cmdlets.annotate(row), select) for row in rows[offset:offset + size]]
        return Response.json(200, body, {"OData-Version": "4.0", "Preference-Applied": 'odata.include-annotations="*"'},
                             content_type=JSON_TYPE)

    # ------------------------------------------------------------ injected faults
    def fault_response(self, rule, request):
        """The answer of a fault rule on an Exchange route: the rule's plain text (e.g. CONCURRENCY_TEXT), or
        the service's error body; a 429 with Retry-After says the wait at the end of its message."""
        if rule.body_text is not None:
            response = Response(rule.status, rule.body_text.encode("utf-8"), {"Content-Type": rule.content_type})
        else:
            message = rule.message
            if message is None and rule.status == 429:
                wait = f"{int(rule.retry_after)}" if rule.retry_after is not None else None
                message = (f"The request was throttled. Retry after {wait} seconds." if wait is not None
                           else "The request was throttled. Please retry later.")
            exc = ExchangeError(rule.status, rule.code or _FAULTS.get(rule.status, "Error"),
                                message or "The service is temporarily unavailable. Please retry later.")
            response = error_response(exc)
        return self._stamp(response, request, str(uuid.uuid4()))


def _request_body(request):
    try:
        return request.json()
    except (ValueError, UnicodeDecodeError):
        return None


def _cmdlet_input(request):
    """(CmdletName, Parameters, body) of an InvokeCommand body; 400 when the body is not that shape."""
    shape = ('The request body must be JSON of the form {"CmdletInput": {"CmdletName": "<cmdlet>", '
             '"Parameters": {...}}}.')
    if "json" not in (request.header("Content-Type") or "").lower():
        raise ExchangeError(400, "BadRequest", shape)
    body = _request_body(request)
    cmdlet_input = body.get("CmdletInput") if isinstance(body, dict) else None
    if not isinstance(cmdlet_input, dict) or set(body) != {"CmdletInput"} \
            or set(cmdlet_input) - {"CmdletName", "Parameters"} \
            or not isinstance(cmdlet_input.get("CmdletName"), str) or not cmdlet_input["CmdletName"].strip():
        raise ExchangeError(400, "BadRequest", shape)
    return cmdlet_input["CmdletName"].strip(), cmdlet_input.get("Parameters"), body


def _check_v2_endpoint(endpoint, name):
    key = endpoint.lower()
    if key in V2_NOT_EMULATED:
        raise cmdlets.not_emulated(f"the Admin API v2.0 endpoint {endpoint}")
    if key not in V2_ENDPOINTS:
        raise ExchangeError(404, "NotFound", f"The endpoint '{endpoint}' was not found.")
    expected = V2_ENDPOINTS[key][1]
    if name.lower() != expected.lower():
        raise ExchangeError(400, "BadRequest", f"The cmdlet '{name}' can't be run on the endpoint "
                            f"'{V2_ENDPOINTS[key][0]}'. This endpoint runs only {expected}.",
                            "Microsoft.Exchange.Admin.OData.Core.ODataServiceException", "")


def _project(row, select):
    if not select:
        return row
    return {k: v for k, v in row.items() if k.split("@", 1)[0].lower() in select}


def error_response(exc):
    """An Exchange error answer: the InvokeCommand cmdlet-error envelope (IDX-ERR) for cmdlet errors, a plain
    {"error": {"code", "message", "innererror"}} (office-docs-powershell#7970) otherwise."""
    if exc.code is None:
        body = {"error": {"message": exc.message}}
    elif exc.exception:
        body = {"error": {
            "code": exc.code, "message": "Error executing cmdlet",
            "details": [{"code": "Client", "target": "", "message": f"{exc.error_id}|{exc.exception}|{exc.message}"}],
            "innererror": {"message": "Error executing cmdlet", "type": ODATA_EXCEPTION, "stacktrace": "",
                           "internalexception": {"message": f"Exception of type '{DIRECT_INVOKE}' was thrown.",
                                                 "type": DIRECT_INVOKE, "stacktrace": ""}},
            "adminapi.warnings@odata.type": "#Collection(String)", "@adminapi.warnings": []}}
    else:
        body = {"error": {"code": exc.code, "message": exc.message,
                          "innererror": {"message": exc.message, "type": ODATA_EXCEPTION}}}
    return Response.json(exc.status, body, exc.headers, content_type=JSON_TYPE)
