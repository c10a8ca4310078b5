"""The preview of a bulk send (issue 19): what it says is what the send's own planning decides,
it asks Rally nothing, and its cost in SQL does not grow with the selection."""

from __future__ import annotations

import datetime

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from aharally.integrations.templates_service import effective_config
from aharally.records.models import Feature
from aharally.records.services import create_initiative, update_record
from aharally.sync import mapping
from aharally.sync.models import Link, OutboxItem, OutboxState
from aharally.sync.outgoing.drain import drain_outbox
from aharally.sync.outgoing.preview import preview_sends
from aharally.sync.records import load_record
from aharally.sync.web.jobs import start_job
from aharally.workspaces.models import RecordType, WorkflowStatus
from tests.factories import make_feature, make_link, make_requirement
from tests.sync.support import rally_objects, token

pytestmark = pytest.mark.django_db(transaction=True)

DUE = datetime.date(2027, 3, 1)
REQUIRED = ("PortfolioItem/Feature", "PlannedEndDate")


@pytest.fixture
def end_date_required(rally_sandbox):
    rally_sandbox.require_field(*REQUIRED)
    yield
    rally_sandbox.unrequire_field(*REQUIRED)
    cache.clear()  # Rally's metadata kept with the rule: no later test may find it


def _requests(sandbox) -> int:
    return sandbox.admin("GET", "/sandbox-admin/stats").json()["requests"]


def _selection(group, *, creates: int, linked: int, refused: int = 0, stories_each: int = 2):
    """Platform features: `creates` new ones under Company's two initiatives, `linked` linked
    already (with a baseline their name and status no longer match), `refused` without the
    end date Rally requires."""
    platform = group.platform.workspace
    initiatives = [
        create_initiative(workspace=group.company, name=f"Company goal {token()}") for _ in "ab"
    ]
    features, batch = [], token()
    for n in range(creates + refused):
        feature = make_feature(
            platform,
            name=f"Preview {batch} {n}",
            initiative=initiatives[n % 2],
            due_date=DUE if n < creates else None,
        )
        for _ in range(stories_each):
            make_requirement(feature)
        features.append(feature)
    for n in range(linked):
        feature = make_feature(platform, name=f"Linked {token()} {n}", due_date=DUE)
        make_link(
            group.platform,
            feature,
            rally_oid=9_000_000 + feature.pk,
            rally_site=group.platform.rally_site,
            baseline={**_sent_values(group.platform, feature), "name": "The name Rally has"},
        )
        features.append(feature)
    return [Feature.objects.get(pk=f.pk) for f in features]


def _another_state(feature) -> WorkflowStatus:
    """A status of the feature's workflow that Rally knows as another state."""
    config = effective_config(Link.objects.get(record_id=feature.pk).integration)
    state_for = config.mapping_for(RecordType.FEATURE).status_map.state_for
    statuses = WorkflowStatus.objects.filter(
        workspace=feature.workspace, record_type=RecordType.FEATURE
    )
    return next(s for s in statuses if state_for(s) != state_for(feature.status))


def _sent_values(integration, feature) -> dict:
    """What a send of the feature would have left as its link's baseline."""
    record_mapping = effective_config(integration).mapping_for(RecordType.FEATURE)
    pairs = mapping.fields_to_send(record_mapping.field_mappings, creating=False)
    return mapping.record_values(
        load_record(RecordType.FEATURE, feature.pk),
        fields=[name for name, _ in pairs],
        state_for=record_mapping.status_map.state_for,
    )


def test_the_preview_counts_parents_stories_updates_and_refusals_and_asks_rally_nothing(
    template_group, rally_sandbox, end_date_required
):
    features = _selection(template_group, creates=4, linked=2, refused=1, stories_each=2)
    update_record(features[-1], changes={"status": _another_state(features[-1])}, user=None)
    preview_sends(records=features[:1], integration=template_group.platform)  # metadata kept
    before, rows = _requests(rally_sandbox), OutboxItem.objects.count()

    preview = preview_sends(records=features, integration=template_group.platform)

    assert (_requests(rally_sandbox), OutboxItem.objects.count()) == (before, rows)
    assert preview.summary() == (
        "7 features: 4 to create with 2 initiatives and 8 stories, 2 to update (name, status), "
        "1 refused: Planned End Date is required in Rally"
    )
    assert [record.pk for record in preview.creates] == [f.pk for f in features[:4]]
    refused = preview.refused[0]
    assert refused.record.pk == features[4].pk
    assert "Rally requires" in refused.reason and "Due date is empty" in refused.reason
    assert {where.pk for found in preview.parents.values() for _, where in found} == {
        template_group.company_integration.pk
    }
    # 2 initiatives, then 4 features and 2 updates (a read and a write each: Name goes both
    # ways), then 8 stories.
    assert preview.requests == 2 + 4 + 2 * 2 + 8
    assert preview.seconds == 1.5


def test_the_send_does_what_the_preview_said(template_group, rally_sandbox, end_date_required):
    features = _selection(template_group, creates=3, linked=0, refused=1, stories_each=1)
    preview = preview_sends(records=features, integration=template_group.platform)
    assert preview.summary() == (
        "4 features: 3 to create with 2 initiatives and 3 stories, "
        "1 refused: Planned End Date is required in Rally"
    )

    start_job(
        records=features,
        integration=template_group.platform,
        user=template_group.platform.created_by,
        label="x",
        skip_refused=True,
    )
    drain_outbox(template_group.platform.pk)

    made = dict(created_by_type_of(Link.objects.all()))
    assert (
        made == dict(preview.created_by_type) == {"initiative": 2, "feature": 3, "requirement": 3}
    )
    names = features[0].name.split()[1]
    assert len(rally_objects(rally_sandbox, "PortfolioItem/Feature", names)) == 3
    refused = OutboxItem.objects.get(record_id=features[3].pk, record_type=RecordType.FEATURE)
    assert refused.state == OutboxState.FAILED
    assert "PlannedEndDate" in refused.error_message or "Planned End Date" in refused.error_message


def created_by_type_of(links) -> list[tuple[str, int]]:
    counted: dict[str, int] = {}
    for link in links:
        counted[link.record_type] = counted.get(link.record_type, 0) + 1
    return list(counted.items())


def _preview_post(client, workspace, integration, features, **extra):
    return client.post(
        reverse("records:bulk_action", kwargs={"prefix": workspace.prefix}),
        {
            "action": "send_to_rally",
            "ids": [f.pk for f in features],
            "send_to_rally-integration": integration.pk,
            **extra,
        },
        **({"HTTP_HX_REQUEST": "true"} if extra.pop("htmx", True) else {}),
    )


def test_the_preview_costs_the_same_queries_for_two_features_as_for_twelve(
    client, cast, template_group, rally_sandbox
):
    client.force_login(cast.contributor)
    integration = template_group.platform

    def queries(creates: int, linked: int) -> int:
        features = _selection(template_group, creates=creates, linked=linked)
        with CaptureQueriesContext(connection) as captured:
            response = _preview_post(client, cast.workspace, integration, features)
        assert response.status_code == 200, response.content[:500]
        assert b"data-send-summary" in response.content
        return len(captured)

    queries(1, 1)  # first use: sessions, caches, Rally's metadata kept
    assert queries(1, 1) == queries(9, 3)
    assert not OutboxItem.objects.exists()


def test_without_javascript_the_preview_is_a_page_whose_send_posts_the_selection_confirmed(
    client, cast, template_group
):
    client.force_login(cast.contributor)
    features = _selection(template_group, creates=2, linked=0)
    response = _preview_post(client, cast.workspace, template_group.platform, features, htmx=False)

    assert response.status_code == 200
    html = response.content.decode()
    assert "2 features: 2 to create with 2 initiatives and 4 stories" in html
    assert 'name="confirmed" value="1"' in html
    for feature in features:
        assert f'name="ids" value="{feature.pk}"' in html
    assert f'name="send_to_rally-integration" value="{template_group.platform.pk}"' in html
    assert not OutboxItem.objects.exists()

    sent = _preview_post(
        client, cast.workspace, template_group.platform, features, htmx=False, confirmed="1"
    )
    assert sent.status_code == 302
    assert OutboxItem.objects.filter(record_type=RecordType.FEATURE).count() == 2


def test_a_confirmed_send_leaves_out_what_the_preview_refused_and_an_unconfirmed_one_sends_nothing(
    client, cast, template_group
):
    client.force_login(cast.contributor)
    features = _selection(template_group, creates=2, linked=0)
    elsewhere = make_feature(cast.workspace, name=f"Elsewhere {token()}")
    make_link(
        template_group.company_integration,
        elsewhere,
        rally_oid=8_000_000 + elsewhere.pk,
        rally_site=template_group.platform.rally_site,
    )
    chosen = [*features, elsewhere]

    shown = _preview_post(client, cast.workspace, template_group.platform, chosen)
    assert "1 refused" in shown.content.decode()
    assert (
        f"{elsewhere.reference} is linked to F{8_000_000 + elsewhere.pk}" in shown.content.decode()
    )
    assert not OutboxItem.objects.exists()

    _preview_post(client, cast.workspace, template_group.platform, chosen, confirmed="1")
    sent = OutboxItem.objects.filter(record_type=RecordType.FEATURE)
    assert sorted(sent.values_list("record_id", flat=True)) == sorted(f.pk for f in features)
    assert sent.first().job.total == 2


@pytest.mark.parametrize(
    ("who", "status"),
    [("owner", 200), ("contributor", 200), ("reviewer", 403), ("viewer", 403), ("outsider", 404)],
)
def test_the_preview_is_shown_to_those_who_may_send(client, cast, template_group, who, status):
    client.force_login(getattr(cast, who))
    features = _selection(template_group, creates=1, linked=0)

    response = _preview_post(client, cast.workspace, template_group.platform, features)

    assert response.status_code == status
    assert not OutboxItem.objects.exists()


def test_a_parent_rally_would_refuse_refuses_the_records_that_need_it_as_the_send_does(
    template_group, rally_sandbox
):
    rally_sandbox.require_field("PortfolioItem/Initiative", "PlannedEndDate")
    try:
        features = _selection(template_group, creates=2, linked=0, stories_each=1)
        preview = preview_sends(records=features, integration=template_group.platform)
        assert preview.summary() == (
            "2 features: 2 refused: its initiative's Planned End Date is required in Rally"
        )
        assert "has to be in Rally first, and Rally would refuse it" in preview.refused[0].reason
        assert not preview.parents and preview.requests == 0

        start_job(
            records=features,
            integration=template_group.platform,
            user=template_group.platform.created_by,
            label="x",
            skip_refused=True,
        )
        drain_outbox(template_group.platform.pk)

        assert not Link.objects.exists()
        rows = OutboxItem.objects.filter(record_type=RecordType.FEATURE)
        assert {row.state for row in rows} == {OutboxState.FAILED}
        assert all("has to be in Rally first" in row.error_message for row in rows)
    finally:
        rally_sandbox.unrequire_field("PortfolioItem/Initiative", "PlannedEndDate")
        cache.clear()


def test_a_type_not_mapped_and_an_integration_needing_reauthorization_are_said_per_record(
    template_group,
):
    from aharally.integrations.models import Integration
    from tests.factories import make_release

    platform = template_group.platform
    release = make_release(platform.workspace, name=f"Rel {token()}")
    features = [make_feature(platform.workspace, release=release) for _ in range(2)]
    platform.record_mappings.filter(record_type=RecordType.RELEASE).delete()

    preview = preview_sends(records=[release, *features], integration=platform)

    assert preview.summary() == (
        "1 release and 2 features: 2 to create, 1 refused: Releases are not mapped to a Rally "
        "type in “Rally”: an owner can map them in the integration's mappings."
    )
    assert not preview.parents  # an unmapped release is no feature's parent either

    Integration.objects.filter(pk=platform.pk).update(needs_reauthorization=True)
    platform.refresh_from_db()
    preview = preview_sends(records=features, integration=platform)
    assert preview.summary().startswith(
        "2 features: 2 refused: The integration “Rally” needs re-authorization with Rally"
    )
    assert preview.requests == 0


def test_stories_rally_would_refuse_are_said_apart_and_their_features_still_go(
    template_group, rally_sandbox
):
    required = ("HierarchicalRequirement", "Description")
    rally_sandbox.require_field(*required)
    try:
        platform, batch = template_group.platform.workspace, token()
        features = [make_feature(platform, name=f"Stories {batch} {n}") for n in range(2)]
        described = make_requirement(features[0], name=f"Described {batch}")
        update_record(described, changes={"description": "<p>What it is</p>"}, user=None)
        for feature in features:
            make_requirement(feature, name=f"Bare {batch}")
        make_requirement(features[1], name=f"Bare {batch}")
        features = [Feature.objects.get(pk=f.pk) for f in features]

        preview = preview_sends(records=features, integration=template_group.platform)

        assert preview.summary() == (
            "2 features: 2 to create with 1 story, 3 stories refused: "
            "Description is required in Rally"
        )
        assert {r.record.name for r in preview.refused_stories} == {f"Bare {batch}"}

        # The send does what it said: both features and the one described story.
        start_job(records=features, integration=template_group.platform, user=None, label="stories")
        drain_outbox(template_group.platform.pk)
        assert len(rally_objects(rally_sandbox, "PortfolioItem/Feature", batch)) == 2
        assert [s.name for s in rally_objects(rally_sandbox, "HierarchicalRequirement", batch)] == [
            f"Described {batch}"
        ]
    finally:
        rally_sandbox.unrequire_field(*required)
        cache.clear()
