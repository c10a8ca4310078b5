"""The record's integration history for a custom value without a counterpart: its own kind,
"Not applied from Rally" (also on an import), against the sandbox."""

from __future__ import annotations

import pytest

from aharally.integrations.models import Direction
from aharally.integrations.wizard import field_maps
from aharally.records import custom
from aharally.sync.incoming.pull import pull_updates
from aharally.sync.models import Activity, Link
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.drain import drain_outbox
from aharally.workspaces.custom_fields import add_custom_field
from aharally.workspaces.models import RecordType
from tests.factories import make_feature
from tests.sync.support import connect, sandbox_client, token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def integration(cast, rally_sandbox):
    return connect(cast.workspace, rally_sandbox, owner=cast.owner)


def _send(cast, integration, feature):
    outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    drain_outbox(integration.pk)
    return Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)


def test_a_story_imported_with_a_value_no_choice_maps_to_says_so_in_its_history(
    cast, rally_sandbox, integration
):
    from aharally.records.models import Requirement
    from tests.sync.support import scope_of

    field = add_custom_field(
        workspace=cast.workspace,
        record_type=RecordType.REQUIREMENT,
        name="Risk level",
        kind="choice",
        choices=["Low", "Medium"],
    )
    with sandbox_client(rally_sandbox) as client:
        engineering = next(w for w in client.workspaces() if w.name == "Engineering")
        story_attributes = client.attributes("HierarchicalRequirement", workspace=engineering.ref)
    field_maps.add_field_mapping(
        record_mapping=integration.record_mappings.get(record_type=RecordType.REQUIREMENT),
        field=field.form_name,
        rally_field="c_RiskLevel",
        direction=Direction.BOTH,
        attributes=story_attributes,
    )
    feature = make_feature(cast.workspace, name=f"Parent {token()}")
    link = _send(cast, integration, feature)
    _, project = scope_of(rally_sandbox)
    with sandbox_client(rally_sandbox) as client:
        client.create(
            "HierarchicalRequirement",
            {
                "Project": f"/project/{project}",
                "Name": "Too risky story",
                "PortfolioItem": f"/portfolioitem/feature/{link.rally_oid}",
                "c_RiskLevel": "High",
            },
        )

    pull_updates(integration.pk)

    requirement = Requirement.objects.get(feature=feature, name="Too risky story")
    assert custom.read_values(requirement.pk, [field])[field.form_name] is None
    said = Activity.objects.get(record_id=requirement.pk, action="not_applied")
    assert said.detail.startswith("“High” has no mapping for Risk level")
    assert said.get_action_display() == "Not applied from Rally"
