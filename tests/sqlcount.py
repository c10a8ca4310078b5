"""Counting SQL statements on every connection of this process, the drain's threads included.

`CaptureQueriesContext` sees one connection (the calling thread's); a drain sends its rows from
a thread pool, each thread with its own connection. This counts on all of them: on the
connections already open (this thread's) and on each opened while counting
(`connection_created`).
"""

from __future__ import annotations

import threading
from collections import Counter

from django.db import connection
from django.db.backends.signals import connection_created


class CountingStatements:
    """`with CountingStatements() as counted:` … `counted.total`, `counted.by_kind`."""

    def __init__(self) -> None:
        self.total = 0
        self.by_kind: Counter[str] = Counter()
        self.statements: list[str] = []
        # The statements run on other threads than the one counting (a drain's pool).
        self.on_other_threads: list[str] = []
        self._counting_thread = threading.get_ident()
        self._lock = threading.Lock()
        self._active = False

    def _wrapper(self, execute, sql, params, many, context):
        if self._active:
            with self._lock:
                self.total += 1
                self.by_kind[sql.split(None, 1)[0].upper() if sql else "?"] += 1
                self.statements.append(sql)
                if threading.get_ident() != self._counting_thread:
                    self.on_other_threads.append(sql)
        return execute(sql, params, many, context)

    def _install(self, sender, connection, **kwargs) -> None:
        if self._wrapper not in connection.execute_wrappers:
            connection.execute_wrappers.append(self._wrapper)

    def __enter__(self) -> CountingStatements:
        self._active = True
        connection_created.connect(self._install, weak=False)
        self._install(None, connection)
        return self

    def __exit__(self, *exc) -> None:
        self._active = False
        connection_created.disconnect(self._install)
        if self._wrapper in connection.execute_wrappers:
            connection.execute_wrappers.remove(self._wrapper)
