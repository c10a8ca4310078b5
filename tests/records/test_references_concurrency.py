"""Reference numbers stay unique and gap-free when features are created at the same time.

Each thread has its own database connection. On PostgreSQL the creations really overlap
and the conditional UPDATE in references.take_number is what keeps numbers apart. SQLite
serialises writers anyway; its in-memory test database (shared cache) fails a waiting
writer at once with "table is locked" instead of honouring the busy timeout as a database
file does, so there the threads take turns and the test only checks the bookkeeping.
"""

from __future__ import annotations

import contextlib
import threading

import pytest
from django.db import connection, connections

from aharally.records.models import Feature
from aharally.records.services import create_feature
from tests.factories import make_workspace, parking_lot

THREADS = 6
PER_THREAD = 5


@pytest.mark.django_db(transaction=True)
def test_features_created_from_several_threads_get_unique_gap_free_numbers():
    workspace = make_workspace("Platform", "PLAT")
    release = parking_lot(workspace)
    barrier = threading.Barrier(THREADS, timeout=30)
    errors: list[BaseException] = []
    turns = threading.Lock() if connection.vendor == "sqlite" else contextlib.nullcontext()

    def work(index: int) -> None:
        try:
            barrier.wait()
            for n in range(PER_THREAD):
                with turns:
                    create_feature(workspace=workspace, release=release, name=f"T{index} F{n}")
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    numbers = sorted(Feature.objects.filter(workspace=workspace).values_list("number", flat=True))
    total = THREADS * PER_THREAD
    assert numbers == list(range(1, total + 1))
    references = set(Feature.objects.values_list("reference", flat=True))
    assert references == {f"PLAT-{n}" for n in range(1, total + 1)}
    workspace.refresh_from_db()
    assert workspace.next_feature_number == total + 1
