"""Pure translation between aharally records and Rally fields; no I/O, no queries.

Values travel in a normalised form, the one baselines keep (DESIGN rule 4): text stripped,
rich text sanitised with runs of white space folded, numbers as int when whole (Rally sends
3.0 for 3), dates as ISO `YYYY-MM-DD`, people as their email, tags as sorted names, statuses
as the Rally state name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from aharally.integrations.models import DISCUSSION_OFF, Direction
from aharally.workspaces.models import RecordType

SENT_ON_CREATE = {Direction.TO_RALLY, Direction.BOTH, Direction.ONCE}
SENT_ON_UPDATE = {Direction.TO_RALLY, Direction.BOTH}

# Fields Rally keeps as a date-time; aharally's are dates.
DATE_FIELDS = {"start_date", "due_date", "release_date"}
RICH_TEXT_FIELDS = {"description"}

# The relationship fields of each record type: (aharally attribute, parent record type).
PARENT_FIELDS: dict[str, list[tuple[str, str]]] = {
    RecordType.FEATURE: [
        ("epic", RecordType.EPIC),
        ("initiative", RecordType.INITIATIVE),
        ("release", RecordType.RELEASE),
    ],
    RecordType.EPIC: [("initiative", RecordType.INITIATIVE), ("release", RecordType.RELEASE)],
    RecordType.REQUIREMENT: [("feature", RecordType.FEATURE)],
    RecordType.INITIATIVE: [],
    RecordType.RELEASE: [],
}

_SPACE = re.compile(r"\s+")
_BETWEEN_TAGS = re.compile(r">\s+<")


def normalise_number(value: Any) -> int | float | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    if number == number.to_integral_value():
        return int(number)
    return float(number)


def normalise_date(value: Any) -> str | None:
    """A date as `YYYY-MM-DD`; Rally's date-times (`2027-01-31T23:59:59.000Z`) keep the day."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    match = re.match(r"^(\d{4}-\d{2}-\d{2})", text)
    return match.group(1) if match else None


def normalise_html(value: Any) -> str:
    """Rich text compared the way a reader sees it: white space between tags folded."""
    text = str(value or "").strip()
    text = _BETWEEN_TAGS.sub("><", text)
    return _SPACE.sub(" ", text)


def normalise(field: str, value: Any) -> Any:
    """The normalised form of an aharally field's value (already in outgoing form)."""
    if field in RICH_TEXT_FIELDS:
        return normalise_html(value)
    if field in DATE_FIELDS:
        return normalise_date(value)
    if field == "estimate":
        return normalise_number(value)
    if field == "rank":
        return normalise_number(value)
    if field == "tags":
        return sorted({str(v).strip() for v in value or () if str(v).strip()})
    if value is None:
        return None
    return str(value).strip()


def record_values(record, *, fields: Iterable[str], state_for) -> dict[str, Any]:
    """The normalised outgoing values of `fields` of `record`.

    `state_for(status) -> Rally state name | None` translates the status (the status map).
    Tags (prefetched, or their names as `tag_names_`) and the assignee must be loaded by the
    caller to keep this query-free.
    """
    values: dict[str, Any] = {}
    for field in fields:
        if field == "status":
            status = record.status
            values[field] = state_for(status) if status is not None else None
        elif field == "assignee":
            person = getattr(record, "assignee", None)
            values[field] = (person.email or None) if person is not None else None
        elif field == "tags":
            names = getattr(record, "tag_names_", None)  # loaded with it (`records.load_sent`)
            if names is None:
                manager = getattr(record, "tags", None)
                names = [t.name for t in manager.all()] if manager else []
            values[field] = normalise("tags", names)
        else:
            values[field] = normalise(field, getattr(record, field, None))
    return values


def fields_to_send(field_mappings, *, creating: bool) -> list[tuple[str, str]]:
    """(aharally field, Rally field) pairs whose direction sends them now."""
    allowed = SENT_ON_CREATE if creating else SENT_ON_UPDATE
    return [(m.field, m.rally_field) for m in field_mappings if m.direction in allowed]


def changed_fields(values: Mapping[str, Any], baseline: Mapping[str, Any]) -> list[str]:
    """Fields whose value differs from what both sides last agreed on."""
    return [name for name, value in values.items() if baseline.get(name, _MISSING) != value]


_MISSING = object()


def rally_scalar(field: str, value: Any) -> Any:
    """A normalised value as Rally takes it (dates as date-times at noon UTC, so no time zone
    moves them to another day)."""
    if value is None:
        return None
    if field in DATE_FIELDS:
        return f"{value}T12:00:00.000Z"
    return value


def display(field: str, value: Any) -> str:
    """A normalised value as a person reads it in the approval queue."""
    if value is None or value == "" or value == []:
        return ""
    if field == "tags":
        return ", ".join(value)
    if field in RICH_TEXT_FIELDS:
        return html_to_text(value)
    return str(value)


_TAG = re.compile(r"<[^>]+>")
_BLOCK_END = re.compile(r"</(p|div|li|h[1-6])>|<br\s*/?>", re.IGNORECASE)


def html_to_text(value: str) -> str:
    """Rich text as plain text, one line per paragraph (for showing a change, not storing)."""
    from html import unescape

    text = _BLOCK_END.sub("\n", value or "")
    text = unescape(_TAG.sub("", text))
    lines = [_SPACE.sub(" ", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line)


def detail_url(rally_url: str, rally_type: str, object_id: int) -> str:
    """Rally's own detail page of an object: `<Rally URL>/#/detail/<type>/<ObjectID>`."""
    segment = "userstory" if rally_type.lower() == "hierarchicalrequirement" else rally_type
    return f"{rally_url.rstrip('/')}/#/detail/{segment.lower()}/{object_id}"


SENT_TO_AHARALLY = {Direction.TO_AHARALLY, Direction.BOTH}
# aharally fields the catch-up can take from Rally (people by email, tags by name).
INCOMING_FIELDS = {"name", "description", "status", "start_date", "due_date", "release_date",
                   "estimate", "assignee", "tags"}  # fmt: skip
# What a query also fetches so that an Owner reference carries its email.
OWNER_FETCH = "EmailAddress"
UNKNOWN = object()


def fields_to_receive(field_mappings) -> list[tuple[str, str]]:
    """(aharally field, Rally field) pairs whose direction brings Rally's changes in."""
    return [
        (m.field, m.rally_field)
        for m in field_mappings
        if m.direction in SENT_TO_AHARALLY and m.field in INCOMING_FIELDS
    ]


def incoming_value(field: str, value: Any, *, sanitize=None) -> Any:
    """A Rally value in the normalised form baselines keep, or UNKNOWN when unreadable.

    A portfolio item's State arrives as a reference: its name is the value.
    """
    if field == "status":
        if isinstance(value, Mapping):
            return value.get("_refObjectName") or value.get("Name") or None
        return str(value) if value not in (None, "") else None
    if field in RICH_TEXT_FIELDS:
        text = str(value or "")
        return normalise_html(sanitize(text) if sanitize else text)
    if field in DATE_FIELDS:
        return normalise_date(value)
    if field == "assignee":
        if value is None:
            return None
        email = value.get("EmailAddress") if isinstance(value, Mapping) else None
        # An Owner fetched without its email can't be matched to anyone: not a change.
        return str(email).strip() if email else UNKNOWN
    if field == "tags":
        names = value.get("_tagsNameArray") if isinstance(value, Mapping) else None
        if names is None:
            return UNKNOWN  # a bare collection reference: the names were not read
        return normalise("tags", [t.get("Name") for t in names if isinstance(t, Mapping)])
    if field == "estimate":
        if isinstance(value, Mapping):  # a PreliminaryEstimate reference: not a number
            return UNKNOWN
        return normalise_number(value)
    if value is None:
        return None
    if isinstance(value, Mapping):
        return UNKNOWN
    return str(value).strip()


def project_scope(config) -> dict:
    """Where Import from Rally looks, and what Link to existing may link: the integration's
    project and its children (the whole workspace when it has no project). Query arguments."""
    project = f"/project/{config.rally_project_oid}" if config.rally_project_oid else None
    return {"project": project, "project_scope_down": True}


# -- comments and attachments (the record mapping's "comments" and "attachments" lines) ------

TO_RALLY_WAYS = (Direction.BOTH, Direction.TO_RALLY)
TO_AHARALLY_WAYS = (Direction.BOTH, Direction.TO_AHARALLY)


def discussion_direction(record_mapping, field: str) -> str:
    """How a record type's comments (`field` "comments") or attachments go: no line, both
    ways."""
    if record_mapping is None:
        return DISCUSSION_OFF
    return record_mapping.discussion.get(field, Direction.BOTH)


def discussion_goes_to_rally(record_mapping, field: str) -> bool:
    return discussion_direction(record_mapping, field) in TO_RALLY_WAYS


def discussion_comes_here(record_mapping, field: str) -> bool:
    return discussion_direction(record_mapping, field) in TO_AHARALLY_WAYS
