"""Bulk sends: a job row per send, its progress counted from its outbox rows."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count

from aharally.integrations.models import Integration
from aharally.sync import enqueue
from aharally.sync.models import Link, OutboxItem, OutboxState, SendJob
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.planning import plan_sends
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


def start_job(
    *, records, integration: Integration, user, label: str, skip_refused: bool = False
) -> SendJob:
    """Queue every record for sending under one job, in one transaction; one drain enqueued.

    Planned as its preview was (`planning.plan_sends`): a refusal refuses the whole send
    (outbox.SyncError) unless `skip_refused` (confirmed from the preview, which named them),
    when the rest goes and the job counts the rest.
    """
    records = list(records)
    plan = plan_sends(records=records, integration=integration)
    if plan.refused_all or (plan.first_refusal() and not skip_refused):
        raise outbox.SyncError(plan.first_refusal())
    if not plan.accepted:
        raise outbox.SyncError("Nothing to send: every record of the selection is refused.")
    with transaction.atomic():
        job = SendJob.objects.create(
            workspace=integration.workspace,
            integration=integration,
            label=label,
            total=len(plan.accepted),
            created_by=user,
        )
        outbox.request_sends(
            records=records,
            integration=integration,
            user=user,
            job=job,
            plan=plan,
            skip_refused=skip_refused,
        )
        enqueue.drain_on_commit(integration.pk)
    return job


def check_release(release) -> None:
    """A parking lot is never sent (its features may be, from the board): outbox.SyncError."""
    if release.is_parking_lot:
        raise outbox.SyncError(
            f"{release.name} is a parking lot: parking lots are never sent to Rally; its "
            "features can be sent from the board."
        )


def release_records(release) -> list:
    """What Send release to Rally sends: the release and every feature in it, by rank."""
    features = release.features.select_related("workspace", "release", "status")
    return [release, *features.order_by("rank", "id")]


def start_release_job(
    *, release, integration: Integration, user, skip_refused: bool = False
) -> SendJob:
    """Send release to Rally: the release and every feature in it, as one job.

    Raises outbox.SyncError for a parking lot, which is never sent (its features may be).
    """
    check_release(release)
    records = release_records(release)
    return start_job(
        records=records,
        integration=integration,
        user=user,
        label=f"Send {release.name} and its {len(records) - 1} features to {integration.name}",
        skip_refused=skip_refused,
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
