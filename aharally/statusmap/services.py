"""Changes to a stored status map, and the board the page shows; matching.py holds the logic.

A status map belongs to a record mapping of an integration: the integration side creates and
refreshes it from Rally (integrations/wizard/status_maps.py); this module works on the map.
"""

from __future__ import annotations

from django.db import transaction

from aharally.statusmap import matching
from aharally.statusmap.models import IncomingState, OutgoingState, StatusMap
from aharally.workspaces.models import WorkflowStatus


class StatusMapError(Exception):
    """A change to a status mapping that cannot be made; the message says why."""


def workflow(*, workspace_id: int, record_type: str) -> list[WorkflowStatus]:
    """The statuses a record type goes through in a workspace, in order."""
    return list(WorkflowStatus.objects.filter(workspace=workspace_id, record_type=record_type))


def matching_statuses(statuses: list[WorkflowStatus]) -> list[matching.Status]:
    """A workflow as the pure matching logic sees it (keys are the status ids, as strings)."""
    return [matching.Status(key=str(s.pk), name=s.name, category=s.category) for s in statuses]


def _workflow_of_map(status_map: StatusMap) -> list[WorkflowStatus]:
    mapping = status_map.record_mapping
    return workflow(workspace_id=mapping.integration.workspace_id, record_type=mapping.record_type)


def store_plan(status_map: StatusMap, plan: matching.Plan) -> None:
    """Replace the stored choices of a status map with a plan."""
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
    store_plan(status_map, plan)


@transaction.atomic
def set_sent_state(*, status_map: StatusMap, status_id: int | str, rally_state: str) -> None:
    """Choose which Rally state a status sends."""
    if rally_state not in status_map.rally_states:
        raise StatusMapError(f"Rally has no state “{rally_state}” here.")
    status = _status(status_map, status_id)
    OutgoingState.objects.update_or_create(
        status_map=status_map, status=status, defaults={"rally_state": rally_state}
    )


def board(status_map: StatusMap) -> list[dict]:
    """Each status with the Rally states it takes and the state it sends, for the page."""
    plan = status_map.plan()
    rows = []
    for status in _workflow_of_map(status_map):
        key = str(status.pk)
        rows.append(
            {
                "status": status,
                "states": [s for s in status_map.rally_states if plan.incoming.get(s) == key],
                "sends": plan.outgoing.get(key, ""),
            }
        )
    return rows
