"""The drain's statements on its own rows, composed once per shape rather than once per object:
its UPDATEs (`update_where`, `update_each`) and its claims (`claim_statements`).

`OutboxItem.objects.filter(...).update(...)` composes its SQL anew each time: more CPU than the
database takes to run it, twice for every object a send creates (the mark before the request,
the outcome after). `update_where` keeps the SQL of each shape (the model, the columns set and
those matched, all by equality) and prepares each value as the ORM's `update` would
(`get_db_prep_save`: JSON encoded, dates adapted). Plain values only, no expressions.
"""

from __future__ import annotations

import threading

from django.db import connections, router

from aharally.sync.sqltext import constant

_statements: dict[tuple, str] = {}
_lock = threading.Lock()


def update_where(model, where: dict, **values) -> int:
    """UPDATE the model's rows matching every `where` (field → value) with `values`; the
    number of rows updated."""
    connection, sql = _update_statement(model, where, values)
    with connection.cursor() as cursor:
        cursor.execute(sql, _params(model, connection, where, values))
        return cursor.rowcount


def update_each(model, changes: list[tuple[dict, dict]]) -> None:
    """`update_where` for many rows at once, each its own (`where`, `values`) of one shape
    (the same fields in the same order): one statement run for each, prepared once."""
    if not changes:
        return
    where, values = changes[0]
    connection, sql = _update_statement(model, where, values)
    with connection.cursor() as cursor:
        cursor.executemany(sql, [_params(model, connection, w, v) for w, v in changes])


def _update_statement(model, where: dict, values: dict) -> tuple[object, str]:
    alias = router.db_for_write(model)
    connection = connections[alias]
    key = (alias, model, tuple(values), tuple(where))
    sql = _statements.get(key)
    if sql is None:
        meta = model._meta
        quote = connection.ops.quote_name
        setting = ", ".join(f"{quote(meta.get_field(name).column)} = %s" for name in values)
        matching = " AND ".join(f"{quote(meta.get_field(name).column)} = %s" for name in where)
        sql = f"UPDATE {quote(meta.db_table)} SET {setting} WHERE {matching}"  # noqa: S608
        with _lock:
            _statements[key] = sql
    return connection, sql


def _params(model, connection, where: dict, values: dict) -> list:
    meta = model._meta
    params = [
        meta.get_field(name).get_db_prep_save(value, connection) for name, value in values.items()
    ]
    params += [
        meta.get_field(name).get_db_prep_value(value, connection, prepared=False)
        for name, value in where.items()
    ]
    return params


# -- claiming ---------------------------------------------------------------------------------
# A claim's two statements (`attempts.claim_ready`), written once: composing them through the
# ORM cost four times what running them did, on every claim a drain makes (one for every dozen
# objects it sends). The states are written in, not bound (`sqltext`: SQLite prepared a
# statement binding one again on every run, for the outbox's partial indexes).


class _Claim:
    def __init__(self, model, connection) -> None:
        from aharally.sync.models import OutboxState

        quote = connection.ops.quote_name
        meta = model._meta
        self.model = model
        self.fields = meta.concrete_fields
        self.attnames = [field.attname for field in self.fields]
        table = quote(meta.db_table)
        state, not_before = quote("state"), quote("not_before")
        self.ready = (
            f"{state} = {constant(OutboxState.QUEUED)} "
            f"AND ({not_before} IS NULL OR {not_before} <= %s)"
        )
        columns = ", ".join(quote(field.column) for field in self.fields)
        self.select = (
            f"SELECT {columns} FROM {table} WHERE {quote('integration_id')} = %s "  # noqa: S608
            f"AND {self.ready} ORDER BY {quote('created_at')}, {quote('id')} LIMIT %s"
        )
        if connection.features.has_select_for_update_skip_locked:
            # Each row locked as it is chosen; a second claimer takes others, never waits.
            self.select += " FOR UPDATE SKIP LOCKED"
        self.mark = (
            f"UPDATE {table} SET {state} = {constant(OutboxState.IN_FLIGHT)}, "  # noqa: S608
            f"{quote('claim_token')} = %s, {quote('claimed_at')} = %s WHERE {self.ready} "
            f"AND {quote('id')} IN "
        )
        # How the ORM converts each column's value as read (JSON decoded, dates made aware).
        self.converters = []
        for field in self.fields:
            column = field.get_col(meta.db_table)
            found = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
            self.converters.append([(converter, column) for converter in found])
        self.moment = meta.get_field("not_before")

    def rows(self, connection, alias: str, *, integration_id: int, now, limit: int) -> list:
        moment = self.moment.get_db_prep_value(now, connection)
        with connection.cursor() as cursor:
            cursor.execute(self.select, [integration_id, moment, limit])
            found = cursor.fetchall()
        rows = []
        for values in found:
            converted = []
            for value, converters in zip(values, self.converters, strict=True):
                for converter, column in converters:
                    value = converter(value, column, connection)
                converted.append(value)
            rows.append(self.model.from_db(alias, self.attnames, converted))
        return rows

    def take(self, connection, ids: list[int], *, token: str, now) -> int:
        moment = self.moment.get_db_prep_value(now, connection)
        placeholders = ", ".join(["%s"] * len(ids))
        with connection.cursor() as cursor:
            cursor.execute(f"{self.mark}({placeholders})", [token, moment, moment, *ids])
            return cursor.rowcount


_claims: dict[tuple, _Claim] = {}


def claim_statements(model) -> tuple[_Claim, object, str]:
    """The claim's statements for the model's database: (statements, connection, alias)."""
    alias = router.db_for_write(model)
    connection = connections[alias]
    key = (alias, connection.vendor, model)
    found = _claims.get(key)
    if found is None:
        found = _Claim(model, connection)
        with _lock:
            _claims[key] = found
    return found, connection, alias
