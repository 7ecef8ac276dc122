# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Endpoints of the Microsoft clouds. Private to the m365.cba collection; no stable API."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

EXCHANGE_ONLINE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
MICROSOFT_GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
EXCHANGE_MANAGE_AS_APP_ROLE_ID = "dc50a0fb-09a3-484d-be87-e023b12c6440"


@dataclass(frozen=True)
class Cloud:
    name: str
    login_host: str
    graph_host: str
    exchange_host: str
    exchange_environment_name: str
    compliance_connection_uri: str | None
    azure_ad_authorization_endpoint_uri: str | None = None

    @property
    def authority_host(self) -> str:
        return "https://" + self.login_host

    @property
    def graph_endpoint(self) -> str:
        return "https://" + self.graph_host

    @property
    def graph_resource(self) -> str:
        return "https://" + self.graph_host

    @property
    def exchange_resource(self) -> str:
        return "https://" + self.exchange_host

    @staticmethod
    def scope_for(resource: str) -> str:
        """The client-credentials scope of a resource: its App ID URI followed by /.default."""
        return resource.rstrip("/") + "/.default"


CLOUDS = {
    cloud.name: cloud
    for cloud in (
        Cloud(
            name="global",
            login_host="login.microsoftonline.com",
            graph_host="graph.microsoft.com",
            exchange_host="outlook.office365.com",
            exchange_environment_name="O365Default",
            compliance_connection_uri=None,
        ),
        Cloud(
            name="usgov_high",
            login_host="login.microsoftonline.us",
            graph_host="graph.microsoft.us",
            exchange_host="outlook.office365.us",
            exchange_environment_name="O365USGovGCCHigh",
            compliance_connection_uri="https://ps.compliance.protection.office365.us/powershell-liveid/",
        ),
        Cloud(
            name="usgov_dod",
            login_host="login.microsoftonline.us",
            graph_host="dod-graph.microsoft.us",
            exchange_host="webmail.apps.mil",
            exchange_environment_name="O365USGovDoD",
            compliance_connection_uri="https://compliance.dod.microsoft.com/powershell-liveid",
        ),
        Cloud(
            name="china",
            login_host="login.chinacloudapi.cn",
            graph_host="microsoftgraph.chinacloudapi.cn",
            exchange_host="partner.outlook.cn",
            exchange_environment_name="O365China",
            compliance_connection_uri="https://ps.compliance.protection.partner.outlook.cn/powershell-liveid",
            azure_ad_authorization_endpoint_uri="https://login.chinacloudapi.cn/common",
        ),
    )
}


def get_cloud(name: str | None) -> Cloud:
    """The cloud called ``name`` (default ``global``); ValueError naming the choices otherwise."""
    try:
        return CLOUDS[name or "global"]
    except KeyError:
        raise ValueError(f"unknown cloud '{name}'; choose one of {', '.join(sorted(CLOUDS))}") from None


# What each endpoint override is, for the messages of endpoint_mismatch().
_ENDPOINT_KINDS = {"authority_host": ("login_host", "sign-in host"), "graph_endpoint": ("graph_host", "Microsoft Graph host")}


def _known_host(host):
    """(cloud, what) for a host name of one of the known clouds, or None."""
    for cloud in CLOUDS.values():
        for attribute, what in (("login_host", "sign-in host"), ("graph_host", "Microsoft Graph host"),
                                ("exchange_host", "Exchange Online host")):
            if getattr(cloud, attribute) == host:
                return cloud, what
    return None


def endpoint_mismatch(cloud_name, option, url):
    """Why ``url``, given as ``option`` (authority_host or graph_endpoint), does not belong to the cloud
    ``cloud_name``, or None. Only the hosts of the known clouds are judged: a private or test
    endpoint (any other host) is what the overrides are for. The token audience follows ``cloud``, so
    a known host of another cloud would only fail later, with AADSTS500011 and no option named."""
    if not url:
        return None
    try:
        cloud = get_cloud(cloud_name)
    except ValueError:
        return None  # the unknown cloud is reported on its own
    host = (urlsplit(url.strip()).hostname or "").lower().rstrip(".")
    known = _known_host(host)
    attribute, what = _ENDPOINT_KINDS[option]
    expected = getattr(cloud, attribute)
    if known is None or host == expected:
        return None
    other, other_what = known
    where = "the same cloud" if other.name == cloud.name else f"the {other.name} cloud"
    shown_cloud = cloud_name or "global (the default)"
    return (f"{url} is the {other_what} of {where}, but cloud is {shown_cloud}, whose {what} is https://{expected}; "
            f"set cloud to the tenant's cloud and leave {option} unset, or give {option} a host of that cloud")
