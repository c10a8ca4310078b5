"""`attempts.claim_ready`, the drain's claim, written as two statements composed once: it takes
what the ORM's `ready_q` would, oldest first, and its rows are what the ORM reads."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from aharally.integrations.models import Integration
from aharally.sync.models import OutboxItem, OutboxKind, OutboxState
from aharally.sync.outgoing import attempts

pytestmark = pytest.mark.django_db


@pytest.fixture
def integrations(cast):
    def made(name):
        return Integration.objects.create(
            workspace=cast.workspace, name=name, rally_url="https://rally1.rallydev.com"
        )

    return made("Rally"), made("Other")


def _row(integration, record_id, **fields) -> OutboxItem:
    fields.setdefault("state", OutboxState.QUEUED)
    return OutboxItem.objects.create(
        integration=integration,
        record_type="feature",
        record_id=record_id,
        kind=OutboxKind.UPDATE,
        **fields,
    )


def _columns(row) -> dict:
    return {field.attname: getattr(row, field.attname) for field in row._meta.concrete_fields}


def test_a_claim_takes_the_due_queued_rows_oldest_first_and_reads_them_as_the_orm(
    cast, integrations
):
    mine, other = integrations
    now = timezone.now()
    rich = _row(
        mine, 1, fields=["name", "tags"], values={"name": "Ünïcode “quoted”", "tags": ["a", "b"]},
        sent_values={"estimate": 3.5}, not_before=now - timedelta(seconds=5),
        first_attempt_at=now - timedelta(minutes=1), attempts=2, look_before_send=True,
        error_kind="transient", error_message="Rally answered 503", cascade=True,
        created_by=cast.owner,
    )  # fmt: skip
    plain = _row(mine, 2)
    _row(mine, 3, not_before=now + timedelta(minutes=5))  # not due yet
    _row(mine, 4, state=OutboxState.AWAITING_APPROVAL)
    _row(mine, 5, state=OutboxState.SENT)
    _row(other, 6)  # another integration's
    later = _row(mine, 7)

    claimed = attempts.claim_ready(integration_id=mine.pk, limit=2)

    assert [row.pk for row in claimed] == [rich.pk, plain.pk]
    token = claimed[0].claim_token
    assert token and all(row.claim_token == token for row in claimed)
    for row in claimed:
        stored = OutboxItem.objects.get(pk=row.pk)
        assert stored.state == OutboxState.IN_FLIGHT
        assert _columns(row) == _columns(stored)
    assert claimed[0].values == {"name": "Ünïcode “quoted”", "tags": ["a", "b"]}
    assert claimed[0].sent_values == {"estimate": 3.5}
    assert claimed[0].not_before.tzinfo is not None

    # The next claim takes what is left and due, and nothing of the first claim's.
    assert [row.pk for row in attempts.claim_ready(integration_id=mine.pk, limit=10)] == [later.pk]
    assert attempts.claim_ready(integration_id=mine.pk, limit=10) == []


def test_a_claim_is_one_select_and_one_update(integrations):
    mine, _ = integrations
    for record_id in range(12):
        _row(mine, record_id)
    with CaptureQueriesContext(connection) as queries:
        assert len(attempts.claim_ready(integration_id=mine.pk, limit=12)) == 12
    statements = [
        query["sql"].split()[0].upper()
        for query in queries.captured_queries
        if not query["sql"].upper().startswith(("SAVEPOINT", "RELEASE", "BEGIN"))
    ]
    assert statements == ["SELECT", "UPDATE"]
