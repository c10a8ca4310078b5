"""Metrics counted where the work happens (a web or qcluster process), not in the database.

Sends happen in qcluster processes, often not the process that serves /metrics. With
METRICS_DIR set, prometheus_client's multiprocess mode keeps these values in files under
METRICS_DIR/<host name>/, one directory per machine or container (process ids repeat across
containers, and two writers of one file would corrupt it); /metrics and `serve_metrics` add up
every directory they can see. Without METRICS_DIR the values live in this process only.

settings.py chooses the mode (PROMETHEUS_MULTIPROC_DIR) before anything imports
prometheus_client.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

RALLY_REQUEST_SECONDS = Histogram(
    "aharally_rally_request_duration_seconds",
    "Time of one HTTP request to Rally, by method and HTTP status ('error': no answer).",
    ["method", "status"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
)
SYNC_ATTEMPT_FAILURES = Counter(
    "aharally_sync_attempt_failures",
    "Failed attempts to send an outbox row, by integration and error kind (each retry counts).",
    ["integration", "error_kind"],
)

SYNC_LAG_SECONDS = Histogram(
    "aharally_sync_lag_seconds",
    "From a change to the other side having it: 'to_rally' an aharally edit until Rally took "
    "it, 'to_aharally' Rally's change time until it was applied here.",
    ["direction"],
    buckets=(1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 14400.0),
)


def observe_lag(direction: str, seconds: float) -> None:
    SYNC_LAG_SECONDS.labels(direction=direction).observe(max(seconds, 0.0))


def observe_rally_request(method: str, status: str, seconds: float) -> None:
    RALLY_REQUEST_SECONDS.labels(method=method, status=status).observe(seconds)


def count_failure(*, integration_id: int, kind: str) -> None:
    SYNC_ATTEMPT_FAILURES.labels(
        integration=str(integration_id), error_kind=kind or "unknown"
    ).inc()


def install() -> None:
    from aharally.rally import transport

    if observe_rally_request not in transport.request_observers:
        transport.request_observers.append(observe_rally_request)
