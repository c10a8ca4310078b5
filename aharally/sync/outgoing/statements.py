"""The drain's UPDATEs of its own rows, composed once per shape rather than once per object.

`OutboxItem.objects.filter(...).update(...)` composes its SQL anew each time: more CPU than the
database takes to run it, twice for every object a send creates (the mark before the request,
the outcome after). `update_where` keeps the SQL of each shape (the model, the columns set and
those matched, all by equality) and prepares each value as the ORM's `update` would
(`get_db_prep_save`: JSON encoded, dates adapted). Plain values only, no expressions.
"""

from __future__ import annotations

import threading

from django.db import connections, router

_statements: dict[tuple, str] = {}
_lock = threading.Lock()


def update_where(model, where: dict, **values) -> int:
    """UPDATE the model's rows matching every `where` (field → value) with `values`; the
    number of rows updated."""
    alias = router.db_for_write(model)
    connection = connections[alias]
    key = (alias, model, tuple(values), tuple(where))
    sql = _statements.get(key)
    meta = model._meta
    if sql is None:
        quote = connection.ops.quote_name
        setting = ", ".join(f"{quote(meta.get_field(name).column)} = %s" for name in values)
        matching = " AND ".join(f"{quote(meta.get_field(name).column)} = %s" for name in where)
        sql = f"UPDATE {quote(meta.db_table)} SET {setting} WHERE {matching}"  # noqa: S608
        with _lock:
            _statements[key] = sql
    params = [
        meta.get_field(name).get_db_prep_save(value, connection) for name, value in values.items()
    ]
    params += [
        meta.get_field(name).get_db_prep_value(value, connection, prepared=False)
        for name, value in where.items()
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
