# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Request log and counters. Entries never hold bodies, secrets, tokens or assertions."""

import collections
import copy
import threading


class RequestLog:
    def __init__(self, limit=20000):
        self._lock = threading.Lock()
        self._entries = collections.deque(maxlen=limit)
        self._routes = collections.Counter()
        self._statuses = collections.Counter()
        self._tokens = {}
        self._faults = 0

    def record(self, entry, token=None):
        """Add one entry; `token` = (tenant, client_id, resource, issued) for token-endpoint calls."""
        with self._lock:
            self._entries.append(dict(entry))
            self._routes[entry["route"]] += 1
            self._statuses[str(entry["status"])] += 1
            if entry.get("fault"):
                self._faults += 1
            if token:
                tenant, client_id, resource, issued = token
                slot = (self._tokens.setdefault(tenant or "(unknown)", {})
                        .setdefault(client_id or "(none)", {})
                        .setdefault(resource or "(none)", {"requests": 0, "issued": 0}))
                slot["requests"] += 1
                slot["issued"] += int(bool(issued))

    def entries(self):
        with self._lock:
            return [dict(e) for e in self._entries]

    def counters(self):
        with self._lock:
            return {"total": sum(self._routes.values()), "routes": dict(self._routes),
                    "statuses": dict(self._statuses), "faults": self._faults, "tokens": copy.deepcopy(self._tokens)}

    def reset(self):
        with self._lock:
            self._entries.clear()
            self._routes.clear()
            self._statuses.clear()
            self._tokens = {}
            self._faults = 0
