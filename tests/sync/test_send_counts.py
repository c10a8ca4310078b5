"""What a bulk send costs in SQL: per created object in the drain, and for the requests that
start it and review it (the board's Send to Rally, Integration updates), whatever their size."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from aharally.rally.transport import RALLY_CONCURRENCY_PER_USER
from aharally.records.models import Feature, Requirement
from aharally.sync.models import Activity, Link, OutboxItem, OutboxState
from aharally.sync.outgoing import drain, outbox, push
from aharally.sync.outgoing.drain import drain_outbox
from aharally.sync.web.jobs import start_job
from tests.factories import make_feature, make_requirement
from tests.sqlcount import CountingStatements
from tests.sync.support import connect, token

pytestmark = pytest.mark.django_db(transaction=True)

# Per created object: the claim's share; the share of the query reading the records of the
# creates begun together (with their link checks) and of the transaction writing their marks
# before the requests (a lost answer is looked for); the share of the transaction writing the
# creates answered together (BEGIN, their links, their rows finished, their history lines,
# features' requirements queued: a statement each, however many); and the slots' share (kept
# from one request to the next). About 2 here; one object at a time it was about 7.2.
MOST_STATEMENTS_PER_OBJECT = 4
# Once a drain: the lease, the configuration, the look-ups, People's map (three) and the
# once-a-day notice of an assignee with no Rally user.
MOST_STATEMENTS_ONCE_A_DRAIN = 90


@pytest.fixture
def answers_linked_together(monkeypatch):
    """How many of Rally's answers come within half a second of each other depends on the
    machine's load; here each waits for others (up to a dozen, or until nothing else is out),
    so what is counted is the statements' own shape, not the machine's speed (bench/send.py
    measures it as it comes). So does how often a drain whose queue is empty claims again,
    which links what was answered first (a feature's requirements it queues are then due):
    here not until its sends are done."""
    monkeypatch.setattr(drain, "FINISH_TOGETHER_SECONDS", 10.0)
    monkeypatch.setattr(drain, "EMPTY_CLAIM_PAUSE_SECONDS", 10.0)
    monkeypatch.setattr(drain, "QUIET_CLAIM_SECONDS", 10.0)


def _drain_counted(integration) -> tuple[int, int]:
    """(statements on every connection the drain opened, objects it created)."""
    before = Link.objects.count()
    with CountingStatements() as counted:
        drain_outbox(integration.pk)
    return counted.total, Link.objects.count() - before


def test_a_bulk_send_costs_at_most_four_statements_per_created_object_whatever_its_size(
    cast, rally_sandbox, answers_linked_together
):
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)

    def send(count: int) -> tuple[int, int]:
        features = [make_feature(cast.workspace, name=f"{token()} {n}") for n in range(count)]
        for feature in features:
            make_requirement(feature, name=f"Card {token()}")
            make_requirement(feature, name=f"Invoice {token()}")
        start_job(records=features, integration=integration, user=cast.contributor, label="x")
        return _drain_counted(integration)

    (small, small_objects), (large, large_objects) = send(5), send(15)

    assert (small_objects, large_objects) == (15, 45)
    assert OutboxItem.objects.exclude(state=OutboxState.SENT).count() == 0
    # Each further object costs the same few statements; what a drain pays once (its lease,
    # the configuration, the first slots) is spread over however many it sends.
    per_object = (large - small) / (large_objects - small_objects)
    assert per_object <= MOST_STATEMENTS_PER_OBJECT, per_object
    # A drain's own: its lease, the integration's configuration, a slot for each thread.
    assert small - per_object * small_objects <= MOST_STATEMENTS_ONCE_A_DRAIN


def test_a_bulk_sends_creates_are_read_and_written_on_the_drains_own_connection(
    cast, rally_sandbox
):
    """The pool's threads wait on Rally's answers (and read the type's look-ups, side by
    side); every record read, mark, link, row and history line of the creates is on the
    drain's thread: one SQLite connection, whose pages no other connection's writes make it
    read again."""
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    features = [make_feature(cast.workspace, name=f"{token()} {n}") for n in range(8)]
    for feature in features:
        make_requirement(feature, name=f"Card {token()}")
    start_job(records=features, integration=integration, user=cast.contributor, label="x")

    with CountingStatements() as counted:
        drain_outbox(integration.pk)

    assert Link.objects.filter(integration=integration).count() == 16
    assert OutboxItem.objects.exclude(state=OutboxState.SENT).count() == 0
    tables = [model._meta.db_table for model in (Feature, Requirement, OutboxItem, Link, Activity)]
    on_the_drains = [sql for sql in counted.statements if sql not in counted.on_other_threads]
    elsewhere = [sql for sql in counted.on_other_threads if any(t in sql for t in tables)]
    assert elsewhere == [], [sql[:120] for sql in elsewhere[:5]]
    assert any(Link._meta.db_table in sql for sql in on_the_drains)


def test_a_drain_reads_no_more_records_ahead_than_it_has_threads(cast, rally_sandbox, monkeypatch):
    """A claim takes a batch ahead of the threads (30 rows for 18 threads), but a create's
    record is read and its payload built only when a thread is free to send it: what it
    read never waits in a queue behind a dozen other requests."""
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    features = [make_feature(cast.workspace, name=f"{token()} {n}") for n in range(40)]
    start_job(records=features, integration=integration, user=cast.contributor, label="x")
    begun, most = set(), []

    def counted_begin(rows, run):
        works = push.begin_rows(rows, run)
        for _row, work in works:
            if isinstance(work, push.Create):
                begun.add(id(work))
                most.append(len(begun))
        return works

    def counted_finish(work, future, answered):
        begun.discard(id(work))
        return push.finish_row(work, future, answered)

    monkeypatch.setattr(drain, "begin_rows", counted_begin)
    monkeypatch.setattr(drain, "finish_row", counted_finish)

    drain.drain_outbox(integration.pk)

    assert Link.objects.filter(integration=integration).count() == 40
    assert len(most) == 40  # every create went the split way
    width = min(settings.SYNC_CONCURRENCY, RALLY_CONCURRENCY_PER_USER)
    assert max(most) <= width + max(1, int(width * drain.SPARE_THREADS_SHARE))


def test_a_bulk_sends_creates_are_begun_and_linked_a_few_together(
    cast, rally_sandbox, answers_linked_together
):
    """Once every slot has a request, the drain begins creates a few together (one query for
    their records, one transaction for their marks), and links the creates Rally answered
    together (one INSERT for their links): far fewer statements than objects for each."""
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    features = [make_feature(cast.workspace, name=f"{token()} {n}") for n in range(36)]
    start_job(records=features, integration=integration, user=cast.contributor, label="x")
    feature_table, link_table = Feature._meta.db_table, Link._meta.db_table

    with CountingStatements() as counted:
        drain_outbox(integration.pk)

    assert Link.objects.filter(integration=integration).count() == 36
    assert not OutboxItem.objects.exclude(state=OutboxState.SENT).exists()
    records_read = [
        sql for sql in counted.statements
        if sql.startswith("SELECT") and f'FROM "{feature_table}"' in sql
    ]  # fmt: skip
    links_written = [sql for sql in counted.statements if f'INSERT INTO "{link_table}"' in sql]
    assert len(records_read) <= 36 / 3, len(records_read)
    assert len(links_written) <= 36 / 4, len(links_written)


def _bulk_send(client, cast, integration, count: int) -> int:
    features = [make_feature(cast.workspace, name=f"Bulk {token()} {n}") for n in range(count)]
    with CaptureQueriesContext(connection) as captured:
        response = client.post(
            reverse("records:bulk_action", kwargs={"prefix": cast.workspace.prefix}),
            {
                "action": "send_to_rally",
                "ids": [f.pk for f in features],
                "send_to_rally-integration": integration.pk,
                "confirmed": "1",  # as from the preview's Send
            },
            HTTP_HX_REQUEST="true",
        )
    assert response.status_code == 200, response.content[:500]
    assert OutboxItem.objects.filter(record_id__in=[f.pk for f in features]).count() == count
    return len(captured)


def test_the_boards_send_to_rally_costs_the_same_queries_for_two_features_as_for_twelve(
    client, cast, rally_sandbox
):
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    client.force_login(cast.contributor)
    _bulk_send(client, cast, integration, 1)  # first use: sessions, caches

    assert _bulk_send(client, cast, integration, 2) == _bulk_send(client, cast, integration, 12)


def test_integration_updates_and_approving_a_selection_cost_the_same_queries_at_any_size(
    client, cast, rally_sandbox
):
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner, outgoing_mode="approve")
    client.force_login(cast.owner)
    page = reverse("sync:integration_updates")
    decide = reverse("sync:decide")

    def queued(count: int) -> list[int]:
        rows = []
        for n in range(count):
            feature = make_feature(cast.workspace, name=f"Review {token()} {n}")
            rows.append(
                outbox.request_send(
                    record=feature, integration=integration, user=cast.contributor
                ).pk
            )
        failed = make_feature(cast.workspace, name=f"Failed {token()}")
        row = outbox.request_send(record=failed, integration=integration, user=cast.contributor)
        OutboxItem.objects.filter(pk=row.pk).update(
            state=OutboxState.FAILED, error_kind="validation", error_message="Rally refused it"
        )
        return rows

    def costs(count: int) -> tuple[int, int]:
        rows = queued(count)
        with CaptureQueriesContext(connection) as shown:
            assert client.get(page).status_code == 200
        with CaptureQueriesContext(connection) as approved:
            response = client.post(decide, {"action": "approve", "ids": rows})
        assert response.status_code in (200, 302)
        assert OutboxItem.objects.filter(pk__in=rows, state=OutboxState.QUEUED).count() == count
        return len(shown), len(approved)

    costs(1)  # first use: sessions, caches
    small, large = costs(2), costs(12)
    assert small == large
