"""Acceptance 3: webhooks switched off in Rally while a change is made there give the owners one
"webhooks seem off" notification, in the app and by e-mail, after the threshold, not one per
catch-up; it links to where it is fixed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from aharally.alerts import checks
from aharally.alerts.models import AlertKind, Episode, Notification, UndeliveredChange
from aharally.sync.incoming.catchup import run_catch_up
from aharally.sync.incoming.webhooks import register_webhook, target_url
from aharally.sync.models import IncomingEvent, Link, WebhookRegistration, WebhookState
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.drain import drain_outbox
from aharally.workspaces.models import RecordType
from tests.factories import make_feature
from tests.sync.support import connect, sandbox_client, token
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def _webhook(sandbox, integration) -> dict:
    secret = WebhookRegistration.objects.get(pk=integration.pk).secret.reveal()
    url = target_url(integration.pk, secret)
    with sandbox_client(sandbox) as client:
        (webhook,) = [w for w in client.webhooks() if w.get("TargetUrl") == url]
    return webhook


def _pending(sandbox, webhook) -> list[dict]:
    answer = sandbox.admin("GET", "/sandbox-admin/webhook-deliveries")
    assert answer.status_code == 200, answer.text
    return [
        delivery
        for delivery in answer.json()["deliveries"]
        if delivery["webhook"] == str(webhook["ObjectUUID"]) and delivery["status"] == "pending"
    ]


def _switch_off(sandbox, webhook) -> None:
    """What a Rally administrator does: the webhook stays registered, Rally delivers nothing."""
    with sandbox_client(sandbox) as client:
        path = f"/{webhook['ObjectUUID']}"
        client.transport.send_json("PATCH", client._pigeon_url(path), body={"Disabled": True})


def _rename(sandbox, link, name) -> None:
    with sandbox_client(sandbox) as client:
        client.update(f"/portfolioitem/feature/{link.rally_oid}", {"Name": name})


def _later(monkeypatch, minutes: int) -> None:
    """The alerts' clock this many minutes on (rather than the test waiting for them)."""
    monkeypatch.setattr(checks, "now", lambda: timezone.now() + timedelta(minutes=minutes))


@pytest.fixture
def hooked(cast, rally_sandbox, settings, live_server, second_owner):
    """An enabled integration with its webhook registered and one feature linked."""
    settings.SITE_URL = live_server.url
    settings.ALERTS_WEBHOOK_SILENCE_MINUTES = 15
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    assert register_webhook(integration.pk) == WebhookState.REGISTERED
    feature = make_feature(cast.workspace, name=f"Silent {token()}")
    outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    drain_outbox(integration.pk)
    link = Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)
    # The creation's delivery lands first (one landing after a test's change would rightly
    # show the webhook working).
    webhook = _webhook(rally_sandbox, integration)
    wait_until(lambda: not _pending(rally_sandbox, webhook), timeout=30, what="the deliveries")
    return integration, feature, link


def test_a_change_a_webhook_delivered_is_no_sign_of_silence(hooked, rally_sandbox, monkeypatch):
    integration, _, link = hooked
    _rename(rally_sandbox, link, f"Delivered {token()}")
    wait_until(
        lambda: IncomingEvent.objects.filter(object_oid=link.rally_oid).exists(),
        timeout=30,
        what="the webhook's delivery",
    )
    run_catch_up(integration.pk)
    _later(monkeypatch, 16)
    run_catch_up(integration.pk)
    checks.evaluate_all()

    assert not UndeliveredChange.objects.exists()
    assert not Notification.objects.exists()


def test_webhooks_switched_off_are_said_once_to_each_owner_after_the_threshold(
    hooked, rally_sandbox, monkeypatch, mailoutbox, cast, second_owner, client, settings
):
    integration, feature, link = hooked
    _switch_off(rally_sandbox, _webhook(rally_sandbox, integration))
    _rename(rally_sandbox, link, f"Unheard {token()}")

    run_catch_up(integration.pk)
    feature.refresh_from_db()
    assert feature.name.startswith("Unheard")  # the catch-up brought it
    assert UndeliveredChange.objects.filter(rally_oid=link.rally_oid).count() == 1
    assert not Notification.objects.exists()  # before the threshold: nothing said
    assert mailoutbox == []

    _later(monkeypatch, 16)
    for _ in range(3):
        run_catch_up(integration.pk)
    _rename(rally_sandbox, link, f"Still unheard {token()}")
    run_catch_up(integration.pk)
    checks.evaluate_all()

    notes = Notification.objects.filter(kind=AlertKind.WEBHOOKS_SILENT)
    assert sorted(notes.values_list("user__email", flat=True)) == sorted(
        [cast.owner.email, second_owner.email]
    )
    assert sorted(m.to[0] for m in mailoutbox) == sorted([cast.owner.email, second_owner.email])
    fix = f"/w/{cast.workspace.prefix}/settings/integrations/{integration.pk}/"
    assert {n.url for n in notes} == {fix}
    mail = mailoutbox[0]
    assert "webhooks seem off" in mail.subject
    assert "switch every webhook off" in mail.body
    assert f"{settings.SITE_URL}{fix}" in mail.body
    assert Episode.objects.filter(closed_at__isnull=True).count() == 1

    # The link works for an owner: it is the integration's settings page.
    client.force_login(cast.owner)
    assert client.get(fix).status_code == 200
    page = client.get("/notifications/").content.decode()
    assert "webhooks seem off" in page
    assert 'aria-label="Notifications, 1 unread"' in page


def test_the_episode_ends_when_a_delivery_arrives_again_and_a_new_silence_is_said_anew(
    hooked, rally_sandbox, monkeypatch, mailoutbox
):
    integration, _, link = hooked
    UndeliveredChange.objects.create(
        integration=integration, rally_oid=link.rally_oid, changed_at=timezone.now()
    )
    _later(monkeypatch, 16)
    run_catch_up(integration.pk)
    assert len(mailoutbox) == 2

    # Rally delivers again (the administrator switched webhooks back on).
    IncomingEvent.objects.create(
        integration=integration, message_id=token(), action="Updated", object_oid=link.rally_oid
    )
    monkeypatch.setattr(checks, "now", timezone.now)
    run_catch_up(integration.pk)
    assert Episode.objects.get().closed_at is not None

    UndeliveredChange.objects.create(
        integration=integration, rally_oid=link.rally_oid + 1, changed_at=timezone.now()
    )
    _later(monkeypatch, 16)
    run_catch_up(integration.pk)
    assert len(mailoutbox) == 4
    assert Episode.objects.filter(closed_at__isnull=True).count() == 1
