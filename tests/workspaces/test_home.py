from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from aharally.workspaces.models import Role
from tests.factories import add_member, make_feature, make_user, make_workspace


def _home_queries(client) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/").content.decode()
    return len(queries), page


@pytest.mark.django_db
def test_home_shows_each_workspace_with_the_users_role_and_counts(client):
    user = make_user()
    platform = make_workspace("Platform", "PLAT", owner=user)
    mobile = make_workspace("Mobile", "MOB")
    add_member(mobile, user, Role.VIEWER)
    add_member(platform, make_user(), Role.CONTRIBUTOR)
    for _ in range(3):
        make_feature(platform)
    client.force_login(user)
    _, page = _home_queries(client)
    assert "3 features" in page and "2 members" in page
    assert "Owner" in page and "Viewer" in page
    assert page.count("/settings/") == 1  # settings only where the user is an owner


@pytest.mark.django_db
def test_home_takes_the_same_number_of_queries_however_many_workspaces(client):
    user = make_user()
    client.force_login(user)
    for index in range(2):
        workspace = make_workspace(f"W{index}", owner=user)
        make_feature(workspace)
    few, _ = _home_queries(client)
    for index in range(2, 8):
        workspace = make_workspace(f"W{index}", owner=user)
        make_feature(workspace)
    many, page = _home_queries(client)
    assert page.count('class="workspace-card"') == 8
    assert few == many


@pytest.mark.django_db
def test_a_member_of_one_workspace_goes_straight_to_its_board(client):
    user = make_user()
    make_workspace("Platform", "PLAT", owner=user)
    client.force_login(user)
    assert client.get("/")["Location"] == "/w/PLAT/features/board/"
