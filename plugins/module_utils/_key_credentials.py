# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Certificates in an application's ``keyCredentials``. Private to m365.cba; no stable API.

Graph replaces ``keyCredentials`` whole on ``PATCH /applications/{id}``: a list that lacks an entry
deletes it. So the list is read in full, changed here, and written back with every entry that
stays exactly as it was read (same ``keyId``, same content), which Graph keeps as it is.

Certificates are identified by their SHA-1 thumbprint (uppercase hex, the form
``Connect-ExchangeOnline -CertificateThumbprint`` takes). Graph returns the certificate itself
(``key``) when a read selects ``keyCredentials`` (a single-object read, and a list read too per the
application-list documentation); without it ``key`` is null, and then the thumbprint can only come
from ``customKeyIdentifier`` (Edm.Binary, base64 on the wire), which Graph defaults to the
thumbprint's bytes and which ``application_certificate`` always sets to the hex thumbprint.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re
import time
import uuid
from dataclasses import dataclass, field

from ._applications import APP_SELECT, find_application, normalise, validate_unique_name
from ._certs import (
    PEM_CERT_MARKER,
    CertificateError,
    _read,
    check_single_certificate,
    der,
    iso,
    load_certificate,
    not_after,
    not_before,
    sha1_thumbprint,
)
from ._graph import is_replication_lag, odata_quote

KEY_SELECT = "id,appId,keyCredentials"
MAX_PAGE_SIZE = 999
CERTIFICATE_LOOKUPS = ("auto", "always", "never")
CERTIFICATE_TYPE = "AsymmetricX509Cert"
VERIFY_USAGE = "Verify"
_HEX_THUMBPRINT = re.compile(r"^[0-9A-Fa-f]{40}$")
_THUMBPRINT_SEPARATORS = re.compile(r"[\s:\u200e]")
_DATETIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|z|[+-]\d\d:?\d\d)?$")


class KeyCredentialInputError(Exception):
    """An option value that cannot be used; ``option`` names it."""

    def __init__(self, message, option):
        super().__init__(message)
        self.option = option

    def __str__(self):
        return f"{self.option}: {self.args[0]}"


# Thumbprints -------------------------------------------------------------------------------------

def normalise_thumbprint(value, option="thumbprint"):
    """Uppercase hex without separators; accepts the ``AB:CD ...`` and lower-case forms tools print."""
    cleaned = _THUMBPRINT_SEPARATORS.sub("", str(value or ""))
    if not _HEX_THUMBPRINT.match(cleaned):
        raise KeyCredentialInputError(
            f"'{value}' is not a SHA-1 thumbprint: 40 hexadecimal characters (separators allowed)", option)
    return cleaned.upper()


def thumbprint_from_custom_key_identifier(value):
    """The SHA-1 thumbprint a ``customKeyIdentifier`` holds, or None when it holds something else.

    Seen forms: the hex thumbprint itself (Microsoft's how-to sends it so, and Graph's binary
    round trip returns the same text), and base64 of the 20 hash bytes (the portal's manifest form).
    """
    if not value or not isinstance(value, str):
        return None
    if _HEX_THUMBPRINT.match(value):
        return value.upper()
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) == 20:
        return raw.hex().upper()
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    return text.upper() if _HEX_THUMBPRINT.match(text) else None


def credential_thumbprint(credential):
    """(thumbprint, source): from the certificate in ``key`` when Graph returned it, else from
    ``customKeyIdentifier``; (None, None) when neither tells."""
    key = credential.get("key")
    if key:
        try:
            return sha1_thumbprint(load_certificate(key)), "key"
        except CertificateError:
            pass
    thumbprint = thumbprint_from_custom_key_identifier(credential.get("customKeyIdentifier"))
    return (thumbprint, "custom_key_identifier") if thumbprint else (None, None)


# Dates -------------------------------------------------------------------------------------------

def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def parse_graph_datetime(value):
    """A Graph ``DateTimeOffset`` (``2027-01-01T00:00:00Z``, up to 7 fractional digits) as aware UTC."""
    match = _DATETIME.match(str(value or "").strip())
    if not match:
        return None
    zone = match.group(3)
    try:
        moment = datetime.datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    if match.group(2):
        moment = moment.replace(microsecond=int((match.group(2)[1:] + "000000")[:6]))
    offset = datetime.timedelta(0)
    if zone and zone.upper() != "Z":
        sign = -1 if zone[0] == "-" else 1
        hours, minutes = zone[1:].split(":") if ":" in zone else (zone[1:3], zone[3:5])
        offset = sign * datetime.timedelta(hours=int(hours), minutes=int(minutes or 0))
    return moment.replace(tzinfo=datetime.timezone(offset)).astimezone(datetime.timezone.utc)


def graph_datetime_text(value):
    """A Graph date as the collection reports dates (``2027-01-01T00:00:00Z``, whole seconds): Graph
    writes keyCredential dates with seven fractional digits, the portal's manifest with none, and a
    client may have sent an offset. Unreadable values are returned as they are."""
    moment = parse_graph_datetime(value)
    return iso(moment.replace(microsecond=0)) if moment is not None else value


def validity_warning(credential, now, option):
    """Why a certificate about to be uploaded cannot be used for sign-in now (expired, or not valid
    yet), as a warning naming ``option``; None when it is valid."""
    start = parse_graph_datetime(credential.get("startDateTime"))
    if is_expired(credential, now):
        return f"{option}: the certificate expired on {credential['endDateTime']}; Microsoft Entra ID does not accept it for sign-in"
    if start is not None and start > now:
        return (f"{option}: the certificate is not valid before {credential['startDateTime']}; Microsoft Entra ID does not "
                "accept it for sign-in until then (is the clock of the machine that made it ahead?)")
    return None


def is_expired(credential, now):
    end = parse_graph_datetime(credential.get("endDateTime"))
    return end is not None and end <= now


# Summaries (no key material) ---------------------------------------------------------------------

def summarise(credential, now):
    """What modules return about one keyCredential."""
    thumbprint, source = credential_thumbprint(credential)
    end = parse_graph_datetime(credential.get("endDateTime"))
    return {
        "key_id": credential.get("keyId"),
        "thumbprint": thumbprint,
        "thumbprint_source": source,
        "display_name": credential.get("displayName"),
        "type": credential.get("type"),
        "usage": credential.get("usage"),
        "start_date_time": graph_datetime_text(credential.get("startDateTime")),
        "end_date_time": graph_datetime_text(credential.get("endDateTime")),
        "days_to_expiry": (end - now).days if end is not None else None,
        "expired": end is not None and end <= now,
    }


def summarise_all(credentials, now):
    return [summarise(c, now) for c in credentials or []]


def diff_view(credentials):
    """keyCredentials for diff mode: thumbprint and dates only, in a stable order."""
    view = []
    for credential in credentials or []:
        thumbprint, dummy = credential_thumbprint(credential)
        view.append({
            "thumbprint": thumbprint,
            "start_date_time": graph_datetime_text(credential.get("startDateTime")),
            "end_date_time": graph_datetime_text(credential.get("endDateTime")),
        })
    return {"key_credentials": sorted(view, key=lambda e: (e["thumbprint"] or "", e["end_date_time"] or ""))}


# The certificate to add --------------------------------------------------------------------------

def load_wanted_certificate(path=None, content=None):
    """The certificate from ``certificate_path`` or ``certificate_content``; errors name that option
    and say what was given instead when it is a private key or a PFX file."""
    if path is not None:
        option = "certificate_path"
        data = _read(path, option)
    elif content is not None:
        option = "certificate_content"
        data = content.encode("utf-8")
        if not data.strip():
            raise CertificateError("is empty", option)
    else:
        return None
    check_single_certificate(data, option)
    if PEM_CERT_MARKER not in data and b"PRIVATE KEY-----" in data:
        raise CertificateError("this is a private key, not a certificate; give the public certificate (.crt, .cer)",
                               option)
    try:
        return load_certificate(data, option)
    except CertificateError:
        raise CertificateError(_what_else(data), option) from None


def wanted_thumbprint(params, certificate):
    """The thumbprint to add or remove; the option at fault when the inputs disagree or are missing."""
    given = normalise_thumbprint(params["thumbprint"]) if params["thumbprint"] else None
    if certificate is not None:
        actual = sha1_thumbprint(certificate)
        if given and given != actual:
            option = "certificate_path" if params["certificate_path"] else "certificate_content"
            raise KeyCredentialInputError(f"the certificate's thumbprint is {actual}, not {given} as thumbprint says", option)
        return actual
    if given is None and params["state"] == "absent" and not params["prune_expired"]:
        raise KeyCredentialInputError(
            "state=absent needs thumbprint, certificate_path or certificate_content (or prune_expired=true)", "thumbprint")
    return given


def check_request(params):
    """application_certificate's options checked against each other: ``(certificate, thumbprint)``,
    the certificate to add (None without one) and the thumbprint to add or remove. Raises
    KeyCredentialInputError, ApplicationInputError or CertificateError naming the option at fault."""
    validate_unique_name(params["unique_name"])
    if params["exclusive"] and params["state"] == "absent":
        raise KeyCredentialInputError("only applies with state=present", "exclusive")
    if params["supersede"] and (params["state"] == "absent" or not params["display_name"]):
        raise KeyCredentialInputError("needs state=present and a display_name", "supersede")
    if params["supersede_grace_days"] < 0:
        raise KeyCredentialInputError("must be 0 or more", "supersede_grace_days")
    if params["display_name"] is not None and not params["display_name"].strip():
        raise KeyCredentialInputError("must not be empty", "display_name")
    certificate = load_wanted_certificate(params["certificate_path"], params["certificate_content"])
    return certificate, wanted_thumbprint(params, certificate)


def _what_else(data):
    """Why ``data`` is not a certificate, as precisely as can be told."""
    from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel
    from cryptography.hazmat.primitives.serialization import pkcs12  # pylint: disable=import-outside-toplevel

    if data.startswith(b"\x30"):
        try:
            serialization.load_der_private_key(data, None)
            return "this is a private key, not a certificate; give the public certificate (.crt, .cer)"
        except (TypeError, ValueError):
            pass
        try:
            pkcs12.load_key_and_certificates(data, None)
            return "this is a PFX (PKCS#12) file; give the public certificate (.crt, .cer) instead"
        except ValueError as exc:
            if "password" in str(exc).lower() or "mac" in str(exc).lower():
                return "this looks like a password-protected PFX (PKCS#12) file; give the public certificate (.crt, .cer)"
    return "not a certificate: expected PEM (-----BEGIN CERTIFICATE-----), DER, or base64 of DER"


def default_display_name(certificate):
    """The subject's common name; the whole subject when it has none."""
    from cryptography.x509.oid import NameOID  # pylint: disable=import-outside-toplevel

    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if names:
        return str(names[0].value)
    return certificate.subject.rfc4514_string() or sha1_thumbprint(certificate)


def new_key_credential(certificate, display_name=None, key_id=None):
    """A keyCredential for ``certificate``, valid exactly as long as the certificate.

    A fresh ``keyId`` is chosen by the client, so a PATCH repeated after a lost answer carries the
    same entry and Graph sees an unchanged credential instead of a second one.
    """
    return {
        "type": CERTIFICATE_TYPE,
        "usage": VERIFY_USAGE,
        "key": base64.b64encode(der(certificate)).decode("ascii"),
        "customKeyIdentifier": sha1_thumbprint(certificate),
        "displayName": display_name or default_display_name(certificate),
        "startDateTime": iso(not_before(certificate)),
        "endDateTime": iso(not_after(certificate)),
        "keyId": key_id or str(uuid.uuid4()),
    }


# Reconciling the list ----------------------------------------------------------------------------

@dataclass
class Reconciliation:
    """The keyCredentials to write and what differs from what was read."""

    credentials: list
    added: list = field(default_factory=list)
    removed: list = field(default_factory=list)

    @property
    def changed(self):
        return bool(self.added or self.removed)


def reconcile(current, thumbprint=None, new_credential=None, state="present", prune_expired=False, exclusive=False,
              now=None, supersede=None):
    """The new keyCredentials list.

    ``present``: the entry with ``thumbprint`` is kept, or ``new_credential`` appended when none
    has it. ``absent``: every entry with ``thumbprint`` is dropped. ``prune_expired`` drops entries
    whose end date has passed (never the certificate being ensured); ``exclusive`` (present only)
    drops every entry but the first one with ``thumbprint``; ``supersede`` (present only, a display
    name) drops the other entries with that display name: the certificates this one replaces.
    Entries that stay are returned as read, in their order.
    """
    now = now or utc_now()
    kept, removed = [], []
    found = False
    for credential in current or []:
        this_thumbprint, dummy = credential_thumbprint(credential)
        is_wanted = thumbprint is not None and this_thumbprint == thumbprint
        if state == "present" and is_wanted and not (exclusive and found):
            found = True
            kept.append(credential)
        elif (state == "absent" and is_wanted) or (state == "present" and exclusive) \
                or (state == "present" and supersede is not None and credential.get("displayName") == supersede) \
                or (prune_expired and is_expired(credential, now)):
            removed.append(this_thumbprint)
        else:
            kept.append(credential)
    added = []
    if state == "present" and not found:
        if new_credential is None:
            raise ValueError("a new credential is needed to add the certificate")
        kept.append(new_credential)
        added.append(thumbprint)
    return Reconciliation(kept, added, removed)


# Graph -------------------------------------------------------------------------------------------

def read_key_credentials(client, unique_name=None, app_id=None, object_id=None, wait_for_replication=True):
    """``{id, appId, keyCredentials}`` of the application (``key`` included: a single-object read),
    or None. With ``wait_for_replication`` a 404 is retried for a while: the application may have
    been created a moment ago and not have reached every replica."""
    return find_application(client, unique_name=unique_name, app_id=app_id, object_id=object_id, select=KEY_SELECT,
                            wait_for_replication=wait_for_replication)


def write_key_credentials(client, object_id, credentials):
    """Replace the whole collection. Retried on replication lag like every write to a new object."""
    client.patch(f"/applications/{object_id}", {"keyCredentials": credentials}, retry_on=is_replication_lag)


def wait_until_visible(client, object_id, credentials, sleep=time.sleep, clock=time.monotonic):
    """Read the application back until it shows exactly the keyIds written; False if it never did.

    A read served by a replica that has not seen the write yet would make the next task start from
    the old list, and its write would drop what this one added. A plain GET (no ``$select``) is
    enough to compare keyIds and is not subject to the keyCredentials throttle.
    """
    wanted = sorted(str(c.get("keyId") or "").lower() for c in credentials)
    policy = client.policy
    started = clock()
    attempt = 0
    while True:
        app = client.get_optional(f"/applications/{object_id}") or {}
        seen = sorted(str(c.get("keyId") or "").lower() for c in app.get("keyCredentials") or [])
        if app and seen == wanted:
            return True
        wait = policy.lag_wait(attempt)
        if clock() - started + wait > policy.lag_timeout:
            return False
        sleep(wait)
        attempt += 1


# Reading applications with their certificates ---------------------------------------------------

def needs_single_read(app, certificate_lookup):
    """Whether a listed application must be read singly to learn its thumbprints (see ``read_applications``)."""
    credentials = app.get("keyCredentials") or []
    if certificate_lookup == "never" or not credentials:
        return False
    if certificate_lookup == "always":
        return any(not c.get("key") for c in credentials)
    return any(credential_thumbprint(c)[0] is None for c in credentials)


def read_applications(client, unique_name=None, app_id=None, object_id=None, display_name=None, limit=None,
                      certificate_lookup="auto"):
    """Applications (Graph shape) by key (0 or 1), by display name (0..n) or all, up to ``limit``.

    Both reads select ``keyCredentials`` and so get the certificates themselves. Should a listed
    entry come back with ``key: null``, ``certificate_lookup`` decides which listed applications are
    read again singly (one request each, throttled by Graph to 150 per minute per tenant).
    """
    if unique_name or app_id or object_id:
        app = find_application(client, unique_name=unique_name, app_id=app_id, object_id=object_id, select=APP_SELECT)
        return [app] if app is not None else []
    if certificate_lookup not in CERTIFICATE_LOOKUPS:
        raise ValueError(f"certificate_lookup must be one of {', '.join(CERTIFICATE_LOOKUPS)}")
    params = {"$select": APP_SELECT, "$top": str(min(limit or MAX_PAGE_SIZE, MAX_PAGE_SIZE))}
    if display_name is not None:
        params["$filter"] = f"displayName eq {odata_quote(display_name)}"
    apps = client.get_all("/applications", params=params, limit=limit)
    for app in apps:
        if needs_single_read(app, certificate_lookup):
            single = client.get_optional(f"/applications/{app['id']}", params={"$select": "id,keyCredentials"})
            if single is not None:
                app["keyCredentials"] = single.get("keyCredentials") or []
    return apps


def application_summaries(apps, now=None):
    """Applications as ``application_info`` returns them: normalised, with certificates summarised."""
    now = now or utc_now()
    result = []
    for app in apps:
        entry = normalise(app)
        entry["key_credentials"] = summarise_all(app.get("keyCredentials"), now)
        result.append(entry)
    return result
