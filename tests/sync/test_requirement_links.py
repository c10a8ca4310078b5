"""A feature's requirement rows show their Rally stories' links, in one query for all rows."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import make_feature, make_link, make_requirement
from tests.integrations.builders import configured_integration

HTMX = {"HX-Request": "true", "HX-Current-URL": "http://testserver/w/PLAT/features/board/"}


def drawer(client, feature) -> tuple[str, int]:
    url = reverse(
        "records:feature",
        kwargs={"prefix": feature.workspace.prefix, "reference": feature.reference},
    )
    with CaptureQueriesContext(connection) as queries:
        html = client.get(url, headers=HTMX).content.decode()
    return html, len(queries)


def linked_feature(workspace, integration, count: int):
    feature = make_feature(workspace, name=f"With {count} stories")
    requirements = [make_requirement(feature) for _ in range(count + 1)]
    for n, requirement in enumerate(requirements[:count]):  # the last one is not in Rally
        make_link(
            integration,
            requirement,
            rally_oid=9000 + 100 * count + n,
            rally_type="HierarchicalRequirement",
            formatted_id=f"US{100 * count + n}",
        )
    return feature, requirements


def test_each_linked_requirement_row_links_to_its_story(client, cast):
    integration = configured_integration(cast.workspace)
    feature, requirements = linked_feature(cast.workspace, integration, 2)
    client.force_login(cast.viewer)
    html, _ = drawer(client, feature)
    for requirement, formatted_id in zip(requirements, ("US200", "US201"), strict=False):
        row = html[html.index(f'id="requirement-{requirement.pk}"') :]
        row = row[: row.index("</li>")]
        assert f">{formatted_id}</a>" in row and 'class="rally-link' in row
    last = html[html.index(f'id="requirement-{requirements[-1].pk}"') :]
    assert "rally-link" not in last[: last.index("</li>")]


def test_the_links_cost_the_same_queries_for_2_or_20_requirements(client, cast):
    integration = configured_integration(cast.workspace)
    few, _ = linked_feature(cast.workspace, integration, 2)
    many, _ = linked_feature(cast.workspace, integration, 20)
    client.force_login(cast.viewer)
    drawer(client, few)  # warm the session and content types
    _, with_few = drawer(client, few)
    html_many, with_many = drawer(client, many)
    assert html_many.count('class="rally-link') == 20
    assert with_many == with_few
