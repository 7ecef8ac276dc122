# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/setup.yml with the certificate in a real OpenBao server (m365_cba_certificate_store: vault).

One emulator, one tenant per story, three runs:

- "setup" sets every tenant up from nothing: each tenant's secret holds the certificate on its application.
- "again" runs with nothing on disk (as every AWX job does), after some changes behind the role's back:
  restore:   nothing changed: the certificate comes back from the store, no write anywhere
  lost:      its secret was deleted: the tenant fails, saying what was lost, and nothing changes
  replace:   its secret was deleted and m365_cba_replace_lost_certificate is true: a new certificate,
             in the store first, the old one removed, and the run ends non-zero naming the tenant
  down:      the store's address answers nothing: the tenant fails naming address and path, nothing changes
  refused:   the store refuses the token: the same
  opentmp:   m365_cba_vault_tmpdir is writable by others (no sticky bit): the tenant fails naming it, nothing changes
  teardown:  m365_cba_setup_state absent with m365_cba_remove_stored_certificate: the secret is gone
  locallost: the local store (default) with the certificate directory deleted: fails as "lost" does
  migrate:   set up with the local store, then switched to the vault store: the certificate directory's
             certificate goes into the store, nothing changes in Entra ID
- "steady" repeats "again" for restore and replace: nothing changes.
"""

from __future__ import annotations

import shutil
import socket

import pytest
from m365emu import Emulator

from vault_support import (REPLACED_FAIL_TASK, RESTORE_TASK, STORE_TASK, UPLOAD_TASK, VAULT_VARS, key_thumbprints,
                           make_fleet, secret_path, stored_certificate, vault_env, writes)

TENANTS = ("restore", "lost", "replace", "down", "refused", "opentmp", "teardown", "locallost", "migrate")
VAULT_TENANTS = TENANTS[:-2]


def dead_address():
    """A loopback address where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def story(bao, store_token, collection_dir, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("vault-setup")
    with Emulator(str(workdir / "emulator"), seed=[{"name": name} for name in TENANTS]) as emu:
        fleet = make_fleet(emu, collection_dir, workdir, forks=4)
        env = vault_env(bao, store_token)
        scratch = workdir / "scratch"
        scratch.mkdir()
        vault_hosts = {tenant: dict(VAULT_VARS, m365_cba_vault_tmpdir=str(scratch)) for tenant in VAULT_TENANTS}
        runs, states, stored = {}, {}, {}

        runs["setup"] = fleet.run("setup", TENANTS, host_vars=vault_hosts, env=env)
        states["setup"] = {t: key_thumbprints(emu, t) for t in TENANTS}
        stored["setup"] = {t: bao.read(secret_path(t)) for t in VAULT_TENANTS}
        paths_setup = sorted(bao.list_paths("m365-cba/"))

        root = bao.client()
        for tenant in ("lost", "replace"):
            root.secrets.kv.v2.delete_metadata_and_all_versions(path=secret_path(tenant), mount_point="secret")
        shutil.rmtree(fleet.cert_dir("locallost"))
        again_hosts = {tenant: dict(vault_hosts[tenant]) for tenant in VAULT_TENANTS}
        again_hosts["replace"]["m365_cba_replace_lost_certificate"] = True
        again_hosts["down"]["m365_cba_vault_addr"] = dead_address()
        again_hosts["refused"]["m365_cba_vault_token"] = "not-a-token-of-this-store"
        open_tmp = workdir / "open-tmp"
        open_tmp.mkdir()
        open_tmp.chmod(0o777)
        again_hosts["opentmp"]["m365_cba_vault_tmpdir"] = str(open_tmp)
        again_hosts["teardown"].update(m365_cba_setup_state="absent", m365_cba_remove_stored_certificate=True)
        again_hosts["migrate"] = dict(VAULT_VARS, m365_cba_vault_tmpdir=str(scratch))
        emu.reset_requests()
        runs["again"] = fleet.run("again", TENANTS, host_vars=again_hosts, env=env)
        writes_again = {t: writes(emu, t) for t in TENANTS}
        graph_again = {t: [r["path"] for r in emu.requests()
                           if r.get("tenant") == emu.tenant(t)["tenant_id"] and r["path"].startswith("/v1.0/")] for t in TENANTS}
        scratch_again = sorted(p.name for p in scratch.iterdir())
        states["again"] = {t: key_thumbprints(emu, t) for t in TENANTS}
        stored["again"] = {t: bao.read(secret_path(t)) for t in VAULT_TENANTS + ("migrate",)}
        metadata_again = {t: bao.metadata(secret_path(t)) for t in VAULT_TENANTS}

        emu.reset_requests()
        steady_hosts = dict(vault_hosts, migrate=again_hosts["migrate"])
        runs["steady"] = fleet.run("steady", ["restore", "replace", "migrate"], host_vars=steady_hosts, env=env)
        writes_steady = {t: writes(emu, t) for t in ("restore", "replace", "migrate")}
        stored["steady"] = {t: bao.read(secret_path(t)) for t in ("restore", "replace", "migrate")}
        yield {"runs": runs, "states": states, "stored": stored, "writes_again": writes_again,
               "writes_steady": writes_steady, "metadata_again": metadata_again, "fleet": fleet, "emu": emu,
               "graph_again": graph_again, "paths_setup": paths_setup, "scratch_again": scratch_again, "open_tmp": open_tmp,
               "scratch_end": sorted(p.name for p in scratch.iterdir())}


def _stored_thumbprint(data):
    thumbprint, _key, _cert = stored_certificate(data)
    assert data["thumbprint"] == thumbprint, "the secret's thumbprint field is not its PFX's"
    return thumbprint


def test_fresh_setup_writes_the_store(story):
    run = story["runs"]["setup"]
    assert run.rc == 0, run.describe()
    for tenant in VAULT_TENANTS:
        data = story["stored"]["setup"][tenant]
        assert data is not None, f"{tenant}: nothing in the store"
        assert story["states"]["setup"][tenant] == [_stored_thumbprint(data)], tenant
        assert data["pfx_password"] == story["fleet"].pfx_password
        assert data["app_id"] and data["tenant_id"] == story["emu"].tenant(tenant)["tenant_id"]
        assert data["not_after"].endswith("Z")
        # The store, not the certificate directory: nothing of the certificate stays on disk.
        assert not story["fleet"].cert_dir(tenant).exists(), f"{tenant}: files left in {story['fleet'].cert_dir(tenant)}"
        # Written before the upload.
        tasks = [r["task"] for r in run.host_results(tenant)]
        assert tasks.index(f"m365.cba.setup : {STORE_TASK}") < tasks.index(f"m365.cba.setup : {UPLOAD_TASK}"), tasks
    # One secret per tenant of the vault store, none for the tenant of the local store (other tests share the server).
    ours = [path for path in story["paths_setup"] if path.split("/")[1] in TENANTS]
    assert ours == sorted(secret_path(t) for t in VAULT_TENANTS)


def test_no_temporary_directory_is_left(story):
    """The private directory the certificate was restored into is removed at the end, failed tenants included."""
    run = story["runs"]["again"]
    made = [r for r in run.results if r["task"].endswith(RESTORE_TASK)]
    # Teardown makes none; the tenant moving to the store makes one; where the store fails, the restore removes its own.
    assert len(made) == len(VAULT_TENANTS), "the runs made no private directories to check"
    assert story["scratch_again"] == [] and story["scratch_end"] == [], (story["scratch_again"], story["scratch_end"])


def test_rerun_with_nothing_on_disk_restores_and_changes_nothing(story):
    again = story["runs"]["again"]
    assert again.recap["restore"]["changed"] == 0 and again.recap["restore"]["failed"] == 0, again.describe()
    assert story["writes_again"]["restore"] == []
    assert story["states"]["again"]["restore"] == story["states"]["setup"]["restore"]
    assert story["stored"]["again"]["restore"] == story["stored"]["setup"]["restore"]
    assert story["metadata_again"]["restore"]["current_version"] == 1, "the store was written again"


def test_lost_everywhere_fails_by_default_and_changes_nothing(story):
    again = story["runs"]["again"]
    assert again.recap["lost"]["failed"] == 1, again.describe()
    (failure,) = again.failures("lost")
    assert "its private key is neither in " in failure and " nor in the certificate store http://127.0.0.1:" in failure, failure
    assert "No certificate was uploaded to the application or removed from it or written to the store" in failure, failure
    assert secret_path("lost") in failure and story["states"]["setup"]["lost"][0] in failure
    assert "m365_cba_replace_lost_certificate=true" in failure
    assert story["writes_again"]["lost"] == []
    assert story["states"]["again"]["lost"] == story["states"]["setup"]["lost"]
    assert story["stored"]["again"]["lost"] is None, "a certificate was stored although the tenant failed"


def test_lost_local_key_fails_by_default_too(story):
    again = story["runs"]["again"]
    assert again.recap["locallost"]["failed"] == 1, again.describe()
    (failure,) = again.failures("locallost")
    assert f"its private key is not in {story['fleet'].cert_dir('locallost')}: the key was lost" in failure, failure
    # What the run did, said as it was: the certificate made in the lost one's place is gone again.
    assert "No certificate was uploaded to the application or removed from it, and the certificate this run made " \
        "in its place was removed again." in failure, failure
    assert story["writes_again"]["locallost"] == []
    assert story["states"]["again"]["locallost"] == story["states"]["setup"]["locallost"]
    # The certificate made in its place is not kept: the next run fails the same way instead of rotating.
    left = sorted(p.name for p in story["fleet"].cert_dir("locallost").glob("*") if not p.name.startswith("."))
    assert left == [], left


def test_allowed_replacement_rotates_and_fails_the_run(story):
    again = story["runs"]["again"]
    old = story["states"]["setup"]["replace"]
    new = story["states"]["again"]["replace"]
    assert again.rc != 0, again.describe()
    assert len(new) == 1 and new != old, f"not replaced: {old} -> {new}"
    assert _stored_thumbprint(story["stored"]["again"]["replace"]) == new[0]
    changed = again.changed_tasks("replace")
    assert "m365.cba.setup : Replace the certificate whose private key was lost" in changed, changed
    failed = [r for r in again.host_results("replace") if r["status"] == "failed"]
    assert [r["task"] for r in failed] == [REPLACED_FAIL_TASK], failed
    assert "The certificate of replace was replaced" in failed[0]["msg"]
    for tenant in ("restore", "lost", "down", "refused"):
        assert REPLACED_FAIL_TASK not in [r["task"] for r in again.host_results(tenant) if r["status"] == "failed"], tenant


@pytest.mark.parametrize("tenant,reason", [("down", "cannot reach the store"), ("refused", "HTTP 403")])
def test_unusable_store_fails_the_tenant_naming_it_and_changes_nothing(story, tenant, reason):
    again = story["runs"]["again"]
    assert again.recap[tenant]["failed"] == 1, again.describe()
    (failure,) = again.failures(tenant)
    assert "Restore the certificate from the store" in failure
    assert reason in failure and f"secret secret/{secret_path(tenant)}" in failure, failure
    assert "certificate store http://127.0.0.1:" in failure
    assert story["writes_again"][tenant] == []
    assert story["states"]["again"][tenant] == story["states"]["setup"][tenant]
    # The store is read first: nothing at all was asked of Microsoft Graph for the tenant.
    assert story["graph_again"][tenant] == []
    assert story["stored"]["again"][tenant] == story["stored"]["setup"][tenant]


def test_teardown_removes_the_secret_when_asked(story):
    again = story["runs"]["again"]
    assert again.recap["teardown"]["failed"] == 0 and again.recap["teardown"]["changed"] > 0, again.describe()
    assert story["states"]["again"]["teardown"] is None, "the application is still there"
    assert story["metadata_again"]["teardown"] is None, "the secret (or its metadata) is still in the store"


def test_moving_to_the_store_takes_the_local_certificate(story):
    again = story["runs"]["again"]
    assert again.recap["migrate"]["failed"] == 0, again.describe()
    assert again.changed_tasks("migrate") == [f"m365.cba.setup : {STORE_TASK}"], again.changed_tasks("migrate")
    assert story["writes_again"]["migrate"] == []
    assert story["states"]["again"]["migrate"] == story["states"]["setup"]["migrate"]
    assert [_stored_thumbprint(story["stored"]["again"]["migrate"])] == story["states"]["setup"]["migrate"]


def test_steady_run_changes_nothing(story):
    steady = story["runs"]["steady"]
    assert steady.rc == 0, steady.describe()
    for tenant in ("restore", "replace", "migrate"):
        assert steady.recap[tenant]["changed"] == 0, (tenant, steady.changed_tasks(tenant))
        assert story["writes_steady"][tenant] == []
        assert story["stored"]["steady"][tenant] == story["stored"]["again"][tenant]


def test_a_tmpdir_others_can_write_to_fails_the_tenant_naming_it_and_changes_nothing(story):
    again = story["runs"]["again"]
    assert again.recap["opentmp"]["failed"] == 1, again.describe()
    (failure,) = again.failures("opentmp")
    open_tmp = story["open_tmp"]
    assert failure.startswith(f"m365.cba.setup : {RESTORE_TASK}: tmpdir: {open_tmp}, a directory above "), failure
    assert "writable by group and others (mode 0777) without the sticky bit" in failure, failure
    assert list(open_tmp.iterdir()) == []
    assert story["graph_again"]["opentmp"] == [] and story["writes_again"]["opentmp"] == []
    assert story["stored"]["again"]["opentmp"] == story["stored"]["setup"]["opentmp"]
