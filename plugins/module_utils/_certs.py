# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Certificates with the ``cryptography`` library. Private to m365.cba; no stable API.

Loading (PEM with key, PFX, CER/DER, base64), thumbprints in the forms Microsoft tools use
(SHA-1 uppercase hex for Connect-ExchangeOnline, SHA-256), and summaries without key material.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import os
from dataclasses import dataclass

PEM_CERT_MARKER = b"-----BEGIN CERTIFICATE-----"


class CertificateError(Exception):
    """A certificate or key could not be read or does not fit; ``option`` names the input at fault."""

    def __init__(self, message, option=None):
        super().__init__(message)
        self.option = option

    def __str__(self):
        return f"{self.option}: {self.args[0]}" if self.option else self.args[0]


@dataclass
class LoadedCredential:
    """A private key with its certificate, as loaded from a PEM or PFX file."""

    private_key: object
    certificate: object

    def private_key_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel

        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def certificate_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel

        return self.certificate.public_bytes(serialization.Encoding.PEM)


def _password_bytes(password):
    if password is None or password == "":
        return None
    return password.encode("utf-8") if isinstance(password, str) else password


def _read(path, option):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise CertificateError(f"file not found: {path}", option) from None
    except IsADirectoryError:
        raise CertificateError(f"is a directory, not a file: {path}", option) from None
    except OSError as exc:
        raise CertificateError(f"cannot read {path}: {exc.strerror}", option) from None


def load_pfx(data: bytes, password, option="client_certificate_path", password_option="client_certificate_password"):
    """Key and certificate from PKCS#12 bytes; a wrong password names ``password_option``."""
    from cryptography.hazmat.primitives.serialization import pkcs12  # pylint: disable=import-outside-toplevel

    try:
        key, cert, _extra = pkcs12.load_key_and_certificates(data, _password_bytes(password))
    except ValueError as exc:
        text = str(exc).lower()
        if "password" in text or "mac" in text or "decrypt" in text:
            raise CertificateError("the password does not open the PFX file", password_option) from None
        raise CertificateError(f"not a readable PFX (PKCS#12) file: {exc}", option) from None
    if key is None or cert is None:
        raise CertificateError("the PFX file must hold both a private key and its certificate", option)
    return LoadedCredential(key, cert)


def load_pem_bundle(data: bytes, password, option="client_certificate_path", password_option="client_certificate_password"):
    """Private key and certificate from one PEM text (any order)."""
    from cryptography import x509  # pylint: disable=import-outside-toplevel
    from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel

    if PEM_CERT_MARKER not in data:
        raise CertificateError("the PEM file holds no certificate (-----BEGIN CERTIFICATE-----)", option)
    if b"PRIVATE KEY-----" not in data:
        raise CertificateError("the PEM file holds no private key; it needs the key and the certificate", option)
    try:
        key = serialization.load_pem_private_key(data, _password_bytes(password))
    except TypeError:
        raise CertificateError("the private key is encrypted and no password was given", password_option) from None
    except ValueError as exc:
        if password and ("decrypt" in str(exc).lower() or "password" in str(exc).lower()):
            raise CertificateError("the password does not decrypt the private key", password_option) from None
        raise CertificateError(f"cannot read the private key: {exc}", option) from None
    cert = x509.load_pem_x509_certificate(data[data.index(PEM_CERT_MARKER):])
    return LoadedCredential(key, cert)


def load_credential_file(path, password=None, option="client_certificate_path", password_option="client_certificate_password"):
    """A key + certificate from a PEM bundle or a PFX file, whichever ``path`` holds."""
    data = _read(path, option)
    if b"-----BEGIN" in data:
        loaded = load_pem_bundle(data, password, option, password_option)
    else:
        loaded = load_pfx(data, password, option, password_option)
    check_key_matches(loaded.private_key, loaded.certificate, option)
    return loaded


def check_key_matches(private_key, certificate, option=None):
    from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel

    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if private_key.public_key().public_bytes(*fmt) != certificate.public_key().public_bytes(*fmt):
        raise CertificateError("the private key does not belong to the certificate", option)


def load_certificate(content, option="certificate"):
    """An X.509 certificate from PEM text, DER bytes, or base64 of either (what Graph's ``key`` holds)."""
    from cryptography import x509  # pylint: disable=import-outside-toplevel

    if isinstance(content, str):
        content = content.encode("ascii", "ignore") if content.isascii() else content.encode("utf-8")
    data = content.strip()
    if PEM_CERT_MARKER not in data and not data.startswith(b"\x30"):
        try:
            data = base64.b64decode(data, validate=False)
        except (binascii.Error, ValueError):
            raise CertificateError("neither PEM, DER nor base64 of a certificate", option) from None
    try:
        if PEM_CERT_MARKER in data:
            return x509.load_pem_x509_certificate(data[data.index(PEM_CERT_MARKER):])
        return x509.load_der_x509_certificate(data)
    except ValueError:
        if b"PRIVATE KEY" in data:
            raise CertificateError("this is a private key, not a certificate", option) from None
        raise CertificateError("not a valid X.509 certificate", option) from None


def load_certificate_file(path, option="certificate_path"):
    return load_certificate(_read(path, option), option)


def der(certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel

    return certificate.public_bytes(serialization.Encoding.DER)


def sha1_thumbprint(certificate) -> str:
    """Uppercase hex SHA-1 of the DER: the form ``Connect-ExchangeOnline -CertificateThumbPrint`` takes."""
    from cryptography.hazmat.primitives import hashes  # pylint: disable=import-outside-toplevel

    return certificate.fingerprint(hashes.SHA1()).hex().upper()  # nosec - a thumbprint, not a signature


def sha256_thumbprint(certificate) -> str:
    from cryptography.hazmat.primitives import hashes  # pylint: disable=import-outside-toplevel

    return certificate.fingerprint(hashes.SHA256()).hex().upper()


def not_before(certificate) -> datetime.datetime:
    return certificate.not_valid_before_utc


def not_after(certificate) -> datetime.datetime:
    return certificate.not_valid_after_utc


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def summary(certificate) -> dict:
    """What may be shown of a certificate: no key material."""
    return {
        "thumbprint": sha1_thumbprint(certificate),
        "thumbprint_sha256": sha256_thumbprint(certificate),
        "subject": certificate.subject.rfc4514_string(),
        "serial_number": format(certificate.serial_number, "X"),
        "not_before": iso(not_before(certificate)),
        "not_after": iso(not_after(certificate)),
    }


def fingerprint_file(path) -> str:
    """A cheap identity of a file's content for cache keys: size, mtime and inode."""
    stat = os.stat(path)
    return f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ino}"
