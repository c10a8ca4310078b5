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
