# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers of the certificate store tests (the fixtures are in conftest.py)."""

from __future__ import annotations

import base64
import os
import secrets
import sys
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import pkcs12

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
for extra in (REPO / "tests" / "soak", REPO / "tests" / "utils", REPO / "tests" / "emulator"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from harness import Fleet, base_env  # noqa: E402  pylint: disable=wrong-import-position

PREFIX = "m365-cba"
UNIQUE_NAME = "m365-cba-exchange-online"
VAULT_VARS = {"m365_cba_certificate_store": "vault"}
STORE_TASK = "Keep the certificate in the store"
UPLOAD_TASK = "Upload the certificate, keeping every other one"
REPLACED_FAIL_TASK = "Fail the tenants whose certificate was replaced because its key was lost"


def secret_path(tenant, unique_name=UNIQUE_NAME):
    return f"{PREFIX}/{tenant}/{unique_name}"


def vault_env(bao, token):
    """What the store needs in the environment of a run (the role's options fall back to it)."""
    return {"VAULT_ADDR": bao.address, "VAULT_TOKEN": token}


def make_fleet(emulator, collection_dir, workdir, **kwargs):
    """A harness Fleet whose runs see no VAULT_*/BAO_* variable of the caller's shell."""
    home = Path(workdir) / "ansible-home"
    env = {k: v for k, v in base_env(Path(collection_dir).parents[2], str(home)).items()
           if not k.startswith(("VAULT_", "BAO_"))}
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    return Fleet(emulator, collection_dir, playbook, workdir, "Pfx-" + secrets.token_urlsafe(18), env=env, **kwargs)


def stored_certificate(data):
    """(thumbprint, key, certificate) of a stored secret's PFX, opened with its stored password."""
    pfx = base64.b64decode(data["pfx_base64"])
    key, cert, _extra = pkcs12.load_key_and_certificates(pfx, data["pfx_password"].encode("utf-8"))
    assert key is not None and cert is not None, "the stored PFX lacks the key or the certificate"
    assert key.public_key().public_numbers() == cert.public_key().public_numbers(), "the stored key is not the certificate's"
    return cert.fingerprint(hashes.SHA1()).hex().upper(), key, cert  # nosec - a thumbprint is SHA-1 by definition


def key_thumbprints(emulator, tenant, unique_name=UNIQUE_NAME):
    """Thumbprints of the application's keyCredentials in the emulator's state (None: no application)."""
    dump = emulator.state(tenant)["tenants"][0]
    apps = [a for a in dump["applications"] if a.get("uniqueName") == unique_name]
    if not apps:
        return None
    (app,) = apps
    return sorted(k["thumbprint_sha1"] for k in app.get("keyCredentials") or [])


def writes(emulator, tenant):
    """The requests of the emulator's log for the tenant that could change something."""
    tenant_id = emulator.tenant(tenant)["tenant_id"]
    return [(r["method"], r["path"]) for r in emulator.requests()
            if r.get("tenant") == tenant_id and r["method"] != "GET" and not r["path"].endswith("/oauth2/v2.0/token")]
