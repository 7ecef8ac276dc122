# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection on every supported ansible-core: one virtualenv per (ansible-core, Python) pair.

``python tests/matrix/matrix.py run``  (``make matrix``): for each (ansible-core, Python) pair, a virtualenv
with that ansible-core and the runtime requirements (requirements.txt at the versions tests/requirements.txt
pins, and for the oldest pair at the lowest versions requirements.txt admits, as an older execution
environment may carry them; cached in BUILD/matrix-venvs, made again when the versions or the
requirements change), then,
against one in-process emulator, two tenants per pair:

1. ``ansible-doc -l m365.cba`` lists every module; ``ansible-doc`` documents every plugin and the role; that
   ansible-core's ``ansible-galaxy`` builds the archive and installs it; the unit tests of the execution seam
   run with that ansible-core (SEAM_TESTS);
2. playbooks/setup.yml on the two fresh tenants: changed, and set up as the emulator's state shows (the
   certificate on disk is on the application, consented, a directory role, verified);
3. the same again: changed=0, no Graph write;
4. ``--check``: changed=0, no Graph write, the same certificates;
5. playbooks/report.yml: one ``ok`` row per tenant with its certificate, no Graph write.

In each run one tenant runs the modules in the controller's worker (the default on a local connection)
and the other as module processes (``m365_cba_in_process`` false; as the text "false" in runs 3 and 5,
which is what ``-e m365_cba_in_process=false`` passes), alternating. Which way each module ran is checked
per tenant in the ``-vvv`` output: the action plugin's line, and whether the module was copied to the host.
Changed counts come from the run_record callback of the end-to-end tests, Graph writes from the
emulator's request log. No command may print a deprecation warning or say that the version is unsupported,
and the PFX password (a no_log value) must not appear in any -vvv output. meta/runtime.yml's requires_ansible
must start at the oldest tested minor, admit every tested release and have no upper bound.

Besides the listed pairs (PAIRS), each run asks the package index (``pip index versions``) for the newest
ansible-core release, and tests it on the newest Python here when it is not listed; and, as information
that fails no run, the newest pre-release when it is newer than that release. Logs go to BUILD/matrix/<pair>/, a summary table to
BUILD/matrix/summary-run.md; a failing pair fails the run, with its log's tail and first error.

``python tests/matrix/matrix.py sanity --only oldest,newest``  (``make sanity``): ansible-test sanity of
the collection with the ansible-test of those pairs' ansible-core, each on a copy of its own.

The collection under test is the one below ANSIBLE_COLLECTIONS_PATH (make collection builds it).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import fcntl
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from e2e_support import EXCHANGE_APP, PERMISSION, LocalCertificate, TenantView  # noqa: E402  pylint: disable=wrong-import-position
from m365emu import Emulator  # noqa: E402  pylint: disable=wrong-import-position

# (ansible-core, Python): a release of every supported minor, 2.16 to 2.19 on 3.11, 2.20 on 3.12, 2.21 and
# 2.22 on 3.13, so that each Python runs. Besides these, every run of the matrix asks the package index for
# the newest ansible-core release and tests it too (on the newest Python here) — a release that came out
# after this list was written is tested the day it appears — and, for information only, the newest
# pre-release when it is newer than that. meta/runtime.yml's requires_ansible starts at the oldest minor
# here and has no upper bound.
PAIRS = (
    ("2.16.20", "3.11"),
    ("2.17.14", "3.11"),
    ("2.18.19", "3.11"),
    ("2.19.15", "3.11"),
    ("2.20.10", "3.12"),
    ("2.21.6", "3.13"),
    ("2.22.0", "3.13"),
)
# With --only all (make matrix MATRIX=all), also the newest Python of the oldest version and the widest one.
EDGE_PAIRS = (
    ("2.16.20", "3.12"),
    ("2.19.15", "3.13"),
)
# The pair whose virtualenv holds the lowest versions of the runtime requirements that requirements.txt
# admits (msal, cryptography, requests), the others the versions tests/requirements.txt pins.
LOWEST_REQUIREMENTS = PAIRS[0]
# Names --only accepts besides "2.19" and "2.19/3.13": the two ends of the list above; "latest" (the newest
# release on the package index) and "pre-release" (its newest pre-release) are found when the matrix runs.
ALIASES = {"oldest": "/".join((PAIRS[0][0].rsplit(".", 1)[0], PAIRS[0][1])),
           "newest": "/".join((PAIRS[-1][0].rsplit(".", 1)[0], PAIRS[-1][1]))}

# Plugin folders of the collection and the plugin type ansible-doc knows them by.
PLUGIN_FOLDERS = {"modules": "module", "filter": "filter", "inventory": "inventory", "callback": "callback",
                  "lookup": "lookup", "test": "test"}
# Module tasks the setup role runs per tenant (a fresh run; a re-run runs the same ones).
ROLE_MODULES = ("organization_info", "certificate", "application", "application_certificate", "service_principal",
                "app_role_assignment", "directory_role_assignment", "app_token_info", "tenant_report")
REPORT_MODULES = ("organization_info", "application_info")
IN_WORKER = "running in the controller's worker process"
AS_MODULE = "running as a module"
UNSUPPORTED = "does not support Ansible version"
# A deprecation warning on any supported version fails the pair: what is deprecated today is gone tomorrow.
DEPRECATION = "[DEPRECATION WARNING]"
# Deprecation warnings that ansible-core gives about its own code, whatever the collection does, by minor.
# 2.16.20 deprecates a mapping for a task's `action`, and its own role code builds the argument-spec check
# of every role with meta/argument_specs.yml with one (ansible/playbook/role/__init__.py); 2.17 and later
# build it with a string.
CORE_DEPRECATIONS = {"2.16": ("Using a mapping for `action` is deprecated",)}
GRAPH_WRITES = ("POST", "PATCH", "PUT", "DELETE")
PLAYBOOK_TIMEOUT = 600
GET_PIP = REPO / "tests" / "utils" / "place-get-pip.sh"


class MatrixFailure(Exception):
    """A check of one pair failed."""


class Pair:
    """One ansible-core release on one Python. ``kind``: "listed" (PAIRS, EDGE_PAIRS), "latest" (the newest
    release on the package index, not listed) or "pre-release" (information: its failure fails no run)."""

    def __init__(self, core, python, build, kind="listed"):
        self.core = core
        self.python = python
        self.kind = kind
        self.minor = ".".join(core.split(".")[:2])
        self.label = f"{self.minor}-py{python}" if kind == "listed" else f"{kind}-{core}-py{python}"
        self.logdir = build / "matrix" / self.label
        self.venv_root = build / "matrix-venvs"
        # Host names of its two tenants: distinct per pair, so that pairs share one emulator.
        slug = re.sub(r"[^a-z0-9]", "", f"c{self.minor if kind == 'listed' else kind[:3] + core}py{python}")
        self.tenants = (f"{slug}a", f"{slug}b")
        self.lowest = (core, python) == LOWEST_REQUIREMENTS and kind == "listed"
        self.informational = kind == "pre-release"
        self.venv = None
        self.log = None
        self.started = time.monotonic()
        self.step = "virtualenv"

    def bin(self, name):
        return str(self.venv / "bin" / name)

    def note(self, text):
        self.log.write(text if text.endswith("\n") else text + "\n")
        self.log.flush()

    def command(self, args, name, env=None, cwd=None, timeout=PLAYBOOK_TIMEOUT, warnings=False):
        """Run ``args``; its output goes to <logdir>/<name>.out and the log. Returns the CompletedProcess.
        With ``warnings``, a deprecation warning or "does not support" in its output fails it too."""
        self.note(f"\n$ {' '.join(str(a) for a in args)}")
        started = time.monotonic()
        done = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, cwd=cwd,
                              timeout=timeout, check=False)
        (self.logdir / f"{name}.out").write_text(done.stdout + ("\n--- stderr\n" + done.stderr if done.stderr else ""),
                                                 encoding="utf-8")
        self.note(f"  rc {done.returncode} in {time.monotonic() - started:.1f} s; output in {name}.out")
        if done.returncode:
            self.note(_tail(done.stdout, 40) + "\n--- stderr\n" + _tail(done.stderr, 40))
            raise MatrixFailure(f"{name}: {Path(str(args[0])).name} exited {done.returncode}{_first_error(done)}")
        if warnings:
            warned = _warnings(done.stdout + "\n" + done.stderr, CORE_DEPRECATIONS.get(self.minor, ()))
            if warned:
                raise MatrixFailure(f"{name}: {Path(str(args[0])).name} warns: {warned[:600]}")
        return done


def _warnings(text, known=()):
    """The first deprecation or unsupported-version warning in ``text``, with the lines that follow it (a
    warning is wrapped over several), that does not start with one of ``known``; empty when there is none."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if DEPRECATION in line or UNSUPPORTED in line:
            warning = " ".join(x.strip() for x in lines[index:index + 4])
            if not any(warning.partition("]:")[2].strip().startswith(k) for k in known):
                return warning
    return ""


def _first_error(done):
    """The first error a command reported, for the summary: a task's message, else an [ERROR] or FATAL line."""
    lines = done.stdout.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("fatal: ["):
            message = next((x.strip() for x in lines[index + 1:index + 20] if x.strip().startswith('"msg"')), "")
            return f": {line.split(' => ')[0]} {message}"[:400]
    found = next((x for x in done.stderr.splitlines() if x.startswith(("[ERROR]", "ERROR", "FATAL"))), "")
    return f": {found}"[:400] if found else ""


def _tail(text, lines):
    return "\n".join(text.splitlines()[-lines:])


def find_python(version):
    """The interpreter of Python ``version`` (3.11): pyenv's own install first, then PATH."""
    for candidate in sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")), reverse=True):
        return candidate
    found = shutil.which(f"python{version}")
    if not found:
        raise MatrixFailure(f"no Python {version} (neither ~/.pyenv/versions/{version}.* nor python{version} on PATH)")
    return found


def requirements(lowest=False):
    """(requirement lines, constraint lines): requirements.txt, held at the versions tests/requirements.txt
    pins for every other test, so that only ansible-core differs between the lanes; with ``lowest``, at
    the lowest version each requirement admits (its ``>=`` bound)."""
    wanted = [line.strip() for line in (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines()
              if line.strip() and not line.startswith("#")]
    if lowest:
        bounds = [re.match(r"([A-Za-z0-9_.\[\]-]+)\s*>=\s*([^,;\s]+)", line) for line in wanted]
        if not all(bounds):
            raise MatrixFailure(f"requirements.txt: every requirement needs a lower bound (>=): {wanted}")
        return wanted, [f"{bound.group(1)}=={bound.group(2)}" for bound in bounds]
    names = {re.split(r"[<>=!~ ;\[]", line, maxsplit=1)[0].lower() for line in wanted}
    pins = [line.strip() for line in (REPO / "tests" / "requirements.txt").read_text(encoding="utf-8").splitlines()
            if "==" in line and line.split("==")[0].strip().lower() in names]
    return wanted, pins


def test_tools():
    """pytest at the version tests/requirements.txt pins: each pair runs the unit tests of the execution seam."""
    return [line.strip() for line in (REPO / "tests" / "requirements.txt").read_text(encoding="utf-8").splitlines()
            if line.strip().lower().startswith("pytest==")]


# The unit tests that each pair runs with its own ansible-core: how a module runs (as a module process and
# in the worker), argument checks, no_log masking (remove_values before 2.22, registered secrets after).
SEAM_TESTS = ("tests/unit/plugins/module_utils/test_runner.py", "tests/unit/plugins/plugin_utils/test_in_process.py",
              "tests/unit/plugins/test_public_interfaces.py")


def ensure_venv(pair):
    """The pair's virtualenv, made unless one with the same versions and requirements exists."""
    wanted, pins = requirements(pair.lowest)
    key = hashlib.sha256(json.dumps([pair.core, pair.python, wanted, pins, test_tools()]).encode()).hexdigest()[:10]
    venv = pair.venv_root / f"ansible-core-{pair.core}-py{pair.python}-{key}"
    pair.venv = venv
    marker = venv / ".installed"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run of the driver may be making the same one
        if marker.exists() and (venv / "bin" / "ansible-playbook").exists():
            pair.note(f"virtualenv {venv} (cached)")
            return
        make_venv(pair, venv, wanted, pins)
    for stale in venv.parent.glob(f"ansible-core-{pair.core}-py{pair.python}-*"):
        if stale.is_dir() and stale != venv:  # made for requirements that have changed since
            shutil.rmtree(stale, ignore_errors=True)


def make_venv(pair, venv, wanted, pins):
    shutil.rmtree(venv, ignore_errors=True)
    pair.command([find_python(pair.python), "-m", "venv", venv], "venv")
    constraints = venv / "constraints.txt"
    constraints.write_text("\n".join(pins) + "\n", encoding="utf-8")
    pair.command([pair.bin("python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                  f"ansible-core=={pair.core}", "-r", REPO / "requirements.txt", *test_tools(), "-c", constraints],
                 "pip-install", timeout=900)
    (venv / ".installed").write_text(json.dumps({"ansible-core": pair.core, "python": pair.python, "requirements": wanted, "pins": pins}))


def check_requires_ansible(collection, pairs):
    """meta/runtime.yml's requires_ansible starts at the oldest minor of the matrix, has no upper bound (a cap
    turns every new ansible-core release into a collection that refuses to install), and admits every
    release tested."""
    import yaml  # pylint: disable=import-outside-toplevel
    from packaging.specifiers import SpecifierSet  # pylint: disable=import-outside-toplevel

    spec = SpecifierSet(yaml.safe_load((collection / "meta" / "runtime.yml").read_text(encoding="utf-8"))["requires_ansible"])
    problems = [f"{item} caps the range: every later ansible-core release would refuse to install the collection"
                for item in spec if item.operator not in (">=", ">")]
    major, minor = (int(x) for x in PAIRS[0][0].split(".")[:2])
    if not spec.contains(f"{major}.{minor}.0") or spec.contains(f"{major}.{minor - 1}.99"):
        problems.append(f"it does not start at {major}.{minor}.0, the oldest version the matrix tests")
    problems += [f"{pair.core} is not admitted" for pair in pairs if not spec.contains(pair.core, prereleases=True)]
    problems += [f"{core} is not admitted" for core, _python in PAIRS if not spec.contains(core)]
    if problems:
        raise SystemExit(f"meta/runtime.yml requires_ansible {spec}: {'; '.join(sorted(set(problems)))}")


def index_release(pre=False):
    """The newest ansible-core on the package index pip is set up to use: the newest release, or with
    ``pre`` the newest version of all, pre-releases included. Whatever Python it needs."""
    args = [sys.executable, "-m", "pip", "index", "versions", "ansible-core", "--ignore-requires-python",
            "--disable-pip-version-check"] + (["--pre"] if pre else [])
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    found = re.match(r"ansible-core \(([^)]+)\)", done.stdout.strip())
    if done.returncode or not found:
        raise SystemExit(f"cannot ask the package index for ansible-core's newest {'version' if pre else 'release'}:"
                         f" {' '.join(args[2:])} exited {done.returncode}: {_tail(done.stdout + done.stderr, 5)}")
    return found.group(1)


def newest_python():
    """The newest Python 3 on this machine (pyenv's installs or PATH), as "3.13"."""
    found = {m.group(1) for path in glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3.*"))
             if (m := re.search(r"python(3\.\d+)$", path))}
    found |= {f"3.{n}" for n in range(8, 30) if shutil.which(f"python3.{n}")}
    if not found:
        raise SystemExit("no Python 3 found (neither ~/.pyenv/versions/3.* nor python3.N on PATH)")
    return max(found, key=lambda v: int(v.split(".")[1]))


def discover(build, latest=True, pre_release=True):
    """Pairs for what the package index serves today that the list does not hold: the newest release (when it
    is not a listed one) and, as information, the newest pre-release when it is newer than that release.
    Returns (pairs, what was found, in words)."""
    from packaging.version import Version  # pylint: disable=import-outside-toplevel

    release = index_release()
    python = newest_python()
    pairs, said = [], []
    listed = {core for core, _python in PAIRS + EDGE_PAIRS}
    if release in listed:
        said.append(f"the newest ansible-core release on the package index, {release}, is a listed pair")
    else:
        said.append(f"the newest ansible-core release on the package index, {release}, is not listed: tested on Python {python}")
    if latest and release not in listed:
        pairs.append(Pair(release, python, build, kind="latest"))
    newest = index_release(pre=True)
    if Version(newest) > Version(release) and Version(newest).is_prerelease:
        said.append(f"the newest pre-release, {newest}, is tested for information (its failure fails no run)")
        if pre_release:
            pairs.append(Pair(newest, python, build, kind="pre-release"))
    else:
        said.append(f"no pre-release newer than {release}")
    return pairs, said


def check_versions(pair, env):
    done = pair.command([pair.bin("python"), "-c", "import ansible, platform; print(ansible.__version__, platform.python_version())"],
                        "versions", env=env)
    core, python = done.stdout.split()
    if core != pair.core or not python.startswith(pair.python + "."):
        raise MatrixFailure(f"the virtualenv has ansible-core {core} on Python {python}, not {pair.core} on {pair.python}")
    pair.note(f"ansible-core {core}, Python {python}")
    _wanted, pins = requirements(pair.lowest)
    names = [pin.split("==")[0] for pin in pins]
    done = pair.command([pair.bin("python"), "-c", "import sys\nfrom importlib.metadata import version\n"
                         "print(' '.join(f'{n}=={version(n)}' for n in sys.argv[1:]))", *names], "libraries", env=env)
    if sorted(done.stdout.split()) != sorted(pins):
        raise MatrixFailure(f"the virtualenv has {done.stdout.strip()}, not {' '.join(pins)}")
    pair.note(f"libraries {done.stdout.strip()}")


def check_docs(pair, env, collection):
    """ansible-doc lists every module of the collection and documents every plugin (one per file, named
    like it) and the role."""
    kinds = {kind: sorted(p.stem for p in (collection / "plugins" / folder).glob("*.py") if not p.stem.startswith("_"))
             for folder, kind in PLUGIN_FOLDERS.items()}
    done = pair.command([pair.bin("ansible-doc"), "-l", "m365.cba"], "doc-list", env=env, warnings=True)
    missing = [m for m in kinds["module"] if f"m365.cba.{m} " not in done.stdout]
    if missing:
        raise MatrixFailure(f"ansible-doc -l m365.cba does not list {missing}")
    kinds["role"] = ["setup"]
    for kind, names in kinds.items():
        if not names:
            continue
        done = pair.command([pair.bin("ansible-doc"), "-t", kind, "--json"] + [f"m365.cba.{n}" for n in names],
                            f"doc-{kind}", env=env, warnings=True)
        docs = json.loads(done.stdout)
        for name in names:
            entry = docs.get(f"m365.cba.{name}") or {}
            if kind == "role":
                described = (entry.get("entry_points") or {}).get("main", {}).get("short_description")
            else:
                described = (entry.get("doc") or {}).get("short_description")
            if not described:
                raise MatrixFailure(f"ansible-doc -t {kind} m365.cba.{name} gives no documentation: {_tail(done.stderr, 10)}")


def install_archive(pair, env, collection):
    """``ansible-galaxy collection install`` of the collection's archive with this ansible-core, as the README's
    Install section does it: accepted (requires_ansible admits the version), without a warning."""
    out = pair.logdir / "install"
    shutil.rmtree(out, ignore_errors=True)
    pair.command([pair.bin("ansible-galaxy"), "collection", "build", "--output-path", out / "archive", collection],
                 "galaxy-build", env=env, cwd=pair.logdir, warnings=True)
    (archive,) = (out / "archive").glob("m365-cba-*.tar.gz")
    done = pair.command([pair.bin("ansible-galaxy"), "collection", "install", "--offline", archive, "-p", out / "collections"],
                        "galaxy-install", env=dict(env, ANSIBLE_COLLECTIONS_PATH=str(out / "collections")), cwd=pair.logdir,
                        warnings=True)
    if not (out / "collections" / "ansible_collections" / "m365" / "cba" / "MANIFEST.json").is_file():
        raise MatrixFailure(f"ansible-galaxy collection install did not install the archive: {_tail(done.stdout, 5)}")


class Playbooks:
    """Runs playbooks of the collection against the emulator for one pair's tenants."""

    def __init__(self, pair, emulator, collection, env):
        self.pair = pair
        self.emulator = emulator
        self.collection = collection
        self.env = env
        self.work = pair.logdir / "work"
        self.cert_root = self.work / "certificates"
        self.vars_file = self.work / "vars.json"
        self.secret = hashlib.sha256(os.urandom(32)).hexdigest()[:24]
        values = {"m365_cba_pfx_password": self.secret,
                  "m365_cba_certificate_dir": str(self.cert_root) + "/{{ inventory_hostname }}",
                  "m365_cba_token_cache_dir": str(self.work / "token-cache"),
                  "m365_cba_report_dir": str(self.work / "report-files")}
        self.work.mkdir(parents=True)
        fd = os.open(self.vars_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(values, handle)

    def inventory(self, as_modules):
        """The pair's tenants; ``as_modules``: {host: m365_cba_in_process value that runs it as a module}."""
        hosts = {}
        for name in self.pair.tenants:
            bootstrap = self.emulator.tenant(name)["bootstrap"]
            hosts[name] = {"m365_cba_tenant_id": bootstrap["tenant_id"], "m365_cba_client_id": bootstrap["client_id"],
                           "m365_cba_client_certificate_path": bootstrap["certificate_path"]}
            if name in as_modules:
                hosts[name]["m365_cba_in_process"] = as_modules[name]
        return {"all": {"children": {"tenants": {
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                     "m365_cba_authority_host": self.emulator.base_url, "m365_cba_graph_endpoint": self.emulator.base_url,
                     "m365_cba_ca_bundle": self.emulator.ca_bundle},
            "hosts": hosts}}}}

    def graph_writes(self):
        """{tenant name: Graph writes so far} in the emulator's request log."""
        ids = {self.emulator.tenant(name)["tenant_id"]: name for name in self.pair.tenants}
        counts = dict.fromkeys(self.pair.tenants, 0)
        for entry in self.emulator.requests():
            if entry.get("tenant") in ids and entry["method"] in GRAPH_WRITES and entry["path"].startswith("/v1.0/"):
                counts[ids[entry["tenant"]]] += 1
        return counts

    def run(self, name, playbook, as_modules, check=False):
        """Run a playbook at -vvv; returns (record, stdout, Graph writes per tenant during the run)."""
        self.pair.step = name
        folder = self.work / name
        folder.mkdir()
        inventory = folder / "inventory.json"
        inventory.write_text(json.dumps(self.inventory(as_modules), indent=1), encoding="utf-8")
        record = folder / "record.json"
        args = [self.pair.bin("ansible-playbook"), "-vvv", "-i", inventory, "-e", f"@{self.vars_file}",
                self.collection / "playbooks" / playbook] + (["--check"] if check else [])
        env = dict(self.env, M365_CBA_RUN_RECORD=str(record), ANSIBLE_LOCAL_TEMP=str(folder / "tmp"))
        before = self.graph_writes()
        done = self.pair.command(args, name, env=env, cwd=folder, warnings=True)
        after = self.graph_writes()
        # The PFX password is a no_log value of the certificate module: masked at -vvv on every version, by the
        # result cleaning before ansible-core 2.22 and by Ansible's own masking of registered secrets after.
        if self.secret in done.stdout + done.stderr:
            raise MatrixFailure(f"{name}: the PFX password appears in the output of ansible-playbook -vvv")
        if not record.exists():
            raise MatrixFailure(f"{name}: the run_record callback wrote nothing")
        return json.loads(record.read_text(encoding="utf-8")), done.stdout, {t: after[t] - before[t] for t in after}

    def expect_ways(self, name, stdout, as_modules, modules):
        """Each module of ``modules`` ran as a module process for the hosts of ``as_modules`` and in the worker
        for the others: the action plugin's -vvv line says so, and the module was copied to the host as an
        AnsiballZ file (the local connection's -vvv PUT line) exactly when it ran as a module."""
        lines = stdout.splitlines()
        for host in self.pair.tenants:
            way, other = (AS_MODULE, IN_WORKER) if host in as_modules else (IN_WORKER, AS_MODULE)
            said = [line for line in lines if line.startswith(f"<{host}> m365.cba.")]
            ran = {m for m in modules if any(line.startswith(f"<{host}> m365.cba.{m}: {way}") for line in said)}
            wrong = [line for line in said if other in line]
            copied = {m for m in modules if any(line.startswith(f"<{host}> PUT ") and line.endswith(f"/AnsiballZ_{m}.py")
                                                for line in lines)}
            if ran != set(modules) or wrong:
                raise MatrixFailure(f"{name}: on {host} expected every module '{way}'; not said for {sorted(set(modules) - ran)},"
                                    f" the other way: {wrong[:3]}")
            if copied != (set(modules) if host in as_modules else set()):
                raise MatrixFailure(f"{name}: on {host} ({way}) module files were copied for {sorted(copied)}")


def expect_stats(name, record, tenants, changed):
    """Every tenant ran without failure; changed > 0 (changed=True), == 0 (False), or either (None)."""
    for host in tenants:
        stats = record["stats"].get(host)
        if not stats:
            raise MatrixFailure(f"{name}: no stats for {host}")
        if stats["failures"] or stats["unreachable"]:
            failed = [t for t in record["tasks"] if t["host"] == host and t["status"] in ("failed", "unreachable")]
            raise MatrixFailure(f"{name}: {host} failed: {json.dumps(failed)[:1500]}")
        if changed and not stats["changed"]:
            raise MatrixFailure(f"{name}: a fresh run changed nothing on {host}")
        if changed is False and stats["changed"]:
            tasks = [t["task"] for t in record["tasks"] if t["host"] == host and t["changed"]]
            raise MatrixFailure(f"{name}: changed={stats['changed']} on {host}: {tasks}")


def expect_no_writes(name, writes):
    if any(writes.values()):
        raise MatrixFailure(f"{name}: Graph writes during a run that should change nothing: {writes}")


def expect_set_up(pair, emulator, cert_root):
    """The emulator holds the application with the certificate on disk, consented and verified."""
    for host in pair.tenants:
        view = TenantView(emulator, host)
        application = view.application(EXCHANGE_APP)
        local = LocalCertificate(cert_root / host)
        if local.thumbprint not in TenantView.thumbprints(application):
            raise MatrixFailure(f"{host}: the certificate {local.thumbprint} is not on the application in the emulator")
        (principal,) = view.service_principals(application["appId"])
        if PERMISSION not in [value for _resource, value in view.granted_permissions(principal["id"])]:
            raise MatrixFailure(f"{host}: {PERMISSION} is not granted in the emulator")
        if not view.directory_roles(principal["id"]):
            raise MatrixFailure(f"{host}: no directory role is assigned in the emulator")
        if local.report().get("verified") is not True:
            raise MatrixFailure(f"{host}: the role's report does not say the certificate was verified")
    return {host: LocalCertificate(cert_root / host).thumbprint for host in pair.tenants}


def expect_report(pair, report_dir, thumbprints):
    import csv  # pylint: disable=import-outside-toplevel

    with open(report_dir / "certificate-expiry.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    found = {(row["tenant"], row["thumbprint"], row["status"]) for row in rows}
    wanted = {(host, thumbprints[host], "ok") for host in pair.tenants}
    if found != wanted:
        raise MatrixFailure(f"report.yml: rows {sorted(found)}, expected {sorted(wanted)}")


def run_pair(pair, emulator, collection, base_env):
    a, b = pair.tenants
    ensure_venv(pair)
    env = dict(base_env, PATH=f"{pair.venv / 'bin'}{os.pathsep}{base_env['PATH']}")
    pair.step = "versions"
    check_versions(pair, env)
    pair.step = "ansible-doc"
    check_docs(pair, env, collection)
    pair.step = "install"
    install_archive(pair, env, collection)
    pair.step = "unit tests"
    pair.command([pair.bin("python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                  *SEAM_TESTS], "units", env=env, cwd=REPO)
    books = Playbooks(pair, emulator, collection, env)

    # Each run has one tenant in the worker and one as module processes, alternating, so that each way
    # sets up, re-runs, checks and reports. "false" as text is what `-e m365_cba_in_process=false` passes.
    record, out, _writes = books.run("setup-fresh", "setup.yml", as_modules={b: False})
    expect_stats("setup-fresh", record, pair.tenants, changed=True)
    books.expect_ways("setup-fresh", out, as_modules=(b,), modules=ROLE_MODULES)
    thumbprints = expect_set_up(pair, emulator, books.cert_root)

    record, out, writes = books.run("setup-again", "setup.yml", as_modules={a: "false"})
    expect_stats("setup-again", record, pair.tenants, changed=False)
    expect_no_writes("setup-again", writes)
    books.expect_ways("setup-again", out, as_modules=(a,), modules=ROLE_MODULES)

    record, out, writes = books.run("setup-check", "setup.yml", as_modules={b: False}, check=True)
    expect_stats("setup-check", record, pair.tenants, changed=False)
    expect_no_writes("setup-check", writes)
    books.expect_ways("setup-check", out, as_modules=(b,), modules=ROLE_MODULES)
    if expect_set_up(pair, emulator, books.cert_root) != thumbprints:
        raise MatrixFailure("the certificates changed on a run that should change nothing")

    record, out, writes = books.run("report", "report.yml", as_modules={a: "false"})
    expect_stats("report", record, pair.tenants, changed=None)  # it writes the report files
    expect_no_writes("report", writes)
    books.expect_ways("report", out, as_modules=(a,), modules=REPORT_MODULES)
    expect_report(pair, books.work / "report-files", thumbprints)


def _leave_out(folder, names):
    """What the sanity copy leaves out: ansible-test's output and the emulator settings of the integration targets."""
    wanted = {"tests": {"output"}, "integration": {"integration_config.yml"}}.get(Path(folder).name, set())
    return [name for name in names if name in wanted]


def off_index_tests(pair):
    """{sanity test: requirement} for the tests whose pinned requirements in this pair's ansible-test name an
    address instead of a release on the package index (``name @ https://...``): pip cannot install those here.
    ansible-test 2.22's pylint, for one, pins a build of dill from a source archive."""
    found = {}
    for path in sorted(glob.glob(str(pair.venv / "lib" / "python*" / "site-packages" / "ansible_test" / "_data" /
                                     "requirements" / "sanity.*.txt"))):
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if re.match(r"^[A-Za-z0-9_.-]+\s*@\s*\w+://", line.split("#")[0].strip()):
                found[Path(path).name[len("sanity."):-len(".txt")]] = line.split("@")[0].strip()
    return found


def stand_in(pair, tests):
    """The newest listed pair older than ``pair`` whose ansible-test installs every one of ``tests`` from the
    package index, made ready; None when there is none."""
    for core, python in reversed(PAIRS):
        other = Pair(core, python, pair.logdir.parents[1])
        if other.minor == pair.minor or [int(x) for x in other.core.split(".")] > [int(x) for x in pair.core.split(".")]:
            continue
        other.log = pair.log
        ensure_venv(other)
        if not set(tests) & set(off_index_tests(other)):
            return other
    return None


def sanity_pair(pair, collection, base_env):
    """ansible-test sanity with this pair's ansible-test, on a copy of its own of the collection. A test whose
    requirements this ansible-test pins outside the package index runs with the newest older ansible-test
    that installs it (a note says which); every other test runs with this one."""
    ensure_venv(pair)
    env = dict(base_env, PATH=f"{pair.venv / 'bin'}{os.pathsep}{base_env['PATH']}")
    pair.step = "sanity"
    copy = pair.logdir / "sanity" / "ansible_collections" / "m365" / "cba"
    shutil.rmtree(copy.parents[2], ignore_errors=True)
    shutil.copytree(collection, copy, symlinks=True, ignore=_leave_out)
    if not (copy / ".git").exists():
        subprocess.run(["git", "init", "-q", str(copy)], check=True)
    pair.command(["bash", GET_PIP], "place-get-pip", env=env)
    skipped = off_index_tests(pair)
    skip = [arg for test in sorted(skipped) for arg in ("--skip-test", test)]
    pair.command([pair.bin("ansible-test"), "sanity", "--venv", "--python", pair.python, "--color", "no", *skip],
                 "sanity", env=env, cwd=copy, timeout=1800)
    if not skipped:
        return
    other = stand_in(pair, skipped)
    if other is None:
        raise MatrixFailure(f"{', '.join(sorted(skipped))}: its requirements are not on the package index"
                            f" ({', '.join(sorted(set(skipped.values())))}) and no older ansible-test installs them")
    pair.note(f"{', '.join(sorted(skipped))}: ansible-test {pair.core} pins {', '.join(sorted(set(skipped.values())))}"
              f" outside the package index; run with ansible-test {other.core} instead")
    other_env = dict(base_env, PATH=f"{other.venv / 'bin'}{os.pathsep}{base_env['PATH']}")
    tests = [arg for test in sorted(skipped) for arg in ("--test", test)]
    pair.command([other.bin("ansible-test"), "sanity", "--venv", "--python", other.python, "--color", "no", *tests],
                 "sanity-stand-in", env=other_env, cwd=copy, timeout=1800)


def select(only, build):
    """(pairs, notes): one listed pair per version and what the package index serves today, without ``only``;
    "all" adds the edge pairs; else the pairs named (2.19, 2.19/3.13, oldest, newest, latest, pre-release)."""
    pairs = [Pair(core, python, build) for core, python in PAIRS + EDGE_PAIRS]
    if not only or only == "all":
        found, said = discover(build)
        return (pairs if only else pairs[:len(PAIRS)]) + found, said
    chosen, said = [], []
    for word in only.split(","):
        word = ALIASES.get(word.strip(), word.strip())
        if word in ("latest", "pre-release"):
            found, said = discover(build, latest=word == "latest", pre_release=word == "pre-release")
            chosen += found
            continue
        minor, _slash, python = word.partition("/")
        matches = [p for p in pairs if p.minor == minor and (not python or p.python == python)]
        if not matches:
            sys.exit(f"no pair {word!r} in the matrix: {', '.join(p.label for p in pairs)}, latest, pre-release")
        chosen += [p for p in matches if p not in chosen]
    return chosen, said


def find_collection():
    for entry in os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep):
        candidate = Path(entry).expanduser() / "ansible_collections" / "m365" / "cba"
        if entry and (candidate / "playbooks" / "setup.yml").is_file():
            return candidate
    sys.exit("set ANSIBLE_COLLECTIONS_PATH to a directory holding ansible_collections/m365/cba (make collection builds one)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("run", "sanity"))
    parser.add_argument("--only", default="", help="pairs, e.g. 2.19,2.20/3.12,oldest,newest; all for the edge pairs too"
                        " (default: one pair per version)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--build", default=os.environ.get("BUILD", str(REPO / "build")))
    args = parser.parse_args()
    build = Path(args.build).resolve()
    collection = find_collection()
    pairs, found = select(args.only, build)
    for line in found:
        print(f"matrix: {line}", flush=True)
    check_requires_ansible(collection, pairs)
    base_env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_RETRY_FILES_ENABLED="0",
                    ANSIBLE_FORKS="5", ANSIBLE_COLLECTIONS_PATH=str(collection.parents[2]),
                    ANSIBLE_CALLBACK_PLUGINS=str(REPO / "tests" / "e2e" / "callback_plugins"),
                    ANSIBLE_CALLBACKS_ENABLED="run_record")
    base_env.pop("VIRTUAL_ENV", None)
    base_env.pop("PYTHONPATH", None)
    for pair in pairs:
        shutil.rmtree(pair.logdir / ("sanity" if args.action == "sanity" else "work"), ignore_errors=True)
        pair.logdir.mkdir(parents=True, exist_ok=True)
        pair.log = open(pair.logdir / f"{args.action}.log", "w", encoding="utf-8")  # pylint: disable=consider-using-with
    started = time.monotonic()
    results = {}

    def attempt(pair, work, *work_args):
        pair.started = time.monotonic()
        try:
            work(pair, *work_args)
            results[pair.label] = ("passed", "", time.monotonic() - pair.started)
        except Exception as error:  # pylint: disable=broad-except
            why = str(error) if str(error).startswith(pair.step) else f"{pair.step}: {error}"
            pair.note(f"\nFAILED at {why}")
            results[pair.label] = ("FAILED", why, time.monotonic() - pair.started)
        print(f"matrix {args.action}: {pair.label} {results[pair.label][0]} ({results[pair.label][2]:.0f} s)", flush=True)

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        if args.action == "run":
            seed = [{"name": name} for pair in pairs for name in pair.tenants]
            with Emulator(str(build / "matrix" / "emulator"), seed=seed) as emulator:
                list(pool.map(lambda p: attempt(p, run_pair, emulator, collection, base_env), pairs))
        else:
            list(pool.map(lambda p: attempt(p, sanity_pair, collection, base_env), pairs))
    for pair in pairs:
        pair.log.close()

    lines = [f"# ansible-core matrix: {args.action}", "", *[f"- {line}" for line in found], "",
             "| ansible-core | Python | kind | result | seconds | failed at |", "| --- | --- | --- | --- | --- | --- |"]
    for pair in pairs:
        state, why, seconds = results[pair.label]
        if state != "passed" and pair.informational:
            state = "failed (information)"
        lines.append(f"| {pair.core} | {pair.python} | {pair.kind} | {state} | {seconds:.0f} |"
                     f" {why.splitlines()[0][:160] if why else ''} |")
    lines.append(f"\n{len(pairs)} pairs in {time.monotonic() - started:.0f} s, {args.jobs} at a time.")
    summary = "\n".join(lines) + "\n"
    (build / "matrix").mkdir(parents=True, exist_ok=True)
    (build / "matrix" / f"summary-{args.action}.md").write_text(summary, encoding="utf-8")
    unpassed = [p for p in pairs if results[p.label][0] != "passed"]
    for pair in unpassed:
        log = (pair.logdir / f"{args.action}.log").read_text(encoding="utf-8")
        print(f"\n===== {pair.label}: {results[pair.label][1]}\n----- tail of {pair.logdir}/{args.action}.log\n{_tail(log, 60)}")
    print("\n" + summary)
    failed = [p for p in unpassed if not p.informational]
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
