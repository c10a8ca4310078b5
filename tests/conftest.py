from __future__ import annotations

from types import SimpleNamespace

import pytest

from aharally.workspaces.models import Role
from tests import passes
from tests.factories import add_member, make_user, make_workspace
from tests.integrations.wizard_support import TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_SITE

_MARKED_BUT_USES_DATABASE = pytest.StashKey[bool]()


@pytest.hookimpl(tryfirst=True)  # before -m selects by the marks
def pytest_collection_modifyitems(items) -> None:
    """Mark the tests that can't reach aharally's database `sandbox_only` (tests/passes.py):
    the PostgreSQL pass of `make test` leaves them to the SQLite pass."""
    for item in items:
        django_db = item.get_closest_marker("django_db") is not None
        if item.get_closest_marker("sandbox_only"):
            # Failed when it runs (below), not refused here: a collection error in a pytest-xdist
            # worker ends that worker without a word of why.
            item.stash[_MARKED_BUT_USES_DATABASE] = passes.uses_database(
                item.fixturenames, django_db=django_db
            )
        elif passes.sandbox_only(item.nodeid, item.fixturenames, django_db=django_db):
            item.add_marker(pytest.mark.sandbox_only)


class _RunningOrder:
    """The long-running files first (tests/passes.py): a plugin of its own, as a module holds
    one implementation of a hook and the marking above must come first."""

    @pytest.hookimpl(trylast=True)  # on what the -m selection kept
    def pytest_collection_modifyitems(self, items) -> None:
        items[:] = passes.in_running_order(items)


def pytest_configure(config) -> None:
    config.pluginmanager.register(_RunningOrder(), "aharally-running-order")


@pytest.fixture(autouse=True)
def _sandbox_only_never_uses_the_database(request):
    """A test marked sandbox_only by hand that uses aharally's database would skip the
    PostgreSQL pass: it fails instead, saying so."""
    if request.node.stash.get(_MARKED_BUT_USES_DATABASE, False):
        pytest.fail(
            f"{request.node.nodeid} is marked sandbox_only but uses aharally's database: "
            "it must run on both databases (remove the mark)"
        )


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Hashing passwords the production way costs ~0.3 s a user; tests need no such cost."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# Port 9 (discard): nothing listens on it, so a delivery fails at once, as on a clean machine.
NOWHERE = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def _site_away_from_the_demo(settings):
    """SITE_URL's default is the demo's address: a test sandbox would deliver its webhooks to a
    `make run` left running on :8000. Tests that want the deliveries set their live server."""
    settings.SITE_URL = NOWHERE


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


@pytest.fixture
def owner_client(client, cast):
    """Django's test client signed in as the workspace's owner."""
    client.force_login(cast.owner)
    return client


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


@pytest.fixture(autouse=True)
def _slots_given_back_after(django_db_blocker):
    """Give back the Rally request slots a test's sends and catch-ups set aside for their
    next request. Left to the process's return thread, they are given back after the test's
    database is gone, and each prints a "Database access not allowed" traceback."""
    yield
    from aharally.concurrency import slots

    with django_db_blocker.unblock():
        slots.give_back_idle()


@pytest.fixture(autouse=True)
def _live_server_closed_after(request):
    """Close the live server's gate (tests/live_gate.py) before the test database is flushed:
    no webhook delivery reaches a database being flushed, or the next test's."""
    if "live_server" not in request.fixturenames:
        yield
        return
    from tests.live_gate import LiveServerGate

    # Asked for here, the database is flushed after this fixture's teardown, not before it.
    request.getfixturevalue("transactional_db")
    gate = LiveServerGate.around(request.getfixturevalue("live_server"))
    gate.open()
    yield gate
    gate.close()


@pytest.fixture(autouse=True)
def _forget_webhooks_after(request):
    """Webhooks outlive the test database that registered them: remove them after each test
    that used the sync's sandbox, as its `rally_sandbox` (tests/sync, tests/scale, tests/ops…)
    or by name (tests/browser).

    Otherwise every later change in the shared sandbox is delivered to the dead live
    servers of earlier tests too, which is slow and fills the captured log.
    """
    yield
    if "sync_sandbox" not in request.fixturenames:
        return
    from tests.sync.support import sandbox_client

    with sandbox_client(request.getfixturevalue("sync_sandbox")) as client:
        for webhook in list(client.webhooks()):
            client.delete_webhook(str(webhook["ObjectUUID"]))


@pytest.fixture
def task_cluster(transactional_db):
    """A running django-q2 cluster on this test's database; stopped (or killed) after."""
    from tests.sync.cluster import TaskCluster

    cluster = TaskCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def _wizard_oauth_clients() -> dict[int, object]:
    """The sandboxes the wizard's OAuth client is registered at (by id; each kept alive)."""
    return {}


@pytest.fixture
def wizard_oauth_client(rally_sandbox, _wizard_oauth_clients):
    """The wizard's OAuth client, registered once at whichever sandbox `rally_sandbox` is."""
    from tests.integrations.wizard_support import register_oauth_client

    if id(rally_sandbox) not in _wizard_oauth_clients:
        register_oauth_client(
            rally_sandbox,
            client_id=TEST_CLIENT_ID,
            redirect_uris=[TEST_SITE + "/integrations/rally/oauth/callback"],
        )
        _wizard_oauth_clients[id(rally_sandbox)] = rally_sandbox
    return TEST_CLIENT_ID


@pytest.fixture
def wizard_settings(settings, rally_sandbox, wizard_oauth_client):
    """Settings for the integration wizard against the sandbox: its OAuth client, plain HTTP
    and loopback addresses allowed."""
    settings.SITE_URL = TEST_SITE
    settings.RALLY_OAUTH_CLIENT_ID = wizard_oauth_client
    settings.RALLY_OAUTH_CLIENT_SECRET = TEST_CLIENT_SECRET
    settings.RALLY_OAUTH_URL = rally_sandbox.base_url
    settings.RALLY_ALLOW_HTTP = True
    settings.RALLY_ALLOW_PRIVATE_ADDRESSES = True
    return settings


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
