# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reconciling an application's keyCredentials: thumbprints, dates, the list written back."""

from __future__ import annotations

import base64
import datetime
import hashlib
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from ansible_collections.m365.cba.plugins.module_utils._certs import CertificateError
from ansible_collections.m365.cba.plugins.module_utils._graph import RetryPolicy
from ansible_collections.m365.cba.plugins.module_utils._key_credentials import (
    KeyCredentialInputError,
    application_summaries,
    credential_thumbprint,
    diff_view,
    load_wanted_certificate,
    needs_single_read,
    new_key_credential,
    normalise_thumbprint,
    parse_graph_datetime,
    read_applications,
    reconcile,
    summarise,
    thumbprint_from_custom_key_identifier,
    validity_warning,
    wait_until_visible,
)

NOW = datetime.datetime(2026, 6, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_cert(common_name="it-cert", not_before=NOW - datetime.timedelta(days=1), days=365):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(_KEY.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(not_before)
            .not_valid_after(not_before + datetime.timedelta(days=days)).sign(_KEY, hashes.SHA256()))


def der_of(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def sha1_of(cert):
    return hashlib.sha1(der_of(cert)).hexdigest().upper()  # nosec - a thumbprint


def as_read(cert, key_id=None, with_key=True, custom_key_identifier="thumbprint"):
    """A keyCredential the way Graph returns it (single-object read: with key; list read: key null)."""
    cki = {"thumbprint": sha1_of(cert), "none": None}.get(custom_key_identifier, custom_key_identifier)
    return {
        "customKeyIdentifier": cki,
        "displayName": "CN=" + cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value,
        "endDateTime": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "key": base64.b64encode(der_of(cert)).decode() if with_key else None,
        "keyId": key_id or str(uuid.uuid4()),
        "startDateTime": cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
    }


FIRST = make_cert("first")
SECOND = make_cert("second")
THIRD = make_cert("third")
EXPIRED = make_cert("expired", not_before=NOW - datetime.timedelta(days=400), days=30)


# Thumbprints --------------------------------------------------------------------------------------

def test_thumbprint_from_key_der_and_pem():
    assert credential_thumbprint(as_read(FIRST)) == (sha1_of(FIRST), "key")
    pem = base64.b64encode(FIRST.public_bytes(serialization.Encoding.PEM)).decode()
    assert credential_thumbprint(dict(as_read(FIRST), key=pem, customKeyIdentifier=None))[0] == sha1_of(FIRST)


@pytest.mark.parametrize("form", ["hex", "lowerhex", "b64raw", "b64hex"])
def test_thumbprint_from_custom_key_identifier_forms(form):
    digest = hashlib.sha1(der_of(SECOND)).digest()  # nosec - a thumbprint
    value = {
        "hex": digest.hex().upper(),
        "lowerhex": digest.hex(),
        "b64raw": base64.b64encode(digest).decode(),
        "b64hex": base64.b64encode(digest.hex().upper().encode()).decode(),
    }[form]
    assert thumbprint_from_custom_key_identifier(value) == sha1_of(SECOND)
    credential = as_read(SECOND, with_key=False, custom_key_identifier=value)
    assert credential_thumbprint(credential) == (sha1_of(SECOND), "custom_key_identifier")


@pytest.mark.parametrize("value", [None, "", "not-base64!", base64.b64encode(b"my own identifier").decode(), 42])
def test_custom_key_identifier_that_is_no_thumbprint(value):
    assert thumbprint_from_custom_key_identifier(value) is None
    assert credential_thumbprint(as_read(FIRST, with_key=False, custom_key_identifier=value)) == (None, None)


def test_unreadable_key_falls_back_to_custom_key_identifier():
    credential = dict(as_read(FIRST), key=base64.b64encode(b"garbage").decode())
    assert credential_thumbprint(credential) == (sha1_of(FIRST), "custom_key_identifier")


@pytest.mark.parametrize("given", ["2581bee6f747a73e6cb7a89051028badbb1bfaed",
                                   "25 81 BE E6 F7 47 A7 3E 6C B7 A8 90 51 02 8B AD BB 1B FA ED",
                                   "25:81:BE:E6:F7:47:A7:3E:6C:B7:A8:90:51:02:8B:AD:BB:1B:FA:ED"])
def test_normalise_thumbprint(given):
    assert normalise_thumbprint(given) == "2581BEE6F747A73E6CB7A89051028BADBB1BFAED"


@pytest.mark.parametrize("given", ["", "2581BEE6", "Z581BEE6F747A73E6CB7A89051028BADBB1BFAED"])
def test_bad_thumbprint_names_the_option(given):
    with pytest.raises(KeyCredentialInputError) as info:
        normalise_thumbprint(given)
    assert info.value.option == "thumbprint"


# Dates and summaries ------------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("2027-01-01T00:00:00Z", datetime.datetime(2027, 1, 1, tzinfo=datetime.timezone.utc)),
    ("2027-01-01T00:00:00.1234567Z", datetime.datetime(2027, 1, 1, 0, 0, 0, 123456, tzinfo=datetime.timezone.utc)),
    ("2027-01-01T02:00:00+02:00", datetime.datetime(2027, 1, 1, tzinfo=datetime.timezone.utc)),
    ("2027-01-01T00:00:00", datetime.datetime(2027, 1, 1, tzinfo=datetime.timezone.utc)),
    ("yesterday", None), (None, None),
])
def test_parse_graph_datetime(text, expected):
    assert parse_graph_datetime(text) == expected


def test_summary_has_no_key_material_and_counts_days():
    summary = summarise(as_read(FIRST, key_id="k1"), NOW)
    assert summary["thumbprint"] == sha1_of(FIRST)
    assert summary["days_to_expiry"] == 364 and summary["expired"] is False
    assert "key" not in summary and all(base64.b64encode(der_of(FIRST)).decode() != v for v in summary.values())
    expired = summarise(as_read(EXPIRED), NOW)
    assert expired["expired"] is True and expired["days_to_expiry"] < 0


def test_diff_view_shows_thumbprints_and_dates_only():
    view = diff_view([as_read(SECOND), as_read(FIRST)])
    assert [set(e) for e in view["key_credentials"]] == [{"thumbprint", "start_date_time", "end_date_time"}] * 2
    assert [e["thumbprint"] for e in view["key_credentials"]] == sorted([sha1_of(FIRST), sha1_of(SECOND)])


# The new entry ------------------------------------------------------------------------------------

def test_new_key_credential_takes_everything_from_the_certificate():
    entry = new_key_credential(FIRST)
    assert entry["type"] == "AsymmetricX509Cert" and entry["usage"] == "Verify"
    assert base64.b64decode(entry["key"]) == der_of(FIRST)
    assert entry["customKeyIdentifier"] == sha1_of(FIRST)
    assert entry["displayName"] == "first"
    assert entry["startDateTime"] == FIRST.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert entry["endDateTime"] == FIRST.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert uuid.UUID(entry["keyId"]).version == 4
    assert new_key_credential(FIRST)["keyId"] != entry["keyId"]
    assert new_key_credential(FIRST, "exo-2027")["displayName"] == "exo-2027"


def test_der_ending_in_a_whitespace_byte_is_read_whole(tmp_path):
    for attempt in range(400):
        cert = make_cert(f"ws-{attempt}")
        if der_of(cert)[-1:] in (b"\n", b" ", b"\t", b"\r", b"\x0b", b"\x0c"):
            break
    else:
        pytest.skip("no certificate ending in a whitespace byte was generated")
    cer = tmp_path / "ws.cer"
    cer.write_bytes(der_of(cert))
    assert load_wanted_certificate(path=str(cer)) == cert


def test_load_wanted_certificate_names_the_option(tmp_path):
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(_KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    with pytest.raises(CertificateError) as info:
        load_wanted_certificate(path=str(key_file))
    assert info.value.option == "certificate_path" and "private key" in str(info.value)
    with pytest.raises(CertificateError) as info:
        load_wanted_certificate(path=str(tmp_path / "missing.cer"))
    assert info.value.option == "certificate_path"
    with pytest.raises(CertificateError) as info:
        load_wanted_certificate(content="hello")
    assert info.value.option == "certificate_content"
    der_key = tmp_path / "key.der"
    der_key.write_bytes(_KEY.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    with pytest.raises(CertificateError, match="private key"):
        load_wanted_certificate(path=str(der_key))
    pfx = tmp_path / "c.pfx"
    pfx.write_bytes(pkcs12.serialize_key_and_certificates(
        b"x", _KEY, FIRST, None, serialization.BestAvailableEncryption(b"secret")))
    with pytest.raises(CertificateError, match="PFX"):
        load_wanted_certificate(path=str(pfx))
    with pytest.raises(CertificateError, match="empty"):
        load_wanted_certificate(content="  ")
    cer = tmp_path / "c.cer"
    cer.write_bytes(der_of(FIRST))
    assert load_wanted_certificate(path=str(cer)) == FIRST
    assert load_wanted_certificate(content=base64.b64encode(der_of(FIRST)).decode()) == FIRST
    assert load_wanted_certificate(content=FIRST.public_bytes(serialization.Encoding.PEM).decode()) == FIRST


def test_a_pem_bundle_of_two_certificates_is_refused_naming_the_option(tmp_path):
    """The first certificate of a bundle used to be uploaded silently."""
    bundle = FIRST.public_bytes(serialization.Encoding.PEM) + SECOND.public_bytes(serialization.Encoding.PEM)
    path = tmp_path / "bundle.pem"
    path.write_bytes(bundle)
    with pytest.raises(CertificateError) as err:
        load_wanted_certificate(path=str(path))
    assert err.value.option == "certificate_path" and "2 certificates" in str(err.value)
    with pytest.raises(CertificateError) as err:
        load_wanted_certificate(content=bundle.decode())
    assert err.value.option == "certificate_content" and "2 certificates" in str(err.value)
    # A key and one certificate in one PEM file is still read as that one certificate.
    key_and_cert = _KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()) + FIRST.public_bytes(serialization.Encoding.PEM)
    assert load_wanted_certificate(content=key_and_cert.decode()) == FIRST


def test_validity_warning_for_expired_and_not_yet_valid_certificates():
    assert validity_warning(new_key_credential(FIRST), NOW, "certificate_path") is None
    expired = new_key_credential(make_cert(not_before=NOW - datetime.timedelta(days=30), days=10))
    assert validity_warning(expired, NOW, "certificate_path").startswith("certificate_path: the certificate expired on ")
    future = new_key_credential(make_cert(not_before=NOW + datetime.timedelta(days=2)))
    message = validity_warning(future, NOW, "certificate_content")
    assert message.startswith("certificate_content: the certificate is not valid before 2026-06-03T12:00:00Z")


# Reconciliation -----------------------------------------------------------------------------------

def test_add_to_an_empty_list():
    new = new_key_credential(FIRST)
    plan = reconcile([], sha1_of(FIRST), new, now=NOW)
    assert plan.credentials == [new] and plan.added == [sha1_of(FIRST)] and plan.removed == [] and plan.changed


def test_adding_a_second_certificate_keeps_the_first_as_read():
    first = as_read(FIRST, key_id="11111111-1111-1111-1111-111111111111")
    new = new_key_credential(SECOND)
    plan = reconcile([first], sha1_of(SECOND), new, now=NOW)
    assert plan.credentials == [first, new]
    assert plan.credentials[0] is first  # re-sent exactly as read, keyId and key included
    assert plan.added == [sha1_of(SECOND)] and plan.removed == []


def test_present_certificate_changes_nothing_whatever_its_display_name():
    current = [as_read(FIRST), dict(as_read(SECOND), displayName="something else")]
    plan = reconcile(current, sha1_of(SECOND), new_key_credential(SECOND, "wanted"), now=NOW)
    assert not plan.changed and plan.credentials == current


def test_match_by_custom_key_identifier_when_key_is_null():
    current = [as_read(FIRST, with_key=False)]
    plan = reconcile(current, sha1_of(FIRST), new_key_credential(FIRST), now=NOW)
    assert not plan.changed


def test_absent_removes_every_entry_with_the_thumbprint_only():
    current = [as_read(FIRST), as_read(SECOND), as_read(FIRST)]
    plan = reconcile(current, sha1_of(FIRST), state="absent", now=NOW)
    assert plan.credentials == [current[1]] and plan.removed == [sha1_of(FIRST)] * 2 and plan.added == []


def test_absent_when_not_there_changes_nothing():
    current = [as_read(SECOND)]
    plan = reconcile(current, sha1_of(FIRST), state="absent", now=NOW)
    assert not plan.changed and plan.credentials == current


def test_prune_expired_keeps_valid_ones_and_the_wanted_one():
    current = [as_read(EXPIRED), as_read(FIRST)]
    plan = reconcile(current, sha1_of(SECOND), new_key_credential(SECOND), prune_expired=True, now=NOW)
    assert [credential_thumbprint(c)[0] for c in plan.credentials] == [sha1_of(FIRST), sha1_of(SECOND)]
    assert plan.removed == [sha1_of(EXPIRED)]
    # the certificate being ensured is never pruned, even when expired itself
    plan = reconcile(current, sha1_of(EXPIRED), new_key_credential(EXPIRED), prune_expired=True, now=NOW)
    assert not plan.changed


def test_prune_expired_alone_with_absent():
    current = [as_read(EXPIRED), as_read(FIRST)]
    plan = reconcile(current, None, state="absent", prune_expired=True, now=NOW)
    assert plan.credentials == [current[1]] and plan.removed == [sha1_of(EXPIRED)]
    assert not reconcile([as_read(FIRST)], None, state="absent", prune_expired=True, now=NOW).changed


def test_exclusive_keeps_only_this_certificate_once():
    current = [as_read(FIRST), as_read(SECOND), as_read(SECOND), as_read(EXPIRED)]
    plan = reconcile(current, sha1_of(SECOND), new_key_credential(SECOND), exclusive=True, now=NOW)
    assert plan.credentials == [current[1]] and plan.added == []
    assert sorted(plan.removed) == sorted([sha1_of(FIRST), sha1_of(SECOND), sha1_of(EXPIRED)])
    assert not reconcile([current[1]], sha1_of(SECOND), new_key_credential(SECOND), exclusive=True, now=NOW).changed


def test_exclusive_with_a_new_certificate_replaces_all():
    new = new_key_credential(SECOND)
    plan = reconcile([as_read(FIRST)], sha1_of(SECOND), new, exclusive=True, now=NOW)
    assert plan.credentials == [new] and plan.added == [sha1_of(SECOND)] and plan.removed == [sha1_of(FIRST)]


def test_unknown_entries_are_kept_unless_exclusive():
    odd = as_read(FIRST, with_key=False, custom_key_identifier=base64.b64encode(b"custom").decode())
    assert reconcile([odd], sha1_of(SECOND), new_key_credential(SECOND), now=NOW).credentials[0] is odd
    plan = reconcile([odd], sha1_of(SECOND), new_key_credential(SECOND), exclusive=True, now=NOW)
    assert plan.removed == [None]


# Against a scripted client ------------------------------------------------------------------------

class FakeClient:
    """Answers GETs from a table of path -> list of bodies (the last one repeats); counts requests."""

    def __init__(self, answers):
        self.answers = {k: list(v) for k, v in answers.items()}
        self.calls = []
        self.policy = RetryPolicy(lag_timeout=10, lag_base=1, lag_cap=2)

    def _next(self, path):
        queue = self.answers[path]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    def get(self, path, params=None, **kwargs):
        self.calls.append(("GET", path, dict(params or {})))
        return self._next(path)

    get_optional = get

    def get_all(self, path, params=None, limit=None, **kwargs):
        self.calls.append(("GET", path, dict(params or {})))
        items = self._next(path)
        return items[:limit] if limit else items


def test_wait_until_visible_polls_until_the_written_key_ids_appear():
    written = [as_read(FIRST, key_id="A"), as_read(SECOND, key_id="B")]
    stale = {"id": "o", "keyCredentials": [dict(written[0], key=None)]}
    fresh = {"id": "o", "keyCredentials": [dict(c, key=None) for c in written]}
    client = FakeClient({"/applications/o": [stale, stale, fresh]})
    sleeps = []
    assert wait_until_visible(client, "o", written, sleep=sleeps.append, clock=lambda: sum(sleeps)) is True
    assert len(client.calls) == 3 and sleeps == [1, 2]
    assert all(call[2] == {} for call in client.calls)  # plain GET: not the throttled $select


def test_wait_until_visible_gives_up_after_the_lag_timeout():
    client = FakeClient({"/applications/o": [{"id": "o", "keyCredentials": []}]})
    sleeps = []
    assert wait_until_visible(client, "o", [as_read(FIRST)], sleep=sleeps.append, clock=lambda: sum(sleeps)) is False
    assert sum(sleeps) <= client.policy.lag_timeout


def listed(cert_entries, app_id):
    return {"id": app_id, "appId": app_id, "displayName": "same", "keyCredentials": cert_entries}


@pytest.mark.parametrize("lookup,extra_reads", [("never", 0), ("auto", 1), ("always", 2)])
def test_read_applications_costs_what_certificate_lookup_says(lookup, extra_reads):
    ours = listed([as_read(FIRST, with_key=False)], "a1")
    foreign = listed([as_read(SECOND, with_key=False, custom_key_identifier=base64.b64encode(b"x").decode())], "a2")
    bare = listed([], "a3")
    client = FakeClient({
        "/applications": [[ours, foreign, bare]],
        "/applications/a1": [{"id": "a1", "keyCredentials": [as_read(FIRST)]}],
        "/applications/a2": [{"id": "a2", "keyCredentials": [as_read(SECOND)]}],
    })
    apps = read_applications(client, display_name="same", certificate_lookup=lookup)
    assert len(client.calls) == 1 + extra_reads
    params = client.calls[0][2]
    assert params["$filter"] == "displayName eq 'same'" and params["$top"] == "999"
    summaries = application_summaries(apps, NOW)
    assert [a["id"] for a in summaries] == ["a1", "a2", "a3"]
    assert summaries[0]["key_credentials"][0]["thumbprint"] == sha1_of(FIRST)
    second = summaries[1]["key_credentials"][0]["thumbprint"]
    assert second == (None if lookup == "never" else sha1_of(SECOND))


def test_read_applications_limit_and_single_lookup():
    client = FakeClient({"/applications": [[listed([], "a%d" % i) for i in range(5)]]})
    assert len(read_applications(client, limit=2)) == 2
    assert client.calls[0][2]["$top"] == "2" and "$filter" not in client.calls[0][2]
    single = FakeClient({"/applications(appId='a1')": [listed([as_read(FIRST)], "a1")]})
    apps = read_applications(single, app_id="a1")
    assert len(single.calls) == 1 and "keyCredentials" in single.calls[0][2]["$select"]
    assert application_summaries(apps, NOW)[0]["key_credentials"][0]["thumbprint_source"] == "key"


def test_needs_single_read():
    assert not needs_single_read(listed([], "a"), "always")
    assert not needs_single_read(listed([as_read(FIRST)], "a"), "always")
    assert needs_single_read(listed([as_read(FIRST, with_key=False)], "a"), "always")
    assert not needs_single_read(listed([as_read(FIRST, with_key=False)], "a"), "auto")


def test_supersede_drops_only_the_replaced_certificates_of_the_same_name():
    ours_old = dict(as_read(FIRST), displayName="m365.cba app")
    foreign = dict(as_read(SECOND), displayName="someone else")
    new = new_key_credential(THIRD, "m365.cba app")
    added = reconcile([ours_old, foreign], sha1_of(THIRD), new, now=NOW)
    assert added.removed == [] and added.credentials == [ours_old, foreign, new]
    plan = reconcile(added.credentials, sha1_of(THIRD), new, now=NOW, supersede="m365.cba app")
    assert plan.removed == [sha1_of(FIRST)]
    assert plan.credentials == [foreign, new]
