"""Build Rally WSAPI query strings that cannot be bent by the values put into them.

Rally's grammar wants every condition and every binary AND/OR in parentheses:
``(((A = 1) AND (B = 2)) OR (C = null))``. Attribute paths are checked against a strict
pattern, operators against Rally's list, and every string value is double-quoted with ``\\``
and ``"`` escaped, so a value such as ``x") OR (Name != "`` stays one string.

    >>> str(where("Name", "=", 'a "b"') & where("PlanEstimate", ">", 3))
    '((Name = "a \\\\"b\\\\"") AND (PlanEstimate > 3))'

Reference: https://rally1.rallydev.com/slm/doc/webservice/ ("Query syntax").
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from aharally.rally.objects import RallyRef

OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "contains", "!contains", "in", "!in")
_ATTRIBUTE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")
# Tokens Rally accepts unquoted in an `in` list; anything else is expanded into ORs of `=`.
_BARE_TOKEN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_KEYWORDS = {"and", "or", "null", "true", "false", "today", "in", "contains"}


class _Today:
    """The ``today`` keyword on the right-hand side (``(Iteration.StartDate <= today)``)."""

    def __repr__(self) -> str:
        return "TODAY"


TODAY = _Today()


class Query:
    """A node of a query; combine with ``&`` (AND) and ``|`` (OR), render with ``str()``."""

    def render(self) -> str:
        raise NotImplementedError

    def __and__(self, other: Query) -> Query:
        return _Join("AND", self, _check_query(other))

    def __or__(self, other: Query) -> Query:
        return _Join("OR", self, _check_query(other))

    def __str__(self) -> str:
        return self.render()


def _check_query(value: Any) -> Query:
    if not isinstance(value, Query):
        # Raw strings would bypass quoting; build them with where() instead.
        raise TypeError(f"Can only combine queries, not {type(value).__name__}")
    return value


@dataclass(frozen=True, eq=False)
class _Join(Query):
    conjunction: str
    left: Query
    right: Query

    def render(self) -> str:
        return f"({self.left.render()} {self.conjunction} {self.right.render()})"


@dataclass(frozen=True, eq=False)
class Condition(Query):
    attribute: str
    operator: str
    value: Any

    def render(self) -> str:
        return f"({self.attribute} {self.operator} {render_value(self.value)})"


def where(attribute: str, operator: str, value: Any) -> Query:
    """One condition; ``in``/``!in`` take a non-empty iterable of values."""
    if not isinstance(attribute, str) or not _ATTRIBUTE.match(attribute):
        raise ValueError(f"Not a Rally attribute path: {attribute!r}")
    if operator not in OPERATORS:
        raise ValueError(f"Unknown Rally query operator: {operator!r}")
    if operator in ("in", "!in"):
        return _membership(attribute, operator, value)
    if value is None and operator not in ("=", "!="):
        raise ValueError(f"null can only be compared with = or !=, not {operator}")
    if operator in ("contains", "!contains") and not isinstance(value, str):
        raise ValueError(f"{operator} needs a string value")
    render_value(value)  # fail now, not when rendered
    return Condition(attribute, operator, value)


def is_null(attribute: str) -> Query:
    return where(attribute, "=", None)


def all_of(*queries: Query) -> Query:
    """AND of one or more queries, nested pairwise as Rally requires."""
    return _fold("AND", queries)


def any_of(*queries: Query) -> Query:
    """OR of one or more queries, nested pairwise as Rally requires."""
    return _fold("OR", queries)


def _fold(conjunction: str, queries: Iterable[Query]) -> Query:
    items = [_check_query(q) for q in queries]
    if not items:
        raise ValueError(f"{conjunction} of nothing")
    result = items[0]
    for item in items[1:]:
        result = _Join(conjunction, result, item)
    return result


def _membership(attribute: str, operator: str, values: Any) -> Query:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise ValueError(f"{operator} needs a list of values")
    items = list(values)
    if not items:
        raise ValueError(f"{operator} needs at least one value")
    for item in items:
        render_value(item)
    if operator == "in" and all(_is_bare_token(v) for v in items):
        # ObjectIDs too: a hundred of them as an OR chain is a 4,800-character URL, past
        # what servers take in a request line (HTTP 414); as Rally's `in` list, 1,400.
        return Condition(attribute, "in", _BareList([str(v) for v in items]))
    # Values that would need quoting inside `in` (Rally does not document quoting there),
    # and `!in` (which Rally does not support), become chains of = / != instead.
    if operator == "in":
        return any_of(*(Condition(attribute, "=", v) for v in items))
    return all_of(*(Condition(attribute, "!=", v) for v in items))


def _is_bare_token(value: Any) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return True
    return (
        isinstance(value, str) and bool(_BARE_TOKEN.match(value)) and value.lower() not in _KEYWORDS
    )


@dataclass(frozen=True)
class _BareList:
    items: list[str]


def quote(text: str) -> str:
    """A double-quoted Rally string literal with ``\\`` and ``"`` escaped."""
    if "\x00" in text:
        raise ValueError("Query values cannot contain NUL characters")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_value(value: Any) -> str:
    """The right-hand side of a condition, quoted unless it is a number, boolean, null or ref."""
    if value is None:
        return "null"
    if value is TODAY:
        return "today"
    if isinstance(value, _BareList):
        return ",".join(value.items)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"Not a finite number: {value!r}")
        return repr(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("Datetimes in queries must be timezone-aware")
        moment = value.astimezone(UTC)
        return quote(moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z")
    if isinstance(value, date):
        return quote(value.isoformat())
    if isinstance(value, RallyRef):
        # Its path matches a strict pattern (letters, digits, slashes), so it is safe bare.
        return value.path
    if isinstance(value, str):
        return quote(value)
    raise TypeError(f"Cannot put a {type(value).__name__} in a Rally query")
