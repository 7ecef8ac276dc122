#!/usr/bin/env bash
# ansible-test sanity --venv downloads a get-pip script from a host that is not reachable here.
# Place a small stand-in for it that bootstraps pip with ensurepip and installs from the package
# index pip is configured for.
set -euo pipefail
cache="${HOME}/.ansible/test/cache"
mkdir -p "$cache"
# The file name carries the pip version ansible-test bootstraps: 23.1.2 (ansible-core 2.16), 24.2 (2.19),
# 25.2 (2.20 to 2.22).
for version in 23_1_2 24_2 25_2; do
  cat > "$cache/get_pip_${version}.py" <<'PY'
"""Stand-in for get-pip.py: bootstrap pip with ensurepip, then install what was asked for."""
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
if args:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--disable-pip-version-check"] + args)
PY
done
