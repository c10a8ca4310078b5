"""The bell, the Notifications page (read and unread, only one's own) and preferences."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from aharally.alerts.models import AlertKind, Notification, Preference

pytestmark = pytest.mark.django_db


def _note(user, workspace, title="Rally needs re-authorization", url="/fix/"):
    return Notification.objects.create(
        user=user,
        workspace=workspace,
        kind=AlertKind.NEEDS_REAUTHORIZATION,
        title=title,
        body="Open its settings.",
        url=url,
    )


def test_the_bell_counts_unread_notifications_in_one_query(owner_client, cast):
    _note(cast.owner, cast.workspace)
    _note(cast.owner, cast.workspace)
    page = owner_client.get(reverse("alerts:preferences")).content.decode()
    assert 'aria-label="Notifications, 2 unread"' in page
    with CaptureQueriesContext(connection) as without:
        owner_client.get(reverse("alerts:preferences"))
    Notification.objects.all().delete()
    with CaptureQueriesContext(connection) as counted:
        page = owner_client.get(reverse("alerts:preferences")).content.decode()
    assert 'aria-label="Notifications"' in page
    assert len(counted) == len(without)  # one COUNT, however many there are


def test_the_page_lists_only_ones_own_and_marks_read_and_unread(owner_client, cast):
    mine = _note(cast.owner, cast.workspace, title="Mine to see")
    theirs = _note(cast.outsider, cast.other_workspace, title="Not for the owner")
    page = owner_client.get(reverse("alerts:notifications")).content.decode()
    assert "Mine to see" in page and "Not for the owner" not in page

    owner_client.post(reverse("alerts:mark"), {"ids": [mine.pk, theirs.pk], "action": "read"})
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.read_at is not None
    assert theirs.read_at is None  # someone else's is never touched

    owner_client.post(reverse("alerts:mark"), {"ids": [mine.pk], "action": "unread"})
    mine.refresh_from_db()
    assert mine.read_at is None
    owner_client.post(reverse("alerts:mark"), {"action": "all"})
    assert not Notification.objects.filter(user=cast.owner, read_at__isnull=True).exists()


def test_fix_it_marks_read_and_goes_where_it_is_fixed(owner_client, cast):
    note = _note(cast.owner, cast.workspace, url="/w/PLAT/settings/integrations/")
    answer = owner_client.post(reverse("alerts:open", kwargs={"notification_id": note.pk}))
    assert answer["Location"] == "/w/PLAT/settings/integrations/"
    note.refresh_from_db()
    assert note.read_at is not None


def test_someone_elses_notification_cannot_be_followed(client, cast):
    note = _note(cast.owner, cast.workspace)
    client.force_login(cast.outsider)
    answer = client.post(reverse("alerts:open", kwargs={"notification_id": note.pk}))
    assert answer.status_code == 404
    note.refresh_from_db()
    assert note.read_at is None


def test_preferences_are_saved_per_person(owner_client, cast):
    answer = owner_client.post(
        reverse("alerts:preferences"),
        {"kinds": [AlertKind.FAILURES, AlertKind.WEBHOOKS_SILENT], "daily_digest": "on"},
    )
    assert answer.status_code == 302
    preference = Preference.objects.get(user=cast.owner)
    assert sorted(preference.muted_kinds) == sorted(
        [AlertKind.NEEDS_REAUTHORIZATION, AlertKind.REVIEW_WAITING]
    )
    assert preference.email is False and preference.daily_digest is True
    page = owner_client.get(reverse("alerts:preferences")).content.decode()
    assert page.count("checked") == 3  # two kinds and the digest


def test_a_bad_kind_is_refused_with_a_message(owner_client, cast):
    answer = owner_client.post(reverse("alerts:preferences"), {"kinds": ["nonsense"]})
    assert answer.status_code == 200
    assert "Select a valid choice" in answer.content.decode()
    assert not Preference.objects.filter(user=cast.owner).exists()


@pytest.mark.parametrize("name", ["alerts:notifications", "alerts:preferences"])
def test_signed_out_people_are_sent_to_sign_in(client, name):
    answer = client.get(reverse(name))
    assert answer.status_code == 302
    assert "/accounts/login/" in answer["Location"]
