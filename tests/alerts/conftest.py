from __future__ import annotations

import pytest

from aharally.workspaces.models import Role
from tests.factories import add_member, make_user


@pytest.fixture(scope="session")
def rally_sandbox(sync_sandbox):
    """The alerts' tests run the sync, so they talk to the sync's sandbox."""
    return sync_sandbox


@pytest.fixture
def second_owner(cast):
    """Owners are told each: the cast's owner and this one."""
    owner = make_user("second-owner@example.com")
    add_member(cast.workspace, owner, Role.OWNER)
    return owner
