# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""module_utils/_vault_store.py against a real OpenBao server: settings, sign-in (token, AppRole),
read / check-and-set write / delete, the failures a user meets, and restoring the files."""

from __future__ import annotations

import os
import stat
import sys

import pytest

from vault_support import PREFIX, stored_certificate


@pytest.fixture(scope="module")
def store(collection_dir):
    """The collection's _vault_store and _certs modules, imported from the installed copy."""
    root = str(collection_dir.parents[2])
    if root not in sys.path:
        sys.path.insert(0, root)
    from ansible_collections.m365.cba.plugins.module_utils import _certs, _vault_store  # pylint: disable=import-outside-toplevel

    return _vault_store, _certs


@pytest.fixture(scope="module")
def pfx(store, tmp_path_factory):
    """A certificate set made by the certificate code, and its PFX bytes."""
    _vault_store, _certs = store
    directory = tmp_path_factory.mktemp("certificate")
    paths = _certs.certificate_paths(str(directory), "app")
    request = _certs.validate_request(_certs.CertificateRequest(
        common_name="unit", dns_names=(), key_size=2048, valid_days=30, renew_before_days=5,
        pfx_password="unit-pfx-password", pfx_encryption="modern"))
    _certs.ensure_present(paths, request)
    return {"paths": paths, "bytes": open(paths.path("pfx"), "rb").read(), "password": "unit-pfx-password"}


def settings(store, bao, path, **overrides):
    _vault_store, _certs = store
    params = {"vault_addr": bao.address, "token": bao.root_token, "mount": "secret", "path": path}
    params.update(overrides)
    return _vault_store.settings_from_params(params)


def test_write_read_and_check_and_set(store, bao, pfx):
    _vault_store, _certs = store
    where = settings(store, bao, f"{PREFIX}/unit/write")
    client = _vault_store.connect(where)
    assert _vault_store.read(client, where).data is None
    data = _vault_store.record(pfx["bytes"], pfx["password"], app_id="app-1", tenant_id="tenant-1")
    assert _vault_store.write(client, where, data, 0) == 1
    stored = _vault_store.read(client, where)
    assert stored.version == 1 and stored.data == data
    thumbprint, _key, _cert = stored_certificate(bao.read(where.path))
    assert thumbprint == data["thumbprint"] == _certs.sha1_thumbprint(_certs.load_certificate_file(pfx["paths"].path("certificate")))
    # Someone else wrote meanwhile: a write based on version 0 is refused, not applied.
    with pytest.raises(_vault_store.StoreError, match="changed by someone else"):
        _vault_store.write(client, where, dict(data, app_id="app-2"), 0)
    assert bao.read(where.path)["app_id"] == "app-1"
    assert _vault_store.public_view(data) == {"thumbprint": data["thumbprint"], "not_after": data["not_after"],
                                              "app_id": "app-1", "tenant_id": "tenant-1"}


def test_delete_removes_every_version(store, bao, pfx):
    _vault_store, _certs = store
    where = settings(store, bao, f"{PREFIX}/unit/delete")
    client = _vault_store.connect(where)
    data = _vault_store.record(pfx["bytes"], pfx["password"])
    _vault_store.write(client, where, data, 0)
    _vault_store.write(client, where, dict(data, app_id="x"), 1)
    assert bao.metadata(where.path)["current_version"] == 2
    assert _vault_store.exists(client, where)
    _vault_store.delete(client, where)
    assert bao.metadata(where.path) is None
    assert not _vault_store.exists(client, where)


def test_a_soft_deleted_latest_version_reads_as_missing(store, bao, pfx):
    _vault_store, _certs = store
    where = settings(store, bao, f"{PREFIX}/unit/soft")
    client = _vault_store.connect(where)
    _vault_store.write(client, where, _vault_store.record(pfx["bytes"], pfx["password"]), 0)
    bao.client().secrets.kv.v2.delete_latest_version_of_secret(path=where.path, mount_point="secret")
    stored = _vault_store.read(client, where)
    assert stored.data is None and stored.version == 1
    assert _vault_store.exists(client, where)


def test_restore_writes_the_certificate_modules_files(store, bao, pfx, tmp_path):
    _vault_store, _certs = store
    data = _vault_store.record(pfx["bytes"], pfx["password"])
    files = _vault_store.files_from(data)
    dest = tmp_path / "restored"
    check = _vault_store.restore(files, str(dest), "app", check_mode=True)
    assert check.changed and not dest.exists()
    outcome = _vault_store.restore(files, str(dest), "app")
    assert outcome.changed and set(outcome.written) == {"key", "certificate", "pfx", "cer"}
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o700
    for kind, mode in (("key", 0o600), ("pfx", 0o600), ("certificate", 0o644), ("cer", 0o644)):
        restored = outcome.paths[kind]
        assert stat.S_IMODE(os.stat(restored).st_mode) == mode, kind
        with open(restored, "rb") as handle, open(pfx["paths"].path(kind), "rb") as original:
            assert handle.read() == original.read(), f"{kind} differs from what the certificate module wrote"
    assert not _vault_store.restore(files, str(dest), "app").changed
    os.chmod(outcome.paths["key"], 0o644)
    again = _vault_store.restore(files, str(dest), "app")
    assert again.written == ("key",) and stat.S_IMODE(os.stat(outcome.paths["key"]).st_mode) == 0o600


def test_approle_login(store, bao, pfx):
    _vault_store, _certs = store
    role_id, secret_id = bao.approle("unit-approle", f'path "secret/data/{PREFIX}/unit/approle" {{ capabilities = ["create", "read", "update"] }}\n')
    where = settings(store, bao, f"{PREFIX}/unit/approle", token=None, role_id=role_id, secret_id=secret_id)
    assert where.auth_method == "approle"
    client = _vault_store.connect(where)
    assert _vault_store.write(client, where, _vault_store.record(pfx["bytes"], pfx["password"]), 0) == 1
    bad = settings(store, bao, f"{PREFIX}/unit/approle", token=None, role_id=role_id, secret_id="not-the-secret-id")
    with pytest.raises(_vault_store.StoreError, match="AppRole login at auth/approle was refused") as failure:
        _vault_store.connect(bad)
    assert bao.address in str(failure.value) and f"secret/{PREFIX}/unit/approle" in str(failure.value)
    assert "not-the-secret-id" not in str(failure.value)


def test_refusals_name_the_store_and_the_path(store, bao):
    _vault_store, _certs = store
    limited = bao.policy_token("unit-elsewhere", 'path "secret/data/elsewhere/*" { capabilities = ["read"] }\n')
    where = settings(store, bao, f"{PREFIX}/unit/refused", token=limited)
    with pytest.raises(_vault_store.StoreError) as failure:
        _vault_store.read(_vault_store.connect(where), where)
    text = str(failure.value)
    assert text.startswith(f"certificate store {bao.address}, secret secret/{PREFIX}/unit/refused: permission denied"), text
    assert failure.value.status == 403 and limited not in text

    down = settings(store, bao, f"{PREFIX}/unit/down", vault_addr="http://127.0.0.1:9")
    with pytest.raises(_vault_store.StoreError, match="cannot reach the store to read the secret") as failure:
        _vault_store.read(_vault_store.connect(down), down)
    assert str(failure.value).startswith("certificate store http://127.0.0.1:9, secret secret/m365-cba/unit/down:")

    wrong_mount = settings(store, bao, f"{PREFIX}/unit/mount", mount="no-such-mount")
    with pytest.raises(_vault_store.StoreError) as failure:
        _vault_store.write(_vault_store.connect(wrong_mount), wrong_mount, {"thumbprint": "x"}, 0)
    assert "no-such-mount" in str(failure.value)


@pytest.mark.parametrize("overrides,option,text", [
    ({"vault_addr": ""}, "vault_addr", "no address"),
    ({"vault_addr": "vault.example.com"}, "vault_addr", "not an http(s) URL"),
    ({"vault_addr": "http://vault.example.com:8200"}, "vault_addr", "plain http to another machine"),
    ({"path": ""}, "path", "not a secret path"),
    ({"path": "a/../b"}, "path", "not a secret path"),
    ({"token": "", "role_id": None}, "token", "no credential"),
    ({"token": None, "role_id": "r"}, "secret_id", "without secret_id"),
    ({"secret_id": "s"}, "role_id", "without role_id"),
    ({"cacert": "/nonexistent/ca.pem"}, "cacert", "is not a file"),
    ({"timeout": -1}, "timeout", "positive number"),
])
def test_settings_refuse_bad_input(store, overrides, option, text):
    _vault_store, _certs = store
    params = {"vault_addr": "https://vault.example.com:8200", "token": "t", "mount": "secret", "path": "m365-cba/a/b"}
    params.update(overrides)
    with pytest.raises(_vault_store.StoreError) as failure:
        _vault_store.settings_from_params(params)
    assert failure.value.option == option and text in str(failure.value), str(failure.value)


def test_settings_accept_loopback_http_and_blank_environment_values(store):
    _vault_store, _certs = store
    made = _vault_store.settings_from_params({"vault_addr": "http://localhost:8200/", "token": " t ", "role_id": "",
                                              "secret_id": "", "namespace": "", "cacert": "", "path": "/m365-cba/a/b/"})
    assert (made.address, made.path, made.location, made.auth_method) == ("http://localhost:8200", "m365-cba/a/b",
                                                                          "secret/m365-cba/a/b", "token")
    assert made.token == "t" and made.namespace is None and made.cacert is None


def test_a_damaged_secret_is_reported_not_restored(store):
    _vault_store, _certs = store
    with pytest.raises(_vault_store.StoreError, match="pfx_base64 is not base64"):
        _vault_store.files_from({"pfx_base64": "%%%", "pfx_password": "x"})
    with pytest.raises(_vault_store.StoreError, match="the stored PFX cannot be used"):
        _vault_store.files_from({"pfx_base64": "AAAA", "pfx_password": "x"})


def test_without_hvac_the_module_fails_naming_it(store, monkeypatch, collection_dir):
    """hvac is optional: a controller without it gets Ansible's missing library message, not a traceback."""
    from ansible_collections.m365.cba.plugins.module_utils import _runner  # pylint: disable=import-outside-toplevel
    from ansible_collections.m365.cba.plugins.modules import certificate_store  # pylint: disable=import-outside-toplevel

    monkeypatch.setitem(sys.modules, "hvac", None)  # import hvac now raises ImportError
    result = _runner.run_in_worker("certificate_store", certificate_store.SPEC, certificate_store.run,
                                   {"path": "m365-cba/a/b", "state": "restored", "dest": "/nonexistent"})
    assert result["failed"] is True
    assert result["msg"].startswith("Failed to import the required Python library (hvac)"), result["msg"]


def _module(args, check_mode=False):
    """m365.cba.certificate_store run in this process, as the action plugin runs it on a local connection."""
    from ansible_collections.m365.cba.plugins.module_utils import _runner  # pylint: disable=import-outside-toplevel
    from ansible_collections.m365.cba.plugins.modules import certificate_store  # pylint: disable=import-outside-toplevel

    return _runner.run_in_worker("certificate_store", certificate_store.SPEC, certificate_store.run, args,
                                 check_mode=check_mode, diff_mode=True)


def test_cas_writes_only_over_the_version_given(store, bao, pfx, tmp_path):
    """``cas``: the version a restore returned at the start of a run; a write by someone else since then
    fails the task, in check mode too, before anything is written."""
    _vault_store, _certs = store
    path = f"{PREFIX}/unit/cas"
    base = {"vault_addr": bao.address, "token": bao.root_token, "path": path}
    restored = _module(dict(base, state="restored", dest=str(tmp_path / "restored")))
    assert restored["found"] is False and restored["version"] == 0, restored
    # Someone else writes after the restore.
    other = _vault_store.record(pfx["bytes"], pfx["password"], app_id="someone-else")
    where = settings(store, bao, path)
    _vault_store.write(_vault_store.connect(where), where, other, 0)
    present = dict(base, pfx_path=pfx["paths"].path("pfx"), pfx_password=pfx["password"], app_id="this-run",
                   cas=restored["version"])
    for check_mode in (True, False):
        result = _module(present, check_mode=check_mode)
        assert result.get("failed") is True, result
        assert "the secret was changed by someone else since this run read it (version 0 then, 1 now); nothing was " \
            "written: run again" in result["msg"], result["msg"]
        assert f"secret secret/{path}" in result["msg"] and pfx["password"] not in str(result)
    assert bao.metadata(path)["current_version"] == 1 and bao.read(path)["app_id"] == "someone-else"
    # Over the version it holds, the write goes through; a secret that already holds it is left alone.
    assert _module(dict(present, cas=1))["version"] == 2
    assert bao.read(path)["app_id"] == "this-run"
    unchanged = _module(dict(present, cas=0))
    assert unchanged.get("failed") is not True and unchanged["changed"] is False and unchanged["version"] == 2, unchanged
    negative = _module(dict(present, cas=-1))
    assert negative["failed"] is True and negative["msg"].startswith("cas: must be a version"), negative


@pytest.fixture(scope="module")
def kv1(bao):
    """A KV version 1 mount, and a token whose policy allows the certificate paths on it."""
    root = bao.client()
    if "kv1/" not in root.sys.list_mounted_secrets_engines()["data"]:
        root.sys.enable_secrets_engine("kv", path="kv1", options={"version": "1"})
    rules = (f'path "kv1/data/{PREFIX}/*" {{ capabilities = ["create", "read", "update", "delete"] }}\n'
             f'path "kv1/metadata/{PREFIX}/*" {{ capabilities = ["read", "delete"] }}\n')
    return bao.policy_token("unit-kv1", rules)


def test_a_kv_version_1_mount_is_refused_before_anything_is_written(store, bao, pfx, kv1, tmp_path):
    _vault_store, _certs = store
    path = f"{PREFIX}/unit/kv1"
    where = settings(store, bao, path, mount="kv1", token=kv1)
    client = _vault_store.connect(where)
    with pytest.raises(_vault_store.StoreError) as failure:
        _vault_store.read(client, where)
    text = str(failure.value)
    assert failure.value.option == "mount" and text.startswith(f"mount: certificate store {bao.address}, secret kv1/{path}:"), text
    assert "the mount kv1 is a KV version 1 secrets engine, and the certificate store needs KV version 2" in text, text
    base = {"vault_addr": bao.address, "token": kv1, "mount": "kv1", "path": path}
    for args in (dict(base, pfx_path=pfx["paths"].path("pfx"), pfx_password=pfx["password"]),
                 dict(base, state="restored", dest=str(tmp_path / "restored")),
                 dict(base, state="absent")):
        for check_mode in (True, False):
            result = _module(args, check_mode=check_mode)
            assert result.get("failed") is True and "needs KV version 2" in result["msg"], result
            assert result["error"]["option"] == "mount", result
    # Nothing was written anywhere on the mount (the KV version 2 API would have written kv1/data/<path>).
    root = bao.client()
    assert _kv1_empty(root), root.secrets.kv.v1.list_secrets(path="", mount_point="kv1")
    assert not (tmp_path / "restored").exists()


def _kv1_empty(root):
    import hvac  # pylint: disable=import-outside-toplevel

    try:
        root.secrets.kv.v1.list_secrets(path="", mount_point="kv1")
    except hvac.exceptions.InvalidPath:
        return True
    return False


def test_a_kv_version_1_secret_left_by_an_earlier_write_is_not_taken_for_a_certificate(store, bao, pfx, kv1):
    """The KV version 2 API on a version 1 mount reads back what an earlier write left there, without a version."""
    _vault_store, _certs = store
    path = f"{PREFIX}/unit/kv1-left"
    root = bao.client()
    data = _vault_store.record(pfx["bytes"], pfx["password"])
    root.secrets.kv.v1.create_or_update_secret(path=f"data/{path}", secret={"data": data, "options": {"cas": 0}},
                                               mount_point="kv1")
    try:
        where = settings(store, bao, path, mount="kv1", token=kv1)
        with pytest.raises(_vault_store.StoreError, match="is a KV version 1 secrets engine"):
            _vault_store.read(_vault_store.connect(where), where)
    finally:
        root.secrets.kv.v1.delete_secret(path=f"data/{path}", mount_point="kv1")


def test_a_missing_secret_on_a_kv_version_2_mount_reads_as_missing_with_the_role_policy(store, bao, store_token):
    """The mount lookup works with the least policy the role documents, and costs nothing once a secret exists."""
    _vault_store, _certs = store
    where = settings(store, bao, f"{PREFIX}/unit/kv2-missing", token=store_token)
    stored = _vault_store.read(_vault_store.connect(where), where)
    assert stored.data is None and stored.version == 0


def test_restored_without_dest_in_check_mode_predicts_a_new_directory(store, bao, pfx, tmp_path):
    """Without dest the action plugin makes the directory (tests/unit/plugins/plugin_utils/test_workdirs.py);
    in check mode none is made, and the module says that every file would be written, without paths."""
    _vault_store, _certs = store
    path = f"{PREFIX}/unit/check-mode-restore"
    base = {"vault_addr": bao.address, "token": bao.root_token, "path": path, "state": "restored"}
    missing = _module(base, check_mode=True)
    assert missing["changed"] is False and missing["found"] is False and missing["dest"] is None, missing
    where = settings(store, bao, path)
    _vault_store.write(_vault_store.connect(where), where, _vault_store.record(pfx["bytes"], pfx["password"]), 0)
    predicted = _module(base, check_mode=True)
    assert predicted["changed"] is True and predicted["files_written"] == ["key", "certificate", "pfx", "cer"], predicted
    assert predicted["dest"] is None and predicted["pfx_path"] is None and predicted["diff"]["after"]["files"] == "restored"
    assert pfx["password"] not in str(predicted)
    # Run without the action plugin (nothing made the directory), the module asks for dest.
    alone = _module(base)
    assert alone["failed"] is True and alone["msg"].startswith("dest: required with state=restored"), alone
    restored = _module(dict(base, dest=str(tmp_path / "restored")))
    assert restored["changed"] is True and restored["dest"] == str(tmp_path / "restored")
