"""A created feature's requirements follow it to Rally: their create rows, written at once;
those already in Rally get an update that puts them under the feature's new object.

Called in the transaction that stores the feature's link. One query chooses them (not linked
yet, no row of theirs open or in flight) and one insert writes their rows, whatever the
number; a requirement that has a row already joins it the way every send does
(`outbox.write_row`).
"""

from __future__ import annotations

from django.db import connection, transaction

from aharally.records.models import Requirement
from aharally.records.rows import insert_each
from aharally.sync.models import (
    OPEN_STATES,
    Link,
    LinkState,
    OutboxItem,
    OutboxKind,
    OutboxState,
)
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.run import DrainRun
from aharally.sync.sqltext import constant, constants
from aharally.workspaces.models import RecordType


def follows_features(config) -> bool:
    """Whether the integration sends a created feature's requirements after it."""
    return (
        RecordType.FEATURE,
        RecordType.REQUIREMENT,
    ) in config.relationship_links and config.mapping_for(RecordType.REQUIREMENT) is not None


def requirements_to_follow(*, integration, feature_ids) -> dict[int, list[tuple[int, bool, bool]]]:
    """The requirements of these features as (id, linked here, has a row open or in flight),
    by feature, in Rally's order: one query however many features (a send asks for its
    feature, a preview for the whole selection).

    Written as SQL: the ORM's two Exists cost more CPU to compose than the query takes, once
    for every feature a send creates."""
    found: dict[int, list[tuple[int, bool, bool]]] = {pk: [] for pk in feature_ids}
    if not found:
        return found
    quote = connection.ops.quote_name
    link, row, requirement = (
        quote(model._meta.db_table) for model in (Link, OutboxItem, Requirement)
    )
    states = [*OPEN_STATES, OutboxState.IN_FLIGHT]
    mine = (
        f"{quote('integration_id')} = %s AND {quote('record_type')} = %s "
        f"AND {quote('record_id')} = r.{quote('id')}"
    )
    # Identifiers from the models' metadata, values as parameters, states written in
    # (`sqltext`: bound, they made SQLite prepare the statement again each time).
    sql = (
        f"SELECT r.{quote('feature_id')}, r.{quote('id')}, "  # noqa: S608
        f"EXISTS(SELECT 1 FROM {link} WHERE {mine} "
        f"AND {quote('state')} = {constant(LinkState.OK)}), "
        f"EXISTS(SELECT 1 FROM {row} WHERE {mine} AND {quote('state')} IN ({constants(states)})) "
        f"FROM {requirement} r WHERE r.{quote('feature_id')} IN "
        f"({', '.join(['%s'] * len(found))}) "
        f"ORDER BY r.{quote('feature_id')}, r.{quote('rank')}, r.{quote('number')}"
    )
    params = [
        integration.pk, RecordType.REQUIREMENT,
        integration.pk, RecordType.REQUIREMENT,
        *found,
    ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(sql, [str(p) if isinstance(p, str) else p for p in params])
        for feature_id, pk, is_linked, has_row in cursor.fetchall():
            found[feature_id].append((pk, bool(is_linked), bool(has_row)))
    return found


def follow_feature(row: OutboxItem, run: DrainRun, *, feature, integration) -> None:
    """Queue the creates of the feature's requirements, when the integration sends them."""
    follow_features(run, integration, [(row, feature.pk)])


def follow_features(run: DrainRun, integration, created: list[tuple[OutboxItem, int]]) -> None:
    """`follow_feature` for features created together ((row, feature id) pairs, all of one
    integration): one query and one insert, however many."""
    if not created or not follows_features(run.config_for(integration)):
        return
    found = requirements_to_follow(
        integration=integration, feature_ids=[feature_id for _row, feature_id in created]
    )
    fresh = []
    for row, feature_id in created:
        for pk, is_linked, has_row in found[feature_id]:
            if is_linked:
                # Already in Rally (linked by hand, or left behind when Rally deleted the
                # feature's old object, which empties its stories' parent): put it under
                # this one.
                _reparent(row, integration, pk)
            elif has_row:
                _join(row, integration, pk)
            else:
                fresh.append(_create_row(row, integration, pk))
    # A requirement given an open row since the query above (a person sent it, on PostgreSQL;
    # SQLite's write lock is held) keeps that row, which creates it: a conflict here is
    # skipped, never an error that would undo the feature's link.
    insert_each(OutboxItem, fresh, ignore_conflicts=True)


def _create_row(row: OutboxItem, integration, requirement_id: int) -> dict:
    return {
        "integration_id": integration.pk,
        "record_type": RecordType.REQUIREMENT,
        "record_id": requirement_id,
        "kind": OutboxKind.CREATE,
        "state": OutboxState.QUEUED,
        "job_id": row.job_id,
        "created_by_id": row.created_by_id,
        "from_parent": True,
    }


def _reparent(row: OutboxItem, integration, requirement_id: int) -> None:
    outbox.write_row(
        integration=integration,
        record_type=RecordType.REQUIREMENT,
        record_id=requirement_id,
        kind=OutboxKind.UPDATE,
        fields=["feature"],
        user=row.created_by,
        job=row.job,
        state=OutboxState.QUEUED,
    )


def _join(row: OutboxItem, integration, requirement_id: int) -> None:
    with transaction.atomic():
        child = outbox.write_row(
            integration=integration,
            record_type=RecordType.REQUIREMENT,
            record_id=requirement_id,
            kind=OutboxKind.CREATE,
            user=row.created_by,
            job=row.job,
            state=OutboxState.QUEUED,
        )
        if not child.from_parent:
            OutboxItem.objects.filter(pk=child.pk).update(from_parent=True)
