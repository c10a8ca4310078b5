"""A rate limit over a sliding window: counted atomically by every process sharing the cache,
whichever the cache (the database's, locmem's here; Redis's under scripts/with-redis)."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.core.cache import caches
from django.db import connections

from aharally.concurrency.rate import SlidingWindowLimit

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["database", "locmem", pytest.param("redis", marks=pytest.mark.redis)])
def cache(request, settings):
    if request.param == "redis":
        assert settings.REDIS_URL, "the Redis tests run under scripts/with-redis"
        backend = {"BACKEND": "django.core.cache.backends.redis.RedisCache"}
        backend["LOCATION"] = settings.REDIS_URL
    elif request.param == "locmem":
        backend = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    else:
        backend = {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "aharally_cache",
        }
    settings.CACHES = {**settings.CACHES, "rate-test": backend}
    return caches["rate-test"]


def _limit(cache, limit):
    return SlidingWindowLimit(f"test:{uuid.uuid4().hex[:8]}", limit=limit, window=60, cache=cache)


def test_concurrent_events_get_through_up_to_the_limit_and_no_further(cache):
    limit = _limit(cache, 10)
    allowed = []
    start = threading.Barrier(24)

    def deliver():
        start.wait()
        allowed.append(limit.allow())
        connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert allowed.count(True) == 10
    assert allowed.count(False) == 14


def test_the_window_slides_rather_than_starting_afresh_each_calendar_minute(cache):
    limit = _limit(cache, 3)
    assert [limit.allow(now=1_000_030.0) for _ in range(4)] == [True, True, True, False]
    # A new calendar minute, 31 seconds later: the three are still within the last 60 seconds.
    assert not limit.allow(now=1_000_061.0)
    # 60 seconds after them, room again, for three.
    assert [limit.allow(now=1_000_090.5) for _ in range(4)] == [True, True, True, False]


def test_a_refused_event_is_not_counted(cache):
    limit = _limit(cache, 1)
    assert limit.allow(now=100.0)
    assert not limit.allow(now=130.0)
    assert limit.allow(now=160.5)  # the refused one at 130 does not hold the window until 190
