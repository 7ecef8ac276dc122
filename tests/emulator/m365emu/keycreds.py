# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""keyCredentials: validation of what clients send and merging with what is stored."""

import base64
import uuid

from cryptography import x509

import hashlib

from .crypto import b64decode_strict, cert_der, iso7, parse_iso, sha1_hex, sha256_hex
from .errors import GraphError, bad_request, invalid_value, unknown_property

MEMBERS = {"customKeyIdentifier", "displayName", "endDateTime", "key", "keyId", "startDateTime", "type", "usage"}
TYPES = ("AsymmetricX509Cert", "X509CertAndPassword")
USAGES = ("Sign", "Verify")
_COMPARED = ("customKeyIdentifier", "displayName", "type", "usage")


def parse_certificate(encoded):
    """The X.509 certificate in a keyCredential `key`: base64 of DER, or base64 of PEM text."""
    try:
        raw = b64decode_strict(encoded)
        if raw.lstrip().startswith(b"-----BEGIN CERTIFICATE-----"):
            return x509.load_pem_x509_certificate(raw)
        return x509.load_der_x509_certificate(raw)
    except (ValueError, TypeError) as exc:
        raise bad_request("Invalid certificate: Key value is invalid certificate") from exc


def thumbprints(credential):
    der = b64decode_strict(credential["key"])
    return {"sha1": sha1_hex(der), "sha256": sha256_hex(der)}


def _check_members(item, resource):
    if not isinstance(item, dict):
        raise invalid_value("keyCredentials", resource)
    for member in item:
        if member not in MEMBERS and member != "@odata.type":
            raise unknown_property(member, "microsoft.graph.keyCredential")


def _check_type_usage(item):
    if item.get("type") not in TYPES:
        raise bad_request('The value for the property "type" in one of your credentials is invalid. '
                          f"Acceptable values are {', '.join(TYPES)}.")
    if item.get("usage") not in USAGES:
        raise bad_request('The value for the property "usage" in one of your credentials is invalid. '
                          f"Acceptable values are {', '.join(USAGES)}.")


def _date(item, name, default, resource):
    if item.get(name) is None:
        return default
    try:
        return parse_iso(item[name]).replace(microsecond=0)
    except ValueError as exc:
        raise invalid_value("keyCredentials", resource) from exc


def custom_key_identifier(value, der=None, resource="Application"):
    """customKeyIdentifier as Graph stores it: Edm.Binary, so base64 on the wire. What is sent is
    decoded as base64 (a hex thumbprint is valid base64 too, and reads back as the same text); the
    default is the certificate's SHA-1 thumbprint as binary, i.e. base64 of the 20 hash bytes."""
    if value is None:
        return binary(hashlib.sha1(der).digest())  # nosec - the certificate thumbprint
    try:
        return binary(b64decode_strict(value))
    except (ValueError, TypeError) as exc:
        raise invalid_value("keyCredentials", resource) from exc


def binary(raw):
    return base64.b64encode(raw).decode("ascii")


def new_credential(item, resource):
    """A keyCredential for a keyId the object does not have yet."""
    _check_type_usage(item)
    if item["type"] != "AsymmetricX509Cert" or not isinstance(item.get("key"), str):
        raise invalid_value("keyCredentials", resource)
    cert = parse_certificate(item["key"])
    der = cert_der(cert)
    valid_from = cert.not_valid_before_utc.replace(microsecond=0)
    valid_to = cert.not_valid_after_utc.replace(microsecond=0)
    start = _date(item, "startDateTime", valid_from, resource)
    end = _date(item, "endDateTime", valid_to, resource)
    if start < valid_from:
        raise bad_request("Key credential start date is invalid.")
    if end > valid_to or end <= start:
        raise bad_request("Key credential end date is invalid.")
    return {
        "customKeyIdentifier": custom_key_identifier(item.get("customKeyIdentifier"), der, resource),
        "displayName": item.get("displayName") or cert.subject.rfc4514_string(),
        "endDateTime": iso7(end), "key": b64_der(der), "keyId": item.get("keyId") or str(uuid.uuid4()),
        "startDateTime": iso7(start), "type": item["type"], "usage": item["usage"],
    }


def b64_der(der):
    return base64.b64encode(der).decode("ascii")


def _same_moment(left, right):
    try:
        return parse_iso(left).replace(microsecond=0) == parse_iso(right).replace(microsecond=0)
    except ValueError:
        return False


def _unchanged(item, stored):
    """True when every member the client re-sent matches the stored credential."""
    if item.get("key") is not None:
        try:
            if cert_der(parse_certificate(item["key"])) != b64decode_strict(stored["key"]):
                return False
        except (GraphError, ValueError):
            return False
    for name in _COMPARED:
        if item.get(name) is None:
            continue
        if name == "customKeyIdentifier":
            try:
                if b64decode_strict(item[name]) != b64decode_strict(stored.get(name) or ""):
                    return False
            except (ValueError, TypeError):
                return False
        elif item[name] != stored.get(name):
            return False
    return all(item.get(name) is None or _same_moment(item[name], stored[name])
               for name in ("startDateTime", "endDateTime"))


def merge(requested, stored, resource="Application"):
    """The new keyCredentials collection for a whole-collection write (PATCH replaces it)."""
    if not isinstance(requested, list):
        raise invalid_value("keyCredentials", resource)
    by_id = {c["keyId"].lower(): c for c in stored}
    seen, result = set(), []
    for item in requested:
        _check_members(item, resource)
        key_id = item.get("keyId")
        if key_id is not None:
            key_id = _guid(key_id, resource)
            if key_id in seen:
                raise invalid_value("keyCredentials", resource)
            seen.add(key_id)
        if key_id in by_id:
            if not _unchanged(item, by_id[key_id]):
                raise bad_request(f"Update to existing credential with KeyId '{item['keyId']}' is not allowed.")
            result.append(by_id[key_id])
        else:
            result.append(new_credential(item, resource))
    return result


def _guid(value, resource):
    try:
        return str(uuid.UUID(str(value))).lower()
    except ValueError as exc:
        raise invalid_value("keyCredentials", resource) from exc
