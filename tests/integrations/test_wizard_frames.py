"""One URL per step: the whole page, or under HTMX (boosted links and forms) the #wizard frame."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from aharally.integrations.models import IntegrationState, WizardStep
from tests.integrations.wizard_support import draft, reach, scoped, step_url

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def at_authorize(cast, rally_sandbox, wizard_settings):
    """A draft whose account is set, not yet authorized."""
    return draft(cast.workspace, cast.owner, rally_url=rally_sandbox.base_url)


@pytest.fixture
def at_enable(cast, rally_sandbox, wizard_settings, owner_client):
    integration = scoped(cast.workspace, cast.owner, rally_sandbox)
    owner_client.get(step_url(integration, "mappings"))
    reach(integration, WizardStep.STATUSES)
    owner_client.get(step_url(integration, "statuses"))
    return reach(integration, WizardStep.ENABLE)


def title(html: str) -> str:
    match = re.search(r"<title>(.*?)</title>", html, re.S)
    assert match, "no <title>"
    return match.group(1)


def test_a_step_asked_for_by_htmx_is_the_wizard_frame_alone_with_the_step_title(
    owner_client, at_authorize
):
    response = owner_client.get(step_url(at_authorize, "authorize"), **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and "<head" not in html
    assert 'id="wizard"' in html
    assert 'class="tabs"' not in html  # the settings page around the frame
    assert 'id="messages"' not in html
    assert "hx-select" not in html
    assert "{#" not in html and "{%" not in html  # no template comment leaks into the frame
    assert '<h2 id="step-title">Authorize</h2>' in html
    assert title(html) == "Authorize · Rally integration · aharally"


def test_a_step_without_htmx_is_the_whole_page_with_the_same_title(owner_client, at_authorize):
    response = owner_client.get(step_url(at_authorize, "authorize"))
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith("<!doctype html>")
    assert 'id="wizard"' in html and 'class="tabs"' in html and 'id="messages"' in html
    assert "js/wizard.js" in html
    assert title(html) == "Authorize · Rally integration · aharally"


def test_both_answers_say_they_vary_on_hx_request(owner_client, at_authorize):
    url = step_url(at_authorize, "authorize")
    for response in (owner_client.get(url), owner_client.get(url, **HTMX)):
        assert "HX-Request" in response["Vary"]


def test_a_history_restore_gets_the_whole_page(owner_client, at_authorize):
    # htmx asks for the page itself when its history cache misses, and puts it in <body>.
    response = owner_client.get(
        step_url(at_authorize, "authorize"), HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HTMX
    )
    assert response.content.decode().lstrip().startswith("<!doctype html>")


def test_the_first_step_of_a_new_integration_is_a_frame_too(owner_client, cast):
    url = reverse("integrations:wizard_new", kwargs={"prefix": cast.workspace.prefix})
    html = owner_client.get(url, **HTMX).content.decode()
    assert "<html" not in html and 'id="wizard"' in html and "New Rally integration" in html
    assert title(html) == "Name · Rally integration · aharally"


def test_a_refused_htmx_post_shows_its_message_in_the_frame(owner_client, at_authorize):
    # "Save and continue" before authorizing: the message goes in the frame, not the top bar.
    response = owner_client.post(step_url(at_authorize, "authorize"), **HTMX)
    html = response.content.decode()
    assert response.status_code == 400
    assert "<html" not in html and 'id="wizard"' in html
    assert 'class="messages wizard-messages"' in html
    assert "Authorize the integration with Rally first." in html
    # Shown once: the next page does not repeat it.
    assert (
        "Authorize the integration with Rally first."
        not in owner_client.get(step_url(at_authorize, "authorize")).content.decode()
    )


def test_a_refused_plain_post_shows_its_message_in_the_top_bar(owner_client, at_authorize):
    html = owner_client.post(step_url(at_authorize, "authorize")).content.decode()
    assert "<html" in html and "wizard-messages" not in html
    assert "Authorize the integration with Rally first." in html


def test_a_form_error_in_an_htmx_post_comes_back_in_the_frame(owner_client, at_authorize):
    response = owner_client.post(
        step_url(at_authorize, "account"), {"rally_url": "ftp://rally.example.com"}, **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "<html" not in html and 'id="wizard"' in html
    assert "must start with https://" in html


def test_an_htmx_post_that_moves_to_another_step_redirects_to_it(owner_client, at_authorize):
    # XHR follows the redirect with HX-Request kept, so the next step arrives as a frame.
    response = owner_client.post(
        step_url(at_authorize, "account"), {"rally_url": at_authorize.rally_url}, **HTMX
    )
    assert response.status_code == 302
    assert response["Location"] == step_url(at_authorize, "authorize")


def test_enabling_under_htmx_tells_the_browser_to_load_manage_integrations_whole(
    owner_client, at_enable
):
    response = owner_client.post(
        step_url(at_enable, "enable"),
        {"outgoing_mode": "automatic", "incoming_mode": "automatic"},
        **HTMX,
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse(
        "integrations:manage", kwargs={"prefix": at_enable.workspace.prefix}
    )
    at_enable.refresh_from_db()
    assert at_enable.state == IntegrationState.ENABLED


def test_enabling_without_htmx_redirects_to_manage_integrations(owner_client, at_enable):
    response = owner_client.post(
        step_url(at_enable, "enable"), {"outgoing_mode": "automatic", "incoming_mode": "automatic"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "integrations:manage", kwargs={"prefix": at_enable.workspace.prefix}
    )


def test_authorizing_under_htmx_sends_the_browser_to_rally_whole(
    owner_client, at_authorize, rally_sandbox
):
    # Its form is not boosted; should a request come by HTMX, XHR must not follow to Rally.
    response = owner_client.post(step_url(at_authorize, "oauth_start"), **HTMX)
    assert response.status_code == 200
    location = urlsplit(response["HX-Redirect"])
    assert f"{location.scheme}://{location.netloc}" == rally_sandbox.base_url


def test_the_form_that_goes_to_rally_is_not_boosted(owner_client, at_authorize):
    page = owner_client.get(step_url(at_authorize, "authorize")).content.decode()
    assert f'action="{step_url(at_authorize, "oauth_start")}" hx-boost="false"' in page
