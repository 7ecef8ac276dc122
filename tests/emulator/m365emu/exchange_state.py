# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Exchange Online's side of a tenant: organization configuration (IsDehydrated), mailboxes,
Security & Compliance DLP policies and the compliance region, kept in ``tenant.exchange``.

Everything is derived deterministically from the tenant id, so a reset or a reload gives the
same GUIDs. Mailboxes: ``user01``, ``user02``, ... with every fifth one a shared mailbox
(``shared05``, ...), addressed at the tenant's default domain with a secondary address at the
initial domain."""

import copy
import uuid

from .crypto import parse_iso

DEFAULT_MAILBOXES = 25
DEFAULT_COMPLIANCE_REGION = "eur02b"  # a region name as public clients use it (ExoHelper hard-codes eur02b)
SPEC_KEYS = {"mailboxes", "dehydrated", "compliance_region", "dlp_policies"}
CUSTOM_ATTRIBUTES = tuple(f"CustomAttribute{i}" for i in range(1, 16))
EXTENSION_ATTRIBUTES = tuple(f"ExtensionCustomAttribute{i}" for i in range(1, 6))
_NAMESPACE = uuid.UUID("3c0b8e0e-6d59-4a55-9f0a-8f5c5b7e2d41")


def _guid(tenant, *parts):
    return str(uuid.uuid5(_NAMESPACE, "/".join((tenant.tenant_id,) + parts)))


def _exchange_time(text):
    """Exchange's DateTime text, e.g. 2022-09-21T08:07:47.0000000+00:00 (as Get-Mailbox returns it)."""
    return parse_iso(text).strftime("%Y-%m-%dT%H:%M:%S.0000000+00:00")


def _default_domain(tenant):
    return next(d["name"] for d in tenant.organization["verifiedDomains"] if d["isDefault"])


def server_suffix(tenant):
    """A stable datacenter name for the tenant (used in ManagementObjectNotFoundException texts)."""
    number = int(uuid.UUID(tenant.tenant_id)) % 90 + 10
    return f"NAMPR{number}A001.PROD.OUTLOOK.COM"


def check_spec(name, spec):
    """Validate the ``exchange`` part of a tenant's seed spec; ValueError when it is not usable."""
    if spec is None:
        return
    if not isinstance(spec, dict) or set(spec) - SPEC_KEYS:
        raise ValueError(f"exchange seed of tenant {name} takes only {', '.join(sorted(SPEC_KEYS))}")
    _check_changes(spec)


def _check_changes(changes):
    count = changes.get("mailboxes")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 5000):
        raise ValueError("mailboxes must be an integer from 0 to 5000")
    if "dehydrated" in changes and not isinstance(changes["dehydrated"], bool):
        raise ValueError("dehydrated must be a boolean")
    region = changes.get("compliance_region")
    if region is not None and (not isinstance(region, str) or not region.isalnum() or not region.islower()):
        raise ValueError("compliance_region must be a lower-case name such as eur02b")
    policies = changes.get("dlp_policies")
    if policies is not None and (not isinstance(policies, list) or not all(isinstance(p, str) and p for p in policies)):
        raise ValueError("dlp_policies must be a list of policy names")


def mailbox(tenant, index):
    shared = index % 5 == 0
    alias = f"{'shared' if shared else 'user'}{index:02d}"
    domain = _default_domain(tenant)
    address = f"{alias}@{domain}"
    row = {
        "Name": alias, "Alias": alias, "DisplayName": f"{'Shared Mailbox' if shared else 'User'} {index:02d}",
        "Identity": alias, "Id": alias,
        "DistinguishedName": f"CN={alias},OU={tenant.initial_domain},OU=Microsoft Exchange Hosted Organizations,"
                             f"DC={server_suffix(tenant).split('.', maxsplit=1)[0]},DC=PROD,DC=OUTLOOK,DC=COM",
        "Guid": _guid(tenant, "mailbox", alias, "guid"), "ExchangeGuid": _guid(tenant, "mailbox", alias, "exchange"),
        "ExternalDirectoryObjectId": _guid(tenant, "mailbox", alias, "user"),
        "UserPrincipalName": address, "PrimarySmtpAddress": address,
        "EmailAddresses": [f"SMTP:{address}", f"smtp:{alias}@{tenant.initial_domain}"],
        "RecipientType": "UserMailbox", "RecipientTypeDetails": "SharedMailbox" if shared else "UserMailbox",
        "WhenMailboxCreated": _exchange_time(tenant.organization["createdDateTime"]),
        "ProhibitSendQuota": "99 GB (106,300,440,576 bytes)", "Languages": ["en-US"],
    }
    row.update({name: "" for name in CUSTOM_ATTRIBUTES})
    row.update({name: [] for name in EXTENSION_ATTRIBUTES})
    return row


def dlp_policy(tenant, name):
    return {"Name": name, "Identity": name, "Guid": _guid(tenant, "dlp", name), "Mode": "Enable", "Enabled": True,
            "Workload": "Exchange, SharePoint, OneDriveForBusiness", "Comment": "",
            "WhenCreatedUTC": _exchange_time(tenant.organization["createdDateTime"])}


def seed(tenant, spec=None):
    """The Exchange state of a freshly seeded tenant."""
    spec = spec or {}
    state = {
        "organization": {"Guid": _guid(tenant, "organization"), "IsDehydrated": bool(spec.get("dehydrated", False))},
        "mailboxes": [],
        "complianceRegion": spec.get("compliance_region") or DEFAULT_COMPLIANCE_REGION,
        "dlpPolicies": [],
    }
    _apply(tenant, state, {"mailboxes": spec.get("mailboxes", DEFAULT_MAILBOXES),
                           "dlp_policies": spec.get("dlp_policies", [])})
    return state


def _apply(tenant, state, changes):
    if changes.get("mailboxes") is not None:
        state["mailboxes"] = [mailbox(tenant, i) for i in range(1, changes["mailboxes"] + 1)]
    if "dehydrated" in changes:
        state["organization"]["IsDehydrated"] = changes["dehydrated"]
    if changes.get("compliance_region"):
        state["complianceRegion"] = changes["compliance_region"]
    if changes.get("dlp_policies") is not None:
        state["dlpPolicies"] = [dlp_policy(tenant, name) for name in changes["dlp_policies"]]


def ensure(tenant):
    """The tenant's Exchange state, seeded with the defaults when a state file predates it."""
    if getattr(tenant, "exchange", None) is None:
        tenant.exchange = seed(tenant)
    return tenant.exchange


def update(tenant, changes):
    """Apply control-API changes: ``mailboxes`` (re-seed that many), ``dehydrated``, ``compliance_region``,
    ``dlp_policies`` (names). Returns the new state."""
    unknown = set(changes) - SPEC_KEYS
    if unknown:
        raise ValueError(f"unknown Exchange state fields: {', '.join(sorted(unknown))}")
    _check_changes(changes)
    _apply(tenant, ensure(tenant), changes)
    return view(tenant)


def view(tenant):
    """What the control API shows: the organization as Get-OrganizationConfig sees it, mailboxes, policies."""
    state = copy.deepcopy(ensure(tenant))
    state["organization"] = organization_config(tenant)
    state["serverSuffix"] = server_suffix(tenant)
    return state


def organization_config(tenant):
    org = ensure(tenant)["organization"]
    return {"Name": tenant.initial_domain, "DisplayName": tenant.display_name, "Identity": tenant.initial_domain,
            "Id": tenant.initial_domain, "Guid": org["Guid"], "IsDehydrated": org["IsDehydrated"]}


def accepted_domains(tenant):
    rows = []
    for domain in tenant.organization["verifiedDomains"]:
        name = domain["name"]
        rows.append({"Name": name, "DomainName": name, "DomainType": "Authoritative", "Default": domain["isDefault"],
                     "InitialDomain": domain["isInitial"], "MatchSubDomains": False, "AddressBookEnabled": True,
                     "Identity": name, "Id": name, "Guid": _guid(tenant, "domain", name.lower())})
    return rows
