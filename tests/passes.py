"""Which pass of `make test` runs a test: tests that never touch aharally's database run once.

`make test` runs the suite on SQLite, then on PostgreSQL. The Rally client's tests and the
sandbox's (tests/rally, tests/rally_sandbox) talk to the sandbox, a process with a database
of its own, and most of them never open aharally's: they run the same whichever database
aharally has, so the PostgreSQL pass leaves them to the SQLite pass. The conftest marks them
`sandbox_only` at collection, from what they use: a test of those directories that asks
for a database fixture runs in both passes. A test elsewhere (a browser test of the sandbox's
pages) may be marked by hand; marked, it must not use the database.

Within a pass, the two pytest-xdist workers take files one at a time. The files marked
`long_running` (a minute or more of task clusters, faults and schedules, mostly waiting)
start first: left to the end, as pytest-xdist's default order (most tests first) left them,
one worker ran them alone for minutes while the other had finished.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

DIRECTORIES = ("tests/rally/", "tests/rally_sandbox/")
# pytest-django opens aharally's database only for the django_db mark or these fixtures
# (live_server's requests reach it too).
DATABASE_FIXTURES = frozenset(
    {
        "db",
        "transactional_db",
        "django_db_reset_sequences",
        "django_db_serialized_rollback",
        "live_server",
    }
)


def uses_database(fixturenames: Iterable[str], *, django_db: bool) -> bool:
    """Whether a test can reach aharally's database (pytest-django blocks it otherwise)."""
    return django_db or not DATABASE_FIXTURES.isdisjoint(fixturenames)


def sandbox_only(nodeid: str, fixturenames: Iterable[str], *, django_db: bool) -> bool:
    """Whether a test runs in the SQLite pass alone: it is of the Rally client or the sandbox
    and can't reach aharally's database. (A test elsewhere may be marked by hand.)"""
    return nodeid.startswith(DIRECTORIES) and not uses_database(fixturenames, django_db=django_db)


def in_running_order(items: Sequence) -> list:
    """The files marked `long_running` first, then the others by number of tests, most
    first (pytest-xdist's own order, turned off with --no-loadscope-reorder so that this one
    holds); a file's tests stay together, in their order."""
    files: dict[str, list] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::", 1)[0], []).append(item)

    def long_running(tests: list) -> bool:
        return any(test.get_closest_marker("long_running") for test in tests)

    ordered = sorted(files.values(), key=lambda tests: (not long_running(tests), -len(tests)))
    return [test for tests in ordered for test in tests]
