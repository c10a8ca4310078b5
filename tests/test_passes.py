"""Which pass of `make test` runs a test (tests/passes.py)."""

import subprocess
import sys
from pathlib import Path

from tests.passes import sandbox_only

ROOT = Path(__file__).resolve().parent.parent


def test_a_client_test_that_uses_no_database_runs_in_the_sqlite_pass_alone():
    assert sandbox_only("tests/rally/test_query.py::test_x", ["request"], django_db=False)
    assert sandbox_only(
        "tests/rally_sandbox/test_tls.py::test_y", ["rally_sandbox"], django_db=False
    )


def test_a_test_that_can_reach_aharallys_database_runs_in_both_passes():
    node = "tests/rally_sandbox/webhooks/test_deliveries.py::test_z"
    assert not sandbox_only(node, ["rally_sandbox"], django_db=True)
    for fixture in ("db", "transactional_db", "live_server"):
        assert not sandbox_only(node, ["rally_sandbox", fixture], django_db=False)


def test_tests_elsewhere_run_in_both_passes_even_without_a_database():
    assert not sandbox_only("tests/sync/test_mapping.py::test_w", ["request"], django_db=False)
    assert not sandbox_only("tests/rallyx/test_a.py::test_v", [], django_db=False)


def test_the_postgresql_pass_leaves_the_sandbox_only_tests_to_the_sqlite_pass():
    """Collected with the PostgreSQL pass's -m, a client test is left out and a test of the
    sync's mapping (no database either, but not of the client) stays; the SQLite pass's -m
    keeps both."""
    files = ["tests/rally/test_objects.py", "tests/sync/test_mapping.py"]

    def collected(marks: str) -> set[str]:
        answer = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
             "-m", marks, *files],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        return {line.split("::")[0] for line in answer.stdout.splitlines() if "::" in line}

    makefile = (ROOT / "Makefile").read_text()
    sqlite, postgresql = '"not postgres_only and not redis"', '"not redis and not sandbox_only"'
    assert f"-m {sqlite}" in makefile and f"-m {postgresql}" in makefile
    assert collected(sqlite.strip('"')) == set(files)
    assert collected(postgresql.strip('"')) == {files[1]}


def test_the_long_running_files_start_first_and_each_file_stays_together():
    """Collected as `make test` collects, the long-running file comes first though collected
    last and with fewer tests; the others follow, most tests first, each file whole."""
    files = [
        "tests/rally/test_objects.py",
        "tests/sync/test_mapping.py",
        "tests/test_benches.py",  # long_running, one test
    ]
    answer = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-m", "not postgres_only and not redis", *files],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    order = [line.split("::")[0] for line in answer.stdout.splitlines() if "::" in line]
    runs = [file for n, file in enumerate(order) if n == 0 or order[n - 1] != file]
    counts = {file: order.count(file) for file in files}
    assert runs[0] == "tests/test_benches.py" and counts["tests/test_benches.py"] == 1
    assert sorted(runs) == sorted(files)  # each file in one run of its tests
    assert counts[runs[1]] >= counts[runs[2]]
    assert "--no-loadscope-reorder" in (ROOT / "Makefile").read_text()
