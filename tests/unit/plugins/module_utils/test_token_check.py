# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""check_app_token (app_token_info) against the emulator with real msal and a fake clock: the whole
check, the token endpoint's own 429/5xx retries included, stays within wait_timeout."""

from __future__ import annotations

import pytest

from ansible_collections.m365.cba.plugins.module_utils import _auth, _token_check
from ansible_collections.m365.cba.plugins.module_utils._auth import AuthError, Connection
from ansible_collections.m365.cba.plugins.module_utils._token_check import check_app_token

GRAPH = "https://graph.microsoft.com"
TOKEN_PATH = r"/oauth2/v2\.0/token$"
HELD = "Application.ReadWrite.All"  # a Graph app role the emulator's bootstrap identity holds
NOT_HELD = "Mail.Send"


class FakeClock:
    """A clock that moves only when the code sleeps (and by ``per_answer`` for each answer)."""

    def __init__(self, per_answer=0.0):
        self.now = 1000.0
        self.sleeps = []
        self.per_answer = per_answer

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    """A FakeClock that also advances by ``per_answer`` on every answer of the sign-in host."""
    fake = FakeClock()

    class TimedSource(_auth.TokenSource):
        def _http_session(self):
            session = super()._http_session()
            session.hooks["response"].append(lambda response, *a, **k: setattr(fake, "now", fake.now + fake.per_answer))
            return session

    monkeypatch.setattr(_token_check, "TokenSource", TimedSource)
    return fake


def connection(emu, tenant="tenant01"):
    info = emu.tenant(tenant)
    boot = info["bootstrap"]
    return Connection(tenant_id=info["tenant_id"], client_id=boot["client_id"], client_certificate_path=boot["certificate_path"],
                      authority_host=emu.base_url, ca_bundle=emu.ca_bundle, token_cache_dir="none")


def token_posts(emu):
    return [r for r in emu.requests() if r["method"] == "POST" and r["path"].endswith("/oauth2/v2.0/token")]


def check(emu, clock, wait_timeout, expect_roles=(HELD,)):
    return check_app_token(connection(emu), GRAPH, list(expect_roles), [], wait_timeout, sleep=clock.sleep, clock=clock)


def test_healthy_endpoint_one_attempt(emu, clock):
    summary, attempts, lacking_roles, lacking_wids = check(emu, clock, 60)
    assert attempts == 1 and HELD in summary["roles"] and not lacking_roles and not lacking_wids
    assert clock.sleeps == [] and len(token_posts(emu)) == 1


@pytest.mark.parametrize("body", [{}, {"body_text": "Too Many Requests"}], ids=["json", "plain-text"])
def test_throttling_longer_than_wait_timeout_ends_at_wait_timeout(emu, clock, body):
    """Retry-After: 60 and a 30 s wait_timeout: one request, no wait past the 30 s (the token
    endpoint's own budget of 150 s would have waited 2 x 60 s)."""
    emu.add_faults([dict({"method": "POST", "path": TOKEN_PATH, "status": 429, "retry_after": 60}, **body)])
    with pytest.raises(AuthError) as err:
        check(emu, clock, 30)
    posts = token_posts(emu)
    assert clock.sleeps == [] and len(posts) == 1
    assert err.value.status == 429 and err.value.request_id == posts[0]["request_id"]
    assert "HTTP 429" in str(err.value) and posts[0]["request_id"] in str(err.value)


def test_wait_timeout_zero_still_makes_one_attempt(emu, clock):
    summary, attempts, lacking_roles, _lacking_wids = check(emu, clock, 0)
    assert attempts == 1 and not lacking_roles and summary["roles"]
    assert clock.sleeps == []
    emu.reset(requests=True)
    emu.add_faults([{"method": "POST", "path": TOKEN_PATH, "status": 429, "retry_after": 1}])
    with pytest.raises(AuthError):
        check(emu, clock, 0)
    assert clock.sleeps == [] and len(token_posts(emu)) == 1


def test_short_throttling_is_ridden_out_within_wait_timeout(emu, clock):
    emu.add_faults([{"method": "POST", "path": TOKEN_PATH, "status": 429, "retry_after": 5, "count": 2}])
    summary, attempts, lacking_roles, _lacking_wids = check(emu, clock, 20)
    assert attempts == 1 and not lacking_roles and HELD in summary["roles"]
    assert len(clock.sleeps) == 2 and all(5 <= s <= 5.5 for s in clock.sleeps)
    assert [p["status"] for p in token_posts(emu)] == [429, 429, 200]


def test_throttling_after_waiting_for_a_role_uses_only_what_is_left(emu, clock):
    """Roles that do not show make the check wait and ask again; when the token endpoint then
    throttles, its retries get only the rest of wait_timeout."""
    emu.add_faults([{"method": "POST", "path": TOKEN_PATH, "status": 429, "retry_after": 4, "after": 3}])
    start = clock.now
    with pytest.raises(AuthError) as err:
        check(emu, clock, 10, expect_roles=(NOT_HELD,))
    # Attempts 1-3 succeed without the role (waits 0.5, 1, 2); attempt 4 is throttled with 6.5 s
    # left: one 4 s wait, then a second wait would pass the end.
    assert clock.sleeps[:3] == [0.5, 1.0, 2.0] and len(clock.sleeps) == 4 and 4 <= clock.sleeps[3] <= 4.4
    assert clock.now - start <= 10
    assert err.value.status == 429
    assert [p["status"] for p in token_posts(emu)] == [200, 200, 200, 429, 429]


def test_lacking_role_is_reported_at_wait_timeout(emu, clock):
    start = clock.now
    summary, attempts, lacking_roles, _lacking_wids = check(emu, clock, 10, expect_roles=(NOT_HELD,))
    assert lacking_roles == [NOT_HELD] and HELD in summary["roles"]
    assert clock.now - start <= 10 and attempts == len(token_posts(emu)) == len(clock.sleeps) + 1


@pytest.mark.parametrize("wait_timeout", [0, 1, 7, 30, 59, 61, 120])
@pytest.mark.parametrize("status, retry_after", [(429, 60), (429, 2), (503, None), (429, None)])
def test_the_whole_check_stays_within_wait_timeout_plus_one_request(emu, clock, wait_timeout, status, retry_after):
    """Each answer takes 2 s (fake): the check ends no later than one token request (msal's
    discovery GET and the token POST of a new msal client) after wait_timeout."""
    emu.reset(faults=True, requests=True)
    clock.per_answer = 2.0
    rule = {"method": "POST", "path": TOKEN_PATH, "status": status}
    if retry_after is not None:
        rule["retry_after"] = retry_after
    emu.add_faults([rule])
    start = clock.now
    with pytest.raises(AuthError):
        check(emu, clock, wait_timeout)
    assert clock.now - start <= wait_timeout + 2 * clock.per_answer
    assert 1 <= len(token_posts(emu)) <= _auth.TOKEN_ATTEMPTS


def test_without_a_bound_the_token_policy_alone_would_wait_longer(emu):
    """The reason for the bound: a TokenSource of its own waits up to its retry budget (90 s)."""
    emu.add_faults([{"method": "POST", "path": TOKEN_PATH, "status": 429, "retry_after": 60}])
    fake = FakeClock()
    with pytest.raises(AuthError):
        _auth.TokenSource(connection(emu), cache=_auth.TokenCache(None), sleep=fake.sleep, clock=fake).token_for(GRAPH)
    assert sum(fake.sleeps) == 60 > 30


def test_policy_is_bounded_but_never_negative():
    policy = _auth.TOKEN_POLICY
    assert _token_check._within(policy, 30).total_timeout == 30  # pylint: disable=protected-access
    assert _token_check._within(policy, -5).total_timeout == 0  # pylint: disable=protected-access
    assert _token_check._within(policy, 1000).total_timeout == policy.total_timeout  # pylint: disable=protected-access
    assert _token_check._within(policy, 30).max_attempts == policy.max_attempts  # pylint: disable=protected-access
    assert policy.total_timeout == 90.0  # the shared policy itself is untouched
