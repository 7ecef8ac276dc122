# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Graph client's paging, retries and errors, on scripted responses with a fake clock."""

from __future__ import annotations

import json

import pytest
import requests

from ansible_collections.m365.cba.plugins.module_utils._graph import (
    GraphError,
    RetryPolicy,
    alternate_key,
    is_replication_lag,
    parse_retry_after,
)

from graph_fakes import BASE, graph_error, response, scripted_client


def make_client(script, policy=None, tokens=None):
    tokens = tokens if tokens is not None else []

    def token():
        tokens.append(1)
        return "tok"

    return scripted_client(script, policy=policy, token=token)


def test_paging_follows_next_link_over_three_pages_and_resends_headers():
    pages = [
        response(200, {"value": [{"id": 1}, {"id": 2}], "@odata.nextLink": BASE + "/v1.0/applications?$top=2&$skiptoken=a"}),
        response(200, {"value": [{"id": 3}, {"id": 4}], "@odata.nextLink": BASE + "/v1.0/applications?$top=2&$skiptoken=b"}),
        response(200, {"value": [{"id": 5}]}),
    ]
    client, session, dummy = make_client(pages)
    items = client.get_all("/applications", params={"$top": 2}, headers={"ConsistencyLevel": "eventual"})
    assert [i["id"] for i in items] == [1, 2, 3, 4, 5]
    assert [c["url"] for c in session.calls] == [
        BASE + "/v1.0/applications",
        BASE + "/v1.0/applications?$top=2&$skiptoken=a",
        BASE + "/v1.0/applications?$top=2&$skiptoken=b",
    ]
    assert all(c["headers"]["ConsistencyLevel"] == "eventual" for c in session.calls)
    assert session.calls[1]["params"] is None  # the link already carries every query option


def test_paging_refuses_a_link_to_another_host():
    client, dummy, dummy2 = make_client([response(200, {"value": [], "@odata.nextLink": "https://evil.example/v1.0/x"})])
    with pytest.raises(GraphError, match="another host"):
        client.get_all("/applications")


def test_429_waits_at_least_retry_after_and_no_more_than_the_cap():
    client, session, clock = make_client([
        graph_error(429, "TooManyRequests", "slow down", headers={"Retry-After": "3"}),
        graph_error(429, "TooManyRequests", "slow down", headers={"Retry-After": "120"}),
        response(200, {"id": "x"}),
    ], policy=RetryPolicy(retry_after_cap=10))
    assert client.get("/applications/x") == {"id": "x"}
    assert len(session.calls) == 3
    assert 3 <= clock.sleeps[0] <= 3.3
    assert clock.sleeps[1] == 10


def test_429_on_post_is_retried_because_it_was_not_processed():
    client, session, dummy = make_client([
        graph_error(429, "TooManyRequests", "slow down", headers={"Retry-After": "1"}),
        response(201, {"id": "new"}),
    ])
    assert client.post("/applications", {"displayName": "x"}) == {"id": "new"}
    assert [c["method"] for c in session.calls] == ["POST", "POST"]


@pytest.mark.parametrize("status", [503, 504])
def test_503_and_504_are_retried_for_reads(status):
    client, session, clock = make_client([graph_error(status, "serviceNotAvailable", "busy"), response(200, {"ok": True})])
    assert client.get("/organization") == {"ok": True}
    assert len(session.calls) == 2
    assert len(clock.sleeps) == 1


def test_503_on_post_is_not_repeated_without_a_recovery_look_up():
    client, session, dummy = make_client([graph_error(503, "serviceNotAvailable", "busy", request_id="rid-503")])
    with pytest.raises(GraphError) as info:
        client.post("/servicePrincipals/x/appRoleAssignedTo", {"appRoleId": "r"})
    assert len(session.calls) == 1
    assert info.value.status == 503 and info.value.request_id == "rid-503"


def test_dropped_connection_on_post_consults_recover_before_resending():
    found = {"id": "created-before-the-drop"}
    client, session, dummy = make_client([requests.exceptions.ConnectionError("Connection aborted. RemoteDisconnected")])
    result = client.request("POST", "/applications", body={"displayName": "x"}, recover=lambda: found)
    assert result is found
    assert len(session.calls) == 1


def test_dropped_connection_on_post_resends_only_after_recover_finds_nothing():
    client, session, dummy = make_client([
        requests.exceptions.ConnectionError("Connection aborted. RemoteDisconnected"),
        response(201, {"id": "new"}),
    ])
    looked = []
    result = client.request("POST", "/applications", body={"displayName": "x"}, recover=lambda: looked.append(1))
    assert result.body == {"id": "new"} and looked == [1]
    assert len(session.calls) == 2


def test_dropped_connection_is_retried_for_idempotent_methods():
    client, session, dummy = make_client([requests.exceptions.ConnectionError("RemoteDisconnected"), response(204)])
    assert client.patch("/applications/x", {"notes": "n"}).status == 204
    assert len(session.calls) == 2


def test_403_surfaces_as_graph_error_with_code_and_request_id():
    denied = graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.", request_id="rid-403")
    client, session, dummy = make_client([denied])
    with pytest.raises(GraphError) as info:
        client.get("/applications")
    err = info.value
    assert (err.status, err.code, err.request_id) == (403, "Authorization_RequestDenied", "rid-403")
    assert "Authorization_RequestDenied" in str(err) and "rid-403" in str(err)
    assert "tok" not in str(err) and "tok" not in json.dumps(err.as_dict())
    assert len(session.calls) == 1


def test_retries_are_bounded_by_attempts():
    script = [graph_error(503, "serviceNotAvailable", "busy") for dummy in range(3)]
    client, session, dummy = make_client(script, policy=RetryPolicy(max_attempts=3))
    with pytest.raises(GraphError):
        client.get("/organization")
    assert len(session.calls) == 3


def test_retries_are_bounded_in_total_time():
    script = [graph_error(429, "TooManyRequests", "slow", headers={"Retry-After": "20"}) for dummy in range(10)]
    client, session, clock = make_client(script, policy=RetryPolicy(total_timeout=50, retry_after_cap=30))
    with pytest.raises(GraphError):
        client.get("/organization")
    assert clock.now <= 50
    assert len(session.calls) == 3


def test_replication_lag_is_retried_only_when_the_call_opts_in():
    lag = graph_error(404, "Request_ResourceNotFound", "Resource 'x' does not exist or one of its queried reference-property objects are not present.")
    client, session, dummy = make_client([lag])
    with pytest.raises(GraphError):
        client.get("/applications/x")
    assert len(session.calls) == 1

    client, session, clock = make_client([lag, lag, response(200, {"id": "x"})])
    assert client.get("/applications/x", retry_on=is_replication_lag) == {"id": "x"}
    assert len(session.calls) == 3 and clock.sleeps == [1.0, 2.0]


def test_replication_lag_retry_gives_up_after_its_budget():
    lag = graph_error(400, "Request_BadRequest", "The appId 'a' of the service principal does not reference a valid application object.")
    client, session, clock = make_client([lag] * 20, policy=RetryPolicy(lag_timeout=10))
    with pytest.raises(GraphError):
        client.post("/servicePrincipals", {"appId": "a"}, retry_on=is_replication_lag)
    assert clock.now <= 10
    assert 2 <= len(session.calls) <= 5


def test_token_is_fetched_once_per_client():
    tokens = []
    client, dummy, dummy2 = make_client([response(200, {}), response(200, {})], tokens=tokens)
    client.get("/organization")
    client.get("/organization")
    assert tokens == [1]


def test_user_agent_and_client_request_id_are_sent():
    client, session, dummy = make_client([response(200, {})])
    client.get("/organization")
    headers = session.calls[0]["headers"]
    assert headers["User-Agent"].startswith("m365.cba/")
    assert len(headers["client-request-id"]) == 36


def test_parse_retry_after_forms():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("garbage") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470) == 10.0


def test_alternate_key_quotes_and_escapes():
    assert alternate_key("applications", "uniqueName", "o'brien app") == "/applications(uniqueName='o''brien%20app')"


def test_replication_lag_timeout_zero_does_not_wait():
    lag = graph_error(404, "Request_ResourceNotFound", "Resource 'x' does not exist or one of its queried reference-property objects are not present.")
    client, session, clock = make_client([lag], policy=RetryPolicy(lag_timeout=0))
    with pytest.raises(GraphError):
        client.get("/applications/x", retry_on=is_replication_lag)
    assert len(session.calls) == 1 and clock.sleeps == []
    looked = []
    assert client.wait_for(lambda: looked.append(1)) is None
    assert looked == [1] and clock.sleeps == []
