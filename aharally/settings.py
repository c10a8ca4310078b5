"""Settings for aharally, read from the environment (see .env.example)."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from aharally.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

DEBUG = env_bool("DEBUG", default=False)
TESTING = env_bool("AHARALLY_TESTING", default=False)

_DEV_SECRET = "insecure-development-key-do-not-use-in-production"
# Without DEBUG there is no default: the web server refuses to start (wsgi.py) and anything
# that signs or encrypts fails loudly, while commands that need no key (makemigrations,
# collectstatic) still run.
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET if (DEBUG or TESTING) else "")
if not (DEBUG or TESTING) and SECRET_KEY == _DEV_SECRET:
    raise ImproperlyConfigured("SECRET_KEY must be set to a private value when DEBUG is off.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# Fernet keys for secrets at rest (first encrypts); derived from SECRET_KEY when unset.
ENCRYPTION_KEYS = env_list("AHARALLY_ENCRYPTION_KEYS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "django_htmx",
    "template_partials",
    # Before django_q: its `qcluster` command replaces django-q2's (graceful stop).
    "aharally.taskcluster",
    "django_q",
    "aharally.workspaces",
    "aharally.records",
    "aharally.discussion",
    "aharally.integrations",
    "aharally.statusmap",
    "aharally.conflictpolicy",
    "aharally.sync",
    "aharally.ops",
    "aharally.alerts",
    "aharally.concurrency",
]

MIDDLEWARE = [
    "aharally.observability.logcontext.RequestIdMiddleware",
    # /healthz, /readyz, /metrics: before the host check and the https redirect (probes call
    # a container by its address over http).
    "aharally.ops.views.ProbeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "aharally.errors.SignInAsAPage",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "aharally.urls"
CSRF_FAILURE_VIEW = "aharally.errors.csrf_failure"
WSGI_APPLICATION = "aharally.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "aharally.workspaces.context_processors.workspace_nav",
                "aharally.sync.web.context_processors.integration_updates",
                "aharally.alerts.context_processors.notifications",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'aharally.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Immediate transactions and a busy timeout keep the web server and the task
    # cluster from failing with "database is locked" when both write.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
if TESTING and DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file rather than memory: the sync's tests run a real task cluster (another process)
    # on the test database. In shared memory where there is one, so it stays fast.
    _shm = Path("/dev/shm")  # noqa: S108 (a per-process name, tests only)
    _test_dir = _shm if _shm.is_dir() else Path(tempfile.gettempdir())
    DATABASES["default"]["TEST"] = {"NAME": str(_test_dir / f"aharally-test-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Longer passwords are refused before any validator or hasher sees them (a 1 MB password
# would keep a worker busy in the similarity validator).
PASSWORD_MAX_LENGTH = 512
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"

# django-allauth: email + password, no usernames shown to people.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = "username"
ACCOUNT_EMAIL_VERIFICATION = env_str("ACCOUNT_EMAIL_VERIFICATION", "none")
ACCOUNT_ADAPTER = "aharally.workspaces.adapters.AccountAdapter"
ACCOUNT_ALLOW_SIGNUPS = env_bool("ACCOUNT_ALLOW_SIGNUPS", default=True)
ACCOUNT_SESSION_REMEMBER = True
# Sign-in throttling (state in the shared cache below, so every worker counts the same
# guesses): failed sign-ins per client address, and per account *from one client address*
# (the adapter's key), so guessing is slowed while the owner, from another client, still gets
# in with the right password.
ACCOUNT_RATE_LIMITS = {
    "login_failed": env_str("ACCOUNT_LOGIN_FAILED_RATE_LIMIT", "20/5m/ip,5/5m/key"),
}
# The client address for throttling: X-Forwarded-For (its last hop) only behind our own
# proxy; otherwise the connection's address, since anyone can send the header.
BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY")
ALLAUTH_TRUSTED_PROXY_COUNT = 1 if BEHIND_TLS_PROXY else 0

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "aharally <aharally@localhost>")
# SMTP, when EMAIL_BACKEND is django.core.mail.backends.smtp.EmailBackend (docs/deploy.md).
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)

# Alerts (docs/alerts.md): how often their conditions are evaluated, in minutes; an
# integration's failures worth telling (this many failed changes, or one kind of error retried
# for this many minutes); how long changes may come back without a webhook while one is
# registered; how long Integration updates may wait before reviewers get a digest, in hours;
# how long a notification read is kept, in days.
ALERTS_EVALUATE_MINUTES = env_int("ALERTS_EVALUATE_MINUTES", 1)
ALERTS_FAILED_ROWS = env_int("ALERTS_FAILED_ROWS", 10)
ALERTS_FAILURE_MINUTES = env_int("ALERTS_FAILURE_MINUTES", 15)
ALERTS_WEBHOOK_SILENCE_MINUTES = env_int("ALERTS_WEBHOOK_SILENCE_MINUTES", 15)
ALERTS_REVIEW_WAIT_HOURS = env_int("ALERTS_REVIEW_WAIT_HOURS", 24)
ALERTS_KEEP_READ_DAYS = env_int("ALERTS_KEEP_READ_DAYS", 90)

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # Front-end libraries come from npm (package.json) and are served as they are.
    ("vendor/htmx", BASE_DIR / "node_modules" / "htmx.org" / "dist"),
    ("vendor/sortablejs", BASE_DIR / "node_modules" / "sortablejs"),
]
# Uploaded files (attachments): the local file system under var/ by default; an
# S3-compatible bucket (AWS S3, MinIO, Ceph, R2…) through django-storages when
# ATTACHMENTS_S3_BUCKET is set. Either way files are private: aharally serves them to
# workspace members itself (aharally/discussion/views.py), never by a public URL.
MEDIA_ROOT = env_str("ATTACHMENTS_DIR", str(VAR_DIR / "attachments"))
ATTACHMENTS_S3_BUCKET = env_str("ATTACHMENTS_S3_BUCKET", "")
if ATTACHMENTS_S3_BUCKET:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": ATTACHMENTS_S3_BUCKET,
            # Empty: AWS's own endpoint for the region; set for another S3-compatible store.
            "endpoint_url": env_str("ATTACHMENTS_S3_ENDPOINT_URL", "") or None,
            "region_name": env_str("ATTACHMENTS_S3_REGION", "") or None,
            # Empty: boto3's own chain (instance role, AWS_* variables, ~/.aws).
            "access_key": env_str("ATTACHMENTS_S3_ACCESS_KEY_ID", "") or None,
            "secret_key": env_str("ATTACHMENTS_S3_SECRET_ACCESS_KEY", "") or None,
            "location": env_str("ATTACHMENTS_S3_PREFIX", ""),
            "addressing_style": env_str("ATTACHMENTS_S3_ADDRESSING_STYLE", "") or None,
            "default_acl": "private",
            "file_overwrite": False,
            "querystring_auth": True,
        },
    }
else:
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
# Largest attachment accepted, in bytes: Rally's own limit, 50,000,000 (as pyral has it).
ATTACHMENT_MAX_BYTES = env_int("ATTACHMENT_MAX_BYTES", 50_000_000)
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Served over https behind a TLS proxy (BEHIND_TLS_PROXY): https only, said with HSTS, and
# cookies that never travel over plain http. Each can be set on its own.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_TLS_PROXY else None
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=BEHIND_TLS_PROXY)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if BEHIND_TLS_PROXY else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=BEHIND_TLS_PROXY)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=BEHIND_TLS_PROXY)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=SESSION_COOKIE_SECURE)
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# django-csp: no inline script or style anywhere (status colours are set through the CSSOM by
# static/js/status-colors.js). form-action is left open: the Authorize form redirects to Rally.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# A cache shared by every process (sign-in throttling must count across gunicorn workers):
# a database table by default (`manage.py createcachetable`), Redis when REDIS_URL is set.
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    import importlib.util

    if importlib.util.find_spec("redis") is None:
        raise ImproperlyConfigured("REDIS_URL is set but the redis package is not installed.")
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "aharally_cache",
            # Past MAX_ENTRIES this cache deletes its expired entries, then a third of the rest,
            # the first by key: its default of 300 is soon reached by a few integrations' kept
            # metadata and people, and such a cull drops rate-limit locks and throttles too.
            # Every write counts the rows, so not unbounded either.
            "OPTIONS": {"MAX_ENTRIES": 50_000},
        }
    }

# Rally integration. http:// and private/loopback addresses are refused (no SSRF) unless
# allowed here: the local Rally sandbox needs both, so DEBUG and tests allow them by default.
RALLY_ALLOW_HTTP = env_bool("RALLY_ALLOW_HTTP", default=DEBUG or TESTING)
RALLY_ALLOW_PRIVATE_ADDRESSES = env_bool("RALLY_ALLOW_PRIVATE_ADDRESSES", default=DEBUG or TESTING)
# The OAuth client registered at Rally for this installation (defaults: the sandbox's demo client).
# A CA bundle (PEM path) to trust for an on-premises Rally with a private CA; empty: the
# system's trust store (or REQUESTS_CA_BUNDLE).
RALLY_CA_BUNDLE = env_str("RALLY_CA_BUNDLE", "")
RALLY_OAUTH_CLIENT_ID = env_str("RALLY_OAUTH_CLIENT_ID", "aharally-local")
RALLY_OAUTH_CLIENT_SECRET = env_str("RALLY_OAUTH_CLIENT_SECRET", "aharally-local-demo-secret")
# The one Rally that client is registered at: its secret is sent nowhere else. For any other
# Rally URL an owner registers a client of their own in the wizard (or uses an API key).
# Default: the local sandbox under DEBUG (make run), rally1.rallydev.com otherwise.
RALLY_OAUTH_URL = (
    env_str("RALLY_OAUTH_URL", "http://127.0.0.1:8001" if DEBUG else "https://rally1.rallydev.com")
    .strip()
    .rstrip("/")
    .lower()
)

# Fields a form may post: Django's 1,000 would refuse a selection of 1,000 features with a
# bare 400 before the bulk action (5,000 at most, records.bulk.MAX_SELECTION) or a review
# queue could answer. The board posts its selection as one field; plain forms need this.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 5_100

# Largest rich-text field accepted from a form, in characters.
RICH_TEXT_MAX_LENGTH = env_int("RICH_TEXT_MAX_LENGTH", 100_000)

Q_CLUSTER = {
    "name": "aharally",
    "workers": env_int("Q_WORKERS", 2),
    "timeout": 120,
    "retry": 180,
    "max_attempts": 1,
    "catch_up": False,
    "sync": env_bool("Q_SYNC", default=False),
    # The sentinel checks its processes, and builds its status, this often (django-q2: 0.5).
    "guard_cycle": 1.0,
}
# The task queue: the database by default (nothing more to run), Redis when REDIS_URL is set.
# Either way any number of clusters share it, and schedules live in the database, where
# django-q2's scheduler takes each due one under a row lock: once per period, not per cluster.
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    # Queuing a task wakes the clusters at once (PostgreSQL's NOTIFY, or a local socket on
    # SQLite); an idle cluster also looks at the queue this often, in case a wake-up went astray
    # (django-q2's default is 200 ms). One indexed query a look; Redis's broker needs none (a
    # blocking pop). aharally/taskcluster/broker.py and wakeups.py.
    Q_CLUSTER["poll"] = env_int("Q_POLL_MS", 1000) / 1000
    Q_CLUSTER["broker_class"] = "aharally.taskcluster.broker.QuickPollORM"

# The sync (aharally/sync). Times in seconds unless named otherwise.
# A rich-text edit waits this long for the typing to stop before it is sent (0: at once).
SYNC_RICH_TEXT_QUIET_SECONDS = env_int("SYNC_RICH_TEXT_QUIET_SECONDS", 0 if TESTING else 300)
# Requests in flight per Rally user, counted across every process and machine (Rally allows
# 12 per user; more is capped at 12).
SYNC_CONCURRENCY = env_int("SYNC_CONCURRENCY", 12)
# A request holds one of those slots under a lease its process renews; a killed process's
# slots come back after this long.
SYNC_SLOT_LEASE_SECONDS = env_int("SYNC_SLOT_LEASE_SECONDS", 30)
# A process keeps a slot this long after a request for its next one (a drain sends row after
# row), rather than giving it back and taking one again: two queries a request saved.
SYNC_SLOT_KEEP_MS = env_int("SYNC_SLOT_KEEP_MS", 1000)
# A row claimed longer ago than this is taken back (its worker died); a drain's lease lives
# this long unless renewed.
SYNC_CLAIM_TIMEOUT_SECONDS = env_int("SYNC_CLAIM_TIMEOUT_SECONDS", 150)
SYNC_LEASE_SECONDS = env_int("SYNC_LEASE_SECONDS", 60)
# One drain task works this long, then hands over to a fresh task (below Q_CLUSTER timeout).
SYNC_DRAIN_BUDGET_SECONDS = env_int("SYNC_DRAIN_BUDGET_SECONDS", 90)
# A drain waits this long for rows due soon (retries after a 5xx) before it returns.
SYNC_DRAIN_WAIT_SECONDS = env_int("SYNC_DRAIN_WAIT_SECONDS", 15)
SYNC_BASE_BACKOFF_SECONDS = env_int("SYNC_BASE_BACKOFF_SECONDS", 1)
SYNC_MAX_BACKOFF_SECONDS = env_int("SYNC_MAX_BACKOFF_SECONDS", 300)
# How often the sync's schedule reclaims stuck rows and wakes waiting ones, in minutes.
SYNC_TICK_MINUTES = env_int("SYNC_TICK_MINUTES", 1)
# How often the catch-up reads what changed in Rally since its cursor, in minutes.
SYNC_PULL_MINUTES = env_int("SYNC_PULL_MINUTES", 1)
# Objects a catch-up reads a page (Rally's largest page is 2,000).
SYNC_PULL_PAGE_SIZE = env_int("SYNC_PULL_PAGE_SIZE", 2000)
# Rally's metadata a send uses (a type's attributes, portfolio item states, people) is kept
# across drains this long, then read again; sooner when the mappings change or Rally refuses
# what was built from it (aharally/integrations/rally_metadata.py).
SYNC_RALLY_METADATA_SECONDS = env_int("SYNC_RALLY_METADATA_SECONDS", 900)

# Production (docs/operations.md): health, metrics, heartbeats, structured logs.
# /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`; unset, it is 404.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
# A directory shared by the processes of one machine (or a volume shared by containers): the
# process-side metrics (Rally request latency, failed attempts) are added up from it.
METRICS_DIR = env_str("METRICS_DIR", "")
if METRICS_DIR and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    # prometheus_client picks its mode at import, and django_q imports it as the apps load:
    # so here. One directory a machine or container (process ids repeat across containers,
    # and two writers of one file corrupt it); aharally.ops.metrics adds them all up.
    _own_metrics_dir = Path(METRICS_DIR) / socket.gethostname()
    _own_metrics_dir.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_own_metrics_dir)
# `manage.py serve_metrics` (a worker machine without a web process) listens here.
METRICS_PORT = env_int("METRICS_PORT", 9808)
# Each task cluster writes a heartbeat this often; /readyz fails when none is fresher than
# the stale limit (a killed cluster shows within it; a stopped one at once).
CLUSTER_HEARTBEAT_SECONDS = env_int("CLUSTER_HEARTBEAT_SECONDS", 10)
CLUSTER_HEARTBEAT_STALE_SECONDS = env_int("CLUSTER_HEARTBEAT_STALE_SECONDS", 60)
# A task cluster that takes no task this long while tasks wait and a worker is free restarts
# itself (as it does at once when one of its processes dies), and /readyz reports it stuck.
CLUSTER_STALL_SECONDS = env_int("CLUSTER_STALL_SECONDS", 20)
# On such a restart, running tasks get this long to finish or give back their work.
CLUSTER_RESTART_GRACE_SECONDS = env_int("CLUSTER_RESTART_GRACE_SECONDS", 10)
if CLUSTER_STALL_SECONDS < 5 or CLUSTER_RESTART_GRACE_SECONDS < 0:
    # Under a few seconds a cluster would restart while its pusher is still polling the queue.
    raise ImproperlyConfigured(
        "CLUSTER_STALL_SECONDS must be at least 5, CLUSTER_RESTART_GRACE_SECONDS at least 0."
    )
# "plain" (the default, for people) or "json" (one JSON object a line, for log collectors).
LOG_FORMAT = env_str("LOG_FORMAT", "plain").strip().lower()
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} is not plain or json.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact_query": {"()": "aharally.logfilters.RedactQueryStrings"},
        "redact_credentials": {"()": "aharally.logfilters.RedactCredentials"},
        "context": {"()": "aharally.observability.logcontext.ContextFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            # timestamp: ISO 8601 in UTC; integration_id, record and request_id come as
            # extra fields when the context knows them (aharally.observability.logcontext).
            "fmt": "%(levelname)s %(name)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": True,
        },
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context", "redact_credentials"],
        },
        # The dev server's request lines, as Django logs them, without OAuth codes.
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "django.server",
            "filters": ["context", "redact_query", "redact_credentials"],
        },
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's own console handler (DEBUG only) would print request paths, a webhook's
        # secret among them, unfiltered: the django loggers go through ours instead.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
    },
}
