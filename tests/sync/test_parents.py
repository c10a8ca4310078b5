"""What a feature needs goes first: its initiative (maybe in another workspace) and release."""

from __future__ import annotations

from datetime import date

import pytest

from aharally.integrations.log import IntegrationLogEntry
from aharally.integrations.models import Integration
from aharally.integrations.templates_service import use_as_template
from aharally.records.services import create_initiative
from aharally.sync.models import Activity, Link, OutboxItem
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.drain import drain_outbox
from aharally.sync.reconcile import compare_report
from aharally.sync.reconcile.compare import run_comparison, start_comparison
from aharally.workspaces.models import RecordType
from tests.factories import make_feature, make_release, make_workspace, parking_lot
from tests.sync.support import connect, rally_objects, sandbox_client, token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def company(cast):
    return make_workspace("Company", "CO", owner=cast.owner)


def _parent_oid(sandbox, link) -> int | None:
    with sandbox_client(sandbox) as client:
        held = client.read(f"/portfolioitem/feature/{link.rally_oid}", fetch=["Parent", "Release"])
    return held.ref_of("Parent").object_id if held.ref_of("Parent") else None


def test_a_features_initiative_in_another_workspace_is_created_once_and_linked_as_parent(
    cast, company, rally_sandbox
):
    template = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    use_as_template(integration=template, by=cast.owner)
    company_integration = connect(company, rally_sandbox, owner=cast.owner, template=template)
    word = token()
    initiative = create_initiative(workspace=company, name=f"Grow {word}")
    first = make_feature(cast.workspace, name=f"First {word}", initiative=initiative)
    second = make_feature(cast.workspace, name=f"Second {word}", initiative=initiative)

    outbox.request_send(record=first, integration=template, user=cast.contributor)
    drain_outbox(template.pk)
    outbox.request_send(record=second, integration=template, user=cast.contributor)
    drain_outbox(template.pk)

    initiative_link = Link.objects.get(record_type=RecordType.INITIATIVE, record_id=initiative.pk)
    assert initiative_link.integration == company_integration
    assert len(rally_objects(rally_sandbox, "PortfolioItem/Initiative", word)) == 1
    for feature in (first, second):
        link = Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)
        assert _parent_oid(rally_sandbox, link) == initiative_link.rally_oid


@pytest.mark.parametrize(
    ("is_template", "why_text", "what_to_do"),
    [
        (True, "Company has no enabled integration on the template", "Add an integration built"),
        (False, "Company has no integration of its own", "Mark “Rally” Use as template"),
    ],
)
def test_without_an_integration_on_the_template_the_feature_goes_without_a_parent_and_says_why(
    cast, company, rally_sandbox, is_template, why_text, what_to_do
):
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    Integration.objects.filter(pk=integration.pk).update(is_template=is_template, name="Rally")
    word = token()
    initiative = create_initiative(workspace=company, name=f"Alone {word}")
    feature = make_feature(cast.workspace, name=f"Orphan {word}", initiative=initiative)

    outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    drain_outbox(integration.pk)

    link = Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)
    assert _parent_oid(rally_sandbox, link) is None
    assert rally_objects(rally_sandbox, "PortfolioItem/Initiative", word) == []
    why = Activity.objects.get(
        record_type=RecordType.FEATURE, record_id=feature.pk, action="skipped"
    )
    assert why_text in why.detail
    logged = IntegrationLogEntry.objects.get(
        integration=integration, message__contains="without its parent"
    )
    assert logged.hint.startswith(what_to_do)


def test_a_feature_whose_answer_was_lost_says_once_that_it_went_without_its_parent(
    cast, company, rally_sandbox, faults
):
    """Found in `make run` under a dropped answer: the attempt that adopts Rally's object
    said again that the parent stays behind, two lines for one send."""
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    word = token()
    initiative = create_initiative(workspace=company, name=f"Alone {word}")
    feature = make_feature(cast.workspace, name=f"Lost {word}", initiative=initiative)
    faults(kind="drop_after_commit", match={"method": "POST", "path_contains": "create"}, count=1)

    outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    drain_outbox(integration.pk)  # Rally made the feature; its answer was lost
    OutboxItem.objects.filter(record_id=feature.pk).update(not_before=None)
    drain_outbox(integration.pk)  # looked for, found, adopted

    assert len(rally_objects(rally_sandbox, "PortfolioItem/Feature", word)) == 1
    actions = list(
        Activity.objects.filter(record_type=RecordType.FEATURE, record_id=feature.pk)
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == ["skipped", "adopted"]


def test_a_feature_sent_before_its_initiatives_integration_existed_gets_its_parent_when_sent_again(
    cast, company, rally_sandbox
):
    template = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    word = token()
    initiative = create_initiative(workspace=company, name=f"Later {word}")
    feature = make_feature(cast.workspace, name=f"Early {word}", initiative=initiative)
    outbox.request_send(record=feature, integration=template, user=cast.contributor)
    drain_outbox(template.pk)
    link = Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)
    assert _parent_oid(rally_sandbox, link) is None

    # Company's integration comes later: Compare lists the missing parent, and Send changes
    # to Rally adds it.
    use_as_template(integration=template, by=cast.owner)
    connect(company, rally_sandbox, owner=cast.owner, template=template)
    comparison = start_comparison(integration=template, user=cast.owner)
    run_comparison(comparison.pk)
    [line] = [
        line
        for line in compare_report.report(comparison)
        if line.difference.record_id == feature.pk
    ]
    assert (line.label, line.ours, line.theirs) == (
        "Initiative (Rally Parent)",
        f"{initiative.reference} Later {word}",
        "",
    )
    assert line.can_use_ours and not line.can_use_theirs
    outbox.request_send(record=feature, integration=template, user=cast.contributor)
    drain_outbox(template.pk)

    initiative_link = Link.objects.get(record_type=RecordType.INITIATIVE, record_id=initiative.pk)
    assert _parent_oid(rally_sandbox, link) == initiative_link.rally_oid
    assert len(rally_objects(rally_sandbox, "PortfolioItem/Initiative", word)) == 1
    again = start_comparison(integration=template, user=cast.owner)
    run_comparison(again.pk)
    assert [
        line for line in compare_report.report(again) if line.difference.record_id == feature.pk
    ] == []


def test_compares_use_aharallys_on_a_missing_parent_sends_the_record_with_its_parent(
    cast, company, rally_sandbox
):
    template = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    word = token()
    initiative = create_initiative(workspace=company, name=f"Later {word}")
    feature = make_feature(cast.workspace, name=f"Early {word}", initiative=initiative)
    outbox.request_send(record=feature, integration=template, user=cast.contributor)
    drain_outbox(template.pk)
    use_as_template(integration=template, by=cast.owner)
    connect(company, rally_sandbox, owner=cast.owner, template=template)
    comparison = start_comparison(integration=template, user=cast.owner)
    run_comparison(comparison.pk)
    [line] = compare_report.report(comparison)

    refused = compare_report.resolve(
        integration=template, user=cast.owner, difference_ids=[line.difference.pk], action="theirs"
    )
    assert refused[0] == 0 and "a parent goes from aharally to Rally only" in refused[1][0]
    done, _ = compare_report.resolve(
        integration=template, user=cast.owner, difference_ids=[line.difference.pk], action="ours"
    )
    assert done == 1
    drain_outbox(template.pk)
    link = Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)
    initiative_link = Link.objects.get(record_type=RecordType.INITIATIVE, record_id=initiative.pk)
    assert _parent_oid(rally_sandbox, link) == initiative_link.rally_oid


def test_a_feature_in_a_parking_lot_goes_without_a_release(cast, rally_sandbox):
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    word = token()
    feature = make_feature(cast.workspace, release=parking_lot(cast.workspace), name=f"Lot {word}")
    outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    drain_outbox(integration.pk)
    link = Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)
    with sandbox_client(rally_sandbox) as client:
        assert (
            client.read(
                link.url.split("/detail/")[1].replace(
                    "portfolioitem/feature", "/portfolioitem/feature"
                ),
                fetch=["Release"],
            )["Release"]
            is None
        )
    assert not Link.objects.filter(record_type=RecordType.RELEASE).exists()


def test_a_parking_lot_itself_is_never_sent(cast, rally_sandbox):
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    with pytest.raises(outbox.SyncError, match="parking lot"):
        outbox.request_send(
            record=parking_lot(cast.workspace), integration=integration, user=cast.contributor
        )


def test_a_release_without_the_dates_rally_requires_is_refused_naming_the_field(
    cast, rally_sandbox
):
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    word = token()
    release = make_release(cast.workspace, name=f"Undated {word}")
    feature = make_feature(cast.workspace, release=release, name=f"Dated {word}")
    outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    drain_outbox(integration.pk)
    failed = Activity.objects.filter(record_type=RecordType.RELEASE, action="failed").get()
    assert "Rally requires Release." in failed.detail
    assert "Custom layouts" in failed.detail
    # The feature waits for its release, saying why; it is not retried in a loop.
    why = Activity.objects.get(
        record_type=RecordType.FEATURE, record_id=feature.pk, action="failed"
    )
    assert why.detail.startswith(f"{release.reference} has to be in Rally first")
    assert rally_objects(rally_sandbox, "Release", word) == []
    assert rally_objects(rally_sandbox, "PortfolioItem/Feature", word) == []
    dated = make_release(
        cast.workspace,
        name=f"Dated {word} R",
        start_date=date(2027, 1, 1),
        release_date=date(2027, 2, 1),
    )
    assert dated.pk


def test_a_record_moved_into_the_project_of_an_integration_on_the_same_template_moves_its_link(
    cast, company, rally_sandbox
):
    from aharally.integrations.models import Integration
    from aharally.sync.incoming.pull import pull_updates
    from tests.sync.support import scope_of

    template = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    use_as_template(integration=template, by=cast.owner)
    Integration.objects.filter(pk=template.pk).update(exclude_child_updates=True)
    team_a = connect(
        company, rally_sandbox, owner=cast.owner, template=template,
        project="Platform – Team A",  # noqa: RUF001
    )  # fmt: skip
    feature = make_feature(cast.workspace, name=f"Wanderer {token()}")
    outbox.request_send(record=feature, integration=template, user=cast.contributor)
    drain_outbox(template.pk)
    link = Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)
    _, team_a_project = scope_of(rally_sandbox, project="Platform – Team A")  # noqa: RUF001
    with sandbox_client(rally_sandbox) as client:
        client.update(
            f"/portfolioitem/feature/{link.rally_oid}", {"Project": f"/project/{team_a_project}"}
        )

    pull_updates(template.pk)

    link.refresh_from_db()
    # Exclude child updates is on, yet the link is kept: Team A is integrated on the template.
    assert (link.integration_id, link.state) == (team_a.pk, "ok")
    assert IntegrationLogEntry.objects.filter(
        integration=template, message__contains=f"it now syncs through “{team_a.name}”"
    ).exists()
