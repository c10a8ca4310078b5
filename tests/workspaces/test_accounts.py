"""Sign-in, sign-up (open and closed) and the styled allauth pages."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tests.factories import PASSWORD, make_user

User = get_user_model()
NEW_PASSWORD = "a-long-and-unusual-passphrase"


def _signup(client, email: str):
    return client.post(
        "/accounts/signup/",
        {"email": email, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )


@pytest.mark.django_db
def test_the_sign_in_page_uses_the_applications_layout(client):
    response = client.get("/accounts/login/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'class="topbar"' in html
    assert 'class="auth"' in html
    assert 'name="login"' in html and 'name="password"' in html


@pytest.mark.django_db
def test_a_user_signs_in_with_email_and_password(client):
    user = make_user("pat@example.com")
    response = client.post("/accounts/login/", {"login": "pat@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/").wsgi_request.user == user


@pytest.mark.django_db
def test_a_wrong_password_is_refused_with_a_message(client):
    make_user("pat@example.com")
    response = client.post("/accounts/login/", {"login": "pat@example.com", "password": "nope"})
    assert response.status_code == 200
    assert "not correct" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_open_sign_up_creates_an_account(client, settings):
    settings.ACCOUNT_ALLOW_SIGNUPS = True
    response = _signup(client, "new@example.com")
    assert response.status_code == 302
    assert User.objects.filter(email="new@example.com").exists()


@pytest.mark.django_db
def test_closed_sign_up_shows_a_closed_page_and_creates_nothing(client, settings):
    settings.ACCOUNT_ALLOW_SIGNUPS = False
    page = client.get("/accounts/signup/")
    assert "Sign-up is closed" in page.content.decode()
    response = _signup(client, "new@example.com")
    assert "Sign-up is closed" in response.content.decode()
    assert not User.objects.filter(email="new@example.com").exists()


@pytest.mark.django_db
def test_signing_out_ends_the_session(client):
    client.force_login(make_user())
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_the_password_reset_page_is_styled(client):
    response = client.get("/accounts/password/reset/")
    assert response.status_code == 200
    assert 'class="auth"' in response.content.decode()


@pytest.mark.django_db
def test_a_signed_in_user_changes_their_password_on_a_styled_page(client):
    user = make_user("pat@example.com")
    client.force_login(user)
    page = client.get("/accounts/password/change/")
    assert page.status_code == 200 and 'class="auth"' in page.content.decode()
    response = client.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
