from __future__ import annotations

from types import SimpleNamespace

import pytest

from aharally.workspaces.models import Role
from tests.factories import add_member, make_user, make_workspace


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Hashing passwords the production way costs ~0.3 s a user; tests need no such cost."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def cast(db):
    """A workspace with one user per role, plus an outsider who belongs to another workspace."""
    owner = make_user("owner@example.com")
    workspace = make_workspace("Platform", "PLAT", owner=owner)
    people = {"owner": owner}
    for role in (Role.CONTRIBUTOR, Role.REVIEWER, Role.VIEWER):
        user = make_user(f"{role}@example.com")
        add_member(workspace, user, role)
        people[str(role)] = user
    outsider = make_user("outsider@example.com")
    other = make_workspace("Elsewhere", "ELSE", owner=outsider)
    people["outsider"] = outsider
    return SimpleNamespace(workspace=workspace, other_workspace=other, **people)


@pytest.fixture(scope="session")
def rally_sandbox():
    """The Rally sandbox running as a real HTTP server (fresh database) for the whole session."""
    from tests.sandbox import RallySandbox

    with RallySandbox(env={"RALLY_SANDBOX_QUERY_COUNT_HEADER": "true"}) as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
def sync_sandbox():
    """A second sandbox for the sync's tests: what they create and the faults they inject
    never reach the sandbox's own contract tests, which count its demo data."""
    from tests.sandbox import RallySandbox

    with RallySandbox() as sandbox:
        yield sandbox


@pytest.fixture
def faults(rally_sandbox):
    """Inject the sandbox's faults (docs/rally-sandbox.md); the list is cleared before and after
    the test. Returns the faults added, as the sandbox lists them.

    `faults({"kind": "status", "status": 503}, …)` adds several at once, all or none;
    `faults(kind="latency", ms=3000)` adds one and returns it alone. It talks to whichever
    sandbox the test's `rally_sandbox` is (the sync's tests have their own).
    """

    def add(*specs: dict, **fault):
        assert not (specs and fault), "faults(spec, …) or faults(**spec), not both"
        response = rally_sandbox.admin("POST", "/sandbox-admin/faults", json=list(specs) or fault)
        assert response.status_code == 201, response.text
        added = response.json()["added"]
        return added[0] if fault else added

    assert rally_sandbox.admin("DELETE", "/sandbox-admin/faults").status_code == 200
    yield add
    rally_sandbox.admin("DELETE", "/sandbox-admin/faults")
