"""One Rally object ↔ one aharally record, where the sync's mechanisms meet (issue 15).

Two workspaces on one template and one Rally project, automatic import on (the settings the
product recommends): what one integration sends never comes back as a copy in the other, and
an answer lost after Rally committed is adopted, never imported and never created again.
"""

from __future__ import annotations

import pytest

from aharally.records.models import Feature, Requirement
from aharally.records.services import create_initiative, create_requirement
from aharally.sync.incoming.pull import pull_updates
from aharally.sync.models import (
    Activity,
    ActivityAction,
    ErrorKind,
    Link,
    OutboxItem,
    OutboxState,
)
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.drain import drain_outbox
from aharally.workspaces.models import RecordType
from tests.factories import make_feature
from tests.sync.support import connect, rally_objects, token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def company(template_group):
    return template_group.company


@pytest.fixture
def group(template_group):
    """Platform's integration (the template) and Company's, on one Rally project."""
    return template_group.platform, template_group.company_integration


def _drop_answer_of(path_part: str) -> dict:
    return {
        "kind": "drop_after_commit",
        "match": {"method": "POST", "path_contains": path_part},
        "count": 1,
    }


@pytest.fixture
def slow_retries(settings):
    """A retry waits long enough for the catch-ups to run first, as under load in life."""
    settings.SYNC_BASE_BACKOFF_SECONDS = 60


def _due_now() -> None:
    """Backoff is the clock's business; the test wants the retry now."""
    OutboxItem.objects.filter(state=OutboxState.QUEUED).update(not_before=None)


def _catch_up(*integrations) -> None:
    for integration in integrations:
        pull_updates(integration.pk)


def test_features_sent_by_one_workspace_never_come_back_as_copies_in_the_other(
    cast, company, group, rally_sandbox
):
    platform, company_integration = group
    word = token()
    initiative = create_initiative(workspace=company, name=f"Grow {word}")
    features = [
        make_feature(cast.workspace, name=f"Sent {word} {n}", initiative=initiative)
        for n in range(3)
    ]
    for feature in features:
        outbox.request_send(record=feature, integration=platform, user=cast.contributor)
    drain_outbox(platform.pk)

    _catch_up(company_integration, platform, company_integration)

    assert not Feature.objects.filter(workspace=company).exists(), "Company got copies"
    assert Feature.objects.filter(workspace=cast.workspace, name__contains=word).count() == 3
    assert Link.objects.filter(integration=company_integration).count() == 1  # the initiative
    held = rally_objects(rally_sandbox, "PortfolioItem/Feature", word)
    assert len(held) == 3
    linked = Link.objects.filter(rally_oid__in=[item.object_id for item in held])
    assert linked.count() == 3, "a Rally feature is linked to more than one record"


def test_a_lost_create_answer_is_adopted_not_imported_by_either_workspace(
    cast, company, group, rally_sandbox, faults, slow_retries
):
    platform, company_integration = group
    word = token()
    initiative = create_initiative(workspace=company, name=f"Parent {word}")
    first = make_feature(cast.workspace, name=f"Linked {word}", initiative=initiative)
    outbox.request_send(record=first, integration=platform, user=cast.contributor)
    drain_outbox(platform.pk)  # the initiative is linked in Company now
    lost = make_feature(cast.workspace, name=f"Lost {word}", initiative=initiative)
    faults(_drop_answer_of("portfolioitem/feature"))

    outbox.request_send(record=lost, integration=platform, user=cast.contributor)
    drain_outbox(platform.pk)
    row = OutboxItem.objects.get(record_type=RecordType.FEATURE, record_id=lost.pk)
    assert row.error_kind == ErrorKind.OUTCOME_UNKNOWN
    assert len(rally_objects(rally_sandbox, "PortfolioItem/Feature", f"Lost {word}")) == 1

    # The catch-ups see the new Rally feature under a linked initiative before the retry.
    _catch_up(platform, company_integration)
    _due_now()
    drain_outbox(platform.pk)
    _catch_up(platform, company_integration)

    assert len(rally_objects(rally_sandbox, "PortfolioItem/Feature", f"Lost {word}")) == 1
    assert Feature.objects.filter(name=f"Lost {word}").count() == 1
    link = Link.objects.get(record_type=RecordType.FEATURE, record_id=lost.pk)
    assert link.integration == platform
    assert Activity.objects.filter(
        record_type=RecordType.FEATURE, record_id=lost.pk, action=ActivityAction.ADOPTED
    ).exists()


def test_a_parent_whose_answer_was_lost_is_retried_at_once_and_its_children_follow(
    cast, company, group, rally_sandbox, faults, slow_retries
):
    platform, company_integration = group
    word = token()
    initiative = create_initiative(workspace=company, name=f"Lost parent {word}")
    children = [
        make_feature(cast.workspace, name=f"Child {word} {n}", initiative=initiative)
        for n in range(3)
    ]
    faults(_drop_answer_of("portfolioitem/initiative"))
    for feature in children:
        outbox.request_send(record=feature, integration=platform, user=cast.contributor)

    drain_outbox(platform.pk)

    parent_row = OutboxItem.objects.get(
        record_type=RecordType.INITIATIVE, record_id=initiative.pk, kind="create"
    )
    assert parent_row.state != OutboxState.IN_FLIGHT, "the parent's row waits for a reclaim"
    assert parent_row.error_kind == ErrorKind.OUTCOME_UNKNOWN
    assert parent_row.look_before_send

    for _ in range(3):
        _due_now()
        drain_outbox(platform.pk)
    initiative_link = Link.objects.get(record_type=RecordType.INITIATIVE, record_id=initiative.pk)
    assert initiative_link.integration == company_integration
    assert len(rally_objects(rally_sandbox, "PortfolioItem/Initiative", word)) == 1
    assert Link.objects.filter(
        record_type=RecordType.FEATURE, record_id__in=[f.pk for f in children]
    ).count() == len(children)
    assert not OutboxItem.objects.filter(state=OutboxState.IN_FLIGHT).exists()


def test_a_story_whose_create_answer_was_lost_is_adopted_not_imported_under_its_feature(
    cast, group, rally_sandbox, faults, slow_retries
):
    platform, _company_integration = group
    word = token()
    feature = make_feature(cast.workspace, name=f"Holder {word}")
    outbox.request_send(record=feature, integration=platform, user=cast.contributor)
    drain_outbox(platform.pk)
    faults(_drop_answer_of("hierarchicalrequirement"))

    requirement = create_requirement(feature=feature, name=f"Story {word}")
    drain_outbox(platform.pk)
    assert len(rally_objects(rally_sandbox, "HierarchicalRequirement", word)) == 1

    pull_updates(platform.pk)  # sees the story under the linked feature, unlinked
    _due_now()
    drain_outbox(platform.pk)
    pull_updates(platform.pk)

    assert Requirement.objects.filter(feature=feature).count() == 1, "the story was imported"
    assert len(rally_objects(rally_sandbox, "HierarchicalRequirement", word)) == 1
    link = Link.objects.get(record_type=RecordType.REQUIREMENT, record_id=requirement.pk)
    assert link.state == "ok"
    row = OutboxItem.objects.get(record_type=RecordType.REQUIREMENT, record_id=requirement.pk)
    assert row.state == OutboxState.SENT


def _made_in_rally(sandbox, name: str):
    from tests.sync.support import sandbox_client, scope_of

    _, project = scope_of(sandbox)
    with sandbox_client(sandbox) as client:
        return client.create(
            "PortfolioItem/Feature",
            {"Name": name, "Project": f"/project/{project}"},
            fetch=["ObjectID", "FormattedID"],
        )


def _drain_while_linked_elsewhere(integration, feature, existing, *, faults, ms: int) -> None:
    """Drain the outbox in a thread, Rally taking `ms` to answer a feature's create; while
    the feature's is on its way, another path links the feature to `existing`."""
    import threading

    from tests.waiting import wait_until

    faults(
        {
            "kind": "latency",
            "ms": ms,
            "match": {"method": "POST", "path_contains": "portfolioitem/feature/create"},
        }
    )
    drain = threading.Thread(target=drain_outbox, args=(integration.pk,))
    drain.start()
    try:
        wait_until(
            lambda: OutboxItem.objects.filter(
                record_id=feature.pk, state=OutboxState.IN_FLIGHT, look_before_send=True
            ).exists(),
            timeout=30,
            what="the create on its way",
        )
        _link_elsewhere(integration, feature, existing)
    finally:
        drain.join(timeout=60)


def _link_elsewhere(integration, feature, existing) -> None:
    """Another path links the feature to Rally's `existing` object (Link to existing)."""
    from aharally.sync.links import create_link

    create_link(
        integration=integration,
        record_type=RecordType.FEATURE,
        record_id=feature.pk,
        rally_type="PortfolioItem/Feature",
        rally_oid=existing.object_id,
        formatted_id=existing.formatted_id,
    )


def _linked_elsewhere_and_its_object_deleted(sandbox, feature, existing) -> None:
    assert Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk).rally_oid == (
        existing.object_id
    )
    assert rally_objects(sandbox, "PortfolioItem/Feature", feature.name) == []
    note = Activity.objects.get(record_id=feature.pk, action=ActivityAction.SKIPPED)
    assert "was deleted in Rally" in note.detail


def test_a_create_whose_record_got_linked_meanwhile_leaves_no_orphan_in_rally(
    cast, rally_sandbox, faults
):
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    word = token()
    feature = make_feature(cast.workspace, name=f"Raced {word}")
    existing = _made_in_rally(rally_sandbox, f"Existing {word}")
    outbox.request_send(record=feature, integration=integration, user=cast.contributor)

    _drain_while_linked_elsewhere(integration, feature, existing, faults=faults, ms=3000)

    _linked_elsewhere_and_its_object_deleted(rally_sandbox, feature, existing)


def test_creates_answered_together_with_one_linked_meanwhile_are_each_written_on_their_own(
    cast, rally_sandbox, monkeypatch, caplog
):
    """A bulk send's answered creates are linked in one transaction; one of their records
    linked by another path between its answer and that transaction makes it fail whole. Each
    is then written on its own: the raced one's object deleted in Rally, the others linked."""
    from aharally.sync.outgoing import drain, push
    from aharally.sync.web.jobs import start_job

    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    word = token()
    features = [make_feature(cast.workspace, name=f"Batch {word} {n}") for n in range(6)]
    by_pk = {feature.pk: feature for feature in features}
    existing = _made_in_rally(rally_sandbox, f"Existing {word}")
    written = []  # (how many were answered together, how many went on alone)
    raced_of = []  # the record raced: one of the first creates answered together

    def together(answered):
        if len(answered) >= 2 and not raced_of:
            # The race, where it can happen: which record is answered with others depends
            # on this machine's timing (one answered alone is linked alone), so pick it here.
            raced_of.append(by_pk[answered[0][0].row.record_id])
            _link_elsewhere(integration, raced_of[0], existing)
        alone = real(answered)
        written.append((len(answered), len(alone)))
        return alone

    real = push.finish_together
    monkeypatch.setattr(push, "finish_together", together)
    # However far apart this machine's answers come, they are linked together.
    monkeypatch.setattr(drain, "FINISH_TOGETHER_SECONDS", 10.0)
    start_job(records=features, integration=integration, user=cast.contributor, label="x")
    caplog.set_level("INFO", logger="aharally.sync.outgoing.create")

    drain_outbox(integration.pk)

    # The raced one was answered with others, and their transaction was tried and failed
    # whole (IntegrityError), so each went on alone.
    assert any(size >= 2 and alone == size for size, alone in written), written
    [raced] = raced_of
    assert "answered creates written one by one" in caplog.text
    assert "IntegrityError" in caplog.text
    assert not OutboxItem.objects.exclude(state=OutboxState.SENT).exists()
    _linked_elsewhere_and_its_object_deleted(rally_sandbox, raced, existing)
    others = [f for f in features if f is not raced]
    held = rally_objects(rally_sandbox, "PortfolioItem/Feature", f"Batch {word}")
    assert sorted(item["Name"] for item in held) == sorted(f.name for f in others)
    links = Link.objects.filter(
        record_type=RecordType.FEATURE, record_id__in=[f.pk for f in others]
    )
    assert sorted(link.rally_oid for link in links) == sorted(item.object_id for item in held)


def test_a_feature_made_in_rally_under_a_shared_initiative_is_imported_once_and_always_by_one(
    cast, company, group, rally_sandbox
):
    from tests.sync.support import sandbox_client, scope_of

    platform, company_integration = group
    word = token()
    initiative = create_initiative(workspace=company, name=f"Shared {word}")
    feature = make_feature(cast.workspace, name=f"Sent {word}", initiative=initiative)
    outbox.request_send(record=feature, integration=platform, user=cast.contributor)
    drain_outbox(platform.pk)
    initiative_link = Link.objects.get(record_type=RecordType.INITIATIVE, record_id=initiative.pk)
    _, project = scope_of(rally_sandbox)
    with sandbox_client(rally_sandbox) as client:
        client.create(
            "PortfolioItem/Feature",
            {
                "Name": f"Made in Rally {word}",
                "Project": f"/project/{project}",
                "Parent": f"/portfolioitem/initiative/{initiative_link.rally_oid}",
            },
        )

    _catch_up(company_integration, platform, company_integration)  # Company asks first

    imported = Feature.objects.get(name=f"Made in Rally {word}")  # once
    assert imported.workspace == cast.workspace  # by the group's oldest integration
    assert imported.initiative == initiative  # the shared parent, not a copy of it


def test_a_record_linked_through_one_integration_is_not_sent_again_through_another(
    cast, rally_sandbox
):
    first = connect(cast.workspace, rally_sandbox, owner=cast.owner, name="Platform Rally")
    second = connect(
        cast.workspace, rally_sandbox, owner=cast.owner, name="Mobile Rally", project="Mobile"
    )
    word = token()
    feature = make_feature(cast.workspace, name=f"Once {word}")
    outbox.request_send(record=feature, integration=first, user=cast.contributor)
    drain_outbox(first.pk)
    link = Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)

    with pytest.raises(outbox.SyncError) as refused:
        outbox.request_send(record=feature, integration=second, user=cast.contributor)

    assert f"linked to {link.formatted_id} through “Platform Rally”" in refused.value.message
    assert len(rally_objects(rally_sandbox, "PortfolioItem/Feature", word)) == 1


def test_an_unlinked_rally_record_does_not_come_back_as_a_copy_when_it_changes(cast, rally_sandbox):
    from aharally.sync.outgoing.linking import unlink_record
    from tests.sync.support import sandbox_client, scope_of

    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    word = token()
    feature = make_feature(cast.workspace, name=f"Parent {word}")
    requirement = create_requirement(feature=feature, name=f"Story {word}")
    outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    drain_outbox(integration.pk)
    story = Link.objects.get(record_type=RecordType.REQUIREMENT, record_id=requirement.pk)

    unlink_record(
        integration=integration,
        record_type=RecordType.REQUIREMENT,
        record_id=requirement.pk,
        user=cast.owner,
    )
    _, _project = scope_of(rally_sandbox)
    with sandbox_client(rally_sandbox) as client:
        client.update(f"/hierarchicalrequirement/{story.rally_oid}", {"Name": f"Edited {word}"})
    pull_updates(integration.pk)

    assert Requirement.objects.filter(feature=feature).count() == 1  # both kept, no copy


def test_a_record_unlinked_in_one_workspace_is_not_imported_as_a_copy_by_the_other(
    cast, company, group, rally_sandbox
):
    """Found by the state machine's soak: Platform unlinks, Company imports the object."""
    from aharally.sync.outgoing.linking import unlink_record
    from aharally.sync.reconcile import search

    platform, company_integration = group
    word = token()
    initiative = create_initiative(workspace=company, name=f"Shared {word}")
    feature = make_feature(cast.workspace, name=f"Unlinked {word}", initiative=initiative)
    outbox.request_send(record=feature, integration=platform, user=cast.contributor)
    drain_outbox(platform.pk)
    unlink_record(
        integration=platform, record_type=RecordType.FEATURE, record_id=feature.pk, user=cast.owner
    )

    found = search.start_search(integration=company_integration, user=cast.owner, text=word)
    search.run_search(found.pk)
    found.refresh_from_db()
    oids = [entry["oid"] for entry in found.results if entry["record_type"] == "feature"]
    made, problems = search.import_chosen(search=found, user=cast.owner, oids=oids)
    _catch_up(company_integration, platform)

    assert made == [] and "unlinked" in problems[0]
    assert not Feature.objects.filter(workspace=company).exists(), "Company got a copy"


def test_unlinking_a_feature_keeps_its_waiting_stories_from_making_it_again_in_rally(
    cast, rally_sandbox
):
    """Found by the state machine's soak: a requirement's create, queued when its feature was
    unlinked, created the feature again as its parent."""
    from aharally.sync.outgoing.linking import unlink_record

    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    word = token()
    feature = make_feature(cast.workspace, name=f"Unlinked parent {word}")
    outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    drain_outbox(integration.pk)
    requirement = create_requirement(feature=feature, name=f"Waiting {word}", user=cast.owner)

    unlink_record(
        integration=integration,
        record_type=RecordType.FEATURE,
        record_id=feature.pk,
        user=cast.owner,
    )
    drain_outbox(integration.pk)

    assert len(rally_objects(rally_sandbox, "PortfolioItem/Feature", word)) == 1
    row = OutboxItem.objects.get(record_type=RecordType.REQUIREMENT, record_id=requirement.pk)
    assert row.state == OutboxState.REJECTED


def test_a_rename_made_while_a_lost_create_waits_reaches_rally_once_the_object_is_adopted(
    cast, rally_sandbox, faults, slow_retries
):
    from aharally.records.services import update_record

    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    word = token()
    feature = make_feature(cast.workspace, name=f"Before {word}")
    faults(_drop_answer_of("portfolioitem/feature"))
    outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    drain_outbox(integration.pk)
    assert OutboxItem.objects.get(record_id=feature.pk).error_kind == ErrorKind.OUTCOME_UNKNOWN

    # Renamed before the retry: the change waits in the create's row.
    update_record(feature, changes={"name": f"After {word}"}, user=cast.owner)
    _due_now()
    drain_outbox(integration.pk)
    _due_now()
    drain_outbox(integration.pk)

    held = rally_objects(rally_sandbox, "PortfolioItem/Feature", word, fetch=["Name"])
    assert [item["Name"] for item in held] == [f"After {word}"], "the rename was lost"
    link = Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)
    assert link.baseline["name"] == f"After {word}"
    assert Activity.objects.filter(record_id=feature.pk, action=ActivityAction.ADOPTED).exists()
    assert not OutboxItem.objects.exclude(state=OutboxState.SENT).filter(record_id=feature.pk)
