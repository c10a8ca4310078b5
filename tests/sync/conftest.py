from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.factories import make_workspace
from tests.sync.support import connect


@pytest.fixture(scope="session")
def rally_sandbox(sync_sandbox):
    """The sync's tests talk to their own sandbox (see tests/conftest.py)."""
    return sync_sandbox


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


@pytest.fixture
def machine_settings(settings):
    """The state machine's settings: no typing pause, no waiting for due rows, room to drain."""
    settings.SYNC_RICH_TEXT_QUIET_SECONDS = 0
    settings.SYNC_DRAIN_WAIT_SECONDS = 0
    settings.SYNC_DRAIN_BUDGET_SECONDS = 60
    return settings
