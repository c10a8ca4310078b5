"""Queries: Rally's grammar, ordering, paging, scoping, URL forms and their cost in SQL queries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

pytestmark = pytest.mark.sandbox_only


@pytest.fixture(scope="module")
def api(rally_sandbox):
    session = rally_sandbox.session()
    session.base = rally_sandbox.wsapi_url
    return session


def create(api, type_path: str, **fields) -> dict:
    root = type_path.split("/")[-1]
    response = api.post(
        f"{api.base}/{type_path.lower()}/create", json={root: fields}, params={"fetch": "true"}
    )
    result = response.json()["CreateResult"]
    assert result["Errors"] == [], result["Errors"]
    return result["Object"]


def names(api, type_path: str = "hierarchicalrequirement", **params) -> list[str]:
    params.setdefault("fetch", "Name")
    params.setdefault("pagesize", "200")
    response = api.get(f"{api.base}/{type_path}", params=params).json()["QueryResult"]
    assert response["Errors"] == [], response["Errors"]
    return [item["Name"] for item in response["Results"]]


def ref_of(api, type_path: str, name: str) -> str:
    response = api.get(f"{api.base}/{type_path}", params={"query": f'(Name = "{name}")'})
    return response.json()["QueryResult"]["Results"][0]["_ref"]


@pytest.fixture(scope="module")
def stories(api):
    """Five stories with distinct states, estimates and projects, tagged with one marker."""
    marker = uuid.uuid4().hex[:8]
    team_a = ref_of(api, "project", "Platform – Team A")  # noqa: RUF001
    rows = [
        ("alpha", "Defined", 1, None),
        ("beta", "In-Progress", 2, None),
        ("gamma", "Completed", 3, team_a),
        ("delta", "Accepted", 5, team_a),
        ("epsilon", "In-Progress", None, None),
    ]
    created = {}
    for word, state, points, project in rows:
        fields = {"Name": f"{marker} {word}", "ScheduleState": state, "PlanEstimate": points}
        if project:
            fields["Project"] = project
        created[word] = create(api, "HierarchicalRequirement", **fields)
    created["marker"] = marker
    return created


def mine(marker: str, condition: str) -> str:
    return f'((Name contains "{marker}") AND {condition})'


def words(found: list[str]) -> list[str]:
    return [name.split(" ", 1)[1] for name in found]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("(ScheduleState = In-Progress)", ["beta", "epsilon"]),
        ('(ScheduleState = "in-progress")', ["beta", "epsilon"]),
        ("(ScheduleState < Completed)", ["alpha", "beta", "epsilon"]),
        ("(ScheduleState >= Completed)", ["delta", "gamma"]),
        ("(ScheduleState in Defined,Accepted)", ["alpha", "delta"]),
        ("(PlanEstimate > 2)", ["delta", "gamma"]),
        ("(PlanEstimate <= 2)", ["alpha", "beta"]),
        ("(PlanEstimate = null)", ["epsilon"]),
        ("(PlanEstimate != null)", ["alpha", "beta", "delta", "gamma"]),
        ("(Name !contains m)", ["alpha", "beta", "delta", "epsilon"]),
        ('(Project.Name = "Platform – Team A")', ["delta", "gamma"]),  # noqa: RUF001
        (
            '((ScheduleState = Defined) OR (Project.Name contains "Team A"))',
            ["alpha", "delta", "gamma"],
        ),
        (
            "(((PlanEstimate >= 1) AND (PlanEstimate <= 3)) AND (ScheduleState != Completed))",
            ["alpha", "beta"],
        ),
        ("(Parent = null)", ["alpha", "beta", "delta", "epsilon", "gamma"]),
        ("(CreationDate >= today)", ["alpha", "beta", "delta", "epsilon", "gamma"]),
        ("(CreationDate < today)", []),
        ("(LastUpdateDate > 2020-01-01)", ["alpha", "beta", "delta", "epsilon", "gamma"]),
    ],
)
def test_the_query_grammar_filters_like_rally(api, stories, condition, expected):
    found = names(api, query=mine(stories["marker"], condition), order="Name")
    assert words(found) == expected


def test_a_formatted_id_matches_with_or_without_its_prefix(api, stories):
    formatted = stories["gamma"]["FormattedID"]
    for value in (formatted, f'"{formatted}"', formatted[2:]):
        assert words(names(api, query=f"(FormattedID = {value})")) == ["gamma"]


def test_refs_and_object_ids_match_in_every_form(api, stories):
    ref = stories["gamma"]["Project"]["_ref"]
    oid = ref.rsplit("/", 1)[1]
    for value in (ref, f"/project/{oid}", f"project/{oid}", oid):
        found = names(api, query=mine(stories["marker"], f"(Project = {value})"), order="Name")
        assert words(found) == ["delta", "gamma"]
    story_oid = stories["alpha"]["ObjectID"]
    assert words(names(api, query=f"(ObjectID = {story_oid})")) == ["alpha"]


def test_order_takes_several_keys_and_directions_with_object_id_last(api, stories):
    found = names(
        api, query=f'(Name contains "{stories["marker"]}")', order="ScheduleState desc,PlanEstimate"
    )
    assert words(found) == ["delta", "gamma", "epsilon", "beta", "alpha"]
    query = f'(Name contains "{stories["marker"]}")'
    found = names(api, query=query, order="PlanEstimate desc")
    assert words(found) == ["delta", "gamma", "beta", "alpha", "epsilon"]
    assert words(names(api, query=query, order="PlanEstimate"))[0] == "epsilon"


def test_paging_is_one_based_and_echoes_the_requested_pagesize(api, stories):
    query = f'(Name contains "{stories["marker"]}")'
    pages = []
    for start in (1, 3, 5):
        page = api.get(
            f"{api.base}/hierarchicalrequirement",
            params={
                "query": query,
                "order": "Name",
                "pagesize": 2,
                "start": start,
                "fetch": "Name",
            },
        ).json()["QueryResult"]
        assert (page["TotalResultCount"], page["StartIndex"], page["PageSize"]) == (5, start, 2)
        pages += words([item["Name"] for item in page["Results"]])
    assert pages == ["alpha", "beta", "delta", "epsilon", "gamma"]
    default = api.get(f"{api.base}/hierarchicalrequirement").json()["QueryResult"]
    assert default["PageSize"] == 20 and len(default["Results"]) <= 20


def test_project_scope_down_and_up(api, stories):
    platform = ref_of(api, "project", "Platform")
    team_a = stories["gamma"]["Project"]["_ref"]
    query = f'(Name contains "{stories["marker"]}")'

    def scoped(project, up, down):
        return sorted(
            words(
                names(api, query=query, project=project, projectScopeUp=up, projectScopeDown=down)
            )
        )

    assert scoped(platform, "false", "false") == ["alpha", "beta", "epsilon"]
    assert scoped(platform, "false", "true") == ["alpha", "beta", "delta", "epsilon", "gamma"]
    assert scoped(team_a, "false", "false") == ["delta", "gamma"]
    assert scoped(team_a, "true", "false") == ["alpha", "beta", "delta", "epsilon", "gamma"]
    assert words(names(api, query=query, project="null")) != []


def test_workspace_scoping_keeps_workspaces_apart(api, stories):
    operations = ref_of(api, "workspace", "Operations")
    assert names(api, query=f'(Name contains "{stories["marker"]}")', workspace=operations) == []


def test_type_names_are_case_insensitive_with_js_suffix_and_v2x(rally_sandbox, api, stories):
    oid = stories["alpha"]["ObjectID"]
    session = rally_sandbox.session()
    for path in (
        f"v2.0/HierarchicalRequirement/{oid}",
        f"v2.0/hierarchicalrequirement/{oid}.js",
        f"v2.x/HIERARCHICALREQUIREMENT/{oid}",
    ):
        body = session.get(f"{rally_sandbox.base_url}/slm/webservice/{path}").json()
        assert body["HierarchicalRequirement"]["ObjectID"] == oid
    uuid_ref = stories["alpha"]["ObjectUUID"]
    body = session.get(
        f"{rally_sandbox.base_url}/slm/webservice/v2.x/hierarchicalrequirement/{uuid_ref}"
    )
    assert body.json()["HierarchicalRequirement"]["ObjectID"] == oid


def test_fetch_lists_may_be_quoted_and_shallow_fetch_keeps_refs_flat(api, stories):
    query = f'(Name contains "{stories["marker"]} alpha")'
    item = api.get(
        f"{api.base}/hierarchicalrequirement", params={"query": query, "fetch": '"Name,Project"'}
    ).json()["QueryResult"]["Results"][0]
    assert item["Project"]["Name"] == "Platform"
    item = api.get(
        f"{api.base}/hierarchicalrequirement",
        params={"query": query, "shallowFetch": "Name,Project"},
    ).json()["QueryResult"]["Results"][0]
    assert "Name" not in item["Project"] and item["Project"]["_refObjectName"] == "Platform"


def test_portfolio_item_states_are_found_by_type(api):
    found = names(api, "state", query='((TypeDef.Name = "Feature") AND (Name = "Developing"))')
    assert found == ["Developing"]
    ordered = names(api, "state", query='(TypeDef.Name = "Feature")', order="OrderIndex")
    assert ordered == ["Discovering", "Developing", "Measuring", "Done"]


def test_portfolio_item_types_are_discovered_through_type_definitions(api):
    response = api.get(
        f"{api.base}/typedefinition",
        params={
            "query": '(Parent.Name = "Portfolio Item")',
            "fetch": "Name,TypePath,Ordinal",
            "order": "Ordinal",
        },
    ).json()["QueryResult"]
    found = [(t["TypePath"], t["Ordinal"]) for t in response["Results"]]
    assert found == [
        ("PortfolioItem/Feature", 0),
        ("PortfolioItem/Initiative", 1),
        ("PortfolioItem/Theme", 2),
    ]


def test_a_workspace_may_add_idea_and_released_around_the_schedule_states(api):
    operations = ref_of(api, "workspace", "Operations")
    marker = uuid.uuid4().hex[:8]
    for word, state in [("idea", "Idea"), ("defined", "Defined"), ("released", "Released")]:
        response = api.post(
            f"{api.base}/hierarchicalrequirement/create",
            params={"workspace": operations},
            json={"HierarchicalRequirement": {"Name": f"{marker} {word}", "ScheduleState": state}},
        )
        assert response.json()["CreateResult"]["Errors"] == []

    def found(condition: str, order: str = "Name") -> list[str]:
        query = mine(marker, condition)
        return words(names(api, workspace=operations, query=query, order=order))

    assert found("(ScheduleState < Defined)") == ["idea"]
    assert found("(ScheduleState > Accepted)") == ["released"]
    assert found("(ObjectID > 0)", order="ScheduleState desc") == ["released", "defined", "idea"]
    refused = api.post(
        f"{api.base}/hierarchicalrequirement/create",
        json={"HierarchicalRequirement": {"Name": "x", "ScheduleState": "Idea"}},
    )
    assert "has an invalid value" in refused.json()["CreateResult"]["Errors"][0]


def test_dot_paths_climb_the_portfolio_through_abstract_types(api):
    found = names(api, query='(PortfolioItem.Parent.Name = "Self-service onboarding")')
    assert {
        "Sign in with the company identity provider",
        "Reset a forgotten password by e-mail",
    } <= set(found)
    assert "Read saved items without a connection" not in found
    top = api.get(
        f"{api.base}/portfolioitem",
        params={"query": "(Parent = null)", "fetch": "FormattedID,_type"},
    ).json()
    assert {item["_type"] for item in top["QueryResult"]["Results"]} == {"PortfolioItem/Theme"}


def test_users_query_returns_matching_users_not_the_caller(api):
    found = api.get(
        f"{api.base}/User",
        params={"query": '(UserName = "developer@example.com")', "fetch": "UserName"},
    ).json()
    assert [u["UserName"] for u in found["QueryResult"]["Results"]] == ["developer@example.com"]
    everyone = api.get(
        f"{api.base}/users",
        params={"query": "((Disabled = true) OR (Disabled = false))", "fetch": "UserName"},
    ).json()
    assert everyone["QueryResult"]["TotalResultCount"] >= 3


def test_collections_are_read_added_to_and_removed_from(api, stories):
    story = stories["beta"]
    tag = create(api, "Tag", Name=f"tag-{stories['marker']}")
    added = api.post(
        f"{story['Tags']['_ref']}/add",
        params={"fetch": "Name"},
        json={"Tags": [{"_ref": tag["_ref"]}]},
    ).json()["OperationResult"]
    assert [t["Name"] for t in added["Results"]] == [tag["Name"]]
    read = api.get(story["_ref"]).json()["HierarchicalRequirement"]
    assert read["Tags"]["Count"] == 1 and read["Tags"]["_tagsNameArray"][0]["Name"] == tag["Name"]
    members = api.get(story["Tags"]["_ref"], params={"fetch": "Name"}).json()["QueryResult"]
    assert [t["Name"] for t in members["Results"]] == [tag["Name"]]
    assert words(names(api, query=f'(Tags.Name = "{tag["Name"]}")')) == ["beta"]
    removed = api.post(
        f"{story['Tags']['_ref']}/remove", json={"CollectionItems": [{"_ref": tag["_ref"]}]}
    ).json()
    assert removed["OperationResult"]["Errors"] == []
    assert api.get(story["_ref"]).json()["HierarchicalRequirement"]["Tags"]["Count"] == 0


def test_a_query_page_costs_the_same_number_of_sql_queries_for_10_or_300_items(api):
    marker = uuid.uuid4().hex[:8]
    feature = create(api, "PortfolioItem/Feature", Name=f"{marker} feature")
    body = {
        "Batch": [
            {
                "Entry": {
                    "Path": "/hierarchicalrequirement/create",
                    "Method": "PUT",
                    "Body": {
                        "hierarchicalrequirement": {
                            "Name": f"{marker} {i}",
                            "PortfolioItem": feature["_ref"],
                            "PlanEstimate": 1,
                        }
                    },
                }
            }
            for i in range(300)
        ]
    }
    results = api.post(f"{api.base}/batch", json=body).json()["BatchResult"]["Results"]
    assert all(not r["Errors"] for r in results)
    parent = results[0]["Object"]["_ref"]
    for result in results[1:4]:
        api.post(
            result["Object"]["_ref"],
            json={"HierarchicalRequirement": {"PortfolioItem": None, "Parent": parent}},
        )

    def cost(pagesize: int) -> int:
        response = api.get(
            f"{api.base}/hierarchicalrequirement",
            params={"query": f'(Name contains "{marker}")', "fetch": "true", "pagesize": pagesize},
        )
        assert len(response.json()["QueryResult"]["Results"]) == pagesize
        return int(response.headers["X-Sandbox-Query-Count"])

    small, large = cost(10), cost(300)
    assert large == small
    assert large <= 15
    features = api.get(
        f"{api.base}/portfolioitem/feature",
        params={"query": f'(Name contains "{marker}")', "fetch": "LeafStoryCount,UserStories"},
    ).json()
    item = features["QueryResult"]["Results"][0]
    # 297 stories hang on the feature directly; one of them has the 3 others as children, so it
    # is no leaf and they are: 296 + 3 leaf stories.
    assert item["LeafStoryCount"] == 299 and item["UserStories"]["Count"] == 297


def test_today_is_relative_to_the_current_day(api):
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
    found = names(api, "iteration", query=f"((StartDate <= today) AND (EndDate >= {yesterday}))")
    assert "Sprint 2" in found
