"""The image and the compose file (no Docker engine here): what they name exists, and the
entry point's dispatch runs each command it should."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "scripts" / "docker-entrypoint"


def _dispatch(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ENTRYPOINT), *args],
        env={**os.environ, "ENTRYPOINT_DRY_RUN": "1", **env},
        capture_output=True,
        text=True,
        timeout=10,
    )


def test_the_entrypoint_is_executable_and_is_the_images_entrypoint():
    assert os.access(ENTRYPOINT, os.X_OK)
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["scripts/docker-entrypoint"]' in dockerfile
    assert 'CMD ["web"]' in dockerfile
    for source in re.findall(r"^COPY (\S+) ", dockerfile, re.MULTILINE):
        if not source.startswith("--"):
            assert (ROOT / source).exists() or source == ".", source


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("web",), "gunicorn aharally.wsgi --bind 0.0.0.0:8000 --workers 3"),
        ((), "gunicorn aharally.wsgi --bind 0.0.0.0:8000 --workers 3"),
        (("worker",), "python manage.py qcluster"),
        (("migrate",), "python manage.py migrate --no-input && python manage.py createcachetable"),
        (("metrics",), "python manage.py serve_metrics"),
        (("healthcheck", "worker"), "python manage.py check_heartbeat"),
        (("manage", "check", "--deploy"), "python manage.py check --deploy"),
        (("sandbox", "--port", "8001"), "python -m rally_sandbox run --port 8001"),
    ],
)
def test_the_entrypoint_runs_each_command(args, expected):
    result = _dispatch(*args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_the_web_command_takes_its_port_and_workers_from_the_environment():
    result = _dispatch("web", PORT="9000", WEB_CONCURRENCY="5")
    assert result.stdout.strip() == "gunicorn aharally.wsgi --bind 0.0.0.0:9000 --workers 5"


def test_the_web_healthcheck_asks_the_given_path():
    result = _dispatch("healthcheck", "web", "/readyz?check=database")
    assert "http://127.0.0.1:8000/readyz?check=database" in result.stdout


def test_an_unknown_command_is_refused_with_the_usage():
    result = _dispatch("serve")
    assert result.returncode == 2
    assert "usage:" in result.stderr


def test_the_commands_the_entrypoint_runs_exist():
    from django.core.management import get_commands

    commands = get_commands()
    for name in ("qcluster", "migrate", "createcachetable", "serve_metrics", "check_heartbeat"):
        assert name in commands, name
    assert commands["qcluster"] == "aharally.taskcluster"
    assert (ROOT / "gunicorn.conf.py").exists()


def test_the_compose_file_runs_web_two_workers_postgres_and_redis_with_healthchecks():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"web", "worker", "postgres", "redis", "migrate"} <= set(services)
    assert services["web"]["command"] == ["web"]
    assert services["worker"]["command"] == ["worker"]
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["migrate"]["command"] == ["migrate"]
    for name in ("web", "worker"):
        environment = services[name]["environment"]
        assert environment["REDIS_URL"].startswith("redis://redis:")
        assert environment["DATABASE_URL"].startswith("postgres://")
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
        assert "metrics:/var/lib/aharally/metrics" in services[name]["volumes"]
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    assert services["worker"]["healthcheck"]["test"][1:] == [
        "scripts/docker-entrypoint",
        "healthcheck",
        "worker",
    ]
    assert "/readyz" in " ".join(services["readiness"]["healthcheck"]["test"])
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"]


@pytest.mark.django_db
def test_the_worker_healthcheck_passes_only_with_a_heartbeat_on_this_host():
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from aharally.ops.heartbeat import beat

    with pytest.raises(CommandError, match="No task cluster"):
        call_command("check_heartbeat")
    beat("here")
    call_command("check_heartbeat")


def test_the_migrate_command_really_migrates_and_makes_the_cache_table(tmp_path):
    database = tmp_path / "db.sqlite3"
    result = subprocess.run(
        [str(ENTRYPOINT), "migrate"],
        cwd=ROOT,
        env={
            **os.environ,
            # The image's `python` is the one with the requirements: here, this venv's.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "AHARALLY_TESTING": "true",
            "DATABASE_URL": f"sqlite:///{database}",
        },
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    tables = {row[0] for row in sqlite3.connect(database).execute("SELECT name FROM sqlite_master")}
    assert {"ops_clusterheartbeat", "aharally_cache", "sync_outboxitem"} <= tables
