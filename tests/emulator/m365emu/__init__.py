# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Local, stateful emulator of Microsoft Entra ID (token endpoint) and Microsoft Graph v1.0.

It serves HTTPS on 127.0.0.1 and reproduces the behaviours documented for the real services
closely enough that clients (msal, the collection's modules) can be tested offline.
"""

from .emulator import Emulator

__all__ = ["Emulator"]
