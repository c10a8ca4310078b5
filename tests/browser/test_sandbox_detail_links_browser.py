"""A Rally detail link to the sandbox opens the record's page in a real browser.

The link's fragment (`#/detail/<type>/<oid>`) never reaches the server: the root page's script
reads it. Lives here for the session's one Chromium (`browser` fixture); touches only the sandbox.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import TIMEOUT_MS

pytestmark = pytest.mark.sandbox_only


@pytest.fixture
def sandbox_page(browser, rally_sandbox):
    context = browser.new_context(base_url=rally_sandbox.base_url)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def first(rally_sandbox, type_path: str, query: str) -> dict:
    response = rally_sandbox.session().get(
        f"{rally_sandbox.wsapi_url}/{type_path}",
        params={"query": query, "fetch": "ObjectID,FormattedID,Name"},
        timeout=30,
    )
    return response.json()["QueryResult"]["Results"][0]


def sign_in(page, rally_sandbox) -> None:
    page.fill("input[name=username]", "developer@example.com")
    page.fill("input[name=password]", rally_sandbox.users["developer@example.com"])
    page.locator("form button[type=submit]").first.click()


def test_a_feature_detail_link_lands_on_the_features_page(sandbox_page, rally_sandbox):
    feature = first(rally_sandbox, "portfolioitem/feature", '(Name = "Single sign-on")')
    sandbox_page.goto(f"/#/detail/portfolioitem/feature/{feature['ObjectID']}")
    # Not signed in yet: the sandbox asks first, then goes on to the item.
    sandbox_page.wait_for_url("**/login/oauth2/login?next=*")
    sign_in(sandbox_page, rally_sandbox)
    sandbox_page.wait_for_url(f"**/sandbox/items/{feature['ObjectID']}/")
    heading = sandbox_page.locator("h1")
    assert heading.locator(".id").inner_text() == feature["FormattedID"]
    assert feature["Name"] in heading.inner_text()


def test_other_link_forms_open_their_pages(sandbox_page, rally_sandbox):
    story = first(rally_sandbox, "hierarchicalrequirement", "(FormattedID = US1)")
    defect = first(rally_sandbox, "defect", "(FormattedID = DE1)")
    release = first(rally_sandbox, "release", '(Name = "2026 Q4")')
    sandbox_page.goto("/sandbox/")
    sign_in(sandbox_page, rally_sandbox)
    sandbox_page.wait_for_url("**/sandbox/")

    for fragment, path, text in [
        (f"#/detail/userstory/{story['ObjectID']}", f"/sandbox/items/{story['ObjectID']}/",
         story["FormattedID"]),
        # Rally's newer links carry the project, and may open a tab of the record.
        (f"#/12345d/detail/defect/{defect['ObjectID']}/discussion",
         f"/sandbox/items/{defect['ObjectID']}/", defect["FormattedID"]),
        (f"#/detail/hierarchicalrequirement/{story['ObjectID']}",
         f"/sandbox/items/{story['ObjectID']}/", story["FormattedID"]),
        (f"#/detail/release/{release['ObjectID']}", f"/sandbox/releases/{release['ObjectID']}/",
         "2026 Q4"),
        ("", "/sandbox/", "Projects"),
        # Webhook deliveries' detail_link: the same fragment under /slm/.
        (f"slm/#/detail/userstory/{story['ObjectID']}", f"/sandbox/items/{story['ObjectID']}/",
         story["FormattedID"]),
    ]:  # fmt: skip
        sandbox_page.goto(f"/{fragment}")
        sandbox_page.wait_for_url(f"{rally_sandbox.base_url}{path}")
        assert text in sandbox_page.locator("h1").inner_text()


def test_a_link_the_sandbox_cannot_open_says_so(sandbox_page):
    sandbox_page.goto("/#/dashboard")
    assert sandbox_page.locator("#unknown-link").is_visible()
    assert sandbox_page.get_by_role("link", name="Open the Rally sandbox").is_visible()
