# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Scripted Graph answers and a fake clock, for unit tests of the Graph client and its callers."""

from __future__ import annotations

import json

import requests

from ansible_collections.m365.cba.plugins.module_utils._graph import GraphClient

BASE = "https://graph.example.test"


def response(status, body=None, headers=None):
    resp = requests.Response()
    resp.status_code = status
    resp.headers.update(headers or {})
    resp._content = json.dumps(body).encode() if body is not None else b""  # pylint: disable=protected-access
    return resp


def graph_error(status, code, message, request_id="rid-1", headers=None):
    body = {"error": {"code": code, "message": message, "innerError": {"request-id": request_id, "date": "2026-01-01T00:00:00"}}}
    return response(status, body, dict({"request-id": request_id}, **(headers or {})))


def collection(items):
    return response(200, {"value": list(items)})


class ScriptedSession:
    """Answers requests in order from a script of Responses (or exceptions to raise) and records them."""

    def __init__(self, script):
        self.script = list(script)
        self.calls = []

    def request(self, method, url, params=None, data=None, headers=None, timeout=None):
        self.calls.append({"method": method, "url": url, "params": params, "data": data,
                           "body": json.loads(data) if data else None, "headers": dict(headers or {})})
        if not self.script:
            raise AssertionError(f"unexpected request {method} {url}")
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


class Clock:
    """A clock that only moves when something sleeps; remembers the sleeps."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self):
        return self.now


def scripted_client(script, policy=None, token=lambda: "token"):
    """``(client, session, clock)``: the session records every call the client made."""
    session = ScriptedSession(script)
    clock = Clock()
    client = GraphClient(BASE, token, session=session, policy=policy, sleep=clock.sleep, clock=clock)
    return client, session, clock


def path_of(call):
    return call["url"][len(BASE) + len("/v1.0"):]
