# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The certificate files on the control node: nothing lost, never a silent rotation, nothing another
local user can slip in. One emulator of its own, one tenant per story:

- nokey:       the .key file deleted -> restored from the PFX, the registered certificate kept
- nocrt:       the .crt and .cer files deleted -> restored from the PFX
- nopfx:       the .pfx file deleted -> rebuilt from the key and certificate
- truncated:   the .key file cut in half -> the tenant fails naming it; nothing written, uploaded or removed
- badpfx:      the .key deleted and the .pfx cut in half -> fails naming the PFX, which is kept
- substituted: the directory above the tenant's is open to every user (as a umask of 000 made it); another
               user renames the tenant's directory away and puts their own key and certificate in its place
               -> the tenant fails naming that directory, and their certificate reaches nothing
- foreignkey:  the .key file belongs to another user -> fails naming it

The first run sets every tenant up under umask 000: every directory it creates is still closed to
group and others. Then the damage, a run in check mode (which predicts the restores exactly and writes
nothing), the run that restores, and one that changes nothing. Last, a PFX password with a control
character is refused by the role's input check, before any file or request.
"""

from __future__ import annotations

import datetime
import os
import shutil
import tempfile
import traceback
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from e2e_support import EXCHANGE_APP, LocalCertificate, PlaybookRunner, TenantView, mode

from m365emu import Emulator

RESTORED = ("nokey", "nocrt", "nopfx")
REFUSED = ("truncated", "badpfx", "substituted", "foreignkey")
TENANTS = RESTORED + REFUSED
CERTIFICATE_TASK = "Make or keep the certificate"
REPORT_TASK = "Write the report beside the certificate"
INPUT_CHECK_TASK = "Check the role's inputs before anything is changed"
SUFFIXES = (".key", ".crt", ".pfx", ".cer")
ANOTHER_USER = "nobody"


def _as(user, function, *args):
    """Run ``function(*args)`` in a child process as ``user`` (the child forked, so that no program
    needs to be readable by that user)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            function(*args)
            code = 0
        except BaseException:  # pylint: disable=broad-except
            traceback.print_exc()
        finally:
            os._exit(code)  # pylint: disable=protected-access
    _pid, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, f"the step as {user.pw_name} failed"


def _substitute(directory, files):
    """Rename the tenant's directory away (its parent lets anybody do that) and put a directory with
    one's own key and certificate in its place."""
    os.rename(directory, directory + ".moved")
    os.mkdir(directory, 0o700)
    for name, data in files.items():
        with open(os.path.join(directory, name), "wb") as handle:
            handle.write(data)


def _another_user():
    if os.geteuid() != 0:
        pytest.skip("acting as another local user needs root")
    try:
        import pwd  # pylint: disable=import-outside-toplevel

        return pwd.getpwnam(ANOTHER_USER)
    except KeyError:
        pytest.skip(f"no local user {ANOTHER_USER}")


def _their_key_and_certificate():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, EXCHANGE_APP)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=365)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def _files(directory):
    """{name: (bytes, mode)} of the files directly in ``directory``."""
    directory = Path(directory)
    return {p.name: (p.read_bytes(), mode(p)) for p in sorted(directory.iterdir()) if p.is_file()} if directory.is_dir() else {}


def _writes(run, emulator, tenant):
    tenant_id = emulator.tenant(tenant)["tenant_id"]
    return [r["route"] for r in run.requests
            if r.get("tenant") == tenant_id and r["method"] != "GET" and not r["path"].endswith("/oauth2/v2.0/token")]


@pytest.fixture(scope="module")
def shared_root():
    """A directory that the other local user can reach (pytest's temporary directories are private to root)."""
    root = tempfile.mkdtemp(prefix="m365-cba-key-files-")
    os.chmod(root, 0o755)
    yield Path(root)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def key_files(collection, ansible_playbook, tmp_path_factory, pfx_password, shared_root):
    other = _another_user()
    with Emulator(str(tmp_path_factory.mktemp("key-files-emulator")), seed=[{"name": name} for name in TENANTS]) as emulator:
        runner = PlaybookRunner(emulator, collection, ansible_playbook, tmp_path_factory.mktemp("key-files-runs"), pfx_password)
        # Every tenant below tree/certs/, created by the role; the substituted one below open/.
        where = {"m365_cba_certificate_dir": str(shared_root) + "/{{ 'open' if inventory_hostname == 'substituted' "
                                                                "else 'tree/certs' }}/{{ inventory_hostname }}"}
        directories = {tenant: shared_root / ("open" if tenant == "substituted" else "tree/certs") / tenant for tenant in TENANTS}
        runs = {}

        previous = os.umask(0)
        try:
            runs["setup"] = runner.run("key-files-setup", TENANTS, shared_root, extra_vars=where)
        finally:
            os.umask(previous)
        created_modes = {path: mode(shared_root / path) for path in ("tree", "tree/certs", "tree/certs/nokey", "open")}
        views = {"setup": {tenant: TenantView(emulator, tenant) for tenant in TENANTS}}
        files = {"setup": {tenant: _files(directories[tenant]) for tenant in TENANTS}}

        base = {tenant: directories[tenant] / EXCHANGE_APP for tenant in TENANTS}
        os.unlink(f"{base['nokey']}.key")
        os.unlink(f"{base['nocrt']}.crt")
        os.unlink(f"{base['nocrt']}.cer")
        os.unlink(f"{base['nopfx']}.pfx")
        for tenant, suffix in (("truncated", ".key"), ("badpfx", ".pfx")):
            data = Path(f"{base[tenant]}{suffix}").read_bytes()
            Path(f"{base[tenant]}{suffix}").write_bytes(data[:len(data) // 2])
        os.unlink(f"{base['badpfx']}.key")
        os.chown(f"{base['foreignkey']}.key", other.pw_uid, other.pw_gid)
        # What umask 000 used to leave: the directory above the tenant's open to everybody.
        os.chmod(shared_root / "open", 0o777)
        their_key, their_certificate = _their_key_and_certificate()
        _as(other, _substitute, str(directories["substituted"]),
            {f"{EXCHANGE_APP}.key": their_key, f"{EXCHANGE_APP}.crt": their_certificate})
        files["damaged"] = {tenant: _files(directories[tenant]) for tenant in TENANTS}

        runs["check"] = runner.run("key-files-check", TENANTS, shared_root, extra_vars=where, check=True)
        files["check"] = {tenant: _files(directories[tenant]) for tenant in TENANTS}
        runs["repair"] = runner.run("key-files-repair", TENANTS, shared_root, extra_vars=where)
        views["repair"] = {tenant: TenantView(emulator, tenant) for tenant in TENANTS}
        files["repair"] = {tenant: _files(directories[tenant]) for tenant in TENANTS}
        runs["steady"] = runner.run("key-files-steady", RESTORED, shared_root, extra_vars=where)
        yield {"runs": runs, "views": views, "files": files, "directories": directories, "emulator": emulator,
               "created_modes": created_modes, "their_certificate": their_certificate}


def _task(name):
    """A task's name without the role's in front of it."""
    return name.split(" : ")[-1]


def _changed_tasks(run, tenant):
    return [_task(name) for name in run.changed_tasks(tenant)]


def _failure(run, tenant):
    failed = run.host_tasks(tenant, status="failed")
    assert [_task(t["task"]) for t in failed] == [CERTIFICATE_TASK], f"{tenant}: {failed}\n{run.describe()}"
    return str(failed[0]["msg"])


def test_setup_under_umask_000_creates_nothing_others_can_write(key_files):
    run = key_files["runs"]["setup"]
    assert run.rc == 0, run.describe()
    assert key_files["created_modes"] == {"tree": 0o755, "tree/certs": 0o755, "tree/certs/nokey": 0o700, "open": 0o755}
    for tenant in TENANTS:
        modes = {name: file_mode for name, (_data, file_mode) in key_files["files"]["setup"][tenant].items()}
        assert modes == {f"{EXCHANGE_APP}.key": 0o600, f"{EXCHANGE_APP}.crt": 0o644, f"{EXCHANGE_APP}.pfx": 0o600,
                         f"{EXCHANGE_APP}.cer": 0o644, f"{EXCHANGE_APP}.report.json": 0o600, f".{EXCHANGE_APP}.lock": 0o600}


@pytest.mark.parametrize("tenant", RESTORED)
def test_check_mode_predicts_the_restore_and_writes_nothing(key_files, tenant):
    check, repair = key_files["runs"]["check"], key_files["runs"]["repair"]
    assert check.failures(tenant) == 0, check.describe()
    if tenant == "nopfx":
        # The proof signs in with the PFX, which check mode does not write: the report it predicts
        # is not verified. The certificate task predicts what the run does.
        assert _changed_tasks(check, tenant) == [CERTIFICATE_TASK, REPORT_TASK], check.changed_tasks(tenant)
    else:
        assert _changed_tasks(check, tenant) == _changed_tasks(repair, tenant) == [CERTIFICATE_TASK], check.changed_tasks(tenant)
    (predicted,) = [t for t in check.host_tasks(tenant) if _task(t["task"]) == CERTIFICATE_TASK]
    (done,) = [t for t in repair.host_tasks(tenant) if _task(t["task"]) == CERTIFICATE_TASK]
    assert predicted["changed"] is done["changed"] is True
    assert key_files["files"]["check"][tenant] == key_files["files"]["damaged"][tenant]
    assert _writes(check, key_files["emulator"], tenant) == []


@pytest.mark.parametrize("tenant", RESTORED)
def test_one_surviving_form_restores_the_others_without_a_rotation(key_files, tenant, pfx_password):
    repair, steady = key_files["runs"]["repair"], key_files["runs"]["steady"]
    assert repair.failures(tenant) == 0, repair.describe()
    assert _changed_tasks(repair, tenant) == [CERTIFICATE_TASK]
    # The very files of the setup run are back, byte for byte (the report too), with their modes; a
    # PFX written again (with a new salt) holds the same key and certificate.
    rebuilt = f"{EXCHANGE_APP}.pfx" if tenant == "nopfx" else None
    repaired, setup = key_files["files"]["repair"][tenant], key_files["files"]["setup"][tenant]
    assert {name: value for name, value in repaired.items() if name != rebuilt} == \
        {name: value for name, value in setup.items() if name != rebuilt}
    local = LocalCertificate(key_files["directories"][tenant])
    assert (mode(local.key), mode(local.pfx), mode(local.cer)) == (0o600, 0o600, 0o644)
    assert local.pfx_certificate_thumbprint(pfx_password) == local.thumbprint
    key, _cert, _extra = pkcs12.load_key_and_certificates(local.pfx.read_bytes(), pfx_password.encode("utf-8"))
    assert key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()) == local.key.read_bytes()
    before, after = key_files["views"]["setup"][tenant], key_files["views"]["repair"][tenant]
    assert after.application(EXCHANGE_APP)["keyCredentials"] == before.application(EXCHANGE_APP)["keyCredentials"]
    assert after.thumbprints(after.application(EXCHANGE_APP)) == [local.thumbprint]
    assert _writes(repair, key_files["emulator"], tenant) == []
    assert steady.failures(tenant) == 0 and steady.changed(tenant) == 0, steady.describe()


@pytest.mark.parametrize("tenant, suffix, words", [
    ("truncated", ".key", ["cannot be read as a private key", "kept as it is"]),
    ("badpfx", ".pfx", ["does not open with pfx_password", "kept as it is"]),
])
def test_a_file_that_cannot_be_read_fails_the_tenant_and_is_kept(key_files, tenant, suffix, words):
    path = str(key_files["directories"][tenant] / EXCHANGE_APP) + suffix
    for stage in ("check", "repair"):
        message = _failure(key_files["runs"][stage], tenant)
        assert path in message and all(word in message for word in words), message
        assert key_files["files"][stage][tenant] == key_files["files"]["damaged"][tenant]
        assert _writes(key_files["runs"][stage], key_files["emulator"], tenant) == []
    before, after = key_files["views"]["setup"][tenant], key_files["views"]["repair"][tenant]
    assert after.application(EXCHANGE_APP)["keyCredentials"] == before.application(EXCHANGE_APP)["keyCredentials"]


def test_a_directory_another_user_could_replace_is_refused(key_files):
    directory = key_files["directories"]["substituted"]
    for stage in ("check", "repair"):
        run = key_files["runs"][stage]
        message = _failure(run, "substituted")
        assert message.startswith(f"path: {directory.parent}, a directory above {directory}, is writable by group and others "
                                  "(mode 0777) without the sticky bit"), message
        assert _writes(run, key_files["emulator"], "substituted") == []
    # Their files and ours stay as they were; their certificate reached nothing, ours is still the one.
    assert key_files["files"]["repair"]["substituted"] == key_files["files"]["damaged"]["substituted"]
    assert sorted(key_files["files"]["repair"]["substituted"]) == [f"{EXCHANGE_APP}.crt", f"{EXCHANGE_APP}.key"]
    assert _files(str(directory) + ".moved") == key_files["files"]["setup"]["substituted"]
    before, after = key_files["views"]["setup"]["substituted"], key_files["views"]["repair"]["substituted"]
    assert after.application(EXCHANGE_APP)["keyCredentials"] == before.application(EXCHANGE_APP)["keyCredentials"]


def test_a_key_of_another_user_is_refused(key_files):
    path = key_files["directories"]["foreignkey"] / f"{EXCHANGE_APP}.key"
    for stage in ("check", "repair"):
        message = _failure(key_files["runs"][stage], "foreignkey")
        assert message.startswith(f"path: the private key file {path} is owned by {ANOTHER_USER} "), message
        assert _writes(key_files["runs"][stage], key_files["emulator"], "foreignkey") == []
    assert key_files["files"]["repair"]["foreignkey"] == key_files["files"]["setup"]["foreignkey"]


@pytest.mark.parametrize("character", ["\n", "\t"])
def test_a_pfx_password_with_a_control_character_is_refused_before_anything(collection, ansible_playbook, tmp_path, character):
    """openssl -passin and most password prompts cannot pass a line break or a tab: the input check
    refuses such a password, naming the variable, before any file or request."""
    password = "a long enough pfx password" + character + "and more"
    with Emulator(str(tmp_path / "emulator"), seed=[{"name": "ctrlpfx"}]) as emulator:
        runner = PlaybookRunner(emulator, collection, ansible_playbook, tmp_path / "runs", password)
        run = runner.run("control-character", ["ctrlpfx"], tmp_path / "certs")
        tenant_id = emulator.tenant("ctrlpfx")["tenant_id"]
        assert [r["route"] for r in run.requests if r.get("tenant") == tenant_id] == []
    assert run.rc != 0, run.describe()
    failed = run.host_tasks("ctrlpfx", status="failed")
    assert [_task(t["task"]) for t in failed] == [INPUT_CHECK_TASK], run.describe()
    assert str(failed[0]["msg"]).startswith("m365_cba_pfx_password: must not hold a control character"), failed[0]["msg"]
    assert not (tmp_path / "certs").exists()
    assert "a long enough pfx password" not in run.stdout + run.stderr
