"""Episodes, preferences and digests, on the database alone (no Rally needed)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from aharally.alerts import checks, services
from aharally.alerts.models import AlertKind, Episode, Notification
from aharally.sync.models import ErrorKind, OutboxItem, OutboxKind, OutboxState
from aharally.workspaces.models import RecordType
from tests.integrations.builders import configured_integration

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def integration(cast):
    return configured_integration(cast.workspace)


def _rows(integration, count, *, state, start=1, **fields):
    for n in range(start, start + count):
        OutboxItem.objects.create(
            integration=integration,
            record_type=RecordType.FEATURE,
            record_id=n,
            kind=OutboxKind.UPDATE,
            state=state,
            **fields,
        )


def _later(monkeypatch, **delta):
    monkeypatch.setattr(checks, "now", lambda: timezone.now() + timedelta(**delta))


def test_failures_are_said_once_at_the_threshold_again_when_their_kind_changes_and_then_end(
    integration, cast, settings, mailoutbox
):
    settings.ALERTS_FAILED_ROWS = 10
    _rows(integration, 9, state=OutboxState.FAILED, error_kind=ErrorKind.VALIDATION)
    checks.evaluate_all()
    assert not Notification.objects.exists()  # 9 < 10

    _rows(integration, 1, state=OutboxState.FAILED, start=100, error_kind=ErrorKind.VALIDATION)
    checks.evaluate_all()
    checks.evaluate_all()
    _rows(integration, 5, state=OutboxState.FAILED, start=200, error_kind=ErrorKind.VALIDATION)
    checks.evaluate_all()  # more of the same: nothing new to say
    assert [m.to for m in mailoutbox] == [[cast.owner.email]]
    assert "15 changes failed" not in mailoutbox[0].body
    assert "10 changes failed" in mailoutbox[0].body
    assert "/log/" in mailoutbox[0].body

    # A kind of error retried for more than the setting's minutes: said again, once.
    _rows(
        integration,
        1,
        state=OutboxState.QUEUED,
        start=300,
        error_kind=ErrorKind.TRANSIENT,
        first_attempt_at=timezone.now() - timedelta(minutes=20),
    )
    checks.evaluate_all()
    checks.evaluate_all()
    assert len(mailoutbox) == 2
    assert "Rally unavailable" in mailoutbox[1].body

    OutboxItem.objects.all().delete()
    checks.evaluate_all()
    assert Episode.objects.get().closed_at is not None


def test_a_retry_that_waits_for_a_credential_is_not_a_failure_alert(integration, mailoutbox):
    _rows(
        integration,
        1,
        state=OutboxState.QUEUED,
        error_kind=ErrorKind.AUTH,
        first_attempt_at=timezone.now() - timedelta(hours=2),
    )
    checks.evaluate_all()
    assert not Episode.objects.filter(kind=AlertKind.FAILURES).exists()


def test_a_muted_kind_is_not_said_and_email_off_keeps_it_in_the_app(
    integration, cast, second_owner, mailoutbox
):
    services.set_preferences(
        user=cast.owner,
        muted_kinds=[AlertKind.NEEDS_REAUTHORIZATION],
        email=True,
        daily_digest=False,
    )
    services.set_preferences(user=second_owner, muted_kinds=[], email=False, daily_digest=False)
    integration.needs_reauthorization = True
    integration.save()
    checks.evaluate_all()

    assert list(Notification.objects.values_list("user", flat=True)) == [second_owner.pk]
    assert mailoutbox == []


def test_a_daily_digest_mails_what_was_said_once_a_day(integration, cast, mailoutbox, settings):
    services.set_preferences(user=cast.owner, muted_kinds=[], email=True, daily_digest=True)
    settings.ALERTS_FAILED_ROWS = 1
    _rows(integration, 1, state=OutboxState.FAILED, error_kind=ErrorKind.VALIDATION)
    integration.needs_reauthorization = True
    integration.save()
    checks.evaluate_all()
    assert Notification.objects.filter(user=cast.owner).count() == 2
    assert mailoutbox == []

    assert services.send_digests() == 1
    assert services.send_digests() == 0  # a day has not passed
    (digest,) = mailoutbox
    assert "2 alerts of the day" in digest.subject
    assert "needs re-authorization" in digest.body and "is failing" in digest.body
    assert not Notification.objects.filter(emailed_at__isnull=True).exists()


def test_reviewers_get_a_digest_of_updates_waiting_longer_than_the_setting_once_a_day(
    integration, cast, mailoutbox, monkeypatch, settings
):
    settings.ALERTS_REVIEW_WAIT_HOURS = 24
    _rows(integration, 3, state=OutboxState.AWAITING_APPROVAL)
    checks.evaluate_all()
    assert mailoutbox == []  # they have not waited a day yet

    _later(monkeypatch, hours=25)
    checks.evaluate_all()
    checks.evaluate_all()
    told = sorted(m.to[0] for m in mailoutbox)
    assert told == sorted([cast.owner.email, cast.reviewer.email])  # not the contributor
    assert "3 Integration updates wait" in mailoutbox[0].subject
    assert "/integration-updates/" in mailoutbox[0].body

    _later(monkeypatch, hours=49)  # the next day, still waiting: the digest again
    checks.evaluate_all()
    assert len(mailoutbox) == 4


def test_two_evaluations_of_one_episode_say_it_once(integration, cast, mailoutbox):
    integration.needs_reauthorization = True
    integration.save()
    alert = checks.reauthorization_alert(integration)
    owners = services.owners_of(cast.workspace)
    assert services.hold(alert, recipients=owners) is True
    assert services.hold(alert, recipients=owners) is False
    assert Notification.objects.count() == 1
    assert len(mailoutbox) == 1


def test_a_large_catch_up_costs_the_alerts_a_few_statements_and_keeps_at_most_100(integration):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from aharally.alerts.models import UndeliveredChange
    from aharally.sync.models import WebhookRegistration, WebhookState

    WebhookRegistration.objects.create(integration=integration, state=WebhookState.REGISTERED)
    stamp = timezone.now().isoformat()
    with CaptureQueriesContext(connection) as few:
        checks.note_catch_up(integration.pk, changed=[(n, stamp) for n in range(1, 11)])
    UndeliveredChange.objects.all().delete()
    with CaptureQueriesContext(connection) as many:
        checks.note_catch_up(integration.pk, changed=[(n, stamp) for n in range(1, 1001)])
    assert len(many) == len(few)
    assert UndeliveredChange.objects.count() == checks.KEEP_UNDELIVERED


def test_read_notifications_past_the_keeping_days_are_pruned_hourly_and_unread_ones_stay(
    cast, settings
):
    from aharally.alerts.tasks import send_digests

    settings.ALERTS_KEEP_READ_DAYS = 30
    now = timezone.now()

    def note(title: str, *, age_days: int, read: bool) -> Notification:
        made = Notification.objects.create(
            user=cast.owner,
            kind=AlertKind.NEEDS_REAUTHORIZATION,
            workspace=cast.workspace,
            title=title,
            read_at=now if read else None,
        )
        Notification.objects.filter(pk=made.pk).update(created_at=now - timedelta(days=age_days))
        return made

    note("old and read", age_days=31, read=True)
    note("old and unread", age_days=200, read=False)
    note("recent and read", age_days=29, read=True)

    assert send_digests()["pruned"] == 1
    assert sorted(Notification.objects.values_list("title", flat=True)) == [
        "old and unread",
        "recent and read",
    ]
