"""Rally records waiting to be imported (*Approve new records*): imported or ignored."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from aharally.integrations.templates_service import effective_config
from aharally.sync.incoming import imports
from aharally.sync.models import ImportCandidate, ImportState
from aharally.sync.review.queue import (
    PAGE_SIZE,
    DecisionError,
    QueueFilters,
    reviewable_workspace_ids,
)


def pending_imports(*, user, filters: QueueFilters) -> list:

    candidates = ImportCandidate.objects.filter(
        state=ImportState.PENDING,
        integration__workspace_id__in=reviewable_workspace_ids(user),
    ).select_related("integration__workspace")
    if filters.integration:
        candidates = candidates.filter(integration_id=filters.integration)
    if filters.record_type:
        candidates = candidates.filter(record_type=filters.record_type)
    return list(candidates[:PAGE_SIZE])


@transaction.atomic
def decide_imports(*, user, candidate_ids, action: str) -> int:
    """Import (as the catch-up would have) or ignore for good; returns how many."""

    allowed = set(reviewable_workspace_ids(user))
    candidates = list(
        ImportCandidate.objects.select_for_update(of=("self",))
        .filter(pk__in=list(candidate_ids), state=ImportState.PENDING)
        .select_related("integration__template", "integration__workspace")
    )
    if any(c.integration.workspace_id not in allowed for c in candidates):
        raise PermissionDenied("You may not review imports of that workspace.")
    done = 0
    for candidate in candidates:
        if action == "import":
            config = effective_config(candidate.integration)
            record_mapping = config.mapping_for(candidate.record_type)
            if record_mapping is None:
                continue
            outcome = imports.import_object(
                candidate.integration, config, record_mapping, candidate.snapshot, where=None
            )
            if outcome != imports.IMPORTED:
                raise DecisionError(f"{candidate.formatted_id} could not be imported: {outcome}.")
        else:
            ImportCandidate.objects.filter(pk=candidate.pk).update(state=ImportState.IGNORED)
        ImportCandidate.objects.filter(pk=candidate.pk).update(
            decided_by=user, decided_at=timezone.now()
        )
        done += 1
    return done
