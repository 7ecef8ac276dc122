# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Credentials and access tokens for Microsoft Entra ID. Private to m365.cba; no stable API.

Three ways to sign in, each a small class picked from the options given: a client secret, a client
certificate (PEM with key, or PFX) and a pre-acquired access token. Tokens come from msal, which is
imported only when a token really has to be requested: a token still valid in the token cache
directory is used as it is. The cache holds one small file per authority, tenant, client,
credential and resource, written atomically with mode 0600 in a 0700 directory; a task only reuses
a token acquired with the very credential it presents. The directory, and every directory above it,
must pass OpenSSH's StrictModes rules (module_utils._secure_fs) before anything is read from it or
written to it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import re
import tempfile
import time
from dataclasses import dataclass

from . import _secure_fs
from ._clouds import endpoint_mismatch, get_cloud
from ._graph import RetryPolicy, new_session, parse_retry_after

# A cached token is used only while it has at least this many seconds left.
TOKEN_MIN_REMAINING = 300
# Token requests that failed for a passing reason (429, 5xx, a dropped connection) are asked again
# until the retry budget is spent: this many seconds from the first request, by default (the
# ``token_retry_timeout`` option, else the M365_CBA_TOKEN_RETRY_TIMEOUT variable). With the waits
# below, a sign-in outage is retried for about a minute (the attempt bound ends it after ~70 s of
# waiting), and one throttling answer with Entra's usual "Retry-After: 60" still fits.
DEFAULT_TOKEN_RETRY_TIMEOUT = 90
TOKEN_RETRY_TIMEOUT_VARIABLE = "M365_CBA_TOKEN_RETRY_TIMEOUT"
# At most this many attempts, whatever the budget; without Retry-After the first wait is
# TOKEN_RETRY_WAIT, doubled each time (plus up to 10 % jitter, so that many tasks failing together do
# not ask again in step), never more than TOKEN_RETRY_WAIT_CAP.
TOKEN_ATTEMPTS = 12
TOKEN_RETRY_WAIT = 1.0
TOKEN_RETRY_WAIT_CAP = 8.0
# Entra answers a throttled client-credentials request with 429 and "Retry-After: 60", so a
# Retry-After is honoured up to 60 s (plus jitter, clamped) as long as it fits the budget.
TOKEN_RETRY_AFTER_CAP = 60.0


def token_policy(timeout=DEFAULT_TOKEN_RETRY_TIMEOUT):
    """The retry policy of token requests, with ``timeout`` seconds of waiting in all."""
    return RetryPolicy(max_attempts=TOKEN_ATTEMPTS, total_timeout=float(timeout), retry_after_cap=TOKEN_RETRY_AFTER_CAP,
                       backoff_base=TOKEN_RETRY_WAIT, backoff_cap=TOKEN_RETRY_WAIT_CAP)


TOKEN_POLICY = token_policy()


class AuthError(Exception):
    """Signing in failed. ``option`` names the option at fault; ``code`` is the AADSTS number."""

    def __init__(self, message, option=None, code=None, error=None, correlation_id=None, trace_id=None, status=None,
                 request_id=None):
        super().__init__(message)
        self.message = message
        self.option = option
        self.code = code
        self.error = error
        self.correlation_id = correlation_id
        self.trace_id = trace_id
        self.status = status
        self.request_id = request_id

    def __str__(self):
        prefix = f"{self.option}: " if self.option else ""
        return prefix + self.message

    def as_dict(self):
        return {"option": self.option, "error": self.error, "aadsts": self.code, "status": self.status,
                "request_id": self.request_id, "correlation_id": self.correlation_id, "trace_id": self.trace_id}


@dataclass
class Connection:
    """The connection and sign-in settings every module shares (the ``graph_auth`` options)."""

    tenant_id: str
    client_id: str | None = None
    client_secret: str | None = None
    client_certificate_path: str | None = None
    client_certificate_password: str | None = None
    access_token: str | None = None
    cloud: str | None = None
    authority_host: str | None = None
    graph_endpoint: str | None = None
    ca_bundle: str | None = None
    validate_certs: bool = True
    token_cache_dir: str | None = None
    token_retry_timeout: float | None = None

    @classmethod
    def from_params(cls, params):
        connection = cls(**{name: params.get(name) for name in cls.__dataclass_fields__})  # pylint: disable=no-member
        connection.check_cloud_endpoints()
        return connection

    def check_cloud_endpoints(self):
        """Refuse an authority_host or graph_endpoint that is a known host of another cloud than
        ``cloud`` (the token would be asked for the wrong audience: AADSTS500011 later)."""
        for option, url in (("authority_host", self.authority_host), ("graph_endpoint", self.graph_endpoint)):
            problem = endpoint_mismatch(self.cloud, option, url)
            if problem:
                raise AuthError(problem, option=option)

    @property
    def cloud_info(self):
        try:
            return get_cloud(self.cloud)
        except ValueError as exc:
            raise AuthError(str(exc), option="cloud") from None

    @property
    def token_retry_budget(self):
        """Seconds within which a token request may be asked again: the ``token_retry_timeout``
        option, else the M365_CBA_TOKEN_RETRY_TIMEOUT variable, else DEFAULT_TOKEN_RETRY_TIMEOUT."""
        value = self.token_retry_timeout
        if value is None or value == "":
            value = os.environ.get(TOKEN_RETRY_TIMEOUT_VARIABLE) or None
        if value is None:
            return float(DEFAULT_TOKEN_RETRY_TIMEOUT)
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            seconds = -1.0
        if not 0 <= seconds <= 3600:
            raise AuthError(f"must be a number of seconds from 0 (do not retry) to 3600, got {value!r}",
                            option="token_retry_timeout")
        return seconds

    @property
    def authority_base(self):
        return _https(self.authority_host, "authority_host") if self.authority_host else self.cloud_info.authority_host

    @property
    def graph_base(self):
        return _https(self.graph_endpoint, "graph_endpoint") if self.graph_endpoint else self.cloud_info.graph_endpoint

    @property
    def verify(self):
        """What ``requests`` gets as ``verify``: the CA bundle path, or a bool."""
        if self.ca_bundle:
            if not os.path.isfile(self.ca_bundle):
                raise AuthError(f"CA bundle not found: {self.ca_bundle}", option="ca_bundle")
            try:
                with open(self.ca_bundle, "rb") as handle:
                    holds_certificate = b"-----BEGIN CERTIFICATE-----" in handle.read()
            except OSError as exc:
                raise AuthError(f"cannot read {self.ca_bundle}: {exc.strerror}", option="ca_bundle") from None
            if not holds_certificate:
                raise AuthError(f"{self.ca_bundle} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", option="ca_bundle")
            return self.ca_bundle
        return bool(self.validate_certs)


def _https(url, option):
    url = url.rstrip("/")
    if not url.startswith("https://"):
        raise AuthError(f"must be an https:// URL, got '{url}'", option=option)
    return url


def _tenant_segment(tenant_id, option="tenant_id"):
    tenant = (tenant_id or "").strip()
    if not tenant or "/" in tenant or any(c.isspace() for c in tenant):
        raise AuthError(f"not a tenant ID or domain name: '{tenant_id}'", option=option)
    return tenant


class Credential:
    """One way of signing in. ``identity()`` fingerprints it for the token cache."""

    kind = "none"

    def __init__(self, connection):
        self.connection = connection

    def validate(self):
        """Check the inputs before any network call; raise AuthError naming the option."""

    def prepare(self):
        """Ready the credential to sign in (only when no cached token serves); raise AuthError naming the option."""

    def explain(self):
        """After a failed sign-in: raise the AuthError naming the option when the credential itself is at fault."""

    def identity(self):
        raise NotImplementedError

    def msal_credential(self):
        raise NotImplementedError


class SecretCredential(Credential):
    kind = "secret"

    def validate(self):
        if not self.connection.client_id:
            raise AuthError("client_id is required with client_secret", option="client_id")

    def identity(self):
        return hashlib.sha256(("secret:" + self.connection.client_secret).encode("utf-8")).hexdigest()

    def msal_credential(self):
        return self.connection.client_secret


class CertificateCredential(Credential):
    """A certificate and its private key, in a PFX file or a PEM bundle.

    Its key is loaded by msal only, when a token is asked for: loading an RSA key validates it, which
    costs tens of milliseconds of CPU, and a cached token was got with these very bytes and password.
    When signing in fails, ``explain()`` loads the file itself to name what is wrong with it.
    """

    kind = "certificate"

    def __init__(self, connection):
        super().__init__(connection)
        self._data = None
        self._identity = None
        self._msal = None

    def validate(self):
        # The file must be readable (its bytes key the token cache).
        if not self.connection.client_id:
            raise AuthError("client_id is required with client_certificate_path", option="client_id")
        self.identity()

    def prepare(self):
        self.msal_credential()

    def explain(self):
        from ._certs import CertificateError, load_credential_data  # pylint: disable=import-outside-toplevel

        self.identity()
        try:
            load_credential_data(self._data, self.connection.client_certificate_password)
        except CertificateError as exc:
            raise AuthError(exc.args[0], option=exc.option) from None

    def identity(self):
        # The file's bytes (not its name) and the password: a changed file is a new identity.
        if self._identity is None:
            from ._certs import CertificateError, read_credential_file  # pylint: disable=import-outside-toplevel

            try:
                self._data = read_credential_file(self.connection.client_certificate_path)
            except CertificateError as exc:
                raise AuthError(exc.args[0], option=exc.option) from None
            digest = hashlib.sha256(b"certificate:")
            digest.update(self._data)
            digest.update((self.connection.client_certificate_password or "").encode("utf-8"))
            self._identity = digest.hexdigest()
        return self._identity

    def msal_credential(self):
        """msal's documented forms: a PFX file by path, or the PEM key and certificate (msal signs PS256
        with the certificate's SHA-256 thumbprint, x5t#S256, either way, and sends it as x5c)."""
        if self._msal is None:
            from ._certs import CertificateError, split_pem_bundle  # pylint: disable=import-outside-toplevel

            self.identity()
            password = self.connection.client_certificate_password or None
            if b"-----BEGIN" in self._data:
                try:
                    key, certificate = split_pem_bundle(self._data)
                except CertificateError as exc:
                    raise AuthError(exc.args[0], option=exc.option) from None
                credential = {"private_key": key, "public_certificate": certificate}
            else:
                credential = {"private_key_pfx_path": self.connection.client_certificate_path, "public_certificate": True}
            if password:
                credential["passphrase"] = password
            self._msal = credential
        return self._msal


class TokenCredential(Credential):
    kind = "access_token"

    def identity(self):
        return hashlib.sha256(("token:" + self.connection.access_token).encode("utf-8")).hexdigest()


def credential_for(connection):
    """Pick the credential the options ask for (the argument spec makes them mutually exclusive)."""
    if connection.access_token:
        cred = TokenCredential(connection)
    elif connection.client_certificate_path:
        cred = CertificateCredential(connection)
    elif connection.client_secret:
        cred = SecretCredential(connection)
    else:
        raise AuthError(
            "no credential given: set client_secret, client_certificate_path or access_token "
            "(or AZURE_CLIENT_SECRET / AZURE_CLIENT_CERTIFICATE_PATH / M365_CBA_ACCESS_TOKEN)",
            option="client_secret",
        )
    cred.validate()
    return cred


def default_cache_dir():
    return os.path.join(tempfile.gettempdir(), f"m365.cba-{os.getuid()}")


class TokenCache:
    """Access tokens on disk until shortly before they expire. ``None`` directory = memory only.

    Before its first use the directory is made (mode 0700 whatever the umask) or checked: it must be
    owned by the running user and not writable by group or others, and every directory above it
    owned by root or that user and not writable by group or others unless sticky (``_secure_fs``).
    A directory that fails is never read or written. When it was given (``token_cache_dir``,
    ``explicit``), the task fails naming it: whoever set it can fix it. The default one is ignored
    with a warning instead, and tokens are kept in memory only: its name is known in advance, and
    any local user can make it first in the shared temporary directory, which must neither hand
    them our tokens nor let them stop our runs.
    """

    def __init__(self, directory, explicit=True, warn=None):
        self.directory = directory
        self.explicit = explicit
        self._warn = warn
        self._checked = directory is None
        self._memory = {}

    @classmethod
    def from_setting(cls, value, warn=None):
        if value is None or value == "":
            return cls(default_cache_dir(), explicit=False, warn=warn)
        if str(value).lower() == "none":
            return cls(None)
        return cls(os.path.expanduser(str(value)), warn=warn)

    def _path(self, key):
        return os.path.join(self.directory, key + ".json")

    def _usable(self):
        """The directory, made or checked once (see the class); None when tokens stay in memory."""
        if not self._checked:
            self._checked = True
            try:
                _secure_fs.make_private_dirs(self.directory, what="token cache directory")
            except _secure_fs.UnsafePathError as exc:
                if self.explicit:
                    raise AuthError(str(exc), option="token_cache_dir") from None
                if self._warn:
                    self._warn(f"the default token cache directory is not used, and no token is cached for this task: "
                               f"{exc}. Or set token_cache_dir (M365_CBA_TOKEN_CACHE_DIR) to a private directory.")
                self.directory = None
            except OSError:
                # A cache that cannot be made only costs another token request next time.
                self.directory = None
        return self.directory

    def get(self, key, now=None):
        now = time.time() if now is None else now
        entry = self._memory.get(key)
        if entry is None and self._usable():
            try:
                with open(self._path(key), encoding="utf-8") as handle:
                    entry = json.load(handle)
            except (OSError, ValueError):
                entry = None
        if isinstance(entry, dict) and entry.get("expires_on", 0) - TOKEN_MIN_REMAINING > now and entry.get("access_token"):
            self._memory[key] = entry
            return entry["access_token"]
        return None

    def put(self, key, token, expires_on):
        entry = {"access_token": token, "expires_on": int(expires_on)}
        self._memory[key] = entry
        if not self._usable():
            return
        try:
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
            try:
                os.fchmod(fd, 0o600)  # mkstemp's 0600 less the umask: exactly 0600
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(entry, handle)
                os.replace(tmp, self._path(key))
            except BaseException:
                _unlink_quietly(tmp)
                raise
        except OSError:
            # A cache that cannot be written only costs another token request next time.
            pass


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


class TokenSource:
    """Access tokens for one connection: ``token_for(resource)`` returns a bearer token string."""

    def __init__(self, connection, cache=None, credential=None, policy=None, sleep=time.sleep, clock=time.monotonic, rng=None,
                 warn=None):
        self.connection = connection
        connection.check_cloud_endpoints()
        self.credential = credential or credential_for(connection)
        self.tenant = _tenant_segment(connection.tenant_id)
        self.cache = cache if cache is not None else TokenCache.from_setting(connection.token_cache_dir, warn=warn)
        self.policy = policy or token_policy(connection.token_retry_budget)
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._app = None
        self._answers = []
        self.requests_made = 0

    def cache_key(self, resource):
        parts = [self.connection.authority_base, self.tenant.lower(), (self.connection.client_id or "").lower(),
                 self.credential.identity(), resource.rstrip("/")]
        return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:40]

    def token_for(self, resource):
        if isinstance(self.credential, TokenCredential):
            return self.connection.access_token
        key = self.cache_key(resource)
        token = self.cache.get(key)
        if token:
            return token
        self.credential.prepare()
        result = self._acquire(resource)
        token = result["access_token"]
        self.cache.put(key, token, time.time() + int(result.get("expires_in", 0)))
        return token

    def _msal_app(self):
        if self._app is None:
            import msal  # pylint: disable=import-outside-toplevel

            kwargs = {}
            if self.connection.authority_host:
                # A private or test endpoint: never ask login.microsoftonline.com about it.
                kwargs["instance_discovery"] = False
            self._app = msal.ConfidentialClientApplication(
                self.connection.client_id,
                client_credential=self.credential.msal_credential(),
                authority=f"{self.connection.authority_base}/{self.tenant}",
                http_client=self._http_session(),
                timeout=30,
                **kwargs,
            )
        return self._app

    def _http_session(self):
        """The requests session msal talks through; it notes each error answer (status and
        headers, never a body with a token), which msal would otherwise not tell."""
        session = new_session(self.connection.verify, retries=1)
        session.hooks["response"].append(self._note_answer)
        return session

    def _note_answer(self, response, *args, **kwargs):  # pylint: disable=unused-argument
        if response.status_code >= 400:
            self._answers.append(_Answer.of(response))

    def _request_token(self, scopes):
        """``acquire_token_for_client``, asked again (bounded by ``self.policy``) when the token
        endpoint answered 429 or 5xx or the connection dropped, waiting what Retry-After asks.

        msal returns a 429 answer's JSON body as an error dict without its status or headers (and
        raises ValueError when that body is not JSON), and raises MsalServiceError on a 5xx answer,
        so the status comes from the session's own record of the answers. msal also replays a
        429/5xx answer from a per-client cache for its Retry-After (5 s without one), so a retry
        uses a new msal client. A request is asked again only when it can still go out within the
        budget, counted from the first request: the wait, and as long again as the last attempt took
        (a new msal client, the key, the assertion), must fit in what is left.
        """
        started = self._clock()
        attempt = 0
        while True:
            attempt_started = self._clock()
            self._answers = []
            self.requests_made += 1
            try:
                result = self._msal_app().acquire_token_for_client(scopes=scopes)
            except Exception as exc:  # pylint: disable=broad-exception-caught
                answer = self._passing_answer()
                if answer is None and not _transient(exc):
                    raise
                failure, result = exc, None
            else:
                answer = self._passing_answer()
                if "access_token" in result or answer is None:
                    return result
                failure = None
            retry_after = answer.retry_after if answer else None
            wait = (self.policy.honour(retry_after, self._rng) if retry_after is not None
                    else min(self.policy.backoff_cap, self.policy.backoff_base * 2 ** attempt * (1 + self._rng.uniform(0, 0.1))))
            attempt += 1
            now = self._clock()
            elapsed = now - started
            if attempt >= self.policy.max_attempts or elapsed + wait + (now - attempt_started) > self.policy.total_timeout:
                if answer is not None:
                    raise _unavailable_error(answer, result, attempt, elapsed)
                raise _dropped_error(failure, self.connection.authority_base, attempt, elapsed)
            self._app = None
            self._sleep(wait)

    def _passing_answer(self):
        """The last answer of this attempt that asking again may cure (429 or 5xx), if any."""
        for answer in reversed(self._answers):
            if answer.status == 429 or answer.status >= 500:
                return answer
        return None

    def _acquire(self, resource):
        from ._clouds import Cloud  # pylint: disable=import-outside-toplevel

        try:
            result = self._request_token([Cloud.scope_for(resource)])
        except AuthError:
            raise
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # msal could not use the certificate file (a wrong password, a key of another kind): name it.
            self.credential.explain()
            if isinstance(exc, ValueError):
                # msal raises ValueError when the authority's discovery document cannot be read,
                # which is what an unknown tenant or a wrong authority host looks like.
                raise AuthError(_clean(str(exc)), option="tenant_id") from None
            # A certificate the endpoint's TLS chain does not verify against is a ca_bundle matter.
            option = "ca_bundle" if "SSLError" in type(exc).__name__ or "CERTIFICATE_VERIFY_FAILED" in str(exc) else "authority_host"
            raise AuthError(f"token request to {self.connection.authority_base} failed: {type(exc).__name__}: {_clean(str(exc))}",
                            option=option) from None
        if "access_token" in result:
            return result
        # Refused: a key that does not belong to the certificate is named as such, not by its AADSTS code.
        self.credential.explain()
        raise _auth_error_from(result)


# How much of an error answer's text body an error message quotes.
ANSWER_TEXT_LIMIT = 120


@dataclass
class _Answer:
    """What is kept of an error answer of the sign-in host: never its body beyond the error fields
    (or, for a body that is not JSON, such as Entra's bare "Too Many Requests", its first line)."""

    status: int
    retry_after: float | None = None
    request_id: str | None = None
    body: dict | None = None
    text: str | None = None

    @classmethod
    def of(cls, response):
        text = None
        try:
            body = response.json()
        except ValueError:
            body = None
            lines = (response.text or "").strip().splitlines()
            text = lines[0][:ANSWER_TEXT_LIMIT] if lines else None
        if isinstance(body, dict):
            body = {name: body.get(name) for name in ("error", "error_description", "error_codes", "correlation_id", "trace_id")}
        else:
            body = None
        headers = response.headers
        return cls(response.status_code, parse_retry_after(headers.get("Retry-After")),
                   headers.get("x-ms-request-id") or headers.get("request-id") or (body or {}).get("trace_id"), body, text)


def _unavailable_error(answer, result, attempts, elapsed):
    """The AuthError for a token request the sign-in service kept answering with 429 or 5xx."""
    body = answer.body or (result if isinstance(result, dict) else None) or {}
    codes = body.get("error_codes") or []
    code = codes[0] if codes else None
    description = (body.get("error_description") or "").split("\r\n")[0].split("\n")[0]
    if code is not None and f"AADSTS{code}" not in description:
        description = f"AADSTS{code}: {description}".rstrip(": ")
    detail = ": ".join(part for part in (body.get("error"), description) if part) or answer.text or "no error body"
    waited = f"; last Retry-After {answer.retry_after:g} s" if answer.retry_after is not None else ""
    request_id = f"(request-id: {answer.request_id or 'none'})"
    gave_up = f"gave up after {attempts} attempts in {elapsed:.0f} s{waited}."
    if answer.status == 429:
        text = (f"the token endpoint is throttling this client: HTTP {answer.status} {detail} {request_id}; {gave_up} "
                "Run fewer tasks against this tenant at once, or retry later.")
    else:
        text = (f"the sign-in service answered {answer.status} {detail} {request_id}; {gave_up} "
                "Microsoft Entra ID is not issuing tokens just now; retry later.")
    return AuthError(
        text,
        code=code,
        error=body.get("error"),
        correlation_id=body.get("correlation_id"),
        trace_id=body.get("trace_id"),
        status=answer.status,
        request_id=answer.request_id,
    )


def _dropped_error(failure, authority, attempts, elapsed):
    """The AuthError for a token request whose connection kept dropping or timing out."""
    return AuthError(
        f"the sign-in service at {authority} dropped the connection without an answer "
        f"({type(failure).__name__}: {_clean(str(failure))}); gave up after {attempts} attempts in {elapsed:.0f} s. Retry later.",
        error=type(failure).__name__,
    )


def _transient(exc):
    """True for a token request failure that asking again may cure: a 5xx answer, or a connection
    that dropped or timed out after it was made. Not a TLS failure, a host name that does not
    resolve or a refused connection: those are configuration (authority_host, ca_bundle)."""
    if type(exc).__name__ == "MsalServiceError":
        return re.search(r"\b5\d\d\b", str(exc)) is not None
    import requests  # pylint: disable=import-outside-toplevel

    if isinstance(exc, requests.exceptions.SSLError):
        return False
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = repr(exc)
        return not any(s in text for s in ("NameResolutionError", "Failed to resolve", "Name or service not known",
                                           "Connection refused", "nodename nor servname"))
    return isinstance(exc, (requests.exceptions.Timeout, requests.exceptions.ChunkedEncodingError))


# AADSTS codes and the option most likely at fault.
_AADSTS_OPTION = {
    90002: "tenant_id",
    900023: "tenant_id",
    700016: "client_id",
    7000215: "client_secret",
    7000222: "client_secret",
    7000218: "client_secret",
    700027: "client_certificate_path",
    700024: "client_certificate_path",
    70002: "client_certificate_path",
    50012: "client_certificate_path",
    70011: "cloud",
    700022: "cloud",
}


def _auth_error_from(result):
    codes = result.get("error_codes") or []
    code = codes[0] if codes else None
    description = (result.get("error_description") or "").split("\r\n")[0].split("\n")[0]
    return AuthError(
        f"sign-in refused: {result.get('error')}: {description}",
        option=_AADSTS_OPTION.get(code),
        code=code,
        error=result.get("error"),
        correlation_id=result.get("correlation_id"),
        trace_id=result.get("trace_id"),
    )


def _clean(text):
    """Strip anything that could carry a credential out of an exception text."""
    for marker in ("client_secret=", "client_assertion=", "Bearer "):
        if marker in text:
            text = text.split(marker)[0] + marker + "***"
    return text


def jwt_claims(token):
    """The claims of a JWT, without verifying it (we show them; we do not trust them)."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        return json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (IndexError, ValueError, UnicodeError) as exc:
        raise AuthError(f"the access token is not a JWT ({type(exc).__name__})", option="access_token") from None
