"""An update never overwrites what Rally changed since the baseline: it reads first, holds
that field back as a conflict (or as agreement), and sends the rest."""

from __future__ import annotations

import pytest

from aharally.records.models import Feature
from aharally.records.services import update_record
from aharally.sync.models import (
    Activity,
    Conflict,
    ConflictState,
    ErrorKind,
    Link,
    LinkState,
    OutboxItem,
    OutboxKind,
    OutboxState,
)
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.drain import drain_outbox
from aharally.workspaces.models import RecordType
from tests.factories import make_feature
from tests.sync.support import connect, sandbox_client, token
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def integration(cast, rally_sandbox, settings):
    settings.SYNC_RICH_TEXT_QUIET_SECONDS = 0  # the description goes with the name
    return connect(cast.workspace, rally_sandbox, owner=cast.owner)


def _linked_feature(cast, integration, *, drain=drain_outbox) -> tuple[Feature, Link]:
    feature = make_feature(cast.workspace, name=f"PLAT-52 {token()}")
    outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    drain(integration.pk)
    link = Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)
    return feature, link


def _cluster_drains(integration_id: int) -> None:
    wait_until(
        lambda: Link.objects.filter(integration_id=integration_id).exists(),
        timeout=60,
        what="the feature linked by the cluster",
    )


def _rename_in_rally(rally_sandbox, link: Link, name: str) -> None:
    with sandbox_client(rally_sandbox) as client:
        client.update(f"/portfolioitem/feature/{link.rally_oid}", {"Name": name})


def _in_rally(rally_sandbox, link: Link):
    with sandbox_client(rally_sandbox) as client:
        return client.read(
            f"/portfolioitem/feature/{link.rally_oid}", fetch=["Name", "Description"]
        )


def _update_row(feature) -> OutboxItem:
    return OutboxItem.objects.get(record_id=feature.pk, kind=OutboxKind.UPDATE)


def _assert_one_open_name_conflict(link, *, ours: str, theirs: str, agreed: str) -> None:
    [conflict] = Conflict.objects.filter(link=link)
    assert conflict.state == ConflictState.OPEN and conflict.field == "name"
    assert (conflict.ours, conflict.theirs, conflict.baseline) == (ours, theirs, agreed)
    noted = Activity.objects.filter(action="conflict", record_id=link.record_id)
    assert noted.count() == 1
    assert "neither was overwritten" in noted.get().detail


def test_a_name_rally_changed_before_the_update_went_is_kept_as_a_conflict(
    cast, rally_sandbox, integration
):
    feature, link = _linked_feature(cast, integration)
    agreed = feature.name
    bobs, developers = f"Bob's {token()}", f"Developer's {token()}"
    update_record(
        feature,
        changes={"name": bobs, "description": "<p>Bob's notes</p>"},
        user=cast.contributor,
    )
    _rename_in_rally(rally_sandbox, link, developers)  # before the drain reaches the update

    drain_outbox(integration.pk)

    held = _in_rally(rally_sandbox, link)
    assert held["Name"] == developers, "Rally's rename was overwritten"
    assert held["Description"] == "<p>Bob's notes</p>"  # the rest of the row still went
    feature.refresh_from_db()
    assert feature.name == bobs
    _assert_one_open_name_conflict(link, ours=bobs, theirs=developers, agreed=agreed)
    row = _update_row(feature)
    assert row.state == OutboxState.SENT
    assert row.sent_values == {"description": "<p>Bob's notes</p>"}
    link.refresh_from_db()
    # The name's baseline stays the last agreed one, so the catch-up sees the same conflict.
    assert link.baseline["name"] == agreed
    assert link.baseline["description"] == "<p>Bob's notes</p>"


def test_a_rally_value_equal_to_ours_is_agreement_and_is_not_sent_again(
    cast, rally_sandbox, integration
):
    feature, link = _linked_feature(cast, integration)
    both = f"Both {token()}"
    update_record(feature, changes={"name": both}, user=cast.contributor)
    _rename_in_rally(rally_sandbox, link, both)

    drain_outbox(integration.pk)

    assert _in_rally(rally_sandbox, link)["Name"] == both
    assert not Conflict.objects.filter(link=link).exists()
    row = _update_row(feature)
    assert row.state == OutboxState.SENT and row.sent_values == {}
    link.refresh_from_db()
    assert link.baseline["name"] == both


def test_an_update_of_a_record_rally_deleted_breaks_the_link_on_the_read(
    cast, rally_sandbox, integration
):
    feature, link = _linked_feature(cast, integration)
    with sandbox_client(rally_sandbox) as client:
        client.delete(f"/portfolioitem/feature/{link.rally_oid}")
    update_record(feature, changes={"name": f"Gone {token()}"}, user=cast.contributor)

    drain_outbox(integration.pk)

    link.refresh_from_db()
    assert link.state == LinkState.BROKEN
    row = _update_row(feature)
    assert (row.state, row.error_kind) == (OutboxState.FAILED, ErrorKind.NOT_FOUND)
    assert not Conflict.objects.exists()


def test_a_rename_in_rally_while_the_update_is_on_its_way_is_not_overwritten(
    cast, rally_sandbox, integration, faults, task_cluster
):
    """Finding 6 with a real cluster: the update is on its way (Rally answers its first
    request 4 s late) when the developer renames the feature in Rally.

    What the guard can promise: a Rally edit that lands before the update's read is kept.
    One landing during the write itself is still overwritten (docs/sync.md, "Cost").
    """
    feature, link = _linked_feature(cast, integration, drain=_cluster_drains)
    agreed = feature.name
    # Every read of this feature waits 4 s at Rally's door; the developer's rename (a POST)
    # does not, so it lands while the update's first request is on its way.
    faults(
        {
            "kind": "latency",
            "ms": 4000,
            "match": {"method": "GET", "path_contains": f"feature/{link.rally_oid}"},
        }
    )
    bobs, developers = f"Bob's {token()}", f"Developer's {token()}"
    update_record(feature, changes={"name": bobs}, user=cast.contributor)

    def on_its_way() -> bool:
        slowed = rally_sandbox.admin("GET", "/sandbox-admin/faults").json()["faults"]
        # The row's first request is at Rally (the guard's read), or the row is already
        # done (the unguarded write of the code as it was): the rename follows either way.
        return any(f["hits"] for f in slowed) or _update_row(feature).state == OutboxState.SENT

    wait_until(on_its_way, timeout=60, what="the update on its way")
    _rename_in_rally(rally_sandbox, link, developers)
    wait_until(
        lambda: _update_row(feature).state == OutboxState.SENT, timeout=60, what="the update"
    )
    rally_sandbox.admin("DELETE", "/sandbox-admin/faults")

    assert _in_rally(rally_sandbox, link)["Name"] == developers
    feature.refresh_from_db()
    assert feature.name == bobs
    _assert_one_open_name_conflict(link, ours=bobs, theirs=developers, agreed=agreed)


def test_a_rename_in_rally_during_the_write_itself_is_overwritten_but_said(
    cast, rally_sandbox, integration, faults, task_cluster
):
    """The window no read can close: Rally has no conditional write, so a rename landing
    while the write is on its way (here 4 s at Rally's door, after the read) is replaced by
    ours. Rally's version counter shows it, and the history and the log say so."""
    from aharally.integrations.log import IntegrationLogEntry

    feature, link = _linked_feature(cast, integration, drain=_cluster_drains)
    faults(
        {
            "kind": "latency",
            "ms": 4000,
            "count": 1,
            "match": {"method": "POST", "path_contains": f"feature/{link.rally_oid}"},
        }
    )
    bobs, developers = f"Bob's {token()}", f"Developer's {token()}"
    update_record(feature, changes={"name": bobs}, user=cast.contributor)

    def write_on_its_way() -> bool:  # the fault is used up once the write reached Rally
        return not rally_sandbox.admin("GET", "/sandbox-admin/faults").json()["faults"]

    wait_until(write_on_its_way, timeout=60, what="the update's write at Rally")
    _rename_in_rally(rally_sandbox, link, developers)
    wait_until(
        lambda: _update_row(feature).state == OutboxState.SENT, timeout=60, what="the update"
    )

    assert _in_rally(rally_sandbox, link)["Name"] == bobs  # the window, as documented
    said = Activity.objects.filter(record_id=feature.pk, detail__contains="between aharally's")
    assert said.count() == 1
    assert "Name" in said.get().detail
    assert IntegrationLogEntry.objects.filter(
        integration=integration, message__contains="aharally's value replaced theirs"
    ).exists()
