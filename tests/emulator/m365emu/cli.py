# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Command line: serve in the foreground, start/stop a background instance, report its status."""

import argparse
import json
import logging
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request

from .emulator import Emulator
from .files import read_json

PID_FILE = "emulator.pid"
INFO_FILE = "emulator.json"
LOG_FILE = "emulator.log"
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _parser():
    parser = argparse.ArgumentParser(prog="python -m m365emu", description="Microsoft Entra ID + Graph emulator")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("serve", "run in the foreground"), ("start", "run in the background and wait until ready")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--state-dir", required=True)
        sub.add_argument("--host", default="127.0.0.1")
        sub.add_argument("--port", type=int, default=0)
        group = sub.add_mutually_exclusive_group()
        group.add_argument("--tenants", type=int, default=3, help="number of seeded tenants (tenant01, ...)")
        group.add_argument("--seed", help="JSON file: list of {name, tenant_id?, bootstrap_permissions?, cloud?}")
        sub.add_argument("--state-file", help="load state from this file if present; save it after each write")
        sub.add_argument("--replication-lag", type=float, default=0.0, help="seconds before writes are visible")
        sub.add_argument("--fault", action="append", default=[], help="fault rule as JSON (repeatable)")
        sub.add_argument("--fault-seed", type=int, help="seed of the fault probability RNG")
        sub.add_argument("--setting", action="append", default=[], help="NAME=JSON run-time setting (repeatable)")
        if name == "start":
            sub.add_argument("--timeout", type=float, default=60.0)
    for name in ("stop", "status"):
        sub = commands.add_parser(name)
        sub.add_argument("--state-dir", required=True)
        sub.add_argument("--timeout", type=float, default=20.0)
    return parser


def _settings(pairs):
    settings = {}
    for pair in pairs:
        name, _sep, value = pair.partition("=")
        settings[name] = json.loads(value)
    return settings


def _faults(values):
    rules = []
    for value in values:
        parsed = json.loads(value)
        rules.extend(parsed if isinstance(parsed, list) else [parsed])
    return rules


def serve(args):
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    emulator = Emulator(args.state_dir, tenants=args.tenants, seed=args.seed, port=args.port, host=args.host,
                        replication_lag=args.replication_lag, state_file=args.state_file, faults=_faults(args.fault),
                        settings=_settings(args.setting), fault_seed=args.fault_seed)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    emulator.start()
    pid_path = os.path.join(emulator.state_dir, PID_FILE)
    with open(pid_path, "w", encoding="ascii") as stream:
        stream.write(f"{os.getpid()}\n")
    logging.getLogger("m365emu").info("serving %s (tenants: %s)", emulator.base_url,
                                      ", ".join(t["name"] for t in emulator.tenants))
    try:
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
        if os.path.exists(pid_path):
            os.unlink(pid_path)
    return 0


def _read_pid(state_dir):
    try:
        with open(os.path.join(state_dir, PID_FILE), encoding="ascii") as stream:
            return int(stream.read().strip())
    except (FileNotFoundError, ValueError):
        return None


def _running(pid):
    """True if pid is a live (not zombie) m365emu process."""
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stream:
            if stream.read().rsplit(") ", 1)[1].split()[0] == "Z":
                return False
        with open(f"/proc/{pid}/cmdline", "rb") as stream:
            return b"m365emu" in stream.read()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True


def _healthy(info):
    context = ssl.create_default_context(cafile=info["ca_bundle"])
    try:
        with urllib.request.urlopen(f"{info['base_url']}/_emulator/health", context=context, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _drop_timeout(argv):
    """The start command's arguments without --timeout, for the serve command."""
    result, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--timeout":
            skip = True
        elif not arg.startswith("--timeout="):
            result.append(arg)
    return result


def start(args, argv):
    state_dir = os.path.abspath(args.state_dir)
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    pid = _read_pid(state_dir)
    if _running(pid):
        sys.stderr.write(f"m365emu is already running for {state_dir} (pid {pid}); stop it first\n")
        return 1
    info_path = os.path.join(state_dir, INFO_FILE)
    if os.path.exists(info_path):
        os.unlink(info_path)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_PARENT, env.get("PYTHONPATH")) if p)
    serve_args = ["serve"] + _drop_timeout(argv[1:])
    with open(os.path.join(state_dir, LOG_FILE), "ab") as log, open(os.devnull, "rb") as devnull:
        child = subprocess.Popen([sys.executable, "-m", "m365emu"] + serve_args, stdin=devnull, stdout=log,  # pylint: disable=consider-using-with
                                 stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            sys.stderr.write(f"m365emu exited with {child.returncode}; see {os.path.join(state_dir, LOG_FILE)}\n")
            return 1
        if os.path.exists(info_path):
            info = read_json(info_path)
            if info.get("pid") == child.pid and _healthy(info):
                sys.stdout.write(info["base_url"] + "\n")
                child.returncode = 0  # detached on purpose: the server outlives this command
                return 0
        time.sleep(0.1)
    child.terminate()
    sys.stderr.write("m365emu did not become ready in time\n")
    return 1


def stop_command(args):
    state_dir = os.path.abspath(args.state_dir)
    pid = _read_pid(state_dir)
    if not _running(pid):
        sys.stdout.write("m365emu is not running\n")
        _remove(os.path.join(state_dir, PID_FILE))
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _running(pid):
        os.kill(pid, signal.SIGKILL)
        while _running(pid):
            time.sleep(0.1)
    _remove(os.path.join(state_dir, PID_FILE))
    sys.stdout.write(f"m365emu stopped (pid {pid})\n")
    return 0


def _remove(path):
    if os.path.exists(path):
        os.unlink(path)


def status(args):
    state_dir = os.path.abspath(args.state_dir)
    pid = _read_pid(state_dir)
    info_path = os.path.join(state_dir, INFO_FILE)
    if not _running(pid) or not os.path.exists(info_path):
        sys.stdout.write("m365emu is not running\n")
        return 3
    info = read_json(info_path)
    summary = {"running": True, "healthy": _healthy(info), "pid": pid, "base_url": info["base_url"],
               "ca_bundle": info["ca_bundle"], "inventory": info["inventory"],
               "tenants": [{"name": t["name"], "tenant_id": t["tenant_id"]} for t in info["tenants"]]}
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    return 0


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.command == "start":
        return start(args, argv)
    if args.command == "stop":
        return stop_command(args)
    return status(args)
