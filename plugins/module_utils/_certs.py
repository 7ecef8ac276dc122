# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Certificates with the ``cryptography`` library. Private to m365.cba; no stable API.

Loading (PEM with key, PFX, CER/DER, base64), thumbprints in the forms Microsoft tools use
(SHA-1 uppercase hex for Connect-ExchangeOnline, SHA-256), and summaries without key material.

Generating a self-signed certificate set on disk (PEM key, PEM certificate, PFX, CER) and keeping
it: inspect what is there (``inspect_files``: the key and certificate files, or else the PFX, and
never a file another local user owns or may change), decide with ``needs_regeneration`` whether the
key and certificate still satisfy the request, restore or rebuild only the files that are missing
or stale, write atomically under an exclusive lock.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime
import errno
import fcntl
import os
import re
import stat
import tempfile
import unicodedata
from dataclasses import dataclass, field

from ._secure_fs import UnsafePathError, check_owner_and_mode, check_path, make_private_dirs

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


PEM_KEY_BLOCK = re.compile(rb"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.+?-----END \1PRIVATE KEY-----", re.DOTALL)
PEM_CERT_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


def split_pem_bundle(data: bytes, option="client_certificate_path"):
    """``(private key block, first certificate block)`` of one PEM text (any order), as text; read, not loaded."""
    key = PEM_KEY_BLOCK.search(data)
    cert = PEM_CERT_BLOCK.search(data)
    if cert is None:
        raise CertificateError("the PEM file holds no certificate (-----BEGIN CERTIFICATE-----)", option)
    if key is None:
        raise CertificateError("the PEM file holds no private key; it needs the key and the certificate", option)
    return key.group(0).decode("ascii"), cert.group(0).decode("ascii")


def load_pem_bundle(data: bytes, password, option="client_certificate_path", password_option="client_certificate_password"):
    """Private key and certificate from one PEM text (any order)."""
    from cryptography import x509  # pylint: disable=import-outside-toplevel
    from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel

    key_pem, cert_pem = split_pem_bundle(data, option)
    try:
        key = serialization.load_pem_private_key(key_pem.encode("ascii"), _password_bytes(password))
    except TypeError:
        raise CertificateError("the private key is encrypted and no password was given", password_option) from None
    except ValueError as exc:
        if password and ("decrypt" in str(exc).lower() or "password" in str(exc).lower()):
            raise CertificateError("the password does not decrypt the private key", password_option) from None
        raise CertificateError(f"cannot read the private key: {exc}", option) from None
    return LoadedCredential(key, x509.load_pem_x509_certificate(cert_pem.encode("ascii")))


def read_credential_file(path, option="client_certificate_path"):
    """The bytes of a credential file; a missing or unreadable file names ``option``."""
    return _read(path, option)


def load_credential_file(path, password=None, option="client_certificate_path", password_option="client_certificate_password"):
    """A key + certificate from a PEM bundle or a PFX file, whichever ``path`` holds."""
    return load_credential_data(_read(path, option), password, option, password_option)


def load_credential_data(data, password=None, option="client_certificate_path", password_option="client_certificate_password"):
    """A key + certificate from the bytes of a PEM bundle or a PFX file, checked to belong together."""
    if b"-----BEGIN" in data:
        loaded = load_pem_bundle(data, password, option, password_option)
    else:
        loaded = load_pfx(data, password, option, password_option)
    check_key_matches(loaded.private_key, loaded.certificate, option)
    if rsa_key_size(loaded.private_key) is None:
        # Client assertions for Microsoft Entra ID are signed with RS256 or PS256: RSA keys only.
        raise CertificateError(f"the private key is {type(loaded.private_key).__name__}, not RSA; "
                               "Microsoft Entra ID accepts client assertions signed with an RSA key only", option)
    return loaded


def check_key_matches(private_key, certificate, option=None):
    from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel

    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if private_key.public_key().public_bytes(*fmt) != certificate.public_key().public_bytes(*fmt):
        raise CertificateError("the private key does not belong to the certificate", option)


def check_single_certificate(data: bytes, option):
    """Refuse PEM text that holds more than one certificate (a chain or a bundle): which one was
    meant cannot be told, and uploading the first one silently may upload the wrong one."""
    count = data.count(PEM_CERT_MARKER)
    if count > 1:
        raise CertificateError(
            f"holds {count} certificates (a PEM bundle or chain); give exactly one, the application's own certificate", option)


def load_certificate(content, option="certificate"):
    """An X.509 certificate from PEM text, DER bytes, or base64 of either (what Graph's ``key`` holds)."""
    from cryptography import x509  # pylint: disable=import-outside-toplevel

    if isinstance(content, str):
        content = content.encode("ascii", "ignore") if content.isascii() else content.encode("utf-8")
    # Raw DER is parsed as it is: trimming "whitespace" would cut signature bytes that are 0x0a or 0x20.
    data = content if content.startswith(b"\x30") else content.strip()
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


# Generating and keeping a certificate set on disk ----------------------------------------------

KEY_SIZES = (2048, 3072, 4096)
MAX_VALID_DAYS = 3650
# The shortest PFX password accepted. The password is the only protection of the private key in the
# PFX file, which is meant to be copied to Windows hosts: 16 characters is above the 15 that NIST SP
# 800-63B-4 requires of a single-factor password. It also keeps the password out of the identifiers
# a run returns: Ansible masks a no_log value wherever it appears in a result, and a short password
# ("F3", "0") occurs in a hex thumbprint, turning it into "678********EBF". A 16-character password
# made only of hex digits occurs in one of the returned identifiers with a chance of about 1 in 10^16.
PFX_PASSWORD_MIN_LENGTH = 16
PFX_ENCRYPTIONS = ("modern", "legacy")
DEFAULT_COMMON_NAME = "m365.cba"

FILE_KINDS = ("key", "certificate", "pfx", "cer")
FILE_SUFFIXES = {"key": ".key", "certificate": ".crt", "pfx": ".pfx", "cer": ".cer"}
FILE_MODES = {"key": 0o600, "certificate": 0o644, "pfx": 0o600, "cer": 0o644}
DIRECTORY_MODE = 0o700

# Backdating notBefore a little keeps a brand-new certificate valid for a verifier whose clock
# runs slightly behind the control node's.
CLOCK_SKEW_ALLOWANCE = datetime.timedelta(minutes=5)

# PBKDF2 rounds for the modern PFX; the legacy one keeps the 2000-ish count Windows itself uses.
MODERN_PFX_ROUNDS = 20000
LEGACY_PFX_ROUNDS = 2048

# Encoded OIDs (tag + length + value) that tell how a PFX is encrypted. The algorithm identifiers
# sit outside the encrypted parts; a chance match inside ciphertext is ~2^-72 per offset.
_OID_PBES2 = bytes.fromhex("06092a864886f70d01050d")  # 1.2.840.113549.1.5.13
_OID_AES256_CBC = bytes.fromhex("060960864801650304012a")  # 2.16.840.1.101.3.4.1.42
_OID_PBE_SHA1_3DES = bytes.fromhex("060a2a864886f70d010c0103")  # 1.2.840.113549.1.12.1.3

# Why the key and certificate are (or would be) generated anew, in the order they are checked.
REGENERATION_REASONS = (
    "forced", "missing", "invalid", "mismatch", "key_type", "key_size", "subject", "dns_names", "expired", "expiring",
)


@dataclass(frozen=True)
class CertificateRequest:
    """What the certificate set on disk must satisfy."""

    common_name: str = DEFAULT_COMMON_NAME
    dns_names: tuple = ()
    key_size: int = 2048
    valid_days: int = 365
    renew_before_days: int = 30
    pfx_password: str | None = None
    pfx_encryption: str = "modern"


def validate_request(request: CertificateRequest) -> CertificateRequest:
    """The request with DNS names normalised; a bad value raises CertificateError naming its option."""
    if request.key_size not in KEY_SIZES:
        raise CertificateError(f"must be one of {', '.join(map(str, KEY_SIZES))}, got {request.key_size}", "key_size")
    if not 1 <= request.valid_days <= MAX_VALID_DAYS:
        raise CertificateError(f"must be between 1 and {MAX_VALID_DAYS} days, got {request.valid_days}", "valid_days")
    if request.renew_before_days < 0:
        raise CertificateError(f"must be 0 or more, got {request.renew_before_days}", "renew_before_days")
    if request.renew_before_days >= request.valid_days:
        raise CertificateError(
            f"{request.renew_before_days} is not smaller than valid_days ({request.valid_days}): every run would generate "
            "a new certificate; make valid_days larger than renew_before_days", "renew_before_days")
    if request.pfx_encryption not in PFX_ENCRYPTIONS:
        raise CertificateError(f"must be one of {', '.join(PFX_ENCRYPTIONS)}", "pfx_encryption")
    check_pfx_password(request.pfx_password)
    common_name = (request.common_name or "").strip()
    if not 1 <= len(common_name) <= 64:
        raise CertificateError("must hold 1 to 64 characters (the X.509 limit for a common name)", "common_name")
    if DN_SYNTAX.search(common_name):
        raise CertificateError(
            f"'{common_name}' looks like a distinguished name; give only the common name's value (the subject is made as "
            "CN=<common_name>), without attribute names such as CN= or O=", "common_name")
    return CertificateRequest(
        common_name=common_name,
        dns_names=normalise_dns_names(request.dns_names),
        key_size=request.key_size,
        valid_days=request.valid_days,
        renew_before_days=request.renew_before_days,
        pfx_password=request.pfx_password,
        pfx_encryption=request.pfx_encryption,
    )


def normalise_dns_names(names) -> tuple:
    """Lower-case, de-duplicated DNS names in their given order (DNS names compare case-insensitively)."""
    result = []
    for raw in names or ():
        name = str(raw).strip().lower()
        if not name or not name.isascii() or len(name) > 253 or any(c.isspace() for c in name):
            raise CertificateError(f"not a usable DNS name: {raw!r} (use the ASCII/punycode form)", "dns_names")
        if name not in result:
            result.append(name)
    return tuple(result)


# An attribute assignment (CN=, O=, OU=, 2.5.4.3=, ...) at the start or after a separator: the common
# name was given as a distinguished name.
DN_SYNTAX = re.compile(r"(^|[,;+])\s*([A-Za-z][A-Za-z0-9-]*|\d+(\.\d+)+)\s*=")


def require_pfx_password(password):
    if password is None or password == "":
        raise CertificateError("a non-empty password is required to protect the PFX file", "pfx_password")
    return password


def check_pfx_password(password, option="pfx_password"):
    """Refuse a password too weak to protect the PFX file (and short enough to be masked inside the
    identifiers a run returns); None is left to require_pfx_password."""
    if password is None:
        return None
    if password == "" or len(password) < PFX_PASSWORD_MIN_LENGTH:
        raise CertificateError(
            f"must be at least {PFX_PASSWORD_MIN_LENGTH} characters long, got {len(password)}; it is the only protection "
            "of the private key in the PFX file (for example: openssl rand -base64 18)", option)
    if any(unicodedata.category(character) == "Cc" for character in password):
        raise CertificateError(
            "must not hold a control character (a line break, a tab or another one): openssl -passin and most password "
            "prompts cannot pass it, so the PFX file could not be opened with it (for example: openssl rand -base64 18)",
            option)
    return password


@dataclass(frozen=True)
class CertificatePaths:
    """Where one certificate set lives: ``<directory>/<name>.key|.crt|.pfx|.cer`` and a lock file."""

    directory: str
    name: str

    def path(self, kind) -> str:
        return os.path.join(self.directory, self.name + FILE_SUFFIXES[kind])

    @property
    def lock(self) -> str:
        return os.path.join(self.directory, f".{self.name}.lock")

    def as_dict(self) -> dict:
        return {kind: self.path(kind) for kind in FILE_KINDS}


def certificate_paths(directory, name) -> CertificatePaths:
    if not directory:
        raise CertificateError("a directory is required", "path")
    if not name or name in (".", "..") or os.sep in name or (os.altsep and os.altsep in name) or "\0" in name:
        raise CertificateError(f"must be a plain file name without a directory part, got {name!r}", "name")
    return CertificatePaths(os.path.abspath(os.path.expanduser(directory)), name)


# Building ----------------------------------------------------------------------------------------

def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def generate_private_key(key_size: int):
    from cryptography.hazmat.primitives.asymmetric import rsa  # pylint: disable=import-outside-toplevel

    if key_size not in KEY_SIZES:
        raise CertificateError(f"must be one of {', '.join(map(str, KEY_SIZES))}", "key_size")
    return rsa.generate_private_key(public_exponent=65537, key_size=key_size)


def subject_name(common_name: str):
    from cryptography import x509  # pylint: disable=import-outside-toplevel
    from cryptography.x509.oid import NameOID  # pylint: disable=import-outside-toplevel

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def build_self_signed(private_key, request: CertificateRequest, now: datetime.datetime | None = None):
    """A SHA-256 self-signed client-authentication certificate for ``private_key``."""
    from cryptography import x509  # pylint: disable=import-outside-toplevel
    from cryptography.hazmat.primitives import hashes  # pylint: disable=import-outside-toplevel
    from cryptography.x509.oid import ExtendedKeyUsageOID  # pylint: disable=import-outside-toplevel

    now = now or utc_now()
    name = subject_name(request.common_name)
    public_key = private_key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW_ALLOWANCE)
        .not_valid_after(now + datetime.timedelta(days=request.valid_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=True, data_encipherment=False,
                key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if request.dns_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in request.dns_names]), critical=False
        )
    return builder.sign(private_key, hashes.SHA256())


def private_key_pem(private_key) -> bytes:
    from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel

    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def certificate_pem(certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel

    return certificate.public_bytes(serialization.Encoding.PEM)


def pfx_bytes(private_key, certificate, password, encryption="modern", friendly_name=None) -> bytes:
    """PKCS#12 with the key and certificate: AES-256-CBC/PBKDF2-SHA256 + HMAC-SHA256 (``modern``),
    or 3DES/SHA-1 (``legacy``) for Windows releases that cannot read AES-encrypted PFX files."""
    from cryptography.hazmat.primitives import hashes  # pylint: disable=import-outside-toplevel
    from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel
    from cryptography.hazmat.primitives.serialization import pkcs12  # pylint: disable=import-outside-toplevel

    secret = _password_bytes(require_pfx_password(password))
    builder = serialization.PrivateFormat.PKCS12.encryption_builder()
    if encryption == "legacy":
        builder = (
            builder.kdf_rounds(LEGACY_PFX_ROUNDS)
            .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
            .hmac_hash(hashes.SHA1())  # nosec - what pre-2019 Windows PFX import understands
        )
    elif encryption == "modern":
        builder = (
            builder.kdf_rounds(MODERN_PFX_ROUNDS)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
        )
    else:
        raise CertificateError(f"must be one of {', '.join(PFX_ENCRYPTIONS)}", "pfx_encryption")
    name = friendly_name.encode("utf-8") if friendly_name else None
    return pkcs12.serialize_key_and_certificates(name, private_key, certificate, None, builder.build(secret))


def pfx_encryption_of(data: bytes) -> str | None:
    """``modern``, ``legacy`` or None (anything else) for the algorithms a PFX was written with."""
    if _OID_PBES2 in data and _OID_AES256_CBC in data and _OID_PBE_SHA1_3DES not in data:
        return "modern"
    if _OID_PBE_SHA1_3DES in data and _OID_PBES2 not in data:
        return "legacy"
    return None


def rsa_key_size(key) -> int | None:
    """The modulus size of an RSA private or public key; None for any other key type."""
    from cryptography.hazmat.primitives.asymmetric import rsa  # pylint: disable=import-outside-toplevel

    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return key.key_size
    return None


def dns_names_of(certificate) -> tuple:
    from cryptography import x509  # pylint: disable=import-outside-toplevel

    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    return tuple(n.lower() for n in extension.value.get_values_for_type(x509.DNSName))


def keys_match(private_key, certificate) -> bool:
    try:
        check_key_matches(private_key, certificate)
    except CertificateError:
        return False
    return True


# Inspecting what is on disk ----------------------------------------------------------------------

@dataclass
class Inspection:
    """The certificate set as found on disk: ``private_key`` and ``certificate`` are the pair it holds
    (from the key and certificate files, or restored from the PFX), None when no pair is left.
    ``states`` maps each file kind to ``ok`` (holds that pair), ``missing``, ``present`` (with no pair
    left), ``stale`` (to be written again from the pair) or, for the PFX, ``unopenable`` or
    ``encryption``; ``modes`` the mode of each file there."""

    directory_exists: bool = False
    private_key: object = None
    certificate: object = None
    states: dict = field(default_factory=dict)
    modes: dict = field(default_factory=dict)

    @property
    def any_file(self) -> bool:
        return any(state != "missing" for state in self.states.values())


def read_if_present(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise CertificateError(f"{path} is a directory, where a file belongs", "path") from None
    except OSError as exc:
        raise CertificateError(f"cannot read {path}: {exc.strerror}", "path") from None


FILE_DESCRIPTIONS = {"key": "the private key file", "certificate": "the certificate file", "pfx": "the PFX file",
                     "cer": "the CER file"}


def unsafe_path(exc):
    """What ``_secure_fs`` refused, as an error naming the option ``path``."""
    return CertificateError(str(exc), "path")


def read_checked(path, what):
    """``(bytes, mode)`` of the file at ``path``, ``(None, None)`` when there is none. The file read is
    the file checked: refused, naming ``path``, when another user owns it or may write to it."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        raise CertificateError(f"cannot read {path}: {exc.strerror}", "path") from None
    try:
        info = os.fstat(descriptor)
        if stat.S_ISDIR(info.st_mode):
            raise CertificateError(f"{path} is a directory, where a file belongs", "path")
        check_owner_and_mode(path, info, what)
        with os.fdopen(descriptor, "rb") as handle:
            descriptor = None  # closed with the handle
            return handle.read(), stat.S_IMODE(info.st_mode)
    except UnsafePathError as exc:
        raise unsafe_path(exc) from None
    except OSError as exc:
        raise CertificateError(f"cannot read {path}: {exc.strerror}", "path") from None
    finally:
        if descriptor is not None:
            os.close(descriptor)


def check_directory(directory, what="the certificate directory", missing_ok=False):
    """Refuse ``directory`` when another local user could replace it or what it holds (with
    ``missing_ok``, a directory not made yet: the directories above it that exist)."""
    try:
        return check_path(directory, what, missing_ok=missing_ok)
    except UnsafePathError as exc:
        raise unsafe_path(exc) from None
    except OSError as exc:
        raise path_error("examine", directory, exc) from None


def _load_private_key(data):
    from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel

    try:
        return serialization.load_pem_private_key(data, None)
    except (TypeError, ValueError):  # encrypted, or not a PEM private key
        return None


def _load_pem_certificate(data):
    from cryptography import x509  # pylint: disable=import-outside-toplevel

    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        return None


def open_pfx(data, password):
    """``(key, certificate)`` of a PFX, ``None`` for a missing file, ``False`` for one that does not
    open with ``password`` (wrong password and damaged file are indistinguishable here)."""
    from cryptography.hazmat.primitives.serialization import pkcs12  # pylint: disable=import-outside-toplevel

    if data is None:
        return None
    try:
        key, cert, _extra = pkcs12.load_key_and_certificates(data, _password_bytes(password))
    except ValueError:
        return False
    return key, cert


def pfx_state(data, opened, private_key, certificate, encryption) -> str:
    """Whether a PFX (its bytes and what ``open_pfx`` made of them) holds exactly ``private_key`` +
    ``certificate`` and uses ``encryption``: ``ok``, ``missing``, ``unopenable``, ``stale`` or ``encryption``."""
    if opened is None:
        return "missing"
    if opened is False:
        return "unopenable"
    key, cert = opened
    if key is None or cert is None or private_key is None or certificate is None:
        return "stale"
    if der(cert) != der(certificate) or not keys_match(private_key, cert):
        return "stale"
    if pfx_encryption_of(data) != encryption:
        return "encryption"
    return "ok"


def cer_state(data, certificate) -> str:
    if data is None:
        return "missing"
    if certificate is None or data != der(certificate):
        return "stale"
    return "ok"


def file_mode(path):
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return None


def check_not_a_file(directory):
    if os.path.lexists(directory) and not os.path.isdir(directory):
        raise CertificateError(f"{directory} exists and is not a directory", "path")


def _kept(path, problem, advice=""):
    """A file that is not overwritten, for it may hold the only copy of a key that is in use."""
    return CertificateError(f"{path} {problem}; it is kept as it is and nothing was changed.{' ' + advice if advice else ''}",
                            "path")


def _check_restorable(paths, key, certificate, pfx_key, pfx_certificate):
    """Refuse to restore from the PFX over a key or certificate file that belongs to another pair:
    only a certificate whose key is the PFX's (a new one written first, the run cut short before its
    key) is written again."""
    key_path, certificate_path, pfx_path = paths.path("key"), paths.path("certificate"), paths.path("pfx")
    move_key = f"Move {key_path} away and run again to restore it from the PFX, or restore the files from a backup."
    if key is not None and not keys_match(key, pfx_certificate):
        if certificate is not None and der(certificate) == der(pfx_certificate):
            raise _kept(key_path, f"does not belong to the certificate in {certificate_path}, which the PFX file {pfx_path} "
                        "holds with its own key", move_key)
        if certificate is not None:
            raise _kept(key_path, f"does not belong to the certificate in {certificate_path}, and the PFX file {pfx_path} "
                        "holds yet another key and certificate", "Restore the files from a backup.")
        raise _kept(key_path, f"does not belong to the certificate in the PFX file {pfx_path}, and the certificate file "
                    f"{certificate_path} is missing", move_key)
    if key is None and certificate is not None and der(certificate) != der(pfx_certificate):
        raise _kept(certificate_path, f"is not the one in the PFX file {pfx_path}, and the key file {key_path} is missing: "
                    "the key of this certificate is not here", "Restore the files from a backup.")


def _check_nothing_kept(paths, contents, opened, key, certificate):
    """With no key and certificate left that belong together, refuse to make new ones over a file
    that may hold the only copy of a key; a certificate alone is public, and written anew."""
    key_path, certificate_path, pfx_path = paths.path("key"), paths.path("certificate"), paths.path("pfx")
    if contents["pfx"] is not None:
        problem = "does not open with pfx_password (a wrong password, or a damaged file)" if opened is False else \
            "holds no private key with its certificate"
        if key is None:
            reason = f"the key file {key_path} is missing"
        elif certificate is None:
            reason = f"the certificate file {certificate_path} is missing"
        else:
            reason = f"the key in {key_path} does not belong to the certificate in {certificate_path}"
        raise _kept(pfx_path, f"{problem}, and {reason}, so it may hold the only copy of the private key",
                    "Give the pfx_password it was written with, or restore the files from a backup.")
    if key is not None and certificate is not None:
        raise _kept(key_path, f"does not belong to the certificate in {certificate_path}, and there is no PFX file {pfx_path}",
                    "Restore the files from a backup.")
    if key is not None:
        raise _kept(key_path, f"holds a private key, but neither its certificate ({certificate_path}) nor the PFX file "
                    f"({pfx_path}) is there", "Restore them from a backup; only when this key is no longer needed, move it "
                    "away, and the next run makes a new certificate.")


def inspect_files(paths: CertificatePaths, request: CertificateRequest) -> Inspection:
    """Read the set at ``paths`` and find the key and certificate it holds; never writes.

    The key and certificate files, when both are there and belong together, are the pair (a PFX that
    holds another one, does not open with the password or is missing is built again from them).
    Otherwise the PFX, when it opens and holds a key with its certificate, is the pair, and the key,
    certificate and CER files it finds missing are restored from it. A file that cannot be read, or
    that holds a key or certificate other than the pair's, is never overwritten: CertificateError
    names it. With no pair and no such file left, ``private_key`` and ``certificate`` are None.
    A file another local user owns or may write to is refused (``read_checked``).
    """
    check_not_a_file(paths.directory)
    found = Inspection(directory_exists=os.path.isdir(paths.directory))
    if not found.directory_exists:
        found.states = dict.fromkeys(FILE_KINDS, "missing")
        return found
    contents = {}
    for kind in FILE_KINDS:
        contents[kind], mode = read_checked(paths.path(kind), FILE_DESCRIPTIONS[kind])
        if mode is not None:
            found.modes[kind] = mode

    # Loading an RSA key validates it, which costs tens of milliseconds: the PFX's key (validated as
    # it is loaded) serves for the key file too when the file holds exactly that key as written here.
    opened = open_pfx(contents["pfx"], request.pfx_password)
    pfx_key, pfx_certificate = opened or (None, None)
    pfx_pair = pfx_key is not None and pfx_certificate is not None and keys_match(pfx_key, pfx_certificate)
    key = certificate = None
    if contents["key"] is not None:
        key = pfx_key if pfx_key is not None and contents["key"] == private_key_pem(pfx_key) else _load_private_key(contents["key"])
    if contents["certificate"] is not None:
        certificate = _load_pem_certificate(contents["certificate"])
    for kind, loaded, what in (("key", key, "a private key"), ("certificate", certificate, "a certificate (PEM)")):
        if contents[kind] is not None and loaded is None:
            advice = (f"The PFX file {paths.path('pfx')} holds the certificate's key: move {paths.path(kind)} away and run "
                      "again to restore it from the PFX." if pfx_pair else "Restore it from a backup.")
            raise _kept(paths.path(kind), f"cannot be read as {what} (a damaged or cut-short file?)", advice)

    if key is not None and certificate is not None and keys_match(key, certificate):
        found.private_key, found.certificate = key, certificate
    elif pfx_pair:
        _check_restorable(paths, key, certificate, pfx_key, pfx_certificate)
        found.private_key, found.certificate = pfx_key, pfx_certificate
    else:
        _check_nothing_kept(paths, contents, opened, key, certificate)
        found.states = {kind: ("missing" if contents[kind] is None else "present") for kind in FILE_KINDS}
        return found
    found.states["key"] = "missing" if contents["key"] is None else "ok"
    if contents["certificate"] is None:
        found.states["certificate"] = "missing"
    else:
        found.states["certificate"] = "ok" if der(certificate) == der(found.certificate) else "stale"
    found.states["pfx"] = pfx_state(contents["pfx"], opened, found.private_key, found.certificate, request.pfx_encryption)
    found.states["cer"] = cer_state(contents["cer"], found.certificate)
    return found


# Deciding ----------------------------------------------------------------------------------------

def days_to_expiry(certificate, now: datetime.datetime) -> int:
    return (not_after(certificate) - now).days


def needs_regeneration(request: CertificateRequest, found: Inspection, now: datetime.datetime, force=False):
    """Why the key and certificate must be generated anew (one of REGENERATION_REASONS), or None
    when the ones on disk satisfy ``request``. The PFX and CER are judged separately."""
    if force:
        return "forced"
    if found.private_key is None or found.certificate is None:
        return "invalid" if "invalid" in (found.states.get("key"), found.states.get("certificate")) else "missing"
    if not keys_match(found.private_key, found.certificate):
        return "mismatch"
    size = rsa_key_size(found.private_key)
    if size is None:
        return "key_type"
    if size != request.key_size:
        return "key_size"
    if found.certificate.subject != subject_name(request.common_name):
        return "subject"
    if set(dns_names_of(found.certificate)) != set(request.dns_names):
        return "dns_names"
    remaining = not_after(found.certificate) - now
    if remaining <= datetime.timedelta(0):
        return "expired"
    if remaining <= datetime.timedelta(days=request.renew_before_days):
        return "expiring"
    return None


@dataclass(frozen=True)
class Plan:
    """What a run does: ``regenerate`` is a reason or None; ``write`` and ``chmod`` list file kinds."""

    regenerate: str | None
    create_directory: bool
    write: tuple
    chmod: tuple

    @property
    def changed(self) -> bool:
        return bool(self.create_directory or self.write or self.chmod)


def plan(request: CertificateRequest, found: Inspection, now: datetime.datetime, force=False) -> Plan:
    reason = needs_regeneration(request, found, now, force)
    if reason:
        write = FILE_KINDS
    else:  # restored from the pair, or built again from it
        write = tuple(kind for kind in FILE_KINDS if found.states.get(kind) != "ok")
    chmod = tuple(
        kind for kind, mode in found.modes.items()
        if kind not in write and mode is not None and mode != FILE_MODES[kind]
    )
    return Plan(reason, not found.directory_exists, tuple(write), chmod)


# Writing -----------------------------------------------------------------------------------------

def path_error(action, path, exc):
    return CertificateError(f"cannot {action} {path}: {exc.strerror or exc}", "path")


def ensure_directory(directory, what="the certificate directory"):
    """Create ``directory`` (mode 0700; missing directories above it 0755; whatever the umask) when
    missing. Refused, naming ``path``, when a file stands in its place or when another local user
    could replace it or what it holds (``_secure_fs``), also when it exists already."""
    check_not_a_file(directory)
    try:
        return make_private_dirs(directory, what, mode=DIRECTORY_MODE)
    except UnsafePathError as exc:
        raise unsafe_path(exc) from None
    except NotADirectoryError as exc:
        raise CertificateError(f"{exc.filename or directory} exists and is not a directory", "path") from None
    except OSError as exc:
        raise path_error("create the directory", exc.filename or directory, exc) from None


def write_file_atomic(path, data: bytes, mode: int):
    """Write ``data`` to a temporary file beside ``path`` with ``mode`` set before any byte is
    written, fsync it and rename it over ``path``: readers see the old or the new file, never half."""
    directory, base = os.path.split(path)
    try:
        descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=f".{base}.", suffix=".tmp")
    except OSError as exc:
        raise path_error("write into", directory, exc) from None
    try:
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise path_error("write", path, exc) from None


def fsync_directory(directory):
    """Make the renames durable; some file systems refuse to open a directory, which is harmless."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


class LockFileError(CertificateError):
    """The lock file cannot be created or opened for writing: the directory is not writable to us."""


@contextlib.contextmanager
def directory_lock(lock_path, exclusive=True):
    """Hold ``flock`` on ``lock_path`` for a read-compare-write. A shared lock is only taken on an
    existing lock file (it must not write); the exclusive one creates it, and raises LockFileError
    when the directory or file may not be written to. A lock file removed by the holder
    (``state=absent``) is detected by its inode and the lock taken again on the new file."""
    while True:
        try:
            if exclusive:
                descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            else:
                descriptor = os.open(lock_path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError as exc:
            if exclusive:
                raise path_error("create the lock file", lock_path, exc) from None
            yield
            return
        except OSError as exc:
            error = path_error("create the lock file", lock_path, exc)
            if exclusive and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise LockFileError(error.args[0], error.option) from None
            raise error from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                current = os.stat(lock_path)
            except FileNotFoundError:
                current = None
            held = os.fstat(descriptor)
        except BaseException:
            os.close(descriptor)
            raise
        if current is not None and (current.st_ino, current.st_dev) == (held.st_ino, held.st_dev):
            break
        os.close(descriptor)
    try:
        yield
    finally:
        os.close(descriptor)


# The certificate first and the PFX last: a new set cut short leaves either the key and PFX of the
# certificate the application may hold, from which the next run restores the set, or the new key and
# certificate, from which it builds the PFX (``inspect_files``); never a key alone.
WRITE_ORDER = ("certificate", "cer", "key", "pfx")


def write_set(paths: CertificatePaths, kinds, private_key, certificate, request: CertificateRequest):
    """Write the files named in ``kinds`` from ``private_key`` + ``certificate``."""
    producers = {
        "key": lambda: private_key_pem(private_key),
        "certificate": lambda: certificate_pem(certificate),
        "pfx": lambda: pfx_bytes(
            private_key, certificate, request.pfx_password, request.pfx_encryption, request.common_name
        ),
        "cer": lambda: der(certificate),
    }
    for kind in WRITE_ORDER:
        if kind in kinds:
            write_file_atomic(paths.path(kind), producers[kind](), FILE_MODES[kind])


# Running -----------------------------------------------------------------------------------------

@dataclass
class Outcome:
    """The result of ``ensure_present`` / ``ensure_absent``. ``certificate`` is None in check mode
    when a new one would be generated; ``before``/``after`` hold no key material."""

    changed: bool
    regenerated: str | None = None
    files_written: tuple = ()
    certificate: object = None
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)


def describe(certificate, file_states=None) -> dict:
    """A certificate set for diffs: identity, dates, names, key size, file states; no key material."""
    if certificate is None:
        if not file_states or set(file_states.values()) == {"missing"}:
            return {"state": "absent"}
        return {"state": "present", "files": dict(file_states)}
    described = dict(summary(certificate))
    described.update(
        state="present",
        dns_names=list(dns_names_of(certificate)),
        key_size=rsa_key_size(certificate.public_key()),
    )
    if file_states is not None:
        described["files"] = dict(file_states)
    return described


def predicted(request: CertificateRequest, now: datetime.datetime) -> dict:
    """What ``describe`` will show for a certificate not generated yet (check mode)."""
    return {
        "state": "present",
        "thumbprint": None,
        "thumbprint_sha256": None,
        "serial_number": None,
        "subject": subject_name(request.common_name).rfc4514_string(),
        "not_before": iso(now - CLOCK_SKEW_ALLOWANCE),
        "not_after": iso(now + datetime.timedelta(days=request.valid_days)),
        "dns_names": list(request.dns_names),
        "key_size": request.key_size,
        "files": dict.fromkeys(FILE_KINDS, "ok"),
    }


def ensure_present(paths: CertificatePaths, request: CertificateRequest, force=False, check_mode=False, now=None) -> Outcome:
    """Make the set at ``paths`` satisfy ``request``; in check mode decide the same way, write nothing.
    A run with nothing to change writes nothing either (not even the lock file, when the directory
    may not be written to)."""
    request = validate_request(request)
    require_pfx_password(request.pfx_password)
    now = now or utc_now()
    check_not_a_file(paths.directory)
    if not check_mode:
        ensure_directory(paths.directory)
        try:
            with directory_lock(paths.lock):
                found = inspect_files(paths, request)
                return _reconcile(paths, request, found, now, force, write=True)
        except LockFileError:
            # A directory we may not write to (read-only): a run with nothing to change needs no lock file.
            outcome = _predict(paths, request, now, force)
            if outcome.changed:
                raise
            return outcome
    check_directory(paths.directory, missing_ok=True)
    return _predict(paths, request, now, force)


def _predict(paths, request, now, force):
    with directory_lock(paths.lock, exclusive=False):  # no lock file, no lock: this writes nothing
        found = inspect_files(paths, request)
    return _reconcile(paths, request, found, now, force, write=False)


def _reconcile(paths, request, found, now, force, write):
    steps = plan(request, found, now, force)
    before = describe(found.certificate, found.states)
    private_key, certificate = found.private_key, found.certificate
    if steps.regenerate:
        if write:
            private_key = generate_private_key(request.key_size)
            certificate = build_self_signed(private_key, request, now)
        else:
            private_key = certificate = None
    if write:
        if steps.write:
            write_set(paths, steps.write, private_key, certificate, request)
        for kind in steps.chmod:
            try:
                os.chmod(paths.path(kind), FILE_MODES[kind])
            except OSError as exc:
                raise path_error("set the mode of", paths.path(kind), exc) from None
        if steps.write:
            fsync_directory(paths.directory)
    after = describe(certificate, dict.fromkeys(FILE_KINDS, "ok")) if certificate is not None else predicted(request, now)
    return Outcome(
        changed=steps.changed,
        regenerated=steps.regenerate,
        files_written=steps.write,
        certificate=certificate,
        before=before,
        after=after,
    )


def ensure_absent(paths: CertificatePaths, check_mode=False) -> Outcome:
    """Remove the set at ``paths`` (and its lock file); changed only when one of the files existed."""
    check_not_a_file(paths.directory)
    if not os.path.isdir(paths.directory):
        return Outcome(changed=False, before={"state": "absent"}, after={"state": "absent"})
    check_directory(paths.directory)
    # check mode must not create the lock file, so it takes a shared lock only on an existing one
    with directory_lock(paths.lock, exclusive=not check_mode):
        present = [kind for kind in FILE_KINDS if os.path.lexists(paths.path(kind))]
        certificate = None
        if "certificate" in present:
            certificate = _load_pem_certificate(read_if_present(paths.path("certificate")) or b"")
        states = {kind: ("present" if kind in present else "missing") for kind in FILE_KINDS}
        before = describe(certificate, states) if present else {"state": "absent"}
        if not check_mode:
            for kind in present:
                try:
                    os.unlink(paths.path(kind))
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    raise path_error("remove", paths.path(kind), exc) from None
            with contextlib.suppress(OSError):  # a lock file left behind is harmless
                os.unlink(paths.lock)
            if present:
                fsync_directory(paths.directory)
    return Outcome(changed=bool(present), files_written=(), before=before, after={"state": "absent"})
