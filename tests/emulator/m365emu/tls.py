# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A private CA and a server certificate for 127.0.0.1/localhost, and the server TLS context."""

import datetime
import ipaddress
import os
import ssl

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .crypto import cert_pem, key_pem, new_ec_key, utc_now
from .files import write_private, write_text

CA_FILE = "ca.pem"
CA_KEY_FILE = "ca.key"
SERVER_CERT_FILE = "server.pem"
SERVER_KEY_FILE = "server.key"


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _load_ca(state_dir):
    cert_path = os.path.join(state_dir, CA_FILE)
    key_path = os.path.join(state_dir, CA_KEY_FILE)
    if not (os.path.exists(cert_path) and os.path.exists(key_path)):
        return None
    with open(cert_path, "rb") as handle:
        cert = x509.load_pem_x509_certificate(handle.read())
    with open(key_path, "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), password=None)
    if cert.not_valid_after_utc < utc_now() + datetime.timedelta(days=1):
        return None
    return cert, key


def _new_ca(state_dir):
    key = new_ec_key()
    now = utc_now() - datetime.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("m365emu local CA"))
        .issuer_name(_name("m365emu local CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(os.path.join(state_dir, CA_KEY_FILE), key_pem(key))
    write_text(os.path.join(state_dir, CA_FILE), cert_pem(cert))
    return cert, key


def ensure_ca(state_dir):
    """Reuse the CA kept in the state directory, or create one; returns (cert, key)."""
    return _load_ca(state_dir) or _new_ca(state_dir)


def _server_cert(ca_cert, ca_key, key):
    now = utc_now() - datetime.timedelta(minutes=5)
    names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    return (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )


def server_context(state_dir):
    """TLS context for the server; writes ca.pem (the bundle clients trust) into state_dir."""
    ca_cert, ca_key = ensure_ca(state_dir)
    key = new_ec_key()
    cert = _server_cert(ca_cert, ca_key, key)
    cert_path = os.path.join(state_dir, SERVER_CERT_FILE)
    key_path = os.path.join(state_dir, SERVER_KEY_FILE)
    write_text(cert_path, cert_pem(cert) + cert_pem(ca_cert))
    write_private(key_path, key_pem(key))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_path, key_path)
    return context


def ca_bundle_path(state_dir):
    return os.path.join(state_dir, CA_FILE)
