# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The control API under /_emulator/ (no authentication; the server listens on loopback only)."""

import json
import re

from .consent import ConsentError
from .wire import Response

_TENANT_PERMISSIONS = re.compile(r"^/_emulator/tenants/(?P<tenant>[^/]+)/bootstrap/permissions/?$")
_TENANT_CONSENT = re.compile(r"^/_emulator/tenants/(?P<tenant>[^/]+)/consent/?$")
_TENANT_EXCHANGE = re.compile(r"^/_emulator/tenants/(?P<tenant>[^/]+)/exchange/?$")


class ControlApi:
    def __init__(self, emulator):
        self.emulator = emulator

    def handle(self, request):
        try:
            return self._dispatch(request)
        except (ValueError, KeyError, TypeError) as exc:
            return Response.json(400, {"error": str(exc)})

    @staticmethod
    def _body(request):
        if not request.body:
            return {}
        return json.loads(request.body.decode("utf-8"))

    def _dispatch(self, request):
        emu, path, method = self.emulator, request.path.rstrip("/"), request.method
        params = dict(request.pairs)
        simple = {
            ("GET", "/_emulator/health"): lambda: {"status": "ok", "base_url": emu.base_url},
            ("GET", "/_emulator/tenants"): lambda: {"value": emu.tenants},
            ("GET", "/_emulator/state"): lambda: emu.state(params.get("tenant")),
            ("GET", "/_emulator/requests"): lambda: {"value": emu.requests()},
            ("GET", "/_emulator/counters"): emu.counters,
            ("GET", "/_emulator/faults"): lambda: {"value": emu.faults()},
            ("GET", "/_emulator/settings"): emu.settings,
        }
        if (method, path) in simple:
            return Response.json(200, simple[(method, path)]())
        match = _TENANT_EXCHANGE.match(path)
        if match and method == "GET":
            return Response.json(200, emu.exchange(match.group("tenant")))
        body = self._body(request) if method in ("POST", "PATCH", "PUT") else {}
        return self._mutation(method, path, body)

    def _mutation(self, method, path, body):
        emu = self.emulator
        if (method, path) == ("POST", "/_emulator/requests/reset"):
            emu.reset_requests()
            return Response.empty()
        if (method, path) == ("POST", "/_emulator/faults"):
            rules = body.get("rules", body) if isinstance(body, dict) and "rules" in body else body
            return Response.json(201, {"value": emu.add_faults(rules)})
        if (method, path) == ("DELETE", "/_emulator/faults"):
            emu.clear_faults()
            return Response.empty()
        if (method, path) == ("POST", "/_emulator/settings"):
            return Response.json(200, emu.update_settings(**body))
        if (method, path) == ("POST", "/_emulator/reset"):
            emu.reset(**body)
            return Response.empty()
        match = _TENANT_PERMISSIONS.match(path)
        if match and method in ("POST", "PUT"):
            permissions = emu.set_bootstrap_permissions(match.group("tenant"), body["permissions"])
            return Response.json(200, {"tenant": match.group("tenant"), "permissions": permissions})
        match = _TENANT_EXCHANGE.match(path)
        if match and method in ("POST", "PATCH"):
            return Response.json(200, emu.update_exchange(match.group("tenant"), **body))
        match = _TENANT_CONSENT.match(path)
        if match and method == "POST":
            try:
                result = emu.admin_consent(match.group("tenant"), body["client_id"], body.get("permissions"))
            except ConsentError as exc:
                return Response.json(400, {"error": str(exc), "error_codes": [exc.code]})
            return Response.json(200, result)
        return Response.json(404, {"error": f"no control endpoint {method} {path}"})
