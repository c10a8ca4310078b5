"""Security headers: a CSP on every page (the sandbox's too); https, HSTS and secure cookies
behind the TLS proxy; `check --deploy` clean with the documented production settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def production_env(**extra: str) -> dict[str, str]:
    """The production settings README.md documents, behind a TLS proxy."""
    # Not the test run's own switches (the browser tests set DJANGO_ALLOW_ASYNC_UNSAFE).
    skip = ("AHARALLY_TESTING", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {k: v for k, v in os.environ.items() if k not in skip}
    env.update(
        {
            "DEBUG": "false",
            "SECRET_KEY": "a-long-random-production-secret-key-" + "q" * 40,
            "AHARALLY_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "ALLOWED_HOSTS": "aharally.example.com",
            "CSRF_TRUSTED_ORIGINS": "https://aharally.example.com",
            "SITE_URL": "https://aharally.example.com",
            "BEHIND_TLS_PROXY": "true",
            **extra,
        }
    )
    return env


def test_check_deploy_is_clean_with_the_documented_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_behind_the_tls_proxy_https_hsts_and_secure_cookies_are_on_by_default():
    code = (
        "from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS > 0, s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE, s.SECURE_PROXY_SSL_HEADER is not None)"
    )
    run = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.stdout.splitlines()[-1].split() == ["True"] * 5, run.stderr
    plain = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=production_env(BEHIND_TLS_PROXY="false"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert plain.stdout.splitlines()[-1].split() == ["False"] * 5, plain.stderr


@pytest.mark.django_db
def test_behind_the_proxy_plain_http_is_redirected_and_https_gets_hsts(client, settings, cast):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31_536_000
    plain = client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="http")
    assert plain.status_code == 301 and plain["Location"].startswith("https://")
    secure = client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
    assert secure.status_code == 200
    assert "max-age=31536000" in secure["Strict-Transport-Security"]


@pytest.mark.django_db
def test_every_kind_of_page_carries_the_policy_without_unsafe_inline(client, cast):
    pages = ["/accounts/login/", "/accounts/signup/", "/no-such-page/"]
    for url in pages:
        policy = client.get(url)["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "unsafe-inline" not in policy, url
    client.force_login(cast.owner)
    for url in [
        "/w/PLAT/features/board/",
        "/w/PLAT/settings/",
        "/w/PLAT/settings/integrations/",
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert "script-src 'self'" in response["Content-Security-Policy"], url
        assert response["X-Frame-Options"] == "DENY"


def test_the_sandbox_pages_carry_a_policy_too(rally_sandbox):
    for path in ("/sandbox/", "/login/oauth2/login"):
        response = requests.get(rally_sandbox.base_url + path, timeout=10, allow_redirects=False)
        policy = response.headers.get("Content-Security-Policy", "")
        assert "script-src 'none'" in policy, path
