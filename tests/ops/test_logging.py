"""Structured logs: LOG_FORMAT=json makes each line a JSON object with the context's fields;
no format ever carries a credential, whichever flow handled it."""

from __future__ import annotations

import copy
import io
import json
import logging
import os
import subprocess
import sys
from logging.config import DictConfigurator
from pathlib import Path

import pytest
from django.conf import settings

from aharally.integrations.models import Integration
from aharally.sync.incoming.webhooks import register_webhook
from aharally.sync.models import WebhookRegistration
from aharally.sync.outgoing.drain import drain_outbox
from aharally.sync.web.jobs import start_job
from tests.factories import make_feature
from tests.sync.support import connect, token

ROOT = Path(__file__).resolve().parents[2]

JSON_PROGRAM = """
import logging
import django
django.setup()
from django.test import Client
from aharally.observability.logcontext import bound
with bound(integration_id=7, record="feature:12"):
    logging.getLogger("aharally.sync").warning("Sent %s", "PLAT-12")
Client().get("/no-such-page/", headers={"X-Request-ID": "req-abc.123"}, HTTP_HOST="localhost")
logging.getLogger("aharally.sync").error("Bearer abcdef0123456789 was refused")
"""


def test_log_format_json_makes_every_line_a_json_object_with_its_context(tmp_path):
    env = {
        **os.environ,
        "AHARALLY_TESTING": "true",
        "LOG_FORMAT": "json",
        "DJANGO_SETTINGS_MODULE": "aharally.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    result = subprocess.run(
        [sys.executable, "-c", JSON_PROGRAM],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]

    for line in lines:
        assert {"timestamp", "level", "logger", "message"} <= set(line)
    ours = [line for line in lines if line["logger"] in ("aharally.sync", "django.request")]
    assert len(ours) == 3, result.stderr
    sent, not_found, refused = ours
    assert sent["message"] == "Sent PLAT-12"
    assert (sent["level"], sent["logger"]) == ("WARNING", "aharally.sync")
    assert sent["integration_id"] == 7
    assert sent["record"] == "feature:12"
    assert "request_id" not in sent
    assert not_found["logger"] == "django.request"
    assert not_found["request_id"] == "req-abc.123"
    assert refused["message"] == "Bearer ******** was refused"


def test_the_default_format_stays_the_plain_one(tmp_path):
    env = {**os.environ, "AHARALLY_TESTING": "true", "DJANGO_SETTINGS_MODULE": "aharally.settings"}
    env.pop("LOG_FORMAT", None)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, logging; django.setup(); logging.getLogger('x').warning('plain')",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stderr.strip().endswith(" WARNING x plain")


def _handler(formatter_name: str, stream) -> logging.Handler:
    """The console handler as settings.LOGGING builds it, with the given formatter."""
    config = DictConfigurator(copy.deepcopy(settings.LOGGING))
    handler = logging.StreamHandler(stream)
    handler.setFormatter(config.configure_formatter(config.config["formatters"][formatter_name]))
    for name in config.config["handlers"]["console"]["filters"]:
        handler.addFilter(config.configure_filter(config.config["filters"][name]))
    return handler


@pytest.fixture
def captured():
    """Everything logged at any level, in both formats."""
    streams = {"plain": io.StringIO(), "json": io.StringIO()}
    handlers = [_handler(name, stream) for name, stream in streams.items()]
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    for handler in handlers:
        root.addHandler(handler)
    yield streams
    for handler in handlers:
        root.removeHandler(handler)
    root.setLevel(level)


@pytest.mark.django_db(transaction=True)
def test_no_credential_reaches_the_logs_in_either_format(
    client, cast, rally_sandbox, captured, settings
):
    settings.DEBUG_PROPAGATE_EXCEPTIONS = False
    # An API key through the wizard, a webhook registered with its secret URL, then the key
    # revoked and refused by Rally in a drain, and deliveries to the secret URL.
    integration = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    assert register_webhook(integration.pk) == "registered"
    secret = WebhookRegistration.objects.get(integration=integration).secret.reveal()
    revoked = "_RevokedKey" + "7" * 30
    integration.api_key = revoked
    integration.save()
    start_job(
        records=[make_feature(cast.workspace, name=token())],
        integration=integration,
        user=cast.contributor,
        label="bulk",
    )
    drain_outbox(integration.pk)
    assert Integration.objects.get(pk=integration.pk).needs_reauthorization
    url = f"/integrations/rally/webhook/{integration.pk}/{secret}/"
    assert client.post(url, "not json", content_type="application/json").status_code == 400
    assert client.post(url[:-2] + "x/", "{}", content_type="application/json").status_code == 404

    for name, stream in captured.items():
        text = stream.getvalue()
        assert "refused" in text, name  # the flow did log
        assert "/integrations/rally/webhook/" in text, name
        for value in (rally_sandbox.api_key, revoked, secret):
            assert value not in text, (name, value[:6])
    for line in captured["json"].getvalue().splitlines():
        json.loads(line)


DEBUG_PROGRAM = """
import django
django.setup()
from django.test import Client
Client().post("/integrations/rally/webhook/1/TopSecretValue123/", "{}",
              content_type="application/json", HTTP_HOST="localhost")
"""


def test_with_debug_on_no_console_handler_prints_a_webhook_secret():
    # DEBUG=true turns on Django's own console handler for the django loggers; a refused
    # delivery's "Not Found: <path>" must reach the console masked, and only once.
    clean = {k: v for k, v in os.environ.items() if k not in {"AHARALLY_TESTING", "DEBUG"}}
    result = subprocess.run(
        [sys.executable, "-c", DEBUG_PROGRAM],
        env={
            **clean,
            "DJANGO_SETTINGS_MODULE": "aharally.settings",
            "DEBUG": "true",
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": "sqlite:///:memory:",
        },
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    output = result.stdout + result.stderr
    assert "/integrations/rally/webhook/1/********/" in output, output
    assert "TopSecretValue123" not in output
