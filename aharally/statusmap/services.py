"""Status mappings stored for record mappings: read Rally's states, auto-match, regroup.

The pure logic is in matching.py; this module keeps the stored StatusMap in step with it.
"""

from __future__ import annotations

from django.db import transaction

from aharally.integrations.models import RecordMapping
from aharally.rally.client import RallyClient
from aharally.statusmap import matching
from aharally.statusmap.models import IncomingState, OutgoingState, StatusMap
from aharally.workspaces.models import WorkflowStatus


class StatusMapError(Exception):
    """A change to a status mapping that cannot be made; the message says why."""


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
    return list(
        WorkflowStatus.objects.filter(
            workspace=record_mapping.integration.workspace_id,
            record_type=record_mapping.record_type,
        )
    )


def _statuses(workflow: list[WorkflowStatus]) -> list[matching.Status]:
    return [matching.Status(key=str(s.pk), name=s.name, category=s.category) for s in workflow]


@transaction.atomic
def sync_status_map(
    *, record_mapping: RecordMapping, rally_field: str, rally_states: list[str]
) -> StatusMap:
    """Create the status map (auto-matched) or bring it up to Rally's current states.

    Choices already made are kept; states Rally added are matched, states it dropped go.
    """
    workflow = workflow_of(record_mapping)
    statuses = _statuses(workflow)
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
    _store(status_map, matching.Plan(incoming=incoming, outgoing=outgoing))
    return status_map


def _store(status_map: StatusMap, plan: matching.Plan) -> None:
    status_map.incoming.all().delete()
    status_map.outgoing.all().delete()
    IncomingState.objects.bulk_create(
        IncomingState(status_map=status_map, rally_state=state, status_id=int(key))
        for state, key in plan.incoming.items()
    )
    OutgoingState.objects.bulk_create(
        OutgoingState(status_map=status_map, status_id=int(key), rally_state=state)
        for key, state in plan.outgoing.items()
    )


def _status(status_map: StatusMap, status_id: int | str) -> WorkflowStatus:
    mapping = status_map.record_mapping
    try:
        return WorkflowStatus.objects.get(
            pk=int(status_id),
            workspace=mapping.integration.workspace_id,
            record_type=mapping.record_type,
        )
    except (ValueError, TypeError, WorkflowStatus.DoesNotExist):
        raise StatusMapError("That status is not in this record type's workflow.") from None


@transaction.atomic
def assign_state(*, status_map: StatusMap, rally_state: str, status_id: int | str) -> None:
    """Move one Rally state onto a status (a drag and drop, or the keyboard's select)."""
    if rally_state not in status_map.rally_states:
        raise StatusMapError(f"Rally has no state “{rally_state}” here.")
    status = _status(status_map, status_id)
    plan = matching.assign(status_map.plan(), rally_state=rally_state, status_key=str(status.pk))
    _store(status_map, plan)


@transaction.atomic
def set_sent_state(*, status_map: StatusMap, status_id: int | str, rally_state: str) -> None:
    """Choose which Rally state a status sends."""
    if rally_state not in status_map.rally_states:
        raise StatusMapError(f"Rally has no state “{rally_state}” here.")
    status = _status(status_map, status_id)
    OutgoingState.objects.update_or_create(
        status_map=status_map, status=status, defaults={"rally_state": rally_state}
    )


def status_map_problems(record_mapping: RecordMapping) -> list[str]:
    status_map = StatusMap.objects.filter(record_mapping=record_mapping).first()
    if status_map is None:
        return ["map its statuses to Rally's states."]
    workflow = workflow_of(record_mapping)
    return matching.problems(status_map.plan(), _statuses(workflow), status_map.rally_states)


def board(status_map: StatusMap) -> list[dict]:
    """Each status with the Rally states it takes and the state it sends, for the page."""
    plan = status_map.plan()
    rows = []
    for status in workflow_of(status_map.record_mapping):
        key = str(status.pk)
        rows.append(
            {
                "status": status,
                "states": [s for s in status_map.rally_states if plan.incoming.get(s) == key],
                "sends": plan.outgoing.get(key, ""),
            }
        )
    return rows
