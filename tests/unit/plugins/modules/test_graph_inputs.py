# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Inputs the Graph modules refuse (or warn about) before Microsoft Graph is called, run both ways
against the emulator: the message names the option, and the emulator's log shows no request that
the check should have saved."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from ansible_collections.m365.cba.plugins.modules import application, application_certificate, organization_info

MSA = "AzureADandPersonalMicrosoftAccount"
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def connection(emu, tenant="tenant01"):
    info = emu.tenant(tenant)
    return {"tenant_id": info["tenant_id"], "client_id": info["bootstrap"]["client_id"],
            "client_certificate_path": info["bootstrap"]["certificate_path"], "authority_host": emu.base_url,
            "graph_endpoint": emu.base_url, "ca_bundle": emu.ca_bundle, "token_cache_dir": "none"}


def graph_requests(emu, methods=("GET", "POST", "PATCH", "PUT", "DELETE")):
    return [f"{r['method']} {r['path']}" for r in emu.requests() if r["method"] in methods and "/oauth2/" not in r["path"]]


def pem(not_before, days=30, common_name="it-input"):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(_KEY.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(not_before)
            .not_valid_after(not_before + datetime.timedelta(days=days)).sign(_KEY, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def warning_text(warning):
    """A warning as text: a module process of ansible-core 2.19 returns {"event": {"msg": ...}}."""
    if isinstance(warning, dict):
        return warning_text(warning.get("event") or warning.get("msg") or "")
    return warning


def now():
    return datetime.datetime.now(datetime.timezone.utc)


# -- display_name: the limits Microsoft Entra ID documents for each sign-in audience --------------------

def test_display_name_over_the_audience_limit_is_refused_before_graph(emu, run_module):
    result = run_module(application, dict(connection(emu), unique_name="it-inputs-msa", display_name="x" * 91,
                                          sign_in_audience=MSA))
    assert result["failed"] is True
    assert result["msg"].startswith("display_name: is 91 characters long") and "at most 90" in result["msg"]
    assert graph_requests(emu) == []


def test_display_name_checked_against_the_audience_the_application_has(emu, run_module):
    created = run_module(application, dict(connection(emu), unique_name="it-inputs-msa-existing", display_name="short",
                                           sign_in_audience=MSA))
    assert created["changed"] is True
    emu.reset_requests()
    result = run_module(application, dict(connection(emu), unique_name="it-inputs-msa-existing", display_name="y" * 100))
    assert result["failed"] is True and result["msg"].startswith("display_name: ") and "at most 90" in result["msg"]
    assert graph_requests(emu, ("POST", "PATCH", "PUT", "DELETE")) == []  # read, never written


def test_display_names_within_the_limits_pass(emu, run_module):
    result = run_module(application, dict(connection(emu), unique_name="it-inputs-120", display_name="z" * 120))
    assert result["changed"] is True and result["application"]["display_name"] == "z" * 120
    result = run_module(application, dict(connection(emu), unique_name="it-inputs-120", display_name="z" * 121))
    assert result["failed"] is True and "at most 120" in result["msg"]


# -- cloud and endpoints ----------------------------------------------------------------------------

@pytest.mark.parametrize("option, url", [("graph_endpoint", "https://graph.microsoft.com"),
                                         ("authority_host", "https://login.microsoftonline.com")])
def test_endpoint_of_another_cloud_is_refused_before_any_request(emu, run_module, option, url):
    args = dict(connection(emu), cloud="usgov_high", **{option: url})
    result = run_module(organization_info, args)
    assert result["failed"] is True
    assert result["msg"].startswith(f"{option}: {url} is the ") and "cloud is usgov_high" in result["msg"]
    assert result["error"]["option"] == option
    assert emu.requests() == []  # not even a token request


# -- application_certificate: one certificate, valid now ----------------------------------------------

def test_pem_bundle_of_two_certificates_is_refused_naming_the_option(emu, run_module):
    bundle = pem(now() - datetime.timedelta(days=1)) + pem(now() - datetime.timedelta(days=2))
    result = run_module(application_certificate, dict(connection(emu), app_id=emu.tenant("tenant01")["bootstrap"]["client_id"],
                                                      certificate_content=bundle))
    assert result["failed"] is True
    assert result["msg"].startswith("certificate_content: holds 2 certificates")
    assert graph_requests(emu) == []


def test_certificate_not_valid_yet_is_uploaded_with_a_warning(emu, run_module, capsys):
    app = run_module(application, dict(connection(emu), unique_name="it-inputs-future", display_name="future"))
    starts = (now() + datetime.timedelta(days=3)).replace(microsecond=0)
    args = dict(connection(emu), unique_name="it-inputs-future", certificate_content=pem(starts))
    result = run_module(application_certificate, args)
    assert result.get("failed") is not True, result
    assert app["application"]["app_id"]
    warnings = [warning_text(w) for w in result.get("warnings") or []]
    # Once a controller-side Display exists in this Python process (other tests load action plugins),
    # a module process's warnings go to its stderr instead of the result.
    warnings += [line.split("[WARNING]: ", 1)[1] for line in capsys.readouterr().err.splitlines() if "[WARNING]: " in line]
    assert any(w.startswith("certificate_content: the certificate is not valid before ") for w in warnings), result.get("warnings")
    # A certificate valid now gets no warning.
    valid = run_module(application_certificate, dict(args, certificate_content=pem(now() - datetime.timedelta(days=1))))
    # (A module process run twice in one Python process may repeat the first run's warning: nothing new.)
    again = [warning_text(w) for w in valid.get("warnings") or []]
    again += [line for line in capsys.readouterr().err.splitlines() if "[WARNING]: " in line]
    assert all(starts.strftime("%Y-%m-%dT%H:%M:%SZ") in w for w in again if "not valid before" in w), again
