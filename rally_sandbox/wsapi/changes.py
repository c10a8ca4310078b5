"""What a write leaves behind: its revision in the artifact's history, in Rally's wording,
and its announcement to the webhook app after commit (the changes, as before → after)."""

from __future__ import annotations

import functools
import importlib.util
from datetime import datetime
from typing import Any

from django.db import transaction

from rally_sandbox.accounts.models import User, new_object_id

from .models import Artifact, Revision
from .registry import SPECS, Attr
from .render import iso, render_full


@functools.cache
def pigeon_available() -> bool:
    return importlib.util.find_spec("rally_sandbox.pigeon.services") is not None


def changes_wanted() -> bool:
    """Whether an update needs its before-and-after renders (two full renders, a dozen
    queries): only an enabled webhook reads them."""
    if not pigeon_available():
        return False
    from rally_sandbox.pigeon.services import has_enabled_webhooks

    return has_enabled_webhooks()


def notify_artifact_changed(*, action: str, artifact: Artifact, changes: dict, actor: User) -> None:
    """Tell the webhook app about a committed artifact change (it may not be installed)."""
    if not pigeon_available():
        return

    def send() -> None:
        from rally_sandbox.pigeon import services as pigeon

        pigeon.artifact_changed(action=action, artifact=artifact, changes=changes, actor=actor)

    transaction.on_commit(send)


# Rendering before/after for the change set uses a fixed internal base URL; consumers that
# need their own host can rebuild refs from ObjectIDs.
CHANGE_BASE_URL = "http://rally-sandbox.invalid"


def snapshot(obj) -> dict:
    return render_full(obj, base_url=CHANGE_BASE_URL)


def diff(before: dict, after: dict) -> dict[str, tuple[Any, Any]]:
    return {
        key: (before.get(key), value)
        for key, value in after.items()
        if not key.startswith("_") and before.get(key) != value
    }


def current_value(obj, attr: Attr):
    if attr.custom:
        return (obj.custom or {}).get(attr.element_name)
    if attr.is_collection or not attr.column:
        return None
    if attr.is_object:
        return getattr(obj, f"{attr.column}_id")
    return getattr(obj, attr.column)


def add_revision(
    *, artifact: Artifact, description: str, user: User, object_id: int | None = None
) -> Revision:
    """Append to the artifact's RevisionHistory; the number follows its version (0 = created)."""
    return Revision.objects.create(
        object_id=object_id or new_object_id(),
        artifact=artifact,
        revision_number=max(artifact.version - 1, 0),
        description=description,
        user=user,
    )


def current_or_members(obj: Artifact, attr: Attr):
    if attr.is_collection and not attr.custom:
        return sorted(member.name for member in getattr(obj, attr.element_name.lower()).all())
    return current_value(obj, attr)


def _shown(attr: Attr, value) -> str:
    if value is None:
        return ""
    if attr.is_object:
        target = SPECS.get(attr.target or "")
        found = target.queryset().filter(pk=value).first() if target is not None else None
        return target.ref_name(found) if found is not None else str(value)
    if isinstance(value, list):
        return ", ".join(value)
    if isinstance(value, datetime):
        return iso(value) or ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def revision_text(obj: Artifact, old_values: dict[str, tuple[Attr, Any]]) -> str:
    """Rally's wording: `NAME changed from [a] to [b], OWNER added [Dana Developer]`."""
    parts = []
    for attr, old in old_values.values():
        new = current_or_members(obj, attr)
        if old == new or (old in (None, "") and new in (None, "")):
            continue
        label = attr.display.upper()
        before, after = _shown(attr, old), _shown(attr, new)
        if not before:
            parts.append(f"{label} added [{after}]")
        elif not after:
            parts.append(f"{label} removed [{before}]")
        else:
            parts.append(f"{label} changed from [{before}] to [{after}]")
    return ", ".join(parts)
