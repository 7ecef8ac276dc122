# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one Microsoft Graph client of the collection. Private to m365.cba; no stable API.

* JSON in and out, ``@odata.nextLink`` paging (never following a link to another host),
* retries on 429, 503, 504 and dropped connections, honouring ``Retry-After`` (clamped, jittered,
  bounded in total time); a POST is never repeated blindly: it is retried only when the service
  cannot have processed it, or after the caller's ``recover`` look-up found nothing,
* an opt-in retry for replication lag (objects not yet visible after a write),
* one error type, :class:`GraphError`, carrying status, Graph error code, message and request-id.

Nothing here knows about Ansible.
"""

from __future__ import annotations

import email.utils
import json
import random
import re
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

COLLECTION_VERSION = "1.0.0"
USER_AGENT = f"m365.cba/{COLLECTION_VERSION} (Ansible collection)"

IDEMPOTENT_METHODS = frozenset(("GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"))
THROTTLE_STATUSES = frozenset((429, 503, 504))

# Messages Microsoft Graph answers while a new object has not reached every replica yet
# (see the Terraform azuread provider, which retries on the same texts).
_LAG_PATTERNS = (
    re.compile(r"does not exist or one of its queried reference-property objects are not present", re.I),
    re.compile(r"does not reference a valid application object", re.I),
    re.compile(r"Not a valid reference update", re.I),
    re.compile(r"backing application of the service principal being created must in the local tenant", re.I),
)


class GraphError(Exception):
    """A Microsoft Graph call did not succeed.

    ``status`` is the HTTP status (``None`` when no answer came), ``code`` and ``message`` come from
    Graph's error body, ``request_id`` from the ``request-id`` header or the body's ``innerError``.
    Never carries a request body, a token or a secret.
    """

    def __init__(self, message, status=None, code=None, request_id=None, method=None, path=None, client_request_id=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id
        self.client_request_id = client_request_id
        self.method = method
        self.path = path

    def __str__(self):
        where = f"{self.method} {self.path}: " if self.method else ""
        status = f"HTTP {self.status} " if self.status is not None else ""
        code = f"{self.code}: " if self.code else ""
        rid = f" (request-id: {self.request_id})" if self.request_id else ""
        return f"{where}{status}{code}{self.message}{rid}"

    def as_dict(self):
        return {
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "request_id": self.request_id,
            "client_request_id": self.client_request_id,
            "method": self.method,
            "path": self.path,
        }

    @property
    def not_found(self):
        return self.status == 404


def is_replication_lag(error: GraphError) -> bool:
    """True when ``error`` is what Graph answers for an object that has not replicated yet."""
    if error.status == 404:
        return True
    if error.status in (400, 403):
        return any(p.search(error.message or "") for p in _LAG_PATTERNS)
    return False


@dataclass
class RetryPolicy:
    """How long and how often to retry. All times in seconds."""

    max_attempts: int = 8
    total_timeout: float = 120.0
    retry_after_cap: float = 30.0
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    lag_timeout: float = 60.0
    lag_base: float = 1.0
    lag_cap: float = 8.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full-jitter exponential backoff for a retry without Retry-After."""
        return rng.uniform(0, min(self.backoff_cap, self.backoff_base * (2 ** attempt)))

    def honour(self, retry_after: float, rng: random.Random) -> float:
        """Wait at least Retry-After (plus up to 10 % jitter), never more than the cap."""
        return min(self.retry_after_cap, retry_after * (1 + rng.uniform(0, 0.1)))

    def lag_wait(self, attempt: int) -> float:
        return min(self.lag_cap, self.lag_base * (2 ** attempt))


@dataclass
class GraphResponse:
    status: int
    body: object
    headers: dict = field(default_factory=dict)

    @property
    def request_id(self):
        return self.headers.get("request-id")


def parse_retry_after(value, now=None):
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if unusable."""
    if value is None:
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def odata_quote(value: str) -> str:
    """A string literal for an OData URL (``$filter`` or an alternate key): quotes doubled."""
    return "'" + str(value).replace("'", "''") + "'"


def alternate_key(collection: str, key: str, value: str) -> str:
    """``/applications(uniqueName='x')`` style path, percent-encoded where needed."""
    return f"/{collection}({key}={quote(odata_quote(value), safe=chr(39) + '=-._~')})"


class _NotSent(Exception):
    """The request never reached the service (connection refused, DNS, TLS before sending)."""


class GraphClient:
    """Talks to one Graph endpoint as one identity.

    ``token_provider`` is a callable returning a bearer token; it is called lazily, before the first
    request. ``session`` defaults to a ``requests.Session``; ``verify`` is passed to it as is.
    """

    def __init__(self, endpoint, token_provider, api_version="v1.0", session=None, verify=True, timeout=(10, 60),
                 policy=None, sleep=time.sleep, clock=time.monotonic, rng=None, user_agent=USER_AGENT):
        self.base_url = endpoint.rstrip("/") + "/" + api_version
        self._origin = urlsplit(self.base_url)[:2]
        self._token_provider = token_provider
        self._token = None
        self._session = session
        self._verify = verify
        self._timeout = timeout
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._user_agent = user_agent
        self.request_count = 0

    # -- plumbing -------------------------------------------------------------------------------

    def _get_session(self):
        if self._session is None:
            self._session = new_session(self._verify)
        return self._session

    def _url(self, path):
        if path.startswith("https://"):
            if urlsplit(path)[:2] != self._origin:
                raise GraphError(f"refusing to follow a link to another host: {urlsplit(path).netloc}", path=path)
            return path
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def _headers(self, extra):
        if self._token is None:
            self._token = self._token_provider()
        headers = {
            "Authorization": "Bearer " + self._token,
            "Accept": "application/json",
            "User-Agent": self._user_agent,
            "client-request-id": str(uuid.uuid4()),
        }
        headers.update(extra or {})
        return headers

    def _send(self, method, url, params, body, headers):
        import requests  # pylint: disable=import-outside-toplevel

        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        self.request_count += 1
        try:
            return self._get_session().request(method, url, params=params, data=data, headers=headers, timeout=self._timeout)
        except requests.exceptions.ConnectTimeout as exc:
            raise _NotSent(str(exc)) from None
        except requests.exceptions.SSLError as exc:
            raise GraphError(f"TLS error talking to {urlsplit(url).netloc} (check ca_bundle and validate_certs): {exc}",
                             method=method, path=urlsplit(url).path) from None
        except requests.exceptions.ConnectionError as exc:
            if _never_connected(exc):
                raise _NotSent(str(exc)) from None
            raise
        except requests.exceptions.Timeout:
            raise

    @staticmethod
    def _error_from(method, path, response, sent_headers):
        body = _json_or_none(response)
        err = (body or {}).get("error") if isinstance(body, dict) else None
        code = message = None
        inner = {}
        if isinstance(err, dict):
            code = err.get("code")
            message = err.get("message")
            inner = err.get("innerError") or {}
        request_id = response.headers.get("request-id") or inner.get("request-id")
        client_request_id = response.headers.get("client-request-id") or sent_headers.get("client-request-id")
        return GraphError(message or (response.reason or "request failed"), status=response.status_code, code=code,
                          request_id=request_id, method=method, path=path, client_request_id=client_request_id)

    # -- the request loop -----------------------------------------------------------------------

    def request(self, method, path, params=None, body=None, headers=None, expected=None, retry_on=None, recover=None):
        """Send one logical request and return a :class:`GraphResponse`.

        ``retry_on(GraphError) -> bool`` opts into waiting out replication lag (see
        :func:`is_replication_lag`). ``recover() -> GraphResponse|None`` is consulted before a
        non-idempotent request is re-sent after an answer that leaves its fate unknown: when it
        finds the result, that is returned instead of sending again.
        """
        method = method.upper()
        url = self._url(path)
        shown_path = urlsplit(url).path
        started = self._clock()
        attempt = lag_attempt = 0
        while True:
            sent_headers = self._headers(headers)
            wait = None
            try:
                response = self._send(method, url, params, body, sent_headers)
            except _NotSent as exc:
                error = GraphError(f"could not connect: {exc}", method=method, path=shown_path)
                wait = self.policy.backoff(attempt, self._rng)
            except Exception as exc:  # pylint: disable=broad-exception-caught
                if not _is_transport_error(exc):
                    raise
                error = GraphError(f"connection lost: {type(exc).__name__}", method=method, path=shown_path)
                if method not in IDEMPOTENT_METHODS:
                    found = recover() if recover else None
                    if found is not None:
                        return found
                    if recover is None:
                        raise error from None
                wait = self.policy.backoff(attempt, self._rng)
            else:
                if response.status_code < 400 and (expected is None or response.status_code in expected):
                    return GraphResponse(response.status_code, _json_or_none(response), dict(response.headers))
                error = self._error_from(method, shown_path, response, sent_headers)
                if response.status_code in THROTTLE_STATUSES:
                    if method not in IDEMPOTENT_METHODS and response.status_code != 429:
                        # A 503/504 may come after the service acted: look before re-sending.
                        found = recover() if recover else None
                        if found is not None:
                            return found
                        if recover is None:
                            raise error
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    wait = (self.policy.honour(retry_after, self._rng) if retry_after is not None
                            else self.policy.backoff(attempt, self._rng))
                elif retry_on is not None and retry_on(error):
                    if self._clock() - started + self.policy.lag_wait(lag_attempt) > self.policy.lag_timeout:
                        raise error
                    self._sleep(self.policy.lag_wait(lag_attempt))
                    lag_attempt += 1
                    continue
                else:
                    raise error
            attempt += 1
            if attempt >= self.policy.max_attempts or self._clock() - started + wait > self.policy.total_timeout:
                raise error
            self._sleep(wait)

    def wait_for(self, lookup):
        """Call ``lookup()`` until it returns something other than None, waiting like the
        replication-lag retry (bounded by ``policy.lag_timeout``); None when it never does. For an
        object Graph says exists (a conflict) that a list read, served by a lagging replica, misses."""
        started = self._clock()
        attempt = 0
        while True:
            found = lookup()
            if found is not None:
                return found
            wait = self.policy.lag_wait(attempt)
            if self._clock() - started + wait > self.policy.lag_timeout:
                return None
            self._sleep(wait)
            attempt += 1

    def get(self, path, params=None, **kwargs):
        return self.request("GET", path, params=params, **kwargs).body

    def post(self, path, body, **kwargs):
        return self.request("POST", path, body=body, **kwargs).body

    def patch(self, path, body, **kwargs):
        return self.request("PATCH", path, body=body, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)

    def get_optional(self, path, params=None, **kwargs):
        """GET a single object; ``None`` when Graph answers 404."""
        try:
            return self.get(path, params=params, **kwargs)
        except GraphError as exc:
            if exc.not_found:
                return None
            raise

    def delete_optional(self, path, **kwargs):
        """DELETE an object; ``False`` when it was gone already (404)."""
        try:
            self.delete(path, **kwargs)
        except GraphError as exc:
            if exc.not_found:
                return False
            raise
        return True

    def get_all(self, path, params=None, headers=None, limit=None, **kwargs):
        """All items of a collection, following ``@odata.nextLink`` (headers re-sent on each page)."""
        items = []
        page = self.request("GET", path, params=params, headers=headers, **kwargs).body or {}
        while True:
            items.extend(page.get("value", []))
            link = page.get("@odata.nextLink")
            if not link or (limit is not None and len(items) >= limit):
                return items if limit is None else items[:limit]
            page = self.request("GET", link, headers=headers, **kwargs).body or {}


def after_patch(current, patch):
    """An object as it reads after a PATCH: the sent properties replace the old ones whole."""
    result = dict(current)
    result.update(patch)
    return result


def new_session(verify=True, retries=0):
    """A requests session whose ``verify`` wins over REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE.

    Plain requests lets those variables replace a session's CA bundle on every request, so a
    ``ca_bundle`` option would silently be ignored wherever they are set.
    """
    import requests  # pylint: disable=import-outside-toplevel
    from requests.adapters import HTTPAdapter  # pylint: disable=import-outside-toplevel

    class _Session(requests.Session):
        def merge_environment_settings(self, url, proxies, stream, verify, cert):
            if verify is None:
                verify = self.verify
            return super().merge_environment_settings(url, proxies, stream, verify, cert)

    session = _Session()
    session.verify = verify
    if retries:
        session.mount("https://", HTTPAdapter(max_retries=retries))
    return session


def _json_or_none(response):
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _is_transport_error(exc):
    import requests  # pylint: disable=import-outside-toplevel

    return isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.ReadTimeout, requests.exceptions.ChunkedEncodingError))


def _never_connected(exc):
    """True when a ConnectionError happened before the request was sent (refused, DNS, ...)."""
    text = repr(exc)
    return any(s in text for s in ("NewConnectionError", "Connection refused", "NameResolutionError", "Failed to resolve"))
