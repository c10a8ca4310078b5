"""The status map of each record mapping: Rally's states read, the stored map kept in step.

The map itself and its changes are statusmap's (models, services, matching); this side knows
the record mapping, its integration's workspace and Rally.
"""

from __future__ import annotations

from django.db import transaction

from aharally.integrations.models import RecordMapping
from aharally.rally.client import RallyClient
from aharally.statusmap import matching
from aharally.statusmap.models import StatusMap
from aharally.statusmap.services import matching_statuses, store_plan, workflow
from aharally.workspaces.models import WorkflowStatus


def read_rally_states(
    client: RallyClient, *, rally_type: str, workspace: str | None
) -> tuple[str, list[str]]:
    """The field holding a Rally type's state and its values, in Rally's order.

    Portfolio items use State objects; stories ScheduleState; other types (Release) the
    allowed values of their State attribute.
    """
    if rally_type.lower().startswith("portfolioitem/"):
        states = client.states(rally_type, workspace=workspace)
        return "State", [s.name for s in states if s.enabled]
    field = "ScheduleState" if rally_type == "HierarchicalRequirement" else "State"
    return field, list(client.allowed_values(rally_type, field, workspace=workspace))


def workflow_of(record_mapping: RecordMapping) -> list[WorkflowStatus]:
    return workflow(
        workspace_id=record_mapping.integration.workspace_id,
        record_type=record_mapping.record_type,
    )


@transaction.atomic
def sync_status_map(
    *, record_mapping: RecordMapping, rally_field: str, rally_states: list[str]
) -> StatusMap:
    """Create the status map (auto-matched) or bring it up to Rally's current states.

    Choices already made are kept; states Rally added are matched, states it dropped go.
    """
    statuses = matching_statuses(workflow_of(record_mapping))
    status_map, created = StatusMap.objects.select_for_update().get_or_create(
        record_mapping=record_mapping,
        defaults={"rally_field": rally_field, "rally_states": rally_states},
    )
    if not created and status_map.rally_states == rally_states:
        return status_map
    fresh = matching.auto_match(statuses, rally_states)
    current = matching.Plan() if created else status_map.plan()
    keys = {s.key for s in statuses}
    incoming = {
        state: (
            current.incoming[state]
            if current.incoming.get(state) in keys
            else fresh.incoming[state]
        )
        for state in rally_states
    }
    outgoing = {
        key: (current.outgoing[key] if current.outgoing.get(key) in rally_states else sent)
        for key, sent in fresh.outgoing.items()
    }
    status_map.rally_field = rally_field
    status_map.rally_states = rally_states
    status_map.save()
    store_plan(status_map, matching.Plan(incoming=incoming, outgoing=outgoing))
    return status_map


def status_map_problems(record_mapping: RecordMapping) -> list[str]:
    """What is missing before the record mapping's statuses can sync (empty when nothing)."""
    status_map = StatusMap.objects.filter(record_mapping=record_mapping).first()
    if status_map is None:
        return ["map its statuses to Rally's states."]
    statuses = matching_statuses(workflow_of(record_mapping))
    return matching.problems(status_map.plan(), statuses, status_map.rally_states)
