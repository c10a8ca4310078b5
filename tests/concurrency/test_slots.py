"""Shared slots: handed out up to the limit, given back, renewed while held, and taken back
from a holder that died. In the database here; in Redis under scripts/with-redis."""

from __future__ import annotations

import itertools
import threading
import time
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from aharally.concurrency.models import Slot
from aharally.concurrency.slots import HEARTBEAT, DatabaseSlots, RedisSlots
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def _key() -> str:
    return "test:" + uuid.uuid4().hex[:12]


@pytest.fixture(params=["database", pytest.param("redis", marks=pytest.mark.redis)])
def store(request):
    """Each store behind the same tests; the Redis one needs REDIS_URL (scripts/with-redis)."""
    if request.param == "redis":
        from django.conf import settings

        assert settings.REDIS_URL, "the Redis tests run under scripts/with-redis"
        return RedisSlots
    return DatabaseSlots


def test_a_cap_hands_out_its_slots_and_no_more_until_one_is_given_back(store):
    cap = store(_key(), limit=3, lease=30)
    cap.prepare()
    tokens = [f"t{n}" for n in range(4)]

    assert [cap.try_acquire(t) for t in tokens] == [True, True, True, False]
    cap.release("t1")
    assert cap.try_acquire("t3")
    assert not cap.try_acquire("t4")


def test_a_dead_holders_slot_comes_back_when_its_lease_runs_out(store):
    cap = store(_key(), limit=1, lease=0.5)
    cap.prepare()
    assert cap.try_acquire("dead")  # never renewed, never given back: its process died
    assert not cap.try_acquire("alive")

    wait_until(lambda: cap.try_acquire("alive"), timeout=5, interval=0.05, what="the dead's slot")


def test_a_slot_held_longer_than_its_lease_is_renewed_and_not_taken(store):
    # A lease long enough that a loaded machine's scheduling delays can't outlast it.
    cap = store(_key(), limit=1, lease=1.5)
    holding = threading.Event()
    done = threading.Event()

    def hold():
        with cap.hold():
            holding.set()
            done.wait(5)
        connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(5)
    stolen = []
    # Time must pass here, not a condition come true: trying all along, for 3.6 s (more than
    # twice the lease), proves the held slot is never taken.
    for n in range(12):
        stolen.append(cap.try_acquire(f"other{n}"))
        time.sleep(0.3)
    done.set()
    holder.join()

    assert not any(stolen)
    assert HEARTBEAT.held() == 0
    assert cap.try_acquire("after")


def test_hold_waits_for_a_slot_and_never_lets_more_than_the_limit_in(store):
    cap = store(_key(), limit=3, lease=30)
    lock = threading.Lock()
    now, peak = [0], [0]

    def work():
        for _ in range(5):
            with cap.hold():
                with lock:
                    now[0] += 1
                    peak[0] = max(peak[0], now[0])
                time.sleep(0.01)  # the work done while holding the slot
                with lock:
                    now[0] -= 1
        connection.close()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert peak[0] == 3


def test_a_long_wait_for_a_slot_looks_about_once_a_second_not_ten_times(store):
    cap = store(_key(), limit=2, lease=30)
    held = [cap.acquire(), cap.acquire()]  # a bulk send elsewhere holds them all
    tries = []
    try_acquire = cap.try_acquire

    def counted(token):
        tries.append(time.monotonic())
        return try_acquire(token)

    cap.try_acquire = counted
    waiter = threading.Thread(target=lambda: (cap.give_back(cap.acquire()), connection.close()))
    waiter.start()
    time.sleep(4)
    for token in held:
        cap.give_back(token)
    waiter.join(timeout=5)

    assert not waiter.is_alive()
    # Looked at often at first, then about once a second (at 100 ms it was some 40 looks).
    assert len(tries) <= 16
    assert any(later - earlier >= 0.5 for earlier, later in itertools.pairwise(tries))


def test_taking_and_giving_back_a_slot_cost_one_query_each():
    cap = DatabaseSlots(_key(), limit=12, lease=30)
    cap.give_back(cap.acquire())  # the first use makes the key's 12 rows

    with CaptureQueriesContext(connection) as taking:
        token = cap.acquire()
    with CaptureQueriesContext(connection) as giving:
        cap.give_back(token)

    assert (len(taking), len(giving)) == (1, 1)
    assert Slot.objects.filter(key=cap.key).count() == 12


def test_slots_are_made_again_when_their_rows_are_gone():
    cap = DatabaseSlots(_key(), limit=2, lease=30)
    cap.give_back(cap.acquire())
    Slot.objects.filter(key=cap.key).delete()

    cap.give_back(cap.acquire())

    assert Slot.objects.filter(key=cap.key, holder="").count() == 2


def test_lowering_the_limit_leaves_the_extra_rows_unused():
    key = _key()
    higher = DatabaseSlots(key, limit=4, lease=30)
    higher.give_back(higher.acquire())
    lower = DatabaseSlots(key, limit=2, lease=30)
    lower.prepare()

    assert [lower.try_acquire(f"t{n}") for n in range(3)] == [True, True, False]
    assert Slot.objects.filter(key=key).count() == 4
    assert HEARTBEAT.held() == 0


def test_a_process_keeping_every_slot_hands_one_to_a_process_waiting_for_one(store):
    # A bulk send keeps both slots for its next requests (for a minute, longer than this
    # test); a catch-up elsewhere waits for one. The keeper's lease thread beats every
    # lease / 3 = 0.5 s here, and hands the waiter the next slot it sets aside.
    key = _key()
    keeper = store(key, limit=2, lease=1.5, keep=60)
    other = store(key, limit=2, lease=1.5)
    other.SAY_WANTED_AFTER = 0.5
    sending = threading.Event()
    sending.set()

    def send():
        while sending.is_set():
            with keeper.hold():
                time.sleep(0.02)  # a request
        connection.close()

    senders = [threading.Thread(target=send) for _ in range(2)]
    for sender in senders:
        sender.start()
    got: list[float] = []

    def wait_for_one():
        started = time.monotonic()
        token = other.acquire()
        got.append(time.monotonic() - started)
        other.give_back(token)
        connection.close()

    def handed_one(within: float = 8) -> bool:
        waiter = threading.Thread(target=wait_for_one)
        count = len(got)
        waiter.start()
        waiter.join(timeout=within)
        return len(got) > count

    time.sleep(0.3)  # the sends hold both slots
    handed = handed_one()
    probe = store(key, limit=2, lease=1.5)

    def both_kept() -> bool:
        if probe.try_acquire("probe"):
            probe.release("probe")
            return False
        return True

    wait_until(both_kept, timeout=5, interval=0.05, what="the sends to take both slots again")
    # Its slot given back (a catch-up's, set aside longer than `keep` between requests), the
    # waiter says it waits at once, not after SAY_WANTED_AFTER again.
    other.SAY_WANTED_AFTER = 60
    handed_again = handed_one()
    # Not long after, though: a wait begun later waits its own SAY_WANTED_AFTER.
    wait_until(both_kept, timeout=5, interval=0.05, what="the sends to take both slots again")
    other.STILL_WANTED_FOR = 0.5
    time.sleep(0.6)
    handed_later = handed_one(within=3)
    sending.clear()
    for sender in senders:
        sender.join()
    with keeper._idle_lock:
        idle, keeper._idle = keeper._idle, []
    for token, _ in idle:
        keeper.give_back(token)
    wait_until(lambda: len(got) == 3, timeout=10, interval=0.05, what="the waits to end")

    assert handed, "the waiter got no slot while the other process kept them"
    assert handed_again, "the waiter waited SAY_WANTED_AFTER again for its next slot"
    assert not handed_later, "a wait long after the last hand-over was handed one at once"
    assert max(got[:2]) < 5
    assert HEARTBEAT.held() == 0
