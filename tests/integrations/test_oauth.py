"""Step 3, Authorize: OAuth 2.0 against the Rally sandbox, and the API-key alternative."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection

from aharally.integrations.models import AuthMethod, Integration, WizardStep
from aharally.integrations.wizard import services
from tests.integrations.wizard_support import draft, rally_consent, step_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def integration(cast, rally_sandbox, wizard_settings):
    return draft(cast.workspace, cast.owner, rally_url=rally_sandbox.base_url)


def start(client, integration) -> str:
    response = client.post(step_url(integration, "oauth_start"))
    assert response.status_code == 302
    return response["Location"]


def finish(client, callback_url: str):
    parts = urlsplit(callback_url)
    assert parts.path == "/integrations/rally/oauth/callback"
    return client.get(parts.path + "?" + parts.query)


def test_authorize_sends_the_owner_to_rally_with_scope_alm_and_a_state(
    owner_client, integration, rally_sandbox
):
    location = start(owner_client, integration)
    parts = urlsplit(location)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}" == rally_sandbox.base_url
    assert parts.path == "/login/oauth2/auth"
    assert query["scope"] == ["alm"]
    assert query["response_type"] == ["code"]
    assert query["client_id"] == ["aharally-wizard-tests"]
    assert query["redirect_uri"] == ["http://testserver/integrations/rally/oauth/callback"]
    assert len(query["state"][0]) >= 20


def test_allowing_access_in_rally_authorizes_the_integration_and_stores_tokens_encrypted(
    owner_client, integration, cast
):
    response = finish(owner_client, rally_consent(start(owner_client, integration)))
    assert response.status_code == 302
    assert response["Location"] == step_url(integration, "workspace")

    integration.refresh_from_db()
    assert integration.auth_method == AuthMethod.OAUTH
    assert integration.access_token.reveal() and integration.refresh_token.reveal()
    assert integration.token_expires_at is not None
    assert integration.authorized_by == cast.owner
    assert integration.authorized_at is not None
    assert integration.rally_user_name == "Pat Manager"
    assert integration.wizard_step == WizardStep.WORKSPACE
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT access_token, refresh_token FROM integrations_integration WHERE id = %s",
            [integration.pk],
        )
        stored = cursor.fetchone()
    assert integration.access_token.reveal() not in stored[0]
    assert integration.refresh_token.reveal() not in stored[1]

    page = owner_client.get(step_url(integration, "authorize"))
    text = page.content.decode()
    assert "Authorized as <strong>Pat Manager</strong>" in text
    assert "by owner@example.com" in text
    assert "Re-authorize with Rally" in text
    assert integration.access_token.reveal() not in text


def test_re_authorizing_replaces_the_tokens(owner_client, integration):
    finish(owner_client, rally_consent(start(owner_client, integration)))
    integration.refresh_from_db()
    first = integration.access_token.reveal()
    finish(owner_client, rally_consent(start(owner_client, integration)))
    integration.refresh_from_db()
    assert integration.access_token.reveal() != first
    assert integration.needs_reauthorization is False


def test_denying_access_in_rally_says_so_on_the_step_and_saves_nothing(owner_client, integration):
    callback = rally_consent(start(owner_client, integration), decision="deny")
    response = finish(owner_client, callback)
    assert response["Location"] == step_url(integration, "authorize")
    page = owner_client.get(response["Location"])
    assert "Access was not allowed in Rally" in page.content.decode()
    integration.refresh_from_db()
    assert not integration.access_token and integration.authorized_at is None
    assert integration.wizard_step == WizardStep.AUTHORIZE


def test_a_state_that_was_not_issued_here_is_refused_and_saves_nothing(owner_client, integration):
    callback = rally_consent(start(owner_client, integration))
    forged = callback.replace("state=", "state=forged")
    response = finish(owner_client, forged)
    assert response["Location"] == step_url(integration, "authorize")
    page = owner_client.get(response["Location"]).content.decode()
    assert "did not match an authorization started here" in page
    integration.refresh_from_db()
    assert not integration.access_token


def test_a_callback_in_another_session_is_refused(client, cast, integration, owner_client):
    callback = rally_consent(start(owner_client, integration))
    other = type(client)()
    other.force_login(cast.owner)  # the same person, but the state is not in this session
    response = finish(other, callback)
    assert response.status_code == 400
    assert "did not match" in response.content.decode()
    integration.refresh_from_db()
    assert not integration.access_token


def test_a_reused_code_is_refused_by_rally_and_saves_nothing(owner_client, integration):
    first = rally_consent(start(owner_client, integration))
    finish(owner_client, first)
    integration.refresh_from_db()
    tokens = integration.access_token.reveal()
    # A new authorization (new state) presented with the code that was already spent.
    fresh = rally_consent(start(owner_client, integration))
    old_code = parse_qs(urlsplit(first).query)["code"][0]
    new_code = parse_qs(urlsplit(fresh).query)["code"][0]
    response = finish(owner_client, fresh.replace(new_code, old_code))
    page = owner_client.get(response["Location"]).content.decode()
    assert "expired or was already used" in page
    integration.refresh_from_db()
    assert integration.access_token.reveal() == tokens


def test_an_api_key_authorizes_when_rally_accepts_it(owner_client, integration, rally_sandbox):
    response = owner_client.post(
        step_url(integration, "api_key"), {"api_key": rally_sandbox.api_key}
    )
    assert response["Location"] == step_url(integration, "workspace")
    integration.refresh_from_db()
    assert integration.auth_method == AuthMethod.API_KEY
    assert integration.api_key.reveal() == rally_sandbox.api_key
    assert integration.rally_user_name == "Pat Manager"
    page = owner_client.get(step_url(integration, "authorize")).content.decode()
    assert rally_sandbox.api_key not in page


def test_an_api_key_rally_refuses_gets_a_message_and_saves_nothing(owner_client, integration):
    wrong = "_NotAKeyTheSandboxKnows000000000000000000"
    response = owner_client.post(step_url(integration, "api_key"), {"api_key": wrong})
    assert response.status_code == 400
    text = response.content.decode()
    assert "Rally refused that credential" in text
    assert wrong not in text
    integration.refresh_from_db()
    assert not integration.api_key and integration.authorized_at is None


def test_only_an_owner_of_the_integrations_workspace_can_finish_an_authorization(
    client, cast, integration
):
    owner = type(client)()
    owner.force_login(cast.owner)
    callback = rally_consent(start(owner, integration))
    # The reviewer's session holds no such state: refused before anything else.
    client.force_login(cast.reviewer)
    response = finish(client, callback)
    assert response.status_code in (400, 404)
    assert Integration.objects.get(pk=integration.pk).access_token == ""


@pytest.fixture(scope="module")
def impatient_rally():
    """A sandbox whose authorization codes expire at once."""
    from tests.integrations.wizard_support import TEST_CLIENT_ID, TEST_SITE, register_oauth_client
    from tests.sandbox import RallySandbox

    with RallySandbox(env={"RALLY_SANDBOX_CODE_SECONDS": "0"}) as sandbox:
        register_oauth_client(
            sandbox,
            client_id=TEST_CLIENT_ID,
            redirect_uris=[TEST_SITE + "/integrations/rally/oauth/callback"],
        )
        yield sandbox


def test_an_expired_code_is_refused_by_rally_and_saves_nothing(
    owner_client, cast, impatient_rally, wizard_settings
):
    wizard_settings.RALLY_OAUTH_URL = impatient_rally.base_url
    integration = draft(cast.workspace, cast.owner, rally_url=impatient_rally.base_url)
    response = finish(owner_client, rally_consent(start(owner_client, integration)))
    assert response["Location"] == step_url(integration, "authorize")
    page = owner_client.get(response["Location"]).content.decode()
    assert "Rally refused the authorization code: it has expired or was already used" in page
    integration.refresh_from_db()
    assert not integration.access_token and integration.authorized_at is None


def test_denying_a_re_authorization_shows_one_state_and_one_way_on(
    owner_client, integration, rally_sandbox
):
    services.store_authorization(
        integration=integration,
        authorization=services.Authorization(
            auth_method=AuthMethod.API_KEY,
            rally_user_name="Pat Manager",
            api_key=rally_sandbox.api_key,
        ),
        user=integration.created_by,
    )
    services.reach(integration, WizardStep.WORKSPACE)
    callback = rally_consent(start(owner_client, integration), decision="deny")
    response = finish(owner_client, callback)
    assert response["Location"] == step_url(integration, "authorize")
    page = owner_client.get(response["Location"]).content.decode()
    assert page.count('role="alert"') == 1
    assert "Access was not allowed in Rally." in page
    assert "so the integration is not authorized" not in page
    assert "Nothing changed: the integration is still authorized with an API key as" in page
    assert page.count("Save and continue") == 1
    assert 'rel="next"' not in page
    # Shown once: the next visit shows only the state.
    again = owner_client.get(response["Location"]).content.decode()
    assert "Access was not allowed" not in again
    assert "Authorized with an API key as" in again


def test_denying_a_first_authorization_says_how_to_connect_and_offers_no_way_on(
    owner_client, integration
):
    callback = rally_consent(start(owner_client, integration), decision="deny")
    page = owner_client.get(finish(owner_client, callback)["Location"]).content.decode()
    assert page.count('role="alert"') == 1
    assert "so the integration is not authorized" in page
    assert "Save and continue" not in page and 'rel="next"' not in page


def _settings_url(integration) -> str:
    return f"/w/{integration.workspace.prefix}/settings/integrations/{integration.pk}/"


@pytest.mark.parametrize("htmx", [False, True])
def test_re_authorizing_a_configured_integration_goes_back_to_its_settings(
    owner_client, integration, rally_sandbox, htmx
):
    services.reach(integration, WizardStep.ENABLE)
    response = finish(owner_client, rally_consent(start(owner_client, integration)))
    assert response["Location"] == _settings_url(integration)
    integration.refresh_from_db()
    assert integration.wizard_step == WizardStep.ENABLE

    headers = {"HX-Request": "true"} if htmx else {}
    keyed = owner_client.post(
        step_url(integration, "api_key"), {"api_key": rally_sandbox.api_key}, headers=headers
    )
    where = keyed["HX-Redirect"] if htmx else keyed["Location"]
    assert where == _settings_url(integration)
    page = owner_client.get(where).content.decode()
    assert "Authorized with an API key of Pat Manager." in page
