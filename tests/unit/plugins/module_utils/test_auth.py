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


GRAPH = "https://graph.microsoft.com"
NOBODY = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory to another user needs root")


def _plant(directory, conn):
    """A token file in ``directory`` where the cache would look for the token of ``conn`` (as someone who
    can write there could put one), and its key."""
    key = CountingSource(conn, cache=TokenCache(None)).cache_key(GRAPH)
    (directory / f"{key}.json").write_text('{"access_token": "planted", "expires_on": 9999999999}', encoding="utf-8")
    return key


def _unsafe(tmp_path, how):
    """A cache directory (returned) that someone else could have filled: open to all, below a directory open to all,
    or another user's."""
    if how == "open":
        directory = tmp_path / "open"
        directory.mkdir()
        directory.chmod(0o777)
        return directory, directory
    if how == "open-parent":
        parent = tmp_path / "open-parent"
        (parent / "cache").mkdir(parents=True, mode=0o700)
        parent.chmod(0o777)
        return parent / "cache", parent
    directory = tmp_path / "theirs"
    directory.mkdir(mode=0o700)
    os.chown(directory, NOBODY, NOBODY)
    return directory, directory


UNSAFE = ["open", "open-parent", pytest.param("theirs", marks=as_root)]


@pytest.mark.parametrize("how", UNSAFE)
def test_a_given_cache_directory_others_could_fill_fails_the_task_naming_it(tmp_path, how):
    directory, at_fault = _unsafe(tmp_path, how)
    conn = Connection(tenant_id="t", client_id="c", client_secret="s", token_cache_dir=str(directory))
    _plant(directory, conn)
    source = CountingSource(conn)
    with pytest.raises(AuthError) as info:
        source.token_for(GRAPH)
    assert info.value.option == "token_cache_dir" and str(at_fault) in str(info.value), str(info.value)
    assert str(info.value).startswith("token_cache_dir: ") and "refusing to use" in str(info.value)
    assert source.acquired == []  # nothing asked, nothing read
    assert len(list(directory.iterdir())) == 1  # and nothing written


@pytest.mark.parametrize("how", UNSAFE)
def test_the_default_cache_directory_others_could_fill_is_ignored_with_a_warning(tmp_path, monkeypatch, how):
    """The default directory's name is known in advance: another local user may have made it first. It is not used,
    and the task goes on with its tokens in memory."""
    directory, at_fault = _unsafe(tmp_path, how)
    monkeypatch.setattr(_auth, "default_cache_dir", lambda: str(directory))
    conn = Connection(tenant_id="t", client_id="c", client_secret="s")
    _plant(directory, conn)
    warnings = []
    source = CountingSource(conn, warn=warnings.append)
    assert source.token_for(GRAPH) == "token-1"  # not the planted one
    assert source.token_for(GRAPH) == "token-1" and source.acquired == [GRAPH]  # kept in memory for the task
    (warning,) = warnings
    assert warning.startswith("the default token cache directory is not used, and no token is cached for this task: ")
    assert str(at_fault) in warning and "refusing to use" in warning, warning
    assert warning.endswith(". Or set token_cache_dir (M365_CBA_TOKEN_CACHE_DIR) to a private directory."), warning
    assert len(list(directory.iterdir())) == 1


@pytest.mark.parametrize("umask", [0o000, 0o277, 0o777])
def test_the_cache_directory_is_made_0700_whatever_the_umask(tmp_path, umask):
    cache_dir = tmp_path / "made" / "cache"
    conn = Connection(tenant_id="t", client_id="c", client_secret="s", token_cache_dir=str(cache_dir))
    saved = os.umask(umask)
    try:
        CountingSource(conn).token_for(GRAPH)
    finally:
        os.umask(saved)
    assert stat.S_IMODE(os.stat(cache_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(cache_dir.parent).st_mode) == 0o755
    (token_file,) = cache_dir.iterdir()
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert CountingSource(conn).token_for(GRAPH) == "token-1"


def test_the_default_cache_directory_is_made_private(tmp_path, monkeypatch):
    monkeypatch.setattr(_auth, "default_cache_dir", lambda: str(tmp_path / "m365.cba-test"))
    warnings = []
    conn = Connection(tenant_id="t", client_id="c", client_secret="s")
    assert CountingSource(conn, warn=warnings.append).token_for(GRAPH) == "token-1"
    second = CountingSource(conn, warn=warnings.append)
    assert second.token_for(GRAPH) == "token-1" and second.acquired == [] and warnings == []
    assert stat.S_IMODE(os.stat(tmp_path / "m365.cba-test").st_mode) == 0o700


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


# -- a throttled token endpoint (429), against the emulator with real msal -----------------------------

GRAPH = "https://graph.microsoft.com"
TOKEN_PATH = r"/oauth2/v2\.0/token$"


class FakeClock:
    """A clock that moves only when the code sleeps: no real waiting in tests."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def emulator_source(emu, clock, tenant="tenant01", **kwargs):
    info = emu.tenant(tenant)
    boot = info["bootstrap"]
    conn = Connection(tenant_id=info["tenant_id"], client_id=boot["client_id"], client_certificate_path=boot["certificate_path"],
                      authority_host=emu.base_url, ca_bundle=emu.ca_bundle, token_cache_dir="none")
    return TokenSource(conn, sleep=clock.sleep, clock=clock, **kwargs)


def token_posts(emu):
    return [r for r in emu.requests() if r["method"] == "POST" and r["path"].endswith("/oauth2/v2.0/token")]


# -- the certificate's key: loaded by msal only, once per token request ---------------------------------

@pytest.fixture
def key_loads(monkeypatch):
    """Every load of a private key (each validates an RSA key: tens of milliseconds of CPU)."""
    from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel
    from cryptography.hazmat.primitives.serialization import pkcs12  # pylint: disable=import-outside-toplevel

    loads = []
    # PyJWT, which signs msal's assertion, imported the loader by its name.
    jwt_algorithms = pytest.importorskip("jwt.algorithms")
    for module, name in ((serialization, "load_pem_private_key"), (jwt_algorithms, "load_pem_private_key"),
                         (pkcs12, "load_key_and_certificates")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _real=real, _name=name, **k: loads.append(_name) or _real(*a, **k))
    return loads


def certificate_connection(emu, tmp_path, form, **kwargs):
    boot = emu.tenant("tenant01")["bootstrap"]
    path, password = (boot["pfx_path"], boot["pfx_password"]) if form == "pfx" else (boot["certificate_path"], None)
    options = dict(tenant_id=emu.tenant("tenant01")["tenant_id"], client_id=boot["client_id"], client_certificate_path=path,
                   client_certificate_password=password, authority_host=emu.base_url, ca_bundle=emu.ca_bundle,
                   token_cache_dir=str(tmp_path / "cache"))
    options.update(kwargs)
    return Connection(**options)


@pytest.mark.parametrize("form", ["pfx", "pem"])
def test_the_key_is_loaded_once_per_token_request_and_not_for_a_cached_token(emu, tmp_path, key_loads, form):
    conn = certificate_connection(emu, tmp_path, form)
    first = TokenSource(conn)
    assert key_loads == []  # choosing and checking the credential reads the file, loads no key
    assert _auth.jwt_claims(first.token_for(GRAPH))["aud"].rstrip("/") == GRAPH
    assert len(key_loads) == 1 and first.requests_made == 1  # msal's own, to sign the assertion
    second = TokenSource(conn)  # the next task
    second.token_for(GRAPH)
    assert len(key_loads) == 1 and second.requests_made == 0
    assert len(token_posts(emu)) == 1


def _pem_bundle(key, certificate_pem):
    from ansible_collections.m365.cba.plugins.module_utils import _certs  # pylint: disable=import-outside-toplevel

    return _certs.private_key_pem(key) + certificate_pem


@pytest.mark.parametrize("fault, option, words", [
    ("wrong password", "client_certificate_password", "does not open"),
    ("another key", "client_certificate_path", "does not belong to the certificate"),
    ("not RSA", "client_certificate_path", "not RSA"),
    ("no key", "client_certificate_path", "no private key"),
])
def test_a_certificate_msal_cannot_use_is_named(emu, tmp_path, fault, option, words):
    from cryptography.hazmat.primitives.asymmetric import ec  # pylint: disable=import-outside-toplevel

    from ansible_collections.m365.cba.plugins.module_utils import _certs  # pylint: disable=import-outside-toplevel

    certificate_pem = open(emu.tenant("tenant01")["bootstrap"]["public_certificate_path"], "rb").read()
    bundle = tmp_path / "bundle.pem"
    if fault == "another key":
        bundle.write_bytes(_pem_bundle(_certs.generate_private_key(2048), certificate_pem))
    elif fault == "not RSA":
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = _certs.build_self_signed(key, _certs.CertificateRequest(pfx_password="an unused password, long enough"))
        bundle.write_bytes(_pem_bundle(key, _certs.certificate_pem(certificate)))
    elif fault == "no key":
        bundle.write_bytes(certificate_pem)
    conn = (certificate_connection(emu, tmp_path, "pfx", client_certificate_password="not the password of that file")
            if fault == "wrong password" else certificate_connection(emu, tmp_path, "pem", client_certificate_path=str(bundle)))
    with pytest.raises(AuthError) as info:
        TokenSource(conn).token_for(GRAPH)
    assert info.value.option == option and words in str(info.value), str(info.value)


def test_a_certificate_file_changed_since_the_cached_token_is_read_again(emu, tmp_path):
    boot = emu.tenant("tenant01")["bootstrap"]
    path = tmp_path / "bootstrap.pem"
    path.write_bytes(open(boot["certificate_path"], "rb").read())
    conn = certificate_connection(emu, tmp_path, "pem", client_certificate_path=str(path))
    TokenSource(conn).token_for(GRAPH)
    path.write_bytes(b"not a certificate any more")
    with pytest.raises(AuthError) as info:
        TokenSource(conn).token_for(GRAPH)
    assert info.value.option == "client_certificate_path"
    assert len(token_posts(emu)) == 1


def test_token_429_is_retried_after_retry_after_with_a_new_msal_client(emu):
    emu.add_faults([{"method": "POST", "path": TOKEN_PATH, "status": 429, "retry_after": 7, "count": 1}])
    clock = FakeClock()
    source = emulator_source(emu, clock)
    claims = _auth.jwt_claims(source.token_for(GRAPH))
    assert claims["aud"].rstrip("/") == GRAPH
    # One wait, at least what Retry-After asked and at most 10 % more (jitter).
    assert len(clock.sleeps) == 1 and 7 <= clock.sleeps[0] <= 7.7
    posts = token_posts(emu)
    assert [p["status"] for p in posts] == [429, 200]  # the retry reached the endpoint (no msal replay)
    assert source.requests_made == 2


def test_token_429_forever_fails_clearly_after_bounded_attempts(emu):
    emu.add_faults([{"method": "POST", "path": TOKEN_PATH, "status": 429, "retry_after": 2}])
    clock = FakeClock()
    source = emulator_source(emu, clock)
    with pytest.raises(AuthError) as info:
        source.token_for(GRAPH)
    err = info.value
    posts = token_posts(emu)
    # Retry-After 2 s: the attempt bound (12) ends it before the 90 s budget would.
    assert len(posts) == _auth.TOKEN_ATTEMPTS and {p["status"] for p in posts} == {429}
    assert len(clock.sleeps) == _auth.TOKEN_ATTEMPTS - 1 and all(2 <= s <= 2.2 for s in clock.sleeps)
    assert err.status == 429 and err.code == 90033 and err.error == "temporarily_unavailable"
    # Entra's x-ms-request-id header is the trace id of the answer body.
    assert err.request_id and err.request_id == err.trace_id
    text = str(err)
    assert "HTTP 429" in text and "AADSTS90033" in text and err.request_id in text
    assert f"{_auth.TOKEN_ATTEMPTS} attempts" in text
    assert err.as_dict()["status"] == 429 and err.as_dict()["request_id"] == err.request_id
    assert err.option is None  # no option of the task is at fault


def test_token_retries_go_out_within_the_budget_counted_from_the_first_request(emu):
    """An attempt takes time before its request goes out (a new msal client, the key, the assertion): a
    retry is sent only when, after its wait and as long again as the last attempt took, it is still
    within the budget. Here a wait of 1 s fits twice in 2.9 s, but the third request would go out late."""
    emu.add_faults([{"method": "POST", "path": TOKEN_PATH, "status": 429, "retry_after": 1}])
    clock = FakeClock()
    source = emulator_source(emu, clock, policy=_auth.token_policy(2.9))
    sent = []
    real = source._msal_app  # pylint: disable=protected-access

    def slow_msal_app():
        clock.now += 0.5 if sent else 0.0  # the first attempt is quick, the others are not
        sent.append(clock.now)
        return real()

    source._msal_app = slow_msal_app  # pylint: disable=protected-access
    with pytest.raises(AuthError):
        source.token_for(GRAPH)
    assert len(sent) == len(token_posts(emu)) == 2
    assert sent[-1] - sent[0] <= 2.9, sent


def test_token_429_waits_stay_within_the_policy(emu):
    """A long Retry-After is clamped to the cap, and no wait would end past total_timeout."""
    emu.add_faults([{"method": "POST", "path": TOKEN_PATH, "status": 429, "retry_after": 3600}])
    clock = FakeClock()
    policy = _auth.RetryPolicy(max_attempts=10, total_timeout=100, retry_after_cap=40)
    source = emulator_source(emu, clock, policy=policy)
    with pytest.raises(AuthError) as info:
        source.token_for(GRAPH)
    assert clock.sleeps == [40, 40]  # a third 40 s wait would pass 100 s
    assert len(token_posts(emu)) == 3
    assert "Retry-After 3600 s" in str(info.value)


def test_token_429_without_retry_after_backs_off(emu):
    emu.add_faults([{"method": "POST", "path": TOKEN_PATH, "status": 429, "count": 2}])
    clock = FakeClock()
    source = emulator_source(emu, clock)
    assert source.token_for(GRAPH)
    assert len(clock.sleeps) == 2
    assert 1 <= clock.sleeps[0] <= 1.1 and 2 <= clock.sleeps[1] <= 2.2  # doubled, with up to 10 % jitter


def test_token_400_is_not_retried(emu):
    emu.add_faults([{"method": "POST", "path": TOKEN_PATH, "status": 400, "code": "invalid_request",
                     "message": "AADSTS900144: The request body must contain the following parameter: 'grant_type'."}])
    clock = FakeClock()
    with pytest.raises(AuthError):
        emulator_source(emu, clock).token_for(GRAPH)
    assert clock.sleeps == [] and len(token_posts(emu)) == 1


PLAIN_429 = {"method": "POST", "path": TOKEN_PATH, "status": 429, "retry_after": 60, "body_text": "Too Many Requests"}


@pytest.mark.parametrize("count, succeeds", [(1, True), (100, False)])
def test_token_429_with_a_plain_text_body(emu, count, succeeds):
    """Entra's bare "429 Too Many Requests" (plain text, Retry-After: 60), as seen in
    AzureAD/microsoft-authentication-library-for-dotnet#2855: msal raises ValueError on a body that
    is not JSON; that is throttling, not a wrong tenant."""
    emu.add_faults([dict(PLAIN_429, count=count)])
    clock = FakeClock()
    source = emulator_source(emu, clock)
    if succeeds:
        assert source.token_for(GRAPH)
        assert len(clock.sleeps) == 1 and 60 <= clock.sleeps[0] <= _auth.TOKEN_POLICY.retry_after_cap
        assert [p["status"] for p in token_posts(emu)] == [429, 200]
        return
    with pytest.raises(AuthError) as err:
        source.token_for(GRAPH)
    posts = token_posts(emu)
    assert err.value.status == 429 and err.value.option != "tenant_id"
    # The request id is the last throttled answer's x-ms-request-id, as the emulator logged it.
    assert err.value.request_id == posts[-1]["request_id"]
    assert "HTTP 429" in str(err.value) and posts[-1]["request_id"] in str(err.value)
    assert "HTTP 429 Too Many Requests (request-id:" in str(err.value)
    assert source.requests_made <= _auth.TOKEN_ATTEMPTS and len(posts) == source.requests_made


def test_token_5xx_and_a_dropped_connection_are_retried(emu):
    emu.add_faults([{"method": "POST", "path": TOKEN_PATH, "status": 503, "count": 1},
                    {"method": "POST", "path": TOKEN_PATH, "drop": True, "count": 1}])
    clock = FakeClock()
    assert emulator_source(emu, clock).token_for(GRAPH)
    assert len(clock.sleeps) == 2 and 1 <= clock.sleeps[0] <= 1.1 and 2 <= clock.sleeps[1] <= 2.2
    assert [p["status"] for p in token_posts(emu)] == [503, None, 200]


def test_token_5xx_forever_gives_up_after_the_attempts(emu):
    emu.add_faults([{"method": "POST", "path": TOKEN_PATH, "status": 500, "retry_after": 3}])
    clock = FakeClock()
    with pytest.raises(AuthError) as info:
        emulator_source(emu, clock).token_for(GRAPH)
    assert "answered 500" in str(info.value)
    assert len(token_posts(emu)) == _auth.TOKEN_ATTEMPTS  # 11 waits of 3 s fit the budget
    assert all(3 <= s <= 3.3 for s in clock.sleeps)  # a 5xx Retry-After is honoured too


# -- a sign-in outage (503 for a while), within the retry budget -------------------------------------

def test_token_503_outage_of_half_a_minute_is_ridden_out_by_default(emu):
    """Entra answering 503 for about 40 s: the default budget outlasts it."""
    emu.add_faults([{"method": "POST", "path": TOKEN_PATH, "status": 503, "count": 7}])
    clock = FakeClock()
    source = emulator_source(emu, clock)
    assert _auth.jwt_claims(source.token_for(GRAPH))["aud"].rstrip("/") == GRAPH
    statuses = [p["status"] for p in token_posts(emu)]
    assert statuses == [503] * 7 + [200] and source.requests_made == 8
    # 1, 2, 4 s (each up to 10 % more), then the 8 s cap.
    assert [round(s) for s in clock.sleeps] == [1, 2, 4, 8, 8, 8, 8] and max(clock.sleeps) <= 8
    assert sum(clock.sleeps) <= _auth.DEFAULT_TOKEN_RETRY_TIMEOUT


def test_token_503_that_outlasts_the_budget_names_the_service_not_an_option(emu):
    emu.add_faults([{"method": "POST", "path": TOKEN_PATH, "status": 503}])
    clock = FakeClock()
    source = emulator_source(emu, clock, tenant="tenant01")
    source.policy = _auth.token_policy(5)  # a 5 s budget: 1 + 2 s of waiting, then 4 s would pass it
    with pytest.raises(AuthError) as info:
        source.token_for(GRAPH)
    err = info.value
    posts = token_posts(emu)
    assert [p["status"] for p in posts] == [503, 503, 503] and len(clock.sleeps) == 2
    assert err.option is None and not str(err).startswith("authority_host")
    text = str(err)
    assert text.startswith("the sign-in service answered 503 temporarily_unavailable: AADSTS90033")
    assert err.code == 90033 and err.status == 503
    assert err.request_id == posts[-1]["request_id"] and f"(request-id: {posts[-1]['request_id']})" in text
    assert "gave up after 3 attempts" in text
    assert "MsalServiceError" not in text


@pytest.mark.parametrize("setting, budget", [(None, 90.0), ("0", 0.0), ("12", 12.0), ("2.5", 2.5)])
def test_token_retry_budget_comes_from_the_option_or_the_environment(monkeypatch, setting, budget):
    if setting is None:
        monkeypatch.delenv(_auth.TOKEN_RETRY_TIMEOUT_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(_auth.TOKEN_RETRY_TIMEOUT_VARIABLE, setting)
    conn = Connection(tenant_id="t", client_id="c", client_secret="s", token_cache_dir="none")
    assert conn.token_retry_budget == budget
    assert TokenSource(conn).policy.total_timeout == budget
    # The option wins over the environment.
    assert Connection(tenant_id="t", token_retry_timeout=7).token_retry_budget == 7.0


@pytest.mark.parametrize("value", [-1, "soon", 3601])
def test_token_retry_budget_out_of_range_names_the_option(value):
    with pytest.raises(AuthError) as info:
        TokenSource(Connection(tenant_id="t", client_id="c", client_secret="s", token_retry_timeout=value), cache=TokenCache(None))
    assert info.value.option == "token_retry_timeout"


def test_token_budget_zero_asks_once(emu):
    emu.add_faults([{"method": "POST", "path": TOKEN_PATH, "status": 503}])
    clock = FakeClock()
    source = emulator_source(emu, clock)
    source.policy = _auth.token_policy(0)
    with pytest.raises(AuthError) as info:
        source.token_for(GRAPH)
    assert len(token_posts(emu)) == 1 and clock.sleeps == []
    assert "the sign-in service answered 503" in str(info.value)


def test_token_dropped_connections_give_up_naming_the_service(emu):
    emu.add_faults([{"method": "POST", "path": TOKEN_PATH, "drop": True}])
    clock = FakeClock()
    source = emulator_source(emu, clock)
    source.policy = _auth.token_policy(4)
    with pytest.raises(AuthError) as info:
        source.token_for(GRAPH)
    assert [p["status"] for p in token_posts(emu)] == [None, None, None]
    assert info.value.option is None
    assert str(info.value).startswith(f"the sign-in service at {emu.base_url} dropped the connection")


def test_a_refused_connection_is_not_retried_and_names_authority_host():
    import socket  # pylint: disable=import-outside-toplevel

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once closed
    clock = FakeClock()
    conn = Connection(tenant_id="contoso.onmicrosoft.com", client_id="c", client_secret="s",
                      authority_host=f"https://127.0.0.1:{port}", token_cache_dir="none")
    with pytest.raises(AuthError) as info:
        TokenSource(conn, sleep=clock.sleep, clock=clock).token_for(GRAPH)
    assert clock.sleeps == []  # configuration, not an outage: no minute of waiting
    assert info.value.option in ("authority_host", "tenant_id")


# -- a known cloud with the endpoints of another ------------------------------------------------------

@pytest.mark.parametrize("cloud, option, url, other", [
    ("usgov_high", "graph_endpoint", "https://graph.microsoft.com", "global"),
    ("usgov_high", "authority_host", "https://login.microsoftonline.com/", "global"),
    (None, "graph_endpoint", "https://graph.microsoft.us", "usgov_high"),
    ("usgov_dod", "graph_endpoint", "https://graph.microsoft.us", "usgov_high"),
    ("china", "authority_host", "https://login.microsoftonline.us", "usgov_high"),
    ("global", "authority_host", "https://graph.microsoft.com", "same cloud"),
])
def test_a_known_host_of_another_cloud_is_refused_naming_both_options(cloud, option, url, other):
    params = {"tenant_id": "t", "client_id": "c", "client_secret": "s", "cloud": cloud, option: url}
    with pytest.raises(AuthError) as info:
        Connection.from_params(params)
    err = info.value
    assert err.option == option and str(err).startswith(f"{option}: {url} is the ")
    assert "cloud is " in str(err) and other in str(err)
    # TokenSource checks a connection built any other way too, before any request.
    with pytest.raises(AuthError):
        TokenSource(Connection(**params), cache=TokenCache(None))


@pytest.mark.parametrize("cloud, option, url", [
    ("usgov_high", "graph_endpoint", "https://graph.microsoft.us"),
    ("usgov_dod", "authority_host", "https://login.microsoftonline.us"),
    ("usgov_high", "authority_host", "https://127.0.0.1:8443"),
    (None, "graph_endpoint", "https://graph.microsoft.com/"),
    ("china", "graph_endpoint", "https://graph.contoso-proxy.example"),
])
def test_own_cloud_hosts_and_private_endpoints_pass(cloud, option, url):
    connection = Connection.from_params({"tenant_id": "t", "cloud": cloud, option: url})
    assert getattr(connection, option) == url
