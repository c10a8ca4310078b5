"""The task cluster's heartbeat: a row per `qcluster` command, renewed while it runs.

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

from django.conf import settings
from django.db import close_old_connections, connection
from django.db.models import F
from django.db.models.functions import Now

logger = logging.getLogger(__name__)


def cluster_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def beat(name: str, *, progress_age: float = 0.0, waiting: int = 0) -> None:
    """Renew `name`'s row; it last made progress `progress_age` seconds ago (watchdog)."""
    from aharally.ops.models import ClusterHeartbeat

    progress_at = Now() - timedelta(seconds=progress_age)
    updated = ClusterHeartbeat.objects.filter(cluster=name).update(
        beat_at=Now(), progress_at=progress_at, waiting=waiting
    )
    if not updated:
        ClusterHeartbeat.objects.create(
            cluster=name,
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=Now(),
            beat_at=Now(),
            progress_at=progress_at,
            waiting=waiting,
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


def stalled_clusters(live):
    """Of `live` heartbeats, those whose cluster had made no progress for longer than
    CLUSTER_STALL_SECONDS when they last beat (tasks waiting, a worker free, none taken)."""
    stall = timedelta(seconds=settings.CLUSTER_STALL_SECONDS)
    return live.filter(progress_at__lt=F("beat_at") - stall)


class Heartbeat:
    """Beat for a `qcluster` command in a thread of its main process until stop().

    stop() removes the row (a killed command's row goes stale instead). It reads the
    watchdog's progress without waiting on the main thread, so a main thread that hangs reads
    as a cluster making no progress.
    """

    def __init__(self, watchdog) -> None:
        self.watchdog = watchdog
        self.name = cluster_name()
        self.interval = settings.CLUSTER_HEARTBEAT_SECONDS
        self._done = threading.Event()
        # Held while beating: the main process forks the cluster under it (see pause()).
        self._busy = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="cluster-heartbeat")

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def pause(self) -> threading.Lock:
        """`with heartbeat.pause():` fork there. A child forked while this thread holds a lock
        (an import's, the database driver's) would wait on that copy for good."""
        return self._busy

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while True:
                with self._busy:
                    try:
                        beat(
                            self.name,
                            progress_age=self.watchdog.progress_age(),
                            waiting=self.watchdog.waiting,
                        )
                    except Exception:  # the database may be away a while: beat again later
                        logger.warning("Could not write the cluster's heartbeat", exc_info=True)
                        close_old_connections()
                if self._done.wait(self.interval):
                    break
            with self._busy:
                forget(self.name)
        except Exception:
            logger.warning("Could not remove the task cluster's heartbeat", exc_info=True)
        finally:
            connection.close()
