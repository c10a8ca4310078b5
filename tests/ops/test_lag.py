"""Acceptance 4: the lag each way on the integration's pages and /metrics equals what happened."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.dateparse import parse_datetime

from aharally.ops import lag
from aharally.ops.models import IncomingLag
from aharally.records.services import update_record
from aharally.sync.incoming.catchup import run_catch_up
from aharally.sync.models import Link, OutboxItem, OutboxState
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.drain import drain_outbox
from aharally.workspaces.models import RecordType
from tests.factories import make_feature
from tests.ops.metrics_support import TOKEN, scrape, value
from tests.sync.support import connect, sandbox_client, token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def linked(cast, rally_sandbox):
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    feature = make_feature(cast.workspace, name=f"Lagging {token()}")
    outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    drain_outbox(integration.pk)
    return (
        integration,
        feature,
        Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk),
    )


def test_a_change_applied_40_s_after_rally_made_it_shows_in_the_hours_figures(
    linked, rally_sandbox, owner_client, cast, monkeypatch, client, settings
):
    integration, _, link = linked
    settings.METRICS_TOKEN = TOKEN
    before = value(scrape(client), "aharally_sync_lag_seconds_count", direction="to_aharally")
    with sandbox_client(rally_sandbox) as rally:
        rally.update(f"/portfolioitem/feature/{link.rally_oid}", {"Name": f"Later {token()}"})
        made = rally.read(f"/portfolioitem/feature/{link.rally_oid}", fetch=["LastUpdateDate"])
    # The catch-up runs as if 40 s after Rally's change.
    applied = parse_datetime(made["LastUpdateDate"]) + timedelta(seconds=40)
    monkeypatch.setattr(lag, "now", lambda: applied)
    run_catch_up(integration.pk)

    assert list(IncomingLag.objects.values_list("seconds", flat=True)) == [40.0]
    page = owner_client.get(
        reverse(
            "integrations:settings",
            kwargs={"prefix": cast.workspace.prefix, "integration_id": integration.pk},
        )
    ).content.decode()
    assert '<td data-lag="to-aharally-hour">40 s median, 40 s p95 (1 change)</td>' in page
    assert '<td data-lag="to-aharally-day">40 s median, 40 s p95 (1 change)</td>' in page
    manage = owner_client.get(
        reverse("integrations:manage", kwargs={"prefix": cast.workspace.prefix})
    ).content.decode()
    # Manage integrations: median / p95 each way, over the hour and over the day.
    assert '<span data-lag="to-aharally-hour">40 s / 40 s</span>' in manage
    assert '<span data-lag="to-aharally-day">40 s / 40 s</span>' in manage
    assert '<span data-lag="to-rally-day">' in manage
    # The send that linked it: one change to Rally, the row's own lag.
    assert 'data-lag="to-rally-hour">' in page and "(1 change)</td>" in page
    health = page[page.index('<section class="panel health"') :]
    health = health[: health.index("</section>")]
    assert "<rect " in health and "<script" not in health and "style=" not in health

    samples = scrape(client)
    assert value(samples, "aharally_sync_lag_seconds_count", direction="to_aharally") == before + 1
    assert value(samples, "aharally_sync_lag_seconds_count", direction="to_rally") >= 1


def test_the_lag_to_rally_is_the_rows_wait_and_an_hour_later_it_leaves_the_hours_figures(
    linked, cast, monkeypatch
):
    integration, feature, _ = linked
    update_record(feature, changes={"name": f"Edited {token()}"}, user=cast.contributor)
    row = OutboxItem.objects.get(state=OutboxState.QUEUED)
    OutboxItem.objects.filter(pk=row.pk).update(created_at=row.created_at - timedelta(seconds=90))
    drain_outbox(integration.pk)

    health = lag.health_of([integration.pk])[integration.pk]
    assert health.to_rally_hour.count == 2  # the create, then this update
    assert health.to_rally_hour.p95 >= 90
    assert health.last_send is not None and health.failures_day == 0

    later = lag.now() + timedelta(hours=2)
    monkeypatch.setattr(lag, "now", lambda: later)
    health = lag.health_of([integration.pk])[integration.pk]
    assert health.to_rally_hour.count == 0
    assert health.to_rally_day.count == 2


def test_the_figures_cost_the_same_queries_for_one_integration_or_three(
    linked, cast, rally_sandbox
):
    integration, _, _ = linked
    with CaptureQueriesContext(connection) as one:
        lag.health_of([integration.pk])
    others = [
        connect(cast.workspace, rally_sandbox, owner=cast.owner, name=f"Rally {n}")
        for n in range(2)
    ]
    with CaptureQueriesContext(connection) as three:
        lag.health_of([integration.pk, *[o.pk for o in others]])
    assert len(one) == len(three) == 5


def test_percentiles_are_nearest_rank():
    figures = lag.figures_of([float(n) for n in range(1, 101)])
    assert (figures.count, figures.median, figures.p95) == (100, 50.5, 95.0)
    assert str(lag.figures_of([])) == "no changes"
