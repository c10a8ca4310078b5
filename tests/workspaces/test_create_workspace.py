from __future__ import annotations

import pytest

from aharally.records.models import Release
from aharally.workspaces.models import Membership, Role, WorkflowStatus, Workspace
from tests.factories import make_user


@pytest.mark.django_db
def test_a_user_without_a_workspace_is_offered_to_create_one(client):
    client.force_login(make_user())
    response = client.get("/")
    assert "create a workspace" in response.content.decode()


@pytest.mark.django_db
def test_a_user_creates_a_workspace_and_becomes_its_owner(client):
    user = make_user()
    client.force_login(user)
    response = client.post("/workspaces/new/", {"name": "Mobile", "prefix": "mob"})
    workspace = Workspace.objects.get(prefix="MOB")
    assert response.status_code == 302
    assert response["Location"] == "/w/MOB/features/board/"
    assert Membership.objects.get(workspace=workspace).role == Role.OWNER
    assert Release.objects.get(workspace=workspace).is_parking_lot
    assert WorkflowStatus.objects.filter(workspace=workspace, record_type="feature").count() == 6


def test_a_duplicate_prefix_is_refused_with_a_message(client, cast):
    client.force_login(make_user())
    response = client.post("/workspaces/new/", {"name": "Copy", "prefix": "plat"})
    assert response.status_code == 200
    assert "already used by another workspace" in response.content.decode()
    assert Workspace.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("prefix", ["1AB", "A", "TOO-LONG", "ABCDEFGHIJK"])
def test_an_invalid_prefix_is_refused_with_a_message(client, prefix):
    client.force_login(make_user())
    response = client.post("/workspaces/new/", {"name": "Bad", "prefix": prefix})
    assert response.status_code == 200
    assert 'class="field-error"' in response.content.decode()
    assert not Workspace.objects.exists()


@pytest.mark.django_db
def test_creating_a_workspace_needs_a_signed_in_user(client):
    response = client.post("/workspaces/new/", {"name": "Mobile", "prefix": "MOB"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert not Workspace.objects.exists()
