"""Who is signed in to the sandbox in this browser (its login page and its own web pages)."""

from __future__ import annotations

from django.http import HttpRequest

from rally_sandbox.accounts.models import User

SESSION_KEY = "sandbox_user_id"


def authenticate_user(*, login: str, password: str) -> User | None:
    """The enabled user whose username or e-mail address is `login`, if the password is right."""
    login = (login or "").strip()
    if not login or not password:
        return None
    user = User.objects.filter(username__iexact=login).first()
    if user is None:
        matches = list(User.objects.filter(email__iexact=login)[:2])
        user = matches[0] if len(matches) == 1 else None
    if user is None or user.disabled or not user.check_password(password):
        return None
    return user


def sign_in(request: HttpRequest, user: User) -> None:
    # A new session key on sign-in, so a session id planted before login is worthless.
    request.session.cycle_key()
    request.session[SESSION_KEY] = user.object_id


def sign_out(request: HttpRequest) -> None:
    request.session.flush()


def signed_in_user(request: HttpRequest) -> User | None:
    object_id = request.session.get(SESSION_KEY)
    if object_id is None:
        return None
    user = User.objects.filter(object_id=object_id, disabled=False).first()
    if user is None:
        request.session.pop(SESSION_KEY, None)
    return user
