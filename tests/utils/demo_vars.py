# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write the extra vars of a run against the emulator: a random PFX password, a certificate directory.

Usage: demo_vars.py STATE_DIR CERT_ROOT  (prints the vars file's path; the file is mode 0600)
"""

from __future__ import annotations

import json
import os
import secrets
import sys


def main(state_dir, cert_root):
    path = os.path.join(state_dir, "demo-vars.json")
    if not os.path.exists(path):
        values = {
            "m365_cba_pfx_password": secrets.token_urlsafe(24),
            "m365_cba_certificate_dir": os.path.join(cert_root, "{{ inventory_hostname }}"),
            "m365_cba_token_cache_dir": os.path.join(state_dir, "token-cache"),
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(values, handle, indent=2)
    print(path)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
