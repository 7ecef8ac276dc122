# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Print the integration_config.yml (extra vars for every target) for a running emulator (and OpenBao server)."""

from __future__ import annotations

import json
import os
import sys


def main(state_dir, bao_dir=None):
    with open(os.path.join(state_dir, "emulator.json"), encoding="utf-8") as handle:
        info = json.load(handle)
    tenant = info["tenants"][0]
    boot = tenant["bootstrap"]
    auth = {
        "tenant_id": tenant["tenant_id"],
        "client_id": boot["client_id"],
        "client_certificate_path": boot["certificate_path"],
        "authority_host": info["base_url"],
        "graph_endpoint": info["base_url"],
        "ca_bundle": info["ca_bundle"],
        "token_cache_dir": os.path.join(state_dir, "token-cache"),
    }
    config = {
        "m365_emulator_url": info["base_url"],
        "m365_ca_bundle": info["ca_bundle"],
        "m365_tenant_id": tenant["tenant_id"],
        "m365_initial_domain": tenant["initial_domain"],
        "m365_client_id": boot["client_id"],
        "m365_client_secret": boot["client_secret"],
        "m365_client_certificate_path": boot["certificate_path"],
        "m365_auth": auth,
        "m365_other_tenant_id": info["tenants"][1]["tenant_id"] if len(info["tenants"]) > 1 else None,
    }
    bao_state = os.path.join(bao_dir, "openbao.json") if bao_dir else None
    if bao_state and os.path.exists(bao_state):
        with open(bao_state, encoding="utf-8") as handle:
            bao = json.load(handle)
        # The OpenBao dev server of tests/utils/openbao.py, for the certificate_store target.
        config["vault_addr"] = bao["address"]
        config["vault_token"] = bao["root_token"]
    # JSON is valid YAML, and needs no third-party library here.
    json.dump(config, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(*sys.argv[1:3])
