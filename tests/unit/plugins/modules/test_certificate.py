# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The certificate module end to end through main(): check mode, idempotency, modes, errors."""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest

from ansible_collections.m365.cba.plugins.module_utils import _certs
from ansible_collections.m365.cba.plugins.modules import certificate

PASSWORD = "s3cret pfx password"


@pytest.fixture
def args(tmp_path):
    return {"path": str(tmp_path / "certs"), "name": "contoso", "pfx_password": PASSWORD}


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_check_mode_predicts_then_apply_then_unchanged(run_module, args):
    check = run_module(certificate, args, check_mode=True, diff_mode=True)
    assert check["changed"] is True and check["regenerated"] == "missing"
    assert check["thumbprint"] is None and check["subject"] == "CN=m365.cba"
    assert check["diff"]["before"] == {"state": "absent"}
    assert not os.path.exists(args["path"])

    applied = run_module(certificate, args, diff_mode=True)
    assert applied["changed"] is True and applied["regenerated"] == "missing"
    assert applied["files_written"] == ["key", "certificate", "pfx", "cer"]
    assert mode_of(applied["key_path"]) == 0o600 and mode_of(applied["pfx_path"]) == 0o600
    assert mode_of(applied["certificate_path"]) == 0o644 and mode_of(applied["cer_path"]) == 0o644
    assert applied["key_path"] == os.path.join(args["path"], "contoso.key")
    assert applied["diff"]["after"]["thumbprint"] == applied["thumbprint"]

    cert = _certs.load_certificate(base64.b64decode(applied["certificate_base64"]))
    assert _certs.sha1_thumbprint(cert) == applied["thumbprint"]
    assert _certs.sha256_thumbprint(cert) == applied["thumbprint_sha256"]
    assert applied["days_to_expiry"] in (364, 365) and applied["key_size"] == 2048
    assert applied["not_after"].endswith("Z")

    check_again = run_module(certificate, args, check_mode=True)
    again = run_module(certificate, args, diff_mode=True)
    assert check_again["changed"] is False and again["changed"] is False and again["regenerated"] is None
    assert again["thumbprint"] == applied["thumbprint"]
    assert again["diff"]["before"] == again["diff"]["after"]


def test_output_never_holds_the_password_or_key(run_module, args):
    result = run_module(certificate, args, diff_mode=True)
    text = json.dumps(result)
    assert PASSWORD not in text and "PRIVATE KEY" not in text


def test_password_change_check_mode_predicts_pfx_rebuild(run_module, args):
    first = run_module(certificate, args)
    args["pfx_password"] = "another pfx password"
    check = run_module(certificate, args, check_mode=True)
    assert check["changed"] is True and check["files_written"] == ["pfx"]
    assert check["thumbprint"] == first["thumbprint"]
    applied = run_module(certificate, args)
    assert applied["changed"] is True and applied["regenerated"] is None and applied["thumbprint"] == first["thumbprint"]


def test_absent(run_module, args):
    run_module(certificate, args)
    absent = {"path": args["path"], "name": args["name"], "state": "absent"}
    check = run_module(certificate, absent, check_mode=True)
    assert check["changed"] is True and os.path.exists(os.path.join(args["path"], "contoso.pfx"))
    assert run_module(certificate, absent)["changed"] is True
    assert os.listdir(args["path"]) == []
    assert run_module(certificate, absent)["changed"] is False


@pytest.mark.parametrize(
    "change, option",
    [({"valid_days": 0}, "valid_days"), ({"valid_days": 4000}, "valid_days"), ({"name": "a/b"}, "name"),
     ({"pfx_password": ""}, "pfx_password"), ({"pfx_password": "F3"}, "pfx_password"),
     ({"pfx_password": "0"}, "pfx_password"), ({"valid_days": 1}, "renew_before_days"),
     ({"common_name": "CN=a,b"}, "common_name")],
)
def test_bad_values_fail_naming_the_option(run_module, args, change, option):
    args.update(change)
    result = run_module(certificate, args)
    assert result["failed"] is True
    assert result["msg"].startswith(f"{option}: ") and "Traceback" not in result["msg"]
    assert "exception" not in result


def test_file_in_place_of_the_directory_names_path(run_module, args, tmp_path):
    blocker = tmp_path / "certs"
    blocker.write_text("not a directory")
    result = run_module(certificate, args)
    assert result["failed"] is True and result["msg"].startswith("path: ")


def test_pfx_password_required_when_present(run_module, args):
    del args["pfx_password"]
    result = run_module(certificate, args)
    assert result["failed"] is True and "pfx_password" in result["msg"]


def test_refuses_a_validity_that_would_renew_on_every_run(run_module, args):
    """It used to warn and then generate a new certificate on every run."""
    result = run_module(certificate, dict(args, renew_before_days=400))
    assert result["failed"] is True
    assert result["msg"].startswith("renew_before_days: 400 is not smaller than valid_days (365)")
    assert not os.path.exists(args["path"])  # refused before anything was written


def test_short_pfx_password_is_refused_before_anything_is_written(run_module, args):
    result = run_module(certificate, dict(args, pfx_password="F3"))
    assert result["failed"] is True and result["msg"].startswith("pfx_password: must be at least 16 characters")
    assert not os.path.exists(args["path"])


def test_a_password_inside_the_thumbprint_fails_instead_of_a_masked_thumbprint(run_module, args):
    """Ansible masks a no_log value wherever it occurs: a password that is part of the thumbprint
    would turn it into '...********...'. The module fails, naming pfx_password, instead."""
    first = run_module(certificate, args)
    args["pfx_password"] = first["thumbprint"][4:20]  # 16 characters: long enough, and inside the thumbprint
    result = run_module(certificate, args)
    assert result["failed"] is True
    assert result["msg"].startswith("pfx_password: its value occurs inside the returned thumbprint")
    assert "********" not in json.dumps(result) and "thumbprint" not in {k for k in result if k != "msg"}
