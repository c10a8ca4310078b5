"""The audit log: configuration changes, authorizations, template edits, approvals and
rejections — who, when, what — shown to a workspace's owners (Settings → Audit log).

    record_audit(workspace=w, actor=request.user, action=AuditAction.APPROVAL,
                 target="PLAT-12 → Rally", detail="3 fields sent")

Callers never pass secrets: the text is shown to every owner as it is.
"""

from __future__ import annotations

from aharally.workspaces.models import AuditAction, AuditEntry, Workspace

MAX_DETAIL_LENGTH = 2000


def record_audit(
    *, workspace: Workspace, actor, action: str, target: str = "", detail: str = ""
) -> AuditEntry:
    """Write one audit entry (in the caller's transaction: it commits or fails with the change)."""
    if action not in AuditAction.values:
        raise ValueError(f"Unknown audit action {action!r}.")
    actor = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEntry.objects.create(
        workspace=workspace,
        actor=actor,
        actor_email=getattr(actor, "email", "") or "",
        action=action,
        target=str(target)[:200],
        detail=str(detail)[:MAX_DETAIL_LENGTH],
    )


def audit_entries(workspace: Workspace, *, limit: int = 200):
    return AuditEntry.objects.filter(workspace=workspace).select_related("actor")[:limit]
