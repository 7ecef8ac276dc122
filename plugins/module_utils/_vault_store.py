# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The certificate store: one secret per tenant and application in a HashiCorp Vault (or OpenBao)
KV version 2 secrets engine, through hvac. Private to m365.cba; no stable API.

A secret holds the PFX (base64) and its password, and, for people and reports, the thumbprint, the
end of validity, the application ID and the tenant. ``record()`` builds it from a PFX file,
``read()``/``write()``/``delete()`` move it, ``restore()`` turns it back into the four files the
certificate module keeps (``.key``, ``.crt``, ``.pfx``, ``.cer``). Every failure is a ``StoreError``
whose message names the store's address and the secret's path, never a secret.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from . import _certs

# The fields of a secret. The first two are secret; the rest may be shown.
SECRET_FIELDS = ("pfx_base64", "pfx_password")
PUBLIC_FIELDS = ("thumbprint", "not_after", "app_id", "tenant_id")
FIELDS = SECRET_FIELDS + PUBLIC_FIELDS

DEFAULT_MOUNT = "secret"
DEFAULT_APPROLE_MOUNT = "approle"
DEFAULT_TIMEOUT = 30

# Where the files of a restored certificate go, as the certificate module names them.
RESTORED_KINDS = _certs.FILE_KINDS


class StoreError(Exception):
    """The store could not be used; the message names the address and the secret."""

    def __init__(self, message, settings=None, option=None, status=None):
        super().__init__(message)
        self.option = option
        self.status = status
        self.address = settings.address if settings else None
        self.location = settings.location if settings else None

    def __str__(self):
        where = []
        if self.address:
            where.append(f"certificate store {self.address}")
        if self.location:
            where.append(f"secret {self.location}")
        prefix = ", ".join(where)
        if self.option:
            prefix = f"{self.option}: {prefix}" if prefix else self.option
        return f"{prefix}: {self.args[0]}" if prefix else self.args[0]

    def as_dict(self):
        return {"address": self.address, "secret": self.location, "status": self.status, "option": self.option}


@dataclass(frozen=True)
class Settings:
    """Where the secret is and how to sign in to the store."""

    address: str
    mount: str
    path: str
    token: str | None = None
    role_id: str | None = None
    secret_id: str | None = None
    approle_mount: str = DEFAULT_APPROLE_MOUNT
    namespace: str | None = None
    cacert: str | None = None
    validate_certs: bool = True
    timeout: int = DEFAULT_TIMEOUT

    @property
    def location(self):
        return f"{self.mount}/{self.path}"

    @property
    def auth_method(self):
        return "approle" if self.role_id else "token"


def _blank(value):
    return value is None or (isinstance(value, str) and not value.strip())


def _is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def settings_from_params(params):
    """Checked ``Settings`` from module parameters (environment fallbacks already applied;
    empty strings, which AWX injects for empty credential fields, count as unset)."""
    address = (params.get("vault_addr") or "").strip().rstrip("/")
    mount = (params.get("mount") or DEFAULT_MOUNT).strip("/")
    path = (params.get("path") or "").strip("/")
    if not address:
        raise StoreError("no address: set vault_addr or VAULT_ADDR", option="vault_addr")
    parts = urlsplit(address)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StoreError(f"'{address}' is not an http(s) URL such as https://vault.example.com:8200", option="vault_addr")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        # The secret holds a private key and its password: never over plain HTTP beyond this machine.
        raise StoreError(f"'{address}' is plain http to another machine; use https (plain http is accepted on "
                         "the loopback interface only)", option="vault_addr")
    if not mount or any(not part or part in (".", "..") for part in mount.split("/")):
        raise StoreError(f"'{params.get('mount')}' is not a mount path", option="mount")
    if not path or any(not part or part in (".", "..") for part in path.split("/")):
        raise StoreError(f"'{params.get('path')}' is not a secret path such as m365-cba/contoso/m365-cba-exchange-online",
                         option="path")
    role_id, secret_id = params.get("role_id"), params.get("secret_id")
    token = None if _blank(params.get("token")) else params["token"].strip()
    role_id = None if _blank(role_id) else role_id.strip()
    secret_id = None if _blank(secret_id) else secret_id.strip()
    timeout = params.get("timeout") or DEFAULT_TIMEOUT
    settings = Settings(
        address=address, mount=mount, path=path, token=token, role_id=role_id, secret_id=secret_id,
        approle_mount=(params.get("approle_mount") or DEFAULT_APPROLE_MOUNT).strip("/"),
        namespace=None if _blank(params.get("namespace")) else params["namespace"].strip(),
        cacert=None if _blank(params.get("cacert")) else params["cacert"],
        validate_certs=params.get("validate_certs", True) is not False,
        timeout=timeout,
    )
    if secret_id and not role_id:
        raise StoreError("secret_id is given without role_id (VAULT_ROLE_ID)", settings, option="role_id")
    if role_id and not secret_id:
        raise StoreError("role_id is given without secret_id (VAULT_SECRET_ID)", settings, option="secret_id")
    if not role_id and not token:
        raise StoreError("no credential: set token (VAULT_TOKEN), or role_id and secret_id (VAULT_ROLE_ID, "
                         "VAULT_SECRET_ID) for AppRole", settings, option="token")
    if timeout <= 0:
        raise StoreError(f"must be a positive number of seconds, got {timeout}", settings, option="timeout")
    if settings.cacert and not os.path.isfile(settings.cacert):
        raise StoreError(f"CA bundle {settings.cacert} is not a file", settings, option="cacert")
    return settings


# -- talking to the store --------------------------------------------------------------------------

def _hvac():
    import hvac  # pylint: disable=import-outside-toplevel

    return hvac


def _translate(exc, settings, doing):
    """A StoreError for an exception of hvac or requests, naming what was being done."""
    import requests  # pylint: disable=import-outside-toplevel

    exceptions = _hvac().exceptions
    if isinstance(exc, requests.exceptions.SSLError):
        return StoreError(f"TLS verification failed while trying to {doing} (set cacert / VAULT_CACERT to the store's CA)",
                          settings, status=None)
    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
        return StoreError(f"cannot reach the store to {doing}: {type(exc).__name__}", settings)
    if isinstance(exc, exceptions.Forbidden):
        return StoreError(f"permission denied to {doing} (HTTP 403): the token or AppRole needs a policy with "
                          f"read, create, update and delete on {settings.mount}/data/{settings.path} and "
                          f"{settings.mount}/metadata/{settings.path}, or it has expired", settings, status=403)
    if isinstance(exc, exceptions.Unauthorized):
        return StoreError(f"not authorised to {doing} (HTTP 401)", settings, status=401)
    if isinstance(exc, (exceptions.VaultDown, exceptions.VaultNotInitialized)):
        return StoreError(f"the store is sealed or not initialised; cannot {doing} (HTTP 503)", settings, status=503)
    if isinstance(exc, exceptions.RateLimitExceeded):
        return StoreError(f"rate limited while trying to {doing} (HTTP 429)", settings, status=429)
    if isinstance(exc, exceptions.VaultError):
        status = getattr(exc, "status_code", None)
        errors = getattr(exc, "errors", None)
        detail = "; ".join(str(e) for e in errors) if errors else type(exc).__name__
        return StoreError(f"cannot {doing}: {detail}" + (f" (HTTP {status})" if status else ""), settings, status=status)
    return None


def connect(settings):
    """An authenticated hvac client (AppRole login when role_id is set)."""
    hvac = _hvac()
    verify = settings.cacert if settings.cacert and settings.validate_certs else settings.validate_certs
    import requests  # pylint: disable=import-outside-toplevel

    session = requests.Session()
    # An explicit cacert must win over REQUESTS_CA_BUNDLE, which requests prefers when it reads the environment.
    session.trust_env = False
    client = hvac.Client(url=settings.address, token=settings.token, verify=verify, timeout=settings.timeout,
                         namespace=settings.namespace, session=session)
    if settings.auth_method == "approle":
        try:
            client.auth.approle.login(role_id=settings.role_id, secret_id=settings.secret_id,
                                      mount_point=settings.approle_mount)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            error = _translate(exc, settings, f"log in with AppRole at auth/{settings.approle_mount}")
            if error is None:
                raise
            if isinstance(exc, hvac.exceptions.InvalidRequest):
                error = StoreError(f"the AppRole login at auth/{settings.approle_mount} was refused: invalid role_id or "
                                   "secret_id", settings, option="role_id", status=400)
            raise error from None
    return client


def _call(settings, doing, func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        error = _translate(exc, settings, doing)
        if error is None:
            raise
        raise error from None


@dataclass
class Stored:
    """What the store holds at the path: ``data`` (None when there is no readable secret) and the
    version of the latest write (0 when the path has never been written)."""

    data: dict | None
    version: int


def read(client, settings):
    """The secret at the path, or ``Stored(None, version)`` when it is missing or its latest version deleted.

    A secret the store has never versioned (nothing at the path, or an answer without a version) is
    only taken as missing once the mount is known to be a KV version 2 secrets engine (see
    ``check_kv2``): what follows a missing secret is a write."""
    exceptions = _hvac().exceptions
    try:
        response = client.secrets.kv.v2.read_secret_version(
            path=settings.path, mount_point=settings.mount, raise_on_deleted_version=False)
    except exceptions.InvalidPath:
        check_kv2(client, settings)
        return Stored(None, 0)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        error = _translate(exc, settings, "read the secret")
        if error is None:
            raise
        raise error from None
    body = (response.get("data") if isinstance(response, dict) else None) or {}
    metadata = body.get("metadata") or {}
    version = int(metadata.get("version") or 0)
    if not version:
        check_kv2(client, settings)
    data = body.get("data")
    if not data or metadata.get("deletion_time") or metadata.get("destroyed"):
        return Stored(None, version)
    if not isinstance(data, dict):
        raise StoreError("the secret is not a key/value map; is the mount a KV version 2 secrets engine?", settings)
    return Stored({key: data.get(key) for key in FIELDS}, version)


# How a write that lost a check-and-set, or would, is reported.
CHANGED_BY_SOMEONE_ELSE = "the secret was changed by someone else"


def changed_since(settings, expected, found):
    """The StoreError for a secret at version ``found`` that this run read at version ``expected``."""
    return StoreError(f"{CHANGED_BY_SOMEONE_ELSE} since this run read it (version {expected} then, {found} now); "
                      "nothing was written: run again", settings, status=400)


def write(client, settings, data, version):
    """Write ``data`` as a new version, only if the latest version is still ``version`` (check-and-set),
    so that two runs never overwrite each other's certificate unseen. Returns the new version."""
    exceptions = _hvac().exceptions
    try:
        response = client.secrets.kv.v2.create_or_update_secret(
            path=settings.path, secret=dict(data), cas=version, mount_point=settings.mount)
    except exceptions.InvalidRequest as exc:
        if "check-and-set" in str(exc):
            raise StoreError(f"{CHANGED_BY_SOMEONE_ELSE} while this run wrote it; run again",
                             settings, status=400) from None
        raise _translate(exc, settings, "write the secret") from None
    except Exception as exc:  # pylint: disable=broad-exception-caught
        error = _translate(exc, settings, "write the secret")
        if error is None:
            raise
        raise error from None
    written = (response.get("data") if isinstance(response, dict) else None) or {}
    if not written.get("version"):
        # A KV version 1 engine answers 204 without a version, having stored the whole request as a secret.
        raise StoreError(f"the mount {settings.mount} did not answer as a KV version 2 secrets engine (no version in "
                         f"its answer): the write may have gone to {settings.mount}/data/{settings.path}; remove it "
                         "there, and use a KV version 2 mount", settings, option="mount")
    return int(written["version"])


def check_kv2(client, settings):
    """Refuse a mount that is not a KV version 2 secrets engine, before anything is written to it.

    The KV version 2 API on a version 1 engine does not fail: a read finds nothing and a write stores
    the request itself at ``<mount>/data/<path>``. The store says what a mount is at
    ``sys/internal/ui/mounts/<mount>/<path>`` (what ``vault kv`` and ``bao kv`` ask first) to any token
    with a policy on a path of the mount; when it does not say, the KV version 2 calls tell."""
    exceptions = _hvac().exceptions
    try:
        response = client.adapter.get(f"/v1/sys/internal/ui/mounts/{quote(settings.mount)}/{quote(settings.path)}")
    except (exceptions.Forbidden, exceptions.InvalidPath, exceptions.InvalidRequest, exceptions.UnsupportedOperation):
        return
    except Exception as exc:  # pylint: disable=broad-exception-caught
        error = _translate(exc, settings, f"look up the mount {settings.mount}")
        if error is None:
            raise
        raise error from None
    engine = (response.get("data") if isinstance(response, dict) else None) or {}
    kind = engine.get("type")
    if not kind:
        return
    version = str((engine.get("options") or {}).get("version") or "1")
    if kind in ("kv", "generic") and version == "2":
        return
    what = f"a KV version {version}" if kind in ("kv", "generic") else f"a {kind}"
    upgrade = (f"upgrade it (bao kv enable-versioning {settings.mount}, or vault kv enable-versioning) or "
               if kind in ("kv", "generic") else "")
    raise StoreError(f"the mount {settings.mount} is {what} secrets engine, and the certificate store needs KV version 2: "
                     f"{upgrade}set mount to a KV version 2 mount; nothing was written", settings, option="mount")


def exists(client, settings):
    """Whether the path has any version or metadata (also when every version is deleted)."""
    exceptions = _hvac().exceptions
    try:
        client.secrets.kv.v2.read_secret_metadata(path=settings.path, mount_point=settings.mount)
    except exceptions.InvalidPath:
        return False
    except Exception as exc:  # pylint: disable=broad-exception-caught
        error = _translate(exc, settings, "read the secret's metadata")
        if error is None:
            raise
        raise error from None
    return True


def delete(client, settings):
    """Remove every version and the metadata of the secret."""
    _call(settings, "delete the secret", client.secrets.kv.v2.delete_metadata_and_all_versions,
          path=settings.path, mount_point=settings.mount)


# -- the secret's content --------------------------------------------------------------------------

def record(pfx_data, pfx_password, app_id=None, tenant_id=None, option="pfx_path"):
    """The secret for a PFX file's bytes: checks that the password opens it and that it holds a key
    and the certificate that belongs to it."""
    loaded = _certs.load_pfx(pfx_data, pfx_password, option=option, password_option="pfx_password")
    _certs.check_key_matches(loaded.private_key, loaded.certificate, option)
    return {
        "pfx_base64": base64.b64encode(pfx_data).decode("ascii"),
        "pfx_password": pfx_password,
        "thumbprint": _certs.sha1_thumbprint(loaded.certificate),
        "not_after": _certs.iso(_certs.not_after(loaded.certificate)),
        "app_id": app_id,
        "tenant_id": tenant_id,
    }


def merged(current, wanted):
    """``wanted`` with the fields it leaves unset (None) taken from ``current``."""
    result = dict(wanted)
    for key in PUBLIC_FIELDS:
        if result.get(key) is None and current:
            result[key] = current.get(key)
    return result


def public_view(data):
    """What may be shown of a secret: never the PFX or its password."""
    if not data:
        return {"state": "absent"}
    return {key: data.get(key) for key in PUBLIC_FIELDS}


def files_from(data, settings=None):
    """``{kind: bytes}`` of the four files the certificate module keeps, from a stored secret."""
    try:
        pfx = base64.b64decode(data.get("pfx_base64") or "", validate=True)
    except (binascii.Error, ValueError):
        raise StoreError("the secret's pfx_base64 is not base64", settings) from None
    if not pfx:
        raise StoreError("the secret holds no pfx_base64", settings)
    try:
        loaded = _certs.load_pfx(pfx, data.get("pfx_password"), option="pfx_base64", password_option="pfx_password")
        _certs.check_key_matches(loaded.private_key, loaded.certificate, "pfx_base64")
    except _certs.CertificateError as exc:
        raise StoreError(f"the stored PFX cannot be used: {exc}", settings) from None
    return {
        "key": _certs.private_key_pem(loaded.private_key),
        "certificate": _certs.certificate_pem(loaded.certificate),
        "pfx": pfx,
        "cer": _certs.der(loaded.certificate),
    }


@dataclass
class Restored:
    changed: bool
    written: tuple
    paths: dict


def restore(files, directory, name, check_mode=False):
    """Make ``<directory>/<name>.key|.crt|.pfx|.cer`` hold ``files`` with the certificate module's
    modes (key and PFX 0600, directory 0700 when created); only files that differ are written."""
    paths = _certs.certificate_paths(directory, name)
    _certs.check_not_a_file(paths.directory)
    differs = []
    for kind in RESTORED_KINDS:
        path = paths.path(kind)
        if os.path.isdir(paths.directory):
            current = _certs.read_if_present(path)
            mode = _certs.file_mode(path)
        else:
            current, mode = None, None
        if current != files[kind] or mode != _certs.FILE_MODES[kind]:
            differs.append(kind)
    if differs and not check_mode:
        _certs.ensure_directory(paths.directory)
        with _certs.directory_lock(paths.lock):
            _write(paths, differs, files)
        _certs.fsync_directory(paths.directory)
    return Restored(bool(differs), tuple(differs), paths.as_dict())


def _write(paths, kinds, files):
    for kind in RESTORED_KINDS:  # key first, as the certificate module writes them
        if kind in kinds:
            _certs.write_file_atomic(paths.path(kind), files[kind], _certs.FILE_MODES[kind])
