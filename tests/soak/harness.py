# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run playbooks/setup.yml against emulator tenants as separate processes, and check what it left.

Shared by the soak run (tests/soak/soak.py) and the reliability tests (tests/reliability), which
need what a blocking runner cannot give: several ansible-playbook processes at once, and a hard kill
of a run at a chosen moment.

* :class:`Fleet`: inventory, extra vars and environment for runs against an emulator; ``launch()``
  starts ansible-playbook in a session of its own and returns a :class:`Launched` run.
* the ``run_probe`` callback (written beside the runs) records every task result as JSON lines and,
  when ``M365_CBA_KILL_AFTER=N`` is set, SIGKILLs the run and every process it started right after
  the N-th task result.
* :func:`check_tenant` reads the emulator's state dump and the certificate files on disk, not the
  modules' output, and lists every broken invariant: one application, one service principal, one
  Exchange.ManageAsApp consent, the wanted directory roles, and keyCredentials whose private keys are
  all on disk.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
EMULATOR_PATH = REPO / "tests" / "emulator"
if str(EMULATOR_PATH) not in sys.path:
    sys.path.insert(0, str(EMULATOR_PATH))

# Documented identifiers (see the Graph reference), not read from the emulator.
EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
MANAGE_AS_APP_ROLE_ID = "dc50a0fb-09a3-484d-be87-e023b12c6440"
EXCHANGE_ADMINISTRATOR = "29232cdf-9323-42fd-ade2-1d097af3e4de"
EXCHANGE_SCOPE = "https://outlook.office365.com/.default"
UNIQUE_NAME = "m365-cba-exchange-online"

# Graph routes of the role's steps, as regular expressions on the request path (fault rules).
ROUTES = {
    "organization": ("GET", r"^/v1\.0/organization"),
    "app_get": ("GET", r"^/v1\.0/applications"),
    "app_upsert": ("PATCH", r"^/v1\.0/applications\(uniqueName="),
    "app_patch": ("PATCH", r"^/v1\.0/applications/[0-9a-fA-F-]{36}$"),
    "sp_upsert": ("PATCH", r"^/v1\.0/servicePrincipals\(appId="),
    "consent": ("POST", r"^/v1\.0/servicePrincipals/[^/]+/appRoleAssignedTo$"),
    "role_assignment": ("POST", r"^/v1\.0/roleManagement/directory/roleAssignments$"),
    "token": ("POST", r"/oauth2/v2\.0/token$"),
}

_FOREIGN_ENV_PREFIXES = ("AZURE_", "M365_CBA_", "ANSIBLE_")
_RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
                    r"\s+failed=(?P<failed>\d+)", re.M)

PROBE_CALLBACK = '''
from __future__ import annotations

DOCUMENTATION = """
name: run_probe
type: notification
short_description: Record task results; optionally kill the run after the N-th one
description:
  - Appends one JSON line per task result to the file in E(M365_CBA_PROBE_LOG).
  - With E(M365_CBA_KILL_AFTER)=N, sends SIGKILL to ansible-playbook and every process it started
    right after the N-th task result of a tenant (results of localhost are not counted).
"""

import json
import os
import signal

from ansible.plugins.callback import CallbackBase


@@DESCENDANTS@@

class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "run_probe"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path = os.environ.get("M365_CBA_PROBE_LOG")
        self._kill_after = int(os.environ.get("M365_CBA_KILL_AFTER") or 0)
        self._count = 0

    def _write(self, entry):
        if self._path:
            with open(self._path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry, default=repr) + "\\n")
                handle.flush()
                os.fsync(handle.fileno())

    def _record(self, status, result):
        data = getattr(result, "result", None)
        if data is None:
            data = result._result
        host = getattr(result, "host", None) or result._host
        task = getattr(result, "task", None) or result._task
        msg = data.get("msg")
        if host.get_name() != "localhost":
            self._count += 1
        self._write({"n": self._count, "host": host.get_name(), "task": task.get_name(), "action": task.action,
                     "status": status, "changed": bool(data.get("changed")),
                     "msg": msg if isinstance(msg, str) else (json.dumps(msg, default=repr) if msg else None),
                     "warnings": [str(w) for w in data.get("warnings") or []]})
        if self._kill_after and self._count >= self._kill_after and host.get_name() != "localhost":
            self._write({"killed_after": self._count})
            for pid in descendants(os.getpid()):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            os.killpg(os.getpgrp(), signal.SIGKILL)

    def v2_runner_on_ok(self, result, **kwargs):
        self._record("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False, **kwargs):
        self._record("failed", result)

    def v2_runner_on_skipped(self, result, **kwargs):
        self._record("skipped", result)

    def v2_runner_on_unreachable(self, result, **kwargs):
        self._record("unreachable", result)
'''


def descendants(root):
    """Every process below ``root`` (by parent pid, read from /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


# The callback runs inside ansible-playbook, where this file cannot be imported: it gets its own copy.
PROBE_CALLBACK = PROBE_CALLBACK.replace("@@DESCENDANTS@@", inspect.getsource(descendants))


def installed_collection(paths):
    """The m365.cba directory below one of ``paths`` (os.pathsep-separated), or None."""
    for path in (paths or "").split(os.pathsep):
        candidate = Path(path).expanduser() / "ansible_collections" / "m365" / "cba"
        if path and (candidate / "playbooks" / "setup.yml").is_file():
            return candidate
    return None


def base_env(collections_path, home):
    """A clean environment for ansible-playbook: nothing from the caller's AZURE_/M365_CBA_/ANSIBLE_ variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN_ENV_PREFIXES)}
    os.makedirs(os.path.join(home, "tmp"), exist_ok=True)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": str(collections_path),
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_LOCAL_TEMP": os.path.join(home, "tmp"),
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "false",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_GATHERING": "explicit",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
    })
    return env


def write_json(path, data, private=False):
    descriptor = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1)
    return str(path)


# -- runs ------------------------------------------------------------------------------------------

@dataclass
class RunOutcome:
    """What one ansible-playbook run did: exit code (negative: killed by that signal), output, task results."""

    name: str
    rc: int
    stdout: str
    stderr: str
    seconds: float
    results: list = field(default_factory=list)
    killed_after: int | None = None

    @property
    def recap(self):
        """{host: {ok, changed, unreachable, failed}} from the PLAY RECAP (empty when the run was killed)."""
        return {m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
                for m in _RECAP.finditer(self.stdout)}

    def host_results(self, host):
        return [r for r in self.results if r.get("host") == host]

    def failed_hosts(self):
        recap = self.recap
        return sorted(h for h, s in recap.items() if s["failed"] or s["unreachable"])

    def failures(self, host):
        """The messages of the host's failed tasks."""
        return [f"{r['task']}: {r.get('msg')}" for r in self.host_results(host) if r["status"] in ("failed", "unreachable")]

    def changed_tasks(self, host):
        return [r["task"] for r in self.host_results(host) if r.get("changed")]

    def tail(self, lines=40):
        return "\n".join((self.stdout + "\n" + self.stderr).splitlines()[-lines:])

    def describe(self):
        return f"run {self.name!r} rc={self.rc} ({self.seconds:.1f} s)\n{self.tail()}"


class Launched:
    """A running ansible-playbook in a session of its own."""

    def __init__(self, name, command, env, cwd, log, stdout_path, stderr_path):
        self.name = name
        self.log = log
        self._stdout_path = stdout_path
        self._stderr_path = stderr_path
        self._out = open(stdout_path, "w", encoding="utf-8")  # pylint: disable=consider-using-with
        self._err = open(stderr_path, "w", encoding="utf-8")  # pylint: disable=consider-using-with
        self.started = time.monotonic()
        self.proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=self._out, stderr=self._err,  # pylint: disable=consider-using-with
                                     stdin=subprocess.DEVNULL, start_new_session=True)

    def kill(self):
        """SIGKILL ansible-playbook and everything it started. Its workers call setsid(), so the
        process group alone would leave them (and the module they run) alive."""
        for pid in [self.proc.pid] + descendants(self.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def poll(self):
        return self.proc.poll()

    def wait(self, timeout=900):
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            rc = self.proc.wait()
        seconds = time.monotonic() - self.started
        # Workers orphaned by a kill of the parent alone would still write; make sure none is left.
        for pid in descendants(self.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self._out.close()
        self._err.close()
        results, killed_after = [], None
        if os.path.exists(self.log):
            with open(self.log, encoding="utf-8") as handle:
                for line in handle:
                    if not line.strip():
                        continue
                    entry = json.loads(line)
                    if "killed_after" in entry:
                        killed_after = entry["killed_after"]
                    else:
                        results.append(entry)
        stdout = Path(self._stdout_path).read_text(encoding="utf-8", errors="replace")
        stderr = Path(self._stderr_path).read_text(encoding="utf-8", errors="replace")
        return RunOutcome(self.name, rc, stdout, stderr, seconds, results, killed_after)


class Fleet:
    """Runs playbooks/setup.yml of the installed collection against tenants of one emulator.

    Certificates go to ``cert_root/<tenant>``, the bootstrap token cache to ``workdir/token-cache``;
    every run has a folder of its own below ``workdir/runs`` (inventory, vars, output, task log).
    """

    def __init__(self, emulator, collection_dir, ansible_playbook, workdir, pfx_password, env=None, forks=8):
        self.emulator = emulator
        self.collection_dir = Path(collection_dir)
        self.ansible_playbook = str(ansible_playbook)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.pfx_password = pfx_password
        self.cert_root = self.workdir / "certificates"
        self.token_cache = self.workdir / "token-cache"
        self.forks = forks
        callbacks = self.workdir / "callback_plugins"
        callbacks.mkdir(exist_ok=True)
        (callbacks / "run_probe.py").write_text(PROBE_CALLBACK, encoding="utf-8")
        env = dict(env) if env is not None else base_env(Path(collection_dir).parent.parent.parent, str(self.workdir / "ansible-home"))
        other = env.get("ANSIBLE_CALLBACK_PLUGINS")
        env["ANSIBLE_CALLBACK_PLUGINS"] = os.pathsep.join([str(callbacks)] + ([other] if other else []))
        env["ANSIBLE_CALLBACKS_ENABLED"] = "run_probe"
        env.pop("ANSIBLE_RESULT_LOG", None)
        self.env = env
        self._runs = 0

    @property
    def playbook(self):
        return str(self.collection_dir / "playbooks" / "setup.yml")

    def cert_dir(self, tenant):
        return self.cert_root / tenant

    def inventory(self, tenants, host_vars=None):
        hosts = {}
        for name in tenants:
            info = self.emulator.tenant(name)
            hosts[name] = {
                "m365_cba_tenant_id": info["tenant_id"],
                "m365_cba_client_id": info["bootstrap"]["client_id"],
                "m365_cba_client_certificate_path": info["bootstrap"]["certificate_path"],
            }
            hosts[name].update((host_vars or {}).get(name, {}))
        local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
        return {"all": {
            "hosts": {"localhost": local},
            "children": {"tenants": {"hosts": hosts, "vars": dict(local, **{
                "m365_cba_authority_host": self.emulator.base_url,
                "m365_cba_graph_endpoint": self.emulator.base_url,
                "m365_cba_ca_bundle": self.emulator.ca_bundle,
            })}},
        }}

    def launch(self, name, tenants, host_vars=None, extra_vars=None, kill_after=None, playbook=None, env=None):
        """Start a run of the setup playbook (or ``playbook``) for ``tenants``; returns a :class:`Launched`."""
        self._runs += 1
        folder = self.workdir / "runs" / f"{self._runs:03d}-{name}"
        folder.mkdir(parents=True)
        inventory = write_json(folder / "inventory.json", self.inventory(tenants, host_vars), private=True)
        values = {
            "m365_cba_pfx_password": self.pfx_password,
            "m365_cba_certificate_dir": str(self.cert_root) + "/{{ inventory_hostname }}",
            "m365_cba_token_cache_dir": str(self.token_cache),
        }
        values.update(extra_vars or {})
        vars_file = write_json(folder / "vars.json", values, private=True)
        command = [self.ansible_playbook, "-i", inventory, "-e", "@" + vars_file, str(playbook or self.playbook)]
        run_env = dict(self.env)
        run_env.update({"ANSIBLE_FORKS": str(self.forks), "M365_CBA_PROBE_LOG": str(folder / "results.jsonl")})
        if kill_after:
            run_env["M365_CBA_KILL_AFTER"] = str(kill_after)
        run_env.update(env or {})
        return Launched(name, command, run_env, str(folder), str(folder / "results.jsonl"),
                        str(folder / "stdout.txt"), str(folder / "stderr.txt"))

    def run(self, name, tenants, timeout=900, **kwargs):
        return self.launch(name, tenants, **kwargs).wait(timeout)


# -- what the role left behind ------------------------------------------------------------------------

def sha1_hex(data):
    digest = hashes.Hash(hashes.SHA1())  # nosec - a certificate thumbprint is SHA-1 by definition
    digest.update(data)
    return digest.finalize().hex().upper()


def local_certificate(directory, pfx_password, name=UNIQUE_NAME):
    """``(thumbprint, problems)`` of the certificate set in ``directory``: key and certificate belong
    together, the PFX opens with the password and holds both, the CER is the same certificate."""
    directory = Path(directory)
    paths = {kind: directory / f"{name}.{ext}" for kind, ext in (("key", "key"), ("crt", "crt"), ("pfx", "pfx"), ("cer", "cer"))}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        return None, [f"missing certificate files: {', '.join(missing)}"]
    problems = []
    try:
        key = serialization.load_pem_private_key(paths["key"].read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(paths["crt"].read_bytes())
    except ValueError as exc:
        return None, [f"unreadable key or certificate in {directory}: {exc}"]
    der = cert.public_bytes(serialization.Encoding.DER)
    thumbprint = sha1_hex(der)
    if key.public_key().public_numbers() != cert.public_key().public_numbers():
        problems.append(f"{paths['key']} does not belong to {paths['crt']}")
    try:
        pfx_key, pfx_cert, _extra = pkcs12.load_key_and_certificates(paths["pfx"].read_bytes(), pfx_password.encode("utf-8"))
    except ValueError as exc:
        problems.append(f"{paths['pfx']} does not open with the password: {exc}")
    else:
        if pfx_cert is None or sha1_hex(pfx_cert.public_bytes(serialization.Encoding.DER)) != thumbprint:
            problems.append(f"{paths['pfx']} holds another certificate")
        if pfx_key is None or pfx_key.public_key().public_numbers() != cert.public_key().public_numbers():
            problems.append(f"{paths['pfx']} holds another key")
    if paths["cer"].read_bytes() != der:
        problems.append(f"{paths['cer']} is not the certificate in {paths['crt']}")
    for path in (paths["key"], paths["pfx"]):
        if os.stat(path).st_mode & 0o077:
            problems.append(f"{path} is readable by others")
    return thumbprint, problems


@dataclass
class TenantCheck:
    tenant: str
    problems: list
    app_id: str | None = None
    service_principal_id: str | None = None
    key_thumbprints: list = field(default_factory=list)
    local_thumbprint: str | None = None

    @property
    def ok(self):
        return not self.problems


def check_tenant(emulator, tenant, cert_dir, pfx_password, roles=(EXCHANGE_ADMINISTRATOR,), unique_name=UNIQUE_NAME,
                 partial=False):
    """Every invariant of a set-up tenant, from the emulator's state dump (primary copy) and the disk.

    The application holds exactly one certificate: the one on disk. ``partial`` (a setup cut short)
    accepts what is still missing, never a duplicate, a stray object or a certificate whose key is
    not on disk.
    """
    dump = emulator.state(tenant)["tenants"][0]
    bootstrap_client = emulator.tenant(tenant)["bootstrap"]["client_id"]
    problems = []
    check = TenantCheck(tenant, problems)

    def missing(text):
        if not partial:
            problems.append(text)

    ours = [a for a in dump["applications"] if a.get("uniqueName") == unique_name]
    strays = [a for a in dump["applications"] if a.get("uniqueName") != unique_name and a["appId"] != bootstrap_client]
    if strays:
        problems.append(f"{len(strays)} other application(s): {[a.get('displayName') for a in strays]}")
    if len(ours) > 1:
        problems.append(f"{len(ours)} applications with uniqueName {unique_name}")
    elif not ours:
        missing(f"no application with uniqueName {unique_name}")
    if partial and not any((Path(cert_dir) / f"{unique_name}.{ext}").exists() for ext in ("key", "crt", "pfx", "cer")):
        local = None
    else:
        local, local_problems = local_certificate(cert_dir, pfx_password, unique_name)
        problems.extend(local_problems)
    check.local_thumbprint = local
    if not ours:
        return check
    app = ours[0]
    check.app_id = app["appId"]
    check.key_thumbprints = [k.get("thumbprint_sha1") for k in app.get("keyCredentials") or []]
    orphans = [t for t in check.key_thumbprints if t != local]
    if orphans:
        problems.append(f"keyCredentials without their private key on disk: {orphans}")
    held = check.key_thumbprints.count(local) if local else 0
    if held > 1:
        problems.append(f"the certificate on disk ({local}) is on the application {held} times")
    elif not held:
        missing(f"the certificate on disk ({local}) is not on the application")
    sps = [sp for sp in dump["servicePrincipals"] if sp["appId"] == app["appId"]]
    if len(sps) > 1:
        problems.append(f"{len(sps)} service principals for appId {app['appId']}")
    elif not sps:
        missing(f"no service principal for appId {app['appId']}")
        return check
    sp = sps[0]
    check.service_principal_id = sp["id"]
    (exchange,) = [s for s in dump["servicePrincipals"] if s["appId"] == EXCHANGE_APP_ID]
    grants = [(a["resourceId"], a["appRoleId"]) for a in dump["appRoleAssignments"] if a["principalId"] == sp["id"]]
    if grants != [(exchange["id"], MANAGE_AS_APP_ROLE_ID)] and (grants or not partial):
        problems.append(f"app role assignments of the service principal: {grants}, wanted exactly one Exchange.ManageAsApp")
    held_roles = sorted(a["roleDefinitionId"] for a in dump["roleAssignments"] if a["principalId"] == sp["id"])
    if held_roles != sorted(roles) and (held_roles or not partial):
        problems.append(f"directory roles of the service principal: {held_roles}, wanted {sorted(roles)}")
    return check


def prove_token(emulator, tenant, app_id, cert_dir, pfx_password, name=UNIQUE_NAME):
    """Sign in as the application with the PFX on disk (msal, directly) and return the token's roles."""
    import base64  # pylint: disable=import-outside-toplevel

    import msal  # pylint: disable=import-outside-toplevel
    import requests  # pylint: disable=import-outside-toplevel

    session = requests.Session()
    session.trust_env = False
    session.verify = emulator.ca_bundle
    info = emulator.tenant(tenant)
    app = msal.ConfidentialClientApplication(
        app_id, authority=f"{emulator.base_url}/{info['tenant_id']}", instance_discovery=False, http_client=session,
        client_credential={"private_key_pfx_path": str(Path(cert_dir) / f"{name}.pfx"), "passphrase": pfx_password})
    result = app.acquire_token_for_client(scopes=[EXCHANGE_SCOPE])
    if "access_token" not in result:
        raise AssertionError(f"{tenant}: sign-in with the certificate on disk failed: {result.get('error_description')}")
    payload = result["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return sorted(claims.get("roles") or [])


def fault(route, tenant, **rule):
    """A fault rule for one of :data:`ROUTES` in one tenant."""
    method, path = ROUTES[route]
    return dict({"method": method, "path": path, "tenant": tenant}, **rule)
