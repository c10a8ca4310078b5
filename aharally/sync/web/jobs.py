"""Bulk sends: a job row per send, its progress counted from its outbox rows."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count

from aharally.integrations.models import Integration
from aharally.sync import enqueue
from aharally.sync.models import Link, OutboxItem, OutboxState, SendJob
from aharally.sync.outgoing import outbox
from aharally.sync.records import load_records


@dataclass
class JobProgress:
    job: SendJob
    total: int
    sent: int
    failed: int
    waiting_approval: int
    failures: list[OutboxItem] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.sent + self.failed + self.waiting_approval >= self.total

    @property
    def in_progress(self) -> int:
        return self.sent + self.failed

    @property
    def percent(self) -> int:
        return round(100 * self.in_progress / self.total) if self.total else 100


def start_job(*, records, integration: Integration, user, label: str) -> SendJob:
    """Queue every record for sending under one job, in one transaction; one drain enqueued."""

    with transaction.atomic():
        job = SendJob.objects.create(
            workspace=integration.workspace,
            integration=integration,
            label=label,
            total=len(records),
            created_by=user,
        )
        outbox.request_sends(records=list(records), integration=integration, user=user, job=job)
        enqueue.drain_on_commit(integration.pk)
    return job


def start_release_job(*, release, integration: Integration, user) -> SendJob:
    """Send release to Rally: the release and every feature in it, as one job.

    Raises outbox.SyncError for a parking lot, which is never sent (its features may be).
    """
    if release.is_parking_lot:
        raise outbox.SyncError(
            f"{release.name} is a parking lot: parking lots are never sent to Rally; its "
            "features can be sent from the board."
        )
    features = list(release.features.select_related("workspace").order_by("rank", "id"))
    return start_job(
        records=[release, *features],
        integration=integration,
        user=user,
        label=f"Send {release.name} and its {len(features)} features to {integration.name}",
    )


def job_progress(job: SendJob) -> JobProgress:
    """Three queries whatever the job's size."""
    counts = dict(
        OutboxItem.objects.filter(job=job, from_parent=False)
        .values("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )
    failures = list(
        OutboxItem.objects.filter(job=job, state=OutboxState.FAILED).order_by("id")[:100]
    )
    by_type: dict[str, list[int]] = {}
    for row in failures:
        by_type.setdefault(row.record_type, []).append(row.record_id)
    records = {}
    for record_type, ids in by_type.items():
        for pk, record in load_records(record_type, ids).items():
            records[(record_type, pk)] = record
    for row in failures:
        row.record = records.get((row.record_type, row.record_id))
    return JobProgress(
        job=job,
        total=job.total,
        sent=counts.get(OutboxState.SENT, 0),
        failed=counts.get(OutboxState.FAILED, 0),
        waiting_approval=counts.get(OutboxState.AWAITING_APPROVAL, 0),
        failures=failures,
    )


def linked_in_job(job: SendJob, *, record_type: str) -> list[Link]:
    ids = OutboxItem.objects.filter(job=job, record_type=record_type, state=OutboxState.SENT)
    return list(
        Link.objects.filter(
            integration_id=job.integration_id,
            record_type=record_type,
            record_id__in=ids.values("record_id"),
        )
    )
