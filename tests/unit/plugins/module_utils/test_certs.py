# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Generating, judging and writing the certificate set, checked against OpenSSL where it can be."""

from __future__ import annotations

import dataclasses
import datetime
import multiprocessing
import os
import random
import shutil
import stat
import subprocess
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from ansible_collections.m365.cba.plugins.module_utils import _certs
from ansible_collections.m365.cba.plugins.module_utils._certs import CertificateError, CertificateRequest

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl command not available")
NOW = datetime.datetime(2026, 6, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def key_2048():
    return _certs.generate_private_key(2048)


@pytest.fixture
def request_():
    return CertificateRequest(pfx_password=PASSWORD)


@pytest.fixture
def paths(tmp_path):
    return _certs.certificate_paths(str(tmp_path / "certs"), "tenant")


def openssl(*args, data=None):
    return subprocess.run([OPENSSL, *args], input=data, capture_output=True, check=True).stdout.decode()


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def present(paths, request, **kwargs):
    kwargs.setdefault("now", NOW)
    return _certs.ensure_present(paths, request, **kwargs)


# Building -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [2048, 3072, 4096])
def test_generated_key_and_certificate_have_the_requested_size(size):
    key = _certs.generate_private_key(size)
    cert = _certs.build_self_signed(key, CertificateRequest(key_size=size), NOW)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert _certs.rsa_key_size(cert.public_key()) == size
    assert _certs.keys_match(key, cert)


def test_certificate_is_self_signed_sha256_client_auth(key_2048):
    request = CertificateRequest(common_name="cba-contoso", dns_names=("a.example", "b.example"), valid_days=10)
    cert = _certs.build_self_signed(key_2048, request, NOW)
    assert cert.subject.rfc4514_string() == "CN=cba-contoso" == cert.issuer.rfc4514_string()
    assert cert.signature_hash_algorithm.name == "sha256"
    assert cert.not_valid_after_utc == NOW + datetime.timedelta(days=10)
    assert cert.not_valid_before_utc < NOW
    assert _certs.dns_names_of(cert) == ("a.example", "b.example")
    cert.verify_directly_issued_by(cert)


def test_certificate_without_dns_names_has_no_san(key_2048):
    assert _certs.dns_names_of(_certs.build_self_signed(key_2048, CertificateRequest(), NOW)) == ()


@needs_openssl
def test_thumbprint_equals_openssl_fingerprint(key_2048, tmp_path):
    cert = _certs.build_self_signed(key_2048, CertificateRequest(), NOW)
    output = openssl("x509", "-noout", "-fingerprint", "-sha1", data=_certs.certificate_pem(cert))
    assert _certs.sha1_thumbprint(cert) == output.strip().split("=", 1)[1].replace(":", "")
    output = openssl("x509", "-noout", "-fingerprint", "-sha256", data=_certs.certificate_pem(cert))
    assert _certs.sha256_thumbprint(cert) == output.strip().split("=", 1)[1].replace(":", "")


@pytest.mark.parametrize("encryption", ["modern", "legacy"])
def test_pfx_opens_with_cryptography_and_is_recognised(key_2048, encryption):
    cert = _certs.build_self_signed(key_2048, CertificateRequest(), NOW)
    data = _certs.pfx_bytes(key_2048, cert, PASSWORD, encryption, "m365.cba")
    key, loaded, extra = pkcs12.load_key_and_certificates(data, PASSWORD.encode())
    assert _certs.der(loaded) == _certs.der(cert) and _certs.keys_match(key, cert) and not extra
    assert _certs.pfx_encryption_of(data) == encryption
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(data, b"wrong")


@needs_openssl
@pytest.mark.parametrize(
    "encryption, extra_args, expected_algorithm",
    [("modern", (), "AES-256-CBC"), ("legacy", ("-legacy",), "pbeWithSHA1And3-KeyTripleDES-CBC")],
)
def test_pfx_opens_with_openssl(key_2048, tmp_path, encryption, extra_args, expected_algorithm):
    cert = _certs.build_self_signed(key_2048, CertificateRequest(), NOW)
    pfx = tmp_path / "f.pfx"
    pfx.write_bytes(_certs.pfx_bytes(key_2048, cert, PASSWORD, encryption))
    text = openssl("pkcs12", *extra_args, "-in", str(pfx), "-nokeys", "-passin", f"pass:{PASSWORD}")
    assert _certs.load_certificate(text).fingerprint(cert.signature_hash_algorithm) == cert.fingerprint(
        cert.signature_hash_algorithm
    )
    info = subprocess.run(
        [OPENSSL, "pkcs12", *extra_args, "-in", str(pfx), "-info", "-noout", "-passin", f"pass:{PASSWORD}"],
        capture_output=True, check=True,
    )
    assert expected_algorithm in info.stderr.decode() + info.stdout.decode()
    wrong = subprocess.run(
        [OPENSSL, "pkcs12", *extra_args, "-in", str(pfx), "-nokeys", "-passin", "pass:wrong"],
        capture_output=True, check=False,
    )
    assert wrong.returncode != 0


def test_pfx_needs_a_password(key_2048):
    cert = _certs.build_self_signed(key_2048, CertificateRequest(), NOW)
    for password in (None, ""):
        with pytest.raises(CertificateError) as err:
            _certs.pfx_bytes(key_2048, cert, password)
        assert err.value.option == "pfx_password"


# Validation ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "change, option",
    [
        ({"key_size": 1024}, "key_size"),
        ({"key_size": 8192}, "key_size"),
        ({"valid_days": 0}, "valid_days"),
        ({"valid_days": -5}, "valid_days"),
        ({"valid_days": _certs.MAX_VALID_DAYS + 1}, "valid_days"),
        ({"renew_before_days": -1}, "renew_before_days"),
        ({"common_name": ""}, "common_name"),
        ({"common_name": "x" * 65}, "common_name"),
        ({"dns_names": ("ok.example", "bad name")}, "dns_names"),
        ({"dns_names": ("bücher.example",)}, "dns_names"),
        ({"pfx_encryption": "rc2"}, "pfx_encryption"),
        # Shorter than 16 characters: too weak, and masked by Ansible inside the returned thumbprint.
        ({"pfx_password": "F3"}, "pfx_password"),
        ({"pfx_password": "x"}, "pfx_password"),
        ({"pfx_password": "0"}, "pfx_password"),
        ({"pfx_password": "fifteen-chars!!"}, "pfx_password"),
        ({"pfx_password": ""}, "pfx_password"),
        # Every run would renew: valid_days not larger than renew_before_days.
        ({"valid_days": 1, "renew_before_days": 30}, "renew_before_days"),
        ({"valid_days": 30, "renew_before_days": 30}, "renew_before_days"),
        # Distinguished-name syntax where only the common name's value belongs.
        ({"common_name": "CN=a,b"}, "common_name"),
        ({"common_name": "cn = contoso"}, "common_name"),
        ({"common_name": "contoso,O=Contoso Ltd"}, "common_name"),
        ({"common_name": "2.5.4.3=contoso"}, "common_name"),
    ],
)
def test_validate_request_names_the_option(change, option):
    with pytest.raises(CertificateError) as err:
        _certs.validate_request(dataclasses.replace(CertificateRequest(), **change))
    assert err.value.option == option
    assert str(err.value).startswith(f"{option}: ")


def test_validate_request_errors_name_both_options_and_never_the_password():
    with pytest.raises(CertificateError) as err:
        _certs.validate_request(CertificateRequest(pfx_password=PASSWORD, valid_days=1, renew_before_days=30))
    assert "renew_before_days" in str(err.value) and "valid_days" in str(err.value)
    with pytest.raises(CertificateError) as err:
        _certs.validate_request(CertificateRequest(pfx_password="F3"))
    assert "at least 16 characters" in str(err.value) and "F3" not in str(err.value)


@pytest.mark.parametrize("common_name", ["Contoso, Inc.", "m365-cba-exchange-online", "a+b", "x" * 64])
def test_validate_request_keeps_plain_common_names(common_name):
    assert _certs.validate_request(CertificateRequest(common_name=common_name, pfx_password=PASSWORD)).common_name == common_name


def test_sixteen_characters_are_enough():
    assert _certs.validate_request(CertificateRequest(pfx_password="0123456789abcdef")).pfx_password == "0123456789abcdef"
    assert _certs.validate_request(CertificateRequest()).pfx_password is None  # required_if and ensure_present ask for it


def test_validate_request_normalises_dns_names():
    request = _certs.validate_request(CertificateRequest(dns_names=("B.example ", "a.example", "b.EXAMPLE")))
    assert request.dns_names == ("b.example", "a.example")
    assert _certs.validate_request(CertificateRequest(valid_days=_certs.MAX_VALID_DAYS)).valid_days == 3650


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../x"])
def test_certificate_paths_reject_a_name_with_a_directory(name):
    with pytest.raises(CertificateError) as err:
        _certs.certificate_paths("/tmp", name)
    assert err.value.option == "name"


def test_certificate_paths():
    paths = _certs.certificate_paths("/srv/certs/", "contoso")
    assert paths.as_dict() == {
        "key": "/srv/certs/contoso.key", "certificate": "/srv/certs/contoso.crt",
        "pfx": "/srv/certs/contoso.pfx", "cer": "/srv/certs/contoso.cer",
    }
    assert paths.lock == "/srv/certs/.contoso.lock"


# The regeneration predicate ----------------------------------------------------------------------

def inspection(private_key, certificate, **states):
    found = _certs.Inspection(directory_exists=True, private_key=private_key, certificate=certificate)
    found.states = {
        "key": "ok" if private_key else "missing",
        "certificate": "ok" if certificate else "missing",
        "pfx": "ok",
        "cer": "ok",
    }
    found.states.update(states)
    return found


@pytest.fixture(scope="module")
def good(key_2048):
    return key_2048, _certs.build_self_signed(key_2048, CertificateRequest(valid_days=365), NOW)


def test_needs_regeneration_none_when_everything_fits(good):
    assert _certs.needs_regeneration(CertificateRequest(), inspection(*good), NOW) is None


@pytest.mark.parametrize(
    "request_change, now_shift_days, expected",
    [
        ({"key_size": 3072}, 0, "key_size"),
        ({"common_name": "other"}, 0, "subject"),
        ({"dns_names": ("a.example",)}, 0, "dns_names"),
        ({}, 340, "expiring"),
        ({"renew_before_days": 400}, 0, "expiring"),
        ({"renew_before_days": 0}, 364, None),
        ({}, 365, "expired"),
        ({}, 400, "expired"),
    ],
)
def test_needs_regeneration_for_request_and_time(good, request_change, now_shift_days, expected):
    request = dataclasses.replace(CertificateRequest(), **request_change)
    now = NOW + datetime.timedelta(days=now_shift_days)
    assert _certs.needs_regeneration(request, inspection(*good), now) == expected


def test_needs_regeneration_for_the_files(good):
    key, cert = good
    other_key = _certs.generate_private_key(2048)
    request = CertificateRequest()
    assert _certs.needs_regeneration(request, inspection(*good), NOW, force=True) == "forced"
    assert _certs.needs_regeneration(request, inspection(None, cert), NOW) == "missing"
    assert _certs.needs_regeneration(request, inspection(key, None), NOW) == "missing"
    assert _certs.needs_regeneration(request, inspection(None, cert, key="invalid"), NOW) == "invalid"
    assert _certs.needs_regeneration(request, inspection(other_key, cert), NOW) == "mismatch"
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_cert = _certs.build_self_signed(ec_key, request, NOW)
    assert _certs.needs_regeneration(request, inspection(ec_key, ec_cert), NOW) == "key_type"
    small_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    small_cert = _certs.build_self_signed(small_key, request, NOW)
    assert _certs.needs_regeneration(request, inspection(small_key, small_cert), NOW) == "key_size"
    # the PFX and CER do not decide about the key and certificate
    assert _certs.needs_regeneration(request, inspection(*good, pfx="unopenable", cer="missing"), NOW) is None


def test_plan_rebuilds_only_stale_containers(good):
    request = CertificateRequest()
    steps = _certs.plan(request, inspection(*good, pfx="unopenable"), NOW)
    assert (steps.regenerate, steps.write, steps.changed) == (None, ("pfx",), True)
    steps = _certs.plan(request, inspection(*good, cer="stale"), NOW)
    assert steps.write == ("cer",)
    steps = _certs.plan(request, inspection(*good), NOW)
    assert not steps.changed
    steps = _certs.plan(request, inspection(*good), NOW, force=True)
    assert (steps.regenerate, steps.write) == ("forced", _certs.FILE_KINDS)


# On disk ------------------------------------------------------------------------------------------

def test_check_mode_predicts_and_writes_nothing(paths, request_):
    outcome = present(paths, request_, check_mode=True)
    assert outcome.changed and outcome.regenerated == "missing" and outcome.certificate is None
    assert outcome.after["thumbprint"] is None and outcome.after["subject"] == "CN=m365.cba"
    assert outcome.before == {"state": "absent"}
    assert not os.path.exists(paths.directory)


def test_first_run_writes_the_set_with_modes_second_run_keeps_it(paths, request_):
    first = present(paths, request_)
    assert first.changed and first.regenerated == "missing" and first.files_written == _certs.FILE_KINDS
    assert mode_of(paths.directory) == 0o700
    assert {kind: mode_of(paths.path(kind)) for kind in _certs.FILE_KINDS} == {
        "key": 0o600, "certificate": 0o644, "pfx": 0o600, "cer": 0o644,
    }
    loaded = _certs.load_credential_file(paths.path("pfx"), PASSWORD)
    assert _certs.der(loaded.certificate) == _certs.der(first.certificate)
    assert open(paths.path("cer"), "rb").read() == _certs.der(first.certificate)
    assert not [n for n in os.listdir(paths.directory) if n.endswith(".tmp")]

    check = present(paths, request_, check_mode=True)
    second = present(paths, request_)
    assert not check.changed and not second.changed and second.regenerated is None
    assert _certs.sha1_thumbprint(second.certificate) == first.after["thumbprint"]
    assert second.before == second.after


def test_a_kept_set_loads_its_private_key_once(paths, request_, monkeypatch):
    """Loading an RSA key validates it (tens of milliseconds of CPU): on a run that keeps the set,
    the PFX's key, validated as it is opened, stands for the identical key file."""
    from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel

    present(paths, request_)
    loads = []
    for module, name in ((serialization, "load_pem_private_key"), (pkcs12, "load_key_and_certificates")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _real=real, _name=name, **k: loads.append(_name) or _real(*a, **k))
    assert not present(paths, request_).changed
    assert loads == ["load_key_and_certificates"]


def test_a_key_file_in_another_encoding_of_the_same_key_is_kept(paths, request_):
    first = present(paths, request_)
    from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel

    key = _certs._load_private_key(open(paths.path("key"), "rb").read())  # pylint: disable=protected-access
    traditional = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())
    with open(paths.path("key"), "wb") as handle:
        handle.write(traditional)
    outcome = present(paths, request_)
    assert not outcome.changed and outcome.after["thumbprint"] == first.after["thumbprint"]


def test_existing_directory_keeps_its_mode(tmp_path, request_):
    os.chmod(tmp_path, 0o755)
    present(_certs.certificate_paths(str(tmp_path), "t"), request_)
    assert mode_of(tmp_path) == 0o755


def test_password_change_rebuilds_only_the_pfx(paths, request_):
    first = present(paths, request_)
    key_before = open(paths.path("key"), "rb").read()
    new_request = dataclasses.replace(request_, pfx_password="a new pfx password, long enough")
    assert present(paths, new_request, check_mode=True).files_written == ("pfx",)
    outcome = present(paths, new_request)
    assert outcome.changed and outcome.regenerated is None and outcome.files_written == ("pfx",)
    assert outcome.after["thumbprint"] == first.after["thumbprint"]
    assert open(paths.path("key"), "rb").read() == key_before
    _certs.load_credential_file(paths.path("pfx"), "a new pfx password, long enough")
    assert not present(paths, new_request).changed


def test_encryption_change_rebuilds_only_the_pfx(paths, request_):
    first = present(paths, request_)
    legacy = dataclasses.replace(request_, pfx_encryption="legacy")
    outcome = present(paths, legacy)
    assert outcome.files_written == ("pfx",) and outcome.after["thumbprint"] == first.after["thumbprint"]
    assert _certs.pfx_encryption_of(open(paths.path("pfx"), "rb").read()) == "legacy"
    assert not present(paths, legacy).changed


@pytest.mark.parametrize("kind", ["pfx", "cer"])
def test_missing_container_is_rebuilt_from_the_existing_certificate(paths, request_, kind):
    first = present(paths, request_)
    os.unlink(paths.path(kind))
    outcome = present(paths, request_)
    assert outcome.files_written == (kind,) and outcome.regenerated is None
    assert outcome.after["thumbprint"] == first.after["thumbprint"]


def test_pfx_of_another_certificate_is_rebuilt(paths, tmp_path, request_):
    present(paths, request_)
    other = _certs.certificate_paths(str(tmp_path / "other"), "tenant")
    present(other, request_)
    shutil.copy(other.path("pfx"), paths.path("pfx"))
    assert present(paths, request_).files_written == ("pfx",)


def snapshot(directory):
    """{path: (bytes or None for a directory, mode, owner)} of everything below ``directory``."""
    found = {}
    for folder, folders, files in os.walk(directory):
        for name in folders + files:
            path = os.path.join(folder, name)
            info = os.stat(path)
            found[os.path.relpath(path, directory)] = (
                None if name in folders else open(path, "rb").read(), stat.S_IMODE(info.st_mode), info.st_uid)
    return found


@pytest.mark.parametrize("removed", [("key",), ("certificate",), ("certificate", "cer"), ("key", "certificate", "cer")])
def test_the_pfx_alone_restores_the_key_and_certificate_files(paths, request_, removed):
    first = present(paths, request_)
    original = snapshot(paths.directory)
    for kind in removed:
        os.unlink(paths.path(kind))
    damaged = snapshot(paths.directory)
    check = present(paths, request_, check_mode=True)
    assert (check.changed, check.regenerated, check.files_written) == (True, None, removed)
    assert check.after["thumbprint"] == first.after["thumbprint"]
    assert check.before["files"] == {kind: ("missing" if kind in removed else "ok") for kind in _certs.FILE_KINDS}
    assert snapshot(paths.directory) == damaged
    outcome = present(paths, request_)
    assert (outcome.changed, outcome.regenerated, outcome.files_written) == (True, None, removed)
    assert outcome.after == check.after
    assert snapshot(paths.directory) == original, "the restored files differ from the ones written first"
    assert not present(paths, request_).changed


def test_the_key_and_certificate_restore_the_pfx(paths, request_):
    present(paths, request_)
    original = open(paths.path("key"), "rb").read()
    os.unlink(paths.path("pfx"))
    outcome = present(paths, request_)
    assert (outcome.regenerated, outcome.files_written) == (None, ("pfx",))
    assert mode_of(paths.path("pfx")) == 0o600
    assert _certs.load_credential_file(paths.path("pfx"), PASSWORD).private_key_pem() == original


@pytest.mark.parametrize("removed", [("key", "certificate", "pfx"), ("key", "certificate", "pfx", "cer"),
                                     ("key", "pfx", "cer"), ("key", "pfx")])
def test_with_no_key_left_a_new_certificate_is_made(paths, request_, removed):
    first = present(paths, request_)
    for kind in removed:
        os.unlink(paths.path(kind))
    assert present(paths, request_, check_mode=True).regenerated == "missing"
    outcome = present(paths, request_)
    assert outcome.regenerated == "missing" and outcome.files_written == _certs.FILE_KINDS
    assert outcome.after["thumbprint"] != first.after["thumbprint"]


def _refused(paths, request_, *words):
    """The run fails in check mode and for real, naming every word, and changes no file."""
    before = snapshot(paths.directory)
    for check_mode in (True, False):
        with pytest.raises(CertificateError) as err:
            present(paths, request_, check_mode=check_mode)
        assert err.value.option == "path"
        assert all(word in str(err.value) for word in words), str(err.value)
        assert snapshot(paths.directory) == before
    return str(err.value)


@pytest.mark.parametrize("also_removed", [(), ("pfx",), ("certificate",)])
def test_a_key_file_that_cannot_be_read_is_kept_and_fails(paths, request_, also_removed):
    present(paths, request_)
    data = open(paths.path("key"), "rb").read()
    with open(paths.path("key"), "wb") as handle:
        handle.write(data[:len(data) // 2])
    for kind in also_removed:
        os.unlink(paths.path(kind))
    message = _refused(paths, request_, paths.path("key"), "cannot be read as a private key", "kept as it is")
    assert ("restore it from the PFX" in message) == ("pfx" not in also_removed), message


def test_a_certificate_file_that_cannot_be_read_is_kept_and_fails(paths, request_):
    present(paths, request_)
    with open(paths.path("certificate"), "wb") as handle:
        handle.write(b"not a certificate")
    _refused(paths, request_, paths.path("certificate"), "cannot be read as a certificate", "kept as it is")


@pytest.mark.parametrize("damage", ["wrong password", "cut short", "garbage"])
def test_a_pfx_that_does_not_open_is_kept_when_it_is_needed(paths, request_, damage):
    present(paths, request_)
    os.unlink(paths.path("key"))
    if damage == "wrong password":
        request_ = dataclasses.replace(request_, pfx_password="another password, long enough")
    else:
        data = open(paths.path("pfx"), "rb").read()
        with open(paths.path("pfx"), "wb") as handle:
            handle.write(data[:len(data) // 2] if damage == "cut short" else b"garbage" * 100)
    _refused(paths, request_, paths.path("pfx"), "does not open with pfx_password", "kept as it is",
             f"the key file {paths.path('key')} is missing")


def test_a_pfx_without_a_key_is_kept_when_it_is_needed(paths, request_, key_2048):
    present(paths, request_)
    certificate = _certs.load_certificate_file(paths.path("certificate"))
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption  # pylint: disable=import-outside-toplevel

    with open(paths.path("pfx"), "wb") as handle:
        handle.write(pkcs12.serialize_key_and_certificates(None, None, certificate, None,
                                                           BestAvailableEncryption(PASSWORD.encode())))
    os.unlink(paths.path("key"))
    _refused(paths, request_, paths.path("pfx"), "holds no private key with its certificate")


def test_a_key_of_another_set_is_kept_and_fails(paths, tmp_path, request_):
    present(paths, request_)
    other = _certs.certificate_paths(str(tmp_path / "other"), "tenant")
    present(other, request_)
    shutil.copy(other.path("key"), paths.path("key"))
    _refused(paths, request_, paths.path("key"), "does not belong to the certificate", "kept as it is")
    os.unlink(paths.path("pfx"))
    _refused(paths, request_, paths.path("key"), "does not belong to the certificate", "kept as it is")


def test_a_key_alone_is_kept_and_fails(paths, request_):
    present(paths, request_)
    for kind in ("certificate", "pfx", "cer"):
        os.unlink(paths.path(kind))
    _refused(paths, request_, paths.path("key"), "neither its certificate", "kept as it is")


def test_a_certificate_other_than_the_pfx_s_without_its_key_fails(paths, tmp_path, request_):
    present(paths, request_)
    other = _certs.certificate_paths(str(tmp_path / "other"), "tenant")
    present(other, request_)
    shutil.copy(other.path("certificate"), paths.path("certificate"))
    os.unlink(paths.path("key"))
    _refused(paths, request_, paths.path("certificate"), "is not the one in the PFX")


def test_a_regeneration_cut_short_after_the_certificate_keeps_the_registered_one(paths, tmp_path, request_):
    """A new certificate is written first and the PFX last: cut short after the certificate (and CER),
    the key and PFX still hold the certificate the application knows, and the next run restores it."""
    first = present(paths, request_)
    original = snapshot(paths.directory)
    other = _certs.certificate_paths(str(tmp_path / "other"), "tenant")
    present(other, request_)
    for kind in ("certificate", "cer"):
        shutil.copy(other.path(kind), paths.path(kind))
    outcome = present(paths, request_)
    assert (outcome.regenerated, outcome.files_written) == (None, ("certificate", "cer"))
    assert outcome.after["thumbprint"] == first.after["thumbprint"]
    assert snapshot(paths.directory) == original


def test_a_regeneration_writes_the_certificate_first_and_the_pfx_last(paths, request_, monkeypatch):
    present(paths, request_)
    written = []
    real = _certs.write_file_atomic
    monkeypatch.setattr(_certs, "write_file_atomic", lambda path, *args: written.append(path) or real(path, *args))
    present(paths, request_, force=True)
    assert written == [paths.path(kind) for kind in ("certificate", "cer", "key", "pfx")]


def test_expiring_certificate_is_renewed_and_force_regenerates(paths, request_):
    first = present(paths, request_)
    later = NOW + datetime.timedelta(days=340)
    outcome = present(paths, request_, now=later)
    assert outcome.regenerated == "expiring" and outcome.after["thumbprint"] != first.after["thumbprint"]
    assert present(paths, request_, force=True, now=later).regenerated == "forced"


def test_wrong_modes_are_repaired(paths, request_):
    present(paths, request_)
    os.chmod(paths.path("key"), 0o644)
    check = present(paths, request_, check_mode=True)
    assert check.changed and check.files_written == ()
    assert mode_of(paths.path("key")) == 0o644
    outcome = present(paths, request_)
    assert outcome.changed and outcome.regenerated is None
    assert mode_of(paths.path("key")) == 0o600
    assert not present(paths, request_).changed


def test_file_where_the_directory_belongs_names_path(tmp_path, request_):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    paths = _certs.certificate_paths(str(blocker), "t")
    for check_mode in (True, False):
        with pytest.raises(CertificateError) as err:
            present(paths, request_, check_mode=check_mode)
        assert err.value.option == "path" and "not a directory" in str(err.value)
    with pytest.raises(CertificateError) as err:
        _certs.ensure_absent(paths)
    assert err.value.option == "path"


def test_unwritable_directory_names_path(tmp_path, request_):
    paths = _certs.certificate_paths("/proc/m365-cba-test", "t")
    with pytest.raises(CertificateError) as err:
        present(paths, request_)
    assert err.value.option == "path"
    with pytest.raises(CertificateError) as err:
        _certs.write_file_atomic("/proc/m365-cba-test.key", b"x", 0o600)
    assert err.value.option == "path"


def test_missing_pfx_password_names_it(paths):
    with pytest.raises(CertificateError) as err:
        present(paths, CertificateRequest())
    assert err.value.option == "pfx_password"


def test_absent_removes_the_set_and_reports_change_only_once(paths, request_):
    first = present(paths, request_)
    check = _certs.ensure_absent(paths, check_mode=True)
    assert check.changed and check.before["thumbprint"] == first.after["thumbprint"]
    assert all(os.path.exists(paths.path(kind)) for kind in _certs.FILE_KINDS)
    outcome = _certs.ensure_absent(paths)
    assert outcome.changed and os.listdir(paths.directory) == []
    assert not _certs.ensure_absent(paths).changed
    assert not _certs.ensure_absent(paths, check_mode=True).changed


def test_absent_without_directory_is_unchanged(tmp_path):
    assert not _certs.ensure_absent(_certs.certificate_paths(str(tmp_path / "none"), "t")).changed


def test_diff_holds_no_key_material(paths, request_):
    outcome = present(paths, request_)
    text = repr(outcome.before) + repr(outcome.after)
    assert "PRIVATE" not in text and PASSWORD not in text
    assert set(outcome.after) >= {"thumbprint", "not_before", "not_after", "subject"}


def _run_concurrently(directory, seed):
    # random pauses between the file writes make unserialised runs interleave
    random.seed(seed)
    write = _certs.write_file_atomic

    def slow_write(*args):
        time.sleep(random.uniform(0, 0.03))
        write(*args)

    _certs.write_file_atomic = slow_write
    paths = _certs.certificate_paths(directory, "shared")
    request = CertificateRequest(pfx_password=PASSWORD, common_name=f"cn-{seed % 2}")
    for _round in range(2):
        _certs.ensure_present(paths, request, force=True)


def _assert_consistent(paths):
    key = _certs._load_private_key(open(paths.path("key"), "rb").read())  # pylint: disable=protected-access
    cert = _certs.load_certificate_file(paths.path("certificate"))
    assert _certs.keys_match(key, cert)
    assert open(paths.path("cer"), "rb").read() == _certs.der(cert)
    loaded = _certs.load_credential_file(paths.path("pfx"), PASSWORD)
    assert _certs.der(loaded.certificate) == _certs.der(cert)
    assert not [n for n in os.listdir(paths.directory) if n.endswith(".tmp")]


def test_concurrent_runs_leave_a_consistent_set(tmp_path):
    directory = str(tmp_path / "shared")
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_run_concurrently, args=(directory, seed), daemon=True) for seed in range(4)]
    for worker in workers:
        worker.start()
    try:
        for worker in workers:
            worker.join(60)
            assert worker.exitcode == 0
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
    _assert_consistent(_certs.certificate_paths(directory, "shared"))


def _present_when_told(directory, go):
    go.wait(30)
    _certs.ensure_present(_certs.certificate_paths(directory, "t"), CertificateRequest(pfx_password=PASSWORD))


@pytest.mark.parametrize("remove_lock_file", [False, True])
def test_a_run_waits_for_the_lock_and_survives_its_removal(tmp_path, remove_lock_file):
    paths = _certs.certificate_paths(str(tmp_path), "t")
    context = multiprocessing.get_context("fork")
    go = context.Event()
    # forked before the lock is taken: a child inheriting the locked descriptor would hold the lock itself
    worker = context.Process(target=_present_when_told, args=(paths.directory, go), daemon=True)
    worker.start()
    try:
        with _certs.directory_lock(paths.lock):
            go.set()
            worker.join(0.5)
            assert worker.exitcode is None and not os.path.exists(paths.path("key"))
            if remove_lock_file:  # as state=absent does while holding it
                os.unlink(paths.lock)
        worker.join(30)
        assert worker.exitcode == 0
    finally:
        if worker.is_alive():
            worker.kill()
    _assert_consistent(paths)


# Other local users ---------------------------------------------------------------------------------

@pytest.fixture
def nobody():
    if os.geteuid() != 0:
        pytest.skip("giving files to another user needs root")
    import pwd  # pylint: disable=import-outside-toplevel

    return pwd.getpwnam("nobody")


@pytest.fixture
def reachable(tmp_path):
    """A directory another user can reach: pytest's temporary directories are private to root."""
    import tempfile  # pylint: disable=import-outside-toplevel

    root = tempfile.mkdtemp(prefix="m365-cba-unit-")
    os.chmod(root, 0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_directories_made_under_umask_000_are_closed_to_others(tmp_path, request_):
    previous = os.umask(0)
    try:
        paths = _certs.certificate_paths(str(tmp_path / "a" / "b" / "certs"), "tenant")
        present(paths, request_)
    finally:
        os.umask(previous)
    assert [mode_of(tmp_path / p) for p in ("a", "a/b", "a/b/certs")] == [0o755, 0o755, 0o700]
    assert {kind: mode_of(paths.path(kind)) for kind in _certs.FILE_KINDS} == {
        "key": 0o600, "certificate": 0o644, "pfx": 0o600, "cer": 0o644,
    }


@pytest.mark.parametrize("kind, what", [("key", "the private key file"), ("pfx", "the PFX file"),
                                        ("certificate", "the certificate file"), ("cer", "the CER file")])
def test_a_file_of_another_user_is_refused(paths, request_, nobody, kind, what):
    present(paths, request_)
    os.chown(paths.path(kind), nobody.pw_uid, nobody.pw_gid)
    message = _refused(paths, request_, f"{what} {paths.path(kind)} is owned by nobody")
    assert message.startswith("path: ")


@pytest.mark.parametrize("kind", ["key", "pfx", "certificate", "cer"])
def test_a_file_others_can_write_to_is_refused(paths, request_, kind):
    present(paths, request_)
    os.chmod(paths.path(kind), 0o666)
    _refused(paths, request_, paths.path(kind), "is writable by group and others (mode 0666)")


def test_a_directory_of_another_user_is_refused(paths, request_, nobody):
    present(paths, request_)
    os.chown(paths.directory, nobody.pw_uid, nobody.pw_gid)
    _refused(paths, request_, f"the certificate directory {paths.directory} is owned by nobody")


def test_a_directory_others_can_write_to_is_refused(paths, request_):
    present(paths, request_)
    os.chmod(paths.directory, 0o777)
    _refused(paths, request_, f"the certificate directory {paths.directory} is writable by group and others")


@pytest.mark.parametrize("exists", [True, False])
def test_a_parent_others_can_write_to_without_sticky_bit_is_refused(tmp_path, request_, exists):
    parent = tmp_path / "open"
    paths = _certs.certificate_paths(str(parent / "certs"), "tenant")
    if exists:
        present(paths, request_)
    else:
        parent.mkdir()
    os.chmod(parent, 0o777)
    before = snapshot(str(parent))
    for check_mode in (True, False):
        with pytest.raises(CertificateError) as err:
            present(paths, request_, check_mode=check_mode)
        assert str(err.value).startswith(f"path: {parent}, a directory above {paths.directory}, is writable by group and others")
        assert snapshot(str(parent)) == before
    os.chmod(parent, 0o1777)  # with the sticky bit, as /tmp
    assert present(paths, request_).changed is not exists


def test_another_user_s_substitute_is_refused(reachable, request_, nobody):
    """The directory above the tenant's was left open to everybody: another user renames the
    tenant's directory away and puts their own key and certificate in its place."""
    parent = os.path.join(reachable, "open")
    paths = _certs.certificate_paths(os.path.join(parent, "tenant"), "tenant")
    present(paths, request_)
    os.chmod(parent, 0o777)
    theirs = present(_certs.certificate_paths(os.path.join(reachable, "theirs"), "tenant"), request_).certificate
    their_files = {"tenant.crt": _certs.certificate_pem(theirs), "tenant.key": b"their key"}

    def substitute():
        os.rename(paths.directory, paths.directory + ".moved")
        os.mkdir(paths.directory, 0o700)
        for name, data in their_files.items():
            with open(os.path.join(paths.directory, name), "wb") as handle:
                handle.write(data)

    assert _as_user(nobody, substitute) is None
    assert os.stat(paths.path("key")).st_uid == nobody.pw_uid
    for check_mode in (True, False):
        with pytest.raises(CertificateError) as err:
            present(paths, request_, check_mode=check_mode)
        assert str(err.value).startswith(f"path: {parent}, a directory above {paths.directory}, is writable")
    os.chmod(parent, 0o755)  # closed again: what they left is still not ours
    with pytest.raises(CertificateError) as err:
        present(paths, request_)
    assert str(err.value).startswith(f"path: the certificate directory {paths.directory} is owned by nobody")
    assert sorted(os.listdir(paths.directory)) == ["tenant.crt", "tenant.key"]


def _as_user(user, function, *args):
    """Run ``function(*args)`` in a child process as ``user``; its exception, or None."""
    context = multiprocessing.get_context("fork")
    queue = context.SimpleQueue()

    def child():
        os.setgroups([])
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)
        try:
            function(*args)
        except Exception as exc:  # pylint: disable=broad-except
            queue.put(f"{type(exc).__name__}: {exc}")
        else:
            queue.put(None)

    worker = context.Process(target=child, daemon=True)
    worker.start()
    worker.join(60)
    assert worker.exitcode == 0
    return queue.get()


def _read_only_set(reachable, request_, user):
    paths = _certs.certificate_paths(os.path.join(reachable, "certs"), "tenant")
    present(paths, request_)
    os.unlink(paths.lock)  # as a set restored from a backup has none
    for path in [paths.directory] + [paths.path(kind) for kind in _certs.FILE_KINDS]:
        os.chown(path, user.pw_uid, user.pw_gid)
    os.chmod(paths.directory, 0o500)
    return paths


def test_a_run_that_changes_nothing_needs_no_write_access(reachable, request_, nobody):
    paths = _read_only_set(reachable, request_, nobody)
    before = snapshot(paths.directory)

    def unchanged(check_mode):
        outcome = present(paths, request_, check_mode=check_mode)
        assert not outcome.changed, outcome

    assert _as_user(nobody, unchanged, False) is None
    assert _as_user(nobody, unchanged, True) is None
    assert snapshot(paths.directory) == before and not os.path.exists(paths.lock)


def test_a_run_with_something_to_write_in_a_read_only_directory_fails_naming_it(reachable, request_, nobody):
    paths = _read_only_set(reachable, request_, nobody)
    os.chmod(paths.path("cer"), 0o600)  # a mode to set back is a change
    error = _as_user(nobody, present, paths, request_)
    assert error.endswith(f": path: cannot create the lock file {paths.lock}: Permission denied"), error


@pytest.mark.parametrize("character", ["\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\x85"])
def test_a_pfx_password_with_a_control_character_is_refused(character):
    password = "sixteen characters" + character + "and more"
    with pytest.raises(CertificateError) as err:
        _certs.validate_request(CertificateRequest(pfx_password=password))
    assert str(err.value).startswith("pfx_password: must not hold a control character")
    assert password not in str(err.value)
