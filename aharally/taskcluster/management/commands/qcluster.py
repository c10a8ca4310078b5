"""`manage.py qcluster`, django-q2's command, stopping gracefully and healing itself.

honcho (`make run`, on Ctrl-C), shells and some process managers send SIGTERM to every
process of the worker's process group at once. django-q2's sentinel and workers take
SIGTERM with the default action: they die on the spot, a running task with them, and the
main process then blocks for good stopping a sentinel that is gone (honcho kills it after
5 s). Here every process the cluster forks leads a process group of its own, so the signal
reaches the main process alone; it raises the stop flag that running tasks watch
(aharally.concurrency.stopping) and stops the sentinel, which lets each worker finish its
task first (up to Q_CLUSTER["timeout"]); a drain that sees the flag gives back what it
has not sent and returns within a second or so.

django-q2 replaces a process of the cluster that died, but the replacement may wait for good
on a queue the dead one held: the main process restarts the whole cluster then
(aharally.taskcluster.supervisor).
"""

from __future__ import annotations

import multiprocessing.util
import os

from django.conf import settings
from django_q.management.commands.qcluster import Command as DjangoQCommand

from aharally.concurrency import stopping
from aharally.taskcluster.supervisor import SupervisedCluster, Supervisor


def _lead_own_process_group(_registered) -> None:
    os.setpgid(0, 0)


class Command(DjangoQCommand):
    def handle(self, *args, **options):
        # The cluster reads and writes secrets (tokens, keys): without keys, refuse to start.
        from aharally.integrations.secrets import check_keys

        check_keys()
        settings.SECRET_KEY  # noqa: B018 (django-q2 signs tasks with it: fail early)
        # Runs in each child right after the fork (django-q2 uses the "fork" start method).
        multiprocessing.util.register_after_fork(_lead_own_process_group, _lead_own_process_group)
        if options.get("cluster_name"):
            os.environ["Q_CLUSTER_NAME"] = options["cluster_name"]
        supervisor = Supervisor()
        if options.get("run_once", False):
            stopping.install()
            cluster = SupervisedCluster(supervisor)
            cluster.start()
            cluster.stop_event.set()
            cluster.sentinel.join()
            return
        # Until SIGTERM/SIGINT; /readyz learns the cluster lives (and makes progress) from
        # the heartbeat the supervisor keeps meanwhile.
        supervisor.run()
