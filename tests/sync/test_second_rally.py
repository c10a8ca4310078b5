"""A record linked into two Rallys (two integrations of a workspace, two Rally URLs): what one
Rally changes goes on to the other, as an edit made here goes to both; never back to the
Rally it came from."""

from __future__ import annotations

import pytest

from aharally.rally.query import where
from aharally.records.services import update_record
from aharally.sync.incoming.pull import pull_updates
from aharally.sync.models import Conflict, ConflictState, Link, OutboxItem, OutboxKind, OutboxState
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.drain import drain_outbox
from aharally.sync.review.conflicts import resolve_conflict
from aharally.sync.review.keep import KEEP_THEIRS
from aharally.workspaces.models import RecordType
from tests.factories import make_feature
from tests.sandbox import RallySandbox
from tests.sync.support import connect, sandbox_client, token
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def second_sandbox():
    with RallySandbox() as sandbox:
        yield sandbox


@pytest.fixture
def two_rallys(cast, rally_sandbox, second_sandbox):
    first = connect(cast.workspace, rally_sandbox, owner=cast.owner, name="Rally")
    second = connect(cast.workspace, second_sandbox, owner=cast.owner, name="Rally EU")
    return first, second


def _sent_to_both(cast, first, second, name: str):
    feature = make_feature(cast.workspace, name=name)
    for integration in (first, second):
        outbox.request_send(record=feature, integration=integration, user=cast.owner)
        drain_outbox(integration.pk)
    links = {
        link.integration_id: link
        for link in Link.objects.filter(record_type=RecordType.FEATURE, record_id=feature.pk)
    }
    assert set(links) == {first.pk, second.pk}
    return feature, links[first.pk], links[second.pk]


def _name_in(sandbox, link) -> str:
    with sandbox_client(sandbox) as client:
        return client.read(f"/portfolioitem/feature/{link.rally_oid}", fetch=["Name"]).name


def _rename_in(sandbox, link, name: str) -> None:
    with sandbox_client(sandbox) as client:
        client.update(f"/portfolioitem/feature/{link.rally_oid}", {"Name": name})


def _updates(integration) -> list[OutboxItem]:
    return list(
        OutboxItem.objects.filter(integration=integration, kind=OutboxKind.UPDATE).exclude(
            state=OutboxState.SENT
        )
    )


def test_a_name_changed_in_one_rally_reaches_the_other(
    cast, rally_sandbox, second_sandbox, two_rallys
):
    first, second = two_rallys
    word = token()
    feature, in_first, in_second = _sent_to_both(cast, first, second, f"Checkout {word}")

    _rename_in(rally_sandbox, in_first, f"Checkout renamed {word}")
    pull_updates(first.pk)

    feature.refresh_from_db()
    assert feature.name == f"Checkout renamed {word}"
    # Queued for the second Rally alone: the first holds it already.
    assert _updates(first) == []
    (row,) = _updates(second)
    assert row.fields == ["name"]
    drain_outbox(second.pk)
    assert _name_in(second_sandbox, in_second) == f"Checkout renamed {word}"
    # The second Rally's echo changes nothing and goes nowhere.
    pull_updates(second.pk)
    assert _updates(first) == [] and _updates(second) == []
    assert _name_in(rally_sandbox, in_first) == f"Checkout renamed {word}"


def test_rallys_value_kept_by_a_reviewer_reaches_the_other_rally(
    cast, rally_sandbox, second_sandbox, two_rallys
):
    first, second = two_rallys
    word = token()
    feature, in_first, in_second = _sent_to_both(cast, first, second, f"Search {word}")
    # Both sides change the name: the first integration's catch-up opens a conflict.
    update_record(feature, changes={"name": f"Search ours {word}"}, user=cast.owner)
    OutboxItem.objects.filter(integration=first).exclude(state=OutboxState.SENT).delete()
    drain_outbox(second.pk)  # our edit reaches the second Rally
    _rename_in(rally_sandbox, in_first, f"Search theirs {word}")
    pull_updates(first.pk)
    conflict = Conflict.objects.get(link=in_first, field="name", state=ConflictState.OPEN)

    resolve_conflict(user=cast.reviewer, conflict_id=conflict.pk, keep=KEEP_THEIRS)

    feature.refresh_from_db()
    assert feature.name == f"Search theirs {word}"
    drain_outbox(second.pk)
    assert _name_in(second_sandbox, in_second) == f"Search theirs {word}"
    assert _updates(first) == []


def test_a_change_with_no_second_rally_costs_no_more_than_one_query(
    cast, rally_sandbox, django_assert_max_num_queries
):
    from aharally.sync.outgoing.changes import forward_taken

    first = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    feature = make_feature(cast.workspace)
    with django_assert_max_num_queries(1):
        forward_taken(first.pk, RecordType.FEATURE, {feature.pk: ["name"]})


def test_the_record_and_its_card_say_which_integration_each_rally_link_is_through(
    client, cast, rally_sandbox, second_sandbox, two_rallys
):
    first, second = two_rallys
    feature, in_first, in_second = _sent_to_both(cast, first, second, f"Invoices {token()}")
    client.force_login(cast.owner)

    page = client.get(f"/w/PLAT/features/{feature.reference}/").content.decode()
    board = client.get("/w/PLAT/features/board/").content.decode()

    # Each link of the record's line is named by its integration (both may read F4).
    assert 'Rally:</span> <a class="rally-link"' in page
    assert 'Rally EU:</span> <a class="rally-link"' in page
    for link, name in ((in_first, "Rally"), (in_second, "Rally EU")):
        assert f'title="Open {link.formatted_id} in Rally ({name})"' in page
        assert f'title="Open {link.formatted_id} in Rally ({name})"' in board


def test_one_link_is_not_named_by_its_integration_on_the_line(client, cast, rally_sandbox):
    first = connect(cast.workspace, rally_sandbox, owner=cast.owner, name="Rally")
    feature = make_feature(cast.workspace, name=f"Alone {token()}")
    outbox.request_send(record=feature, integration=first, user=cast.owner)
    drain_outbox(first.pk)
    client.force_login(cast.owner)

    page = client.get(f"/w/PLAT/features/{feature.reference}/").content.decode()

    assert "link-through" not in page
    assert 'in Rally (Rally)"' in page  # the title still says which


def _stories(sandbox, name: str) -> list:
    with sandbox_client(sandbox) as client:
        return list(
            client.query(
                "HierarchicalRequirement",
                query=where("Name", "=", name),
                fetch=["Name", "PortfolioItem", "ObjectID"],
            )
        )


def test_a_story_added_in_one_rally_follows_its_feature_to_the_other(
    cast, rally_sandbox, second_sandbox, two_rallys
):
    first, second = two_rallys
    word = token()
    feature, in_first, in_second = _sent_to_both(cast, first, second, f"Exports {word}")
    under_first = f"/portfolioitem/feature/{in_first.rally_oid}"
    with sandbox_client(rally_sandbox) as client:
        client.create(
            "HierarchicalRequirement", {"Name": f"CSV export {word}", "PortfolioItem": under_first}
        )

    pull_updates(first.pk)  # imported here, under the feature
    (requirement,) = feature.requirements.filter(name=f"CSV export {word}")
    drain_outbox(second.pk)

    (story,) = _stories(second_sandbox, f"CSV export {word}")
    assert story.fields["PortfolioItem"]["_ref"].endswith(f"/{in_second.rally_oid}")
    linked = Link.objects.filter(record_type=RecordType.REQUIREMENT, record_id=requirement.pk)
    assert {link.integration_id for link in linked} == {first.pk, second.pk}
    # Nothing went back to the first Rally: it holds the story once.
    assert len(_stories(rally_sandbox, f"CSV export {word}")) == 1
    assert OutboxItem.objects.filter(integration=first, record_id=requirement.pk).count() == 0


def test_what_goes_on_to_the_second_rally_is_made_there_once_under_faults(
    cast, rally_sandbox, second_sandbox, two_rallys
):
    first, second = two_rallys
    word = token()
    _, in_first, in_second = _sent_to_both(cast, first, second, f"Audit {word}")
    with sandbox_client(rally_sandbox) as client:
        under = f"/portfolioitem/feature/{in_first.rally_oid}"
        client.create(
            "HierarchicalRequirement", {"Name": f"Audit log {word}", "PortfolioItem": under}
        )
    _rename_in(rally_sandbox, in_first, f"Audit renamed {word}")
    pull_updates(first.pk)
    # The second Rally commits the story but its answer is lost, then refuses twice with 503.
    second_sandbox.admin(
        "POST",
        "/sandbox-admin/faults",
        json=[
            {"kind": "drop_after_commit", "match": {"method": "POST"}, "count": 1},
            {"kind": "status", "status": 503, "count": 2, "match": {"method": "POST"}},
        ],
    ).raise_for_status()
    try:

        def settled():
            OutboxItem.objects.filter(integration=second, state=OutboxState.QUEUED).update(
                not_before=None
            )  # as time passing would make the retries due
            drain_outbox(second.pk)
            return (
                not OutboxItem.objects.filter(integration=second)
                .exclude(state=OutboxState.SENT)
                .exists()
            )

        wait_until(settled, timeout=60, interval=0.2, what="the second Rally's rows sent")
        left = second_sandbox.admin("GET", "/sandbox-admin/faults").json()["faults"]
        assert [fault["count"] for fault in left] in ([], [0, 0])  # every fault was met
    finally:
        second_sandbox.admin("DELETE", "/sandbox-admin/faults")

    assert len(_stories(second_sandbox, f"Audit log {word}")) == 1
    assert len(_stories(rally_sandbox, f"Audit log {word}")) == 1
    assert _name_in(second_sandbox, in_second) == f"Audit renamed {word}"


def test_both_rallys_renaming_at_once_is_a_conflict_in_the_second_not_an_overwrite(
    cast, rally_sandbox, second_sandbox, two_rallys
):
    first, second = two_rallys
    word = token()
    feature, in_first, in_second = _sent_to_both(cast, first, second, f"Billing {word}")
    _rename_in(rally_sandbox, in_first, f"Billing first {word}")
    _rename_in(second_sandbox, in_second, f"Billing second {word}")

    pull_updates(first.pk)  # the first Rally's name is taken here, and goes on
    drain_outbox(second.pk)

    feature.refresh_from_db()
    assert feature.name == f"Billing first {word}"
    # The second Rally's own rename is not overwritten: a reviewer decides.
    assert _name_in(second_sandbox, in_second) == f"Billing second {word}"
    conflict = Conflict.objects.get(link=in_second, field="name", state=ConflictState.OPEN)
    assert conflict.theirs == f"Billing second {word}"
