"""Settings come from the environment and refuse what makes no sense, loudly."""

from __future__ import annotations

import os
import subprocess
import sys

from django.conf import settings


def _start(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"AHARALLY_TESTING", "DEBUG"}}
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "DJANGO_SETTINGS_MODULE": "aharally.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=settings.BASE_DIR,
    )


def test_the_web_server_refuses_to_start_without_a_secret_key():
    result = _start("import aharally.wsgi", SECRET_KEY="")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_the_web_server_starts_with_a_secret_key():
    from cryptography.fernet import Fernet

    result = _start(
        "import aharally.wsgi; print('ready')",
        SECRET_KEY="a-private-value",
        AHARALLY_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
    )
    assert result.returncode == 0, result.stderr
    assert "ready" in result.stdout


def test_a_nonsense_boolean_names_the_variable():
    result = _start("import django; django.setup()", DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_the_development_key_is_refused_without_debug():
    result = _start(
        "import django; django.setup()",
        SECRET_KEY="insecure-development-key-do-not-use-in-production",
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set to a private value" in result.stderr


def test_a_stall_limit_that_would_restart_a_healthy_task_cluster_is_refused():
    result = _start("import django; django.setup()", CLUSTER_STALL_SECONDS="1")
    assert result.returncode != 0
    assert "CLUSTER_STALL_SECONDS must be at least 5" in result.stderr
