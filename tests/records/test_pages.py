"""Record pages: lists, details, create and edit of initiatives, epics, releases, features."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from aharally.records.models import Epic, Feature, Initiative, Release, Requirement
from aharally.records.services import create_epic, create_initiative
from aharally.workspaces.models import Role
from tests.factories import (
    add_member,
    make_feature,
    make_release,
    make_requirement,
    make_user,
    make_workspace,
    parking_lot,
)


def test_a_contributor_creates_an_initiative_and_lands_on_its_page(client, cast):
    client.force_login(cast.contributor)
    response = client.post(
        "/w/PLAT/initiatives/new/",
        {"name": "Grow revenue", "start_date": "2027-01-01", "due_date": "2027-06-30"},
    )
    initiative = Initiative.objects.get()
    assert response["Location"] == "/w/PLAT/initiatives/PLAT-I-1/"
    assert (initiative.reference, initiative.created_by) == ("PLAT-I-1", cast.contributor)
    assert initiative.status.name == "Not started"
    page = client.get(response["Location"]).content.decode()
    assert "Grow revenue" in page and "2027-06-30" in page


def test_editing_an_initiative_writes_its_history_shown_on_the_page(client, cast):
    initiative = create_initiative(workspace=cast.workspace, name="Grow")
    on_track = cast.workspace.statuses.get(record_type="initiative", name="On track")
    client.force_login(cast.contributor)
    response = client.post(
        f"/w/PLAT/initiatives/{initiative.reference}/edit/",
        {"name": "Grow revenue", "status": on_track.pk},
    )
    assert response["Location"] == f"/w/PLAT/initiatives/{initiative.reference}/"
    page = client.get(response["Location"]).content.decode()
    assert "contributor@example.com" in page
    assert "Not started" in page and "On track" in page
    assert "Grow revenue" in page


def test_an_initiatives_page_lists_its_features_from_every_workspace_the_viewer_belongs_to(
    client, cast
):
    company = make_workspace("Company", "CO", owner=cast.owner)
    initiative = create_initiative(workspace=company, name="Win enterprise")
    mine = make_feature(cast.workspace, name="SSO", initiative=initiative)
    hidden = make_feature(cast.other_workspace, name="Secret plan", initiative=initiative)
    client.force_login(cast.owner)
    page = client.get(f"/w/CO/initiatives/{initiative.reference}/").content.decode()
    assert mine.reference in page and "SSO" in page
    assert f'href="/w/PLAT/features/{mine.reference}/"' in page  # linked in its own workspace
    assert "Platform" in page  # the feature's workspace is named
    assert hidden.reference not in page and "Secret plan" not in page
    listing = client.get("/w/CO/initiatives/").content.decode()
    assert '<td class="num">1</td>' in listing


def test_a_release_page_lists_its_features_and_marks_parking_lots(client, cast):
    lot = parking_lot(cast.workspace)
    release = make_release(cast.workspace, name="Spring")
    planned = make_feature(cast.workspace, release=release, name="Planned thing")
    unplanned = make_feature(cast.workspace, release=lot, name="Someday thing")
    client.force_login(cast.viewer)
    spring = client.get(f"/w/PLAT/releases/{release.reference}/").content.decode()
    assert "Planned thing" in spring and "Someday thing" not in spring
    assert "parking lot</span></h1>" not in spring
    parked = client.get(f"/w/PLAT/releases/{lot.reference}/").content.decode()
    assert "Someday thing" in parked and "parking lot</span></h1>" in parked
    listing = client.get("/w/PLAT/releases/").content.decode()
    assert listing.index("Spring") < listing.index("Parking lot")
    assert planned.reference in spring and unplanned.reference in parked


def test_a_contributor_creates_a_release_and_an_epic(client, cast):
    client.force_login(cast.contributor)
    client.post(
        "/w/PLAT/releases/new/",
        {"name": "2027.1", "start_date": "2027-01-01", "release_date": "2027-03-31"},
    )
    release = Release.objects.get(name="2027.1")
    assert release.reference == "PLAT-R-2"
    response = client.post("/w/PLAT/epics/new/", {"name": "Search", "release": release.pk})
    epic = Epic.objects.get()
    assert response["Location"] == f"/w/PLAT/epics/{epic.reference}/"
    assert (epic.reference, epic.release) == ("PLAT-E-1", release)


def test_an_epic_page_lists_its_features(client, cast):
    epic = create_epic(workspace=cast.workspace, name="Search")
    make_feature(cast.workspace, name="Fuzzy search", epic=epic)
    make_feature(cast.workspace, name="Unrelated")
    client.force_login(cast.viewer)
    page = client.get(f"/w/PLAT/epics/{epic.reference}/").content.decode()
    assert "Fuzzy search" in page and "Unrelated" not in page


def test_a_feature_is_created_in_the_chosen_release_with_tags(client, cast):
    release = make_release(cast.workspace, name="Spring")
    tag = cast.workspace.tags.create(name="ux")
    client.force_login(cast.contributor)
    form = client.get(f"/w/PLAT/features/new/?release={release.reference}").content.decode()
    assert f'<option value="{release.pk}" selected>' in form
    response = client.post(
        "/w/PLAT/features/new/",
        {
            "name": "Dark mode",
            "release": release.pk,
            "tags": [tag.pk],
            "description": "<p>Hi<script>alert(1)</script></p>",
        },
    )
    feature = Feature.objects.get()
    assert response["Location"] == f"/w/PLAT/features/{feature.reference}/edit/"
    assert (feature.release, list(feature.tags.all())) == (release, [tag])
    assert feature.description == "<p>Hi</p>"


def test_editing_a_feature_keeps_history_and_lists_requirements(client, cast):
    feature = make_feature(cast.workspace, name="Dark mode")
    make_requirement(feature, name="Contrast check")
    client.force_login(cast.contributor)
    client.post(
        f"/w/PLAT/features/{feature.reference}/edit/",
        {"name": "Dark theme", "release": feature.release_id, "status": feature.status_id},
    )
    page = client.get(f"/w/PLAT/features/{feature.reference}/edit/").content.decode()
    assert "Contrast check" in page
    assert "Dark mode" in page and "Dark theme" in page  # from → to in the history


def test_moving_a_feature_to_another_release_on_its_edit_page_puts_it_last_there(client, cast):
    release = make_release(cast.workspace, name="2027.1")
    first, second = make_feature(cast.workspace, release), make_feature(cast.workspace, release)
    moved = make_feature(cast.workspace, name="Moved")
    client.force_login(cast.contributor)
    client.post(
        f"/w/PLAT/features/{moved.reference}/edit/",
        {"name": "Moved", "release": release.pk, "status": moved.status_id},
    )
    column = list(Feature.objects.filter(release=release).order_by("rank"))
    assert column == [first, second, moved]


def test_requirements_are_created_and_edited_under_their_feature(client, cast):
    feature = make_feature(cast.workspace)
    client.force_login(cast.contributor)
    response = client.post(
        f"/w/PLAT/features/{feature.reference}/requirements/new/", {"name": "Step one"}
    )
    requirement = Requirement.objects.get()
    assert requirement.reference == f"{feature.reference}-1"
    assert response["Location"] == f"/w/PLAT/features/{feature.reference}/edit/"
    client.post(
        f"/w/PLAT/requirements/{requirement.reference}/edit/",
        {"name": "Step one, done well", "status": requirement.status_id},
    )
    assert Requirement.objects.get().name == "Step one, done well"


def test_the_top_navigation_links_the_workspace_pages(client, cast):
    client.force_login(cast.contributor)
    html = client.get("/w/PLAT/epics/").content.decode()
    for href in ("/w/PLAT/features/board/", "/w/PLAT/initiatives/", "/w/PLAT/epics/"):
        assert f'href="{href}"' in html
    assert 'href="/w/PLAT/epics/" aria-current="page"' in html


def _count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_list_pages_make_the_same_number_of_queries_for_3_and_30_records(client, cast):
    company = make_workspace("Company", "CO", owner=cast.owner)
    member = make_user()
    add_member(cast.workspace, member, Role.CONTRIBUTOR)
    add_member(company, member, Role.VIEWER)

    def add_records(n: int) -> None:
        release = make_release(cast.workspace)
        for i in range(n):
            initiative = create_initiative(
                workspace=cast.workspace, name=f"Initiative {i}", assignee=member
            )
            epic = create_epic(
                workspace=cast.workspace,
                name=f"Epic {i}",
                release=release,
                assignee=member,
                initiative=initiative,
            )
            make_feature(cast.workspace, release=release, epic=epic, initiative=initiative)
            make_release(cast.workspace)

    client.force_login(member)
    urls = ["/w/PLAT/initiatives/", "/w/PLAT/epics/", "/w/PLAT/releases/"]
    add_records(3)
    few = [_count_queries(client, url) for url in urls]
    add_records(27)
    many = [_count_queries(client, url) for url in urls]
    assert Initiative.objects.count() == 30
    assert few == many


def test_lists_and_pages_do_not_name_an_initiative_of_a_workspace_the_viewer_is_not_in(
    client, cast
):
    company = make_workspace("Company", "CO", owner=cast.owner)
    initiative = create_initiative(workspace=company, name="Board-level secret")
    epic = create_epic(workspace=cast.workspace, name="Search", initiative=initiative)
    client.force_login(cast.viewer)
    for url in ("/w/PLAT/epics/", f"/w/PLAT/epics/{epic.reference}/"):
        html = client.get(url).content.decode()
        assert "Board-level secret" not in html and initiative.reference not in html, url
    client.force_login(cast.owner)
    assert "Board-level secret" in client.get("/w/PLAT/epics/").content.decode()


def test_a_new_initiatives_description_gets_the_rich_text_editor(client, cast):
    client.force_login(cast.owner)
    page = client.get("/w/PLAT/initiatives/new/").content.decode()
    assert "data-rich-text" in page
    assert "Rich text, sanitised on save." not in page
