# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The glue between AnsibleModule and the Graph core. Private to m365.cba; no stable API.

``graph_spec()`` merges the shared connection/auth argument spec (documented once in the
``m365.cba.graph_auth`` doc fragment) into a module's ``ModuleSpec``. ``GraphModule`` wraps the
run's ``Context`` (see _runner.py): it builds the Graph client lazily and turns the core's errors
into one failure shape: a message naming the option or the Graph call, plus ``error`` with the
HTTP status, Graph error code and request-id (or the AADSTS code).
"""

from __future__ import annotations

import os

from ansible.module_utils.basic import env_fallback

from ._auth import DEFAULT_TOKEN_RETRY_TIMEOUT, AuthError, Connection, TokenSource
from ._certs import CertificateError
from ._graph import GraphClient, GraphError, RetryPolicy
from ._runner import ModuleSpec

# How long a module waits, by default, for an object Graph has just written (or not yet) to be
# visible on every replica (RetryPolicy.lag_timeout).
DEFAULT_REPLICATION_TIMEOUT = 60


def graph_argument_spec():
    return {
        "tenant_id": {"type": "str", "required": True, "fallback": (env_fallback, ["AZURE_TENANT_ID"])},
        "client_id": {"type": "str", "fallback": (env_fallback, ["AZURE_CLIENT_ID"])},
        # The credentials fall back to the environment only after the task's own options are read:
        # see credentials_from_environment().
        "client_secret": {"type": "str", "no_log": True},
        "client_certificate_path": {"type": "path"},
        "client_certificate_password": {"type": "str", "no_log": True},
        "access_token": {"type": "str", "no_log": True},
        "cloud": {"type": "str", "choices": ["global", "usgov_high", "usgov_dod", "china"], "fallback": (env_fallback, ["M365_CBA_CLOUD"])},
        "authority_host": {"type": "str", "fallback": (env_fallback, ["M365_CBA_AUTHORITY_HOST"])},
        "graph_endpoint": {"type": "str", "fallback": (env_fallback, ["M365_CBA_GRAPH_ENDPOINT"])},
        "ca_bundle": {"type": "path", "fallback": (env_fallback, ["M365_CBA_CA_BUNDLE"])},
        "validate_certs": {"type": "bool", "default": True, "fallback": (env_fallback, ["M365_CBA_VALIDATE_CERTS"])},
        "token_cache_dir": {"type": "str", "no_log": False, "fallback": (env_fallback, ["M365_CBA_TOKEN_CACHE_DIR"])},
        "replication_timeout": {"type": "int", "default": DEFAULT_REPLICATION_TIMEOUT,
                                "fallback": (env_fallback, ["M365_CBA_REPLICATION_TIMEOUT"])},
        "token_retry_timeout": {"type": "int", "default": DEFAULT_TOKEN_RETRY_TIMEOUT,
                                "fallback": (env_fallback, ["M365_CBA_TOKEN_RETRY_TIMEOUT"])},
    }


def replication_timeout_error(value):
    """Why ``replication_timeout`` is not usable, or None."""
    if value is not None and value < 0:
        return f"replication_timeout: must be 0 (do not wait) or a number of seconds, got {value}"
    return None


def retry_policy(params):
    """The Graph client's retry policy for these module parameters."""
    timeout = params.get("replication_timeout")
    return RetryPolicy(lag_timeout=float(DEFAULT_REPLICATION_TIMEOUT if timeout is None else timeout))


CREDENTIAL_OPTIONS = ["client_secret", "client_certificate_path", "access_token"]

# In the order a credential is taken from the environment when the task gives none (the order
# azure-identity's EnvironmentCredential uses, then a pre-acquired token).
CREDENTIAL_ENVIRONMENT = (
    ("client_secret", "AZURE_CLIENT_SECRET", ()),
    ("client_certificate_path", "AZURE_CLIENT_CERTIFICATE_PATH", (("client_certificate_password", "AZURE_CLIENT_CERTIFICATE_PASSWORD"),)),
    ("access_token", "M365_CBA_ACCESS_TOKEN", ()),
)


def credentials_from_environment(params, environ=None):
    """Fill in one credential from the environment when the task gives none.

    Empty variables count as unset (AWX injects every field of a credential type, blank ones as
    empty strings), and a credential set on the task always wins over the environment, so a
    certificate given to the task is never refused because AZURE_CLIENT_SECRET is also set.
    """
    environ = os.environ if environ is None else environ
    if any(params.get(name) for name in CREDENTIAL_OPTIONS):
        if params.get("client_certificate_path") and not params.get("client_certificate_password"):
            params["client_certificate_password"] = environ.get("AZURE_CLIENT_CERTIFICATE_PASSWORD") or None
        return params
    for name, variable, companions in CREDENTIAL_ENVIRONMENT:
        value = environ.get(variable)
        if value:
            params[name] = os.path.expanduser(value) if name == "client_certificate_path" else value
            for companion, companion_variable in companions:
                if not params.get(companion):
                    params[companion] = environ.get(companion_variable) or None
            break
    return params


# Every Graph module needs the HTTP client; msal and cryptography sign in (msal only on a token-cache miss).
GRAPH_LIBRARIES = (("requests", "requests"), ("msal", "msal"), ("cryptography", "cryptography"))


def graph_spec(argument_spec, mutually_exclusive=None, supports_check_mode=True, **checks):
    """The ModuleSpec of a Graph module: its own options plus the shared connection and credential options."""
    spec = graph_argument_spec()
    spec.update(argument_spec)
    return ModuleSpec(
        spec,
        mutually_exclusive=[CREDENTIAL_OPTIONS] + list(mutually_exclusive or []),
        supports_check_mode=supports_check_mode,
        libraries=GRAPH_LIBRARIES,
        adapter=run_graph,
        **checks,
    )


def run_graph(ctx, run):
    """How a Graph module's ``run(gm)`` is called with the run's Context."""
    GraphModule(ctx).run(run)


class GraphModule:
    """A run's Context with the shared options, a lazy Graph client and one failure shape."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.params = credentials_from_environment(ctx.params)
        for secret in ("client_secret", "client_certificate_password", "access_token"):
            ctx.no_log(self.params.get(secret))
        problem = replication_timeout_error(self.params.get("replication_timeout"))
        if problem:
            ctx.fail(problem, error={"option": "replication_timeout"})
        self.check_mode = ctx.check_mode
        self._client = None
        self._tokens = None

    @property
    def connection(self):
        return Connection.from_params(self.params)

    @property
    def tokens(self):
        if self._tokens is None:
            self._tokens = TokenSource(self.connection, warn=self.ctx.warn)
        return self._tokens

    @property
    def client(self):
        if self._client is None:
            connection = self.connection
            graph_resource = connection.cloud_info.graph_resource
            tokens = self.tokens
            self._client = GraphClient(connection.graph_base, lambda: tokens.token_for(graph_resource), verify=connection.verify,
                                       policy=retry_policy(self.params))
        return self._client

    def diff(self, before, after):
        return self.ctx.diff(before, after)

    def warn(self, message):
        self.ctx.warn(message)

    def exit(self, changed, diff=None, **result):
        if diff is not None:
            result["diff"] = diff
        self.ctx.exit(changed, **result)

    def fail(self, error, option=None, **result):
        """One failure shape for GraphError, AuthError, CertificateError and plain messages."""
        if isinstance(error, GraphError):
            if option is None and error.status == 401 and self.params.get("access_token"):
                option = "access_token"  # Graph refused the token the user gave
            msg = f"{option}: {error}" if option else str(error)
            hint = _permission_hint(error)
            if hint:
                msg += f" {hint}"
            self.ctx.fail(msg, error=error.as_dict(), **result)
        if isinstance(error, AuthError):
            self.ctx.fail(str(error), error=error.as_dict(), **result)
        if isinstance(error, CertificateError):
            self.ctx.fail(str(error), error={"option": error.option}, **result)
        self.ctx.fail(f"{option}: {error}" if option else str(error), **result)

    def run(self, func):
        """Call ``func(self)`` and report the core's foreseeable errors without a traceback."""
        try:
            func(self)
        except (GraphError, AuthError, CertificateError) as exc:
            self.fail(exc)


# The Graph application permission each kind of call needs, to say which one is missing on a 403.
_PERMISSION_BY_PATH = (
    ("/roleManagement/", "RoleManagement.ReadWrite.Directory"),
    ("/appRoleAssigned", "AppRoleAssignment.ReadWrite.All"),
    ("/appRoleAssignments", "AppRoleAssignment.ReadWrite.All"),
    ("/organization", "Organization.Read.All"),
    ("/servicePrincipals", "Application.ReadWrite.All"),
    ("/applications", "Application.ReadWrite.All"),
)


def _permission_hint(error):
    if error.status != 403 or not error.path:
        return None
    for fragment, permission in _PERMISSION_BY_PATH:
        if fragment in error.path:
            return f"The signed-in identity needs the Microsoft Graph application permission {permission} (with admin consent)."
    return None
