"""A configured Rally integration (as the wizard leaves it), built directly for tests."""

from __future__ import annotations

from django.utils import timezone

from aharally.integrations.models import (
    Direction,
    FieldMapping,
    Integration,
    IntegrationState,
    RecordMapping,
    RelationshipLink,
)
from aharally.statusmap.matching import Status, auto_match
from aharally.statusmap.models import IncomingState, OutgoingState, StatusMap
from aharally.workspaces.models import RecordType, WorkflowStatus

FEATURE_STATES = ["Discovering", "Developing", "Measuring", "Done"]
STORY_STATES = ["Defined", "In-Progress", "Completed", "Accepted"]


def add_mapping(
    integration: Integration, record_type: str, rally_type: str, states: list[str]
) -> RecordMapping:
    mapping = RecordMapping.objects.create(
        integration=integration,
        record_type=record_type,
        rally_type=rally_type,
        rally_type_name=rally_type.split("/")[-1],
    )
    FieldMapping.objects.create(record_mapping=mapping, field="name", rally_field="Name")
    FieldMapping.objects.create(
        record_mapping=mapping,
        field="description",
        rally_field="Description",
        direction=Direction.TO_RALLY,
    )
    statuses = list(
        WorkflowStatus.objects.filter(workspace=integration.workspace, record_type=record_type)
    )
    plan = auto_match([Status(str(s.pk), s.name, s.category) for s in statuses], states)
    status_map = StatusMap.objects.create(
        record_mapping=mapping,
        rally_field="State" if rally_type.startswith("PortfolioItem") else "ScheduleState",
        rally_states=states,
    )
    IncomingState.objects.bulk_create(
        IncomingState(status_map=status_map, rally_state=state, status_id=int(key))
        for state, key in plan.incoming.items()
    )
    OutgoingState.objects.bulk_create(
        OutgoingState(status_map=status_map, status_id=int(key), rally_state=state)
        for key, state in plan.outgoing.items()
    )
    return mapping


def configured_integration(workspace, name: str = "Rally", **fields) -> Integration:
    values = {
        "rally_url": "https://rally.example.com",
        "access_token": "oauth-access-token-1234567890",
        "refresh_token": "oauth-refresh-token-0987654321",
        "authorized_at": timezone.now(),
        "rally_user_name": "pm@example.com",
        "rally_workspace_oid": 1001,
        "rally_workspace_name": "Engineering",
        "rally_project_oid": 2002,
        "rally_project_name": "Platform",
        "state": IntegrationState.ENABLED,
        "wizard_step": "enable",
        "enabled_at": timezone.now(),
    }
    values.update(fields)
    integration = Integration.objects.create(workspace=workspace, name=name, **values)
    add_mapping(integration, RecordType.FEATURE, "PortfolioItem/Feature", FEATURE_STATES)
    add_mapping(integration, RecordType.REQUIREMENT, "HierarchicalRequirement", STORY_STATES)
    RelationshipLink.objects.create(
        integration=integration,
        parent_type=RecordType.FEATURE,
        child_type=RecordType.REQUIREMENT,
    )
    return integration


def move_state(integration: Integration, record_type: str, rally_state: str, status_name: str):
    """Regroup one Rally state onto another status (as the wizard's drag and drop does)."""
    status_map = StatusMap.objects.get(
        record_mapping__integration=integration, record_mapping__record_type=record_type
    )
    status = WorkflowStatus.objects.get(
        workspace=integration.workspace, record_type=record_type, name=status_name
    )
    IncomingState.objects.filter(status_map=status_map, rally_state=rally_state).update(
        status=status
    )
