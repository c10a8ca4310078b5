"""Shared by the sync's tests: an integration connected to the real sandbox, as the wizard
leaves it, and ways to count what Rally holds."""

from __future__ import annotations

import uuid

from aharally.integrations.models import AuthMethod, IncomingMode, OutgoingMode
from aharally.integrations.wizard import lookups, mappings, services
from aharally.rally.auth import ApiKey
from aharally.rally.client import RallyClient


def sandbox_client(sandbox, key: str | None = None) -> RallyClient:
    return RallyClient(sandbox.base_url, credential=ApiKey(key or sandbox.api_key))


def scope_of(sandbox, *, workspace="Engineering", project="Platform") -> tuple[int, int]:
    """The ObjectIDs of a sandbox workspace and project (by name)."""
    with sandbox_client(sandbox) as client:
        rally_workspace = next(w for w in client.workspaces() if w.name == workspace)
        projects = [p for root in client.projects(rally_workspace.ref) for _, p in root.walk()]
        rally_project = next(p for p in projects if p.name == project)
        return rally_workspace.object_id, rally_project.object_id


def connect(
    workspace,
    sandbox,
    *,
    owner,
    name: str = "Rally",
    outgoing_mode: str = OutgoingMode.AUTOMATIC,
    project: str = "Platform",
    template=None,
    api_key: str | None = None,
):
    """Walk the wizard's services against the sandbox: account, API key, scope, default
    mappings, status maps from Rally's states, enabled."""
    integration = services.create_draft(
        workspace=workspace, name=name, template=template, user=owner
    )
    if template is None:
        services.set_account(integration=integration, rally_url=sandbox.base_url)
        services.store_authorization(
            integration=integration,
            authorization=services.Authorization(
                auth_method=AuthMethod.API_KEY,
                rally_user_name="pm@example.com",
                api_key=api_key or sandbox.api_key,
            ),
            user=owner,
        )
    workspace_oid, project_oid = scope_of(sandbox, project=project)
    if template is None:
        services.choose_workspace(integration=integration, oid=workspace_oid, name="Engineering")
    services.choose_project(
        integration=integration, oid=project_oid, name=project, exclude_child_updates=False
    )
    if template is None:
        mappings.ensure_default_mappings(
            integration=integration, available=lookups.mappable_types(integration)
        )
        lookups.refresh_status_maps(integration)
    services.finish(
        integration=integration,
        outgoing_mode=outgoing_mode,
        incoming_mode=IncomingMode.AUTOMATIC,
        user=owner,
    )
    integration.refresh_from_db()
    return integration


def token() -> str:
    """A word no other test's records contain, to count this test's objects in Rally.

    It ends with a letter so that it never looks like a FormattedID (`E5510069`), which Import
    from Rally searches by ID rather than by name.
    """
    return uuid.uuid4().hex[:10] + "x"


def rally_objects(sandbox, type_path: str, name_contains: str, *, fetch=None) -> list:
    """What Rally holds whose Name contains the token (the whole workspace)."""
    from aharally.rally.query import where

    with sandbox_client(sandbox) as client:
        engineering = next(w for w in client.workspaces() if w.name == "Engineering")
        return list(
            client.query(
                type_path,
                query=where("Name", "contains", name_contains),
                fetch=fetch or ["ObjectID", "FormattedID", "Name"],
                workspace=engineering.ref,
            )
        )


def run_queued(func: str) -> list:
    """Run the queued tasks of `func` here, as a worker would (and take them off the queue);
    what each returned."""
    from django.utils.module_loading import import_string
    from django_q.models import OrmQ

    results = []
    for row in OrmQ.objects.order_by("id"):
        if row.func() == func:
            task = row.task
            row.delete()
            results.append(import_string(func)(*task["args"], **task.get("kwargs", {})))
    return results


def rally_order(sandbox, rally_type: str, oids: list[int]) -> list[int]:
    """The Rally objects `oids` of `rally_type` in Rally's rank (their DragAndDropRank)."""
    with sandbox_client(sandbox) as client:
        places = {
            oid: client.read(f"/{rally_type.lower()}/{oid}", fetch=["DragAndDropRank"])[
                "DragAndDropRank"
            ]
            for oid in oids
        }
    return sorted(oids, key=places.get)
