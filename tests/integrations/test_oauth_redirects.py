"""The token exchange never follows a redirect (one could lead inside our network)."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler

import pytest

from aharally.integrations import oauth
from tests.integrations.wizard_support import draft
from tests.local_http import serving

pytestmark = pytest.mark.django_db


class Redirecting(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_POST(self):
        Redirecting.hits.append(self.path)
        self.send_response(307)
        self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def redirecting_server():
    with serving(Redirecting) as url:
        yield url


def test_a_redirect_from_the_token_endpoint_is_refused(cast, settings, redirecting_server):
    settings.RALLY_ALLOW_HTTP = True
    settings.RALLY_ALLOW_PRIVATE_ADDRESSES = True
    settings.RALLY_OAUTH_URL = redirecting_server
    integration = draft(cast.workspace, cast.owner, rally_url=redirecting_server)
    Redirecting.hits.clear()
    with pytest.raises(oauth.AuthorizationFailed, match="does not follow redirects"):
        oauth.exchange_code(integration, code="a-code", state="a-state")
    assert Redirecting.hits == ["/login/oauth2/token"]  # asked once, never followed
