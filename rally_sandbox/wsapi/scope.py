"""Which workspace and projects a request is about: `workspace`, `project`, scope up/down."""

from __future__ import annotations

from dataclasses import dataclass

from rally_sandbox.accounts import generation
from rally_sandbox.accounts.models import Project, User, Workspace

from .query import oid_from_ref


class ScopeError(Exception):
    pass


@dataclass
class Scope:
    workspace: Workspace
    project: Project | None
    # ObjectIDs of the projects in scope, or None for the whole workspace.
    project_ids: frozenset[int] | None


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() == "true"


def _workspace_for(user: User, value: str | None) -> Workspace | None:
    workspaces = Workspace.objects.filter(subscription_id=user.subscription_id)
    if value:
        oid = oid_from_ref(value)
        if oid is None:
            raise ScopeError(f"Could not read: Invalid workspace reference {value}")
        key = {"object_id": oid} if isinstance(oid, int) else {"uuid": oid}
        workspace = workspaces.filter(**key).first()
        if workspace is None:
            raise ScopeError(f"Could not read: Cannot find workspace {value}")
        return workspace
    if user.default_workspace_id is not None:
        default = workspaces.filter(pk=user.default_workspace_id).first()
        if default is not None:
            return default
    return workspaces.order_by("name", "object_id").first()


def resolve_scope(user: User, params) -> Scope:
    """The request's scope; cached per generation (generation.py): shared, read-only."""
    key = (
        "scope",
        user.pk,
        params.get("project"),
        params.get("workspace"),
        params.get("projectScopeUp"),
        params.get("projectScopeDown"),
    )
    return generation.cached(key, lambda: _resolve_scope(user, params))


def _resolve_scope(user: User, params) -> Scope:
    project_value = params.get("project")
    project = None
    workspace = None
    if project_value and project_value.strip().lower() not in {"null", "none"}:
        oid = oid_from_ref(project_value)
        if oid is None:
            raise ScopeError(f"Could not read: Invalid project reference {project_value}")
        key = {"object_id": oid} if isinstance(oid, int) else {"uuid": oid}
        project = (
            Project.objects.select_related("workspace")
            .filter(workspace__subscription_id=user.subscription_id, **key)
            .first()
        )
        if project is None:
            raise ScopeError(f"Could not read: Cannot find project {project_value}")
    if params.get("workspace"):
        workspace = _workspace_for(user, params.get("workspace"))
        if project is not None and project.workspace_id != workspace.pk:
            raise ScopeError(
                f"Could not read: Project {project.name} is not in workspace {workspace.name}"
            )
    elif project is not None:
        workspace = project.workspace
    else:
        workspace = _workspace_for(user, None)
    if workspace is None:
        raise ScopeError("Could not read: The user has no workspace")
    if project is None:
        return Scope(workspace, None, None)
    up = _flag(params.get("projectScopeUp"), False)
    down = _flag(params.get("projectScopeDown"), True)
    return Scope(workspace, project, frozenset(project_ids(project, up=up, down=down)))


def project_ids(project: Project, *, up: bool, down: bool) -> set[int]:
    rows = list(
        Project.objects.filter(workspace_id=project.workspace_id).values_list("pk", "parent_id")
    )
    parents = dict(rows)
    ids = {project.pk}
    if up:
        current = parents.get(project.pk)
        while current is not None and current not in ids:
            ids.add(current)
            current = parents.get(current)
    if down:
        children: dict[int, list[int]] = {}
        for pk, parent in rows:
            children.setdefault(parent, []).append(pk)
        stack = [project.pk]
        while stack:
            for child in children.get(stack.pop(), []):
                if child not in ids:
                    ids.add(child)
                    stack.append(child)
    return ids
