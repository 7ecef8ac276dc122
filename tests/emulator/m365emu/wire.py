# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Transport-neutral request and response objects passed between the server and the handlers."""

import json
from urllib.parse import parse_qsl, unquote, urlsplit


class Request:
    """One HTTP request: method, percent-decoded path, query pairs, headers (case-insensitive), body."""

    def __init__(self, method, target, headers, body=b""):
        parts = urlsplit(target)
        self.method = method.upper()
        self.raw_path = parts.path
        self.path = unquote(parts.path)
        self.query = parts.query
        self.pairs = parse_qsl(parts.query, keep_blank_values=True)
        self.headers = headers
        self.body = body
        self.context = {}

    def header(self, name, default=None):
        return self.headers.get(name, default)

    def json(self):
        """The body as JSON; ValueError when it is not a JSON document."""
        if not self.body:
            raise ValueError("empty body")
        return json.loads(self.body.decode("utf-8"))

    def form(self):
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))


class Response:
    """Status, headers and body bytes; `drop` asks the server to close without answering."""

    def __init__(self, status=200, body=b"", headers=None, drop=False):
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        self.drop = drop

    @classmethod
    def json(cls, status, value, headers=None, content_type="application/json; charset=utf-8"):
        merged = {"Content-Type": content_type}
        merged.update(headers or {})
        return cls(status, json.dumps(value).encode("utf-8"), merged)

    @classmethod
    def empty(cls, status=204, headers=None):
        return cls(status, b"", headers)
