"""Import from Rally: an owner searches the integrated project and imports chosen records."""

from __future__ import annotations

import pytest

from aharally.records.models import Feature, Requirement
from aharally.sync.models import JobState, Link, RallySearch
from aharally.sync.reconcile import search
from aharally.sync.reconcile.search import run_search, start_search
from aharally.workspaces.models import RecordType
from tests.factories import parking_lot
from tests.sync.support import connect, sandbox_client, scope_of, token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def integration(cast, rally_sandbox):
    return connect(cast.workspace, rally_sandbox, owner=cast.owner)


def _create(sandbox, type_path, **fields):
    _, project = scope_of(sandbox)
    with sandbox_client(sandbox) as client:
        return client.create(
            type_path,
            {"Project": f"/project/{project}", **fields},
            fetch=["ObjectID", "FormattedID"],
        )


def _searched(cast, integration, text, page=1) -> RallySearch:
    found = start_search(integration=integration, user=cast.owner, text=text, page=page)
    run_search(found.pk)  # what the cluster's task does
    found.refresh_from_db()
    return found


def _url(cast, integration, tail=""):
    return f"/w/{cast.workspace.prefix}/sync/integrations/{integration.pk}/import/{tail}"


def test_a_story_found_by_name_is_imported_with_its_feature_into_the_parking_lot(
    cast, rally_sandbox, integration
):
    word = token()
    feature = _create(rally_sandbox, "PortfolioItem/Feature", Name=f"Searched feature {word}")
    story = _create(
        rally_sandbox,
        "HierarchicalRequirement",
        Name=f"Searched story {word}",
        PortfolioItem=f"/portfolioitem/feature/{feature.object_id}",
    )

    found = _searched(cast, integration, word)

    assert found.state == JobState.DONE, found.message
    assert {e["formatted_id"] for e in found.results} == {feature.formatted_id, story.formatted_id}
    made, problems = search.import_chosen(search=found, user=cast.owner, oids=[story.object_id])

    assert problems == []
    requirement = Requirement.objects.get(name=f"Searched story {word}")
    assert requirement.feature.name == f"Searched feature {word}"
    assert requirement.feature.release == parking_lot(cast.workspace)
    assert Link.objects.get(rally_oid=story.object_id).record_id == requirement.pk
    assert Link.objects.get(rally_oid=feature.object_id).record_id == requirement.feature_id
    assert len(made) == 2
    # Linked now: shown as such, and importing again makes nothing.
    rows = {row.entry["oid"]: row for row in search.search_rows(found)}
    assert rows[story.object_id].linked == requirement
    assert not rows[feature.object_id].importable
    made, problems = search.import_chosen(
        search=found, user=cast.owner, oids=[story.object_id, feature.object_id]
    )
    assert made == [] and len(problems) == 2 and "linked already" in problems[0]
    assert Feature.objects.filter(name=f"Searched feature {word}").count() == 1


def test_a_feature_found_by_formatted_id_lands_in_its_linked_release(
    cast, rally_sandbox, integration
):
    from datetime import date

    from aharally.sync.outgoing import outbox
    from aharally.sync.outgoing.drain import drain_outbox
    from tests.factories import make_release

    release = make_release(
        cast.workspace,
        name=f"R {token()}",
        start_date=date(2027, 1, 1),
        release_date=date(2027, 2, 1),
    )
    outbox.request_send(record=release, integration=integration, user=cast.owner)
    drain_outbox(integration.pk)
    release_oid = Link.objects.get(record_type=RecordType.RELEASE, record_id=release.pk).rally_oid
    rally_feature = _create(
        rally_sandbox, "PortfolioItem/Feature", Name="By id", Release=f"/release/{release_oid}"
    )

    found = _searched(cast, integration, rally_feature.formatted_id.lower())
    search.import_chosen(search=found, user=cast.owner, oids=[rally_feature.object_id])

    assert [e["oid"] for e in found.results] == [rally_feature.object_id]
    assert found.total == 1
    assert Feature.objects.get(name="By id").release == release


def test_a_formatted_id_of_an_unmapped_type_says_what_it_is(cast, rally_sandbox, integration):
    defect = _create(rally_sandbox, "Defect", Name=f"A defect {token()}")

    found = _searched(cast, integration, defect.formatted_id)

    assert found.results == []
    assert f"{defect.formatted_id} is a Defect in Rally" in found.message


def test_a_search_pages_at_its_page_size_one_request_a_type(
    cast, rally_sandbox, integration, monkeypatch
):
    monkeypatch.setattr(search, "PAGE_SIZE", 2)
    word = token()
    for n in range(3):
        _create(rally_sandbox, "PortfolioItem/Feature", Name=f"Paged {word} {n}")
    rally_sandbox.admin("POST", "/sandbox-admin/stats/reset")

    first = _searched(cast, integration, word)
    requests = rally_sandbox.admin("GET", "/sandbox-admin/stats").json()["requests"]
    second = _searched(cast, integration, word, page=2)

    assert len(first.results) == 2 and first.has_more and first.total == 3
    assert len(second.results) == 1 and not second.has_more
    # One query a mapped type (features, stories), whatever was found.
    assert requests == 2


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "Enter a Rally FormattedID"),
        ("%%", "neither a FormattedID"),
        ("x" * 101, "at most 100 characters"),
    ],
)
def test_bad_searches_are_refused_with_a_message_and_ask_rally_nothing(
    client, cast, rally_sandbox, integration, text, says
):
    client.force_login(cast.owner)
    response = client.post(
        _url(cast, integration, "search/"), {"q": text}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 422
    assert says in response.content.decode()
    assert not RallySearch.objects.exists()


def test_the_page_polls_while_searching_and_shows_what_was_found(
    client, cast, rally_sandbox, integration
):
    client.force_login(cast.owner)
    word = token()
    _create(rally_sandbox, "PortfolioItem/Feature", Name=f"Shown {word}")
    response = client.post(
        _url(cast, integration, "search/"), {"q": word}, headers={"HX-Request": "true"}
    )
    found = RallySearch.objects.get()
    assert 'hx-trigger="load delay:1s"' in response.content.decode()
    run_search(found.pk)
    poll = client.get(
        _url(cast, integration, f"searches/{found.pk}/"), headers={"HX-Request": "true"}
    )
    assert "hx-trigger" not in poll.content.decode()
    assert f"Shown {word}" in poll.content.decode()
    empty = client.post(
        _url(cast, integration, f"searches/{found.pk}/import/"), {}, headers={"HX-Request": "true"}
    )
    assert empty.status_code == 422 and "Choose at least one record" in empty.content.decode()


@pytest.mark.parametrize("who", ["contributor", "reviewer", "viewer"])
def test_only_owners_search_and_import(client, cast, integration, who):
    client.force_login(getattr(cast, who))
    assert client.get(_url(cast, integration)).status_code == 403
    assert client.post(_url(cast, integration, "search/"), {"q": "F1"}).status_code == 403
    assert not RallySearch.objects.exists()


def test_the_settings_page_offers_import_and_compare(client, cast, integration):
    client.force_login(cast.owner)
    page = client.get(f"/w/{cast.workspace.prefix}/settings/integrations/{integration.pk}/")
    html = page.content.decode()
    assert f'href="{_url(cast, integration)}"' in html and "Import from Rally" in html
    assert "Compare with Rally" in html
