# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Small cryptography helpers shared by the emulator: keys, certificates, encodings, time."""

import base64
import binascii
import datetime
import hashlib
import re

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

_B64URL_RE = re.compile(r"^[A-Za-z0-9_-]*=*$")
_ISO_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?(Z|[+-]\d{2}:\d{2})?$"
)


def b64url(data):
    """base64url without padding (JOSE style)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    """Decode base64url, tolerating stripped or present padding; ValueError on bad input."""
    if not isinstance(text, str) or not _B64URL_RE.match(text):
        raise ValueError("not base64url")
    text = text.rstrip("=")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc


def b64decode_strict(text):
    """Standard base64 decode that rejects anything that is not base64."""
    return base64.b64decode(text, validate=True)


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def from_timestamp(value):
    return datetime.datetime.fromtimestamp(value, datetime.timezone.utc)


def iso(moment):
    """ISO-8601 UTC with a Z suffix, second precision (Graph's common representation)."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso7(moment):
    """ISO-8601 UTC with seven fractional digits and Z, as Graph writes keyCredential dates
    (`2017-02-25T20:48:35.5174541Z`)."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def parse_iso(text):
    """Parse an ISO-8601 date-time; naive values are taken as UTC. ValueError when invalid."""
    if not isinstance(text, str):
        raise ValueError("not a string")
    match = _ISO_RE.match(text.strip())
    if not match:
        raise ValueError("not an ISO-8601 date-time")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0").ljust(6, "0")[:6])
    tzinfo = datetime.timezone.utc
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        tzinfo = datetime.timezone(sign * datetime.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    moment = datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo)
    return moment.astimezone(datetime.timezone.utc)


def new_rsa_key(bits=2048):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def new_ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def self_signed_cert(key, common_name, not_before=None, days=730):
    """A self-signed certificate (the kind the collection generates for app-only auth)."""
    start = not_before or (utc_now() - datetime.timedelta(minutes=5))
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
    )
    return builder.sign(key, hashes.SHA256())


def key_pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def load_key_pem(text):
    return serialization.load_pem_private_key(text.encode("ascii"), password=None)


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def cert_der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def load_cert_pem(text):
    return x509.load_pem_x509_certificate(text.encode("ascii"))


def sha1_hex(data):
    return hashlib.sha1(data).hexdigest().upper()


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest().upper()
