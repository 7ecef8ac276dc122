# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A run killed (SIGKILL, the run_probe callback of tests/soak/harness.py) right after the certificate
was written to the store and before it was uploaded, on a fresh setup and on a rotation: the re-run
converges, and at no moment does the application hold a certificate whose key is not in the store
(the rotated-out one stays readable in the secret's previous version until it is removed).

The kill point is the position of the store task among the tenant's task results, read from the
same run on a twin tenant (so that the test follows the role as it changes).

The killed run cannot remove the private directory it restored the certificate into (it holds the
unencrypted key): the next run does, as its process is gone.
"""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import pkcs12
from m365emu import Emulator

from vault_support import STORE_TASK, UPLOAD_TASK, VAULT_VARS, key_thumbprints, make_fleet, secret_path, vault_env

ROTATE = {"m365_cba_certificate_renew_before_days": 400, "m365_cba_certificate_valid_days": 401}


def _position(run, tenant, task):
    """The probe's count at the result of ``task`` for ``tenant`` (what M365_CBA_KILL_AFTER takes)."""
    found = [r["n"] for r in run.host_results(tenant) if r["task"].endswith(" : " + task) and r["status"] == "ok"]
    assert len(found) == 1, f"{task!r} ran {len(found)} times\n{run.describe()}"
    return found[0]


def _thumbprint_of(data):
    _key, cert, _extra = pkcs12.load_key_and_certificates(base64.b64decode(data["pfx_base64"]), data["pfx_password"].encode())
    return cert.fingerprint(hashes.SHA1()).hex().upper()  # nosec - a thumbprint is SHA-1 by definition


@pytest.fixture(scope="module")
def chain(bao, store_token, collection_dir, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("vault-interruption")
    with Emulator(str(workdir / "emulator"), seed=[{"name": "twin"}, {"name": "killed"}]) as emu:
        fleet = make_fleet(emu, collection_dir, workdir, forks=1)
        env = vault_env(bao, store_token)
        scratch = workdir / "scratch"
        scratch.mkdir(mode=0o700)
        hosts = {tenant: dict(VAULT_VARS, m365_cba_vault_tmpdir=str(scratch)) for tenant in ("twin", "killed")}

        def left():
            return sorted(p.name for p in scratch.iterdir())

        rotate = {tenant: dict(values, **ROTATE) for tenant, values in hosts.items()}
        steps = {}

        twin_setup = fleet.run("twin-setup", ["twin"], host_vars=hosts, env=env)
        assert twin_setup.rc == 0, twin_setup.describe()
        assert _position(twin_setup, "twin", STORE_TASK) < _position(twin_setup, "twin", UPLOAD_TASK)
        run = fleet.run("killed-setup", ["killed"], host_vars=hosts, env=env,
                        kill_after=_position(twin_setup, "twin", STORE_TASK))
        steps["setup killed"] = {"run": run, "app": key_thumbprints(emu, "killed"), "store": bao.read(secret_path("killed")),
                                 "left": left()}
        run = fleet.run("killed-setup-again", ["killed"], host_vars=hosts, env=env)
        steps["setup again"] = {"run": run, "app": key_thumbprints(emu, "killed"), "store": bao.read(secret_path("killed")),
                                "left": left()}

        twin_rotate = fleet.run("twin-rotate", ["twin"], host_vars=rotate, env=env)
        assert twin_rotate.rc == 0, twin_rotate.describe()
        run = fleet.run("killed-rotate", ["killed"], host_vars=rotate, env=env,
                        kill_after=_position(twin_rotate, "twin", STORE_TASK))
        metadata = bao.metadata(secret_path("killed"))
        previous = bao.client().secrets.kv.v2.read_secret_version(
            path=secret_path("killed"), mount_point="secret", version=metadata["current_version"] - 1,
            raise_on_deleted_version=True)["data"]["data"]
        steps["rotation killed"] = {"run": run, "app": key_thumbprints(emu, "killed"), "store": bao.read(secret_path("killed")),
                                    "previous": previous, "left": left()}
        run = fleet.run("killed-rotate-again", ["killed"], host_vars=hosts, env=env)
        steps["rotation again"] = {"run": run, "app": key_thumbprints(emu, "killed"), "store": bao.read(secret_path("killed")),
                                   "left": left()}
        yield steps


def test_kill_after_the_store_write_of_a_fresh_setup(chain):
    killed = chain["setup killed"]
    assert killed["run"].rc == -9 and killed["run"].killed_after, killed["run"].describe()
    assert killed["run"].host_results("killed")[-1]["task"].endswith(STORE_TASK)
    assert killed["store"] is not None, "the kill came before the store write"
    assert killed["app"] == [], "the certificate was uploaded before the kill"

    again = chain["setup again"]
    assert again["run"].rc == 0, again["run"].describe()
    assert again["store"] == killed["store"], "the re-run made another certificate instead of restoring the stored one"
    assert again["app"] == [_thumbprint_of(again["store"])]


def test_kill_after_the_store_write_of_a_rotation(chain):
    before = chain["setup again"]["app"]
    killed = chain["rotation killed"]
    assert killed["run"].rc == -9, killed["run"].describe()
    new = _thumbprint_of(killed["store"])
    assert [new] != before, "no new certificate was stored"
    assert killed["app"] == before, "the new certificate was uploaded before the kill"
    # The certificate Entra ID still holds has its key in the secret's previous version.
    assert [_thumbprint_of(killed["previous"])] == before

    again = chain["rotation again"]
    assert again["run"].rc == 0, again["run"].describe()
    assert again["store"] == killed["store"]
    assert again["app"] == [new], "the re-run did not finish the rotation"


@pytest.mark.parametrize("step", ["setup", "rotation"])
def test_the_next_run_removes_the_private_directory_a_killed_run_left(chain, step):
    (left,) = chain[f"{step} killed"]["left"]
    assert left.startswith("m365-cba-run-"), left
    assert chain[f"{step} again"]["run"].rc == 0
    assert chain[f"{step} again"]["left"] == [], "the directory of the killed run (with the unencrypted key) is still there"
