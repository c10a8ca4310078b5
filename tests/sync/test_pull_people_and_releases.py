"""The catch-up brings back Owner (by email) and Tags (by name), and linked releases' fields."""

from __future__ import annotations

from datetime import date

import pytest

from aharally.integrations.models import IntegrationLogEntry
from aharally.integrations.templates_service import effective_config
from aharally.records.models import RecordChange
from aharally.sync.incoming.pull import pull_updates
from aharally.sync.models import Link, OutboxItem
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.drain import drain_outbox
from aharally.workspaces.models import Membership, RecordType, Role
from tests.factories import make_feature, make_release, make_requirement, make_user
from tests.sync.support import connect, sandbox_client, token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def integration(cast, rally_sandbox):
    return connect(cast.workspace, rally_sandbox, owner=cast.owner)


def _story(cast, integration):
    feature = make_feature(cast.workspace, name=f"People {token()}")
    requirement = make_requirement(feature, name=f"Story {token()}")
    outbox.request_send(record=feature, integration=integration, user=cast.owner)
    drain_outbox(integration.pk)
    link = Link.objects.get(record_type=RecordType.REQUIREMENT, record_id=requirement.pk)
    return requirement, link


def _rally_user(client, email):
    from aharally.rally.query import where

    return client.query("User", query=where("EmailAddress", "=", email), fetch=["ObjectID"]).first()


def test_owner_and_tags_set_in_rally_arrive_and_an_unchanged_pass_is_silent(
    cast, rally_sandbox, integration
):
    developer = make_user("developer@example.com")
    Membership.objects.create(workspace=cast.workspace, user=developer, role=Role.CONTRIBUTOR)
    requirement, link = _story(cast, integration)
    word = token()
    with sandbox_client(rally_sandbox) as client:
        tags = [client.create("Tag", {"Name": f"{word}-{n}"}, fetch=["ObjectID"]) for n in (1, 2)]
        client.update(
            f"/hierarchicalrequirement/{link.rally_oid}",
            {
                "Owner": _rally_user(client, "developer@example.com").ref,
                "Tags": [tag.ref for tag in tags],
            },
        )

    pull_updates(integration.pk)

    requirement.refresh_from_db()
    assert requirement.assignee == developer
    assert sorted(requirement.tags.values_list("name", flat=True)) == [f"{word}-1", f"{word}-2"]
    change = RecordChange.objects.filter(object_id=requirement.pk, field="assignee").latest("id")
    assert change.source == "Rally" and change.changed_by is None
    assert not OutboxItem.objects.filter(record_type="requirement", state="queued").exists()
    # Rally answers again with the same owner and tags: an echo, nothing written or sent.
    history, rows = RecordChange.objects.count(), OutboxItem.objects.count()
    with sandbox_client(rally_sandbox) as client:
        client.update(f"/hierarchicalrequirement/{link.rally_oid}", {"Notes": "touch"})
    pull_updates(integration.pk)
    assert RecordChange.objects.count() == history
    assert OutboxItem.objects.count() == rows


def test_an_owner_who_is_no_member_leaves_the_assignee_and_is_logged(
    cast, rally_sandbox, integration
):
    requirement, link = _story(cast, integration)  # unassigned, as Rally agreed
    with sandbox_client(rally_sandbox) as client:
        client.update(
            f"/hierarchicalrequirement/{link.rally_oid}",
            {"Owner": _rally_user(client, "admin@example.com").ref},
        )

    pull_updates(integration.pk)

    requirement.refresh_from_db()
    link.refresh_from_db()
    assert requirement.assignee is None
    assert link.baseline["assignee"] is None  # still unagreed: not taken as applied
    assert IntegrationLogEntry.objects.filter(
        integration=integration, message__contains="admin@example.com"
    ).exists()


def test_an_assignee_rally_has_no_user_for_is_not_cleared_by_the_catch_up(
    cast, rally_sandbox, integration
):
    # Sent without an owner (Rally has no such user): Rally's empty Owner is no change.
    feature = make_feature(cast.workspace, name=f"Unknown {token()}", assignee=cast.contributor)
    outbox.request_send(record=feature, integration=integration, user=cast.owner)
    drain_outbox(integration.pk)
    link = Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)
    with sandbox_client(rally_sandbox) as client:
        client.update(f"/portfolioitem/feature/{link.rally_oid}", {"Name": f"{feature.name}!"})

    pull_updates(integration.pk)

    feature.refresh_from_db()
    assert feature.name.endswith("!")
    assert feature.assignee == cast.contributor


def test_a_linked_release_changed_in_rally_comes_back(cast, rally_sandbox, integration):
    release = make_release(
        cast.workspace,
        name=f"R {token()}",
        start_date=date(2027, 1, 1),
        release_date=date(2027, 2, 1),
    )
    outbox.request_send(record=release, integration=integration, user=cast.owner)
    drain_outbox(integration.pk)
    link = Link.objects.get(record_type=RecordType.RELEASE, record_id=release.pk)
    with sandbox_client(rally_sandbox) as client:
        client.update(
            f"/release/{link.rally_oid}",
            {
                "Name": f"{release.name} moved",
                "ReleaseDate": "2027-03-15T12:00:00.000Z",
                "State": "Active",
            },
        )

    counts = pull_updates(integration.pk)

    release.refresh_from_db()
    assert release.name.endswith(" moved")
    assert release.release_date == date(2027, 3, 15)
    status_map = effective_config(integration).mapping_for("release").status_map
    assert release.status == status_map.status_for("Active") is not None
    assert counts["seen"]["Release"] >= 1
    assert not IntegrationLogEntry.objects.filter(
        integration=integration, message__contains="can't say which"
    ).exists()
    change = RecordChange.objects.filter(object_id=release.pk, field="name").latest("id")
    assert change.source == "Rally"
