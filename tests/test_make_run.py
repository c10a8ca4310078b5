"""`make run` reads one configuration in every step: migrate and seed see the same .env as
the processes it starts."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Never install from a test: the environment is set up already.
NO_INSTALL = ["-o", ".venv/.installed", "-o", "node_modules/.installed"]


def make(*args: str, env_file: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("AHARALLY_TESTING", "DATABASE_URL")}
    return subprocess.run(
        ["make", "--no-print-directory", *NO_INSTALL, *args, f"ENV_FILE={env_file}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_migrate_and_seed_use_the_database_of_the_env_file(tmp_path):
    database = tmp_path / "elsewhere.sqlite3"
    env_file = tmp_path / ".env"
    env_file.write_text(f"DATABASE_URL=sqlite:///{database}\n")

    first = make("prepare", env_file=env_file)
    assert first.returncode == 0, first.stderr
    with sqlite3.connect(database) as db:
        emails = {row[0] for row in db.execute("SELECT email FROM auth_user")}
        features = db.execute("SELECT count(*) FROM records_feature").fetchone()[0]
    assert "alice@example.com" in emails
    assert features == 40

    again = make("prepare", env_file=env_file)
    assert again.returncode == 0, again.stderr
    assert "the demo is not seeded again" in again.stdout


def test_every_step_of_make_run_is_given_the_env_file(tmp_path):
    env_file = tmp_path / ".env"
    plan = make("-n", "run", env_file=env_file)
    assert plan.returncode == 0, plan.stderr
    steps = [line for line in plan.stdout.splitlines() if "manage.py" in line or "honcho" in line]
    assert any("manage.py migrate" in s for s in steps)
    assert any("manage.py seed_demo" in s for s in steps)
    assert any("honcho start" in s for s in steps)
    assert all(f"--env {env_file}" in step for step in steps), steps
