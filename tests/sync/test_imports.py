"""New Rally records under linked parents come into aharally, at once or after approval."""

from __future__ import annotations

from datetime import date

import pytest

from aharally.integrations.models import IncomingMode, Integration
from aharally.records.models import Feature, Requirement
from aharally.records.services import create_initiative
from aharally.sync.incoming.pull import pull_updates
from aharally.sync.models import ImportCandidate, Link, OutboxItem
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.drain import drain_outbox
from aharally.sync.review import import_decisions, queue
from aharally.workspaces.models import RecordType
from tests.factories import make_feature, make_link, make_release, parking_lot
from tests.sync.support import connect, sandbox_client, scope_of, token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def integration(cast, rally_sandbox):
    return connect(cast.workspace, rally_sandbox, owner=cast.owner)


def _send(cast, integration, record):
    outbox.request_send(record=record, integration=integration, user=cast.contributor)
    drain_outbox(integration.pk)
    return Link.objects.get(record_type=record.record_type, record_id=record.pk)


def _create(sandbox, type_path, **fields):
    _, project = scope_of(sandbox)
    with sandbox_client(sandbox) as client:
        return client.create(
            type_path,
            {"Project": f"/project/{project}", **fields},
            fetch=["ObjectID", "FormattedID"],
        )


def test_a_story_added_under_a_linked_feature_becomes_its_requirement(
    cast, rally_sandbox, integration
):
    feature = make_feature(cast.workspace, name=f"Parent {token()}")
    link = _send(cast, integration, feature)
    story = _create(
        rally_sandbox,
        "HierarchicalRequirement",
        Name="Added in Rally",
        PortfolioItem=f"/portfolioitem/feature/{link.rally_oid}",
    )

    counts = pull_updates(integration.pk)

    requirement = Requirement.objects.get(feature=feature, name="Added in Rally")
    assert (
        Link.objects.get(record_type=RecordType.REQUIREMENT, record_id=requirement.pk).rally_oid
        == story.object_id
    )
    assert counts["imported"] == 1
    assert not OutboxItem.objects.filter(record_type=RecordType.REQUIREMENT).exists()  # no echo
    pull_updates(integration.pk)
    assert Requirement.objects.filter(feature=feature).count() == 1  # imported once


def test_a_feature_added_to_a_linked_release_comes_into_that_release(
    cast, rally_sandbox, integration
):
    release = make_release(
        cast.workspace,
        name=f"R {token()}",
        start_date=date(2027, 1, 1),
        release_date=date(2027, 2, 1),
    )
    _send(cast, integration, make_feature(cast.workspace, release=release, name=f"First {token()}"))
    release_link = Link.objects.get(record_type=RecordType.RELEASE, record_id=release.pk)
    _create(
        rally_sandbox,
        "PortfolioItem/Feature",
        Name="Planned in Rally",
        Release=f"/release/{release_link.rally_oid}",
    )
    pull_updates(integration.pk)
    assert Feature.objects.get(name="Planned in Rally").release == release


def test_a_feature_whose_release_is_not_linked_lands_in_the_parking_lot(
    cast, rally_sandbox, integration
):
    initiative = create_initiative(workspace=cast.workspace, name=f"Goal {token()}")
    make_link(
        integration,
        initiative,
        rally_oid=_create(rally_sandbox, "PortfolioItem/Initiative", Name="Goal").object_id,
        rally_type="PortfolioItem/Initiative",
        formatted_id="I1",
        url="http://x/#/detail/portfolioitem/initiative/1",
    )
    initiative_oid = Link.objects.get(record_id=initiative.pk).rally_oid
    # Something linked, so the catch-up runs; then a feature under the initiative, no release.
    _send(cast, integration, make_feature(cast.workspace, name=f"Seed {token()}"))
    _create(
        rally_sandbox,
        "PortfolioItem/Feature",
        Name="Unscheduled in Rally",
        Parent=f"/portfolioitem/initiative/{initiative_oid}",
    )
    pull_updates(integration.pk)
    imported = Feature.objects.get(name="Unscheduled in Rally")
    assert imported.release == parking_lot(cast.workspace)
    assert imported.initiative == initiative


def test_with_approve_imports_they_wait_and_a_reviewer_imports_or_ignores(
    cast, rally_sandbox, integration
):
    Integration.objects.filter(pk=integration.pk).update(incoming_mode=IncomingMode.APPROVE)
    feature = make_feature(cast.workspace, name=f"Parent {token()}")
    link = _send(cast, integration, feature)
    for name in ("Wanted", "Unwanted"):
        _create(
            rally_sandbox,
            "HierarchicalRequirement",
            Name=name,
            PortfolioItem=f"/portfolioitem/feature/{link.rally_oid}",
        )
    pull_updates(integration.pk)
    assert not Requirement.objects.filter(feature=feature).exists()
    waiting = {
        c.name: c
        for c in import_decisions.pending_imports(user=cast.reviewer, filters=queue.QueueFilters())
    }
    assert set(waiting) == {"Wanted", "Unwanted"}

    import_decisions.decide_imports(
        user=cast.reviewer, candidate_ids=[waiting["Wanted"].pk], action="import"
    )
    import_decisions.decide_imports(
        user=cast.reviewer, candidate_ids=[waiting["Unwanted"].pk], action="ignore"
    )
    pull_updates(integration.pk)

    assert list(Requirement.objects.filter(feature=feature).values_list("name", flat=True)) == [
        "Wanted"
    ]
    assert ImportCandidate.objects.get(name="Unwanted").state == "ignored"
    assert not import_decisions.pending_imports(user=cast.reviewer, filters=queue.QueueFilters())


def test_a_story_under_a_feature_aharally_lacks_brings_the_feature(
    cast, rally_sandbox, integration
):
    release = make_release(
        cast.workspace,
        name=f"R {token()}",
        start_date=date(2027, 1, 1),
        release_date=date(2027, 2, 1),
    )
    _send(cast, integration, make_feature(cast.workspace, release=release, name=f"Known {token()}"))
    release_oid = Link.objects.get(record_type=RecordType.RELEASE, record_id=release.pk).rally_oid
    rally_feature = _create(
        rally_sandbox,
        "PortfolioItem/Feature",
        Name="Unknown feature",
        Release=f"/release/{release_oid}",
    )
    _create(
        rally_sandbox,
        "HierarchicalRequirement",
        Name="Its story",
        PortfolioItem=f"/portfolioitem/feature/{rally_feature.object_id}",
    )
    pull_updates(integration.pk)
    feature = Feature.objects.get(name="Unknown feature")
    assert list(feature.requirements.values_list("name", flat=True)) == ["Its story"]
