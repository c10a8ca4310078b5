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
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections, router
from django.utils import timezone

# Parameters a statement: under SQLite's historic bound of 999, whatever the build allows.
MAX_PARAMS = 900


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
                    params += [
                        obj.pk,
                        field.get_db_prep_save(getattr(obj, field.attname), connection),
                    ]
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


def insert_each(model, rows: Sequence[dict]) -> int:
    """INSERT `rows` (dicts of attribute names, e.g. `workspace_id`) into `model`'s table;
    statements run. A field a row leaves out gets its default (`auto_now_add`: now); the
    auto primary key is the database's. Nothing of `save()` runs, as with `bulk_create`."""
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
    columns = ", ".join(quote(f.column) for f in fields)
    placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
    batch = max(1, MAX_PARAMS // len(fields))
    statements = 0
    with connection.cursor() as cursor:
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            params = [
                f.get_db_prep_save(row.get(f.attname, defaults[f.attname]), connection)
                for row in chunk
                for f in fields
            ]
            values = ", ".join([placeholders] * len(chunk))
            # Only quoted table and column names are spliced in; every value is a parameter.
            sql = f"INSERT INTO {quote(opts.db_table)} ({columns}) VALUES {values}"  # noqa: S608
            cursor.execute(sql, params)
            statements += 1
    return statements
