# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The cmdlets the emulated Exchange Online (and Security & Compliance) admin API runs: their
parameters as documented for Exchange Online, parameter binding as PowerShell does it for a JSON
``CmdletInput``, and the handlers over the tenant's Exchange state.

Parameters: names match case-insensitively and exactly (no prefixes). A name the cmdlet does not
have in Exchange Online is refused like PowerShell refuses it; a name the documentation lists but
the emulator does not model answers 501, never a silent success. Encoding: switches are JSON
booleans, arrays JSON arrays (a single value binds as one element), hashtables JSON objects tagged
``"@odata.type": "#Exchange.GenericHashTable"``; ``"<Param>@odata.type"`` siblings are annotations."""

from . import exchange_state as xstate
from .errors import ExchangeError

BINDING = "System.Management.Automation.ParameterBindingException"
NOT_FOUND = "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"
HASHTABLE = "#Exchange.GenericHashTable"
DEFAULT_RESULT_SIZE = 1000
DEFAULT_SIZE_WARNING = (
    "By default, only the first 1000 items are returned. Use the ResultSize parameter to specify the number of items "
    "returned. To return all items, specify \"-ResultSize Unlimited\". Be aware that, depending on the actual number "
    "of items, returning all items can take a long time and consume a large amount of memory. Also, we don't "
    "recommend storing the results in a variable. Instead, pipe the results to another task or script to perform "
    "batch changes.")
MORE_RESULTS_WARNING = ("There are more results available than are currently displayed. To view them, increase the "
                        "value for the ResultSize parameter.")
RECIPIENT_TYPE_DETAILS = ("DiscoveryMailbox", "EquipmentMailbox", "GroupMailbox", "LegacyMailbox", "LinkedMailbox",
                          "LinkedRoomMailbox", "RoomMailbox", "SchedulingMailbox", "SharedMailbox", "TeamMailbox",
                          "UserMailbox")
# Value annotations as the service writes them (IDX-BURP capture of Get-Mailbox).
GUID_PROPERTIES = {"Guid", "ExchangeGuid"}
DATE_PROPERTIES = {"WhenMailboxCreated", "WhenCreatedUTC"}


def binding_error(error_id, message, status=400):
    return ExchangeError(status, "BadRequest", message, BINDING, error_id)


def not_emulated(what):
    return ExchangeError(501, "NotImplemented", f"m365emu does not emulate {what}.")


def not_found(tenant, identity):
    return ExchangeError(404, "NotFound", f"The operation couldn't be performed because object '{identity}' couldn't be "
                         f"found on '{xstate.server_suffix(tenant)}'.", NOT_FOUND, "Ex6F9304")


class Param:
    """One parameter: ``kind`` is string, text (nullable string), switch, unlimited, enums or multivalued."""

    def __init__(self, name, kind="string", mandatory=False, values=(), type_name="System.String"):
        self.name = name
        self.kind = kind
        self.mandatory = mandatory
        self.values = values
        self.type_name = type_name

    def _cannot_convert(self, value, detail=""):
        shown = value if isinstance(value, str) else type(value).__name__
        text = f"Cannot bind parameter '{self.name}'. Cannot convert value \"{shown}\" to type \"{self.type_name}\"."
        return binding_error("CannotConvertArgumentNoMessage,ParameterArgumentTransformationError",
                             text + (f" Error: \"{detail}\"" if detail else ""))

    def bind(self, value):
        return getattr(self, f"_bind_{self.kind}")(value)

    def _bind_string(self, value):
        if value is None:
            raise binding_error("ParameterArgumentValidationErrorNullNotAllowed",
                                f"Cannot bind argument to parameter '{self.name}' because it is null.")
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise self._cannot_convert(value)
        return str(value)

    def _bind_text(self, value):
        return "" if value is None else self._bind_string(value)

    def _bind_switch(self, value):
        if not isinstance(value, bool):
            raise binding_error("ParameterArgumentTransformationError",
                                f"Cannot convert '{type(value).__name__}' to the type "
                                f"'System.Management.Automation.SwitchParameter' required by parameter '{self.name}'.")
        return value

    def _bind_unlimited(self, value):
        if isinstance(value, str) and value.strip().lower() == "unlimited":
            return None
        number = value
        if isinstance(value, str) and value.strip().isdigit():
            number = int(value.strip())
        if isinstance(number, bool) or not isinstance(number, int) or number < 1 or number > 4294967295:
            raise self._cannot_convert(value)
        return number

    def _bind_enums(self, value):
        items = value if isinstance(value, list) else [value]
        names = {v.lower(): v for v in self.values}
        bound = []
        for item in items:
            if not isinstance(item, str) or item.lower() not in names:
                raise self._cannot_convert(item, "Unable to match the identifier name {0} to a valid enumerator name. "
                                           "Specify one of the following enumerator names and try again: {1}".format(
                                               item, ", ".join(self.values)))
            bound.append(names[item.lower()])
        return bound

    def _bind_multivalued(self, value):
        """('replace', [values]) or ('edit', add, remove) for a MultiValuedProperty."""
        if value is None:
            return ("replace", [])
        if isinstance(value, dict):
            if value.get("@odata.type") != HASHTABLE:
                raise self._cannot_convert(value, f"a hashtable must be an object tagged \"@odata.type\": \"{HASHTABLE}\"")
            edits = {"add": [], "remove": []}
            for key, item in value.items():
                if key == "@odata.type":
                    continue
                if key.lower() not in edits:
                    raise self._cannot_convert(value, f"a multivalued property hashtable takes Add and Remove, not {key}")
                edits[key.lower()] = [self._bind_string(v) for v in (item if isinstance(item, list) else [item])]
            return ("edit", edits["add"], edits["remove"])
        items = value if isinstance(value, list) else [value]
        return ("replace", [self._bind_string(v) for v in items])


class Cmdlet:
    """A cmdlet of one workload (exchange or compliance): its parameters, the documented ones it does not
    model, the parameter pairs that are in different parameter sets, whether it writes, and its handler."""

    def __init__(self, name, workload, params, handler, documented=(), exclusive=(), write=False):
        self.name = name
        self.workload = workload
        self.params = {p.name.lower(): p for p in params}
        self.documented = {n.lower() for n in documented}
        self.exclusive = exclusive
        self.handler = handler
        self.write = write

    def bind(self, parameters):
        """The bound arguments {ParamName: value}; ExchangeError for what PowerShell would refuse."""
        if parameters is None:
            parameters = {}
        if not isinstance(parameters, dict):
            raise binding_error("ParameterBindingFailed", "CmdletInput.Parameters must be an object of parameter names "
                                "and values.")
        bound = {}
        for name, value in parameters.items():
            if "@" in name:
                continue  # "<Param>@odata.type" annotations describe a sibling value
            param = self.params.get(name.lower())
            if param is None:
                if name.lower() in self.documented:
                    raise not_emulated(f"the -{name} parameter of {self.name}")
                raise binding_error(f"NamedParameterNotFound,{self.name}",
                                    f"A parameter cannot be found that matches parameter name '{name}'.")
            bound[param.name] = param.bind(value)
        missing = [p.name for p in self.params.values() if p.mandatory and p.name not in bound]
        if missing:
            raise binding_error(f"MissingMandatoryParameter,{self.name}", "Cannot process command because of one or "
                                f"more missing mandatory parameters: {' '.join(missing)}.")
        for first, second in self.exclusive:
            if first in bound and second in bound:
                raise binding_error(f"AmbiguousParameterSet,{self.name}",
                                    "Parameter set cannot be resolved using the specified named parameters.")
        return bound


class Run:
    """One cmdlet run: the tenant, the emulator settings, the bound arguments and the warnings it emits."""

    def __init__(self, tenant, settings, args):
        self.tenant = tenant
        self.settings = settings
        self.args = args
        self.warnings = []

    def limit(self, rows):
        """Apply -ResultSize (default 1000) with the warning Exchange gives when it cuts the result."""
        size = self.args["ResultSize"] if "ResultSize" in self.args else DEFAULT_RESULT_SIZE
        if size is not None and len(rows) > size:
            self.warnings.append(MORE_RESULTS_WARNING if "ResultSize" in self.args else DEFAULT_SIZE_WARNING)
            return rows[:size]
        return rows

    def pick(self, rows, keys):
        """Rows whose value of one of ``keys`` equals -Identity (case-insensitively); 404 when none."""
        identity = self.args.get("Identity")
        if identity is None:
            return rows
        wanted = identity.lower()
        found = [row for row in rows if any(_matches(row.get(key), wanted) for key in keys)]
        if not found:
            raise not_found(self.tenant, identity)
        if len(found) > 1:
            raise ExchangeError(400, "BadRequest", f"The operation couldn't be performed because '{identity}' matches "
                                "multiple entries.", "Microsoft.Exchange.Configuration.Tasks.ManagementObjectAmbiguousException")
        return found


def _matches(value, wanted):
    if isinstance(value, list):
        return any(str(v).lower().split(":", 1)[-1] == wanted for v in value)
    return value is not None and str(value).lower() == wanted


# ---------------------------------------------------------------- handlers
def get_organization_config(run):
    return [xstate.organization_config(run.tenant)]


def get_accepted_domain(run):
    return run.limit(run.pick(xstate.accepted_domains(run.tenant), ("Name", "DomainName", "Guid")))


_MAILBOX_KEYS = ("Name", "Alias", "DisplayName", "DistinguishedName", "Guid", "ExchangeGuid",
                 "ExternalDirectoryObjectId", "UserPrincipalName", "PrimarySmtpAddress", "EmailAddresses")
# Switches that select kinds of mailbox the seeded tenants do not have: true returns nothing.
_ABSENT_KINDS = ("Archive", "GroupMailbox", "InactiveMailboxOnly", "Migration", "PublicFolder", "SoftDeletedMailbox")


def get_mailbox(run):
    rows = run.pick(xstate.ensure(run.tenant)["mailboxes"], _MAILBOX_KEYS)
    if any(run.args.get(name) for name in _ABSENT_KINDS):
        rows = []
    anr = (run.args.get("Anr") or "").lower()
    if anr:
        rows = [r for r in rows if any(str(r[k]).lower().startswith(anr) for k in ("Name", "DisplayName", "Alias"))]
    kinds = run.args.get("RecipientTypeDetails")
    if kinds:
        rows = [r for r in rows if r["RecipientTypeDetails"] in kinds]
    sort_by = run.args.get("SortBy")
    if sort_by:
        if sort_by.lower() not in ("name", "displayname", "alias"):
            raise not_emulated(f"Get-Mailbox -SortBy {sort_by}")
        key = {"name": "Name", "displayname": "DisplayName", "alias": "Alias"}[sort_by.lower()]
        rows = sorted(rows, key=lambda r: r[key].lower())
    return run.limit(rows)


def set_mailbox(run):
    if xstate.ensure(run.tenant)["organization"]["IsDehydrated"] and run.settings["exchange_dehydrated_refuses_writes"]:
        raise ExchangeError(400, "BadRequest", "The command you tried to run isn't currently allowed in your "
                            "organization. To run this command, you first need to run the command: "
                            "Enable-OrganizationCustomization.",
                            "Microsoft.Exchange.Configuration.Tasks.InvalidOperationInDehydratedContextException",
                            "FDC3D516")
    target = run.pick(xstate.ensure(run.tenant)["mailboxes"], _MAILBOX_KEYS)[0]
    before = dict(target)
    for name, value in run.args.items():
        if name in xstate.CUSTOM_ATTRIBUTES:
            target[name] = value
        elif name in xstate.EXTENSION_ATTRIBUTES:
            target[name] = _edit_multivalued(target[name], value)
    if target == before:
        run.warnings.append(f"The command completed successfully but no settings of '{target['Identity']}' have been "
                            "modified.")
    return []


def _edit_multivalued(current, change):
    if change[0] == "replace":
        return list(dict.fromkeys(change[1]))
    _kind, add, remove = change
    removed = {v.lower() for v in remove}
    kept = [v for v in current if v.lower() not in removed]
    return kept + [v for v in dict.fromkeys(add) if v.lower() not in {k.lower() for k in kept}]


def get_dlp_compliance_policy(run):
    return run.pick(xstate.ensure(run.tenant)["dlpPolicies"], ("Name", "Guid"))


# ---------------------------------------------------------------- the cmdlet tables
_GET_MAILBOX_DOCUMENTED = (
    "Filter", "MailboxPlan", "OrganizationalUnit", "IncludeAcceptMessagesOnlyFromDLMembersWithDisplayNames",
    "IncludeAcceptMessagesOnlyFromSendersOrMembersWithDisplayNames", "IncludeAcceptMessagesOnlyFromWithDisplayNames",
    "IncludeEmailAddressDisplayNames", "IncludeForwardingAddressWithDisplayNames",
    "IncludeGrantSendOnBehalfToWithDisplayNames")
_SET_MAILBOX_DOCUMENTED = (
    "DisplayName", "EmailAddresses", "HiddenFromAddressListsEnabled", "ForwardingAddress", "ForwardingSmtpAddress",
    "DeliverToMailboxAndForward", "GrantSendOnBehalfTo", "Type", "LitigationHoldEnabled", "RetentionPolicy",
    "AuditEnabled", "MessageCopyForSentAsEnabled", "MessageCopyForSendOnBehalfEnabled", "PrimarySmtpAddress",
    "WindowsEmailAddress", "Alias", "Name", "Office", "Force", "Confirm")

CMDLETS = [
    Cmdlet("Get-OrganizationConfig", "exchange", [], get_organization_config),
    Cmdlet("Get-AcceptedDomain", "exchange", [Param("Identity"), Param("ResultSize", "unlimited", type_name=(
        "Microsoft.Exchange.Data.Unlimited`1[System.UInt32]"))], get_accepted_domain),
    Cmdlet("Get-Mailbox", "exchange", [
        Param("Identity"), Param("Anr"), Param("SortBy"),
        Param("ResultSize", "unlimited", type_name="Microsoft.Exchange.Data.Unlimited`1[System.UInt32]"),
        Param("RecipientTypeDetails", "enums", values=RECIPIENT_TYPE_DETAILS,
              type_name="Microsoft.Exchange.Data.Directory.Recipient.RecipientTypeDetails[]"),
        Param("IncludeInactiveMailbox", "switch"),
    ] + [Param(name, "switch") for name in _ABSENT_KINDS], get_mailbox, documented=_GET_MAILBOX_DOCUMENTED,
        exclusive=(("Identity", "Anr"), ("Identity", "MailboxPlan"), ("Anr", "MailboxPlan"))),
    Cmdlet("Set-Mailbox", "exchange", [Param("Identity", mandatory=True)]
           + [Param(name, "text") for name in xstate.CUSTOM_ATTRIBUTES]
           + [Param(name, "multivalued", type_name="Microsoft.Exchange.Data.MultiValuedProperty`1[System.String]")
              for name in xstate.EXTENSION_ATTRIBUTES],
           set_mailbox, documented=_SET_MAILBOX_DOCUMENTED, write=True),
    Cmdlet("Get-DlpCompliancePolicy", "compliance", [Param("Identity")], get_dlp_compliance_policy,
           documented=("DistributionDetail", "ForceValidate", "IncludeExtendedProperties", "IncludeRulesMetadata",
                       "IncludeSimulationPolicy", "Summary")),
]
_BY_NAME = {(c.workload, c.name.lower()): c for c in CMDLETS}


def find(workload, name):
    """The cmdlet of that workload, or None."""
    return _BY_NAME.get((workload, str(name).lower()))


def names(workload):
    return sorted(c.name for c in CMDLETS if c.workload == workload)


def annotate(row):
    """A result row with the type annotations the service adds (GUIDs, dates, string collections)."""
    shown = {}
    for name, value in row.items():
        if name in GUID_PROPERTIES:
            shown[f"{name}@data.type"] = "System.Guid"
            shown[f"{name}@odata.type"] = "#Guid"
        elif name in DATE_PROPERTIES:
            shown[f"{name}@data.type"] = "System.DateTime"
        elif isinstance(value, list):
            shown[f"{name}@odata.type"] = "#Collection(String)"
        shown[name] = value
    return shown
