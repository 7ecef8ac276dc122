# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The slice of OData that Microsoft Graph directory collections support: query options,
$filter parsing/evaluation, $select projection and server-driven paging."""

import json
import re
from urllib.parse import quote

from .crypto import b64url, b64url_decode
from .errors import bad_request

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 999
KNOWN_OPTIONS = {"$select", "$filter", "$top", "$skiptoken", "$count", "$search", "$orderby", "$expand"}
_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_TOKEN_RE = re.compile(
    rf"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<guid>{_GUID})(?![\w-])|(?P<number>-?\d+(?:\.\d+)?)(?![\w-])"
    r"|(?P<name>[A-Za-z_][\w.]*)|(?P<punct>[(),/:]))"
)
ADVANCED_OPERATORS = ("ne", "not", "endswith")
_ADVANCED_HINT = ("is not supported because the required parameters might be missing. Try adding $count=true "
                  "query parameter and ConsistencyLevel:eventual header. Refer to "
                  "https://aka.ms/graph-docs/advanced-queries for more information")


class Entity:
    """What the query machinery needs to know about one collection's element type.

    ``filterable`` names the properties ``$filter`` accepts; ``operators`` narrows some of them to
    the documented operators (``{"resourceId": {"eq"}}``). ``types`` gives the EDM type of the
    properties that are not ``Edm.String`` (``Edm.Guid``, ``Edm.Boolean``); literals are checked
    against it. ``refusal`` chooses how an unsupported property is refused: ``"resource"`` (the
    directory's Request_UnsupportedQuery answer) or ``"clr"`` (Request_BadRequest "Invalid filter
    clause {property}: System.Guid", as app role assignments answer).
    """

    def __init__(self, type_name, resource, properties, filterable, orderable=("displayName",), expandable=(),
                 operators=None, types=None, refusal="resource"):
        self.type_name = type_name
        self.expandable = set(expandable)
        self.resource = resource
        self.properties = set(properties)
        self.filterable = set(filterable)
        self.orderable = set(orderable)
        self.operators = {name: set(ops) for name, ops in (operators or {}).items()}
        self.types = dict(types or {})
        self.refusal = refusal

    def edm_type(self, name):
        return self.types.get(name, "Edm.String")

    def refuse(self, name):
        if self.refusal == "clr":
            clr = {"Edm.Guid": "System.Guid", "Edm.Boolean": "System.Boolean"}.get(self.edm_type(name), "System.String")
            return bad_request(f"Invalid filter clause {name}: {clr}")
        return bad_request(
            f"Unsupported or invalid query filter clause specified for property '{name}' of resource "
            f"'{self.resource}'.", "Request_UnsupportedQuery")

    def check_property(self, name):
        if name not in self.properties:
            raise bad_request(f"Could not find a property named '{name}' on type '{self.type_name}'.")
        if name not in self.filterable:
            raise self.refuse(name)

    def check_operator(self, name, operator):
        allowed = self.operators.get(name)
        if allowed is not None and operator not in allowed:
            raise self.refuse(name)


# Graph's answer to a literal of the wrong type (msgraph-sdk-dotnet#2306: "Invalid filter clause: A binary
# operator with incompatible types was detected. Found operand types 'Edm.Guid' and 'Edm.String' for operator
# kind 'Equal'."; the code is BadRequest, microsoft-graph-docs-contrib#4133).
_OPERATOR_KINDS = {"eq": "Equal", "ne": "NotEqual", "in": "In"}
_LITERAL_TYPES = {"string": "Edm.String", "guid": "Edm.Guid", "int": "Edm.Int32", "float": "Edm.Double",
                  "bool": "Edm.Boolean"}


def incompatible_types(left, right, operator):
    return bad_request("Invalid filter clause: A binary operator with incompatible types was detected. Found operand "
                       f"types '{left}' and '{right}' for operator kind '{_OPERATOR_KINDS.get(operator, operator)}'.",
                       "BadRequest")


# ---------------------------------------------------------------- $filter
def _tokenize(text):
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if not match or match.end() == pos:
            raise bad_request(f"Invalid filter clause: syntax error at position {pos} in '{text}'.")
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "string":
            value = value[1:-1].replace("''", "'")
        tokens.append((kind, value))
        pos = match.end()
    return tokens


class _FilterParser:
    def __init__(self, text, entity):
        self.tokens = _tokenize(text)
        self.pos = 0
        self.entity = entity
        self.operators = set()
        self.variables = set()

    def peek(self, offset=0):
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else (None, None)

    def take(self, kind=None, value=None):
        token = self.peek()
        if token[0] is None or (kind and token[0] != kind) or (value and str(token[1]).lower() != value):
            raise bad_request("Invalid filter clause: unexpected token "
                              f"'{token[1] if token[1] is not None else 'end of input'}'.")
        self.pos += 1
        return token

    def keyword(self, word):
        kind, value = self.peek()
        return kind == "name" and value.lower() == word

    def parse(self):
        node = self.or_expr()
        if self.pos != len(self.tokens):
            raise bad_request(f"Invalid filter clause: unexpected token '{self.peek()[1]}'.")
        return node

    def or_expr(self):
        node = self.and_expr()
        while self.keyword("or"):
            self.pos += 1
            node = ("or", node, self.and_expr())
        return node

    def and_expr(self):
        node = self.unary()
        while self.keyword("and"):
            self.pos += 1
            node = ("and", node, self.unary())
        return node

    def unary(self):
        if self.keyword("not"):
            self.pos += 1
            self.operators.add("not")
            return ("not", self.unary())
        if self.peek() == ("punct", "("):
            self.pos += 1
            node = self.or_expr()
            self.take("punct", ")")
            return node
        if self.peek()[0] == "name" and self.peek(1) == ("punct", "("):
            return self.function()
        return self.comparison()

    def function(self):
        name = self.take("name")[1].lower()
        if name not in ("startswith", "endswith"):
            raise bad_request(f"Invalid filter clause: unsupported function '{name}'.", "Request_UnsupportedQuery")
        self.operators.add(name)
        self.take("punct", "(")
        prop = self.operand()
        self.take("punct", ",")
        literal = self.operand()
        self.take("punct", ")")
        if prop[0] == "prop":
            self.entity.check_operator(prop[1], name)
        return ("func", name, prop, literal)

    def comparison(self):
        left = self.operand()
        if left[0] == "any":
            return left
        operator = self.take("name")[1].lower()
        if operator == "in":
            values = self.literal_list()
            for value in values:
                self.check_types(left, value, "in")
            return ("in", left, values)
        if operator not in ("eq", "ne"):
            raise bad_request(f"Invalid filter clause: operator '{operator}' is not supported.",
                              "Request_UnsupportedQuery")
        self.operators.add(operator)
        right = self.operand()
        self.check_types(left, right, operator)
        return ("cmp", operator, left, right)

    def check_types(self, left, right, operator):
        """The documented operators of the property, and a literal of the property's EDM type."""
        for prop, literal in ((left, right), (right, left)):
            if prop[0] != "prop":
                continue
            self.entity.check_operator(prop[1], operator)
            if literal[0] != "lit" or literal[2] is None:
                continue
            wanted, given = self.entity.edm_type(prop[1]), _LITERAL_TYPES[literal[2]]
            if wanted != given:
                raise incompatible_types(wanted, given, operator) if prop is left else \
                    incompatible_types(given, wanted, operator)

    def literal_list(self):
        self.take("punct", "(")
        values = [self.operand()]
        while self.peek() == ("punct", ","):
            self.pos += 1
            values.append(self.operand())
        self.take("punct", ")")
        return values

    def operand(self):
        kind, value = self.take()
        if kind in ("string", "guid"):
            return ("lit", value, kind)
        if kind == "number":
            return ("lit", float(value), "float") if "." in value else ("lit", int(value), "int")
        if kind != "name":
            raise bad_request(f"Invalid filter clause: unexpected token '{value}'.")
        lowered = value.lower()
        if lowered in ("true", "false"):
            return ("lit", lowered == "true", "bool")
        if lowered == "null":
            return ("lit", None, None)
        if value in self.variables:
            return ("var", value)
        self.entity.check_property(value)
        if self.peek() == ("punct", "/"):
            return self.lambda_any(value)
        return ("prop", value)

    def lambda_any(self, prop):
        self.take("punct", "/")
        self.take("name", "any")
        self.take("punct", "(")
        variable = self.take("name")[1]
        self.take("punct", ":")
        self.variables.add(variable)
        body = self.or_expr()
        self.variables.discard(variable)
        self.take("punct", ")")
        return ("any", prop, variable, body)


def _norm(value):
    return value.lower() if isinstance(value, str) else value


def _value(node, obj, env):
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "var":
        return env[node[1]]
    return obj.get(node[1])


def evaluate(node, obj, env=None):
    env = env or {}
    kind = node[0]
    if kind == "and":
        return evaluate(node[1], obj, env) and evaluate(node[2], obj, env)
    if kind == "or":
        return evaluate(node[1], obj, env) or evaluate(node[2], obj, env)
    if kind == "not":
        return not evaluate(node[1], obj, env)
    if kind == "cmp":
        equal = _norm(_value(node[2], obj, env)) == _norm(_value(node[3], obj, env))
        return equal if node[1] == "eq" else not equal
    if kind == "in":
        left = _norm(_value(node[1], obj, env))
        return any(left == _norm(_value(item, obj, env)) for item in node[2])
    if kind == "func":
        text, part = _value(node[2], obj, env), _value(node[3], obj, env)
        if not isinstance(text, str) or not isinstance(part, str):
            return False
        check = str.startswith if node[1] == "startswith" else str.endswith
        return check(text.lower(), part.lower())
    if kind == "any":
        return any(evaluate(node[3], obj, dict(env, **{node[2]: item})) for item in obj.get(node[1]) or [])
    raise bad_request("Invalid filter clause.")


# ---------------------------------------------------------------- options
class Query:
    """Parsed query options of one request; raises GraphError for what Graph rejects."""

    def __init__(self, pairs, headers, entity=None):
        self.pairs = pairs
        self.options = {}
        for key, value in pairs:
            if key.startswith("$"):
                if key not in KNOWN_OPTIONS:
                    raise bad_request(f"The query parameter '{key}' is not supported.")
                self.options[key] = value
        self.eventual = (headers.get("ConsistencyLevel") or "").strip().lower() == "eventual"
        self.entity = entity
        self.select = self._select()
        self.top = self._top()
        self.offset = self._skiptoken()
        self.count = self._count()
        self.filter = self._filter()
        self.search = self._search()
        self.orderby = self._orderby()
        self.expand = self._expand()

    def _select(self):
        raw = self.options.get("$select")
        if raw is None:
            return None
        names = [n.strip() for n in raw.split(",") if n.strip()]
        for name in names:
            if self.entity and name not in self.entity.properties:
                raise bad_request("Parsing OData Select and Expand failed: Could not find a property named "
                                  f"'{name}' on type '{self.entity.type_name}'.")
        return names

    def _top(self):
        raw = self.options.get("$top")
        if raw is None:
            return None
        if not re.fullmatch(r"\d+", raw.strip()) or not 1 <= int(raw) <= MAX_PAGE_SIZE:
            raise bad_request(f"Invalid page size specified: '{raw}'. Must be between 1 and {MAX_PAGE_SIZE} inclusive.")
        return int(raw)

    def _skiptoken(self):
        raw = self.options.get("$skiptoken")
        if raw is None:
            return 0
        try:
            offset = json.loads(b64url_decode(raw))["offset"]
        except (ValueError, KeyError, TypeError) as exc:
            raise bad_request("Invalid skip token.") from exc
        if not isinstance(offset, int) or offset < 0:
            raise bad_request("Invalid skip token.")
        return offset

    def _count(self):
        raw = self.options.get("$count")
        if raw is None:
            return False
        if raw.lower() not in ("true", "false"):
            raise bad_request(f"Invalid value '{raw}' for query option $count.")
        wanted = raw.lower() == "true"
        if wanted and not self.eventual:
            raise bad_request("$count is not currently supported.")
        return wanted

    @property
    def advanced(self):
        return self.eventual and self.count

    def _filter(self):
        raw = self.options.get("$filter")
        if raw is None:
            return None
        if self.entity is None:
            raise bad_request("Filter is not supported on this resource.", "Request_UnsupportedQuery")
        parser = _FilterParser(raw, self.entity)
        node = parser.parse()
        for operator in ADVANCED_OPERATORS:
            if operator in parser.operators and not self.advanced:
                label = "endsWith" if operator == "endswith" else operator
                raise bad_request(f"Operator '{label}' {_ADVANCED_HINT}", "Request_UnsupportedQuery")
        return node

    def _search(self):
        raw = self.options.get("$search")
        if raw is None:
            return None
        if not self.eventual:
            raise bad_request("Request with $search query parameter only works through MSGraph with a special "
                              "request header: 'ConsistencyLevel: eventual'", "Request_UnsupportedQuery")
        match = re.fullmatch(r'\s*"(\w+):([^"]*)"\s*', raw)
        if not match or (self.entity and match.group(1) not in self.entity.properties):
            raise bad_request("Invalid search query.", "Request_UnsupportedQuery")
        return match.group(1), match.group(2).lower()

    def _orderby(self):
        raw = self.options.get("$orderby")
        if raw is None:
            return None
        parts = raw.split()
        if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1].lower() not in ("asc", "desc")):
            raise bad_request(f"Invalid $orderby clause '{raw}'.")
        if self.entity is None or parts[0] not in self.entity.orderable:
            raise bad_request("Sorting not supported for current query.", "Request_UnsupportedQuery")
        if "$filter" in self.options and not self.advanced:
            raise bad_request("Sorting not supported for current query.", "Request_UnsupportedQuery")
        return parts[0], len(parts) == 2 and parts[1].lower() == "desc"

    def _expand(self):
        raw = self.options.get("$expand")
        if raw is None:
            return []
        names = [n.strip() for n in raw.split(",") if n.strip()]
        for name in names:
            if self.entity is None or name not in self.entity.expandable:
                type_name = self.entity.type_name if self.entity else "microsoft.graph.entity"
                raise bad_request("Parsing OData Select and Expand failed: Could not find a property named "
                                  f"'{name}' on type '{type_name}'.")
        return names

    # ------------------------------------------------------------ applying
    def apply(self, items):
        """Filter, search and sort a full collection (before paging)."""
        if self.filter is not None:
            items = [item for item in items if evaluate(self.filter, item)]
        if self.search is not None:
            prop, needle = self.search
            items = [item for item in items if needle in str(item.get(prop) or "").lower()]
        if self.orderby:
            prop, descending = self.orderby
            items = sorted(items, key=lambda item: str(item.get(prop) or "").lower(), reverse=descending)
        return items

    def project(self, obj):
        if self.select is None:
            return obj
        return {name: obj.get(name) for name in self.select}

    def next_link(self, url_base, offset):
        token = b64url(json.dumps({"offset": offset}).encode("ascii"))
        pairs = [(k, v) for k, v in self.pairs if k != "$skiptoken"] + [("$skiptoken", token)]
        query = "&".join(f"{quote(k, safe='$')}={quote(v, safe=chr(39) + '(),:=/$@*!')}" for k, v in pairs)
        return f"{url_base}?{query}"

    def page(self, items, url_base):
        """One page of an already filtered collection and the nextLink (None on the last page)."""
        size = self.top or DEFAULT_PAGE_SIZE
        chunk = items[self.offset:self.offset + size]
        more = self.offset + size < len(items)
        return chunk, (self.next_link(url_base, self.offset + size) if more else None)

    def context_suffix(self):
        return f"({','.join(self.select)})" if self.select else ""
