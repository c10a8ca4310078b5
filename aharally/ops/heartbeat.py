"""The task cluster's heartbeat: a row per running cluster, renewed while its sentinel lives.

django-q2 keeps its own cluster status (`Stat`) in the cache with a 3-second expiry stamped by
the writer's clock, in a key list every cluster rewrites; across machines that is only as good
as their clocks and the cache. A row written with the database's `Now()` is read the same
from every web process, with the ORM broker or Redis alike.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import timedelta
from multiprocessing.connection import wait

from django.conf import settings
from django.db import close_old_connections, connection
from django.db.models.functions import Now

logger = logging.getLogger(__name__)


def cluster_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def beat(name: str) -> None:
    from aharally.ops.models import ClusterHeartbeat

    updated = ClusterHeartbeat.objects.filter(cluster=name).update(beat_at=Now())
    if not updated:
        ClusterHeartbeat.objects.create(
            cluster=name,
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=Now(),
            beat_at=Now(),
        )


def forget(name: str) -> None:
    from aharally.ops.models import ClusterHeartbeat

    ClusterHeartbeat.objects.filter(cluster=name).delete()
    # Rows of clusters killed long ago say nothing any more.
    ClusterHeartbeat.objects.filter(beat_at__lt=Now() - timedelta(days=1)).delete()


def live_clusters():
    """Heartbeats fresher than CLUSTER_HEARTBEAT_STALE_SECONDS, by the database's clock."""
    from aharally.ops.models import ClusterHeartbeat

    stale = timedelta(seconds=settings.CLUSTER_HEARTBEAT_STALE_SECONDS)
    return ClusterHeartbeat.objects.filter(beat_at__gte=Now() - stale)


def _run(process_sentinel: int, name: str, interval: float) -> None:
    try:
        # Until the sentinel process ends (its fd becomes readable); waiting on the fd reaps
        # nothing, so the cluster's own join still sees the exit.
        while True:
            try:
                beat(name)
            except Exception:  # the database may be away for a while: beat again later
                logger.warning("Could not write the task cluster's heartbeat", exc_info=True)
                close_old_connections()
            if wait([process_sentinel], timeout=interval):
                break
        forget(name)
    except Exception:
        logger.warning("Could not remove the task cluster's heartbeat", exc_info=True)
    finally:
        connection.close()


def start_beating(process) -> threading.Thread:
    """Beat for `process` (django-q2's sentinel) in a thread of this process until it ends.

    Not a daemon: the interpreter waits for it at exit, so the row is removed after a stop.
    """
    thread = threading.Thread(
        target=_run,
        args=(process.sentinel, cluster_name(), settings.CLUSTER_HEARTBEAT_SECONDS),
        name="cluster-heartbeat",
    )
    thread.start()
    return thread
