# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Error types raised by the Graph and token handlers and turned into service-shaped bodies."""


class GraphError(Exception):
    """A Microsoft Graph error: HTTP status, error code and message."""

    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def not_found(key):
    return GraphError(
        404, "Request_ResourceNotFound",
        f"Resource '{key}' does not exist or one of its queried reference-property objects are not present.",
    )


def bad_request(message, code="Request_BadRequest"):
    return GraphError(400, code, message)


def invalid_value(prop, resource):
    return bad_request(f"Invalid value specified for property '{prop}' of resource '{resource}'.")


def read_only(prop):
    return bad_request(f"Property '{prop}' is read-only and cannot be set.")


def unknown_property(prop, type_name):
    return bad_request(
        f"The property '{prop}' does not exist on type '{type_name}'. Make sure to only use property names "
        "that are defined by the type or mark the type as open type."
    )


def invalid_object_id(value):
    return bad_request(f"Invalid object identifier '{value}'.")


class StsError(Exception):
    """An Entra token-endpoint error: OAuth error string plus AADSTS code(s) and description."""

    def __init__(self, status, error, codes, description):
        super().__init__(description)
        self.status = status
        self.error = error
        self.codes = list(codes) if isinstance(codes, (list, tuple)) else [codes]
        self.description = description


class ExchangeError(Exception):
    """An Exchange Online admin API error. With ``exception`` (a .NET exception type) it is a cmdlet error,
    answered in the InvokeCommand envelope whose details carry "<error id>|<exception type>|<text>";
    without it the answer is a plain {"error": {"code", "message", "innererror"}} body."""

    def __init__(self, status, code, message, exception=None, error_id="", headers=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.exception = exception
        self.error_id = error_id
        self.headers = headers or {}
