"""`manage.py qcluster`, django-q2's command, stopping gracefully when its group is signalled.

honcho (`make run`, on Ctrl-C), shells and some process managers send SIGTERM to every
process of the worker's process group at once. django-q2's sentinel and workers take
SIGTERM with the default action: they die on the spot, a running task with them, and the
main process then blocks for good stopping a sentinel that is gone (honcho kills it after
5 s). Here every process the cluster forks leads a process group of its own, so the signal
reaches the main process alone; it raises the stop flag that running tasks watch
(aharally.taskcluster.stopping) and stops the sentinel, which lets each worker finish its
task first (up to Q_CLUSTER["timeout"]); a drain that sees the flag gives back what it
has not sent and returns within a second or so.
"""

from __future__ import annotations

import multiprocessing.util
import os

from django.conf import settings
from django_q.cluster import Cluster
from django_q.management.commands.qcluster import Command as DjangoQCommand

from aharally.taskcluster import stopping


def _lead_own_process_group(_registered) -> None:
    os.setpgid(0, 0)


class StoppingCluster(Cluster):
    """django-q2's cluster, telling its running tasks that it is stopping."""

    def sig_handler(self, signum, frame):
        stopping.request_stop()
        super().sig_handler(signum, frame)


class Command(DjangoQCommand):
    def handle(self, *args, **options):
        # The cluster reads and writes secrets (tokens, keys): without keys, refuse to start.
        from aharally.integrations.secrets import check_keys

        check_keys()
        settings.SECRET_KEY  # noqa: B018 (django-q2 signs tasks with it: fail early)
        # Runs in each child right after the fork (django-q2 uses the "fork" start method).
        multiprocessing.util.register_after_fork(_lead_own_process_group, _lead_own_process_group)
        stopping.install()
        if options.get("cluster_name"):
            os.environ["Q_CLUSTER_NAME"] = options["cluster_name"]
        # django-q2's own handle(), with the cluster that raises the stop flag.
        cluster = StoppingCluster()
        cluster.start()
        if options.get("run_once", False):
            cluster.stop()
            return
        # start() returns once its sentinel (this process's only child) runs; /readyz
        # learns the cluster lives from the heartbeat kept until that sentinel ends.
        from aharally.ops.heartbeat import start_beating

        for sentinel in multiprocessing.active_children():
            start_beating(sentinel)
