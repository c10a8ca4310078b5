"""Settings of the Rally sandbox: a separate process with its own database and port."""

from __future__ import annotations

from pathlib import Path

import dj_database_url

from rally_sandbox.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

DEBUG = env_bool("RALLY_SANDBOX_DEBUG", default=False)
# Development mode: `make run` sets DEBUG=true for every process it starts, this one included.
# It only unlocks documented development defaults (the admin key); Django's DEBUG stays as is.
DEVELOPMENT = DEBUG or env_bool("DEBUG", default=False)
# The sandbox holds demo data only; its key signs its own login sessions.
SECRET_KEY = env_str("RALLY_SANDBOX_SECRET_KEY", "rally-sandbox-local-key")
ALLOWED_HOSTS = env_list("RALLY_SANDBOX_ALLOWED_HOSTS", ["*"])

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rally_sandbox.accounts",
    "rally_sandbox.wsapi",
    "rally_sandbox.oauth",
    "rally_sandbox.pigeon",
    "rally_sandbox.faults",
    "rally_sandbox.ui",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # The web UI's few static files (ui/static/, oauth/static/), served from the apps without
    # collectstatic.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "csp.middleware.CSPMiddleware",
]
# No script at all (the root page sets its own policy for its one script file); styles from the
# sandbox's own stylesheets only (ui/static/, oauth/static/): no inline <style> or style="…".
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'none'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
APPEND_SLASH = False

ROOT_URLCONF = "rally_sandbox.urls"
WSGI_APPLICATION = "rally_sandbox.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("RALLY_SANDBOX_DATABASE_URL", f"sqlite:///{VAR_DIR / 'rally_sandbox.sqlite3'}")
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# A 50,000,000-byte attachment arrives as base64 inside JSON (~66.7 MB): the body must fit,
# so that Rally's own "too large" answer, not Django's 400, refuses what is over the limit.
DATA_UPLOAD_MAX_MEMORY_SIZE = 80_000_000

USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "sandbox-static/"
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
SESSION_COOKIE_NAME = "rally_sandbox_session"
CSRF_COOKIE_NAME = "rally_sandbox_csrftoken"

# OAuth 2.0: lifetimes in seconds (short in tests).
OAUTH_ACCESS_TOKEN_SECONDS = env_int("RALLY_SANDBOX_ACCESS_TOKEN_SECONDS", 3600)
OAUTH_CODE_SECONDS = env_int("RALLY_SANDBOX_CODE_SECONDS", 300)

# --- Admin API, webhooks (pigeon) and fault injection (oauth/pigeon/faults helper) ---
# The key for /sandbox-admin/* (X-Sandbox-Admin-Key); tests set their own. The documented
# default works in development only: anywhere else, without a key of its own, the admin API is
# off, and the documented key is refused even when set explicitly.
DEV_ADMIN_KEY = "sandbox-admin-dev-key"
RALLY_SANDBOX_ADMIN_KEY = env_str("RALLY_SANDBOX_ADMIN_KEY", DEV_ADMIN_KEY if DEVELOPMENT else "")
if RALLY_SANDBOX_ADMIN_KEY == DEV_ADMIN_KEY and not DEVELOPMENT:
    RALLY_SANDBOX_ADMIN_KEY = ""
# Seconds to wait before each retry of a failed webhook delivery; attempts = retries + 1.
PIGEON_RETRY_DELAYS = [
    float(delay)
    for delay in env_list("RALLY_SANDBOX_WEBHOOK_RETRY_DELAYS", ["5", "30", "120", "600"])
]
PIGEON_TIMEOUT_SECONDS = env_int("RALLY_SANDBOX_WEBHOOK_TIMEOUT_SECONDS", 10)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("RALLY_SANDBOX_LOG_LEVEL", "WARNING")},
}
