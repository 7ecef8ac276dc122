# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fault injection: rules that answer matching requests with an error status, a delay, or a
dropped connection, limited by count, skip-first-K and a seedable probability.

An error status is answered with the service's JSON error body (Graph's or Entra's AADSTS body)
unless the rule gives ``body_text``: then that text is the whole body, sent with ``content_type``
(``text/plain; charset=utf-8`` by default), as Entra answers a throttled token request with
"Too Many Requests" (AzureAD/microsoft-authentication-library-for-dotnet#2855)."""

import random
import re
import threading
import uuid

RULE_FIELDS = {"id", "method", "path", "tenant", "status", "drop", "retry_after", "count", "probability", "after",
               "delay", "code", "message", "body_text", "content_type"}
DEFAULT_TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"


def _number(spec, name, minimum=0.0, maximum=None, integer=False):
    value = spec.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"fault rule: {name} must be a number")
    if value < minimum or (maximum is not None and value > maximum) or (integer and int(value) != value):
        raise ValueError(f"fault rule: {name} is out of range")
    return int(value) if integer else float(value)


class FaultRule:
    """One rule; `matched` counts requests that met its conditions, `applied` those it faulted."""

    def __init__(self, spec):
        if not isinstance(spec, dict) or set(spec) - RULE_FIELDS:
            raise ValueError(f"fault rule: unknown fields {sorted(set(spec) - RULE_FIELDS) if isinstance(spec, dict) else spec}")
        self.id = str(spec.get("id") or uuid.uuid4())
        self.method = spec.get("method", "").upper() or None
        self.path = spec.get("path")
        self.pattern = re.compile(self.path) if self.path else None
        self.tenant = spec.get("tenant")
        self.status = _number(spec, "status", 100, 599, integer=True)
        self.drop = bool(spec.get("drop", False))
        self.delay = _number(spec, "delay", 0, 120)
        if self.status is None and not self.drop and self.delay is None:
            raise ValueError("fault rule: needs status, drop or delay")
        if self.status is not None and self.drop:
            raise ValueError("fault rule: status and drop are exclusive")
        self.retry_after = _number(spec, "retry_after", 0)
        self.count = _number(spec, "count", 1, integer=True)
        self.after = _number(spec, "after", 0, integer=True) or 0
        self.probability = _number(spec, "probability", 0, 1)
        self.code = spec.get("code")
        self.message = spec.get("message")
        self.body_text = spec.get("body_text")
        self.content_type = spec.get("content_type")
        if self.body_text is not None or self.content_type is not None:
            self._check_text_body()
        self.matched = 0
        self.applied = 0

    def _check_text_body(self):
        if self.body_text is None:
            raise ValueError("fault rule: content_type needs body_text")
        if not isinstance(self.body_text, str):
            raise ValueError("fault rule: body_text must be a string")
        if self.content_type is not None and (not isinstance(self.content_type, str) or not self.content_type.strip()
                                              or any(c in self.content_type for c in "\r\n")):
            raise ValueError("fault rule: content_type must be a one-line string")
        if self.status is None:
            raise ValueError("fault rule: body_text needs status")
        if self.code is not None or self.message is not None:
            raise ValueError("fault rule: body_text replaces the error body; code and message are not used with it")
        self.content_type = self.content_type or DEFAULT_TEXT_CONTENT_TYPE

    @property
    def exhausted(self):
        return self.count is not None and self.applied >= self.count

    def matches(self, method, path, tenant_keys):
        if self.method and self.method != method:
            return False
        if self.pattern and not self.pattern.search(path):
            return False
        return not self.tenant or self.tenant.lower() in tenant_keys

    def describe(self):
        if self.drop:
            return f"drop:{self.id}"
        return f"{self.status or 'delay'}:{self.id}"

    def to_dict(self):
        return {"id": self.id, "method": self.method, "path": self.path, "tenant": self.tenant, "status": self.status,
                "drop": self.drop, "delay": self.delay, "retry_after": self.retry_after, "count": self.count,
                "after": self.after, "probability": self.probability, "code": self.code, "message": self.message,
                "body_text": self.body_text, "content_type": self.content_type, "matched": self.matched,
                "applied": self.applied, "exhausted": self.exhausted}


class FaultInjector:
    """The active rules, consulted in order; the first rule that fires wins."""

    def __init__(self, seed=None):
        self._lock = threading.Lock()
        self._rules = []
        self._rng = random.Random(seed)

    def add(self, specs):
        specs = specs if isinstance(specs, list) else [specs]
        rules = [FaultRule(spec) for spec in specs]
        with self._lock:
            self._rules.extend(rules)
        return [rule.to_dict() for rule in rules]

    def clear(self, seed=None):
        with self._lock:
            self._rules = []
            if seed is not None:
                self._rng = random.Random(seed)

    def rules(self):
        with self._lock:
            return [rule.to_dict() for rule in self._rules]

    def pick(self, method, path, tenant_keys):
        """The rule to apply to this request, or None."""
        tenant_keys = {k.lower() for k in tenant_keys if k}
        with self._lock:
            for rule in self._rules:
                if rule.exhausted or not rule.matches(method, path, tenant_keys):
                    continue
                rule.matched += 1
                if rule.matched <= rule.after:
                    continue
                if rule.probability is not None and self._rng.random() >= rule.probability:
                    continue
                rule.applied += 1
                return rule
        return None
