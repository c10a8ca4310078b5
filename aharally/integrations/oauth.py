"""Authorize an integration with Rally: the OAuth 2.0 authorization-code flow.

requests-oauthlib builds the authorization URL and exchanges the code at
`<Rally URL>/login/oauth2/token`. The `state` sent to Rally is remembered in the owner's
session with the integration it is for; the one global callback URL finds the integration
through it, so a callback without a state we issued (a forged or replayed one) is refused.
Reference: https://rally1.rallydev.com/login/ (Rally OAuth 2.0, scope `alm`).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import requests
from django.conf import settings
from django.urls import reverse
from oauthlib.oauth2 import OAuth2Error
from requests_oauthlib import OAuth2Session

from aharally.integrations.connection import (
    INTERACTIVE_TIMEOUT,
    OAuthClient,
    client_certificate_for,
    oauth_client_for,
    tls_verify,
)
from aharally.integrations.models import Integration
from aharally.integrations.url_safety import connection_guard
from aharally.rally.pinning import mount_pinned

# requests-oauthlib and oauthlib log whole token responses at DEBUG: never let those through,
# whatever LOG_LEVEL says (secrets are never logged).
for _name in ("requests_oauthlib", "oauthlib"):
    logging.getLogger(_name).setLevel(logging.WARNING)

AUTHORIZE_PATH = "/login/oauth2/auth"
TOKEN_PATH = "/login/oauth2/token"
SCOPE = ["alm"]
SESSION_KEY = "rally_oauth_states"
# A consent page left open longer than this is started again.
STATE_LIFETIME_SECONDS = 30 * 60
MAX_PENDING = 5


class AuthorizationFailed(Exception):
    """The OAuth flow did not produce tokens; the message says why, for the owner."""

    def __init__(self, message: str, *, integration_id: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.integration_id = integration_id


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_at: datetime | None


def redirect_uri() -> str:
    """The callback registered at Rally: one URL for every integration."""
    return settings.SITE_URL + reverse("integrations:oauth_callback")


NO_CLIENT_MESSAGE = (
    "There is no OAuth client for this Rally yet: register one in Rally (Application Manager → "
    "OAuth clients) and enter its client ID and secret here, or use an API key instead."
)


def client_for(integration: Integration) -> OAuthClient:
    """The OAuth client bound to the integration's Rally, or AuthorizationFailed."""
    client = oauth_client_for(integration)
    if client is None:
        raise AuthorizationFailed(NO_CLIENT_MESSAGE, integration_id=integration.pk)
    return client


def _session(client: OAuthClient, state: str | None = None) -> OAuth2Session:
    session = OAuth2Session(client.client_id, redirect_uri=redirect_uri(), scope=SCOPE, state=state)
    # A redirect from the token endpoint is refused rather than followed (no SSRF by redirect),
    # and the connection goes to the address that was checked (no DNS rebinding).
    session.max_redirects = 0
    return mount_pinned(session, connection_guard())


def _allow_http_if_configured(url: str) -> None:
    # oauthlib refuses http:// endpoints unless told; the operator allowed them (the sandbox).
    if url.startswith("http://") and settings.RALLY_ALLOW_HTTP:
        os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"


def start(request, integration: Integration) -> str:
    """The Rally URL to send the owner to; remembers the state in the session."""
    base = integration.source.rally_url
    client = client_for(integration)
    _allow_http_if_configured(base)
    url, state = _session(client).authorization_url(base + AUTHORIZE_PATH)
    pending = {
        key: value
        for key, value in request.session.get(SESSION_KEY, {}).items()
        if value["started"] > time.time() - STATE_LIFETIME_SECONDS
    }
    pending[state] = {"integration": integration.pk, "started": time.time()}
    # Keep only the newest few: each unanswered "Authorize" click leaves one.
    newest = sorted(pending.items(), key=lambda item: item[1]["started"])[-MAX_PENDING:]
    request.session[SESSION_KEY] = dict(newest)
    return url


def claim_state(request, state: str) -> int:
    """The integration id a state was issued for, forgetting the state (it works once)."""
    pending = request.session.get(SESSION_KEY, {})
    entry = pending.pop(state, None) if state else None
    request.session[SESSION_KEY] = pending
    if entry is None or entry["started"] <= time.time() - STATE_LIFETIME_SECONDS:
        raise AuthorizationFailed(
            "The answer from Rally did not match an authorization started here (the state "
            "did not match, or it expired). Nothing was saved; click Authorize to start again."
        )
    return int(entry["integration"])


def describe_denial(error: str, description: str = "", *, still_authorized: bool = False) -> str:
    """Rally's refusal in words; with an earlier authorization still in place, no call to act."""
    detail = f" ({description})" if description else ""
    if still_authorized:
        if error == "access_denied":
            return "Access was not allowed in Rally."
        return f"Rally did not authorize the integration again: {error}{detail}."
    if error == "access_denied":
        return (
            "Access was not allowed in Rally, so the integration is not authorized. "
            "Click Authorize and choose “Allow access” to connect it."
        )
    return f"Rally did not authorize the integration: {error}{detail}. Try again."


def exchange_code(integration: Integration, *, code: str, state: str) -> Tokens:
    """Trade the authorization code for tokens at Rally's token endpoint."""
    base = integration.source.rally_url
    # The secret goes only to the Rally its client is registered at (never to any URL typed).
    client = client_for(integration)
    _allow_http_if_configured(base)
    session = _session(client, state)
    # The token endpoint is behind the same mTLS as the API when Rally demands certificates.
    certificate = client_certificate_for(integration)
    try:
        token = session.fetch_token(
            base + TOKEN_PATH,
            code=code,
            client_secret=client.client_secret,
            include_client_id=True,
            timeout=INTERACTIVE_TIMEOUT,
            cert=(certificate.cert_file, certificate.key_file) if certificate else None,
            verify=tls_verify(),
        )
    except OAuth2Error as error:
        if error.error == "invalid_grant":
            raise AuthorizationFailed(
                "Rally refused the authorization code: it has expired or was already used. "
                "Click Authorize to start again.",
                integration_id=integration.pk,
            ) from None
        if error.error in ("invalid_client", "unauthorized_client"):
            message = (
                "Rally does not recognise the OAuth client ID and secret entered for it: "
                "check them in Rally's Application Manager and enter them again."
                if client.own
                else "Rally does not recognise this installation's OAuth client. Ask your "
                "administrator to check RALLY_OAUTH_CLIENT_ID and RALLY_OAUTH_CLIENT_SECRET."
            )
            raise AuthorizationFailed(message, integration_id=integration.pk) from None
        raise AuthorizationFailed(
            f"Rally refused to issue tokens ({error.error}). Click Authorize to try again.",
            integration_id=integration.pk,
        ) from None
    except requests.TooManyRedirects:
        raise AuthorizationFailed(
            f"{base} answered the token request with a redirect; aharally does not follow "
            "redirects from Rally. Check the Rally URL.",
            integration_id=integration.pk,
        ) from None
    except requests.exceptions.SSLError:
        raise AuthorizationFailed(
            f"Could not open a secure connection to {base} to finish the authorization: "
            "check its certificate, and the client certificate if Rally demands one.",
            integration_id=integration.pk,
        ) from None
    except requests.RequestException:
        raise AuthorizationFailed(
            f"Could not reach {base} to finish the authorization. Try again in a moment.",
            integration_id=integration.pk,
        ) from None
    except (ValueError, Warning):
        raise AuthorizationFailed(
            "Rally's token endpoint answered something unexpected. Try again.",
            integration_id=integration.pk,
        ) from None
    finally:
        session.close()
        if certificate is not None:
            certificate.close()
    expires_at = token.get("expires_at")
    return Tokens(
        access_token=token["access_token"],
        refresh_token=token.get("refresh_token") or "",
        expires_at=datetime.fromtimestamp(float(expires_at), tz=UTC) if expires_at else None,
    )
