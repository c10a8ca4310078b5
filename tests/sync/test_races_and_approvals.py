"""No duplicates however people and workers race; approvals of later changes."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from aharally.records.services import update_record
from aharally.sync.models import Link, OutboxItem, OutboxState
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.drain import drain_outbox
from aharally.sync.review import queue
from aharally.sync.web.jobs import start_job
from aharally.workspaces.models import RecordType
from tests.factories import make_feature, make_release
from tests.sync.support import connect, rally_objects, sandbox_client, token

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_clicks_a_bulk_send_and_two_drains_make_one_rally_object(cast, rally_sandbox):
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    word = token()
    feature = make_feature(cast.workspace, name=f"Raced {word}")
    outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    outbox.request_send(record=feature, integration=integration, user=cast.owner)
    start_job(records=[feature], integration=integration, user=cast.contributor, label="bulk")
    update_record(feature, changes={"name": f"Raced again {word}"}, user=cast.contributor)
    assert OutboxItem.objects.filter(record_id=feature.pk).count() == 1

    def drain():
        try:
            drain_outbox(integration.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=drain) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    drain_outbox(integration.pk)  # whatever a lease-holder left

    assert len(rally_objects(rally_sandbox, "PortfolioItem/Feature", word)) == 1
    assert Link.objects.filter(record_type=RecordType.FEATURE, record_id=feature.pk).count() == 1


@pytest.fixture
def approving(cast, rally_sandbox):
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner, outgoing_mode="approve")
    feature = make_feature(cast.workspace, name=f"Approved {token()}")
    row = outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    queue.approve(user=cast.reviewer, row_ids=[row.pk])
    drain_outbox(integration.pk)
    return integration, feature, Link.objects.get(record_id=feature.pk, record_type="feature")


def _rally_name(sandbox, link) -> str:
    with sandbox_client(sandbox) as client:
        return client.read(f"/portfolioitem/feature/{link.rally_oid}", fetch=["Name"])["Name"]


def test_a_later_change_waits_for_approval_and_approving_sends_the_value_as_it_is_now(
    cast, rally_sandbox, approving
):
    integration, feature, link = approving
    before = _rally_name(rally_sandbox, link)
    update_record(feature, changes={"name": "Second name"}, user=cast.contributor)
    update_record(feature, changes={"name": "Third name"}, user=cast.contributor)
    drain_outbox(integration.pk)
    assert _rally_name(rally_sandbox, link) == before  # nothing went out unapproved

    entries = queue.pending_entries(user=cast.reviewer, filters=queue.QueueFilters())
    [entry] = entries
    assert [(c.in_rally, c.new) for c in entry.changes] == [(before, "Third name")]
    queue.approve(user=cast.reviewer, row_ids=[entry.row.pk])
    drain_outbox(integration.pk)
    assert _rally_name(rally_sandbox, link) == "Third name"


def test_a_rejected_change_stays_in_aharally_and_is_not_offered_again(
    cast, rally_sandbox, approving
):
    integration, feature, link = approving
    before = _rally_name(rally_sandbox, link)
    update_record(feature, changes={"name": "Rejected name"}, user=cast.contributor)
    [entry] = queue.pending_entries(user=cast.reviewer, filters=queue.QueueFilters())
    queue.reject(user=cast.reviewer, row_ids=[entry.row.pk])

    feature.refresh_from_db()
    assert feature.name == "Rejected name"
    # Sending the record again leaves the rejected value out.
    row = outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    queue.approve(user=cast.reviewer, row_ids=[row.pk])
    drain_outbox(integration.pk)
    assert _rally_name(rally_sandbox, link) == before
    # A new value is a new change, offered again.
    update_record(feature, changes={"name": "Newer name"}, user=cast.contributor)
    assert queue.pending_entries(user=cast.reviewer, filters=queue.QueueFilters())


def test_a_rich_text_change_waits_for_the_quiet_period(cast, rally_sandbox, settings):
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    feature = make_feature(cast.workspace, name=f"Quiet {token()}")
    outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    drain_outbox(integration.pk)
    link = Link.objects.get(record_id=feature.pk, record_type="feature")
    settings.SYNC_RICH_TEXT_QUIET_SECONDS = 300

    update_record(feature, changes={"description": "<p>typing…</p>"}, user=cast.contributor)
    update_record(feature, changes={"description": "<p>typed.</p>"}, user=cast.contributor)
    drain_outbox(integration.pk)
    row = OutboxItem.objects.get(record_id=feature.pk, state=OutboxState.QUEUED)
    assert row.not_before > timezone.now() + timedelta(seconds=250)

    OutboxItem.objects.filter(pk=row.pk).update(not_before=timezone.now())  # 5 minutes later
    drain_outbox(integration.pk)
    with sandbox_client(rally_sandbox) as client:
        held = client.read(f"/portfolioitem/feature/{link.rally_oid}", fetch=["Description"])
    assert held["Description"] == "<p>typed.</p>"


def test_send_release_to_rally_sends_the_release_and_its_features(client, cast, rally_sandbox):
    from datetime import date

    from django.urls import reverse

    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    word = token()
    release = make_release(
        cast.workspace,
        name=f"Rel {word}",
        start_date=date(2027, 1, 1),
        release_date=date(2027, 2, 1),
    )
    features = [
        make_feature(cast.workspace, release=release, name=f"In {word} {n}") for n in range(3)
    ]
    client.force_login(cast.contributor)
    url = reverse(
        "sync:send", kwargs={"prefix": "PLAT", "record_type": "release", "record_id": release.pk}
    )
    preview = client.post(url, {"integration": integration.pk}, HTTP_HX_REQUEST="true")
    assert "1 release and 3 features: 4 to create" in preview.content.decode()
    assert 'name="confirmed"' in preview.content.decode()
    assert not OutboxItem.objects.filter(integration=integration).exists()
    response = client.post(
        url, {"integration": integration.pk, "confirmed": "1"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert "Sending 0 of 4" in response.content.decode()
    drain_outbox(integration.pk)
    assert len(rally_objects(rally_sandbox, "Release", word)) == 1
    assert len(rally_objects(rally_sandbox, "PortfolioItem/Feature", word)) == 3
    assert (
        Link.objects.filter(record_type="feature", record_id__in=[f.pk for f in features]).count()
        == 3
    )
