"""A rate limit shared by every process: at most `limit` events in any `window` seconds.

    limit = SlidingWindowLimit("webhook:7", limit=600, window=60)
    if not limit.allow():
        ...  # refuse

Counted over a sliding window (each accepted event's time is kept for `window` seconds), not
a calendar minute, whose boundary lets twice the limit through in a few seconds. The count
is read and written under a short lock taken with the cache's `add`, the one operation every
Django cache does atomically (an INSERT on a unique key in the database cache, SET NX in
Redis, a lock in locmem); `incr` is a read then a write in the database cache. Five cache
round trips an event, whichever the store; never inside a transaction of the caller's (the
database cache's lock row would stay invisible to the others until it ends).
"""

from __future__ import annotations

import random
import time
import uuid

from django.core.cache import cache as default_cache

# How long a holder may keep the lock before another takes it (a process killed holding it).
LOCK_LEASE_SECONDS = 5
# How long an event waits for the lock before it is refused as if over the limit.
LOCK_WAIT_SECONDS = 5.0


class SlidingWindowLimit:
    def __init__(self, key: str, *, limit: int, window: float, cache=None) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("A rate limit needs a positive limit and window")
        self.key = key
        self.limit = limit
        self.window = float(window)
        self.cache = cache or default_cache

    def allow(self, *, now: float | None = None) -> bool:
        """Count one event if the window has room for it; False (not counted) if not."""
        lock = f"rate-lock:{self.key}"
        token = uuid.uuid4().hex
        if not self._lock(lock, token):
            return False
        try:
            now = time.time() if now is None else now
            kept = [t for t in self.cache.get(f"rate:{self.key}", ()) if t > now - self.window]
            allowed = len(kept) < self.limit
            if allowed:
                kept.append(now)
            self.cache.set(f"rate:{self.key}", kept, timeout=int(self.window) + 1)
            return allowed
        finally:
            # Not ours any more only if we outlived the lease, which a 5-second lease around
            # two cache round trips makes a crash's case, not a slow one's.
            if self.cache.get(lock) == token:
                self.cache.delete(lock)

    def _lock(self, lock: str, token: str) -> bool:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        wait = 0.002
        while not self.cache.add(lock, token, timeout=LOCK_LEASE_SECONDS):
            if time.monotonic() > deadline:
                return False
            time.sleep(wait * (0.5 + random.random()))
            wait = min(wait * 2, 0.05)
        return True
