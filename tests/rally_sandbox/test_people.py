"""Many users at once through the admin API, then read back as Rally clients read them."""

from __future__ import annotations

import pytest
import requests

from tests.sandbox import RallySandbox

pytestmark = pytest.mark.sandbox_only


@pytest.fixture(scope="module")
def crowded():
    """A sandbox of its own: the shared one's contract tests count its demo users."""
    with RallySandbox() as sandbox:
        yield sandbox


def _users(sandbox, **params):
    response = requests.get(
        sandbox.wsapi_url + "/users",
        params={"fetch": "EmailAddress,DisplayName", "pagesize": 2000, **params},
        headers={"ZSESSIONID": sandbox.api_key},
        timeout=30,
    )
    return response.json()["QueryResult"]


def test_users_added_in_bulk_are_queried_and_paged_like_rally_users(crowded):
    before = _users(crowded)["TotalResultCount"]
    people = [
        {"email": f"bulk{n}@example.com", "first_name": "Bulk", "last_name": str(n)}
        for n in range(2500)
    ]
    assert crowded.add_users(people) == 2500
    assert crowded.add_users(people[:10]) == 0  # already there: skipped

    first = _users(crowded)
    assert first["TotalResultCount"] == before + 2500
    assert len(first["Results"]) == 2000
    second = _users(crowded, start=2001)
    assert len(second["Results"]) == before + 500
    found = _users(crowded, query='(EmailAddress = "bulk7@example.com")')["Results"]
    assert [u["DisplayName"] for u in found] == ["Bulk 7"]


@pytest.mark.parametrize(
    "body",
    [{"users": "x"}, {"users": [{"email": "no-at-sign"}]}, {"users": [1]}, []],
)
def test_bad_users_are_refused_with_a_reason_and_nothing_is_added(crowded, body):
    before = _users(crowded)["TotalResultCount"]
    response = crowded.admin("POST", "/sandbox-admin/users", json=body)
    assert response.status_code == 400
    assert response.json()["error"]
    assert _users(crowded)["TotalResultCount"] == before


def _query(sandbox, type_path: str, **params):
    response = requests.get(
        f"{sandbox.wsapi_url}/{type_path}",
        params={"pagesize": 2000, **params},
        headers={"ZSESSIONID": sandbox.api_key},
        timeout=30,
    )
    return response.json()["QueryResult"]


def test_who_may_see_a_project_is_queried_as_on_rally_with_the_user_hydrated(crowded):
    crowded.add_users(
        [
            {"email": "viewer@example.com", "projects": {"Mobile": "Viewer"}},
            {"email": "mobile-admin@example.com", "workspaces": {"Engineering": "Admin"}},
        ]
    )
    mobile = _query(crowded, "project", query='(Name = "Mobile")', fetch="ObjectID")
    oid = mobile["Results"][0]["ObjectID"]

    found = _query(
        crowded,
        "projectpermission",
        query=f"((Project.ObjectID = {oid}) AND (User.Disabled = false))",
        fetch="Role,User,EmailAddress,ObjectID",
    )
    roles = {p["User"]["EmailAddress"]: p["Role"] for p in found["Results"]}
    assert roles == {"developer@example.com": "Editor", "viewer@example.com": "Viewer"}
    assert all(p["_refObjectName"] == "Mobile" for p in found["Results"])
    assert all(isinstance(p["User"]["ObjectID"], int) for p in found["Results"])

    admins = _query(
        crowded, "workspacepermission", query='(Role = "Admin")', fetch="Role,User,EmailAddress"
    )
    assert [p["User"]["EmailAddress"] for p in admins["Results"]] == ["mobile-admin@example.com"]

    # a role changes in place: one permission a user and project
    crowded.add_users([{"email": "viewer@example.com", "projects": {"Mobile": "Editor"}}])
    again = _query(crowded, "projectpermission", query=f"(Project.ObjectID = {oid})", fetch="Role")
    assert sorted(p["Role"] for p in again["Results"]) == ["Editor", "Editor"]


@pytest.mark.parametrize(
    "person",
    [
        {"email": "x@example.com", "projects": {"Platform": "Owner"}},
        {"email": "x@example.com", "projects": {"No such project": "Editor"}},
        {"email": "x@example.com", "projects": ["Platform"]},
        {"email": "x@example.com", "workspaces": {"Engineering": "Editor"}},
    ],
)
def test_bad_permissions_are_refused_with_a_reason_and_nothing_is_added(crowded, person):
    before = _users(crowded)["TotalResultCount"]
    response = crowded.admin("POST", "/sandbox-admin/users", json={"users": [person]})
    assert response.status_code == 400
    assert response.json()["error"]
    assert _users(crowded)["TotalResultCount"] == before
