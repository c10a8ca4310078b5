"""Credentials for Rally: an API key, or OAuth tokens that refresh themselves.

Both are sent the same way, in the ``ZSESSIONID`` header. OAuth access tokens expire; on a
401 the client asks the credential to refresh (once per request), the credential obtains
new tokens from ``<base>/login/oauth2/token`` (grant ``refresh_token``) and hands them to
the ``on_refresh`` callback so that the caller can store them: Rally rotates refresh tokens,
so a new refresh token that is not stored is a grant lost.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from oauthlib.oauth2 import OAuth2Error, WebApplicationClient

from aharally.rally.errors import RallyAuthError, RallyTransientError

TOKEN_PATH = "/login/oauth2/token"
# Refresh a little before the announced expiry rather than waste a request on a 401.
EXPIRY_MARGIN_SECONDS = 30


@dataclass(frozen=True)
class TokenSet:
    """OAuth tokens as the storing callback receives them; ``expires_at`` is a Unix time."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None


class ApiKey:
    """A Rally API key: never expires, acts as the user who created it."""

    can_refresh = False

    def __init__(self, key: str) -> None:
        if not key or not key.strip():
            raise ValueError("The Rally API key is empty")
        self._key = key.strip()
        self.identity = "key:" + hashlib.sha256(self._key.encode()).hexdigest()[:16]

    def token(self) -> str:
        return self._key

    def __repr__(self) -> str:
        return "ApiKey(<hidden>)"


RefreshFunction = Callable[[str], TokenSet]


class OAuthToken:
    """An OAuth access token plus what is needed to refresh it.

    ``refresh`` obtains new tokens from a refresh token; the client supplies one that posts
    to Rally's token endpoint with its own session when ``client_id``/``client_secret`` are
    given. ``on_refresh`` receives every new ``TokenSet``. Thread-safe: when several threads
    see a 401 for the same expired token, only one refreshes.
    """

    can_refresh = True

    def __init__(
        self,
        access_token: str,
        *,
        refresh_token: str | None = None,
        expires_at: float | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        on_refresh: Callable[[TokenSet], None] | None = None,
        refresh: RefreshFunction | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not access_token:
            raise ValueError("The OAuth access token is empty")
        self._tokens = TokenSet(access_token, refresh_token, expires_at)
        self.client_id = client_id
        self.client_secret = client_secret
        self.on_refresh = on_refresh
        self.refresh_function = refresh
        self._clock = clock
        self._lock = threading.Lock()
        # The process-wide concurrency cap is per Rally user; the first token stands for it.
        seed = f"{client_id}:{refresh_token or access_token}"
        self.identity = "oauth:" + hashlib.sha256(seed.encode()).hexdigest()[:16]

    @property
    def tokens(self) -> TokenSet:
        return self._tokens

    def token(self) -> str:
        """The access token to send, refreshed first when it is known to have expired."""
        tokens = self._tokens
        if (
            tokens.expires_at is not None
            and tokens.refresh_token
            and self.refresh_function
            and tokens.expires_at - EXPIRY_MARGIN_SECONDS <= self._clock()
        ):
            self.refresh_after_failure(tokens.access_token)
            tokens = self._tokens
        return tokens.access_token

    def refresh_after_failure(self, used_token: str) -> None:
        """Get new tokens because ``used_token`` was refused, unless another thread already did.

        Raises ``RallyAuthError`` when there is no way to refresh or the grant was revoked.
        """
        with self._lock:
            if self._tokens.access_token != used_token:
                return
            if not self._tokens.refresh_token:
                raise RallyAuthError("The OAuth access token expired and there is no refresh token")
            if self.refresh_function is None:
                raise RallyAuthError("The OAuth access token expired and cannot be refreshed here")
            new = self.refresh_function(self._tokens.refresh_token)
            if not new.refresh_token:
                # Rally rotates refresh tokens; keep the old one if none came back.
                new = TokenSet(new.access_token, self._tokens.refresh_token, new.expires_at)
            self._tokens = new
            if self.on_refresh is not None:
                self.on_refresh(new)

    def __repr__(self) -> str:
        return "OAuthToken(<hidden>)"


Credential = ApiKey | OAuthToken


def refresh_tokens(
    post: Callable[[str, str, dict[str, str]], Any],
    *,
    token_url: str,
    client_id: str,
    client_secret: str,
    refresh_token: str,
    clock: Callable[[], float] = time.time,
) -> TokenSet:
    """Exchange a refresh token for new tokens at Rally's token endpoint.

    oauthlib builds the form body and parses (and validates) the answer; the POST goes
    through the transport's own `post(url, body, headers)` (its answer has `status_code` and
    `text`; it raises `RallyTransientError` when Rally can't be reached), so it carries the
    same client certificate and CA bundle.
    Reference: https://rally1.rallydev.com/login/oauth2/token (grant_type=refresh_token).
    """
    oauth = WebApplicationClient(client_id)
    body = oauth.prepare_refresh_body(
        refresh_token=refresh_token, client_id=client_id, client_secret=client_secret
    )
    response = post(
        token_url,
        body,
        {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
    )
    if response.status_code >= 500:
        raise RallyTransientError(
            f"Rally's token endpoint failed (HTTP {response.status_code})",
            status=response.status_code,
        )
    try:
        token = oauth.parse_request_body_response(response.text)
    except OAuth2Error as exc:
        # invalid_grant: the user revoked the grant, or the refresh token was already used.
        raise RallyAuthError(
            f"Rally refused to refresh the OAuth token: {exc.error}",
            revoked=exc.error == "invalid_grant",
            status=response.status_code,
        ) from None
    except (ValueError, Warning) as exc:
        raise RallyAuthError(
            f"Rally's token endpoint answered unexpectedly (HTTP {response.status_code})",
            status=response.status_code,
        ) from exc
    expires_in = token.get("expires_in")
    return TokenSet(
        access_token=token["access_token"],
        refresh_token=token.get("refresh_token"),
        expires_at=clock() + float(expires_in) if expires_in else None,
    )
