"""A cap on work in flight shared by every process on every machine: leased slots.

    cap = shared_cap("rally:<credential>", limit=12, lease=30)
    with cap.hold():  # waits for one of the 12 slots
        requests.get(...)

A slot is leased, not locked: its holder's process renews the lease in a background thread
every `lease / 3` seconds while it holds it, and a slot whose lease ran out is free again.
So a killed process's slots come back within `lease` seconds, while a request that takes
minutes keeps its slot. One statement takes a free slot and one gives it back: two queries
(or two Redis round trips) a request, plus one renewal a period for all a process holds.

In the database (`DatabaseSlots`, PostgreSQL or SQLite): `limit` rows per key, taken with a
conditional UPDATE of one free row (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so holders don't
queue behind each other; SQLite serialises writers, which makes the one statement atomic).
Leases are timed by the database's clock. In Redis (`RedisSlots`, when REDIS_URL is set): a
sorted set of holders scored by their lease's end, taken and renewed by Lua scripts timed by
Redis's clock.

A process that keeps its slots for its next requests (`keep`: a bulk send) would leave a
process waiting for one (a catch-up) until it ends; so a waiter says it waits (in the cache),
and the keeper's lease thread, seeing it, hands it the next slot it sets aside: the slot's
row or entry names the waiter, which takes it up at its next look (`hand_over`).

Slots are never taken inside a transaction of the caller's: the UPDATE would stay invisible
(and its row locked) until that transaction ends. Rally requests are never made inside one.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Protocol

from django.conf import settings
from django.core.cache import cache
from django.db import connection

logger = logging.getLogger(__name__)


class SharedCap(Protocol):
    """What the Rally transport needs: a context manager that holds one slot."""

    def hold(self) -> contextlib.AbstractContextManager[None]: ...


# The thread giving back slots set aside waits this long for more before it ends.
RETURNS_LINGER_SECONDS = 5.0


class LeasedSlots:
    """Waiting for a slot, giving it back, and renewing it: the part both stores share."""

    # Polling while every slot is taken: from 5 ms, doubling, up to a second (with jitter).
    # A short wait is looked at often; a long one is a bulk send holding the slots (it keeps
    # them for its next requests, `keep`) and ends when it does: a catch-up waiting beside a
    # minute's send looked 10 times a second, a statement each, for nothing.
    FIRST_WAIT = 0.005
    LONGEST_WAIT = 1.0
    # A waiter says it waits once it has waited this long, and again at each look (another
    # waiter's end may have taken its word away). A keeper's lease thread looks for it every
    # lease / 3 (10 s): so a catch-up waits a minute or so beside a bulk send (its own period,
    # SYNC_PULL_MINUTES), not for the whole send. After 10 s, it cost a send of a minute a
    # twentieth of its pace: the catch-up's 15 to 25 requests, and slots handed to and fro.
    SAY_WANTED_AFTER = 60.0
    # A slot handed to a waiter is its own for this long; taken up, its lease is the usual
    # one. Not taken up (the waiter got another, or died), it is free again after this.
    HANDED_FOR = 5.0
    # A process that got its last slot only by saying it waits says so at once when it waits
    # again within this long: a catch-up whose handed slot went back between two requests
    # (set aside longer than `keep` while it applied a page) doesn't wait a minute for each.
    # Not longer: the next minute's catch-up waits its own minute, whichever worker runs it.
    STILL_WANTED_FOR = 30.0

    def __init__(self, key: str, *, limit: int, lease: float, keep: float = 0.0) -> None:
        if limit < 1:
            raise ValueError("A shared cap needs at least one slot")
        if lease <= 0:
            raise ValueError("A slot's lease must be positive")
        self.key = key
        self.limit = limit
        self.lease = float(lease)
        # `hold()` keeps a slot this long after its work for the process's next request
        # (see `hold`); 0 gives it back at once.
        self.keep = float(keep)
        self._idle: list[tuple[str, float]] = []  # (token, set aside at), oldest first
        self._idle_lock = threading.Lock()
        self._idle_changed = threading.Condition(self._idle_lock)
        self._returning = False
        # A waiter's token: the next slot this process sets aside is handed to it.
        self._hand_to: str | None = None
        self._served: str | None = None  # the last waiter handed one, not handed another
        # When this process last got a slot only by saying it waits: a wait within
        # STILL_WANTED_FOR of it says so at once (`acquire`).
        self._starved_at: float | None = None

    # What each store implements: one query or round trip each.
    def try_acquire(self, token: str) -> bool:
        raise NotImplementedError

    def prepare(self) -> None:
        """Make what the store needs to hand out slots (idempotent); called when none is free."""

    def release(self, token: str) -> None:
        raise NotImplementedError

    def renew(self, tokens: list[str]) -> None:
        raise NotImplementedError

    def hand_over(self, token: str, to: str) -> None:
        """The slot held by `token` is `to`'s for HANDED_FOR seconds (its `try_acquire`
        takes it up)."""
        raise NotImplementedError

    def acquire(self) -> str:
        """Wait for a free slot, or one handed over; returns the token that holds it."""
        token = _new_token()
        wait = self.FIRST_WAIT
        prepared = False
        started = time.monotonic()
        starved = (
            self._starved_at is not None and started - self._starved_at < self.STILL_WANTED_FOR
        )
        said = False
        try:
            while not self.try_acquire(token):
                if not prepared:
                    # None free: maybe none made yet. Checked here rather than remembered, so
                    # a store emptied under us (a test database flushed) is made again.
                    self.prepare()
                    prepared = True
                    continue
                if starved or time.monotonic() - started >= self.SAY_WANTED_AFTER:
                    _or_none(cache.set, self._wanted_key(), token, timeout=_WANTED_FOR)
                    said = True
                time.sleep(wait * (0.5 + random.random()))
                wait = min(wait * 2, self.LONGEST_WAIT)
        finally:
            if said and _or_none(cache.get, self._wanted_key()) == token:
                _or_none(cache.delete, self._wanted_key())
        self._starved_at = time.monotonic() if said else None
        HEARTBEAT.add(self, token)
        return token

    def _wanted_key(self) -> str:
        return f"slots-wanted:{self.key}"

    def serve_waiter(self) -> None:
        """Each beat of the lease thread, for a cap that keeps slots: a process waiting for
        one is handed one set aside now, or else the next one set aside."""
        if self.keep <= 0:
            return
        waiter = _or_none(cache.get, self._wanted_key())
        if not waiter or waiter == self._served:
            return
        with self._idle_lock:
            if not self._idle:
                self._hand_to = waiter  # `_set_aside` hands it the next
                return
            token, _ = self._idle.pop(0)
        self._hand(token, waiter)

    def _hand(self, token: str, waiter: str) -> None:
        self._served = waiter
        HEARTBEAT.remove(token)
        try:
            self.hand_over(token, waiter)
        except Exception:
            # Renewed no more, it is free again within a lease.
            logger.exception("Could not hand a slot of %s to a waiter", self.key)

    def give_back(self, token: str) -> None:
        HEARTBEAT.remove(token)
        self.release(token)

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Hold a slot while the block runs.

        With `keep`, the slot is set aside for `keep` seconds rather than given back, and the
        process's next request takes it without a query: a drain sending row after row pays
        nothing for its slots, and never waits for the database to give one back. A slot
        set aside is still held (its lease renewed), so no more than `limit` are out across
        processes; another process waits for it at most `keep` seconds longer.
        """
        token = self._take_idle() or self.acquire()
        try:
            yield
        finally:
            if self.keep > 0:
                self._set_aside(token)
            else:
                self.give_back(token)

    def _take_idle(self) -> str | None:
        with self._idle_lock:
            if not self._idle:
                return None
            token, _ = self._idle.pop()  # the newest: the oldest go back first
            return token

    def _set_aside(self, token: str) -> None:
        start_returns = False
        with self._idle_changed:
            waiter, self._hand_to = self._hand_to, None
            if waiter is None:
                self._idle.append((token, time.monotonic()))
                self._idle_changed.notify()
                start_returns, self._returning = not self._returning, True
        if waiter is not None:
            self._hand(token, waiter)
        elif start_returns:
            threading.Thread(target=self._return_idle, name="slot-returns", daemon=True).start()

    def _return_idle(self) -> None:
        """Give back the slots set aside longer than `keep` until none is left (one thread)."""
        try:
            while True:
                with self._idle_changed:
                    if not self._idle:
                        # A busy process sets slots aside again soon: waiting for that costs
                        # less than a new thread (and its connection) each time.
                        self._idle_changed.wait(RETURNS_LINGER_SECONDS)
                    if not self._idle:
                        self._returning = False
                        return
                    now = time.monotonic()
                    due = [token for token, since in self._idle if now - since >= self.keep]
                    self._idle = [(t, since) for t, since in self._idle if t not in due]
                    wait = self.keep - (now - self._idle[0][1]) if self._idle else self.keep
                for token in due:
                    try:
                        self.give_back(token)
                    except Exception:
                        # Its lease runs out by itself within `lease` seconds.
                        HEARTBEAT.remove(token)
                        logger.exception("Could not give back a slot of %s", self.key)
                time.sleep(max(wait, 0.005))
        finally:
            connection.close()  # this thread's own connection


def _db_now() -> str:
    """SQL for the database's clock, in seconds since the epoch."""
    if connection.vendor == "postgresql":
        return "EXTRACT(EPOCH FROM clock_timestamp())"
    if connection.vendor == "sqlite":
        return "((julianday('now') - 2440587.5) * 86400.0)"
    raise NotImplementedError(f"No shared slots on {connection.vendor}")


class DatabaseSlots(LeasedSlots):
    """`limit` rows of `concurrency_slot` for the key; made the first time none is free."""

    def _table(self) -> str:
        from aharally.concurrency.models import Slot

        return connection.ops.quote_name(Slot._meta.db_table)

    def prepare(self) -> None:
        from aharally.concurrency.models import Slot

        Slot.objects.bulk_create(
            [Slot(key=self.key, number=n) for n in range(self.limit)], ignore_conflicts=True
        )

    def try_acquire(self, token: str) -> bool:
        now = _db_now()
        # Rows past `limit` (a lowered SYNC_CONCURRENCY) are never handed out.
        lock = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
        sql = (
            f"UPDATE {self._table()} SET holder = %s, expires = {now} + %s "  # noqa: S608
            f"WHERE id = (SELECT id FROM {self._table()} WHERE key = %s AND number < %s "
            f"AND (holder = '' OR expires < {now} OR holder = %s) "
            f"ORDER BY holder = %s DESC, number LIMIT 1{lock})"
        )  # a slot handed to this token (`hand_over`) first
        with connection.cursor() as cursor:
            cursor.execute(sql, [token, self.lease, self.key, self.limit, token, token])
            return cursor.rowcount == 1

    def release(self, token: str) -> None:
        from aharally.concurrency.models import Slot

        Slot.objects.filter(holder=token).update(holder="", expires=0)

    def renew(self, tokens: list[str]) -> None:
        marks = ", ".join(["%s"] * len(tokens))
        sql = (
            f"UPDATE {self._table()} SET expires = {_db_now()} + %s "  # noqa: S608
            f"WHERE holder IN ({marks})"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [self.lease, *tokens])

    def hand_over(self, token: str, to: str) -> None:
        sql = (
            f"UPDATE {self._table()} SET holder = %s, expires = {_db_now()} + %s "  # noqa: S608
            f"WHERE holder = %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [to, self.HANDED_FOR, token])


# Redis: the key's sorted set holds token → the end of its lease (Redis's clock).
_REDIS_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[3]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 2))
  return 1
end
return 0
"""
_REDIS_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[i])
end
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1]) * 2))
return 1
"""
_REDIS_HAND_OVER = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
end
return 1
"""


class RedisSlots(LeasedSlots):
    """A semaphore with expiring leases in Redis (one sorted set per key)."""

    def __init__(
        self, key: str, *, limit: int, lease: float, keep: float = 0.0, client=None
    ) -> None:
        super().__init__(key, limit=limit, lease=lease, keep=keep)
        self.client = client or redis_client()
        self.name = f"aharally:slots:{key}"
        self._acquire = self.client.register_script(_REDIS_ACQUIRE)
        self._renew = self.client.register_script(_REDIS_RENEW)
        self._hand_over = self.client.register_script(_REDIS_HAND_OVER)

    def try_acquire(self, token: str) -> bool:
        return bool(self._acquire(keys=[self.name], args=[self.limit, self.lease, token]))

    def release(self, token: str) -> None:
        self.client.zrem(self.name, token)

    def renew(self, tokens: list[str]) -> None:
        self._renew(keys=[self.name], args=[self.lease, *tokens])

    def hand_over(self, token: str, to: str) -> None:
        self._hand_over(keys=[self.name], args=[token, to, self.HANDED_FOR])


_redis = None


def redis_client():
    """One client (a thread-safe connection pool) per process, from REDIS_URL."""
    global _redis
    if _redis is None:
        import redis

        _redis = redis.Redis.from_url(settings.REDIS_URL)
    return _redis


# A waiter's word that it waits lives this long unless said again (at each look).
_WANTED_FOR = 30

_caps: dict[tuple, LeasedSlots] = {}
_caps_lock = threading.Lock()


def shared_cap(key: str, *, limit: int, lease: float, keep: float | None = None) -> LeasedSlots:
    """The cap named `key` (at most 64 characters): in Redis when REDIS_URL is set, else in
    the database. `keep` (default SYNC_SLOT_KEEP_MS) is how long `hold()` keeps a slot for
    the process's next request."""
    store = RedisSlots if settings.REDIS_URL else DatabaseSlots
    if keep is None:
        keep = settings.SYNC_SLOT_KEEP_MS / 1000
    with _caps_lock:
        cap = _caps.get((store, key, limit, lease, keep))
        if cap is None:
            cap = store(key, limit=limit, lease=lease, keep=keep)
            _caps[(store, key, limit, lease, keep)] = cap
        return cap


class Heartbeat:
    """Renews the leases of every slot this process holds, from one background thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, LeasedSlots] = {}
        self._thread: threading.Thread | None = None
        self._period = 10.0
        self._wake = threading.Event()

    def add(self, cap: LeasedSlots, token: str) -> None:
        with self._lock:
            self._held[token] = cap
            # A slot taken just after a beat is renewed at the second: within 2/3 of a lease.
            if cap.lease / 3 < self._period:
                self._period = cap.lease / 3
                self._wake.set()  # a beat under way with the longer period is cut short
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="slot-leases", daemon=True)
                self._thread.start()

    def remove(self, token: str) -> None:
        with self._lock:
            self._held.pop(token, None)

    def held(self) -> int:
        with self._lock:
            return len(self._held)

    def reset_after_fork(self) -> None:
        # A forked child holds nothing: its parent's slots are its parent's to give back.
        self._lock = threading.Lock()
        self._held = {}
        self._thread = None
        self._period = 10.0
        self._wake = threading.Event()

    def _run(self) -> None:
        while True:
            with self._lock:
                by_cap: dict[int, tuple[LeasedSlots, list[str]]] = {}
                for token, cap in self._held.items():
                    by_cap.setdefault(id(cap), (cap, []))[1].append(token)
            if self._wake.wait(self._period):
                self._wake.clear()
                continue
            if not by_cap:
                continue
            for cap, tokens in by_cap.values():
                with self._lock:
                    tokens = [t for t in tokens if t in self._held]
                if not tokens:
                    continue
                try:
                    cap.renew(tokens)
                except Exception:
                    logger.exception("Could not renew %d slot leases of %s", len(tokens), cap.key)
                cap.serve_waiter()
            # This thread's own connection: not left open between beats.
            connection.close()


HEARTBEAT = Heartbeat()
_PROCESS = uuid.uuid4().hex[:16]
_counter = itertools.count()


def _new_token() -> str:
    return f"{_PROCESS}:{os.getpid()}:{next(_counter)}"


def give_back_idle() -> None:
    """Give back at once the slots this process set aside for its next request (a drain
    that ends, a process that exits): nobody waits for them to time out."""
    with _caps_lock:
        caps = list(_caps.values())
    for cap in caps:
        with cap._idle_lock:
            idle, cap._idle = cap._idle, []
        for token, _ in idle:
            cap.give_back(token)


def _after_fork_in_child() -> None:
    global _PROCESS, _redis, _caps_lock
    _PROCESS = uuid.uuid4().hex[:16]
    _redis = None
    HEARTBEAT.reset_after_fork()
    _caps_lock = threading.Lock()
    for cap in _caps.values():  # the parent's slots set aside are the parent's
        cap._idle, cap._idle_lock, cap._returning = [], threading.Lock(), False
        cap._hand_to = cap._served = cap._starved_at = None
        cap._idle_changed = threading.Condition(cap._idle_lock)
    _caps.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(lambda: _quietly(give_back_idle))


def _quietly(work) -> None:
    try:
        work()
    except Exception:  # exiting: the leases run out by themselves
        logger.debug("Slots set aside not given back at exit", exc_info=True)


def _or_none(work, *args, **kwargs):
    """`work`'s result, or None when it failed (logged): for a waiter's word in the cache,
    which may fail without harm (the waiter still looks for a free slot)."""
    try:
        return work(*args, **kwargs)
    except Exception:
        logger.warning("%s failed; going on without it", work.__qualname__, exc_info=True)
        return None
