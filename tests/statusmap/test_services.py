"""Stored status maps: created auto-matched, kept in step with Rally's states, regrouped."""

from __future__ import annotations

import pytest

from aharally.integrations.models import RecordMapping
from aharally.integrations.wizard import services as wizard
from aharally.integrations.wizard import status_maps
from aharally.statusmap import services
from aharally.workspaces.models import WorkflowStatus

pytestmark = pytest.mark.django_db

FEATURE_STATES = ["Discovering", "Developing", "Measuring", "Done"]


@pytest.fixture
def mapping(cast) -> RecordMapping:
    integration = wizard.create_draft(
        workspace=cast.workspace, name="Rally", template=None, user=cast.owner
    )
    return RecordMapping.objects.create(
        integration=integration, record_type="feature", rally_type="PortfolioItem/Feature"
    )


def named(workspace, name) -> WorkflowStatus:
    return WorkflowStatus.objects.get(workspace=workspace, record_type="feature", name=name)


def incoming(status_map) -> dict[str, str]:
    return {e.rally_state: e.status.name for e in status_map.incoming.select_related("status")}


def outgoing(status_map) -> dict[str, str]:
    return {e.status.name: e.rally_state for e in status_map.outgoing.select_related("status")}


def test_a_new_status_map_is_auto_matched_and_complete(mapping):
    status_map = status_maps.sync_status_map(
        record_mapping=mapping, rally_field="State", rally_states=FEATURE_STATES
    )
    assert set(incoming(status_map)) == set(FEATURE_STATES)
    assert len(outgoing(status_map)) == 6  # every status of the feature workflow sends one
    assert status_maps.status_map_problems(mapping) == []


def test_names_that_match_are_mapped_to_each_other(mapping, cast):
    states = ["Under Consideration", "In-Development", "Shipped"]
    status_map = status_maps.sync_status_map(
        record_mapping=mapping, rally_field="State", rally_states=states
    )
    assert incoming(status_map) == {
        "Under Consideration": "Under consideration",
        "In-Development": "In development",
        "Shipped": "Shipped",
    }
    assert outgoing(status_map)["In development"] == "In-Development"


def test_one_status_takes_many_states(mapping, cast):
    status_map = status_maps.sync_status_map(
        record_mapping=mapping, rally_field="State", rally_states=FEATURE_STATES
    )
    in_development = named(cast.workspace, "In development")
    for state in ("Measuring", "Developing"):
        services.assign_state(status_map=status_map, rally_state=state, status_id=in_development.pk)
    mapped = incoming(status_map)
    assert mapped["Measuring"] == mapped["Developing"] == "In development"
    assert status_maps.status_map_problems(mapping) == []


def test_choices_survive_when_rally_adds_and_removes_states(mapping, cast):
    status_map = status_maps.sync_status_map(
        record_mapping=mapping, rally_field="State", rally_states=FEATURE_STATES
    )
    shipped = named(cast.workspace, "Shipped")
    services.assign_state(status_map=status_map, rally_state="Measuring", status_id=shipped.pk)
    services.set_sent_state(status_map=status_map, status_id=shipped.pk, rally_state="Measuring")
    # Rally renamed Done to Released and added Validating.
    changed = ["Discovering", "Developing", "Measuring", "Validating", "Released"]
    status_map = status_maps.sync_status_map(
        record_mapping=mapping, rally_field="State", rally_states=changed
    )
    mapped = incoming(status_map)
    assert set(mapped) == set(changed)
    assert mapped["Measuring"] == "Shipped"
    assert outgoing(status_map)["Shipped"] == "Measuring"
    assert "Done" not in outgoing(status_map).values()
    assert status_maps.status_map_problems(mapping) == []


def test_the_same_states_again_change_nothing(mapping, cast, django_assert_num_queries):
    status_map = status_maps.sync_status_map(
        record_mapping=mapping, rally_field="State", rally_states=FEATURE_STATES
    )
    with django_assert_num_queries(4):  # workflow, savepoint, locked read, release
        status_maps.sync_status_map(
            record_mapping=mapping, rally_field="State", rally_states=FEATURE_STATES
        )
    assert status_map.incoming.count() == 4


def test_a_status_of_another_record_type_or_workspace_is_refused(mapping, cast):
    status_map = status_maps.sync_status_map(
        record_mapping=mapping, rally_field="State", rally_states=FEATURE_STATES
    )
    on_track = WorkflowStatus.objects.get(
        workspace=cast.workspace, record_type="initiative", name="On track"
    )
    elsewhere = WorkflowStatus.objects.filter(workspace=cast.other_workspace).first()
    for status in (on_track, elsewhere):
        with pytest.raises(services.StatusMapError):
            services.assign_state(status_map=status_map, rally_state="Done", status_id=status.pk)
    with pytest.raises(services.StatusMapError, match="Rally has no state"):
        services.set_sent_state(
            status_map=status_map, status_id=named(cast.workspace, "Shipped").pk, rally_state="X"
        )


def test_a_missing_status_map_is_a_problem(mapping):
    assert status_maps.status_map_problems(mapping) == ["map its statuses to Rally's states."]
