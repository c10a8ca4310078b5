"""The admin API's documented development key works in development mode only."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests

from tests.sandbox import ROOT, RallySandbox

pytestmark = pytest.mark.sandbox_only

DEV_KEY = "sandbox-admin-dev-key"
OFF = "The sandbox admin API is off: set RALLY_SANDBOX_ADMIN_KEY to a key of your own."


def list_faults(sandbox: RallySandbox, key: str | None) -> requests.Response:
    headers = {"X-Sandbox-Admin-Key": key} if key else {}
    return requests.get(f"{sandbox.base_url}/sandbox-admin/faults", headers=headers, timeout=30)


@pytest.fixture(scope="module")
def production_sandbox():
    """A sandbox started as outside development: no DEBUG, no RALLY_SANDBOX_ADMIN_KEY."""
    env = {"DEBUG": "false", "RALLY_SANDBOX_DEBUG": "false"}
    with RallySandbox(admin_key=False, env=env) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def development_sandbox():
    """A sandbox started as `make run` starts it: DEBUG=true, no RALLY_SANDBOX_ADMIN_KEY."""
    with RallySandbox(admin_key=False, env={"DEBUG": "true"}) as sandbox:
        yield sandbox


@pytest.mark.parametrize("key", [None, DEV_KEY, "any-guess"])
def test_outside_development_without_a_key_the_admin_api_is_off(production_sandbox, key):
    answer = list_faults(production_sandbox, key)
    assert answer.status_code == 403
    assert answer.json()["error"].startswith(OFF)
    # The rest of the sandbox works as ever.
    wsapi = production_sandbox.session().get(f"{production_sandbox.wsapi_url}/workspace")
    assert wsapi.json()["QueryResult"]["TotalResultCount"] == 2


def test_in_development_the_documented_key_opens_the_admin_api(development_sandbox):
    assert list_faults(development_sandbox, DEV_KEY).status_code == 200
    refused = list_faults(development_sandbox, "a-wrong-key")
    assert refused.status_code == 403
    assert refused.json()["error"] == "Send the sandbox admin key in X-Sandbox-Admin-Key."


def test_a_key_of_its_own_works_in_any_mode(rally_sandbox):
    assert list_faults(rally_sandbox, rally_sandbox.sandbox_admin_key).status_code == 200
    assert list_faults(rally_sandbox, DEV_KEY).status_code == 403


def admin_key_setting(**env: str) -> str:
    """RALLY_SANDBOX_ADMIN_KEY as the sandbox's settings resolve it in that environment."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "RALLY_SANDBOX_DEBUG", "RALLY_SANDBOX_ADMIN_KEY"}
    }
    script = "from rally_sandbox import settings as s; print(repr(s.RALLY_SANDBOX_ADMIN_KEY))"
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return result.stdout.strip()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "''"),
        ({"DEBUG": "true"}, repr(DEV_KEY)),
        ({"RALLY_SANDBOX_DEBUG": "true"}, repr(DEV_KEY)),
        # Set on purpose outside development, the documented key is still refused.
        ({"RALLY_SANDBOX_ADMIN_KEY": DEV_KEY}, "''"),
        ({"RALLY_SANDBOX_ADMIN_KEY": DEV_KEY, "DEBUG": "true"}, repr(DEV_KEY)),
        ({"RALLY_SANDBOX_ADMIN_KEY": "own-key-0123456789"}, "'own-key-0123456789'"),
    ],
)
def test_the_development_default_applies_only_in_development(env, expected):
    assert admin_key_setting(**env) == expected
