"""Rally's query language: fully parenthesised conditions joined by AND/OR, compiled to Q.

((Name contains "login") AND (ScheduleState < Completed))
(Iteration.StartDate <= today)      (Parent = null)      (State in Defined,Accepted)
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.db.models import Case, F, IntegerField, Q, Value, When
from django.utils.dateparse import parse_date, parse_datetime

from .registry import SPECS, Attr, TypeSpec
from .render import iso


class QueryError(Exception):
    """A query, order or value Rally would refuse; the message is Rally's kind of wording."""


@dataclass(frozen=True)
class Condition:
    path: str
    operator: str
    value: str | list[str] | None
    quoted: bool


@dataclass(frozen=True)
class BoolOp:
    op: str
    left: object
    right: object


OPERATORS = ["!contains", "contains", "!=", "<=", ">=", "=", "<", ">", "!in", "in"]
# Guards against queries no client writes but that would exhaust the server: nesting deeper
# than this (each level is a recursive call), and `in` lists longer than this (one SQL
# parameter each; PostgreSQL allows 65,535 per statement).
MAX_DEPTH = 200
MAX_IN_ITEMS = 10_000


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0

    def error(self, expected: str) -> QueryError:
        rest = self.text[self.pos :].strip()
        saw = rest.split()[0] if rest else "end of input"
        return QueryError(
            f'Could not parse: Error parsing expression -- expected "{expected}" '
            f'but saw "{saw}" instead.'
        )

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def expect(self, char: str) -> None:
        self.skip()
        if not self.text.startswith(char, self.pos):
            raise self.error(char)
        self.pos += 1

    def parse(self):
        node = self.expr()
        self.skip()
        if self.pos != len(self.text):
            raise self.error("end of input")
        return node

    def expr(self):
        self.expect("(")
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QueryError(
                f"Could not parse: The query is nested more than {MAX_DEPTH} levels deep"
            )
        try:
            return self._expr()
        finally:
            self.depth -= 1

    def _expr(self):
        self.skip()
        if self.text.startswith("(", self.pos):
            left = self.expr()
            self.skip()
            if self.text.startswith(")", self.pos):
                self.pos += 1
                return left
            match = re.compile(r"(AND|OR)\b", re.IGNORECASE).match(self.text, self.pos)
            if not match:
                raise self.error(")")
            self.pos = match.end()
            right = self.expr()
            self.expect(")")
            return BoolOp(match.group(1).upper(), left, right)
        return self.condition()

    def condition(self) -> Condition:
        match = re.compile(r"[A-Za-z_][\w.]*").match(self.text, self.pos)
        if not match:
            raise self.error("attribute name")
        path = match.group(0)
        self.pos = match.end()
        self.skip()
        operator = None
        for candidate in OPERATORS:
            end = self.pos + len(candidate)
            if self.text[self.pos : end].lower() == candidate:
                # Word operators need a space after them (`contains "x"`, not `containsX`).
                if candidate[-1].isalpha() and end < len(self.text) and self.text[end].isalnum():
                    continue
                operator = candidate
                self.pos = end
                break
        if operator is None:
            raise self.error("operator")
        self.skip()
        value, quoted = self.value(operator)
        self.expect(")")
        return Condition(path, operator, value, quoted)

    def value(self, operator: str):
        if operator in {"in", "!in"}:
            end = self._close_paren()
            raw = self.text[self.pos : end]
            self.pos = end
            items = [item.strip().strip('"') for item in raw.split(",")]
            if not all(items):
                raise self.error("value")
            if len(items) > MAX_IN_ITEMS:
                raise QueryError(
                    f"Could not parse: An in list may hold at most {MAX_IN_ITEMS} values; "
                    f"{len(items)} were given"
                )
            return items, True
        if self.text.startswith('"', self.pos):
            end = self.pos + 1
            chars = []
            while end < len(self.text) and self.text[end] != '"':
                if self.text[end] == "\\" and end + 1 < len(self.text):
                    end += 1
                chars.append(self.text[end])
                end += 1
            if end >= len(self.text):
                raise self.error('"')
            self.pos = end + 1
            return "".join(chars), True
        end = self._close_paren()
        raw = self.text[self.pos : end].strip()
        self.pos = end
        if not raw:
            raise self.error("value")
        return raw, False

    def _close_paren(self) -> int:
        end = self.text.find(")", self.pos)
        if end < 0:
            raise self.error(")")
        return end


def parse_query(text: str):
    text = (text or "").strip()
    if not text:
        return None
    if "\x00" in text or not _encodable(text):
        raise QueryError("Could not parse: The query contains characters that are not text")
    return _Parser(text).parse()


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, from a JSON escape in a /batch entry
        return False
    return True


# --- compiling -------------------------------------------------------------------------------


@dataclass
class Resolved:
    attr: Attr
    orm: str
    spec: TypeSpec | None


def resolve_path(spec: TypeSpec, path: str, attributes) -> Resolved:
    """Follow a dot path (`Iteration.StartDate`) to its final attribute and ORM lookup."""
    segments = path.split(".")
    orm_parts: list[str] = []
    current = spec
    attr = None
    for index, segment in enumerate(segments):
        candidates = attributes(current) if current is not None else {}
        attr = _find(candidates, segment)
        if attr is None or (attr.column is None and not attr.is_collection) or attr.hidden:
            raise QueryError(
                f'Could not parse: Could not find attribute "{segment}" on type '
                f"{current.element_name if current else spec.element_name} in the query segment "
                f'"{path}"'
            )
        if attr.is_collection:
            if attr.member_owner is None:
                raise QueryError(f'Could not parse: Cannot query on collection "{segment}"')
            orm_parts.append(_reverse_name(current, attr))
        else:
            orm_parts.append(attr.column)
        if index < len(segments) - 1:
            if not (attr.is_object or attr.is_collection):
                raise QueryError(
                    f'Could not parse: Could not traverse "{segment}" in the query segment "{path}"'
                )
            current = SPECS.get(attr.target or "")
    return Resolved(attr, "__".join(orm_parts), current)


def _reverse_name(spec: TypeSpec, attr: Attr) -> str:
    """The ORM name from an owner to the members of one of its collections."""
    names = {
        ("Artifact", "Tags"): "tags",
        ("Artifact", "Milestones"): "milestones",
        ("Artifact", "Children"): "children",
        ("Artifact", "Tasks"): "tasks",
        ("Artifact", "Defects"): "defects",
        ("Artifact", "UserStories"): "user_stories",
        ("Project", "Children"): "children",
        ("Project", "Iterations"): "iterations",
        ("Project", "Releases"): "releases",
        ("Workspace", "Projects"): "projects",
        ("Subscription", "Workspaces"): "workspaces",
    }
    name = names.get((spec.model.__name__, attr.element_name))
    if name is None:
        raise QueryError(f'Could not parse: Cannot query on collection "{attr.element_name}"')
    return name


def _find(attributes: dict[str, Attr], name: str) -> Attr | None:
    attr = attributes.get(name)
    if attr is not None:
        return attr
    lowered = name.lower()
    for candidate in attributes.values():
        if candidate.element_name.lower() == lowered:
            return candidate
    return None


_OID_IN_REF = re.compile(r"/(-?\d+)(?:\.js)?/?$")
_UUID_IN_REF = re.compile(r"/([0-9a-fA-F-]{32,36})(?:\.js)?/?$")


def oid_from_ref(value: str) -> int | str | None:
    """The trailing ObjectID (or ObjectUUID) of any ref form: URL, /type/oid, type/oid, oid."""
    value = value.strip()
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    match = _OID_IN_REF.search(value)
    if match:
        return int(match.group(1))
    match = _UUID_IN_REF.search(value if value.startswith("/") else f"/{value}")
    if match:
        try:
            return str(uuid.UUID(match.group(1)))
        except ValueError:
            return None
    return None


def _number(value: str, attr: Attr) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise QueryError(
            f'Could not parse: Cannot convert "{value}" for attribute {attr.element_name}'
        )
    return number


def _day(value: str, attr: Attr) -> tuple[datetime, datetime]:
    """A date value as the [start, end) of the moment or day it names."""
    if value.lower() == "today":
        start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return start, start + timedelta(days=1)
    try:
        return _moment_or_day(value)
    except (ValueError, OverflowError):
        # Well-formed but impossible (2027-02-30, month 13, year 0) or beyond year 9999.
        raise QueryError(
            f'Could not parse: Cannot convert "{value}" to a date for {attr.element_name}'
        ) from None


def _moment_or_day(value: str) -> tuple[datetime, datetime]:
    """Raises ValueError for a value that is no date, OverflowError past the calendar's end."""
    parsed = parse_datetime(value.replace("Z", "+00:00")) if "T" in value else None
    if parsed is not None:
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        parsed = parsed.astimezone(UTC)
        if parsed.microsecond % 1000 == 0:
            # Rally keeps milliseconds and renders them; the sandbox keeps microseconds. A moment
            # as rendered stands for its whole millisecond, so `(LastUpdateDate > <an item's
            # own LastUpdateDate>)` leaves that item out, as on Rally.
            return parsed, parsed + timedelta(milliseconds=1)
        return parsed, parsed
    day = parse_date(value)
    if day is None:
        raise ValueError(value)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def _compare(orm: str, op: str, value) -> Q:
    lookups = {"=": "exact", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}
    if op == "!=":
        return ~Q(**{orm: value})
    return Q(**{f"{orm}__{lookups[op]}": value})


class Compiler:
    def __init__(self, spec: TypeSpec, attributes, workspace=None) -> None:
        self.spec = spec
        self.attributes = attributes
        self.workspace = workspace

    def compile(self, node) -> Q:
        if isinstance(node, BoolOp):
            left, right = self.compile(node.left), self.compile(node.right)
            return (left & right) if node.op == "AND" else (left | right)
        return self.condition(node)

    def condition(self, cond: Condition) -> Q:
        resolved = resolve_path(self.spec, cond.path, self.attributes)
        if cond.operator in {"in", "!in"}:
            q = Q()
            for item in cond.value:
                q |= self.condition(Condition(cond.path, "=", item, True))
            return ~q if cond.operator == "!in" else q
        attr, orm, value, op = resolved.attr, resolved.orm, cond.value, cond.operator
        if value is not None and not cond.quoted and value.lower() == "null":
            value = None
        if attr.is_collection:
            # `(Tags contains "x")`-style conditions match any member by name.
            target = SPECS.get(attr.target or "")
            name_attr = target.attributes.get("Name") if target else None
            if name_attr is None:
                raise QueryError(f'Could not parse: Cannot query on collection "{cond.path}"')
            orm = f"{orm}__{name_attr.column}"
            attr = name_attr
        if value is None:
            if op not in {"=", "!="}:
                raise QueryError(f'Could not parse: Cannot compare "{cond.path}" to null with {op}')
            is_null = Q(**{f"{orm}__isnull": True})
            if (
                attr.attribute_type in {"STRING", "TEXT", "RATING", "STATE"}
                and not attr.is_object
                and _is_text(self._field(orm))
            ):
                is_null |= Q(**{orm: ""})
            return is_null if op == "=" else ~is_null
        if op in {"contains", "!contains"}:
            if attr.is_object:
                orm, attr = self._name_path(orm, attr)
            q = Q(**{f"{orm}__icontains": value})
            return ~q if op == "!contains" else q
        if attr.is_object:
            return self._object(orm, attr, op, value, cond)
        if attr.element_name == "FormattedID" and not attr.custom:
            digits = re.sub(r"^[A-Za-z]+", "", value)
            if not digits.isdigit():
                raise QueryError(f'Could not parse: Cannot convert "{value}" for FormattedID')
            return _compare(orm, op, int(digits))
        kind = attr.attribute_type
        if kind in {"INTEGER", "QUANTITY", "DECIMAL"}:
            number = _number(value, attr)
            if kind == "INTEGER" and number.is_integer():
                number = int(number)
            return _compare(orm, op, number)
        if kind == "BOOLEAN":
            if value.lower() not in {"true", "false"}:
                raise QueryError(f'Could not parse: Cannot convert "{value}" to a boolean')
            return _compare(orm, op, value.lower() == "true")
        if kind == "DATE":
            start, end = _day(value, attr)
            if attr.custom:
                # Kept as ISO text in the JSON column (render.custom_stored), which sorts as
                # the moments do: compare with the same text.
                start, end = iso(start), iso(end)
            if start == end or op in {"<", ">="}:
                return _compare(orm, op, start)
            if op in {"<=", ">"}:
                return _compare(orm, {"<=": "<", ">": ">="}[op], end)
            in_day = Q(**{f"{orm}__gte": start, f"{orm}__lt": end})
            return in_day if op == "=" else ~in_day
        allowed = attr.allowed_values(self.workspace)
        if attr.attribute_type in {"STATE", "RATING"} and allowed and op in {"<", "<=", ">", ">="}:
            matches = [v for v in allowed if v.lower() == value.lower()]
            if not matches:
                raise QueryError(
                    f'Could not parse: "{value}" is not a valid value for {attr.element_name}'
                )
            index = allowed.index(matches[0])
            chosen = {
                "<": allowed[:index],
                "<=": allowed[: index + 1],
                ">": allowed[index + 1 :],
                ">=": allowed[index:],
            }[op]
            return Q(**{f"{orm}__in": chosen})
        field = self._field(orm)
        if not _is_text(field):
            # A string attribute stored as a number or UUID (DragAndDropRank, VersionId,
            # ObjectUUID): compare as what is stored, and refuse what cannot be one.
            return _compare(orm, op, _stored_value(field, value, attr))
        if op in {"=", "!="}:
            q = Q(**{f"{orm}__iexact": value})
            return q if op == "=" else ~q
        return _compare(orm, op, value)

    def _field(self, orm: str) -> models.Field | None:
        """The model field an ORM path ends at (None for a custom field's JSON key)."""
        model = self.spec.model
        field = None
        for part in orm.split("__"):
            if model is None:
                return None
            try:
                field = model._meta.get_field(part)
            except FieldDoesNotExist:
                return None
            model = field.related_model
        return field

    def _name_path(self, orm: str, attr: Attr) -> tuple[str, Attr]:
        target = SPECS.get(attr.target or "")
        for name in ("Name", "UserName"):
            if target is not None and name in target.attributes:
                inner = target.attributes[name]
                return f"{orm}__{inner.column}", inner
        raise QueryError(f'Could not parse: Cannot compare "{attr.element_name}" to a string')

    def _object(self, orm: str, attr: Attr, op: str, value: str, cond: Condition) -> Q:
        if op not in {"=", "!="}:
            raise QueryError(
                f"Could not parse: Operator {op} is not supported for attribute {attr.element_name}"
            )
        oid = oid_from_ref(value) if ("/" in value or value.lstrip("-").isdigit()) else None
        target = SPECS.get(attr.target or "")
        if attr.custom:
            # A custom user field keeps the user's ObjectID in the JSON column: match it.
            if not isinstance(oid, int):
                raise QueryError(
                    f'Could not parse: Cannot convert "{value}" for attribute {attr.element_name}'
                )
            q = Q(**{orm: oid})
            return q if op == "=" else ~q
        if isinstance(oid, int):
            key = target.oid_field if target else "object_id"
            q = Q(**{f"{orm}__{key}": oid})
        elif isinstance(oid, str):
            q = Q(**{f"{orm}__uuid": oid})
        else:
            # Rally also matches a reference by its name (`(Project = "Platform")`).
            name_orm, _ = self._name_path(orm, attr)
            q = Q(**{f"{name_orm}__iexact": value})
        return q if op == "=" else ~q


def _is_text(field: models.Field | None) -> bool:
    return field is None or isinstance(field, models.CharField | models.TextField)


def _stored_value(field: models.Field, value: str, attr: Attr):
    try:
        converted = field.to_python(value)
        if isinstance(converted, float) and not math.isfinite(converted):
            raise ValidationError("not a finite number")
        return converted
    except (ValidationError, ValueError, TypeError, OverflowError):
        raise QueryError(
            f'Could not parse: Cannot convert "{value}" for attribute {attr.element_name}'
        ) from None


def compile_query(spec: TypeSpec, text: str | None, attributes, workspace=None) -> Q:
    tree = parse_query(text or "")
    if tree is None:
        return Q()
    return Compiler(spec, attributes, workspace).compile(tree)


def order_by(spec: TypeSpec, text: str | None, attributes, workspace=None):
    """ORDER terms plus the ObjectID tie-break; returns (annotations, order list)."""
    annotations: dict = {}
    ordering: list = []
    names: list[str] = []
    for index, term in enumerate(filter(None, (t.strip() for t in (text or "").split(",")))):
        parts = term.split()
        name = parts[0]
        direction = parts[1].lower() if len(parts) > 1 else "asc"
        if direction not in {"asc", "desc"} or len(parts) > 2:
            raise QueryError(f'Could not parse: Invalid order "{term}"')
        resolved = resolve_path(spec, name, attributes)
        attr = resolved.attr
        if attr.is_collection:
            raise QueryError(f'Could not parse: Cannot sort on collection "{name}"')
        orm = resolved.orm
        if attr.is_object:
            orm, attr = _sort_name(orm, attr)
        allowed = (
            attr.allowed_values(workspace) if attr.attribute_type in {"STATE", "RATING"} else None
        )
        if allowed:
            alias = f"_order_{index}"
            annotations[alias] = Case(
                *[When(**{orm: v}, then=Value(i)) for i, v in enumerate(allowed)],
                default=Value(-1),
                output_field=IntegerField(),
            )
            orm = alias
        # Empty values sort first ascending and last descending, whatever the database.
        if direction == "desc":
            ordering.append(F(orm).desc(nulls_last=True))
        else:
            ordering.append(F(orm).asc(nulls_first=True))
        names.append(orm)
    if spec.oid_field not in names:
        ordering.append(F(spec.oid_field).asc())
    return annotations, ordering


def _sort_name(orm: str, attr: Attr) -> tuple[str, Attr]:
    target = SPECS.get(attr.target or "")
    if target is not None and "Name" in target.attributes:
        inner = target.attributes["Name"]
        return f"{orm}__{inner.column}", inner
    return f"{orm}_id", attr
