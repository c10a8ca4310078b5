"""Permission matrix for every record page that changes something.

Owners and contributors edit records; reviewers and viewers get 403; an outsider gets 404,
and nothing changes for anyone refused.
"""

from __future__ import annotations

import pytest

from aharally.records.models import Epic, Feature, Initiative, Release, Requirement
from aharally.records.services import create_epic, create_initiative
from tests.factories import make_feature, make_release, make_requirement, parking_lot

ROLES = ["owner", "contributor", "reviewer", "viewer", "outsider"]
EXPECTED = {"owner": 302, "contributor": 302, "reviewer": 403, "viewer": 403, "outsider": 404}


@pytest.fixture
def records(cast):
    feature = make_feature(cast.workspace, name="Original")
    return {
        "initiative": create_initiative(workspace=cast.workspace, name="Original"),
        "epic": create_epic(workspace=cast.workspace, name="Original"),
        "release": make_release(cast.workspace, name="Original"),
        "feature": feature,
        "requirement": make_requirement(feature, name="Original"),
    }


def _status(record):
    return record.status_id


# case name -> (url, data, model): a POST of data to url creates or renames a record of model.
def _cases(cast, records):
    lot = parking_lot(cast.workspace)
    r = records
    return {
        "initiative_create": ("/w/PLAT/initiatives/new/", {"name": "New"}, Initiative),
        "initiative_edit": (
            f"/w/PLAT/initiatives/{r['initiative'].reference}/edit/",
            {"name": "Renamed", "status": _status(r["initiative"])},
            Initiative,
        ),
        "epic_create": ("/w/PLAT/epics/new/", {"name": "New"}, Epic),
        "epic_edit": (
            f"/w/PLAT/epics/{r['epic'].reference}/edit/",
            {"name": "Renamed", "status": _status(r["epic"])},
            Epic,
        ),
        "release_create": ("/w/PLAT/releases/new/", {"name": "New"}, Release),
        "release_edit": (
            f"/w/PLAT/releases/{r['release'].reference}/edit/",
            {"name": "Renamed", "status": _status(r["release"])},
            Release,
        ),
        "feature_create": (
            "/w/PLAT/features/new/",
            {"name": "New", "release": lot.pk},
            Feature,
        ),
        "feature_edit": (
            f"/w/PLAT/features/{r['feature'].reference}/edit/",
            {"name": "Renamed", "status": _status(r["feature"]), "release": lot.pk},
            Feature,
        ),
        "requirement_create": (
            f"/w/PLAT/features/{r['feature'].reference}/requirements/new/",
            {"name": "New"},
            Requirement,
        ),
        "requirement_edit": (
            f"/w/PLAT/requirements/{r['requirement'].reference}/edit/",
            {"name": "Renamed", "status": _status(r["requirement"])},
            Requirement,
        ),
    }


CASES = [
    "initiative_create",
    "initiative_edit",
    "epic_create",
    "epic_edit",
    "release_create",
    "release_edit",
    "feature_create",
    "feature_edit",
    "requirement_create",
    "requirement_edit",
]


def _snapshot(model):
    return sorted(model.objects.values_list("pk", "name"))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", CASES)
def test_only_owners_and_contributors_change_records(client, cast, records, case, role):
    url, data, model = _cases(cast, records)[case]
    before = _snapshot(model)
    client.force_login(getattr(cast, role))
    response = client.post(url, data)
    assert response.status_code == EXPECTED[role], response.content.decode()[:2000]
    after = _snapshot(model)
    if EXPECTED[role] == 302:
        assert after != before
    else:
        assert after == before


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", CASES)
def test_the_edit_and_create_pages_follow_the_same_rules(client, cast, records, case, role):
    url, _, _ = _cases(cast, records)[case]
    client.force_login(getattr(cast, role))
    expected = {302: 200}.get(EXPECTED[role], EXPECTED[role])
    assert client.get(url).status_code == expected


@pytest.mark.parametrize(
    "path",
    [
        "initiatives/{initiative}/",
        "initiatives/{initiative}/edit/",
        "epics/{epic}/",
        "epics/{epic}/edit/",
        "releases/{release}/",
        "releases/{release}/edit/",
        "features/{feature}/edit/",
        "features/{feature}/requirements/new/",
        "requirements/{requirement}/edit/",
    ],
)
def test_an_outsider_gets_404_for_another_workspaces_records_by_reference(
    client, cast, records, path
):
    references = {name: record.reference for name, record in records.items()}
    client.force_login(cast.outsider)
    # Through the workspace's own URL, and through the outsider's workspace.
    assert client.get("/w/PLAT/" + path.format(**references)).status_code == 404
    assert client.get("/w/ELSE/" + path.format(**references)).status_code == 404
    # Lowercase references resolve the same way, and are refused the same way.
    assert client.get("/w/plat/" + path.format(**references).lower()).status_code == 404


@pytest.mark.parametrize("role", ["reviewer", "viewer"])
def test_readers_see_every_record_page_but_no_edit_buttons(client, cast, records, role):
    client.force_login(getattr(cast, role))
    for url in (
        "/w/PLAT/initiatives/",
        f"/w/PLAT/initiatives/{records['initiative'].reference}/",
        "/w/PLAT/epics/",
        f"/w/PLAT/epics/{records['epic'].reference}/",
        "/w/PLAT/releases/",
        f"/w/PLAT/releases/{records['release'].reference}/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert "/edit/" not in html and "/new/" not in html, url
