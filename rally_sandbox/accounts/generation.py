"""In-process caches of what rarely changes, valid for one "generation" of the database.

A create used to look up, on every request, the caller's API key, the workspace and project of
its scope, the workspace's custom fields, its required-field rules and the webhooks: a dozen
SELECTs, each compiled by the ORM, for rows that change a few times a day. They are cached
here instead, keyed by a generation number stored in the database (the `sandbox_counter` row
`cache-generation`).

Saving or deleting one of the cached models (through the ORM, in any process: the server, the
`required-fields` command, the seed) bumps the generation once its transaction commits, so the
server's next request reads the new generation and loads afresh. Until then the writing
thread itself bypasses the caches, so it sees its own uncommitted change and never caches it.
A WSAPI request reads the generation once, at its start (`pinned`); code outside a request
reads it at each look-up. Cached values are shared between threads: callers must not change
them.

Queryset `.update()` sends no signal: the few that touch cached models (webhook delivery
statistics) change nothing a cache holds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection, transaction

COUNTER = "cache-generation"
MAX_KEYS = 10_000

_local = threading.local()


def read() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM sandbox_counter WHERE name = %s", [COUNTER])
        row = cursor.fetchone()
    return row[0] if row else 0


def current() -> int | None:
    """The generation to use now, or None when this thread must bypass the caches."""
    if getattr(_local, "bypass", False):
        return None
    pinned_value = getattr(_local, "pinned", None)
    return pinned_value if pinned_value is not None else read()


@contextmanager
def pinned() -> Iterator[None]:
    """One generation for the whole request: one SELECT instead of one per look-up."""
    _local.bypass = False
    _local.pinned = read()
    try:
        yield
    finally:
        _local.pinned = None
        _local.bypass = False


def _bump_now() -> None:
    with connection.cursor() as cursor:
        # One statement, safe against a second process creating the row at the same time.
        cursor.execute(
            "INSERT INTO sandbox_counter (name, value) VALUES (%s, 1) "
            "ON CONFLICT (name) DO UPDATE SET value = sandbox_counter.value + 1",
            [COUNTER],
        )
    _local.bypass = False


def changed(**_kwargs: Any) -> None:
    """Signal receiver: a cached model changed; new generation after the commit."""
    _local.bypass = True
    _local.pinned = None
    transaction.on_commit(_bump_now)


class GenerationCache:
    """A dict of loaded values, emptied when the generation moves on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._values: dict[Any, Any] = {}

    def get[T](self, key: Any, load: Callable[[], T]) -> T:
        generation = current()
        if generation is None:
            return load()
        with self._lock:
            # A new generation, or too many keys (random API keys probed): start afresh.
            if self._generation != generation or len(self._values) > MAX_KEYS:
                self._generation, self._values = generation, {}
            if key in self._values:
                return self._values[key]
        value = load()
        with self._lock:
            if self._generation == generation:
                self._values[key] = value
        return value


CACHE = GenerationCache()


def cached[T](key: Any, load: Callable[[], T]) -> T:
    return CACHE.get(key, load)


def connect_signals(*models: type) -> None:
    from django.db.models.signals import post_delete, post_save

    for model in models:
        post_save.connect(changed, sender=model, dispatch_uid=f"generation-save-{model.__name__}")
        post_delete.connect(
            changed, sender=model, dispatch_uid=f"generation-delete-{model.__name__}"
        )
