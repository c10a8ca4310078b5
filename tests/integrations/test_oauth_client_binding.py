"""The installation's OAuth client secret goes only to the Rally it is registered at."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection

from aharally.integrations.connection import credential_for
from aharally.integrations.models import AuthMethod, Integration
from tests.integrations.wizard_support import TEST_CLIENT_SECRET, draft, step_url
from tests.local_http import serving

pytestmark = pytest.mark.django_db

OWN_SECRET = "the-owners-own-client-secret-77"


class Collecting(BaseHTTPRequestHandler):
    """Someone's own "Rally": records every request body it is sent."""

    bodies: list[str] = []

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        Collecting.bodies.append(self.path + " " + self.rfile.read(length).decode())
        payload = b'{"access_token": "stolen-access-token", "token_type": "bearer"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self):
        self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def their_server():
    Collecting.bodies.clear()
    with serving(Collecting) as url:
        yield url


def _walk_to_the_callback(client, integration, *, code: str = "any-code"):
    started = client.post(step_url(integration, "oauth_start"))
    location = started["Location"]
    if not location.startswith("http"):
        return started  # refused: back to the step
    state = parse_qs(urlsplit(location).query)["state"][0]
    return client.get("/integrations/rally/oauth/callback", {"state": state, "code": code})


def test_the_installation_secret_is_never_sent_to_another_rally(
    owner_client, cast, wizard_settings, their_server
):
    integration = draft(cast.workspace, cast.owner, rally_url=their_server)
    response = _walk_to_the_callback(owner_client, integration)
    assert response.status_code == 302
    assert response["Location"] == step_url(integration, "authorize")
    assert not any(TEST_CLIENT_SECRET in body for body in Collecting.bodies)
    assert Collecting.bodies == []
    page = owner_client.get(step_url(integration, "authorize")).content.decode()
    assert "There is no OAuth client for this Rally yet" in page
    assert "Register an OAuth client for this Rally" in page
    assert 'id="authorize-oauth"' not in page


def test_another_rally_can_use_a_client_its_owner_registered_there(
    owner_client, cast, wizard_settings, their_server
):
    integration = draft(cast.workspace, cast.owner, rally_url=their_server)
    saved = owner_client.post(
        step_url(integration, "oauth_client"),
        {"client_id": "their-client", "client_secret": OWN_SECRET},
    )
    assert saved["Location"] == step_url(integration, "authorize")
    integration.refresh_from_db()
    assert integration.oauth_client_id == "their-client"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT oauth_client_secret FROM integrations_integration WHERE id = %s",
            [integration.pk],
        )
        assert OWN_SECRET not in cursor.fetchone()[0]
    page = owner_client.get(step_url(integration, "authorize")).content.decode()
    assert OWN_SECRET not in page

    _walk_to_the_callback(owner_client, integration)
    token_requests = [b for b in Collecting.bodies if b.startswith("/login/oauth2/token")]
    assert len(token_requests) == 1
    assert OWN_SECRET in token_requests[0] and "client_id=their-client" in token_requests[0]
    assert TEST_CLIENT_SECRET not in token_requests[0]


def test_a_token_for_another_rally_never_refreshes_with_the_installation_client(
    cast, wizard_settings, their_server
):
    integration = draft(cast.workspace, cast.owner, rally_url=their_server)
    Integration.objects.filter(pk=integration.pk).update(auth_method=AuthMethod.OAUTH)
    integration.refresh_from_db()
    integration.access_token = "an-access-token"
    integration.refresh_token = "a-refresh-token"
    integration.save()
    credential = credential_for(integration)
    assert credential.client_secret != TEST_CLIENT_SECRET
    assert credential.client_id is None


def test_the_installation_client_still_serves_its_own_rally(
    owner_client, cast, wizard_settings, rally_sandbox
):
    integration = draft(cast.workspace, cast.owner, rally_url=rally_sandbox.base_url)
    location = owner_client.post(step_url(integration, "oauth_start"))["Location"]
    assert location.startswith(rally_sandbox.base_url + "/login/oauth2/auth")
    credential = draft(cast.workspace, cast.owner, name="B", rally_url=rally_sandbox.base_url)
    credential.access_token = "token"
    credential.save()
    assert credential_for(credential).client_secret == TEST_CLIENT_SECRET


def test_changing_the_rally_url_drops_the_owners_client(
    owner_client, cast, wizard_settings, their_server, rally_sandbox
):
    from aharally.integrations.wizard import services

    integration = draft(cast.workspace, cast.owner, rally_url=their_server)
    services.set_oauth_client(
        integration=integration, client_id="their-client", client_secret=OWN_SECRET, user=cast.owner
    )
    services.set_account(integration=integration, rally_url=rally_sandbox.base_url)
    integration.refresh_from_db()
    assert integration.oauth_client_id == "" and not integration.oauth_client_secret
