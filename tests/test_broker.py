"""The task cluster's broker (aharally/taskcluster/broker.py): an empty queue costs one
statement a look; a due task is taken as django-q2's ORM broker takes it, once."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_q.brokers import get_broker
from django_q.conf import Conf

from aharally.taskcluster.broker import QuickPollORM

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker(monkeypatch):
    monkeypatch.setattr(Conf, "POLL", 0)  # the look's sleep: not what is tested
    found = get_broker()
    found.purge_queue()
    return found


def test_the_cluster_uses_the_quick_poll_broker(broker):
    assert isinstance(broker, QuickPollORM)


def test_a_look_at_an_empty_queue_is_one_statement(broker):
    with CaptureQueriesContext(connection) as looked:
        assert broker.dequeue() is None

    assert len(looked) == 1, [q["sql"] for q in looked]


def test_a_due_task_is_taken_once_and_its_id_and_payload_come_with_it(broker):
    task_id = broker.enqueue("a signed package")

    assert broker.dequeue() == [(task_id, "a signed package")]
    # Taken: hidden until Q_CLUSTER's retry has passed, so a second look finds nothing.
    assert broker.dequeue() is None
    broker.acknowledge(task_id)
    assert broker.queue_size() == 0
