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


RESTORE_TASK = "Restore the certificate from the store"

# A callback that holds a run still right after one task's result for one host (the strategy waits
# for it), until a file appears: what another run does meanwhile happens between two of its tasks.
PAUSE_CALLBACK = '''
from __future__ import annotations

DOCUMENTATION = """
name: pause_after
type: notification
short_description: Hold the run after one task until a file appears
description:
  - After the result of the task whose name ends with E(M365_CBA_PAUSE_TASK) for the host E(M365_CBA_PAUSE_HOST),
    creates E(M365_CBA_PAUSE_FILE).paused and waits (at most 10 minutes) until E(M365_CBA_PAUSE_FILE) exists.
"""

import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "pause_after"
    CALLBACK_NEEDS_ENABLED = True

    def v2_runner_on_ok(self, result, **kwargs):
        task = os.environ.get("M365_CBA_PAUSE_TASK")
        gate = os.environ.get("M365_CBA_PAUSE_FILE")
        if not (task and gate) or result._host.get_name() != os.environ.get("M365_CBA_PAUSE_HOST"):
            return
        if not result._task.get_name().endswith(task):
            return
        with open(gate + ".paused", "w", encoding="utf-8"):
            pass
        deadline = time.monotonic() + 600
        while not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.1)
'''


def pause_env(fleet, host, task, gate):
    """The environment of a run of ``fleet`` that holds still after ``task`` of ``host`` until ``gate`` exists."""
    (Path(fleet.workdir) / "callback_plugins" / "pause_after.py").write_text(PAUSE_CALLBACK, encoding="utf-8")
    return {"ANSIBLE_CALLBACKS_ENABLED": "run_probe,pause_after", "M365_CBA_PAUSE_TASK": task,
            "M365_CBA_PAUSE_HOST": host, "M365_CBA_PAUSE_FILE": str(gate)}
