# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Identifiers that are the same in every Microsoft Entra tenant."""

import uuid

MICROSOFT_SERVICES_TENANT_ID = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
MANAGE_AS_APP_ROLE_ID = "dc50a0fb-09a3-484d-be87-e023b12c6440"
DEFAULT_ACCESS_APP_ROLE_ID = "00000000-0000-0000-0000-000000000000"
# The `wids` entry Entra adds to every app-only token (seen in real tokens, e.g. msgraph-sdk-powershell#1782;
# no role definition has this id).
APP_ONLY_DEFAULT_WID = "0997a1d0-0d1d-4acb-b408-d5ca73121e90"

_LOOKALIKE_NAMESPACE = uuid.UUID("6f1d4c52-7d7e-4bb4-9f2c-1c0f6e8a5a11")


def _lookalike_id(value):
    # Real ids of these roles are not published; a stable, clearly different GUID stands in.
    return str(uuid.uuid5(_LOOKALIKE_NAMESPACE, value))


# (value, id, displayName)
GRAPH_APP_ROLES = (
    ("Application.Read.All", "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30", "Read all applications"),
    ("Application.ReadWrite.All", "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9", "Read and write all applications"),
    ("Application.ReadWrite.OwnedBy", "18a4783c-866b-4cc7-a460-3d5e5662c884", "Manage apps that this app creates or owns"),
    ("AppRoleAssignment.ReadWrite.All", "06b708a9-e830-4db3-a914-8e69da51d44f",
     "Manage app permission grants and app role assignments"),
    ("RoleManagement.Read.Directory", "483bed4a-2ad3-4361-a73b-c83ccdbdc53c", "Read all directory RBAC settings"),
    ("RoleManagement.ReadWrite.Directory", "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8",
     "Read and write all directory RBAC settings"),
    ("RoleManagement.Read.All", "c7fbd983-d9aa-4fa7-84b8-17382c103bc4", "Read role management data for all RBAC providers"),
    ("Organization.Read.All", "498476ce-e0fe-48b0-b801-37ba7e2685c6", "Read organization information"),
    ("Organization.ReadWrite.All", "292d869f-3427-49a8-9dab-8c70152b74e9", "Read and write organization information"),
    ("Directory.Read.All", "7ab1d382-f21e-4acd-a863-ba3e13f7da61", "Read directory data"),
    ("Directory.ReadWrite.All", "19dbc75e-c2e2-444c-a770-ec69d8559fc7", "Read and write directory data"),
    ("User.Read.All", "df021288-bdef-4463-88db-98f22de89214", "Read all users' full profiles"),
)

EXCHANGE_APP_ROLES = (
    ("Exchange.ManageAsApp", MANAGE_AS_APP_ROLE_ID, "Manage Exchange As Application"),
    ("full_access_as_app", "dc890d15-9560-4a4c-9b7f-a736ec74ec40", "Use Exchange Web Services with full access to all mailboxes"),
    ("Exchange.ManageAsAppV2", _lookalike_id("Exchange.ManageAsAppV2"), "Manage Exchange As Application (V2)"),
    ("Exchange.AdminAPI.ManageAsApp", _lookalike_id("Exchange.AdminAPI.ManageAsApp"), "Exchange Admin API as application"),
)

DEFAULT_BOOTSTRAP_PERMISSIONS = (
    "Application.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "RoleManagement.ReadWrite.Directory",
    "Organization.Read.All",
)

# (displayName, templateId, description); for built-in roles id == templateId.
DIRECTORY_ROLES = (
    ("Exchange Administrator", "29232cdf-9323-42fd-ade2-1d097af3e4de", "Can manage all aspects of the Exchange product."),
    ("Exchange Recipient Administrator", "31392ffb-586c-42d1-9346-e59415a2cc4e",
     "Can create or update Exchange Online recipients within the Exchange Online organization."),
    ("Global Administrator", "62e90394-69f5-4237-9190-012177145e10",
     "Can manage all aspects of Microsoft Entra ID and Microsoft services that use Microsoft Entra identities."),
    ("Global Reader", "f2ef992c-3afb-46b9-b7cf-a126ee74c451", "Can read everything that a Global Administrator can, but not update anything."),
    ("Compliance Administrator", "17315797-102d-40b4-93e0-432062caca18",
     "Can read and manage compliance configuration and reports in Microsoft Entra ID and Microsoft 365."),
    ("Security Administrator", "194ae4cb-b126-40b2-bd5b-6091b380977d",
     "Can read security information and reports, and manage configuration in Microsoft Entra ID and Office 365."),
    ("Security Reader", "5d6b6bb7-de71-4623-b4af-96380a352509", "Can read security information and reports in Microsoft Entra ID and Office 365."),
    ("Helpdesk Administrator", "729827e3-9c14-49f7-bb1b-9608f156bbb8", "Can reset passwords for non-administrators and Helpdesk Administrators."),
    ("Compliance Data Administrator", "e6d1a23a-da11-4be4-9570-befc86d067a7", "Creates and manages compliance content."),
    ("Security Operator", "5f2222b1-57c3-48ba-8ad5-d4759f1fde6f", "Creates and manages security events."),
    ("SharePoint Administrator", "f28a1f50-f6e7-4571-818b-6a12f2af6b6c", "Can manage all aspects of the SharePoint service."),
    ("Teams Administrator", "69091246-20e8-4a56-aa4d-066075b2a7a8", "Can manage the Microsoft Teams service."),
    ("Privileged Role Administrator", "e8611ab8-c189-46e8-94e1-60213ab1f814",
     "Can manage role assignments in Microsoft Entra ID, and all aspects of Privileged Identity Management."),
    ("Application Administrator", "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
     "Can create and manage all aspects of app registrations and enterprise apps."),
    ("Cloud Application Administrator", "158c047a-c907-4556-b7ef-446551a6b5f7",
     "Can create and manage all aspects of app registrations and enterprise apps except App Proxy."),
)

# Resource identifiers per cloud: Graph and Exchange Online as they appear in token audiences.
CLOUDS = {
    "global": {"graph": "https://graph.microsoft.com", "exchange": "https://outlook.office365.com",
               "compliance": "https://ps.compliance.protection.outlook.com"},
    "usgov_high": {"graph": "https://graph.microsoft.us", "exchange": "https://outlook.office365.us",
                   "compliance": "https://ps.compliance.protection.office365.us"},
    "usgov_dod": {"graph": "https://dod-graph.microsoft.us", "exchange": "https://webmail.apps.mil",
                  "compliance": "https://compliance.dod.microsoft.com"},
    "china": {"graph": "https://microsoftgraph.chinacloudapi.cn", "exchange": "https://partner.outlook.cn",
              "compliance": "https://ps.compliance.protection.partner.outlook.cn"},
}


def graph_role_id(value):
    for role_value, role_id, _name in GRAPH_APP_ROLES:
        if role_value == value:
            return role_id
    return None
