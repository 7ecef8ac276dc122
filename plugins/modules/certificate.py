# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: certificate
short_description: Generate and keep a self-signed certificate for app-only authentication
version_added: 1.0.0
description:
  - Creates, on the control node, an RSA private key and a self-signed X.509 certificate (SHA-256)
    for certificate-based app-only authentication to Exchange Online and Security & Compliance
    PowerShell, and writes them as four files in the directory O(path),
    C(<name>.key) (PEM private key, mode C(0600)), C(<name>.crt) (PEM certificate, mode C(0644)),
    C(<name>.pfx) (password protected PKCS#12 with key and certificate, mode C(0600)) and
    C(<name>.cer) (DER certificate, mode C(0644)).
  - Keeps what is on disk when it satisfies the request. The key and certificate are generated
    anew when O(force=true), when no copy of a key with its certificate is left (neither the key and
    certificate files nor the PFX), when the key size, subject or DNS names differ from the request,
    or when the certificate expires within O(renew_before_days). RV(regenerated) says which.
  - Any one surviving form of the key restores the others, with the same thumbprint. The key,
    certificate and CER files that are missing are written again from the PFX, and the PFX from the
    key and certificate files. When only the PFX or the CER file is missing or stale (for example
    after a change of O(pfx_password) or O(pfx_encryption)), only that file is rebuilt.
  - A file that may hold the only copy of a key in use is never overwritten or removed by
    O(state=present). A key or certificate file that cannot be read (damaged or cut short), a PFX
    that does not open with O(pfx_password) when the key and certificate files cannot stand in for
    it, or a key or certificate that belongs to another key than the one kept fails the task,
    naming the file.
  - Refuses, naming the path, a directory O(path) or a key, certificate, PFX or CER file that is not
    owned by the user running the module or that group or others may write to, and a directory above
    O(path) (up to V(/)) that is not owned by root or that user, or that group or others may write to
    without the sticky bit (as C(/tmp) has), as OpenSSH's C(StrictModes) does. Another local user
    could otherwise put their own key and certificate in its place.
  - Every file is written to a temporary file in the same directory, flushed to disk and renamed
    into place, and runs against the same O(path) and O(name) are serialised with a lock file
    C(.<name>.lock), so concurrent runs leave a key, certificate, PFX and CER that belong together.
  - The module runs on the control node; use it with C(delegate_to=localhost) or in a play on
    C(localhost).
author:
  - m365.cba maintainers (@m365-cba)
requirements:
  - cryptography >= 42.0
extends_documentation_fragment:
  - m365.cba.attributes
attributes:
  check_mode:
    support: full
    details: Reads the files and predicts the same C(changed) a real run reports; writes nothing. A certificate
      that would be generated has no thumbprint yet, so RV(thumbprint) and related values are V(null) then.
  diff_mode:
    support: full
    details: Before and after show the thumbprints, validity dates, subject, DNS names, key size and the state of each
      file, never key material or the PFX password.
  idempotent:
    support: full
options:
  state:
    description:
      - V(present) makes the files exist and satisfy the options; V(absent) removes the four files and the lock file.
      - The directory itself is never removed.
    type: str
    choices: [present, absent]
    default: present
  path:
    description:
      - Directory that holds the files. It is created with mode C(0700) when missing, and the directories above it that
        are missing with mode C(0755), whatever the umask; an existing directory keeps its mode.
    type: path
    required: true
  name:
    description:
      - Base name of the files, without a directory part; the files are C(<name>.key), C(<name>.crt), C(<name>.pfx)
        and C(<name>.cer).
      - Use one name per tenant when several certificates share a directory.
    type: str
    default: m365-cba
  common_name:
    description:
      - Common name (CN) of the certificate subject and issuer, at most 64 characters.
      - Only the value, not a distinguished name; a value such as V(CN=a,b) or V(O=Contoso) is refused.
      - A different value on an existing certificate generates a new one.
    type: str
    default: m365.cba
  dns_names:
    description:
      - DNS names for the subject alternative name extension (ASCII or punycode; compared case-insensitively and
        regardless of order).
      - Entra ID does not need them; the default is a certificate without that extension.
      - A different set on an existing certificate generates a new one.
    type: list
    elements: str
    default: []
  key_size:
    description:
      - Size of the RSA key in bits. A different size on an existing key generates a new key and certificate.
    type: int
    choices: [2048, 3072, 4096]
    default: 2048
  valid_days:
    description:
      - Validity of a newly generated certificate in days, from 1 to 3650. Must be larger than O(renew_before_days).
      - Changing it does not renew an existing certificate; it applies at the next renewal.
    type: int
    default: 365
  renew_before_days:
    description:
      - Generate a new key and certificate when the current certificate expires within this many days, or has expired.
      - V(0) renews only an expired certificate.
    type: int
    default: 30
  pfx_password:
    description:
      - Password that protects the PFX file. Required with O(state=present).
      - At least 16 characters, without a control character (a line break or a tab, which C(openssl -passin) and most
        password prompts cannot pass); use a random one (for example C(openssl rand -base64 18)) and keep it in a vault.
        Ansible masks this value wherever it occurs in a result, so the module fails rather than return an identifier
        (a thumbprint or serial number) that contains it.
      - When it no longer opens the existing PFX file, the PFX file is rebuilt with it from the existing key and
        certificate files; without them, the task fails and the PFX file is kept.
    type: str
  pfx_encryption:
    description:
      - How the PFX file is encrypted.
      - V(modern) uses AES-256-CBC with PBKDF2-SHA256 and an HMAC-SHA256 integrity check.
      - V(legacy) uses 3DES with SHA-1, for Windows releases that cannot import an AES-encrypted PFX file (Windows
        Server 2016 and Windows 10 before version 1709, which report a wrong password for an AES-encrypted file).
      - A change rebuilds only the PFX file.
    type: str
    choices: [modern, legacy]
    default: modern
  force:
    description:
      - Generate a new key and certificate even when the existing ones satisfy the request.
      - This is not idempotent; combine it with a condition.
    type: bool
    default: false
notes:
  - Exchange Online PowerShell (C(Connect-ExchangeOnline -CertificateThumbprint)) and C(Connect-IPPSSession) cannot
    use a private key held by a CNG key storage provider; they fail with errors such as C(Invalid provider type
    specified). Depending on the Windows release, C(Import-PfxCertificate) or a double-click in Explorer may put the
    key there. To be sure it lands in a legacy CryptoAPI provider, import the PFX with C(certutil), naming the
    provider, for example C(certutil -p <password> -csp "Microsoft Enhanced RSA and AES Cryptographic Provider"
    -importpfx My <name>.pfx) for the local machine store, or the same with C(-user) for the current user's store.
    C(certutil -store My <thumbprint>) then shows the provider.
  - Alternatively pass the file itself with C(Connect-ExchangeOnline -CertificateFilePath <name>.pfx
    -CertificatePassword ...), which needs no import.
  - Windows releases that report an invalid password for a correct one cannot read AES-encrypted PFX files; use
    O(pfx_encryption=legacy) for them. The rest of the set stays as it is.
  - Upload RV(certificate_base64) (or the C(<name>.cer) file) to the application's key credentials; the private key
    never leaves the control node.
  - The private key file is not encrypted; it is protected by its mode C(0600) and the directory's mode.
  - A run that changes nothing writes nothing, not even its lock file, so it also works on a read-only directory.
seealso:
  - name: App-only authentication for unattended scripts in Exchange Online PowerShell
    description: Microsoft's description of certificate-based authentication for Exchange Online PowerShell.
    link: https://learn.microsoft.com/powershell/exchange/app-only-auth-powershell-v2
"""

EXAMPLES = r"""
# Runs on the control node and needs no Microsoft Graph credential.
#
# m365_cba_certificate_dir and m365_cba_pfx_password are the setup role's variables
# (ansible-doc -t role m365.cba.setup); keep the password in a vault.

- name: Generate the certificate for a tenant on the control node
  m365.cba.certificate:
    path: "{{ m365_cba_certificate_dir }}"
    name: m365-cba-exchange-online
    common_name: m365-cba-exchange-online
    pfx_password: "{{ m365_cba_pfx_password }}"
  delegate_to: localhost
  register: cba_certificate

- name: Show the thumbprint for Connect-ExchangeOnline
  ansible.builtin.debug:
    msg: "Connect-ExchangeOnline -CertificateThumbprint {{ cba_certificate.thumbprint }}"

- name: A 4096-bit key, valid two years, renewed 60 days before expiry, PFX readable by Windows Server 2016
  m365.cba.certificate:
    path: "{{ m365_cba_certificate_dir }}"
    name: m365-cba-security-compliance
    common_name: m365-cba-security-compliance
    key_size: 4096
    valid_days: 730
    renew_before_days: 60
    pfx_password: "{{ m365_cba_pfx_password }}"
    pfx_encryption: legacy
  delegate_to: localhost

- name: Remove these certificate files
  m365.cba.certificate:
    path: "{{ m365_cba_certificate_dir }}"
    name: m365-cba-security-compliance
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
thumbprint:
  description:
    - SHA-1 of the DER certificate, uppercase hex without separators, as C(Connect-ExchangeOnline
      -CertificateThumbprint) and the Windows certificate store show it.
    - V(null) in check mode when a new certificate would be generated, and with O(state=absent).
  returned: always
  type: str
  sample: 2581BEE6F747A73E6CB7A89051028BADBB1BFAED
thumbprint_sha256:
  description: SHA-256 of the DER certificate, uppercase hex. V(null) when RV(thumbprint) is.
  returned: always
  type: str
  sample: DBDA22043399775FF338CAEB249946A936EF797D7E18B1E57C658619C82FEA86
serial_number:
  description: Serial number, uppercase hex. V(null) when RV(thumbprint) is.
  returned: always
  type: str
  sample: 5EDBBD0E78D6B70A1CCAF6A3E2BC248351676AA5
subject:
  description: Subject as an RFC 4514 string. V(null) with O(state=absent).
  returned: always
  type: str
  sample: CN=m365.cba
dns_names:
  description: DNS names in the subject alternative name extension.
  returned: when O(state=present)
  type: list
  elements: str
  sample: []
key_size:
  description: Size of the RSA key in bits.
  returned: when O(state=present)
  type: int
  sample: 2048
not_before:
  description: Start of validity, ISO 8601 UTC (predicted in check mode for a new certificate).
  returned: always
  type: str
  sample: "2026-11-26T23:10:41Z"
not_after:
  description: End of validity, ISO 8601 UTC (predicted in check mode for a new certificate).
  returned: always
  type: str
  sample: "2027-11-26T23:15:41Z"
days_to_expiry:
  description: Whole days until RV(not_after); negative once expired.
  returned: always
  type: int
  sample: 364
certificate_base64:
  description:
    - Base64 of the DER certificate, the value for the C(key) of a C(keyCredential) in Microsoft Graph.
    - V(null) when RV(thumbprint) is.
  returned: always
  type: str
  sample: MIIDJzCCAg+gAwIBAgIUXtu9Dni2twocyvaj4rwkg1FnaqUwDQYJKoZIhvcNAQELBQAw...
key_path:
  description: Path of the PEM private key file.
  returned: always
  type: str
  sample: /etc/m365-cba/contoso.key
certificate_path:
  description: Path of the PEM certificate file.
  returned: always
  type: str
  sample: /etc/m365-cba/contoso.crt
pfx_path:
  description: Path of the PFX (PKCS#12) file.
  returned: always
  type: str
  sample: /etc/m365-cba/contoso.pfx
cer_path:
  description: Path of the DER certificate file.
  returned: always
  type: str
  sample: /etc/m365-cba/contoso.cer
regenerated:
  description:
    - Why a new key and certificate were (or, in check mode, would be) generated; V(null) when the existing ones
      were kept.
    - V(forced) (O(force=true)), V(missing) (no key with its certificate left, neither in the key and certificate files
      nor in the PFX), V(key_type) (not RSA), V(key_size), V(subject), V(dns_names) (differ from the request), V(expired),
      V(expiring) (within O(renew_before_days)).
  returned: always
  type: str
  sample: missing
files_written:
  description:
    - Which files were (or would be) written, among V(key), V(certificate), V(pfx) and V(cer).
    - With RV(regenerated) V(null), the files restored from the others, or rebuilt.
  returned: always
  type: list
  elements: str
  sample: [pfx]
"""

import base64

from ansible_collections.m365.cba.plugins.module_utils import _certs
from ansible_collections.m365.cba.plugins.module_utils._runner import ModuleSpec, run_module

ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["present", "absent"], default="present"),
    path=dict(type="path", required=True),
    name=dict(type="str", default="m365-cba"),
    common_name=dict(type="str", default=_certs.DEFAULT_COMMON_NAME),
    dns_names=dict(type="list", elements="str", default=[]),
    key_size=dict(type="int", choices=list(_certs.KEY_SIZES), default=2048),
    valid_days=dict(type="int", default=365),
    renew_before_days=dict(type="int", default=30),
    pfx_password=dict(type="str", no_log=True),
    pfx_encryption=dict(type="str", choices=list(_certs.PFX_ENCRYPTIONS), default="modern"),
    force=dict(type="bool", default=False),
)

SPEC = ModuleSpec(
    ARGUMENT_SPEC,
    required_if=[("state", "present", ["pfx_password"])],
    libraries=(("cryptography", "cryptography"),),
)


def certificate_result(outcome, request, now):
    certificate = outcome.certificate
    if certificate is not None:
        described = _certs.describe(certificate)
        described["days_to_expiry"] = _certs.days_to_expiry(certificate, now)
        described["certificate_base64"] = base64.b64encode(_certs.der(certificate)).decode("ascii")
    else:
        described = dict(outcome.after, days_to_expiry=request.valid_days, certificate_base64=None)
    keys = ("thumbprint", "thumbprint_sha256", "serial_number", "subject", "dns_names", "key_size",
            "not_before", "not_after", "days_to_expiry", "certificate_base64")
    return {key: described.get(key) for key in keys}


def run(ctx):
    params = ctx.params
    try:
        paths = _certs.certificate_paths(params["path"], params["name"])
        result = {
            "key_path": paths.path("key"),
            "certificate_path": paths.path("certificate"),
            "pfx_path": paths.path("pfx"),
            "cer_path": paths.path("cer"),
        }
        if params["state"] == "absent":
            outcome = _certs.ensure_absent(paths, check_mode=ctx.check_mode)
            result.update(dict.fromkeys(
                ("thumbprint", "thumbprint_sha256", "serial_number", "subject", "not_before", "not_after",
                 "days_to_expiry", "certificate_base64")))
        else:
            request = _certs.validate_request(_certs.CertificateRequest(
                common_name=params["common_name"],
                dns_names=tuple(params["dns_names"]),
                key_size=params["key_size"],
                valid_days=params["valid_days"],
                renew_before_days=params["renew_before_days"],
                pfx_password=params["pfx_password"],
                pfx_encryption=params["pfx_encryption"],
            ))
            now = _certs.utc_now()
            outcome = _certs.ensure_present(paths, request, force=params["force"], check_mode=ctx.check_mode, now=now)
            result.update(certificate_result(outcome, request, now))
    except _certs.CertificateError as exc:
        ctx.fail(str(exc))

    result.update(
        regenerated=outcome.regenerated,
        files_written=list(outcome.files_written),
    )
    diff = ctx.diff(outcome.before, outcome.after)
    if diff is not None:
        result["diff"] = diff
    ctx.exit(outcome.changed, **result)


def main():
    run_module(SPEC, run)


if __name__ == "__main__":
    main()
