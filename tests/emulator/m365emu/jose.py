# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Compact JWS (JWT) encoding, parsing and signature checks for RS256 and PS256."""

import hashlib
import json
import os

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .crypto import b64url, b64url_decode

SUPPORTED_ALGORITHMS = ("RS256", "PS256")


class MalformedToken(ValueError):
    """The value is not a compact JWS with JSON header and payload."""


def _padding(alg):
    if alg == "RS256":
        return padding.PKCS1v15()
    # RFC 7518 3.5: MGF1 with SHA-256 and a salt as long as the hash output.
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


def encode(payload, key, headers=None, alg="RS256"):
    header = {"typ": "JWT", "alg": alg}
    header.update(headers or {})
    segments = [b64url(_json_bytes(header)), b64url(_json_bytes(payload))]
    signing_input = ".".join(segments).encode("ascii")
    signature = key.sign(signing_input, _padding(alg), hashes.SHA256())
    return ".".join(segments + [b64url(signature)])


def encode_with_nonce(payload, key, headers=None, alg="RS256"):
    """A token shaped like Microsoft Graph's access tokens: the header carries a ``nonce``, but the
    signature covers the header with the nonce replaced by base64url(SHA-256(nonce)), so the token
    does not verify as a plain JWS (azure-activedirectory-identitymodel-extensions-for-dotnet#609,
    MicrosoftDocs/azure-docs#80018, justinlettau/azure-ad-verify-token#5)."""
    nonce = b64url(os.urandom(32))
    header = {"typ": "JWT", "nonce": nonce, "alg": alg}
    header.update(headers or {})
    signed_header = dict(header, nonce=hashed_nonce(nonce))
    payload_segment = b64url(_json_bytes(payload))
    signing_input = f"{b64url(_json_bytes(signed_header))}.{payload_segment}".encode("ascii")
    signature = key.sign(signing_input, _padding(alg), hashes.SHA256())
    return ".".join([b64url(_json_bytes(header)), payload_segment, b64url(signature)])


def hashed_nonce(nonce):
    return b64url(hashlib.sha256(nonce.encode("utf-8")).digest())


def nonce_signing_input(parsed):
    """The bytes a nonce-carrying token's signature covers (see ``encode_with_nonce``)."""
    header = dict(parsed.header, nonce=hashed_nonce(str(parsed.header["nonce"])))
    body = parsed.signing_input.split(b".", 1)[1].decode("ascii")
    return f"{b64url(_json_bytes(header))}.{body}".encode("ascii")


def _json_bytes(value):
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


class ParsedToken:
    """A compact JWS split into its parts; nothing is verified yet."""

    def __init__(self, token):
        if not isinstance(token, str) or token.count(".") != 2:
            raise MalformedToken("a JWS has three dot-separated segments")
        head, body, signature = token.split(".")
        try:
            self.header = json.loads(b64url_decode(head))
            self.payload = json.loads(b64url_decode(body))
            self.signature = b64url_decode(signature)
        except ValueError as exc:
            raise MalformedToken(str(exc)) from exc
        if not isinstance(self.header, dict) or not isinstance(self.payload, dict):
            raise MalformedToken("header and payload must be JSON objects")
        self.signing_input = f"{head}.{body}".encode("ascii")

    @property
    def alg(self):
        return self.header.get("alg")

    def signature_valid(self, public_key, signing_input=None):
        if self.alg not in SUPPORTED_ALGORITHMS or not isinstance(public_key, rsa.RSAPublicKey):
            return False
        try:
            public_key.verify(self.signature, signing_input or self.signing_input, _padding(self.alg), hashes.SHA256())
        except InvalidSignature:
            return False
        return True
