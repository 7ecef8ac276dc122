# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Credential selection, the token cache and sign-in error mapping, without a network."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.m365.cba.plugins.module_utils import _auth
from ansible_collections.m365.cba.plugins.module_utils._auth import (
    AuthError,
    Connection,
    TokenCache,
    TokenSource,
    credential_for,
)


def test_no_credential_names_the_options():
    with pytest.raises(AuthError) as info:
        credential_for(Connection(tenant_id="t", client_id="c"))
    assert info.value.option == "client_secret"
    assert "client_certificate_path" in str(info.value)


def test_missing_certificate_file_names_the_option(tmp_path):
    with pytest.raises(AuthError) as info:
        credential_for(Connection(tenant_id="t", client_id="c", client_certificate_path=str(tmp_path / "nope.pem")))
    assert info.value.option == "client_certificate_path"


def test_access_token_needs_no_client_id_and_no_request():
    source = TokenSource(Connection(tenant_id="t", access_token="abc"), cache=TokenCache(None))
    assert source.token_for("https://graph.microsoft.com") == "abc"
    assert source.requests_made == 0


@pytest.mark.parametrize("option, value", [("authority_host", "http://login.example"), ("graph_endpoint", "ftp://x")])
def test_endpoints_must_be_https(option, value):
    conn = Connection(tenant_id="t", **{option: value})
    with pytest.raises(AuthError) as info:
        getattr(conn, "authority_base" if option == "authority_host" else "graph_base")
    assert info.value.option == option


def test_unknown_cloud_and_missing_ca_bundle_name_their_options(tmp_path):
    with pytest.raises(AuthError) as info:
        Connection(tenant_id="t", cloud="mars").cloud_info
    assert info.value.option == "cloud"
    with pytest.raises(AuthError) as info:
        Connection(tenant_id="t", ca_bundle=str(tmp_path / "missing.pem")).verify
    assert info.value.option == "ca_bundle"


@pytest.mark.parametrize("tenant", ["", "a/b", "with space"])
def test_malformed_tenant_is_refused_before_any_request(tenant):
    with pytest.raises(AuthError) as info:
        TokenSource(Connection(tenant_id=tenant, client_id="c", client_secret="s"), cache=TokenCache(None))
    assert info.value.option == "tenant_id"


class CountingSource(TokenSource):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.acquired = []

    def _acquire(self, resource):
        self.acquired.append(resource)
        return {"access_token": f"token-{len(self.acquired)}", "expires_in": 3599}


def test_cache_serves_the_second_task_from_disk_with_private_modes(tmp_path):
    cache_dir = tmp_path / "cache"
    conn = Connection(tenant_id="t", client_id="c", client_secret="s", token_cache_dir=str(cache_dir))
    first = CountingSource(conn)
    assert first.token_for("https://graph.microsoft.com") == "token-1"
    second = CountingSource(conn)  # a new task: a new process in real life
    assert second.token_for("https://graph.microsoft.com") == "token-1"
    assert second.acquired == []
    assert stat.S_IMODE(os.stat(cache_dir).st_mode) == 0o700
    files = list(cache_dir.iterdir())
    assert len(files) == 1 and stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert "s" not in files[0].stem and b"\"s\"" not in files[0].read_bytes()


def test_cache_separates_resources_and_credentials(tmp_path):
    conn = Connection(tenant_id="t", client_id="c", client_secret="s", token_cache_dir=str(tmp_path))
    source = CountingSource(conn)
    source.token_for("https://graph.microsoft.com")
    source.token_for("https://outlook.office365.com")
    assert len(source.acquired) == 2
    wrong = CountingSource(Connection(tenant_id="t", client_id="c", client_secret="wrong", token_cache_dir=str(tmp_path)))
    assert wrong.token_for("https://graph.microsoft.com") == "token-1"
    assert wrong.acquired == ["https://graph.microsoft.com"]  # a different secret never gets the cached token


def test_cache_ignores_tokens_close_to_expiry(tmp_path):
    cache = TokenCache(str(tmp_path))
    cache.put("k", "old", expires_on=1000 + _auth.TOKEN_MIN_REMAINING - 1)
    assert TokenCache(str(tmp_path)).get("k", now=1000) is None
    cache.put("k", "fresh", expires_on=1000 + _auth.TOKEN_MIN_REMAINING + 60)
    assert TokenCache(str(tmp_path)).get("k", now=1000) == "fresh"


def test_cache_refuses_a_shared_directory(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    os.chmod(shared, 0o777)
    TokenCache(str(shared)).put("k", "tok", expires_on=10**10)
    assert list(shared.iterdir()) == []


def test_cache_none_keeps_nothing_on_disk(tmp_path):
    cache = TokenCache.from_setting("none")
    assert cache.directory is None
    cache.put("k", "tok", expires_on=10**10)
    assert cache.get("k") == "tok"


def test_aadsts_errors_name_the_option_without_secrets():
    err = _auth._auth_error_from({  # pylint: disable=protected-access
        "error": "invalid_client",
        "error_description": "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x\r\nCorrelation ID: y",
        "error_codes": [7000215], "correlation_id": "y", "trace_id": "x"})
    assert err.option == "client_secret" and err.code == 7000215
    assert "Trace ID" not in str(err)
    assert err.as_dict()["correlation_id"] == "y"
