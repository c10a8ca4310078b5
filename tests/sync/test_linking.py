"""Link to an existing Rally record: found by FormattedID in Rally, checked, linked."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils.html import escape

from aharally.integrations.templates_service import use_as_template
from aharally.sync.models import Link, OutboxItem, OutboxKind, OutboxState
from aharally.sync.outgoing.drain import drain_outbox
from aharally.workspaces.models import RecordType
from tests.factories import make_feature, make_workspace
from tests.sync.support import connect, sandbox_client, scope_of, token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def integration(cast, rally_sandbox):
    return connect(cast.workspace, rally_sandbox, owner=cast.owner)


def _rally(sandbox, type_path, name, *, project_name="Platform"):
    _, project = scope_of(sandbox, project=project_name)
    with sandbox_client(sandbox) as client:
        return client.create(
            type_path,
            {"Name": name, "Project": f"/project/{project}"},
            fetch=["ObjectID", "FormattedID"],
        )


def _link(cast, integration, feature, formatted_id):
    return OutboxItem.objects.create(
        integration=integration,
        record_type="feature",
        record_id=feature.pk,
        kind=OutboxKind.LINK,
        fields=[formatted_id],
        state=OutboxState.QUEUED,
        created_by=cast.contributor,
    )


def test_an_existing_rally_feature_is_linked_without_creating_anything(
    cast, rally_sandbox, integration
):
    existing = _rally(rally_sandbox, "PortfolioItem/Feature", f"Existing {token()}")
    feature = make_feature(cast.workspace, name="Ours")
    _link(cast, integration, feature, existing.formatted_id)
    drain_outbox(integration.pk)
    link = Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)
    assert (link.rally_oid, link.formatted_id) == (existing.object_id, existing.formatted_id)
    with sandbox_client(rally_sandbox) as client:
        assert client.read(f"/portfolioitem/feature/{existing.object_id}", fetch=["Name"])[
            "Name"
        ].startswith("Existing")


def test_a_formatted_id_of_another_type_is_refused_saying_what_it_is(
    cast, rally_sandbox, integration
):
    story = _rally(rally_sandbox, "HierarchicalRequirement", f"Story {token()}")
    feature = make_feature(cast.workspace)
    row = _link(cast, integration, feature, story.formatted_id)
    drain_outbox(integration.pk)
    row.refresh_from_db()
    assert row.state == OutboxState.FAILED
    assert f"{story.formatted_id} is a HierarchicalRequirement in Rally" in row.error_message
    assert not Link.objects.exists()


def test_a_formatted_id_rally_does_not_have_is_refused(cast, rally_sandbox, integration):
    feature = make_feature(cast.workspace)
    row = _link(cast, integration, feature, "F999999")
    drain_outbox(integration.pk)
    row.refresh_from_db()
    assert row.state == OutboxState.FAILED
    assert "Rally has no Feature F999999" in row.error_message


def test_a_rally_feature_of_another_project_is_refused_saying_where_it_is(
    client, cast, rally_sandbox, integration
):
    """Linked, later edits of the record would be pushed into a project not integrated."""
    mobile = _rally(
        rally_sandbox, "PortfolioItem/Feature", f"Mobile {token()}", project_name="Mobile"
    )
    feature = make_feature(cast.workspace, name="Ours")
    client.force_login(cast.contributor)
    menu = reverse(
        "sync:record_menu",
        kwargs={"prefix": "PLAT", "record_type": "feature", "record_id": feature.pk},
    )
    link = reverse(
        "sync:link", kwargs={"prefix": "PLAT", "record_type": "feature", "record_id": feature.pk}
    )
    asked = client.post(
        link,
        {"integration": integration.pk, "formatted_id": mobile.formatted_id},
        HTTP_HX_REQUEST="true",
    )
    assert f"Looking for {mobile.formatted_id} in Rally" in asked.content.decode()

    drain_outbox(integration.pk)

    row = OutboxItem.objects.get(kind=OutboxKind.LINK)
    said = (
        f"{mobile.formatted_id} is in Rally project Mobile, outside this integration's project "
        "Platform and its children."
    )
    assert (row.state, row.error_message) == (OutboxState.FAILED, said)
    assert not Link.objects.exists()
    assert escape(said) in client.get(menu, HTTP_HX_REQUEST="true").content.decode()


def test_a_rally_feature_of_a_child_project_is_linked(cast, rally_sandbox, integration):
    child = _rally(
        rally_sandbox,
        "PortfolioItem/Feature",
        f"Team A {token()}",
        project_name="Platform – Team A",  # noqa: RUF001
    )
    feature = make_feature(cast.workspace, name="Ours")
    _link(cast, integration, feature, child.formatted_id)
    drain_outbox(integration.pk)
    assert Link.objects.get(record_id=feature.pk).rally_oid == child.object_id


def test_a_rally_feature_linked_to_another_record_by_another_integration_is_refused(
    cast, rally_sandbox, integration
):
    """One Rally object, one record: Company's integration, on Platform's template, has F
    linked to its own feature already."""
    use_as_template(integration=integration, by=cast.owner)
    company = make_workspace("Company", "CO", owner=cast.owner)
    theirs = connect(
        company, rally_sandbox, owner=cast.owner, template=integration, name="Company Rally"
    )
    existing = _rally(rally_sandbox, "PortfolioItem/Feature", f"Shared {token()}")
    their_feature = make_feature(company, name="Theirs")
    _link(cast, theirs, their_feature, existing.formatted_id)
    drain_outbox(theirs.pk)
    assert Link.objects.get(integration=theirs).rally_oid == existing.object_id

    ours = make_feature(cast.workspace, name="Ours")
    row = _link(cast, integration, ours, existing.formatted_id)
    drain_outbox(integration.pk)

    row.refresh_from_db()
    assert row.state == OutboxState.FAILED
    assert row.error_message == (
        f"{existing.formatted_id} is already linked to {their_feature.reference} through "
        "“Company Rally”."
    )
    assert Link.objects.filter(rally_oid=existing.object_id).count() == 1


@pytest.mark.parametrize("typed", ["F\u0661\u0662", "\uff26\uff12", "F-12"])
def test_a_formatted_id_that_is_not_ascii_letters_and_digits_is_refused_before_asking_rally(
    client, cast, integration, typed
):
    feature = make_feature(cast.workspace, name="Ours")
    client.force_login(cast.contributor)
    link = reverse(
        "sync:link", kwargs={"prefix": "PLAT", "record_type": "feature", "record_id": feature.pk}
    )
    asked = client.post(
        link, {"integration": integration.pk, "formatted_id": typed}, HTTP_HX_REQUEST="true"
    )
    assert asked.status_code == 422
    assert "Enter a Rally FormattedID such as F12 or US345." in asked.content.decode()
    assert not OutboxItem.objects.exists()  # nothing for the cluster to ask Rally
