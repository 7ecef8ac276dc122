# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fault matrix: every step of the setup role against every fault Microsoft Graph and Entra ID produce.

One emulator tenant per case, all set up by one ``ansible-playbook`` run (a fork per tenant, the free
strategy), so that the matrix costs one run rather than one per case:

* each Graph route the role's modules use (organization, application upsert / GET / PATCH, service
  principal upsert, appRoleAssignedTo, roleAssignments) x {429 with Retry-After, 503, dropped
  connection}, each fault twice in a row;
* replication lag: 30 s on the new application (the step every later one waits for), 3 s on every
  write of a tenant;
* the token endpoint answering 5xx, for the bootstrap identity and for the new application's proof;
* the token endpoint throttling (429, Retry-After: 1) twice, with Entra's JSON AADSTS body and with
  the plain-text "Too Many Requests" body Entra has been seen to send
  (AzureAD/microsoft-authentication-library-for-dotnet#2855), for both token requests: ridden out
  within the token retry budget, each Retry-After waited;
* faults that outlast the retry budget: the run must fail for that tenant with an error naming the
  request and the status, leave nothing half-made that a re-run cannot finish, and the next run
  (without the fault) converges; a token endpoint that keeps throttling one tenant fails it with
  HTTP 429 and the request id of the throttled answer, while every other tenant goes on.

Afterwards every tenant holds exactly one application (our unique name), one service principal, one
Exchange.ManageAsApp consent, the Exchange Administrator role once, and exactly the certificate whose
key is on disk; the emulator's fault counters prove that each fault was really served.
"""

from __future__ import annotations

import secrets
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "soak"))

from harness import Fleet, check_tenant, fault  # noqa: E402  pylint: disable=wrong-import-position

from m365emu import Emulator  # noqa: E402  pylint: disable=wrong-import-position

# The token retry bounds of the collection (plugins/module_utils/_auth.py): how often one token
# request is sent at most, and the retry budget in seconds this matrix sets for it (through
# M365_CBA_TOKEN_RETRY_TIMEOUT; the default of 90 s would make the exhausted cases slow).
TOKEN_ATTEMPTS = 12
TOKEN_RETRY_TIMEOUT = 6
# Entra's bare answer to a throttled client-credentials request (msal-dotnet issue 2855).
PLAIN_429 = {"status": 429, "retry_after": 1, "body_text": "Too Many Requests"}

FAULTS = {
    "429": {"status": 429, "retry_after": 1, "count": 2},
    "503": {"status": 503, "count": 2},
    "drop": {"drop": True, "count": 2},
}
GRAPH_STEPS = ("organization", "app_get", "app_upsert", "app_patch", "sp_upsert", "consent", "role_assignment")

# tenant name -> fault rules (a function of the tenant name)
CASES = {f"{step.replace('_', '-')}-{kind}": [(step, rule)] for step in GRAPH_STEPS for kind, rule in FAULTS.items()}
CASES.update({
    # The bootstrap identity's first token request (Graph), and the new application's proof (Exchange).
    "token-bootstrap-503": [("token", {"status": 503, "count": 1})],
    "token-proof-500": [("token", {"status": 500, "count": 2, "after": 1})],
    # Throttled twice (the budget allows TOKEN_ATTEMPTS - 1 retries), JSON and plain-text bodies.
    "token-bootstrap-429": [("token", {"status": 429, "retry_after": 1, "count": 2})],
    "token-bootstrap-429-text": [("token", dict(PLAIN_429, count=2))],
    "token-proof-429": [("token", {"status": 429, "retry_after": 1, "count": 2, "after": 1})],
    "token-proof-429-text": [("token", dict(PLAIN_429, count=2, after=1))],
    "lag-30s-application": [],
    "lag-3s-everywhere": [],
})
# Faults that outlast the retry budget: the first run fails for the tenant, the next one converges.
EXHAUSTED = {
    "exhaust-organization-429": [("organization", {"status": 429, "retry_after": 1, "count": 1000})],
    "exhaust-consent-drop": [("consent", {"drop": True, "count": 1000})],
    "exhaust-token-proof-503": [("token", {"status": 503, "count": 1000, "after": 1})],
    # The token endpoint keeps throttling this tenant: every token request, plain text, and the proof, JSON.
    "exhaust-token-429-text": [("token", dict(PLAIN_429, count=1000))],
    "exhaust-token-proof-429": [("token", {"status": 429, "retry_after": 1, "count": 1000, "after": 1})],
}
# What the failure must say: the request and what went wrong with it.
EXHAUSTED_MESSAGES = {
    "exhaust-organization-429": ("GET /v1.0/organization", "HTTP 429"),
    "exhaust-consent-drop": ("/appRoleAssignedTo", "connection lost"),
    "exhaust-token-proof-503": ("the sign-in service answered 503", "AADSTS90033", "request-id: "),
    "exhaust-token-429-text": ("throttling", "HTTP 429 Too Many Requests", "request-id: "),
    "exhaust-token-proof-429": ("throttling", "HTTP 429", "AADSTS90033", "request-id: "),
}
TOKEN_429 = sorted(name for name in CASES if name.startswith("token-") and "-429" in name)
THROTTLED = sorted(name for name in EXHAUSTED if "-429" in name and name.startswith("exhaust-token"))
# A tenant whose faults never touch the token endpoint: the token requests a setup costs.
TOKEN_REFERENCE = "organization-503"
LAG_30 = "lag-30s-application"
LAG_3 = "lag-3s-everywhere"
ALL_CASES = dict(CASES, **EXHAUSTED)


def _lag_watcher(emu, stop):
    """Replication lag of 30 s for the application's creation in LAG_30, 1 s for its later writes."""
    tenant_id = emu.tenant(LAG_30)["tenant_id"]
    while not stop.is_set():
        if any(r["tenant"] == tenant_id and r["method"] == "PATCH" and r["status"] == 201
               and r["route"].startswith("PATCH /v1.0/applications(") for r in emu.requests()):
            emu.update_settings(tenant_replication_lag={LAG_30: 1.0, LAG_3: 3.0})
            return
        time.sleep(0.1)


@pytest.fixture(scope="module")
def matrix(ansible, tmp_path_factory):
    """Every case set up by one run; the cases whose budget ran out set up again by a second run."""
    workdir = tmp_path_factory.mktemp("faults")
    with Emulator(str(workdir / "emulator"), seed=[{"name": name} for name in ALL_CASES], fault_seed=7) as emu:
        rules = {}
        for name, specs in ALL_CASES.items():
            rules[name] = emu.add_faults([fault(route, name, **rule) for route, rule in specs])
        emu.update_settings(tenant_replication_lag={LAG_30: 30.0, LAG_3: 3.0})
        fleet = Fleet(emu, ansible.collection_dir, ansible.ansible_playbook, workdir, secrets.token_urlsafe(18),
                      env=ansible.env, forks=len(ALL_CASES))
        stop = threading.Event()
        watcher = threading.Thread(target=_lag_watcher, args=(emu, stop), daemon=True)
        watcher.start()
        # The free strategy lets the other tenants go on while one waits out its fault.
        first = fleet.run("faults", list(ALL_CASES), env={"ANSIBLE_STRATEGY": "free",
                                                          "M365_CBA_TOKEN_RETRY_TIMEOUT": str(TOKEN_RETRY_TIMEOUT)})
        stop.set()
        watcher.join()
        served = {rule["id"]: rule["applied"] for rule in emu.faults()}
        applied = {name: [served[rule["id"]] for rule in made] for name, made in rules.items()}
        requests_first = emu.requests()
        checks_first = {name: check_tenant(emu, name, fleet.cert_dir(name), fleet.pfx_password) for name in ALL_CASES}
        emu.clear_faults()
        emu.update_settings(tenant_replication_lag={})
        again = sorted(set(first.failed_hosts()) | {n for n, c in checks_first.items() if not c.ok})
        second = fleet.run("after-faults", again) if again else None
        checks = {name: check_tenant(emu, name, fleet.cert_dir(name), fleet.pfx_password) for name in ALL_CASES}
        yield {"emu": emu, "fleet": fleet, "first": first, "second": second, "rerun": again, "applied": applied,
               "requests": requests_first, "checks_first": checks_first, "checks": checks}


def _tenant_requests(matrix, name):
    tenant_id = matrix["emu"].tenant(name)["tenant_id"]
    return [r for r in matrix["requests"] if r["tenant"] == tenant_id]


@pytest.mark.parametrize("name", sorted(CASES))
def test_fault_is_ridden_out_within_the_budget(matrix, name):
    first, check = matrix["first"], matrix["checks"][name]
    assert name in first.recap, first.describe()
    assert name not in first.failed_hosts(), f"{name}: {first.failures(name)}\n{first.describe()}"
    assert check.ok, f"{name}: {check.problems}"
    assert matrix["checks_first"][name].ok, f"{name} after the first run: {matrix['checks_first'][name].problems}"
    for (route, rule), served in zip(ALL_CASES[name], matrix["applied"][name]):
        assert served == rule["count"], f"{name}: the {route} fault was served {served} times, not {rule['count']}"
    assert name not in matrix["rerun"]


def test_replication_lag_was_waited_out(matrix):
    """The lag tenants really saw a new object missing (404) or a stale reference and got past it."""
    for name in (LAG_30, LAG_3):
        lagged = [r for r in _tenant_requests(matrix, name) if r["status"] in (400, 404) and r["path"].startswith("/v1.0/")]
        assert lagged, f"{name}: no request met replication lag; the case tested nothing"
    waits = [r for r in _tenant_requests(matrix, LAG_30)
             if r["status"] == 404 and r["route"].startswith("GET /v1.0/applications(")]
    first_404 = min(r["time"] for r in waits)
    last_404 = max(r["time"] for r in waits)
    assert _seconds_between(first_404, last_404) >= 20, f"{LAG_30}: the application was missing only {first_404} .. {last_404}"


def _seconds_between(start, end):
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


@pytest.mark.parametrize("name", sorted(EXHAUSTED))
def test_exhausted_budget_fails_clearly_and_the_next_run_converges(matrix, name):
    first, second = matrix["first"], matrix["second"]
    assert name in first.failed_hosts(), f"{name} did not fail although the fault outlasts every retry\n{first.describe()}"
    messages = " | ".join(first.failures(name))
    assert all(text in messages for text in EXHAUSTED_MESSAGES[name]), messages
    assert "Traceback" not in messages, messages
    # What the failed run left is a prefix of the setup, never a duplicate.
    problems = matrix["checks_first"][name].problems
    assert not [p for p in problems if p.startswith(("2 ", "3 ")) or "times" in p], problems
    assert second is not None and name in second.recap, "the failed tenant was not run again"
    assert name not in second.failed_hosts(), f"{name}: {second.failures(name)}\n{second.describe()}"
    assert matrix["checks"][name].ok, f"{name}: {matrix['checks'][name].problems}"


def _token_posts(matrix, name):
    return [r for r in _tenant_requests(matrix, name) if r["route"] == "POST /{tenant}/oauth2/v2.0/token"]


@pytest.mark.parametrize("name", TOKEN_429)
def test_token_429_costs_only_the_budgeted_retries(matrix, name):
    """Both throttled answers were retried once each (no more), after the Retry-After, and the setup
    still proved its certificate; the tenant holds no duplicate (test above)."""
    posts = _token_posts(matrix, name)
    throttled = [r for r in posts if r["status"] == 429]
    assert len(throttled) == 2 and all(r["fault"] and r["request_id"] for r in throttled), posts
    # Every throttled answer was retried (each token request was sent at most TOKEN_ATTEMPTS times)
    # and nothing else was: the other requests are those of a tenant whose tokens were not faulted.
    reference = [r for r in _token_posts(matrix, TOKEN_REFERENCE) if r["status"] == 200]
    assert [r["status"] for r in posts if r["status"] != 429] == [200] * len(reference), posts
    assert len(posts) == len(reference) + 2
    streak = 0
    for earlier, later in zip(posts, posts[1:]):
        if earlier["status"] == 429:
            streak += 1
            assert streak < TOKEN_ATTEMPTS, f"{name}: {streak} throttled answers in a row"
            waited = _seconds_between(earlier["time"], later["time"])
            assert waited >= 0.9, f"{name}: asked again {waited:.2f} s after Retry-After: 1"
        else:
            streak = 0
    proof = [r for r in matrix["first"].host_results(name) if r["action"].endswith("app_token_info")]
    assert [r["status"] for r in proof] == ["ok"], proof


@pytest.mark.parametrize("name", THROTTLED)
def test_throttled_tenant_fails_naming_429_and_the_request_id(matrix, name):
    """The message names the request id Entra gave the last throttled answer (as logged by the
    emulator) and the number of requests, all sent within the retry budget; every other tenant of
    the run went on."""
    first = matrix["first"]
    (message,) = first.failures(name)
    posts = _token_posts(matrix, name)
    throttled = [r for r in posts if r["status"] == 429]
    assert throttled and throttled[-1] is posts[-1], posts
    assert f"request-id: {throttled[-1]['request_id']}" in message, message
    # The last token request of the task: the streak of throttled answers at the end of the log.
    streak = []
    for request in reversed(posts):
        if request["status"] != 429:
            break
        streak.insert(0, request)
    assert 2 <= len(streak) <= TOKEN_ATTEMPTS and f"after {len(streak)} attempts" in message, (message, posts)
    assert _seconds_between(streak[0]["time"], streak[-1]["time"]) <= TOKEN_RETRY_TIMEOUT, streak
    # Throttling is not a configuration problem: no option of the task is blamed.
    assert "tenant_id" not in message and "certificate_path" not in message, message
    assert set(first.failed_hosts()) == set(EXHAUSTED), first.describe()
