"""Which aharally model each record type is, and loading records for the sync in batches."""

from __future__ import annotations

from collections.abc import Iterable

from aharally.records.models import Epic, Feature, Initiative, Release, Requirement
from aharally.workspaces.models import RecordType

# The source named on history rows the sync writes (changes it took from Rally): the
# records listener (`outgoing/changes.py`) never sends those back.
SOURCE = "Rally"

MODELS = {
    RecordType.FEATURE: Feature,
    RecordType.REQUIREMENT: Requirement,
    RecordType.INITIATIVE: Initiative,
    RecordType.EPIC: Epic,
    RecordType.RELEASE: Release,
}
# What the push reads of each record: its relations, in as few queries as possible.
RELATED = {
    RecordType.FEATURE: (
        ["workspace", "status", "assignee", "release", "initiative", "epic"],
        ["tags"],
    ),
    RecordType.REQUIREMENT: (["workspace", "status", "assignee", "feature"], ["tags"]),
    RecordType.INITIATIVE: (["workspace", "status", "assignee"], []),
    RecordType.EPIC: (["workspace", "status", "assignee", "release", "initiative"], []),
    RecordType.RELEASE: (["workspace", "status"], []),
}


def record_type_of(record) -> str:
    return record.record_type


def model_for(record_type: str):
    return MODELS[record_type]


def load_records(record_type: str, ids: Iterable[int]) -> dict[int, object]:
    """Records of one type by id, with what the sync reads of them (three queries at most)."""
    related, prefetch = RELATED[record_type]
    queryset = model_for(record_type).objects.filter(pk__in=list(ids)).select_related(*related)
    if prefetch:
        queryset = queryset.prefetch_related(*prefetch)
    return {record.pk: record for record in queryset}


def load_record(record_type: str, record_id: int):
    return load_records(record_type, [record_id]).get(record_id)
