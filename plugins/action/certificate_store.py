# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Runs m365.cba.certificate_store in the controller's worker process on a local connection (see plugin_utils._in_process)."""

from __future__ import annotations

from ansible_collections.m365.cba.plugins.plugin_utils._in_process import InProcessAction, preload

preload("certificate_store")


class ActionModule(InProcessAction):
    MODULE = "certificate_store"
