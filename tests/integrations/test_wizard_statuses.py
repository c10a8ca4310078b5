"""Step 7: status mapping, read from the sandbox, regrouped by drag and drop or keyboard."""

from __future__ import annotations

import pytest

from aharally.integrations.models import WizardStep
from aharally.statusmap.models import StatusMap
from aharally.workspaces.models import WorkflowStatus
from tests.integrations.wizard_support import reach, scoped, step_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def integration(cast, rally_sandbox, wizard_settings, client):
    integration = scoped(cast.workspace, cast.owner, rally_sandbox)
    client.force_login(cast.owner)
    client.get(step_url(integration, "mappings"))  # creates the default mappings
    return reach(integration, WizardStep.STATUSES)


def feature_map(integration) -> StatusMap:
    return StatusMap.objects.get(
        record_mapping__integration=integration, record_mapping__record_type="feature"
    )


def status(workspace, name, record_type="feature") -> WorkflowStatus:
    return WorkflowStatus.objects.get(workspace=workspace, record_type=record_type, name=name)


def incoming(status_map) -> dict[str, str]:
    return {e.rally_state: e.status.name for e in status_map.incoming.select_related("status")}


def test_rallys_states_are_read_and_auto_matched_for_every_mapped_type(owner_client, integration):
    page = owner_client.get(step_url(integration, "statuses")).content.decode()
    feature = feature_map(integration)
    assert feature.rally_field == "State"
    assert feature.rally_states == ["Discovering", "Developing", "Measuring", "Done"]
    story = StatusMap.objects.get(
        record_mapping__integration=integration, record_mapping__record_type="requirement"
    )
    assert story.rally_field == "ScheduleState"
    assert story.rally_states == ["Defined", "In-Progress", "Completed", "Accepted"]
    release = StatusMap.objects.get(
        record_mapping__integration=integration, record_mapping__record_type="release"
    )
    assert release.rally_states == ["Planning", "Active", "Accepted"]
    # Matching names map to each other (Release: Planning ↔ Planning).
    assert incoming(release)["Planning"] == "Planning"
    # Every Rally state maps to exactly one status; each status sends one state.
    assert set(incoming(feature)) == set(feature.rally_states)
    assert (
        feature.outgoing.count()
        == WorkflowStatus.objects.filter(
            workspace=integration.workspace, record_type="feature"
        ).count()
    )
    assert 'data-state="Measuring"' in page
    assert "Map with the keyboard" in page


def test_dropping_measuring_and_developing_on_in_development_regroups_them(
    owner_client, integration
):
    owner_client.get(step_url(integration, "statuses"))
    feature = feature_map(integration)
    in_development = status(integration.workspace, "In development")
    url = step_url(integration, "status_assign", mapping_id=feature.record_mapping_id)
    for state in ("Measuring", "Developing"):
        response = owner_client.post(
            url, {"rally_state": state, "status": in_development.pk}, HTTP_HX_REQUEST="true"
        )
        assert response.status_code == 200
        assert 'id="statuses-feature"' in response.content.decode()
        assert "<html" not in response.content.decode()  # just the board
    mapped = incoming(feature)
    assert mapped["Measuring"] == mapped["Developing"] == "In development"
    # In development keeps sending the state it had from the auto-match.
    assert feature.outgoing.get(status=in_development).rally_state == "Developing"
    # Saved as you go: a fresh visit (which re-reads Rally) keeps the choice.
    owner_client.get(step_url(integration, "statuses"))
    assert incoming(feature_map(integration))["Developing"] == "In development"


def test_the_keyboard_select_is_a_plain_post_that_redirects(owner_client, integration):
    owner_client.get(step_url(integration, "statuses"))
    feature = feature_map(integration)
    shipped = status(integration.workspace, "Shipped")
    response = owner_client.post(
        step_url(integration, "status_assign", mapping_id=feature.record_mapping_id),
        {"rally_state": "Measuring", "status": shipped.pk},
    )
    assert response["Location"] == step_url(integration, "statuses")
    assert incoming(feature)["Measuring"] == "Shipped"


def test_the_state_a_status_sends_can_be_chosen(owner_client, integration):
    owner_client.get(step_url(integration, "statuses"))
    feature = feature_map(integration)
    shipped = status(integration.workspace, "Shipped")
    owner_client.post(
        step_url(integration, "status_sends", mapping_id=feature.record_mapping_id),
        {"status": shipped.pk, "rally_state": "Measuring"},
    )
    assert feature.outgoing.get(status=shipped).rally_state == "Measuring"


@pytest.mark.parametrize(
    ("rally_state", "status_name", "message"),
    [
        ("Launched", "Shipped", "Rally has no state “Launched” here."),
        ("Measuring", "On track", "That status is not in this record type&#x27;s workflow."),
    ],
)
def test_a_state_or_status_that_does_not_belong_is_refused_and_nothing_changes(
    owner_client, integration, rally_state, status_name, message
):
    owner_client.get(step_url(integration, "statuses"))
    feature = feature_map(integration)
    before = incoming(feature)
    record_type = "initiative" if status_name == "On track" else "feature"
    target = status(integration.workspace, status_name, record_type)
    response = owner_client.post(
        step_url(integration, "status_assign", mapping_id=feature.record_mapping_id),
        {"rally_state": rally_state, "status": target.pk},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert incoming(feature) == before


def test_save_and_continue_leads_to_enable(owner_client, integration):
    owner_client.get(step_url(integration, "statuses"))
    response = owner_client.post(step_url(integration, "statuses"))
    assert response["Location"] == step_url(integration, "enable")
    integration.refresh_from_db()
    assert integration.wizard_step == WizardStep.ENABLE


def test_the_status_step_reads_rallys_states_in_a_fixed_number_of_requests(
    owner_client, integration, rally_sandbox
):
    from tests.integrations.wizard_support import RallyRequestCounter

    counter = RallyRequestCounter(rally_sandbox)
    counter.reset()
    owner_client.get(step_url(integration, "statuses"))
    # Two portfolio item types (type + State objects: 2 each), stories and releases (type,
    # attributes, allowed values: 3 each).
    assert counter.count == 10
