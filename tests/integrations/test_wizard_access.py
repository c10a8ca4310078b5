"""Only owners reach the wizard; no page or log line ever shows a token or an API key."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from aharally.integrations.models import Integration, WizardStep
from tests.integrations.wizard_support import draft, rally_consent, scoped, step_url

pytestmark = pytest.mark.django_db

STEPS = ["resume", "name", "account", "authorize", "workspace", "project", "mappings"]
STEPS += ["statuses", "enable"]
POSTS = ["name", "account", "oauth_start", "api_key", "workspace", "project", "mapping_add"]
POSTS += ["links", "statuses", "enable", "test_connection"]

EXPECTED = {"contributor": 403, "reviewer": 403, "viewer": 403, "outsider": 404}


@pytest.fixture
def integration(cast, wizard_settings):
    integration = draft(cast.workspace, cast.owner)
    Integration.objects.filter(pk=integration.pk).update(wizard_step=WizardStep.ENABLE)
    return Integration.objects.get(pk=integration.pk)


@pytest.mark.parametrize("role", EXPECTED)
def test_only_owners_reach_the_wizard(client, cast, integration, role):
    client.force_login(getattr(cast, role))
    new = reverse("integrations:wizard_new", kwargs={"prefix": cast.workspace.prefix})
    assert client.get(new).status_code == EXPECTED[role]
    assert client.post(new, {"name": "Sneaky"}).status_code == EXPECTED[role]
    for step in STEPS:
        assert client.get(step_url(integration, step)).status_code == EXPECTED[role], step
    for step in POSTS:
        assert client.post(step_url(integration, step), {}).status_code == EXPECTED[role], step
    assert Integration.objects.count() == 1
    assert Integration.objects.get().name == "Rally"


def test_the_owner_reaches_every_step(client, cast, integration):
    client.force_login(cast.owner)
    new = reverse("integrations:wizard_new", kwargs={"prefix": cast.workspace.prefix})
    assert client.get(new).status_code == 200
    for step in ["name", "account", "authorize", "enable"]:
        assert client.get(step_url(integration, step)).status_code == 200, step


def test_anonymous_visitors_are_sent_to_sign_in(client, cast, integration):
    response = client.get(step_url(integration, "account"))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    callback = client.get("/integrations/rally/oauth/callback?code=x&state=y")
    assert "/accounts/login/" in callback["Location"]


def test_no_page_or_log_line_shows_a_token_or_an_api_key(
    client, cast, rally_sandbox, wizard_settings, caplog
):
    caplog.set_level(logging.DEBUG)
    client.force_login(cast.owner)
    integration = scoped(cast.workspace, cast.owner, rally_sandbox)  # with the demo API key
    pages = []
    # Authorize with OAuth too, so that tokens exist, then walk every step.
    start = client.post(step_url(integration, "oauth_start"))
    callback = rally_consent(start["Location"])
    code = callback.split("code=")[1].split("&")[0]
    parts = urlsplit(callback)
    pages.append(client.get(parts.path + "?" + parts.query, follow=True))
    Integration.objects.filter(pk=integration.pk).update(wizard_step=WizardStep.ENABLE)
    for step in STEPS[1:]:
        pages.append(client.get(step_url(integration, step), follow=True))
    pages.append(client.post(step_url(integration, "test_connection"), follow=True))
    # A refused key on the API-key form: the typed key is not echoed back.
    typed = "_TypedButWrongKey0000000000000000000000"
    pages.append(client.post(step_url(integration, "api_key"), {"api_key": typed}))
    integration.refresh_from_db()
    secrets = [
        integration.access_token.reveal(),
        integration.refresh_token.reveal(),
        rally_sandbox.api_key,
        typed,
        code,
    ]
    assert all(len(s) > 8 for s in secrets)
    for response in pages:
        assert response.status_code in (200, 400)
        text = response.content.decode()
        for secret in secrets:
            assert secret not in text
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Authorized with Rally (OAuth) as Pat Manager" in logged
    for secret in secrets:
        assert secret not in logged
    for entry in integration.log.all():
        for secret in secrets:
            assert secret not in entry.message + entry.hint
