"""Rally's webhooks: registered once, removed again, deliveries checked and applied."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
from django.db import connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from aharally.integrations.lifecycle import disable_integration
from aharally.integrations.log import IntegrationLogEntry
from aharally.records.models import Feature
from aharally.sync.incoming import webhooks
from aharally.sync.incoming.webhooks import register_webhook, target_url, unregister_webhook
from aharally.sync.models import (
    IncomingEvent,
    Link,
    LinkState,
    WebhookRegistration,
    WebhookState,
)
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.drain import drain_outbox
from aharally.workspaces.models import RecordType
from tests.factories import make_feature, make_requirement
from tests.sync.support import connect, sandbox_client, token
from tests.waiting import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.long_running]


def registered_by_the_cluster(integration) -> None:
    """Enabling queued the registration; the running cluster does it."""
    wait_until(
        lambda: WebhookRegistration.objects.filter(
            pk=integration.pk, state=WebhookState.REGISTERED
        ).exists(),
        timeout=30,
        what="the webhook's registration",
    )


def ours(sandbox, url):
    with sandbox_client(sandbox) as client:
        return [w for w in client.webhooks() if w.get("TargetUrl") == url]


def _pending_deliveries(sandbox, webhook) -> list[dict]:
    """The webhook's deliveries the sandbox has not delivered (or given up on) yet."""
    answer = sandbox.admin("GET", "/sandbox-admin/webhook-deliveries")
    assert answer.status_code == 200, answer.text
    return [
        delivery
        for delivery in answer.json()["deliveries"]
        if delivery["webhook"] == str(webhook["ObjectUUID"]) and delivery["status"] == "pending"
    ]


@pytest.fixture
def integration(cast, rally_sandbox, settings, live_server):
    settings.SITE_URL = live_server.url
    return connect(cast.workspace, rally_sandbox, owner=cast.owner)


def _url(integration):
    registration = WebhookRegistration.objects.get(pk=integration.pk)
    return target_url(integration.pk, registration.secret.reveal())


def test_enabling_registers_one_webhook_however_often_and_disabling_removes_it(
    cast, rally_sandbox, integration
):
    assert register_webhook(integration.pk) == WebhookState.REGISTERED
    assert register_webhook(integration.pk) == WebhookState.REGISTERED  # restart, 2nd process
    url = _url(integration)
    held = ours(rally_sandbox, url)
    assert len(held) == 1
    assert set(held[0]["ObjectTypes"]) >= {"Feature", "HierarchicalRequirement"}

    disable_integration(integration=integration, by=cast.owner)
    unregister_webhook(integration)
    assert ours(rally_sandbox, url) == []
    assert WebhookRegistration.objects.get(pk=integration.pk).state == WebhookState.REMOVED


def test_a_rally_user_who_may_not_manage_webhooks_leaves_the_catch_up_working(
    cast, rally_sandbox, settings, live_server
):
    settings.SITE_URL = live_server.url
    integration = connect(
        cast.workspace, rally_sandbox, owner=cast.owner, api_key=rally_sandbox.developer_key
    )
    assert register_webhook(integration.pk) == WebhookState.REFUSED
    integration.refresh_from_db()
    assert not integration.needs_reauthorization
    entry = IntegrationLogEntry.objects.filter(
        integration=integration, message__contains="may not manage webhooks"
    ).get()
    assert "catch-up" in entry.message


def _delivery(message_id=None, action="Updated", object_id=1):
    return {
        "message": {
            "action": action,
            "message_id": message_id or str(uuid.uuid4()),
            "object_type": "HierarchicalRequirement",
            "state": {"a": {"name": "ObjectID", "value": object_id}},
        }
    }


def _post(client, integration, secret, body, content_type="application/json"):
    url = reverse("sync:webhook", kwargs={"integration_id": integration.pk, "secret": secret})
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(url, data=data, content_type=content_type)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        ({"message": "x"}, 400),
        ({"message": {"action": "Exploded", "message_id": "m", "object_type": "Defect"}}, 400),
        ({"message": {"action": "Updated", "object_type": "Defect"}}, 400),
        ('{"message": ' * 5000 + "1" + "}" * 5000, 400),
        (b"\xff\xfe", 400),
        (b"x" * 1_000_001, 413),
    ],
)
def test_bad_deliveries_are_refused_and_change_nothing(client, integration, body, status):
    register_webhook(integration.pk)
    secret = WebhookRegistration.objects.get(pk=integration.pk).secret.reveal()
    assert _post(client, integration, secret, body).status_code == status
    assert not IncomingEvent.objects.exists()


def test_concurrent_deliveries_past_the_rate_limit_are_refused_all_but_the_limit(
    integration, monkeypatch
):
    """Counted atomically: deliveries arriving together never slip past the count."""
    monkeypatch.setattr(webhooks, "RATE_LIMIT_PER_MINUTE", 5)
    register_webhook(integration.pk)
    secret = WebhookRegistration.objects.get(pk=integration.pk).secret.reveal()
    answers = []
    start = threading.Barrier(16)

    def deliver():
        start.wait()
        answers.append(_post(Client(), integration, secret, _delivery()).status_code)
        connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200] * 5 + [429] * 11
    assert IncomingEvent.objects.filter(integration=integration).count() == 5


def test_the_rate_limit_counts_the_last_60_seconds_not_the_calendar_minute(
    client, integration, monkeypatch
):
    monkeypatch.setattr(webhooks, "RATE_LIMIT_PER_MINUTE", 3)
    register_webhook(integration.pk)
    secret = WebhookRegistration.objects.get(pk=integration.pk).secret.reveal()
    clock = [1_800_000_058.0]  # two seconds before a calendar minute ends
    monkeypatch.setattr(time, "time", lambda: clock[0])

    def delivered(count):
        return [_post(client, integration, secret, _delivery()).status_code for _ in range(count)]

    assert delivered(4) == [200, 200, 200, 429]
    clock[0] += 4  # a new calendar minute, the three still within the last 60 seconds
    assert delivered(2) == [429, 429]
    clock[0] += 57  # 61 seconds after the three
    assert delivered(4) == [200, 200, 200, 429]


def test_a_forged_delivery_gets_404_and_a_replay_is_received_once(client, integration):
    register_webhook(integration.pk)
    secret = WebhookRegistration.objects.get(pk=integration.pk).secret.reveal()
    assert _post(client, integration, "forged" + secret[6:], _delivery()).status_code == 404
    assert _post(client, integration, "x", _delivery()).status_code == 404
    assert not IncomingEvent.objects.exists()
    body = _delivery(message_id="same-message")
    first = _post(client, integration, secret, body)
    again = _post(client, integration, secret, body)
    assert first.json() == {"received": True} and again.json() == {"received": False}
    assert IncomingEvent.objects.count() == 1


def _linked_feature(cast, integration, name):
    feature = make_feature(cast.workspace, name=f"{name} {token()}")
    outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    drain_outbox(integration.pk)
    return feature, Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)


def _deleted(link):
    """A Deleted delivery for the link's Rally object, as Rally would post it."""
    body = _delivery(action="Deleted", object_id=link.rally_oid)
    body["message"]["object_type"] = "PortfolioItem/Feature"
    return body


def _secret_once_registered(integration) -> str:
    registered_by_the_cluster(integration)
    return WebhookRegistration.objects.get(pk=integration.pk).secret.reveal()


def _processed_by_the_cluster():
    wait_until(
        lambda: (
            IncomingEvent.objects.exists()
            and not IncomingEvent.objects.filter(processed_at__isnull=True).exists()
        ),
        timeout=60,
        what="the delivery processed by the cluster",
    )


def test_a_deleted_delivery_for_an_object_rally_still_holds_leaves_the_link_ok(
    client, cast, integration, rally_sandbox, task_cluster
):
    """A delivery is a doorbell: one with the right secret but a false claim breaks nothing
    (Send again would otherwise make a second Rally feature)."""
    feature, link = _linked_feature(cast, integration, "Still there")
    secret = _secret_once_registered(integration)
    assert _post(client, integration, secret, _deleted(link)).json() == {"received": True}

    _processed_by_the_cluster()

    link.refresh_from_db()
    assert (link.state, link.state_reason) == (LinkState.OK, "")
    assert outbox.request_send(record=feature, integration=integration).kind == "update"


def test_a_record_deleted_in_rally_breaks_its_link_and_keeps_the_record(
    client, cast, integration, rally_sandbox, task_cluster
):
    feature, link = _linked_feature(cast, integration, "Gone")
    secret = _secret_once_registered(integration)
    with sandbox_client(rally_sandbox) as rally:
        rally.delete(f"/portfolioitem/feature/{link.rally_oid}")
    _post(client, integration, secret, _deleted(link))

    _processed_by_the_cluster()

    link.refresh_from_db()
    assert link.state == LinkState.BROKEN and "Deleted in Rally" in link.state_reason
    assert Feature.objects.filter(pk=feature.pk).exists()


def test_a_change_in_rally_arrives_by_webhook_within_seconds(
    cast, rally_sandbox, integration, task_cluster
):
    feature = make_feature(cast.workspace, name=f"Hooked {token()}")
    requirement = make_requirement(feature, name=f"Hooked story {token()}")
    outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    drain_outbox(integration.pk)
    registered_by_the_cluster(integration)
    story = Link.objects.get(record_type=RecordType.REQUIREMENT, record_id=requirement.pk)
    before = requirement.status_id
    with sandbox_client(rally_sandbox) as client:
        client.update(f"/hierarchicalrequirement/{story.rally_oid}", {"ScheduleState": "Accepted"})

    wait_until(lambda: IncomingEvent.objects.exists(), timeout=30, what="the delivery")
    requirement.refresh_from_db()

    def changed():
        requirement.refresh_from_db()
        return requirement.status_id != before

    wait_until(changed, timeout=30, what="the story's new state in aharally")
    # The state is applied inside the event's task, which marks the event processed last.
    wait_until(
        lambda: IncomingEvent.objects.filter(processed_at__isnull=False).exists(),
        timeout=10,
        what="the delivery marked processed",
    )


def test_with_webhooks_off_the_catch_up_brings_the_change_and_with_both_on_it_applies_once(
    cast, rally_sandbox, integration, task_cluster
):
    from aharally.records.models import RecordChange

    feature = make_feature(cast.workspace, name=f"Both ways {token()}")
    outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    drain_outbox(integration.pk)
    link = Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)
    registered_by_the_cluster(integration)
    assert len(ours(rally_sandbox, _url(integration))) == 1

    def renamed(name):
        with sandbox_client(rally_sandbox) as client:
            client.update(f"/portfolioitem/feature/{link.rally_oid}", {"Name": name})

        def arrived():
            feature.refresh_from_db()
            return feature.name == name

        wait_until(arrived, timeout=150, what=f"the name {name!r} in aharally")

    # Both on: the webhook and the minute's catch-up both see it; it is applied once.
    renamed("Renamed with both on")
    wait_until(
        lambda: IncomingEvent.objects.filter(processed_at__isnull=False).exists(), timeout=30
    )
    # Webhooks off (removed in Rally): the schedule's catch-up brings the next change. First
    # every delivery already on its way lands (one still pending could land after the cutoff).
    (webhook,) = ours(rally_sandbox, _url(integration))
    wait_until(
        lambda: not _pending_deliveries(rally_sandbox, webhook),
        timeout=30,
        what=lambda: f"the deliveries on their way: {_pending_deliveries(rally_sandbox, webhook)}",
    )
    unregister_webhook(integration)
    cutoff = timezone.now()
    renamed("Renamed by the catch-up")
    assert not IncomingEvent.objects.filter(received_at__gt=cutoff).exists()  # no delivery
    names = RecordChange.objects.filter(object_id=feature.pk, field="name", source="Rally")
    assert sorted(names.values_list("new_value", flat=True)) == [
        "Renamed by the catch-up",
        "Renamed with both on",
    ]
