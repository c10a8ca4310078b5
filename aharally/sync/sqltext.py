"""Pieces of the SQL the sync writes by hand on its hottest paths.

SQLite prepares a statement again, on every execution, when the value bound to one of its
parameters could decide whether a partial index applies. The link's and the outbox's unique
indexes are partial on `state` ("… WHERE state = 'ok'"), so a query binding a state re-compiled
itself each time: for a record's query on a send (seventy columns, five joins) that was six
times the cost of running it. States are our own constants, so they are written into the SQL
instead of bound.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_CONSTANT = re.compile(r"[a-z][a-z_]*")


def constant(value: str) -> str:
    """One of the code's constants (a state, a kind) as an SQL string literal."""
    value = str(value)
    if not _CONSTANT.fullmatch(value):
        raise ValueError(f"Not a constant to write into SQL: {value!r}")
    return f"'{value}'"


def constants(values: Iterable[str]) -> str:
    """Several, for an IN ( … ) list."""
    return ", ".join(constant(value) for value in values)
