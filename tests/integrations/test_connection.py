"""connection.py: the one Rally client builder, against the sandbox."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests

from aharally.integrations.connection import (
    NotConnected,
    RallyProblem,
    client_for,
    rally_session,
)
from aharally.integrations.models import AuthMethod, Integration
from aharally.integrations.wizard import services
from tests.factories import make_workspace
from tests.integrations.wizard_support import (
    authorized,
    draft,
    rally_consent,
    sandbox_admin_key,
    step_url,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def oauth_integration(owner_client, cast, rally_sandbox, wizard_settings):
    integration = draft(cast.workspace, cast.owner, rally_url=rally_sandbox.base_url)
    start = owner_client.post(step_url(integration, "oauth_start"))["Location"]
    callback = urlsplit(rally_consent(start))
    owner_client.get(callback.path + "?" + callback.query)
    integration.refresh_from_db()
    assert integration.auth_method == AuthMethod.OAUTH
    return integration


def expire_access_tokens(sandbox, client_id: str) -> int:
    response = requests.post(
        sandbox.base_url + "/sandbox-admin/oauth/expire-access-tokens",
        json={"client_id": client_id},
        headers={"X-Sandbox-Admin-Key": sandbox_admin_key(sandbox)},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()["expired"]


def test_an_expired_access_token_is_refreshed_and_the_new_tokens_are_stored(
    oauth_integration, rally_sandbox, wizard_oauth_client
):
    old_access = oauth_integration.access_token.reveal()
    old_refresh = oauth_integration.refresh_token.reveal()
    assert expire_access_tokens(rally_sandbox, wizard_oauth_client) >= 1
    with rally_session(oauth_integration, doing="read the user") as client:
        user = client.current_user(fetch=["UserName"])
    assert user.get("UserName") == "pm@example.com"
    stored = Integration.objects.get(pk=oauth_integration.pk)
    assert stored.access_token.reveal() not in ("", old_access)
    assert stored.refresh_token.reveal() not in ("", old_refresh)  # Rally rotates them
    assert stored.needs_reauthorization is False
    # The stored tokens work for the next client (the old refresh token is spent).
    with rally_session(stored, doing="read the user") as client:
        assert client.current_user(fetch=["UserName"]).get("UserName") == "pm@example.com"


def test_a_grant_rally_no_longer_honours_marks_the_integration_and_logs_what_to_do(
    oauth_integration,
):
    Integration.objects.filter(pk=oauth_integration.pk).update(
        access_token="no-longer-valid-access", refresh_token="no-longer-valid-refresh"
    )
    integration = Integration.objects.get(pk=oauth_integration.pk)
    with (
        pytest.raises(RallyProblem) as problem,
        rally_session(integration, doing="read the workspaces") as client,
    ):
        client.workspaces()
    assert problem.value.kind == "auth"
    assert "Authorize the integration again" in problem.value.message
    stored = Integration.objects.get(pk=integration.pk)
    assert stored.needs_reauthorization is True
    entry = stored.log.get(level="error")
    assert "Rally refused the credential while trying to read the workspaces" in entry.message
    assert "authorize it with Rally again" in entry.hint
    assert "no-longer-valid" not in entry.message + entry.hint + stored.last_error


def test_a_derived_integration_talks_to_rally_with_its_templates_account_and_credential(
    cast, rally_sandbox, wizard_settings
):
    template = authorized(cast.workspace, cast.owner, rally_sandbox)
    Integration.objects.filter(pk=template.pk).update(is_template=True)
    template.refresh_from_db()
    mobile = make_workspace("Mobile", "MOB", owner=cast.owner)
    derived = services.create_draft(
        workspace=mobile, name="Derived", template=template, user=cast.owner
    )
    assert not derived.api_key  # nothing copied: read live from the template
    with rally_session(derived, doing="read the user") as client:
        assert client.base_url == rally_sandbox.base_url
        assert client.current_user(fetch=["UserName"]).get("UserName") == "pm@example.com"


def test_an_integration_without_credentials_is_not_connected(cast, wizard_settings):
    integration = draft(cast.workspace, cast.owner)
    with pytest.raises(NotConnected, match="not authorized with Rally yet"):
        client_for(integration)


def test_a_url_that_now_points_inside_is_refused_before_any_request(
    cast, rally_sandbox, wizard_settings
):
    integration = authorized(cast.workspace, cast.owner, rally_sandbox)
    wizard_settings.RALLY_ALLOW_PRIVATE_ADDRESSES = False
    with pytest.raises(RallyProblem, match="internal address"):
        client_for(integration)


def test_an_unreachable_rally_is_explained(cast, rally_sandbox, wizard_settings):
    from tests.sandbox import free_port

    integration = authorized(cast.workspace, cast.owner, rally_sandbox)
    Integration.objects.filter(pk=integration.pk).update(
        rally_url=f"http://127.0.0.1:{free_port()}"
    )
    integration.refresh_from_db()
    with (
        pytest.raises(RallyProblem, match="did not answer") as problem,
        rally_session(integration, doing="read the workspaces") as client,
    ):
        client.workspaces()
    assert problem.value.kind == "transient"
    assert Integration.objects.get(pk=integration.pk).needs_reauthorization is False
