"""The minute's schedules: the tick drains what is due where no drain is under way, and the
catch-up is asked for each enabled integration with links, reading integrations, not links."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.models import OrmQ

from aharally.integrations.models import Integration, IntegrationState
from aharally.sync import links, tasks
from aharally.sync.enqueue import DRAIN
from aharally.sync.leases import Lease
from aharally.sync.models import DrainLease, Link, OutboxItem, OutboxKind, OutboxState
from aharally.sync.outgoing import attempts

pytestmark = pytest.mark.django_db


@pytest.fixture
def integrations(cast):
    def made(name, state=IntegrationState.ENABLED):
        return Integration.objects.create(
            workspace=cast.workspace,
            name=name,
            rally_url="https://rally1.rallydev.com",
            state=state,
        )

    return made("Rally"), made("Other"), made("Draft", IntegrationState.DRAFT)


def _due(integration, record_id) -> OutboxItem:
    return OutboxItem.objects.create(
        integration=integration,
        record_type="feature",
        record_id=record_id,
        kind=OutboxKind.UPDATE,
        state=OutboxState.QUEUED,
    )


def _drains_queued() -> list[int]:
    return sorted(row.task["args"][0] for row in OrmQ.objects.all() if row.func() == DRAIN)


def test_the_tick_drains_due_rows_of_enabled_integrations_with_no_drain_under_way(integrations):
    mine, other, _draft = integrations
    for integration in integrations:
        _due(integration, 1)
    under_way = Lease(DrainLease, other.pk)
    assert under_way.take()

    assert tasks.tick()["drained"] == [mine.pk]
    assert _drains_queued() == [mine.pk]

    # The drain's worker died: once its lease has expired, the tick drains its rows.
    OrmQ.objects.all().delete()
    DrainLease.objects.filter(pk=other.pk).update(expires_at=timezone.now() - timedelta(1))
    assert tasks.tick()["drained"] == [mine.pk, other.pk]
    # … as it does once a drain has ended and given its lease back.
    under_way.take()
    under_way.give_back()
    assert tasks.tick()["drained"] == [mine.pk, other.pk]
    assert OutboxItem.objects.filter(attempts.ready_q(timezone.now())).count() == 3


def test_the_catch_up_is_asked_once_for_each_enabled_integration_with_links(cast, integrations):
    mine, _other, draft = integrations
    for n, integration in enumerate([mine, mine, mine, draft]):
        links.new_link(
            integration=integration, record_type="feature", record_id=n + 1,
            rally_type="PortfolioItem/Feature", rally_oid=1000 + n,
        ).save()  # fmt: skip

    with CaptureQueriesContext(connection) as queries:
        asked = tasks.catch_up()

    assert asked == [mine.pk]
    # The links are only asked whether any exists: they were read one row each, every minute.
    table = Link._meta.db_table
    reads = [q["sql"].upper() for q in queries if f'"{table}"'.upper() in q["sql"].upper()]
    assert reads
    assert all("EXISTS" in sql for sql in reads)
