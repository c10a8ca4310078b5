"""Deliveries that said a Rally object was deleted, checked in Rally by the catch-up that
covers them (`incoming/catchup.py`): a link breaks only when Rally no longer has its object."""

from __future__ import annotations

import logging

from aharally.integrations.connection import RallyProblem, client_for, explain
from aharally.integrations.log import log_event
from aharally.integrations.models import LogLevel
from aharally.integrations.templates_service import effective_config
from aharally.rally.errors import (
    RallyAuthError,
    RallyError,
)
from aharally.rally.query import where
from aharally.sync import history
from aharally.sync.models import (
    ActivityAction,
    Link,
    LinkState,
)

logger = logging.getLogger(__name__)

# ObjectIDs asked for in one query when deliveries say objects were deleted.
DELETION_CHUNK = 100


def apply_deletions(integration_id: int, object_ids: set[int]) -> bool:
    """Break the links of the objects deliveries said were deleted that Rally no longer has.

    One query a linked Rally type (the whole workspace: an object moved to another project is
    not deleted); an object Rally still holds keeps its link, and the catch-up applies whatever
    changed. False when Rally could not be asked (the deliveries wait for the next run).
    """
    links = list(
        Link.objects.filter(
            integration_id=integration_id, rally_oid__in=object_ids, state=LinkState.OK
        ).select_related("integration__template")
    )
    if not links:
        return True
    integration = links[0].integration
    config = effective_config(integration)
    workspace = f"/workspace/{config.rally_workspace_oid}" if config.rally_workspace_oid else None
    by_type: dict[str, list[int]] = {}
    for link in links:
        by_type.setdefault(link.rally_type, []).append(link.rally_oid)
    held: set[int] = set()
    try:
        client = client_for(integration, interactive=False)
        try:
            for rally_type, oids in by_type.items():
                for start in range(0, len(oids), DELETION_CHUNK):
                    found = client.query(
                        rally_type,
                        query=where("ObjectID", "in", oids[start : start + DELETION_CHUNK]),
                        fetch=["ObjectID"],
                        workspace=workspace,
                    )
                    held |= {obj.object_id for obj in found}
        finally:
            client.close()
    except RallyAuthError as error:
        explain(integration, error, doing="check a deletion in Rally")
        return False
    except (RallyError, RallyProblem) as error:
        logger.warning(
            "Could not check deletions in Rally for integration %s: %s",
            integration_id,
            getattr(error, "message", error),
        )
        return False
    for link in links:
        if link.rally_oid not in held:
            _broken(link, "Deleted in Rally.")
    return True


def _broken(link: Link, reason: str) -> None:
    broken = Link.objects.filter(pk=link.pk, state=LinkState.OK).update(
        state=LinkState.BROKEN, state_reason=reason
    )
    if not broken:  # another run saw the same deletion first, and said so
        return
    history.note(
        link,
        ActivityAction.UNLINKED,
        f"{link.label} was deleted in Rally: the link is broken. Send the "
        "record again, or unlink it.",
    )
    log_event(
        link.integration,
        LogLevel.WARNING,
        f"{link.label} was deleted in Rally; its record in aharally is kept.",
        "Send the record again to make a new Rally record, or unlink it.",
    )
