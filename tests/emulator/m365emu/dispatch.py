# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Request dispatch: fault injection, the login-host endpoints, Graph, Exchange Online, the request log."""

import datetime
import json
import re
import time
import uuid

from . import graph
from .crypto import b64url_decode
from .errors import StsError
from .exchange import ExchangeApi
from .wire import Response

_TENANT = r"/(?P<tenant>[^/]+)"
LOGIN_ROUTES = [
    ("GET", re.compile(r"^/common/discovery/instance/?$", re.IGNORECASE), "instance_discovery",
     "/common/discovery/instance"),
    ("GET", re.compile(rf"^{_TENANT}/v2\.0/\.well-known/openid-configuration$", re.IGNORECASE), "openid",
     "/{tenant}/v2.0/.well-known/openid-configuration"),
    ("GET", re.compile(rf"^{_TENANT}/discovery/v2\.0/keys$", re.IGNORECASE), "jwks", "/{tenant}/discovery/v2.0/keys"),
    ("POST", re.compile(rf"^{_TENANT}/oauth2/v2\.0/token$", re.IGNORECASE), "token", "/{tenant}/oauth2/v2.0/token"),
]
_FAULT_CODES = {
    429: ("TooManyRequests", "Please retry again later."),
    500: ("generalException", "General exception while processing."),
    502: ("BadGateway", "Bad gateway."),
    503: ("serviceNotAvailable", "Service is temporarily unavailable. Please retry later."),
    504: ("GatewayTimeout", "The gateway timed out."),
}


def _login_route(request):
    for method, pattern, action, name in LOGIN_ROUTES:
        match = pattern.match(request.path)
        if match:
            return method, action, name, match.groupdict().get("tenant")
    return None


def _token_tenant_hint(request):
    """The tid of a bearer token, unverified: used only to match fault rules to a tenant."""
    header = request.header("Authorization") or ""
    try:
        payload = header.split(" ", 1)[1].split(".")[1]
        return str(json.loads(b64url_decode(payload)).get("tid", ""))
    except (IndexError, ValueError, AttributeError):
        return ""


class Dispatcher:
    """Turns a Request into a Response; everything except /_emulator is logged and may be faulted."""

    def __init__(self, directory, identity, faults, log, control, on_write=None):
        self.directory = directory
        self.identity = identity
        self.graph = graph.GraphApi(directory, identity, identity.base_url)
        self.exchange = ExchangeApi(directory, identity)
        self.faults = faults
        self.log = log
        self.control = control
        self.on_write = on_write

    def handle(self, request):
        if request.path.startswith("/_emulator"):
            return self.control.handle(request)
        started = time.monotonic()
        exchange = self.exchange.route(request)
        login = None if exchange else _login_route(request)
        meta = {"route": exchange.name if exchange else self._route_name(request, login), "tenant": None,
                "client_id": None, "resource": None}
        hint = login[3] if login else (exchange.tenant if exchange and exchange.tenant else _token_tenant_hint(request))
        tenant = self.directory.find(hint)
        tenant_keys = (hint, tenant.tenant_id, tenant.name) if tenant else (hint,)
        rule = self.faults.pick(request.method, request.path, tenant_keys)
        response = self._faulted(rule, request, login, exchange) if rule else None
        if response is not None and not response.drop:
            # A faulted answer carries a request id like any other (x-ms-request-id from the sign-in
            # host, request-id from Graph), and the log records it.
            meta["request_id"] = response.headers.get("x-ms-request-id") or response.headers.get("request-id")
        if response is None:
            response = self._serve(request, login, meta, exchange)
        self._record(request, response, meta, rule, started, login, tenant)
        return response

    @staticmethod
    def _route_name(request, login):
        if login:
            return f"{request.method} {login[2]}"
        return graph.route_name(request.method, request.path)

    def _serve(self, request, login, meta, exchange=None):
        with self.directory.lock:
            if exchange:
                response = self.exchange.handle(request, exchange, meta)
            elif login:
                response = self._login(request, login, meta)
            else:
                response = self.graph.handle(request, meta)
            if self.on_write and request.method in ("POST", "PATCH", "DELETE", "PUT") and response.status < 400 and not login:
                self.on_write()
        return response

    def _login(self, request, login, meta):
        method, action, _name, tenant_segment = login
        meta["request_id"] = str(uuid.uuid4())
        try:
            if request.method != method:
                raise StsError(400, "invalid_request", 900561, f"AADSTS900561: The endpoint only accepts {method} "
                               f"requests. Received a {request.method} request.")
            if action == "token":
                body = self.identity.token(tenant_segment, request, meta)
                meta["issued"] = True
                headers = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache", "x-ms-request-id": meta["request_id"]}
                if request.header("client-request-id"):
                    headers["client-request-id"] = request.header("client-request-id")
                return Response.json(200, body, headers)
            if action == "openid":
                body = self.identity.openid_configuration(tenant_segment)
            elif action == "jwks":
                body = self.identity.jwks(tenant_segment)
            else:
                body = self.identity.instance_discovery(request.pairs)
            return Response.json(200, body, {"Cache-Control": "max-age=86400, private", "Access-Control-Allow-Origin": "*"})
        except StsError as exc:
            return self.identity.error_response(exc, request, meta["request_id"])

    def _faulted(self, rule, request, login, exchange=None):
        if rule.delay:
            time.sleep(rule.delay)
        if rule.drop:
            return Response(drop=True)
        if rule.status is None:
            return None
        headers = {}
        if rule.retry_after is not None:
            value = rule.retry_after
            headers["Retry-After"] = str(int(value)) if float(value).is_integer() else str(value)
        if exchange:
            response = self.exchange.fault_response(rule, request)
            response.headers.update(headers)
            return response
        if login:
            if rule.body_text is not None:
                response = self.identity.text_response(rule.status, rule.body_text, rule.content_type, request)
            else:
                exc = StsError(rule.status, rule.code or "temporarily_unavailable", 90033,
                               rule.message or "AADSTS90033: A transient error has occurred. Please try again.")
                response = self.identity.error_response(exc, request)
            response.headers.update(headers)
            return response
        client_request_id = request.header("client-request-id") or str(uuid.uuid4())
        request_id = str(uuid.uuid4())
        if rule.body_text is not None:
            response = Response(rule.status, rule.body_text.encode("utf-8"), {"Content-Type": rule.content_type})
        else:
            code, message = _FAULT_CODES.get(rule.status, ("UnknownError", "An unknown error occurred."))
            exc = graph.GraphError(rule.status, rule.code or code, rule.message or message, headers)
            response = graph.error_response(exc, request_id, client_request_id)
        response.headers.update(headers)
        response.headers.update({"request-id": request_id, "client-request-id": client_request_id})
        return response

    def _record(self, request, response, meta, rule, started, login, tenant):
        entry = {
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
            "method": request.method, "path": request.path, "query": request.query, "route": meta["route"],
            "status": None if response.drop else response.status,
            "tenant": meta.get("tenant") or (tenant.tenant_id if tenant else None),
            "client_id": meta.get("client_id"), "fault": rule.describe() if rule else None,
            "request_id": meta.get("request_id"), "client_request_id": request.header("client-request-id"),
            "duration_ms": round((time.monotonic() - started) * 1000, 2),
        }
        entry.update(meta.get("log") or {})
        token = None
        if login and login[1] == "token":
            token = (entry["tenant"], meta.get("client_id"), meta.get("resource"), meta.get("issued"))
        self.log.record(entry, token)
