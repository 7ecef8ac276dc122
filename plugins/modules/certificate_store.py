#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: certificate_store
short_description: Keep a certificate and its private key in HashiCorp Vault or OpenBao
version_added: 1.0.0
description:
  - Keeps the certificate of an application, with its private key, as one secret in a KV version 2
    secrets engine of HashiCorp Vault or OpenBao (the same API), so that it outlives the control node's
    files, for example between AWX jobs.
  - The secret at O(mount)/O(path) holds the fields C(pfx_base64) (the PFX file, base64), C(pfx_password),
    C(thumbprint) (SHA-1, uppercase hex), C(not_after) (ISO 8601 UTC), C(app_id) and C(tenant_id).
  - O(state=present) writes the PFX file O(pfx_path) there when the secret does not already hold exactly it.
    The write is a check-and-set on the version read (or on O(cas)), so two runs never overwrite each other unseen.
  - O(state=restored) reads the secret and writes the four files M(m365.cba.certificate) keeps into O(dest)
    (C(<name>.key) and C(<name>.pfx) mode C(0600), C(<name>.crt) and C(<name>.cer) mode C(0644), the directory
    created with mode C(0700)); files that already hold the same bytes are left alone. A missing secret is not
    an error; RV(found) is V(false) and nothing is written.
  - Without O(dest), O(state=restored) restores into a new private directory below O(tmpdir), returned as RV(dest),
    and first removes the ones that runs of the same user left there when they were killed (see O(tmpdir)).
    Removing the new directory when done is the playbook's part (M(ansible.builtin.file) with
    O(ansible.builtin.file#module:state=absent)); it is removed at once when the task fails.
  - A mount that is not a KV version 2 secrets engine (a KV version 1 one, for example) is refused, naming it, before
    anything is written (the module asks the store what the mount is when it holds no version of the secret yet).
  - O(state=absent) removes the secret with every version and its metadata.
  - A store that cannot be reached, refuses the credential or the path fails the task with a message naming the
    store's address and the secret's path.
  - The module runs on the control node; use it with C(delegate_to=localhost) or in a play on C(localhost).
author:
  - m365.cba maintainers (@m365-cba)
requirements:
  - hvac >= 1.1.0
  - cryptography >= 42.0
extends_documentation_fragment:
  - m365.cba.attributes
attributes:
  check_mode:
    support: full
    details: Reads the store and the files and predicts the same C(changed) a real run reports; writes nothing.
  diff_mode:
    support: full
    details: Before and after show the thumbprint, expiry, application and tenant IDs and a digest of the encrypted PFX,
      never the PFX, the key or the password.
  idempotent:
    support: full
options:
  state:
    description:
      - V(present) writes the certificate to the store, V(restored) writes the stored certificate's files into O(dest),
        V(absent) removes the secret with all its versions.
    type: str
    choices: [present, restored, absent]
    default: present
  vault_addr:
    description:
      - Address of the Vault or OpenBao server, for example C(https://vault.example.com:8200).
      - Plain C(http) is accepted on the loopback interface only.
      - Falls back to E(VAULT_ADDR).
    type: str
  token:
    description:
      - Token to use. Falls back to E(VAULT_TOKEN).
      - Not used when O(role_id) is set.
    type: str
  role_id:
    description:
      - Role ID for AppRole authentication; with it the module logs in with O(role_id) and O(secret_id) instead of
        using a token. Falls back to E(VAULT_ROLE_ID).
    type: str
  secret_id:
    description:
      - Secret ID for AppRole authentication. Falls back to E(VAULT_SECRET_ID).
    type: str
  approle_mount:
    description: Mount path of the AppRole auth method.
    type: str
    default: approle
  namespace:
    description: Vault Enterprise or OpenBao namespace. Falls back to E(VAULT_NAMESPACE).
    type: str
  cacert:
    description: CA bundle (PEM) to verify the store's TLS certificate with. Falls back to E(VAULT_CACERT).
    type: path
  validate_certs:
    description: Whether to verify the store's TLS certificate. Turn it off only for a throwaway test server.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for each answer of the store.
    type: int
    default: 30
  mount:
    description: Mount path of the KV version 2 secrets engine.
    type: str
    default: secret
  path:
    description:
      - Path of the secret below O(mount), one per tenant and application, for example
        C(m365-cba/contoso/m365-cba-exchange-online).
    type: str
    required: true
  pfx_path:
    description:
      - The PFX file to store, as M(m365.cba.certificate) writes it. Required with O(state=present).
    type: path
  pfx_password:
    description:
      - Password of O(pfx_path), stored beside it. Required with O(state=present).
    type: str
  app_id:
    description:
      - Application (client) ID the certificate belongs to, stored for people and reports. Unset keeps the stored value.
    type: str
  tenant_id:
    description:
      - Tenant the application lives in, stored for people and reports. Unset keeps the stored value.
    type: str
  cas:
    description:
      - With O(state=present), the version the secret must still be at for the write (check-and-set), for example
        the RV(version) an O(state=restored) task returned at the start of the run (V(0) when it found nothing).
      - When the secret is at another version and the task would write, it fails saying that the secret was changed by
        someone else, and writes nothing (in check mode too). When the secret already holds exactly the certificate, the
        task changes nothing whatever its version.
      - Unset, the write is a check-and-set on the version this task reads.
      - Not used with the other states.
    type: int
  dest:
    description:
      - Directory to restore the files into, with O(state=restored). Created with mode C(0700) when missing.
      - Unset, a new private directory is made below O(tmpdir) (in check mode none is made, and the paths returned are V(null)).
    type: path
  tmpdir:
    description:
      - With O(state=restored) and no O(dest), the directory below which the private directory is made, as
        C(m365-cba-run-<pid>-<start>-<host>-<random>), mode C(0700) whatever the umask. The name marks it with the
        C(ansible-playbook) process of the run (its process ID and start time, and a digest of the host name and
        PID namespace), so that a later run can tell whether that run still goes on.
      - Before it makes one, the task removes the directories named so that runs of the same user on this host left
        there and whose C(ansible-playbook) process is gone (killed before the playbook removed them). A directory of a
        run still going on, of another user, or of another host or container sharing O(tmpdir) is never removed.
      - O(tmpdir) and every directory above it must be owned by root or the user running the task, and not writable by
        group or others unless they have the sticky bit (as C(/tmp) has); otherwise the task fails naming the directory.
        A O(tmpdir) that does not exist is created with mode C(0700).
      - Unset, the system's temporary directory (E(TMPDIR), else C(/tmp)). A memory file system such as C(/dev/shm)
        keeps the unencrypted key off the disk.
    type: path
  name:
    description:
      - Base name of the restored files, as O(m365.cba.certificate#module:name) names them.
    type: str
    default: m365-cba
notes:
  - The token or AppRole needs a policy with C(read), C(create), C(update) and C(delete) on C(<mount>/data/<path>) and
    C(read) and C(delete) on C(<mount>/metadata/<path>).
  - 'To fetch the PFX by hand: C(bao kv get -mount=secret -field=pfx_base64 <path> | base64 -d > app.pfx) (or C(vault kv get)
    with the same arguments), and C(-field=pfx_password) for its password.'
seealso:
  - module: m365.cba.certificate
  - name: KV secrets engine, version 2
    description: The API this module uses.
    link: https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2
"""

EXAMPLES = r"""
# Runs on the control node and needs no Microsoft Graph credential. The store's address and token
# come from VAULT_ADDR and VAULT_TOKEN in the environment (or the options vault_addr and token);
# with role_id and secret_id, the task signs in with AppRole instead.
#
# m365_cba_certificate_dir, m365_cba_pfx_password, m365_cba_tenant_id and m365_cba_vault_role_id /
# m365_cba_vault_secret_id are the setup role's variables (ansible-doc -t role m365.cba.setup);
# keep the password and the secret ID in a vault.

- name: Make or keep the certificate on the control node
  m365.cba.certificate:
    path: "{{ m365_cba_certificate_dir }}"
    name: m365-cba-exchange-online
    pfx_password: "{{ m365_cba_pfx_password }}"
  delegate_to: localhost
  register: cert

- name: Keep it in the store, signing in with the token in VAULT_TOKEN
  m365.cba.certificate_store:
    path: "m365-cba/{{ inventory_hostname }}/m365-cba-exchange-online"
    pfx_path: "{{ cert.pfx_path }}"
    pfx_password: "{{ m365_cba_pfx_password }}"
    tenant_id: "{{ m365_cba_tenant_id }}"
  delegate_to: localhost

# Without dest, the files go to a new private directory (mode 0700) below the system's temporary
# directory (or tmpdir), which the task returns as dest.
- name: Restore it into a private directory, signing in with AppRole
  m365.cba.certificate_store:
    state: restored
    role_id: "{{ m365_cba_vault_role_id }}"
    secret_id: "{{ m365_cba_vault_secret_id }}"
    path: "m365-cba/{{ inventory_hostname }}/m365-cba-exchange-online"
    name: m365-cba-exchange-online
  delegate_to: localhost
  register: restored

- name: Show the restored PFX file and its thumbprint
  ansible.builtin.debug:
    msg: "{{ restored.pfx_path }} {{ restored.thumbprint }}"

- name: Remove the private directory with the restored files
  ansible.builtin.file:
    path: "{{ restored.dest }}"
    state: absent
  delegate_to: localhost

- name: Remove it from the store
  m365.cba.certificate_store:
    state: absent
    path: "m365-cba/{{ inventory_hostname }}/m365-cba-exchange-online"
  delegate_to: localhost
"""

RETURN = r"""
vault_addr:
  description: The store's address.
  returned: always
  type: str
  sample: https://vault.example.com:8200
secret:
  description: The secret, as O(mount)/O(path).
  returned: always
  type: str
  sample: secret/m365-cba/contoso/m365-cba-exchange-online
found:
  description: Whether the store held a certificate at the path before the task.
  returned: always
  type: bool
  sample: true
version:
  description:
    - Version of the secret after the task (in check mode, as it would be); V(0) when there is none.
  returned: always
  type: int
  sample: 3
thumbprint:
  description: SHA-1 thumbprint of the stored certificate, uppercase hex. V(null) when there is none.
  returned: always
  type: str
  sample: 2581BEE6F747A73E6CB7A89051028BADBB1BFAED
not_after:
  description: End of validity of the stored certificate, ISO 8601 UTC. V(null) when there is none.
  returned: always
  type: str
  sample: "2027-11-26T23:15:41Z"
app_id:
  description: Application ID stored with the certificate.
  returned: always
  type: str
  sample: 5a1c3d2e-8f7b-4c6a-9e0d-1b2c3d4e5f60
tenant_id:
  description: Tenant stored with the certificate.
  returned: always
  type: str
  sample: contoso.onmicrosoft.com
files_written:
  description: With O(state=restored), which files were (or would be) written, among V(key), V(certificate), V(pfx), V(cer).
  returned: always
  type: list
  elements: str
  sample: [key, certificate, pfx, cer]
dest:
  description:
    - With O(state=restored), the directory the files were restored into, O(dest) or the private directory made below
      O(tmpdir). V(null) in check mode without O(dest).
  returned: when O(state=restored)
  type: str
  sample: /tmp/m365-cba-run-81234-5512345-3f2a9c1d-k2x7q0ab
key_path:
  description: With O(state=restored), path of the PEM private key file.
  returned: when O(state=restored)
  type: str
  sample: /run/m365-cba/contoso/m365-cba-exchange-online.key
certificate_path:
  description: With O(state=restored), path of the PEM certificate file.
  returned: when O(state=restored)
  type: str
  sample: /run/m365-cba/contoso/m365-cba-exchange-online.crt
pfx_path:
  description: The PFX file stored (O(state=present)) or restored (O(state=restored)).
  returned: when O(state=present) or O(state=restored)
  type: str
  sample: /run/m365-cba/contoso/m365-cba-exchange-online.pfx
cer_path:
  description: With O(state=restored), path of the DER certificate file.
  returned: when O(state=restored)
  type: str
  sample: /run/m365-cba/contoso/m365-cba-exchange-online.cer
"""

import hashlib

from ansible.module_utils.basic import env_fallback

from ansible_collections.m365.cba.plugins.module_utils import _certs, _vault_store
from ansible_collections.m365.cba.plugins.module_utils._runner import ModuleSpec, run_module

SPEC = ModuleSpec(
    {
        "state": {"type": "str", "choices": ["present", "restored", "absent"], "default": "present"},
        "vault_addr": {"type": "str", "fallback": (env_fallback, ["VAULT_ADDR"])},
        "token": {"type": "str", "no_log": True, "fallback": (env_fallback, ["VAULT_TOKEN"])},
        "role_id": {"type": "str", "fallback": (env_fallback, ["VAULT_ROLE_ID"])},
        "secret_id": {"type": "str", "no_log": True, "fallback": (env_fallback, ["VAULT_SECRET_ID"])},
        "approle_mount": {"type": "str", "default": "approle"},
        "namespace": {"type": "str", "fallback": (env_fallback, ["VAULT_NAMESPACE"])},
        "cacert": {"type": "path", "fallback": (env_fallback, ["VAULT_CACERT"])},
        "validate_certs": {"type": "bool", "default": True},
        "timeout": {"type": "int", "default": 30},
        "mount": {"type": "str", "default": "secret"},
        "path": {"type": "str", "required": True},
        "pfx_path": {"type": "path"},
        "pfx_password": {"type": "str", "no_log": True},
        "app_id": {"type": "str"},
        "tenant_id": {"type": "str"},
        "cas": {"type": "int"},
        "dest": {"type": "path"},
        "tmpdir": {"type": "path"},
        "name": {"type": "str", "default": "m365-cba"},
    },
    required_if=[("state", "present", ["pfx_path", "pfx_password"])],
    libraries=(("hvac", "hvac"), ("cryptography", "cryptography")),
)


def _diff_view(data):
    view = _vault_store.public_view(data)
    if data and data.get("pfx_base64"):
        # A digest of the encrypted PFX shows that it changed and reveals nothing of it.
        view["pfx_sha256"] = hashlib.sha256(data["pfx_base64"].encode("ascii")).hexdigest()
    return view


def _exit(ctx, changed, diff, result):
    if diff is not None:
        result["diff"] = diff
    ctx.exit(changed, **result)


def _result(settings, found, version, data):
    result = {"vault_addr": settings.address, "secret": settings.location, "found": found, "version": version,
              "files_written": []}
    result.update({key: (data or {}).get(key) for key in _vault_store.PUBLIC_FIELDS})
    return result


def ensure_present(ctx, settings, client):
    params = ctx.params
    if params["cas"] is not None and params["cas"] < 0:
        ctx.fail(f"cas: must be a version (0 or more), got {params['cas']}", error={"option": "cas"})
    data = _certs.read_if_present(params["pfx_path"])
    if data is None:
        ctx.fail(f"pfx_path: file not found: {params['pfx_path']}")
    wanted = _vault_store.record(data, params["pfx_password"], app_id=params["app_id"], tenant_id=params["tenant_id"])
    stored = _vault_store.read(client, settings)
    wanted = _vault_store.merged(stored.data, wanted)
    changed = stored.data != wanted
    version = stored.version
    if changed:
        expected = stored.version if params["cas"] is None else params["cas"]
        if stored.version != expected:
            raise _vault_store.changed_since(settings, expected, stored.version)
        version = stored.version + 1 if ctx.check_mode else _vault_store.write(client, settings, wanted, expected)
    result = _result(settings, stored.data is not None, version, wanted)
    result["pfx_path"] = params["pfx_path"]
    _exit(ctx, changed, ctx.diff(_diff_view(stored.data), _diff_view(wanted)), result)


def ensure_restored(ctx, settings, client):
    params = ctx.params
    dest = params["dest"]
    if dest is None and not ctx.check_mode:
        # The action plugin makes the private directory when dest is unset; without it there is none.
        ctx.fail("dest: required with state=restored when the task does not run through the m365.cba.certificate_store "
                 "action", error={"option": "dest"})
    stored = _vault_store.read(client, settings)
    result = _result(settings, stored.data is not None, stored.version, stored.data)
    paths = _certs.certificate_paths(dest, params["name"]).as_dict() if dest else {}
    result.update(dest=dest, key_path=paths.get("key"), certificate_path=paths.get("certificate"), pfx_path=paths.get("pfx"),
                  cer_path=paths.get("cer"))
    if stored.data is None:
        _exit(ctx, False, ctx.diff({"state": "absent"}, {"state": "absent"}), result)
    if stored.data.get("pfx_password"):
        ctx.no_log(stored.data["pfx_password"])
    files = _vault_store.files_from(stored.data, settings)
    if dest is None:
        # Check mode without dest: a new directory would receive every file.
        written = list(_vault_store.RESTORED_KINDS)
    else:
        written = list(_vault_store.restore(files, dest, params["name"], check_mode=ctx.check_mode).written)
    result["files_written"] = written
    before = {"files": "differ" if written else "same"}
    after = dict(_diff_view(stored.data), files="restored")
    _exit(ctx, bool(written), ctx.diff(before, after) if written else ctx.diff(after, after), result)


def ensure_absent(ctx, settings, client):
    stored = _vault_store.read(client, settings)
    present = stored.data is not None or _vault_store.exists(client, settings)
    if present and not ctx.check_mode:
        _vault_store.delete(client, settings)
    result = _result(settings, stored.data is not None, 0, None)
    _exit(ctx, present, ctx.diff(_diff_view(stored.data), {"state": "absent"}), result)


def run(ctx):
    params = ctx.params
    for name in ("token", "secret_id"):
        if params.get(name):
            ctx.no_log(params[name])
    try:
        settings = _vault_store.settings_from_params(params)
        client = _vault_store.connect(settings)
        {"present": ensure_present, "restored": ensure_restored, "absent": ensure_absent}[params["state"]](ctx, settings, client)
    except _vault_store.StoreError as exc:
        ctx.fail(str(exc), error=exc.as_dict())
    except _certs.CertificateError as exc:
        ctx.fail(str(exc), error={"option": exc.option})


def main():
    run_module(SPEC, run)


if __name__ == "__main__":
    main()
