"""Workspace operations with more than one caller (views, seed_demo, tests)."""

from __future__ import annotations

from django.db import transaction

from aharally.workspaces.defaults import DEFAULT_WORKFLOWS
from aharally.workspaces.models import Membership, Role, WorkflowStatus, Workspace


@transaction.atomic
def start_workspace(*, name: str, prefix: str, owner=None) -> Workspace:
    """Create a workspace with default workflows and its owner, and no records yet.

    Call records.services.create_workspace instead: it adds the parking lot every workspace has.
    """
    workspace = Workspace(name=name, prefix=prefix)
    workspace.full_clean()
    workspace.save()
    WorkflowStatus.objects.bulk_create(
        WorkflowStatus(
            workspace=workspace,
            record_type=record_type,
            name=status_name,
            category=category,
            color=color,
            position=position,
        )
        for record_type, flow in DEFAULT_WORKFLOWS.items()
        for position, (status_name, category, color) in enumerate(flow)
    )
    if owner is not None:
        Membership.objects.create(workspace=workspace, user=owner, role=Role.OWNER)
    return workspace


def first_status(*, workspace: Workspace, record_type: str) -> WorkflowStatus | None:
    return (
        WorkflowStatus.objects.filter(workspace=workspace, record_type=record_type)
        .order_by("position", "id")
        .first()
    )
