"""The task cluster's broker (aharally/taskcluster/broker.py): an empty queue costs one
statement a look; a due task is taken as django-q2's ORM broker takes it, once; what an idle
cluster does besides (the watchdog's count, the sentinel's status) costs little."""

from __future__ import annotations

import socket
import threading

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django_q.brokers import get_broker
from django_q.brokers.orm import ORM
from django_q.conf import Conf

from aharally.taskcluster.broker import STAT_EVERY_SECONDS, QuickPollORM
from aharally.taskcluster.wakeups import Listener, socket_directory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker(monkeypatch):
    monkeypatch.setattr(Conf, "POLL", 0)  # the look's sleep: not what is tested
    found = get_broker()
    found.purge_queue()
    yield found
    # A look listens for wake-ups first: on PostgreSQL a connection of its own, which would
    # keep the test database from being dropped.
    found.stop_listening()


def test_the_cluster_uses_the_quick_poll_broker(broker):
    assert isinstance(broker, QuickPollORM)


class CountingDriver:
    """The database driver's connection, noting each statement run on a cursor of its (the
    look runs on the driver's cursor, beneath Django's, which would count it)."""

    def __init__(self, driver) -> None:
        self.driver = driver
        self.statements: list[str] = []

    def cursor(self, *args, **kwargs):
        cursor = self.driver.cursor(*args, **kwargs)
        execute = cursor.execute

        def counted(sql, *params):
            self.statements.append(sql)
            return execute(sql, *params)

        return _Cursor(cursor, counted)

    def __getattr__(self, name):
        return getattr(self.driver, name)


class _Cursor:
    def __init__(self, cursor, execute) -> None:
        self._cursor, self.execute = cursor, execute

    def __getattr__(self, name):
        return getattr(self._cursor, name)


def test_a_look_at_an_empty_queue_is_one_statement(broker, monkeypatch):
    # As in the cluster's pusher, which keeps its connection from one look to the next.
    wrapper = connections[Conf.ORM]
    monkeypatch.setitem(wrapper.settings_dict, "CONN_MAX_AGE", None)
    wrapper.close()
    wrapper.ensure_connection()
    driver = CountingDriver(wrapper.connection)
    monkeypatch.setattr(wrapper, "connection", driver)
    with CaptureQueriesContext(wrapper) as looked:
        assert broker.dequeue() is None

    assert len(driver.statements) == 1, driver.statements
    assert "LIMIT 1" in driver.statements[0]
    assert looked.captured_queries == []  # nothing through Django's cursor


def test_a_look_finds_a_due_task_and_not_one_taken(broker):
    assert broker._anything_due() is False
    task_id = broker.enqueue("a signed package")
    assert broker._anything_due() is True

    broker.dequeue()  # taken: locked until Q_CLUSTER's retry has passed

    assert broker._anything_due() is False
    broker.acknowledge(task_id)


def test_the_queue_is_counted_on_the_connection_as_it_is(broker):
    broker.enqueue("a signed package")
    connection.ensure_connection()
    opened = connection.connection

    assert broker.queue_size() == 1
    assert broker.queue_size() == 1
    # CONN_MAX_AGE=0 would have closed it before each count (the watchdog counts each second).
    assert connection.connection is opened


def test_the_clusters_status_is_saved_every_few_seconds_not_every_guard_cycle(broker, monkeypatch):
    saved = []
    monkeypatch.setattr(
        ORM, "set_stat", lambda self, key, value, timeout: saved.append((key, value, timeout))
    )
    clock = iter([100.0, 100.5, 101.0, 100.0 + STAT_EVERY_SECONDS, 106.0])
    monkeypatch.setattr("aharally.taskcluster.broker.time.monotonic", lambda: next(clock))

    for value in ("a", "b", "c", "d", "e"):
        broker.set_stat("django_q:aharally:cluster", value, 3)

    assert [value for _key, value, _timeout in saved] == ["a", "d"]
    # Kept until the next save, not django-q2's 3 seconds.
    assert all(timeout >= 2 * STAT_EVERY_SECONDS for _key, _value, timeout in saved)


def test_a_due_task_is_taken_once_and_its_id_and_payload_come_with_it(broker):
    task_id = broker.enqueue("a signed package")

    assert broker.dequeue() == [(task_id, "a signed package")]
    # Taken: hidden until Q_CLUSTER's retry has passed, so a second look finds nothing.
    assert broker.dequeue() is None
    broker.acknowledge(task_id)
    assert broker.queue_size() == 0


# Waking the pushers (aharally/taskcluster/wakeups.py): the same on SQLite and PostgreSQL. A
# wait's timeout is only how long a broken wake-up would take to fail the test.
WOKEN_WITHIN = 30


@pytest.fixture
def listener(broker):
    listening = Listener(Conf.ORM, broker.list_key)
    listening.listen()
    yield listening
    listening.close()


def test_queuing_a_task_wakes_a_listening_pusher(broker, listener):
    assert listener.wait(0) is False

    broker.enqueue("a signed package")
    broker.enqueue("another")

    assert listener.wait(WOKEN_WITHIN) is True
    # A wait takes the wake-ups that have come; on PostgreSQL the second task's NOTIFY (its
    # own transaction) may come a moment later and wake one more wait. Then, with nothing
    # more queued, a wait runs out.
    assert any(listener.wait(0.2) is False for _ in range(2))


def test_the_wake_up_comes_once_the_tasks_transaction_commits(broker, listener):
    with transaction.atomic(using=Conf.ORM):
        broker.enqueue("a signed package")
        # Woken now, the pusher would look before the task can be seen, then wait a poll.
        assert listener.wait(0.05) is False

    assert listener.wait(WOKEN_WITHIN) is True


def test_an_empty_look_waits_for_a_wake_up_not_the_whole_poll(broker, monkeypatch):
    monkeypatch.setattr(Conf, "POLL", 600)  # a test that waited for it would time out
    pusher = get_broker()
    looked = []
    pusher._wakeups.listen()  # as the thread's look would, before it looks
    thread = threading.Thread(target=lambda: looked.append(pusher.dequeue()))
    thread.start()
    try:
        broker.enqueue("a signed package")
        thread.join(WOKEN_WITHIN)
        assert not thread.is_alive()
        # The look found nothing, or the task if it was queued first; the next finds it.
        taken = looked[0] or pusher.dequeue()
        assert [payload for _id, payload in taken] == ["a signed package"]
    finally:
        pusher._wakeups.close()
        if thread.is_alive():
            broker.enqueue("let the thread end")
            thread.join()


@pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL wakes with NOTIFY")
def test_a_killed_pushers_socket_is_cleared_and_the_live_one_woken(broker, listener):
    directory = socket_directory(connection.settings_dict["NAME"], broker.list_key)
    left = directory / "999999999"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as killed:
        killed.bind(str(left))  # closed without unlinking, as a SIGKILL leaves it

    broker.enqueue("a signed package")

    assert listener.wait(WOKEN_WITHIN) is True
    assert not left.exists()


@pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL wakes with NOTIFY")
def test_the_last_pusher_to_stop_listening_takes_the_directory_away(broker, monkeypatch):
    first = Listener(Conf.ORM, broker.list_key)
    first.listen()
    directory = first._path.parent
    second = Listener(Conf.ORM, broker.list_key)
    monkeypatch.setattr("aharally.taskcluster.wakeups.os.getpid", lambda: 999_999_998)
    second.listen()  # another process's socket beside the first's

    first.close()
    assert [path.name for path in directory.iterdir()] == ["999999998"]
    broker.enqueue("a signed package")
    assert second.wait(WOKEN_WITHIN) is True

    second.close()
    assert not directory.exists()
