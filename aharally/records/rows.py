"""Many rows in one statement, built by hand: `update_each` (Django's `bulk_update`) and
`insert_each` (`bulk_create` of rows given as values, with no model instance made).

`QuerySet.bulk_update` builds a `Case(When(pk=…, then=Value(…)))` expression per row and field
and resolves each one: at a few hundred rows that is milliseconds of CPU a row, more than the
statement costs the database (bench/pull.py). Here the statement is written as text, with the
values prepared by their fields as `bulk_update` prepares them, and cast on the databases that
need it (PostgreSQL: a CASE's parameters are otherwise text), as `bulk_update` casts them.
The records' updates (`services.update_records`) and the catch-up's links use it.

`bulk_create` makes a model instance a row (with its init signals) and compiles the INSERT
through the ORM: at thousands of history rows a catch-up, that is most of its CPU. The rows
here are dicts of attribute names, prepared by their fields as `bulk_create` prepares them.

`insert_one` is `save()` of a new instance with its INSERT written once per model: a send
inserts a link and a history line for every object it creates, and `save()` composing each
statement cost twice what the database takes to run it. `insert_all` is the same for a few
instances in one statement (a drain links the creates Rally answered together), where
`bulk_create` cost more CPU than the rest of their transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections, models, router
from django.db.models.constants import OnConflict
from django.utils import timezone

# Parameters a statement: under SQLite's historic bound of 999, whatever the build allows.
MAX_PARAMS = 900

# `insert_all`'s statement's parts and fields, by database alias and model.
_inserts: dict[tuple[str, type], tuple[str, str, str, list, list]] = {}
_inserts_lock = threading.Lock()

# Fields (exactly these classes, not subclasses, which may prepare values their own way) whose
# preparation of a str, an int or None gives it back as it is: it is skipped for those. A
# catch-up prepares a hundred thousand values, and Django's preparation is a few calls each.
_AS_IS = {
    models.CharField: str,
    models.TextField: str,
    models.IntegerField: int,
    models.BigIntegerField: int,
    models.PositiveIntegerField: int,
    models.PositiveBigIntegerField: int,
    models.PositiveSmallIntegerField: int,
    models.SmallIntegerField: int,
    # A foreign key's value, prepared by its target (SQLite and PostgreSQL take an id as is).
    models.AutoField: int,
    models.BigAutoField: int,
}


def _preparer(field, connection) -> Callable[[Any], Any]:
    """`field.get_db_prep_save` for one statement's values, skipped where it changes nothing."""
    target = field.target_field if type(field) is models.ForeignKey else field
    kind = _AS_IS.get(type(target))
    if kind is None:
        return lambda value: field.get_db_prep_save(value, connection)

    def prepare(value):
        if value is None or type(value) is kind:
            return value
        return field.get_db_prep_save(value, connection)

    return prepare


def update_each(objects: Sequence, fields: Sequence[str]) -> int:
    """Write `fields` of each model instance (one model) as they are set on it; statements run.

    Only these fields are written, and nothing of `save()` runs (set `auto_now` fields first).
    """
    if not objects:
        return 0
    model = type(objects[0])
    using = router.db_for_write(model)
    connection = connections[using]
    opts = model._meta
    concrete = [opts.get_field(name) for name in fields]
    prepare = {field: _preparer(field, connection) for field in concrete}
    quote = connection.ops.quote_name
    pk_column = quote(opts.pk.column)
    casted = connection.features.requires_casted_case_in_updates
    per_row = 2 * len(concrete) + 1
    batch = max(1, MAX_PARAMS // per_row)
    statements = 0
    with connection.cursor() as cursor:
        for start in range(0, len(objects), batch):
            rows = objects[start : start + batch]
            sets, params = [], []
            for field in concrete:
                whens = []
                for obj in rows:
                    whens.append("WHEN %s THEN %s")
                    params += [obj.pk, prepare[field](getattr(obj, field.attname))]
                case = f"CASE {pk_column} {' '.join(whens)} END"
                if casted:
                    case = f"CAST({case} AS {field.cast_db_type(connection)})"
                sets.append(f"{quote(field.column)} = {case}")
            params += [obj.pk for obj in rows]
            # Only quoted table and column names are spliced in; every value is a parameter.
            where = ", ".join(["%s"] * len(rows))
            sql = f"UPDATE {quote(opts.db_table)} SET {', '.join(sets)} WHERE {pk_column} IN ({where})"  # noqa: S608, E501
            cursor.execute(sql, params)
            statements += 1
    return statements


def insert_each(model, rows: Sequence[dict], *, ignore_conflicts: bool = False) -> int:
    """INSERT `rows` (dicts of attribute names, e.g. `workspace_id`) into `model`'s table;
    statements run. A field a row leaves out gets its default (`auto_now_add`: now); the
    auto primary key is the database's. Nothing of `save()` runs, as with `bulk_create`;
    `ignore_conflicts` skips a row a unique constraint refuses, as `bulk_create`'s does."""
    if not rows:
        return 0
    using = router.db_for_write(model)
    connection = connections[using]
    opts = model._meta
    quote = connection.ops.quote_name
    fields = [f for f in opts.concrete_fields if not f.primary_key or f.attname in rows[0]]
    now = timezone.now()
    defaults = {
        f.attname: now if getattr(f, "auto_now_add", False) or getattr(f, "auto_now", False)
        else f.get_default()
        for f in fields
    }  # fmt: skip
    # A default is the same for every row (`now` too): prepared once.
    prepared_defaults = {
        f.attname: f.get_db_prep_save(defaults[f.attname], connection) for f in fields
    }
    preparers = [(f.attname, _preparer(f, connection)) for f in fields]
    columns = ", ".join(quote(f.column) for f in fields)
    placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
    on_conflict = OnConflict.IGNORE if ignore_conflicts else None
    insert = connection.ops.insert_statement(on_conflict=on_conflict)
    suffix = connection.ops.on_conflict_suffix_sql(fields, on_conflict, None, None)
    batch = max(1, MAX_PARAMS // len(fields))
    statements = 0
    with connection.cursor() as cursor:
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            params = [
                prepare(row[attname]) if attname in row else prepared_defaults[attname]
                for row in chunk
                for attname, prepare in preparers
            ]
            values = ", ".join([placeholders] * len(chunk))
            # Only quoted table and column names are spliced in; every value is a parameter.
            sql = f"{insert} {quote(opts.db_table)} ({columns}) VALUES {values} {suffix}"
            cursor.execute(sql, params)
            statements += 1
    return statements


def insert_one[Instance: models.Model](instance: Instance) -> Instance:
    """INSERT a new instance as `save()` would (its `auto_now_add` fields set, its primary key
    the database's, given back to it), with no signals: none of the models it serves has a
    receiver. Raises `IntegrityError` as `save()` does."""
    return insert_all([instance])[0]


def insert_all[Instance: models.Model](instances: Sequence[Instance]) -> Sequence[Instance]:
    """`insert_one` for new instances of one model, in one statement: their keys come back in
    the order they were given, as `bulk_create` relies on with SQLite and PostgreSQL. A
    constraint refusing any refuses them all (`IntegrityError`)."""
    if not instances:
        return instances
    model = type(instances[0])
    using = router.db_for_write(model)
    connection = connections[using]
    key = (using, model)
    kept = _inserts.get(key)
    if kept is None:
        opts = model._meta
        quote = connection.ops.quote_name
        fields = [f for f in opts.concrete_fields if not f.primary_key]
        columns = ", ".join(quote(f.column) for f in fields)
        # Only quoted table and column names are spliced in; every value is a parameter.
        kept = (
            f"INSERT INTO {quote(opts.db_table)} ({columns}) VALUES ",  # noqa: S608
            "(" + ", ".join(["%s"] * len(fields)) + ")",
            f" RETURNING {quote(opts.pk.column)}",
            fields,
            [_preparer(f, connection) for f in fields],
        )
        with _inserts_lock:
            _inserts[key] = kept
    head, placeholders, returning, fields, preparers = kept
    batch = max(1, MAX_PARAMS // len(fields))
    with connection.cursor() as cursor:
        for start in range(0, len(instances), batch):
            chunk = instances[start : start + batch]
            params = [
                prepare(field.pre_save(instance, True))
                for instance in chunk
                for field, prepare in zip(fields, preparers, strict=True)
            ]
            cursor.execute(head + ", ".join([placeholders] * len(chunk)) + returning, params)
            for instance, (pk,) in zip(chunk, cursor.fetchall(), strict=True):
                instance.pk = pk
                instance._state.adding = False
                instance._state.db = using
    return instances
