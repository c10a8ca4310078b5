"""Link to an existing Rally record: found by FormattedID in Rally, checked, linked."""

from __future__ import annotations

import pytest

from aharally.sync.drain import drain_outbox
from aharally.sync.models import Link, OutboxItem, OutboxKind, OutboxState
from aharally.workspaces.models import RecordType
from tests.factories import make_feature
from tests.sync.support import connect, sandbox_client, scope_of, token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def integration(cast, rally_sandbox):
    return connect(cast.workspace, rally_sandbox, owner=cast.owner)


def _rally(sandbox, type_path, name):
    _, project = scope_of(sandbox)
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
