"""Which aharally model each record type is, and loading records for the sync in batches."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Aggregate, JSONField, OuterRef, Subquery

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


def load_records(record_type: str, ids: Iterable[int], **annotations) -> dict[int, object]:
    """Records of one type by id, with what the sync reads of them (three queries at most);
    `annotations` ride along on the same query."""
    related, prefetch = RELATED[record_type]
    queryset = model_for(record_type).objects.filter(pk__in=list(ids)).select_related(*related)
    if annotations:
        queryset = queryset.annotate(**annotations)
    if prefetch:
        queryset = queryset.prefetch_related(*prefetch)
    return {record.pk: record for record in queryset}


def load_record(record_type: str, record_id: int, **annotations):
    return load_records(record_type, [record_id], **annotations).get(record_id)


class _JSONNames(Aggregate):
    """Names as one JSON array (SQLite's JSON_GROUP_ARRAY, PostgreSQL's JSON_AGG)."""

    function = "JSON_GROUP_ARRAY"
    output_field = JSONField()

    def as_postgresql(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, function="JSON_AGG", **extra)


def load_one(record_type: str, record_id: int, **annotations):
    """One record as `load_record` gives it, in one query: its tags' names ride along (a
    send reads nothing else of them), so there is no second query for them."""
    related, prefetch = RELATED[record_type]
    if prefetch != ["tags"]:
        return load_record(record_type, record_id, **annotations)
    model = model_for(record_type)
    tags = model._meta.get_field("tags")
    names = (
        tags.related_model.objects.filter(**{tags.related_query_name(): OuterRef("pk")})
        .values(tags.related_query_name())
        .annotate(names=_JSONNames("name"))
        .values("names")
    )
    record = (
        model.objects.filter(pk=record_id)
        .select_related(*related)
        .annotate(tag_names_=Subquery(names), **annotations)
        .first()
    )
    if record is not None:
        queryset = record.tags.all()
        queryset._result_cache = [tags.related_model(name=name) for name in record.tag_names_ or []]
        queryset._prefetch_done = True
        record._prefetched_objects_cache = {"tags": queryset}
    return record
