"""What a new integration starts with: record mappings, field mappings, relationship links.

The defaults follow what most teams use (the commercial product's defaults): initiatives and
features are portfolio items, requirements are user stories, releases are releases; epics
stay unmapped until the owner maps them to a portfolio item type.
"""

from __future__ import annotations

from typing import NamedTuple

from aharally.integrations.models import Direction
from aharally.workspaces.models import RecordType

STORY = "HierarchicalRequirement"
# Rank is sent the way Rally ranks, rankAbove/rankBelow a neighbour beside a write
# (sync/outgoing/ranking.py); its DragAndDropRank is read-only.
RANK = "Rank"
RELEASE = "Release"

DEFAULT_RECORD_MAPPINGS: list[tuple[str, str, str]] = [
    (RecordType.INITIATIVE, "PortfolioItem/Initiative", "Initiative"),
    (RecordType.FEATURE, "PortfolioItem/Feature", "Feature"),
    (RecordType.REQUIREMENT, STORY, "User Story"),
    (RecordType.RELEASE, RELEASE, "Release"),
]

# Record types that may only map to these Rally types (an epic or initiative is a portfolio
# item, a release a release, a requirement a story); None means any portfolio item type.
ALLOWED_RALLY_TYPES: dict[str, set[str] | None] = {
    RecordType.INITIATIVE: None,
    RecordType.EPIC: None,
    RecordType.FEATURE: None,
    RecordType.REQUIREMENT: {STORY},
    RecordType.RELEASE: {RELEASE},
}


class FieldDefault(NamedTuple):
    field: str
    rally_field: str
    direction: str = Direction.BOTH
    label: str = ""


# aharally's fields, in the order they are shown, with a short label.
FIELD_LABELS = {
    "name": "Name",
    "description": "Description",
    "status": "Status",
    "assignee": "Assignee (matched to Owner by email)",
    "tags": "Tags",
    "start_date": "Start date",
    "due_date": "Due date",
    "release_date": "Release date",
    "estimate": "Estimate",
    "rank": "Rank",
}

_PORTFOLIO_ITEM = [
    FieldDefault("name", "Name"),
    FieldDefault("description", "Description"),
    FieldDefault("status", "State"),
    FieldDefault("assignee", "Owner"),
    FieldDefault("tags", "Tags"),
    FieldDefault("start_date", "PlannedStartDate"),
    FieldDefault("due_date", "PlannedEndDate"),
    # A number to a number: RefinedEstimate (points). PreliminaryEstimate is a reference to
    # one of the workspace's sizes (XS…XL), which a number would have to be guessed into.
    FieldDefault("estimate", "RefinedEstimate"),
    FieldDefault("rank", RANK, Direction.TO_RALLY),
]
_STORY = [
    FieldDefault("name", "Name"),
    FieldDefault("description", "Description"),
    FieldDefault("status", "ScheduleState"),
    FieldDefault("assignee", "Owner"),
    FieldDefault("tags", "Tags"),
    FieldDefault("estimate", "PlanEstimate"),
    FieldDefault("rank", RANK, Direction.TO_RALLY),
]
_RELEASE = [
    FieldDefault("name", "Name"),
    FieldDefault("description", "Notes"),
    FieldDefault("status", "State"),
    FieldDefault("start_date", "ReleaseStartDate"),
    FieldDefault("release_date", "ReleaseDate"),
]

# Which of aharally's fields each record type has (see aharally.records.models).
RECORD_FIELDS: dict[str, set[str]] = {
    RecordType.INITIATIVE: {"name", "description", "status", "assignee", "start_date", "due_date"},
    RecordType.EPIC: {"name", "description", "status", "assignee", "start_date", "due_date"},
    RecordType.FEATURE: {
        "name",
        "description",
        "status",
        "assignee",
        "tags",
        "start_date",
        "due_date",
        "estimate",
        "rank",
    },
    RecordType.REQUIREMENT: {
        "name",
        "description",
        "status",
        "assignee",
        "tags",
        "estimate",
        "rank",
    },
    RecordType.RELEASE: {"name", "description", "status", "start_date", "release_date"},
}


def default_field_mappings(record_type: str, rally_type: str) -> list[FieldDefault]:
    """The field mappings a new record mapping starts with."""
    if rally_type == RELEASE:
        candidates = _RELEASE
    elif rally_type == STORY:
        candidates = _STORY
    else:
        candidates = _PORTFOLIO_ITEM
    fields = RECORD_FIELDS[record_type]
    return [f for f in candidates if f.field in fields]


# Parent → child relationships the integration can keep in step, in the order shown.
RELATIONSHIP_LINKS: list[tuple[str, str]] = [
    (RecordType.INITIATIVE, RecordType.EPIC),
    (RecordType.INITIATIVE, RecordType.FEATURE),
    (RecordType.RELEASE, RecordType.EPIC),
    (RecordType.RELEASE, RecordType.FEATURE),
    (RecordType.EPIC, RecordType.FEATURE),
    (RecordType.FEATURE, RecordType.REQUIREMENT),
]


def default_relationship_links(mapped: set[str]) -> list[tuple[str, str]]:
    """Every relationship whose both ends are mapped."""
    return [(p, c) for p, c in RELATIONSHIP_LINKS if p in mapped and c in mapped]
