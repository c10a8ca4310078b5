"""What /metrics shows: the sync's state read from the database at scrape time, plus the
process-side instruments (aharally.observability.instruments) of every process on this machine.

The database is the one place every web and qcluster process shares, so outbox depth, sends,
webhook lag and catch-up lag are counted there whoever serves the scrape. Sends are counted
from Activity rows, which are never deleted while their integration exists: monotonic, so
honest counters.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.db.models import Count, Max, Min
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

# Activity actions that mean Rally took a change from us.
SEND_ACTIONS = ("created", "updated", "adopted", "linked")


class DatabaseCollector:
    """Gauges and counters computed with a handful of grouped queries per scrape."""

    def collect(self) -> Iterable[Metric]:
        from aharally.integrations.models import IntegrationState
        from aharally.ops.heartbeat import live_clusters, stalled_clusters
        from aharally.sync.models import (
            Activity,
            ActivityAction,
            IncomingEvent,
            OutboxItem,
            OutboxState,
            PullCursor,
        )

        now = timezone.now()
        depth = GaugeMetricFamily(
            "aharally_outbox_items",
            "Outbox rows by integration and state (sent rows are kept, so they only grow).",
            labels=["integration", "state"],
        )
        for row in OutboxItem.objects.values("integration_id", "state").annotate(n=Count("id")):
            depth.add_metric([str(row["integration_id"]), row["state"]], row["n"])
        yield depth

        errors = GaugeMetricFamily(
            "aharally_outbox_errored_items",
            "Rows waiting to go out whose last attempt failed, by integration and error kind.",
            labels=["integration", "error_kind"],
        )
        waiting = OutboxItem.objects.filter(
            state__in=(OutboxState.QUEUED, OutboxState.FAILED)
        ).exclude(error_kind="")
        for row in waiting.values("integration_id", "error_kind").annotate(n=Count("id")):
            errors.add_metric([str(row["integration_id"]), row["error_kind"]], row["n"])
        yield errors

        sends = CounterMetricFamily(
            "aharally_sync_sends",
            "Changes Rally accepted (created, updated, adopted after a lost answer, linked).",
            labels=["integration", "action"],
        )
        failures = CounterMetricFamily(
            "aharally_sync_failures",
            "Rows that failed for good (they wait for a person or a change of the record).",
            labels=["integration"],
        )
        activity = Activity.objects.filter(action__in=(*SEND_ACTIONS, ActivityAction.FAILED))
        for row in activity.values("integration_id", "action").annotate(n=Count("id")):
            if row["action"] == ActivityAction.FAILED:
                failures.add_metric([str(row["integration_id"])], row["n"])
            else:
                sends.add_metric([str(row["integration_id"]), row["action"]], row["n"])
        yield sends
        yield failures

        oldest = GaugeMetricFamily(
            "aharally_webhook_oldest_unprocessed_seconds",
            "Age of the oldest webhook delivery not processed yet (0: none waiting).",
            labels=["integration"],
        )
        last_lag = GaugeMetricFamily(
            "aharally_webhook_last_lag_seconds",
            "From receipt to processing, for the latest processed webhook delivery.",
            labels=["integration"],
        )
        pending = dict(
            IncomingEvent.objects.filter(processed_at__isnull=True)
            .values_list("integration_id")
            .annotate(first=Min("received_at"))
        )
        latest = (
            IncomingEvent.objects.filter(processed_at__isnull=False)
            .values("integration_id")
            .annotate(at=Max("received_at"))
        )
        for integration_id in sorted(set(pending) | {row["integration_id"] for row in latest}):
            first = pending.get(integration_id)
            oldest.add_metric([str(integration_id)], (now - first).total_seconds() if first else 0)
        for row in latest:
            event = (
                IncomingEvent.objects.filter(
                    integration_id=row["integration_id"], received_at=row["at"]
                )
                .exclude(processed_at=None)
                .values_list("received_at", "processed_at")
                .first()
            )
            if event:
                last_lag.add_metric(
                    [str(row["integration_id"])], (event[1] - event[0]).total_seconds()
                )
        yield oldest
        yield last_lag

        catch_up = GaugeMetricFamily(
            "aharally_catch_up_age_seconds",
            "Time since each enabled integration's catch-up last read Rally.",
            labels=["integration"],
        )
        cursors = PullCursor.objects.filter(
            integration__state=IntegrationState.ENABLED, last_pulled_at__isnull=False
        ).values_list("integration_id", "last_pulled_at")
        for integration_id, at in cursors:
            catch_up.add_metric([str(integration_id)], (now - at).total_seconds())
        yield catch_up

        clusters = GaugeMetricFamily(
            "aharally_task_clusters", "Task clusters whose heartbeat is recent."
        )
        clusters.add_metric([], live_clusters().count())
        yield clusters

        stuck = GaugeMetricFamily(
            "aharally_task_clusters_stuck",
            "Task clusters with a recent heartbeat that have taken no task for longer than "
            "CLUSTER_STALL_SECONDS while tasks waited.",
        )
        stuck.add_metric([], stalled_clusters(live_clusters()).count())
        yield stuck


class MachineFilesCollector:
    """The multiprocess files of every process under METRICS_DIR (one directory a machine)."""

    def __init__(self, root: str) -> None:
        self.root = root

    def collect(self) -> Iterable[Metric]:
        files = glob.glob(os.path.join(self.root, "*", "*.db"))
        return MultiProcessCollector.merge(files, accumulate=True)


def process_registry() -> CollectorRegistry:
    """The instruments of the processes this one can see: all of METRICS_DIR, or itself."""
    if settings.METRICS_DIR and Path(settings.METRICS_DIR).is_dir():
        registry = CollectorRegistry()
        registry.register(MachineFilesCollector(settings.METRICS_DIR))
        return registry
    return REGISTRY


def render(*, with_database: bool = True) -> bytes:
    """The exposition text: the database's view (web) and the processes' instruments."""
    parts = []
    if with_database:
        registry = CollectorRegistry()
        registry.register(DatabaseCollector())
        parts.append(generate_latest(registry))
    parts.append(generate_latest(process_registry()))
    return b"".join(parts)
