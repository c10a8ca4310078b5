"""Authentication of WSAPI callers: API keys, OAuth access tokens, basic auth and its tokens."""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from django.http import HttpRequest
from django.utils import timezone

from . import generation
from .models import ApiKey, SecurityToken, User, digest

SECURITY_TOKEN_LIFETIME = timedelta(hours=12)
# Checking a password hash costs a few hundred milliseconds by design; basic-auth clients send
# the password on every request, so remember a successful check for a short while.
_BASIC_CACHE_SECONDS = 300
_basic_cache: dict[str, tuple[int, float]] = {}
_basic_lock = threading.Lock()


@dataclass(frozen=True)
class Caller:
    user: User
    # "apikey", "oauth", "basic" or "session" (the sandbox's own web UI).
    method: str
    read_only: bool = False


class AuthenticationFailed(Exception):
    """The request carried credentials, or none, that do not identify a user."""


def generate_api_key() -> str:
    """A key shaped like Rally's: an underscore and 40 letters and digits."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "_" + "".join(secrets.choice(alphabet) for _ in range(40))


def create_api_key(
    *, user: User, name: str, key: str | None = None, read_only: bool = False
) -> str:
    """Store a key for `user` and return it in clear (the only time it is shown)."""
    key = key or generate_api_key()
    ApiKey.objects.update_or_create(
        key_digest=digest(key),
        defaults={"user": user, "name": name, "hint": key[:6], "read_only": read_only},
    )
    return key


def user_for_api_key(key: str) -> ApiKey | None:
    """The key with its user and subscription (cached per generation: shared, read-only)."""
    key_digest = digest(key)

    def load() -> ApiKey | None:
        found = ApiKey.objects.select_related("user__subscription").filter(key_digest=key_digest)
        return found.first()

    return generation.cached(("apikey", key_digest), load)


def _oauth_user(token: str) -> User | None:
    # The OAuth app is optional: without it, a value that is not an API key is just wrong.
    try:
        from rally_sandbox.oauth.services import user_for_access_token
    except ImportError:
        return None
    return user_for_access_token(token)


def _zsessionid(request: HttpRequest) -> str | None:
    value = request.headers.get("ZSESSIONID") or request.COOKIES.get("ZSESSIONID")
    return value.strip() if value and value.strip() else None


def _basic_credentials(request: HttpRequest) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthenticationFailed from None
    username, sep, password = decoded.partition(":")
    if not sep:
        raise AuthenticationFailed
    return username, password


def _basic_user(username: str, password: str) -> User | None:
    if not username:
        # The .NET toolkit sends a bare ZSESSIONID as the password of an empty user name.
        api_key = user_for_api_key(password)
        return api_key.user if api_key else _oauth_user(password)
    user = User.objects.select_related("subscription").filter(username__iexact=username).first()
    if user is None:
        return None
    cache_key = digest(f"{user.object_id}:{user.password}:{password}")
    now = time.monotonic()
    with _basic_lock:
        hit = _basic_cache.get(cache_key)
    if hit and hit[1] > now:
        return user
    if not user.check_password(password):
        return None
    with _basic_lock:
        _basic_cache[cache_key] = (user.object_id, now + _BASIC_CACHE_SECONDS)
    return user


def authenticate(request: HttpRequest) -> Caller:
    """Identify the caller as Rally does, or raise AuthenticationFailed (answered with a 401)."""
    token = _zsessionid(request)
    if token is not None:
        api_key = user_for_api_key(token)
        if api_key is not None:
            caller = Caller(user=api_key.user, method="apikey", read_only=api_key.read_only)
            if not api_key.user.subscription.api_keys_enabled:
                raise AuthenticationFailed
        else:
            user = _oauth_user(token)
            if user is None:
                raise AuthenticationFailed
            caller = Caller(user=user, method="oauth")
    else:
        credentials = _basic_credentials(request)
        if credentials is None:
            raise AuthenticationFailed
        user = _basic_user(*credentials)
        if user is None:
            raise AuthenticationFailed
        caller = Caller(user=user, method="basic")
    if caller.user.disabled:
        raise AuthenticationFailed
    return caller


def issue_security_token(*, user: User) -> str:
    token = secrets.token_urlsafe(30)
    now = timezone.now()
    SecurityToken.objects.filter(user=user, expires__lt=now).delete()
    SecurityToken.objects.create(
        user=user, token_digest=digest(token), expires=now + SECURITY_TOKEN_LIFETIME
    )
    return token


def security_token_is_valid(*, user: User, token: str | None) -> bool:
    if not token:
        return False
    return SecurityToken.objects.filter(
        user=user, token_digest=digest(token), expires__gt=timezone.now()
    ).exists()
