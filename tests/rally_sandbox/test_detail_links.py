"""Rally detail links (`<Rally URL>/#/detail/<type>/<oid>`) open the sandbox's own pages."""

from __future__ import annotations

import re

import pytest
import requests

from tests.rally_sandbox.test_faults_page import signed_in

pytestmark = pytest.mark.sandbox_only


def oid_of(api, type_path: str, query: str) -> int:
    found = api.get(f"{api.base}/{type_path}", params={"query": query, "fetch": "ObjectID"}).json()[
        "QueryResult"
    ]["Results"]
    return found[0]["ObjectID"]


@pytest.fixture(scope="module")
def api(rally_sandbox):
    session = rally_sandbox.session()
    session.base = rally_sandbox.wsapi_url
    return session


def test_the_root_page_loads_only_its_own_script_under_a_strict_policy(rally_sandbox):
    page = requests.get(f"{rally_sandbox.base_url}/", timeout=30)
    assert page.status_code == 200
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    (script,) = re.findall(r'<script src="([^"]+)"', page.text)
    assert "<script>" not in page.text and "style=" not in page.text
    assert 'href="/sandbox/"' in page.text
    served = requests.get(rally_sandbox.base_url + script, timeout=30)
    assert served.status_code == 200
    assert "javascript" in served.headers["Content-Type"]
    assert "location.hash" in served.text


def test_only_the_root_serves_the_link_page(rally_sandbox):
    assert requests.get(f"{rally_sandbox.base_url}/detail", timeout=30).status_code == 404
    assert requests.get(f"{rally_sandbox.base_url}/index.html", timeout=30).status_code == 404


@pytest.mark.parametrize(
    ("type_path", "query", "shown"),
    [
        ("portfolioitem/feature", '(Name = "Single sign-on")', "PortfolioItem/Feature"),
        ("portfolioitem/initiative", "(FormattedID = I1)", "PortfolioItem/Initiative"),
        ("hierarchicalrequirement", "(FormattedID = US1)", "HierarchicalRequirement"),
        ("defect", "(FormattedID = DE1)", "Defect"),
    ],
)
def test_the_item_page_shows_every_kind_of_linked_record(
    rally_sandbox, api, type_path, query, shown
):
    item = api.get(
        f"{api.base}/{type_path}", params={"query": query, "fetch": "ObjectID,FormattedID,Name"}
    ).json()["QueryResult"]["Results"][0]
    browser = signed_in(rally_sandbox, "developer@example.com")
    page = browser.get(f"{rally_sandbox.base_url}/sandbox/items/{item['ObjectID']}/", timeout=30)
    assert page.status_code == 200
    assert f'<span class="id">{item["FormattedID"]}</span>' in page.text
    assert shown in page.text


def test_a_release_has_a_page_listing_its_scheduled_work(rally_sandbox, api):
    release = api.get(
        f"{api.base}/release",
        params={"query": '(Name = "2026 Q4")', "fetch": "ObjectID,Name,Project"},
    ).json()["QueryResult"]["Results"][0]
    browser = signed_in(rally_sandbox, "developer@example.com")
    page = browser.get(
        f"{rally_sandbox.base_url}/sandbox/releases/{release['ObjectID']}/", timeout=30
    )
    assert page.status_code == 200
    assert "<h1>2026 Q4</h1>" in page.text
    assert release["Project"]["_refObjectName"] in page.text
    missing = browser.get(f"{rally_sandbox.base_url}/sandbox/releases/1/", timeout=30)
    assert missing.status_code == 404
