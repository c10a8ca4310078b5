"""Webhook rules: validating ObjectTypes and Expressions, and matching a change against them.

Expressions are ANDed. Each names its attribute by AttributeName or AttributeID (the UUID
deliveries use) and has an Operator: = != < <= > >= (compare), ~ and !~ (any / none of a comma
list), has (the attribute has a value), changed (it changed in this update), changed-to (it
changed to Value) and project (the object is in the project with UUID Value, or below it).
Workspace and Project values are UUIDs; ObjectIDs and names are accepted too.
"""

from __future__ import annotations

from typing import Any

from rally_sandbox.pigeon.payload import (
    RATINGS,
    SCHEDULE_STATES,
    attribute_id,
    short_type,
)

COMPARISONS = {"=", "!=", "<", "<=", ">", ">="}
OPERATORS = COMPARISONS | {"~", "!~", "has", "changed", "changed-to", "project"}
NO_VALUE = {"has", "changed"}
TYPE_ALIASES = {
    "userstory": "hierarchicalrequirement",
    "story": "hierarchicalrequirement",
    "hierarchicalrequirement": "hierarchicalrequirement",
}
MAX_EXPRESSIONS = 20


class RuleError(ValueError):
    """A webhook definition Rally would reject; the message names the problem."""


def normalise_object_types(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise RuleError('ObjectTypes must be a list of type names, e.g. ["Defect"].')
    return [v.strip() for v in value]


def normalise_expressions(value: Any) -> list[dict[str, Any]]:
    """Expressions with all four keys present (nulls filled), as Rally echoes them."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise RuleError("Expressions must be a list.")
    if len(value) > MAX_EXPRESSIONS:
        raise RuleError(f"A webhook may have at most {MAX_EXPRESSIONS} expressions.")
    normalised = []
    for index, item in enumerate(value, start=1):
        if not isinstance(item, dict):
            raise RuleError(f"Expression {index} must be an object.")
        unknown = set(item) - {"AttributeID", "AttributeName", "Operator", "Value"}
        if unknown:
            raise RuleError(f"Expression {index} has unknown keys: {', '.join(sorted(unknown))}.")
        operator = item.get("Operator")
        if operator not in OPERATORS:
            raise RuleError(
                f"Expression {index}: Operator must be one of {' '.join(sorted(OPERATORS))}."
            )
        name, attr_id = item.get("AttributeName"), item.get("AttributeID")
        if operator == "project":
            if name or attr_id:
                raise RuleError(f"Expression {index}: the project operator takes no attribute.")
        elif not (isinstance(name, str) and name) and not (isinstance(attr_id, str) and attr_id):
            raise RuleError(f"Expression {index} needs an AttributeName or an AttributeID.")
        val = item.get("Value")
        if operator in NO_VALUE:
            val = None
        elif val is None and operator not in ("=", "!="):
            raise RuleError(f"Expression {index}: the {operator} operator needs a Value.")
        elif not isinstance(val, str | int | float | bool | list | type(None)):
            raise RuleError(f"Expression {index}: Value must be a string, number or list.")
        normalised.append(
            {"AttributeID": attr_id, "AttributeName": name, "Operator": operator, "Value": val}
        )
    return normalised


def type_matches(object_types: list[str], type_name: str) -> bool:
    if not object_types:
        return True
    names = {type_name.lower(), short_type(type_name).lower()}
    names |= {TYPE_ALIASES[n] for n in list(names) if n in TYPE_ALIASES}
    wanted = {TYPE_ALIASES.get(t.lower(), t.lower()) for t in object_types}
    return bool(names & wanted)


def _candidates(value: Any) -> list[Any]:
    """What a field value may be compared with: a ref matches its UUID, ObjectID or name."""
    if value is None:
        return []
    if isinstance(value, dict):
        if "_ref" not in value:
            return []
        out = [value.get("_refObjectUUID"), value.get("_refObjectName"), value.get("Name")]
        out.append(value["_ref"].rstrip("/").rsplit("/", 1)[-1])
        return [str(v).lower() for v in out if v]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    return [value]


def _equal(field_value: Any, wanted: Any) -> bool:
    if wanted is None or (isinstance(wanted, str) and wanted.lower() == "null"):
        return not _has_value(field_value)
    for candidate in _candidates(field_value):
        if isinstance(candidate, int | float):
            try:
                if float(candidate) == float(wanted):
                    return True
            except (TypeError, ValueError):
                continue
        elif isinstance(field_value, dict | bool):
            # Refs (UUIDs, names) and booleans compare regardless of case.
            if str(candidate).lower() == str(wanted).lower():
                return True
        elif str(candidate) == str(wanted):
            return True
    return False


def _order_key(name: str, value: Any) -> tuple[int, Any] | None:
    if value is None or isinstance(value, dict | list | bool):
        return None
    if name == "ScheduleState" and value in SCHEDULE_STATES:
        return (0, SCHEDULE_STATES.index(value))
    if name in RATINGS and value in RATINGS[name]:
        return (0, RATINGS[name].index(value))
    if isinstance(value, int | float):
        return (0, float(value))
    try:
        return (0, float(value))
    except (TypeError, ValueError):
        return (1, str(value))


def _compare(name: str, operator: str, field_value: Any, wanted: Any) -> bool:
    if operator == "=":
        return _equal(field_value, wanted)
    if operator == "!=":
        return not _equal(field_value, wanted)
    left, right = _order_key(name, field_value), _order_key(name, wanted)
    if left is None or right is None or left[0] != right[0]:
        return False
    return {
        "<": left < right,
        "<=": left <= right,
        ">": left > right,
        ">=": left >= right,
    }[operator]


def _choices(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return [part.strip() for part in str(value).split(",") if part.strip()]


def _has_value(value: Any) -> bool:
    if value is None or value == "":
        return False
    if isinstance(value, dict) and "Count" in value:
        return bool(value.get("Count"))
    return not (isinstance(value, list) and not value)


def _resolve_name(expression: dict[str, Any], type_name: str, names: list[str]) -> str | None:
    if expression.get("AttributeName"):
        return expression["AttributeName"]
    wanted = str(expression.get("AttributeID") or "").lower()
    for name in names:
        if attribute_id(type_name, name).lower() == wanted:
            return name
    return None


def expression_matches(
    expression: dict[str, Any],
    *,
    type_name: str,
    state: dict[str, Any],
    changes: dict[str, tuple[Any, Any]],
    project_uuids: list[str],
) -> bool:
    operator = expression["Operator"]
    wanted = expression.get("Value")
    if operator == "project":
        return str(wanted).lower() in {u.lower() for u in project_uuids}
    name = _resolve_name(expression, type_name, [*state, *changes])
    if name is None:
        return False
    value = state.get(name)
    if operator == "has":
        return _has_value(value)
    if operator == "changed":
        return name in changes
    if operator == "changed-to":
        return name in changes and _equal(changes[name][1], wanted)
    if operator == "~":
        return any(_equal(value, choice) for choice in _choices(wanted))
    if operator == "!~":
        return not any(_equal(value, choice) for choice in _choices(wanted))
    return _compare(name, operator, value, wanted)


def rule_matches(
    *,
    object_types: list[str],
    expressions: list[dict[str, Any]],
    type_name: str,
    state: dict[str, Any],
    changes: dict[str, tuple[Any, Any]] | None,
    project_uuids: list[str],
) -> bool:
    """Whether a change of the object (its WSAPI JSON in `state`) fires the rule."""
    if not type_matches(object_types, type_name):
        return False
    return all(
        expression_matches(
            expression,
            type_name=type_name,
            state=state,
            changes=changes or {},
            project_uuids=project_uuids,
        )
        for expression in expressions
    )
