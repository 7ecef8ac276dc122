# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Attributes every module declares; modules state their support level.
    DOCUMENTATION = r"""
options: {}
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
    details:
      - On a C(local) connection without C(become) or C(async), the action plugin runs the module inside the
        controller's worker process instead of starting a new Python for it; the arguments, check mode, diff,
        C(no_log), the task's C(environment) and the result are the same either way.
      - It runs as an ordinary module when the controller's Python cannot import requests, msal or cryptography,
        when this ansible-core lacks a public interface the worker path uses, or when the variable
        C(m365_cba_in_process) is V(false).
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation
        indicates no change.
"""

    # Modules that talk to Microsoft Graph belong to the action group.
    ACTIONGROUP_GRAPH = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/m365.cba.graph) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - m365.cba.graph
"""

    # Read-only modules.
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details: This module changes nothing, so it runs the same in check mode.
  diff_mode:
    support: N/A
    details: This module changes nothing.
  idempotent:
    support: full
"""
