"""Runs django-q2's cluster in `manage.py qcluster` and starts a fresh one when it is stuck.

The main process watches (aharally.taskcluster.watchdog); when a process of the cluster died
or tasks wait and none is taken, it stops the cluster (running tasks are told to give back
what they have not sent, aharally.concurrency.stopping), kills whatever did not stop within
CLUSTER_RESTART_GRACE_SECONDS, and starts another in the same command. Restarting inside the
command, not exiting for a supervisor: honcho (`make run`) stops every process when one exits.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
import uuid
from multiprocessing import Event

from django import db
from django.conf import settings
from django_q.cluster import Cluster, Sentinel, get_mp_context
from django_q.conf import Conf
from django_q.pusher import pusher

from aharally.concurrency import stopping
from aharally.taskcluster import processes, progress, wakeups
from aharally.taskcluster.watchdog import Watchdog

logger = logging.getLogger(__name__)

CHECK_SECONDS = 1.0
# The cluster's processes are read again this often, for killing the orphans of a sentinel that
# dies. They are the ones the sentinel forked as it started, and any death restarts the whole
# cluster (its processes read again then): a walk of /proc each check (a sending worker has
# some twenty threads) cost more than the rest of the check.
TREE_SECONDS = 5.0


class WatchedSentinel(Sentinel):
    """django-q2's sentinel, telling the main process when a process of its cluster died."""

    def reincarnate(self, process):
        # None: a worker past its timeout, about to be terminated by the sentinel itself, its
        # task done; 0: a worker recycled after its share of tasks. Anything else died.
        if process.exitcode not in (None, 0):
            role = (
                "monitor"
                if process == self.monitor
                else "pusher"
                if process == self.pusher
                else "worker"
            )
            record = progress.current()
            if record is not None:
                record.process_died(role)
        super().reincarnate(process)

    def stop(self):
        # The pusher waits for a task to be queued up to Q_POLL_MS before it sees that it
        # must stop: wake it (and any other cluster's pusher, which just looks once more).
        self.event_out.set()
        if "orm" in settings.Q_CLUSTER:
            try:
                wakeups.wake(Conf.ORM, self.broker.list_key)
            except Exception:
                logger.warning("Could not wake the pusher to stop it", exc_info=True)
        super().stop()

    def spawn_process(self, target, *args):
        _freeze_heap()
        return super().spawn_process(target, *args)

    def spawn_pusher(self):
        return self.spawn_process(
            _pusher, self.task_queue, self.event_out, RecordingBroker(self.broker)
        )


def _pusher(task_queue, event, broker) -> None:
    """django-q2's pusher, keeping its database connection from one look at the queue to the
    next (Q_POLL_MS).

    The ORM broker closes connections older than CONN_MAX_AGE before each look; at 0 (the
    default) that would be a new connection every 50 ms. This process does nothing else, so
    its connection lives on, closed only after an error (as with CONN_MAX_AGE=None).
    """
    if "orm" in settings.Q_CLUSTER:
        db.connections[settings.Q_CLUSTER["orm"]].settings_dict["CONN_MAX_AGE"] = None
    try:
        pusher(task_queue, event, broker)
    finally:
        stop_listening = getattr(broker, "stop_listening", None)
        if stop_listening is not None:  # its socket, or its LISTEN connection
            stop_listening()


class RecordingBroker:
    """The cluster's broker, noting which tasks the pusher took (progress.pushed)."""

    def __init__(self, broker) -> None:
        self._broker = broker

    def dequeue(self):
        tasks = self._broker.dequeue()
        record = progress.current()
        for ack_id, _payload in tasks or ():
            if record is not None:
                record.pushed(ack_id)
        return tasks

    def __getattr__(self, name: str):
        return getattr(self._broker, name)


class SupervisedCluster(Cluster):
    """django-q2's cluster with the sentinel above; a signal stops the supervisor."""

    def __init__(self, supervisor: Supervisor) -> None:
        super().__init__()
        self.supervisor = supervisor

    def sig_handler(self, signum, frame):
        # No join here (django-q2 waits for its sentinel in the handler): a stuck cluster
        # would never stop. The supervisor's loop stops it, bounded.
        self.supervisor.request_stop()

    def start(self) -> int:
        """django-q2's Cluster.start() with WatchedSentinel."""
        self.stop_event = Event()
        self.start_event = Event()
        _freeze_heap()
        self.sentinel = get_mp_context().Process(
            target=WatchedSentinel,
            name=f"Process-{uuid.uuid4().hex}",
            args=(self.stop_event, self.start_event, self.cluster_id, self.broker, self.timeout),
        )
        self.sentinel.start()
        logger.info("Q Cluster %s starting.", self.name)
        while not self.start_event.is_set():
            if not self.sentinel.is_alive():
                if self.sentinel.exitcode == 0:  # stopped by a signal while starting
                    break
                raise RuntimeError(
                    f"Q Cluster {self.name} failed to start: sentinel exited with code "
                    f"{self.sentinel.exitcode}"
                )
            self.start_event.wait(0.1)
        return self.pid


def _freeze_heap() -> None:
    """Before a fork: what the process holds (Django, the app, their modules) is left out of
    every later garbage collection, in this process and in the child (gc.freeze). A full
    collection walked all of it, some 25-55 ms of CPU each time, about once a minute in a
    sending worker, and wrote into each object's header, which copied the fork's shared
    memory page by page."""
    gc.freeze()


class Supervisor:
    def __init__(self) -> None:
        self.stop_requested = threading.Event()
        self.cluster: SupervisedCluster | None = None
        self.watchdog = Watchdog()
        self.restarts = 0
        self.heartbeat = None

    def request_stop(self) -> None:
        """Stop for good (SIGTERM/SIGINT): tell running tasks; the loop stops the sentinel."""
        stopping.request_stop()
        self.stop_requested.set()

    def run(self) -> None:
        from aharally.ops.heartbeat import Heartbeat

        heartbeat = self.heartbeat = Heartbeat(self.watchdog).start()
        try:
            while not self.stop_requested.is_set():
                reason = self._run_one()
                if reason is None:
                    break
                self.restarts += 1
        finally:
            heartbeat.stop()

    def _run_one(self) -> str | None:
        """Start a cluster and watch it; the reason it was restarted, or None once stopped."""
        record = progress.install()
        stopping.install()
        # The sentinel is forked from here: it must not share this thread's database connection.
        db.connections.close_all()
        cluster = self.cluster = SupervisedCluster(self)
        with self.heartbeat.pause():
            cluster.start()
        self.watchdog.begin(record)
        known, read_at = processes.tree(cluster.sentinel.pid), time.monotonic()
        reason = None
        while not self.stop_requested.wait(CHECK_SECONDS):
            # Not its `sentinel` pipe: the processes it forked hold that open after it died.
            if not cluster.sentinel.is_alive():
                reason = "django-q2's sentinel process died"
                break
            if time.monotonic() - read_at >= TREE_SECONDS:
                # Remembered while the sentinel lives: a killed sentinel's orphans are killed.
                known, read_at = processes.tree(cluster.sentinel.pid), time.monotonic()
            reason = self.watchdog.check()
            if reason:
                break
        if reason is None:
            self._stop(cluster, known, grace=Conf.TIMEOUT + 5)
            return None
        logger.error("Restarting the task cluster %s: %s.", cluster.name, reason)
        stopping.request_stop()
        self._stop(cluster, known, grace=settings.CLUSTER_RESTART_GRACE_SECONDS)
        return reason

    def _stop(self, cluster: SupervisedCluster, known: dict, *, grace: float) -> None:
        """Stop the cluster, letting running tasks end for `grace` seconds; kill what is left."""
        if cluster.sentinel.is_alive():
            known = {**known, **processes.tree(cluster.sentinel.pid)}
            # Only to a live sentinel: one killed while it held the event's lock (its guard
            # waits on the event every half second) would leave this call waiting for good.
            cluster.stop_event.set()
            cluster.sentinel.join(grace)
        if cluster.sentinel.is_alive():
            logger.warning(
                "Q Cluster %s did not stop within %s seconds: its processes are killed.",
                cluster.name,
                grace,
            )
        # After a stop, only processes the stop left behind (a wedged one) are still there.
        known.pop(os.getpid(), None)
        processes.kill(known)
        cluster.sentinel.join()
        _release(progress.current())
        logger.info("Q Cluster %s has stopped.", cluster.name)


def _release(record: progress.Progress | None) -> None:
    """Queue again the tasks a stopped cluster took and did not finish.

    The ORM broker hides a taken task until Q_CLUSTER["retry"] (minutes) has passed; a task
    that waited in the stopped cluster's own queue would wait that long. Tasks that were
    done are gone from the broker (acknowledged); one that was running is run again, as
    after any killed worker (tasks take ids and the outbox rows are the truth).
    """
    if record is None or "orm" not in settings.Q_CLUSTER:
        return
    from django.utils import timezone
    from django_q.models import OrmQ

    try:
        released = (
            OrmQ.objects.using(settings.Q_CLUSTER["orm"])
            .filter(pk__in=record.taken(), lock__gt=timezone.now())
            .update(lock=timezone.now())
        )
    except Exception:
        logger.warning("Could not queue again the tasks the stopped cluster took", exc_info=True)
        return
    if released:
        logger.warning("Queued again %s task(s) the stopped cluster had taken.", released)
