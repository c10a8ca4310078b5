"""Encryption keys: a changed key makes secrets unreadable, not pages; keys rotate; production
requires its own keys."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from aharally.integrations.models import Integration, IntegrationLogEntry
from aharally.integrations.secrets import _fernet
from tests.integrations.builders import configured_integration

pytestmark = pytest.mark.django_db

TOKEN = "oauth-access-token-1234567890"


@pytest.fixture(autouse=True)
def fresh_keys():
    _fernet.cache_clear()
    yield
    _fernet.cache_clear()


def _use(settings, *, keys=None, secret_key=None):
    if keys is not None:
        settings.ENCRYPTION_KEYS = keys
    if secret_key is not None:
        settings.SECRET_KEY = secret_key
    _fernet.cache_clear()


def _stored(integration, column="access_token") -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {column} FROM integrations_integration WHERE id = %s", [integration.pk]
        )
        return cursor.fetchone()[0]


def test_a_changed_secret_key_leaves_every_integration_page_working_and_asks_to_reauthorize(
    client, cast, settings, caplog
):
    _use(settings, keys=[], secret_key="the-first-secret-key-" + "x" * 40)
    integration = configured_integration(cast.workspace)
    ciphertext = _stored(integration)

    _use(settings, secret_key="another-secret-key-" + "y" * 40)
    client.force_login(cast.owner)  # sessions signed with the old key are gone too
    kwargs = {"prefix": "PLAT", "integration_id": integration.pk}
    with caplog.at_level(logging.WARNING):
        for url in (
            reverse("integrations:index", kwargs={"prefix": "PLAT"}),
            reverse("integrations:manage", kwargs={"prefix": "PLAT"}),
            reverse("integrations:settings", kwargs=kwargs),
            reverse("integrations:log", kwargs=kwargs),
            reverse("integrations:delete", kwargs=kwargs),
            reverse("integrations:wizard_authorize", kwargs=kwargs),
        ):
            response = client.get(url)
            assert response.status_code == 200, url
    assert (
        "can no longer be read"
        in client.get(reverse("integrations:wizard_authorize", kwargs=kwargs)).content.decode()
    )
    settings_page = client.get(reverse("integrations:settings", kwargs=kwargs)).content.decode()
    assert "Authorize it again" in settings_page
    assert "cannot be decrypted with the configured keys" in caplog.text
    integration.refresh_from_db()
    assert integration.needs_reauthorization
    assert IntegrationLogEntry.objects.filter(
        integration=integration, message__contains="can no longer be decrypted"
    ).exists()

    # Saving the unreadable instance keeps the ciphertext: the old key still recovers it.
    integration.name = "Renamed"
    integration.save()
    assert _stored(integration) == ciphertext
    _use(settings, secret_key="the-first-secret-key-" + "x" * 40)
    assert Integration.objects.get(pk=integration.pk).access_token.reveal() == TOKEN


def test_reading_an_integration_with_an_unreadable_secret_writes_nothing(
    client, cast, settings, django_assert_num_queries
):
    _use(settings, keys=[Fernet.generate_key().decode()])
    integration = configured_integration(cast.workspace)
    _use(settings, keys=[Fernet.generate_key().decode()])
    log_rows = IntegrationLogEntry.objects.count()

    with django_assert_num_queries(1):  # the SELECT alone: no UPDATE, no log row
        loaded = Integration.objects.get(pk=integration.pk)
    assert loaded.secrets_unreadable
    assert IntegrationLogEntry.objects.count() == log_rows
    assert not Integration.objects.filter(pk=integration.pk, needs_reauthorization=True).exists()

    client.force_login(cast.owner)
    kwargs = {"prefix": "PLAT", "integration_id": integration.pk}
    page = client.get(reverse("integrations:settings", kwargs=kwargs)).content.decode()
    assert "Authorize it again" in page
    assert Integration.objects.get(pk=integration.pk).needs_reauthorization
    assert IntegrationLogEntry.objects.count() == log_rows + 1
    client.get(reverse("integrations:settings", kwargs=kwargs))
    assert IntegrationLogEntry.objects.count() == log_rows + 1  # said once


def test_rotation_re_encrypts_every_secret_under_the_newest_key(cast, settings, capsys):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    _use(settings, keys=[old])
    integration = configured_integration(cast.workspace, api_key="_an-api-key-0123456789")
    before = _stored(integration)

    _use(settings, keys=[new, old])
    call_command("rotate_encryption_keys")
    assert "Re-encrypted 3 secret(s)" in capsys.readouterr().out
    assert _stored(integration) != before

    _use(settings, keys=[new])  # the old key is gone: everything still reads
    reloaded = Integration.objects.get(pk=integration.pk)
    assert reloaded.access_token.reveal() == TOKEN
    assert reloaded.api_key.reveal() == "_an-api-key-0123456789"
    assert not reloaded.needs_reauthorization


def test_rotation_leaves_unreadable_secrets_alone_and_says_so(cast, settings, capsys):
    _use(settings, keys=[Fernet.generate_key().decode()])
    integration = configured_integration(cast.workspace)
    before = _stored(integration)
    _use(settings, keys=[Fernet.generate_key().decode()])
    call_command("rotate_encryption_keys")
    assert "2 secret(s) could not be decrypted" in capsys.readouterr().err
    assert _stored(integration) == before


def _production(*args: str) -> subprocess.CompletedProcess:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("AHARALLY_TESTING", "DEBUG", "AHARALLY_ENCRYPTION_KEYS")
    }
    env.update({"SECRET_KEY": "a-production-secret-key-" + "z" * 40, "DEBUG": "false"})
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_production_settings_refuse_to_start_without_encryption_keys():
    check = _production("manage.py", "check", "--deploy")
    assert check.returncode != 0
    assert "aharally.E001" in check.stderr and "AHARALLY_ENCRYPTION_KEYS" in check.stderr
    wsgi = _production("-c", "import aharally.wsgi")
    assert wsgi.returncode != 0
    assert "Set AHARALLY_ENCRYPTION_KEYS" in wsgi.stderr
    cluster = _production("manage.py", "qcluster")
    assert cluster.returncode != 0
    assert "Set AHARALLY_ENCRYPTION_KEYS" in cluster.stderr


def test_commands_that_keep_no_secret_run_without_encryption_keys():
    made = _production("manage.py", "makemigrations", "--check", "--dry-run")
    assert "aharally.E001" not in made.stderr
    assert "No changes detected" in made.stdout
