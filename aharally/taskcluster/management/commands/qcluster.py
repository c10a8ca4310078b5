"""`manage.py qcluster`, django-q2's command, stopping gracefully when its group is signalled.

honcho (`make run`, on Ctrl-C), shells and some process managers send SIGTERM to every
process of the worker's process group at once. django-q2's sentinel and workers take
SIGTERM with the default action: they die on the spot, a running task with them, and the
main process then blocks for good stopping a sentinel that is gone (honcho kills it after
5 s). Here every process the cluster forks leads a process group of its own, so the signal
reaches the main process alone; it stops the sentinel, which lets each worker finish its
task first (up to Q_CLUSTER["timeout"]).
"""

from __future__ import annotations

import multiprocessing.util
import os

from django_q.management.commands.qcluster import Command as DjangoQCommand


def _lead_own_process_group(_registered) -> None:
    os.setpgid(0, 0)


class Command(DjangoQCommand):
    def handle(self, *args, **options):
        # The cluster reads and writes secrets (tokens, keys): without keys, refuse to start.
        from aharally.integrations.secrets import check_keys

        check_keys()
        # Runs in each child right after the fork (django-q2 uses the "fork" start method).
        multiprocessing.util.register_after_fork(_lead_own_process_group, _lead_own_process_group)
        result = super().handle(*args, **options)
        # django-q2 returns once its sentinel (this process's only child) runs; /readyz
        # learns the cluster lives from the heartbeat kept until that sentinel ends.
        from aharally.ops.heartbeat import start_beating

        for sentinel in multiprocessing.active_children():
            start_beating(sentinel)
        return result
