# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Sign in as an application with its certificate and read the token's claims.

The proof that certificate-based authentication works: a token for the Exchange Online resource
whose ``roles`` hold ``Exchange.ManageAsApp``. A new certificate or a new consent can take a
while to reach the token service, so the check can wait, with a growing interval and a bound.
Private to m365.cba; no stable API.
"""

from __future__ import annotations

import dataclasses
import datetime
import time

from ._auth import AuthError, Connection, TokenCache, TokenSource, jwt_claims, token_policy

# AADSTS codes that a fresh certificate answers until it has replicated.
_RETRYABLE_AADSTS = (700027, 700016)


def summarise_claims(claims):
    expires = claims.get("exp")
    return {
        "aud": claims.get("aud"),
        "iss": claims.get("iss"),
        "tid": claims.get("tid"),
        "appid": claims.get("appid") or claims.get("azp"),
        "oid": claims.get("oid"),
        "roles": sorted(claims.get("roles") or []),
        "wids": sorted(claims.get("wids") or []),
        "appidacr": claims.get("appidacr") or claims.get("azpacr"),
        "expires_on": datetime.datetime.fromtimestamp(expires, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if expires else None,
    }


def missing(summary, expect_roles, expect_wids):
    lacking_roles = sorted(set(expect_roles or []) - set(summary["roles"]))
    lacking_wids = sorted({w.lower() for w in expect_wids or []} - {w.lower() for w in summary["wids"]})
    return lacking_roles, lacking_wids


def check_app_token(connection: Connection, resource, expect_roles=None, expect_wids=None, wait_timeout=60.0,
                    sleep=time.sleep, clock=time.monotonic, policy=None):
    """Acquire a token as the application until the expectations hold or ``wait_timeout`` passes.

    Returns ``(summary, attempts, lacking_roles, lacking_wids)``; raises AuthError when sign-in
    keeps failing. Each attempt is a new token request (no cache), so a new consent shows.

    ``wait_timeout`` bounds the whole check, the token endpoint's own retries (429, 5xx, a broken
    connection) included: each attempt's TokenSource may wait only what is left of it, so the check
    ends at most one request's duration after ``wait_timeout``. Every attempt sends at least one
    request, also with ``wait_timeout=0``.
    """
    started = clock()
    if policy is None:
        policy = token_policy(connection.token_retry_budget)
    attempt = 0
    while True:
        attempt += 1
        source = TokenSource(connection, cache=TokenCache(None), sleep=sleep, clock=clock)
        # What is left of wait_timeout, set last so that loading the certificate counts against it.
        source.policy = _within(policy, wait_timeout - (clock() - started))
        try:
            token = source.token_for(resource)
        except AuthError as exc:
            if exc.code not in _RETRYABLE_AADSTS or clock() - started + _wait(attempt) > wait_timeout:
                raise
            sleep(_wait(attempt))
            continue
        summary = summarise_claims(jwt_claims(token))
        lacking_roles, lacking_wids = missing(summary, expect_roles, expect_wids)
        if not (lacking_roles or lacking_wids) or clock() - started + _wait(attempt) > wait_timeout:
            return summary, attempt, lacking_roles, lacking_wids
        sleep(_wait(attempt))


def _within(policy, remaining):
    """``policy`` with its retries bounded by ``remaining`` seconds (never below 0: the first
    request of a TokenSource is always sent, only the waits for a retry are bounded)."""
    return dataclasses.replace(policy, total_timeout=max(0.0, min(policy.total_timeout, remaining)))


def _wait(attempt):
    return min(8.0, 0.5 * (2 ** (attempt - 1)))
