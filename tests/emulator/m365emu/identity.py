# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Entra ID side: OIDC and instance discovery, JWKS, the v2.0 token endpoint for the
client-credentials grant (secret or certificate assertion), and access-token checks for Graph."""

import base64
import binascii
import hashlib
import hmac
import secrets
import time
import uuid
from urllib.parse import unquote, urlsplit

from cryptography import x509

from . import consent, jose, wellknown
from .crypto import (
    b64url, b64url_decode, cert_der, from_timestamp, key_pem, load_key_pem, new_rsa_key, parse_iso,
    self_signed_cert, utc_now,
)
from .errors import GraphError, StsError
from .wire import Response

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CERT_DOC = "Review the documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials ."
NOT_IN_TENANT = ("This can happen if the application has not been installed by the administrator of the tenant or "
                 "consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.")


def _sts_time(moment=None):
    return (moment or utc_now()).strftime("%Y-%m-%d %H:%M:%SZ")


def _precise(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _us_date(text):
    return parse_iso(text).strftime("%m/%d/%Y %H:%M:%S")


def missing_parameter(name):
    return StsError(400, "invalid_request", 900144, f"AADSTS900144: The request body must contain the following parameter: '{name}'.")


class Identity:
    """Token service for every tenant of a Directory, signing with one emulator-wide key."""

    def __init__(self, directory, base_url, signing_key_pem=None):
        self.directory = directory
        self.base_url = base_url
        self.key = load_key_pem(signing_key_pem) if signing_key_pem else new_rsa_key()
        self.cert = self_signed_cert(self.key, "m365emu access token signing", days=3650)
        self.kid = b64url(hashlib.sha1(cert_der(self.cert)).digest())
        self.netloc = urlsplit(base_url).netloc

    def export_key(self):
        return key_pem(self.key)

    def token_endpoint(self, tenant):
        return f"{self.base_url}/{tenant.tenant_id}/oauth2/v2.0/token"

    # ------------------------------------------------------------ errors
    def error_response(self, exc, request, trace_id=None):
        trace_id = trace_id or str(uuid.uuid4())
        correlation_id = request.header("client-request-id") or str(uuid.uuid4())
        stamp = _sts_time()
        body = {
            "error": exc.error,
            "error_description": f"{exc.description}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {stamp}",
            "error_codes": exc.codes, "timestamp": stamp, "trace_id": trace_id, "correlation_id": correlation_id,
            "error_uri": f"{self.base_url}/error?code={exc.codes[0]}",
        }
        return Response.json(exc.status, body, self._headers(trace_id, correlation_id))

    def text_response(self, status, text, content_type, request, trace_id=None):
        """An answer whose body is bare text (no AADSTS body), with the headers of any other answer."""
        trace_id = trace_id or str(uuid.uuid4())
        correlation_id = request.header("client-request-id") or str(uuid.uuid4())
        headers = self._headers(trace_id, correlation_id)
        headers["Content-Type"] = content_type
        return Response(status, text.encode("utf-8"), headers)

    @staticmethod
    def _headers(trace_id, correlation_id):
        return {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache", "x-ms-request-id": trace_id,
                "client-request-id": correlation_id, "x-ms-ests-server": "m365emu"}

    def _tenant(self, segment):
        tenant = self.directory.find(segment)
        if tenant is None:
            raise StsError(400, "invalid_tenant", 90002, f"AADSTS90002: Tenant '{segment}' not found. Check to make sure you "
                           "have the correct tenant ID and are signing into the correct cloud. Check with your subscription "
                           "administrator, this may happen if there are no active subscriptions for the tenant.")
        return tenant

    # ------------------------------------------------------------ discovery
    def openid_configuration(self, segment):
        tenant = self._tenant(segment)
        tid, base = tenant.tenant_id, self.base_url
        cloud = wellknown.CLOUDS[tenant.cloud]
        return {
            "token_endpoint": f"{base}/{tid}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/{tid}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"], "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/{tid}/v2.0", "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{cloud['graph']}/oidc/userinfo",
            "authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/devicecode",
            "http_logout_supported": True, "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/{tid}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
                                 "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username",
                                 "name", "tid", "ver", "at_hash", "c_hash", "email"],
            "kerberos_endpoint": f"{base}/{tid}/kerberos", "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com", "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": cloud["graph"].split("//")[1], "rbac_url": "https://pas.windows.net",
        }

    def instance_discovery(self, pairs):
        params = dict(pairs)
        endpoint = params.get("authorization_endpoint", "")
        parts = urlsplit(endpoint)
        segments = [s for s in parts.path.split("/") if s]
        if parts.scheme != "https" or parts.netloc.lower() != self.netloc.lower() or not segments:
            raise StsError(400, "invalid_instance", 50049, "AADSTS50049: Unknown or invalid instance.")
        port = self.netloc.rsplit(":", 1)[1]
        return {
            "tenant_discovery_endpoint": f"{self.base_url}/{segments[0]}/v2.0/.well-known/openid-configuration",
            "api-version": params.get("api-version", "1.1"),
            "metadata": [{"preferred_network": self.netloc, "preferred_cache": self.netloc,
                          "aliases": [self.netloc, f"localhost:{port}"]}],
        }

    def jwks(self, segment):
        tenant = self._tenant(segment)
        numbers = self.key.public_key().public_numbers()

        def _int(value):
            return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))

        return {"keys": [{
            "kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid, "n": _int(numbers.n), "e": _int(numbers.e),
            "x5c": [base64.b64encode(cert_der(self.cert)).decode("ascii")],
            "issuer": f"{self.base_url}/{tenant.tenant_id}/v2.0",
        }]}

    # ------------------------------------------------------------ token endpoint
    def token(self, segment, request, meta):
        """Handle POST /{tenant}/oauth2/v2.0/token; fills `meta` for the request log and counters."""
        tenant = self._tenant(segment)
        meta["tenant"] = tenant.tenant_id
        form = request.form()
        basic_id, basic_secret = _basic_credentials(request.header("Authorization"))
        grant_type = form.get("grant_type")
        if not grant_type:
            raise missing_parameter("grant_type")
        if grant_type != "client_credentials":
            raise StsError(400, "unsupported_grant_type", 70003, f"AADSTS70003: The app requested an unsupported grant type '{grant_type}'.")
        client_id = form.get("client_id") or basic_id
        if not client_id:
            raise missing_parameter("client_id")
        meta["client_id"] = client_id
        if not form.get("scope"):
            raise missing_parameter("scope")
        meta["resource"] = form["scope"].split()[0].rsplit("/.default", 1)[0] if form["scope"].split() else None
        app = self._client_app(tenant, client_id)
        acr = self._authenticate(tenant, app, form, basic_secret)
        sp = self._client_sp(tenant, client_id)
        resource, resource_sp = self._resource(tenant, form["scope"])
        meta["resource"] = resource
        return self._issue(tenant, app, sp, resource, resource_sp, acr)

    def _client_app(self, tenant, client_id):
        for app in tenant.read_all("applications"):
            if app["appId"].lower() == client_id.lower():
                return app
        # An application registered in another tenant signs in here only when it is multi-tenant and
        # admin consent created its service principal here; it authenticates with its home registration's
        # credentials. Otherwise (no consent yet, or a single-tenant application) it is not found.
        foreign = consent.foreign_application(self.directory, tenant, client_id)
        if foreign is not None:
            return foreign
        raise StsError(400, "unauthorized_client", 700016, f"AADSTS700016: Application with identifier '{client_id}' was "
                       f"not found in the directory '{tenant.display_name}'. {NOT_IN_TENANT}")

    @staticmethod
    def _client_sp(tenant, client_id):
        for sp in tenant.read_all("servicePrincipals"):
            if sp["appId"].lower() == client_id.lower():
                return sp
        raise StsError(401, "invalid_client", 7000229, f"AADSTS7000229: The client application {client_id} is missing "
                       f"service principal in the tenant {tenant.tenant_id}.")

    def _authenticate(self, tenant, app, form, basic_secret):
        if form.get("client_assertion"):
            if not form.get("client_assertion_type"):
                raise missing_parameter("client_assertion_type")
            if form["client_assertion_type"] != JWT_BEARER:
                raise StsError(400, "invalid_request", 50027, "AADSTS50027: JWT token is invalid or malformed.")
            AssertionCheck(self, tenant, app).verify(form["client_assertion"], form.get("client_id") or app["appId"])
            return "2"
        secret = form.get("client_secret") or basic_secret
        if secret:
            _check_secret(app, secret)
            return "1"
        raise StsError(401, "invalid_client", 7000218, "AADSTS7000218: The request body must contain the following "
                       "parameter: 'client_assertion' or 'client_secret'.")

    @staticmethod
    def _resource(tenant, scope_text):
        scopes = scope_text.split()
        resources = []
        for scope in scopes:
            if not scope.endswith("/.default") or len(scope) == len("/.default"):
                raise StsError(400, "invalid_scope", 70011, "AADSTS70011: The provided value for the input parameter "
                               f"'scope' is not valid. The scope {scope_text} is not valid.")
            resources.append(scope[:-len("/.default")])
        if len({r.rstrip("/").lower() for r in resources}) > 1:
            raise StsError(400, "invalid_scope", 700022, "AADSTS700022: The provided value for the input parameter scope "
                           f"is not valid because it contains more than one resource. Scope {scope_text} is not valid.")
        resource = resources[0]
        wanted = resource.rstrip("/").lower()
        for sp in tenant.read_all("servicePrincipals"):
            names = [n.rstrip("/").lower() for n in sp["servicePrincipalNames"]] + [sp["appId"].lower()]
            if wanted in names:
                return resource, sp
        raise StsError(400, "invalid_resource", 500011, f"AADSTS500011: The resource principal named {resource} was not "
                       f"found in the tenant named {tenant.display_name}. {NOT_IN_TENANT}")

    def _issue(self, tenant, app, sp, resource, resource_sp, acr):
        now = int(time.time())
        lifetime = int(self.directory.settings["token_lifetime"])
        claims = {
            "aud": resource, "iss": f"https://sts.windows.net/{tenant.tenant_id}/", "iat": now, "nbf": now,
            "exp": now + lifetime, "aio": b64url(secrets.token_bytes(24)), "app_displayname": app["displayName"],
            "appid": app["appId"], "appidacr": acr, "idp": f"https://sts.windows.net/{tenant.tenant_id}/",
            "idtyp": "app", "oid": sp["id"], "rh": b64url(secrets.token_bytes(16)), "sub": sp["id"],
            "tid": tenant.tenant_id, "uti": b64url(secrets.token_bytes(16)), "ver": "1.0",
        }
        roles = granted_roles(tenant, sp["id"], resource_sp)
        if roles:
            claims["roles"] = roles
        # App-only tokens carry the template ids of the directory roles the service principal holds,
        # then the id every service principal's token carries (it is no directory role).
        claims["wids"] = directory_roles(tenant, sp["id"]) + [wellknown.APP_ONLY_DEFAULT_WID]
        headers = {"x5t": self.kid, "kid": self.kid}
        if resource_sp["appId"] == wellknown.GRAPH_APP_ID:
            token = jose.encode_with_nonce(claims, self.key, headers)
        else:
            token = jose.encode(claims, self.key, headers)
        return {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}

    # ------------------------------------------------------------ Graph side
    def verify_graph_token(self, authorization):
        """Claims of a valid Graph access token from this emulator, else GraphError 401."""
        def graph_audiences(tenant):
            return (wellknown.CLOUDS[tenant.cloud]["graph"].lower(), wellknown.GRAPH_APP_ID)
        return self.verify_access_token(authorization, graph_audiences)

    def verify_access_token(self, authorization, audiences):
        """(tenant, claims) of a valid access token from this emulator whose ``aud`` (without a trailing
        "/", case-insensitive) is one of ``audiences(tenant)`` (lower case), else GraphError 401."""
        if not authorization or not authorization.lower().startswith("bearer ") or not authorization[7:].strip():
            raise _unauthenticated("Access token is empty.")
        try:
            parsed = jose.ParsedToken(authorization[7:].strip())
        except jose.MalformedToken as exc:
            raise _unauthenticated("CompactToken parsing failed with error code: 80049217") from exc
        claims = parsed.payload
        # Graph's own tokens sign the header with the nonce hashed (see jose.encode_with_nonce).
        signing_input = jose.nonce_signing_input(parsed) if "nonce" in parsed.header else None
        if parsed.alg != "RS256" or parsed.header.get("kid") != self.kid \
                or not parsed.signature_valid(self.key.public_key(), signing_input):
            raise _unauthenticated("Access token validation failure.")
        tenant = self.directory.find(str(claims.get("tid", "")))
        if tenant is None or claims.get("iss") != f"https://sts.windows.net/{tenant.tenant_id}/":
            raise _unauthenticated("Access token validation failure.")
        now = time.time()
        if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] <= now:
            raise _unauthenticated("Lifetime validation failed, the token is expired.")
        if claims.get("nbf", 0) > now + self.directory.settings["graph_token_clock_skew"]:
            raise _unauthenticated("Lifetime validation failed, the token is not yet valid.")
        if str(claims.get("aud", "")).rstrip("/").lower() not in audiences(tenant):
            raise _unauthenticated("Access token validation failure. Invalid audience.")
        return tenant, claims


def _unauthenticated(message):
    return GraphError(401, "InvalidAuthenticationToken", message)


def _basic_credentials(header):
    if not header or not header.lower().startswith("basic "):
        return None, None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    client_id, _sep, secret = decoded.partition(":")
    return unquote(client_id), unquote(secret)


def _check_secret(app, secret):
    digest = hashlib.sha256(secret.encode("utf-8")).hexdigest()
    now = utc_now()
    for credential in app.get("passwordCredentials") or []:
        if hmac.compare_digest(credential.get("_secret_sha256", ""), digest):
            if parse_iso(credential["endDateTime"]) < now:
                raise StsError(401, "invalid_client", 7000222, f"AADSTS7000222: The provided client secret keys for app "
                               f"'{app['appId']}' are expired. Visit the Azure portal to create new keys for your app: "
                               "https://aka.ms/NewClientSecret, or consider using certificate credentials for added "
                               "security: https://aka.ms/certCreds.")
            if parse_iso(credential["startDateTime"]) <= now:
                return
    raise StsError(401, "invalid_client", 7000215, "AADSTS7000215: Invalid client secret provided. Ensure the secret being "
                   "sent in the request is the client secret value, not the client secret ID, for a secret added to app "
                   f"'{app['appId']}'.")


def granted_roles(tenant, principal_id, resource_sp):
    assigned = {a["appRoleId"].lower() for a in tenant.read_all("appRoleAssignments")
                if a["principalId"] == principal_id and a["resourceId"] == resource_sp["id"]}
    return sorted(r["value"] for r in resource_sp.get("appRoles") or []
                  if r["id"].lower() in assigned and r.get("isEnabled") and r.get("value"))


def directory_roles(tenant, principal_id):
    return sorted({a["roleDefinitionId"] for a in tenant.read_all("roleAssignments")
                   if a["principalId"] == principal_id and a.get("directoryScopeId") == "/"})


class AssertionCheck:
    """Verification of a client assertion against the application's keyCredentials."""

    def __init__(self, identity, tenant, app):
        self.identity = identity
        self.tenant = tenant
        self.app = app
        self.settings = identity.directory.settings

    def _fail(self, code, message):
        return StsError(401, "invalid_client", code, message)

    def verify(self, assertion, client_id):
        try:
            parsed = jose.ParsedToken(assertion)
        except jose.MalformedToken as exc:
            raise StsError(400, "invalid_request", 50027, "AADSTS50027: JWT token is invalid or malformed.") from exc
        claims = parsed.payload
        if claims.get("iss") != claims.get("sub"):
            raise self._fail(50048, "AADSTS50048: Subject mismatches Issuer claim in the client assertion. Contact the "
                             "tenant admin.")
        if claims.get("iss") != client_id:
            raise self._fail(700021, "AADSTS700021: Client assertion application identifier doesn't match 'client_id' "
                             f"parameter. {CERT_DOC}")
        if claims.get("aud") != self.identity.token_endpoint(self.tenant):
            raise self._audience_error()
        credential, thumbprint = self._find_key(parsed.header)
        found = f"Found key 'Start={_us_date(credential['startDateTime'])}, End={_us_date(credential['endDateTime'])}'"
        now = utc_now()
        if not parse_iso(credential["startDateTime"]) <= now <= parse_iso(credential["endDateTime"]):
            raise self._fail(700027, "AADSTS700027: Client assertion failed signature validation. [Reason - The key used "
                             f"is expired., Thumbprint of key used by client: '{thumbprint}', {found}]")
        cert = _certificate(credential)
        if not parsed.signature_valid(cert.public_key()):
            raise self._fail(700027, "AADSTS700027: Client assertion failed signature validation. [Reason - The provided "
                             "signature value did not match the expected signature value., Thumbprint of key used by "
                             f"client: '{thumbprint}', {found}]")
        self._check_lifetime(claims)

    def _audience_error(self):
        if self.settings["assertion_audience_error"] == "700023":
            return self._fail(700023, f"AADSTS700023: Client assertion audience claim does not match Realm issuer. {CERT_DOC}")
        return self._fail([70002, 50012], "AADSTS70002: Error validating credentials. AADSTS50012: Client assertion "
                          "audience claim does not match Realm issuer.")

    def _find_key(self, header):
        if "x5t#S256" in header:
            algorithm, raw = hashlib.sha256, header["x5t#S256"]
        else:
            algorithm, raw = hashlib.sha1, header.get("x5t", "")
        try:
            wanted = b64url_decode(str(raw).rstrip("="))
            thumbprint = wanted.hex().upper()
        except ValueError:
            wanted, thumbprint = None, str(raw)
        for credential in self.app.get("keyCredentials") or []:
            if credential.get("usage") != "Verify" or credential.get("type") != "AsymmetricX509Cert":
                continue
            if wanted and algorithm(base64.b64decode(credential["key"])).digest() == wanted:
                return credential, thumbprint
        raise self._fail(700027, "AADSTS700027: Client assertion failed signature validation. [Reason - The key was not "
                         f"found., Thumbprint of key used by client: '{thumbprint}', Please visit the Azure Portal, Graph "
                         f"Explorer or directly use MS Graph to see configured keys for app Id '{self.app['appId']}'. Review "
                         "the documentation at https://docs.microsoft.com/en-us/graph/deployments if you are not using the "
                         "Global endpoint.]")

    def _check_lifetime(self, claims):
        skew = self.settings["assertion_clock_skew"]
        now = time.time()
        exp, nbf = claims.get("exp"), claims.get("nbf")
        valid = isinstance(exp, (int, float)) and exp + skew > now
        if nbf is not None:
            valid = valid and isinstance(nbf, (int, float)) and nbf - skew <= now
        if not valid:
            start = nbf if isinstance(nbf, (int, float)) else claims.get("iat")
            start_text = _precise(from_timestamp(start)) if isinstance(start, (int, float)) else "(none)"
            exp_text = _precise(from_timestamp(exp)) if isinstance(exp, (int, float)) else "(none)"
            raise self._fail(700024, "AADSTS700024: Client assertion is not within its valid time range. Current time: "
                             f"{_precise(utc_now())}, assertion valid from {start_text}, expiry time of assertion "
                             f"{exp_text}. {CERT_DOC}")


def _certificate(credential):
    return x509.load_der_x509_certificate(base64.b64decode(credential["key"]))
