"""Which aharally model each record type is, and loading records for the sync in batches."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterable

from django.db import connection, connections
from django.db.models import TextField
from django.db.models.expressions import RawSQL
from django.db.models.query import get_related_populators

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


def load_sent(record_type: str, ids: list[int], **annotations) -> dict[int, object]:
    """Records to send (a drain begins its creates a few together), by id, as `load_records`
    gives them but in one query: their tags' names ride along as `tag_names_` (a send reads
    nothing else of them), so there is no second query for them."""
    related, prefetch = RELATED[record_type]
    if prefetch != ["tags"]:
        return load_records(record_type, ids, **annotations)
    model = model_for(record_type)
    names = _tag_names(model, connection.vendor)
    # No ORDER BY: composing the model's ordering cost as much CPU as the rest of the query.
    compiled = _compiled_query(model, related, {"tag_names_": names, **annotations}, len(ids))
    loaded = compiled.load(ids)
    for record in loaded.values():
        # The names alone, for `mapping.record_values`: making `record.tags.all()` answer
        # from them (a related manager, a queryset, a Tag each) cost more than the query.
        record.tag_names_ = json.loads(record.tag_names_ or "[]")
    return loaded


@functools.lru_cache(maxsize=16)
def _tag_names(model, vendor: str) -> RawSQL:
    """The record's tags' names as a JSON array, a subquery written as SQL: composing it with
    the ORM cost more CPU than the query itself, on every object a send creates. Built once a
    model (RawSQL is never changed)."""
    tags = model._meta.get_field("tags")
    through = tags.remote_field.through._meta
    tag = tags.related_model._meta
    # As text on both (PostgreSQL's driver would decode a json value, SQLite's gives text).
    aggregate = "JSON_AGG({})::text" if vendor == "postgresql" else "JSON_GROUP_ARRAY({})"
    quote = connection.ops.quote_name
    # Identifiers from the models' metadata; no value of anyone's in it.
    return RawSQL(  # noqa: S611
        f"SELECT {aggregate.format('t.' + quote('name'))} FROM {quote(tag.db_table)} t "  # noqa: S608
        f"JOIN {quote(through.db_table)} m ON m.{quote(tags.m2m_reverse_name())} = t.{quote('id')} "
        f"WHERE m.{quote(tags.m2m_column_name())} = {quote(model._meta.db_table)}.{quote('id')}",
        [],
        output_field=TextField(),
    )


# -- the send's query, composed once ----------------------------------------------------------

# A queryset with a select_related of five relations costs more CPU to compose (and its rows
# to convert) than the database takes to run it: on every object a send creates. So each shape
# of it (a record type, the annotations' SQL and values, how many ids) is composed once and
# kept; a load runs the kept SQL with the records' ids and builds each record the way Django's
# ModelIterable does.
_SENTINEL_ID = -7_391_204_117
_compiled: dict[tuple, _CompiledQuery] = {}
_compiled_lock = threading.Lock()


class _CompiledQuery:
    def __init__(self, model, related: list[str], annotations: dict, count: int) -> None:
        sentinels = [_SENTINEL_ID - n for n in range(count)]
        queryset = (
            model.objects.filter(pk__in=sentinels)
            .select_related(*related)
            .annotate(**annotations)
            .order_by()
        )
        self.alias = queryset.db
        compiler = queryset.query.get_compiler(using=self.alias)
        self.sql, params = compiler.as_sql()
        self.params = list(params)
        self.id_at = [n for n, value in enumerate(self.params) if value in sentinels]
        if len(self.id_at) != count:
            raise ValueError("The records' ids are not parameters of their query")
        select, klass_info = compiler.select, compiler.klass_info
        self.compiler = compiler
        self.converters = compiler.get_converters([s[0] for s in select[: compiler.col_count]])
        self.model = klass_info["model"]
        fields = klass_info["select_fields"]
        self.start, self.end = fields[0], fields[-1] + 1
        self.init_list = [f[0].target.attname for f in select[self.start : self.end]]
        self.related = get_related_populators(klass_info, select, self.alias)
        self.annotation_col_map = dict(compiler.annotation_col_map or {})

    def load(self, ids: list[int]) -> dict[int, object]:
        params = list(self.params)
        for position, record_id in zip(self.id_at, ids, strict=True):
            params[position] = record_id
        with connections[self.alias].cursor() as cursor:
            cursor.execute(self.sql, params)
            rows = cursor.fetchall()
        if self.converters:
            rows = self.compiler.apply_converters(rows, self.converters)
        loaded = {}
        for row in rows:
            record = self.model.from_db(self.alias, self.init_list, row[self.start : self.end])
            for populator in self.related:
                populator.populate(row, record)
            for name, position in self.annotation_col_map.items():
                setattr(record, name, row[position])
            loaded[record.pk] = record
        return loaded


def _compiled_query(model, related: list[str], annotations: dict, count: int) -> _CompiledQuery:
    """The kept query of this shape (annotations are RawSQL: their SQL and values name it)."""
    key = (
        connection.alias,
        model,
        tuple(related),
        tuple((name, raw.sql, tuple(raw.params)) for name, raw in annotations.items()),
        count,
    )
    found = _compiled.get(key)
    if found is None:
        found = _CompiledQuery(model, related, annotations, count)
        with _compiled_lock:
            if len(_compiled) > 500:  # a few integrations, a shape for each count up to 18
                _compiled.clear()
            _compiled[key] = found
    return found
