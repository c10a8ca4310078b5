from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.factories import make_workspace
from tests.sync.cluster import TaskCluster
from tests.sync.support import connect, sandbox_client


@pytest.fixture(scope="session")
def rally_sandbox(sync_sandbox):
    """The sync's tests talk to their own sandbox (see tests/conftest.py)."""
    return sync_sandbox


@pytest.fixture
def task_cluster(transactional_db):
    """A running django-q2 cluster on this test's database; stopped (or killed) after."""
    cluster = TaskCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(autouse=True)
def _forget_webhooks_after(request):
    """Webhooks outlive the test database that registered them: remove them after each test.

    Otherwise every later change in the shared sandbox is delivered to the dead live
    servers of earlier tests too, which is slow and fills the captured log.
    """
    yield
    if "rally_sandbox" not in request.fixturenames:
        return
    sandbox = request.getfixturevalue("rally_sandbox")
    with sandbox_client(sandbox) as client:
        for webhook in list(client.webhooks()):
            client.delete_webhook(str(webhook["ObjectUUID"]))


@pytest.fixture
def template_group(cast, rally_sandbox):
    """What the product recommends: Platform's integration is the template, Company's is built
    on it, both on Rally project Platform, automatic import on."""
    from aharally.integrations.templates_service import use_as_template

    company = make_workspace("Company", "CO", owner=cast.owner)
    platform = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    use_as_template(integration=platform, by=cast.owner)
    platform.refresh_from_db()
    return SimpleNamespace(
        company=company,
        platform=platform,
        company_integration=connect(company, rally_sandbox, owner=cast.owner, template=platform),
    )
