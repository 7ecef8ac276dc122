# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shapes of the directory objects as Microsoft Graph v1.0 returns them."""

import secrets
import uuid

from .crypto import b64url

# Nested complex types: property -> allowed member names (None = free-form / not validated deeper).
COMPLEX_TYPES = {
    "web": {"homePageUrl", "logoutUrl", "redirectUris", "implicitGrantSettings", "redirectUriSettings"},
    "spa": {"redirectUris"},
    "publicClient": {"redirectUris"},
    "api": {"acceptMappedClaims", "knownClientApplications", "oauth2PermissionScopes",
            "preAuthorizedApplications", "requestedAccessTokenVersion"},
    "info": {"logoUrl", "marketingUrl", "privacyStatementUrl", "supportUrl", "termsOfServiceUrl"},
    "parentalControlSettings": {"countriesBlockedForMinors", "legalAgeGroupRule"},
    "optionalClaims": {"idToken", "accessToken", "saml2Token"},
    "servicePrincipalLockConfiguration": {"isEnabled", "allProperties", "credentialsWithUsageVerify",
                                          "credentialsWithUsageSign", "identifierUris", "tokenEncryptionKeyId"},
}
COMPLEX_TYPE_NAMES = {
    "web": "webApplication", "spa": "spaApplication", "publicClient": "publicClientApplication",
    "api": "apiApplication", "info": "informationalUrl", "parentalControlSettings": "parentalControlSettings",
    "optionalClaims": "optionalClaims", "servicePrincipalLockConfiguration": "servicePrincipalLockConfiguration",
}

APPLICATION_READ_ONLY = {
    "id", "appId", "createdDateTime", "deletedDateTime", "publisherDomain", "uniqueName", "passwordCredentials",
    "verifiedPublisher", "certification", "disabledByMicrosoftStatus", "applicationTemplateId",
}
SERVICE_PRINCIPAL_WRITABLE = {
    "accountEnabled", "addIns", "alternativeNames", "appRoleAssignmentRequired", "description", "displayName",
    "homepage", "loginUrl", "logoutUrl", "notes", "notificationEmailAddresses", "preferredSingleSignOnMode",
    "replyUrls", "samlSingleSignOnSettings", "servicePrincipalNames", "tags", "appDescription",
}
SIGN_IN_AUDIENCES = ("AzureADMyOrg", "AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount", "PersonalMicrosoftAccount")


def new_id():
    return str(uuid.uuid4())


def application(publisher_domain, display_name, created, sign_in_audience):
    return {
        "id": new_id(), "deletedDateTime": None, "appId": new_id(), "applicationTemplateId": None,
        "disabledByMicrosoftStatus": None, "createdDateTime": created, "displayName": display_name,
        "description": None, "groupMembershipClaims": None, "identifierUris": [], "isDeviceOnlyAuthSupported": None,
        "isFallbackPublicClient": None, "nativeAuthenticationApisEnabled": None, "notes": None,
        "publisherDomain": publisher_domain, "serviceManagementReference": None, "signInAudience": sign_in_audience,
        "tags": [], "tokenEncryptionKeyId": None, "uniqueName": None, "samlMetadataUrl": None,
        "defaultRedirectUri": None, "certification": None, "optionalClaims": None,
        "requestSignatureVerification": None, "servicePrincipalLockConfiguration": None, "addIns": [],
        "api": {"acceptMappedClaims": None, "knownClientApplications": [], "requestedAccessTokenVersion": None,
                "oauth2PermissionScopes": [], "preAuthorizedApplications": []},
        "appRoles": [],
        "info": {"logoUrl": None, "marketingUrl": None, "privacyStatementUrl": None, "supportUrl": None,
                 "termsOfServiceUrl": None},
        "keyCredentials": [], "oauth2RequirePostResponse": False,
        "parentalControlSettings": {"countriesBlockedForMinors": [], "legalAgeGroupRule": "Allow"},
        "passwordCredentials": [], "publicClient": {"redirectUris": []}, "requiredResourceAccess": [],
        "verifiedPublisher": {"displayName": None, "verifiedPublisherId": None, "addedDateTime": None},
        "web": {"homePageUrl": None, "logoutUrl": None, "redirectUris": [], "redirectUriSettings": [],
                "implicitGrantSettings": {"enableAccessTokenIssuance": False, "enableIdTokenIssuance": False}},
        "spa": {"redirectUris": []},
    }


def service_principal(app_id, display_name, owner_tenant_id, created, **extra):
    obj = {
        "id": new_id(), "deletedDateTime": None, "accountEnabled": True, "alternativeNames": [],
        "appDisplayName": display_name, "appDescription": None, "appId": app_id, "applicationTemplateId": None,
        "appOwnerOrganizationId": owner_tenant_id, "appRoleAssignmentRequired": False, "createdDateTime": created,
        "description": None, "disabledByMicrosoftStatus": None, "displayName": display_name, "homepage": None,
        "loginUrl": None, "logoutUrl": None, "notes": None, "notificationEmailAddresses": [],
        "preferredSingleSignOnMode": None, "preferredTokenSigningKeyThumbprint": None, "replyUrls": [],
        "servicePrincipalNames": [app_id], "servicePrincipalType": "Application",
        "signInAudience": "AzureADMultipleOrgs", "tags": [], "tokenEncryptionKeyId": None,
        "samlSingleSignOnSettings": None, "addIns": [], "appRoles": [],
        "info": {"logoUrl": None, "marketingUrl": None, "privacyStatementUrl": None, "supportUrl": None,
                 "termsOfServiceUrl": None},
        "keyCredentials": [], "oauth2PermissionScopes": [], "passwordCredentials": [],
        "resourceSpecificApplicationPermissions": [],
        "verifiedPublisher": {"displayName": None, "verifiedPublisherId": None, "addedDateTime": None},
    }
    obj.update(extra)
    return obj


def app_role(value, role_id, display_name, description=None):
    return {
        "allowedMemberTypes": ["Application"], "description": description or display_name,
        "displayName": display_name, "id": role_id, "isEnabled": True, "origin": "Application", "value": value,
    }


def app_role_assignment(principal, resource, app_role_id, created):
    # Real assignment ids are opaque base64url strings that start with the principal's id bytes.
    return {
        "id": b64url(uuid.UUID(principal["id"]).bytes_le + secrets.token_bytes(16)), "deletedDateTime": None,
        "appRoleId": app_role_id, "createdDateTime": created, "principalDisplayName": principal["displayName"],
        "principalId": principal["id"], "principalType": "ServicePrincipal",
        "resourceDisplayName": resource["displayName"], "resourceId": resource["id"],
    }


def role_assignment(tenant_id, principal_id, role_definition_id, directory_scope_id, app_scope_id):
    # Real ids: base64url(roleDefinitionId bytes) + base64url(principalId bytes) + "-1" for scope "/".
    suffix = "-1" if directory_scope_id == "/" else "-" + b64url(secrets.token_bytes(6))
    return {
        "id": b64url(uuid.UUID(role_definition_id).bytes_le) + b64url(uuid.UUID(principal_id).bytes_le) + suffix,
        "principalId": principal_id, "principalOrganizationId": tenant_id, "roleDefinitionId": role_definition_id,
        "directoryScopeId": directory_scope_id, "appScopeId": app_scope_id,
        "resourceScope": directory_scope_id or app_scope_id, "condition": None,
    }


def role_definition(display_name, template_id, description):
    return {
        "id": template_id, "description": description, "displayName": display_name, "isBuiltIn": True,
        "isEnabled": True, "resourceScopes": ["/"], "templateId": template_id, "version": "1",
        "rolePermissions": [{"allowedResourceActions": [], "condition": None}], "inheritsPermissionsFrom": [],
    }


def organization(tenant_id, display_name, initial_domain, created):
    return {
        "id": tenant_id, "deletedDateTime": None, "businessPhones": [], "city": None, "country": None,
        "countryLetterCode": "US", "createdDateTime": created, "defaultUsageLocation": None,
        "displayName": display_name, "isMultipleDataLocationsForServicesEnabled": None,
        "marketingNotificationEmails": [], "onPremisesLastSyncDateTime": None, "onPremisesSyncEnabled": None,
        "partnerTenantType": None, "postalCode": None, "preferredLanguage": "en", "state": None, "street": None,
        "securityComplianceNotificationMails": [], "securityComplianceNotificationPhones": [],
        "technicalNotificationMails": [], "tenantType": "AAD", "assignedPlans": [], "provisionedPlans": [],
        "privacyProfile": None,
        "verifiedDomains": [{"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": True,
                             "isInitial": True, "name": initial_domain, "type": "Managed"}],
    }


def public(obj, keep_keys=False):
    """The object as clients see it: no internal fields, certificate bodies hidden by default."""
    shown = {k: v for k, v in obj.items() if not k.startswith("_")}
    if "keyCredentials" in shown:
        shown["keyCredentials"] = [_public_key_credential(c, keep_keys) for c in shown["keyCredentials"]]
    if "passwordCredentials" in shown:
        shown["passwordCredentials"] = [
            {k: v for k, v in c.items() if not k.startswith("_")} for c in shown["passwordCredentials"]
        ]
    return shown


def _public_key_credential(credential, keep_key):
    shown = {k: v for k, v in credential.items() if not k.startswith("_")}
    if not keep_key:
        shown["key"] = None
    return shown
