"""The OAuth 2.0 authorization-code flow: clients, consent, codes, tokens, refresh and revoke."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from rally_sandbox.accounts.models import User
from rally_sandbox.oauth.models import AuthorizationCode, Client, Grant, Token

# The local aharally's client, added by the seed. Demo values, documented in docs/rally-sandbox.md.
LOCAL_CLIENT_ID = "aharally-local"
LOCAL_CLIENT_SECRET = "aharally-local-demo-secret"
LOCAL_CLIENT_NAME = "aharally (local)"
LOCAL_REDIRECT_URIS = (
    "http://127.0.0.1:8000/integrations/rally/oauth/callback",
    "http://localhost:8000/integrations/rally/oauth/callback",
)
SUPPORTED_SCOPES = {"alm", "openid"}
# A busy client would otherwise write the grant's last-used time on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class OAuthError(Exception):
    """An error answered as `{"error": code, "error_description": ...}`."""

    def __init__(self, code: str, description: str, *, status: int = 400) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.status = status


class ClientRegistrationError(ValueError):
    pass


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    scope: str

    def as_response(self) -> dict[str, object]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_in": self.expires_in,
            "token_type": "Bearer",
            "scope": self.scope,
        }


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _validate_redirect_uri(uri: str) -> str:
    uri = uri.strip()
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        raise ClientRegistrationError(
            f"Redirect URI {uri!r} must be an absolute http(s) URL without a fragment."
        )
    return uri


def register_client(
    *, client_id: str, client_secret: str, name: str, redirect_uris: list[str]
) -> Client:
    """Create or update a client (idempotent, so the seed can run again)."""
    if not client_id or len(client_id) > 100 or not client_id.isprintable() or " " in client_id:
        raise ClientRegistrationError("client_id must be 1-100 printable characters, no spaces.")
    if len(client_secret or "") < 16:
        raise ClientRegistrationError("client_secret must be at least 16 characters.")
    if not name or len(name) > 200:
        raise ClientRegistrationError("name must be 1-200 characters.")
    if not redirect_uris:
        raise ClientRegistrationError("Give at least one redirect URI.")
    uris = [_validate_redirect_uri(uri) for uri in redirect_uris]
    client, _ = Client.objects.update_or_create(
        client_id=client_id,
        defaults={
            "secret_digest": digest(client_secret),
            "name": name,
            "redirect_uris": "\n".join(uris),
        },
    )
    return client


def seed_local_client() -> Client:
    return register_client(
        client_id=LOCAL_CLIENT_ID,
        client_secret=LOCAL_CLIENT_SECRET,
        name=LOCAL_CLIENT_NAME,
        redirect_uris=list(LOCAL_REDIRECT_URIS),
    )


def client_for_authorization(*, client_id: str, redirect_uri: str) -> Client:
    """The client of an authorize request, or OAuthError; never redirect to an unknown URI."""
    client = Client.objects.filter(client_id=client_id).first() if client_id else None
    if client is None:
        raise OAuthError("invalid_client", "Unknown client_id.")
    if redirect_uri not in client.redirect_uri_list:
        raise OAuthError(
            "invalid_request", "redirect_uri does not match a URI registered for this client."
        )
    return client


def normalise_scope(scope: str | None) -> str:
    words = (scope or "alm").split()
    unknown = [word for word in words if word not in SUPPORTED_SCOPES]
    if unknown:
        raise OAuthError("invalid_scope", f"Unsupported scope: {' '.join(unknown)}.")
    return " ".join(dict.fromkeys(words))


def authenticate_client(*, client_id: str | None, client_secret: str | None) -> Client:
    client = Client.objects.filter(client_id=client_id).first() if client_id else None
    if client is None or not hmac.compare_digest(client.secret_digest, digest(client_secret or "")):
        raise OAuthError("invalid_client", "Client authentication failed.", status=401)
    return client


@transaction.atomic
def issue_code(*, client: Client, user: User, redirect_uri: str, scope: str) -> str:
    """Record the user's consent and return a short-lived, single-use code."""
    grant = Grant.objects.filter(client=client, user=user, revoked__isnull=True).first()
    if grant is None:
        grant = Grant.objects.create(client=client, user=user, scope=scope)
    elif grant.scope != scope:
        grant.scope = scope
        grant.save(update_fields=["scope"])
    code = secrets.token_urlsafe(24)
    AuthorizationCode.objects.create(
        grant=grant,
        code_digest=digest(code),
        redirect_uri=redirect_uri,
        expires=timezone.now() + timedelta(seconds=settings.OAUTH_CODE_SECONDS),
    )
    return code


def _issue_tokens(grant: Grant) -> IssuedTokens:
    access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    lifetime = settings.OAUTH_ACCESS_TOKEN_SECONDS
    now = timezone.now()
    Token.objects.bulk_create(
        [
            Token(
                grant=grant,
                kind=Token.Kind.ACCESS,
                token_digest=digest(access),
                expires=now + timedelta(seconds=lifetime),
            ),
            Token(grant=grant, kind=Token.Kind.REFRESH, token_digest=digest(refresh)),
        ]
    )
    return IssuedTokens(
        access_token=access, refresh_token=refresh, expires_in=lifetime, scope=grant.scope
    )


def exchange_code(*, client: Client, code: str, redirect_uri: str | None) -> IssuedTokens:
    # Not one transaction on purpose: a replayed code's consequences must outlive the error.
    if not code:
        raise OAuthError("invalid_request", "Missing parameter: code.")
    now = timezone.now()
    row = AuthorizationCode.objects.select_related("grant").filter(code_digest=digest(code)).first()
    if row is None or row.grant.client_id != client.pk:
        raise OAuthError("invalid_grant", "The authorization code is invalid.")
    # Mark it used in the same statement that checks it, so two racing exchanges can't both win.
    claimed = AuthorizationCode.objects.filter(pk=row.pk, used__isnull=True).update(used=now)
    if not claimed:
        # A replayed code suggests it leaked: end what it produced (RFC 6749 §4.1.2).
        _end_tokens(Token.objects.filter(grant=row.grant, created__gte=row.used or now), now)
        raise OAuthError("invalid_grant", "The authorization code was already used.")
    if row.expires <= now:
        raise OAuthError("invalid_grant", "The authorization code has expired.")
    if redirect_uri != row.redirect_uri:
        raise OAuthError("invalid_grant", "redirect_uri does not match the authorization request.")
    if not row.grant.is_active:
        raise OAuthError("invalid_grant", "The authorization was revoked.")
    return _issue_tokens(row.grant)


@transaction.atomic
def refresh_tokens(*, client: Client, refresh_token: str) -> IssuedTokens:
    """Exchange a refresh token for new tokens; the old refresh token stops working (rotation)."""
    if not refresh_token:
        raise OAuthError("invalid_request", "Missing parameter: refresh_token.")
    now = timezone.now()
    token = (
        Token.objects.select_related("grant")
        .filter(kind=Token.Kind.REFRESH, token_digest=digest(refresh_token))
        .first()
    )
    if token is None or token.grant.client_id != client.pk:
        raise OAuthError("invalid_grant", "The refresh token is invalid.")
    if not token.grant.is_active:
        raise OAuthError("invalid_grant", "The authorization was revoked.")
    if not Token.objects.filter(pk=token.pk, ended__isnull=True).update(ended=now):
        raise OAuthError("invalid_grant", "The refresh token was already used.")
    return _issue_tokens(token.grant)


def user_for_access_token(token: str) -> User | None:
    """The user a live access token acts for, or None (expired, revoked or unknown)."""
    if not token:
        return None
    now = timezone.now()
    row = (
        Token.objects.select_related("grant__user__subscription")
        .filter(
            kind=Token.Kind.ACCESS,
            token_digest=digest(token),
            ended__isnull=True,
            expires__gt=now,
            grant__revoked__isnull=True,
        )
        .first()
    )
    if row is None:
        return None
    grant = row.grant
    if grant.last_used is None or now - grant.last_used > LAST_USED_RESOLUTION:
        Grant.objects.filter(pk=grant.pk).update(last_used=now)
    return grant.user


def _end_tokens(tokens, now) -> int:
    return tokens.filter(ended__isnull=True).update(ended=now)


@transaction.atomic
def revoke_grant(*, grant: Grant) -> None:
    now = timezone.now()
    Grant.objects.filter(pk=grant.pk, revoked__isnull=True).update(revoked=now)
    _end_tokens(Token.objects.filter(grant=grant), now)
    AuthorizationCode.objects.filter(grant=grant, used__isnull=True).update(used=now)


def active_grants(*, user: User) -> list[Grant]:
    return list(Grant.objects.filter(user=user, revoked__isnull=True).select_related("client"))


def expire_access_tokens(*, client_id: str | None = None, username: str | None = None) -> int:
    """Make live access tokens expired now, so tests can refresh without waiting."""
    now = timezone.now()
    tokens = Token.objects.filter(kind=Token.Kind.ACCESS, ended__isnull=True, expires__gt=now)
    if client_id:
        tokens = tokens.filter(grant__client__client_id=client_id)
    if username:
        tokens = tokens.filter(grant__user__username__iexact=username)
    return tokens.update(expires=now - timedelta(seconds=1))
