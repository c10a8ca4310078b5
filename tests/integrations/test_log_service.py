from __future__ import annotations

import logging

import pytest

from aharally.integrations.log import (
    LogLevelError,
    failing_q,
    log_event,
    record_failure,
    record_success,
    redact,
)
from aharally.integrations.models import Integration, IntegrationLogEntry, LogLevel
from tests.factories import make_workspace

ACCESS_TOKEN = "oauth-access-4f1d2c3b4a5968778695a4b3c2d1"
REFRESH_TOKEN = "oauth-refresh-0a9b8c7d6e5f4a3b2c1d"
API_KEY = "_Zq8XwV7uT6sR5qP4oN3mL2kJ1iH0gF9eD8cB7aA6"
PRIVATE_KEY = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSECRETSECRETSECRE\n"
    "TSECRETSECRETSECRETSECRETSECRETSECREThRANCAAR0bGx0bGx0bGx0bGx0bGx\n"
    "-----END PRIVATE KEY-----\n"
)


@pytest.fixture
def integration(db):
    return Integration.objects.create(
        workspace=make_workspace(),
        name="Rally",
        access_token=ACCESS_TOKEN,
        refresh_token=REFRESH_TOKEN,
        api_key=API_KEY,
        client_private_key_pem=PRIVATE_KEY,
    )


def _stored_text() -> str:
    return " ".join(f"{e.message} {e.hint}" for e in IntegrationLogEntry.objects.all())


def test_a_log_line_keeps_what_happened_and_what_to_do(integration):
    entry = log_event(
        integration, LogLevel.WARNING, "Rally refused the update", "Check the project."
    )
    entry.refresh_from_db()
    assert (entry.level, entry.message, entry.hint) == (
        "warning",
        "Rally refused the update",
        "Check the project.",
    )


def test_the_integration_secrets_are_masked_in_message_and_hint(integration, caplog):
    with caplog.at_level(logging.DEBUG):
        log_event(
            integration,
            "error",
            f"Call failed with token {ACCESS_TOKEN} and key {API_KEY}",
            f"Refresh {REFRESH_TOKEN} or use {PRIVATE_KEY}",
        )
    for secret in (ACCESS_TOKEN, REFRESH_TOKEN, API_KEY, "SECRETSECRET"):
        assert secret not in _stored_text()
        assert secret not in caplog.text
    assert "********" in _stored_text()


def test_a_template_secret_is_masked_in_a_derived_integration_log(integration):
    integration.is_template = True
    integration.save()
    derived = Integration.objects.create(
        workspace=make_workspace(), name="Derived", template=integration
    )
    log_event(derived, "info", f"Used {ACCESS_TOKEN}")
    assert ACCESS_TOKEN not in _stored_text()


def test_credentials_of_unknown_value_are_masked_by_their_shape():
    text = redact(
        "Authorization: Bearer abcdefghijklmnop ZSESSIONID=_secretvalue123 "
        "GET /token?code=authcode99&state=1 access_token: 'xyzxyzxyz' "
        "-----BEGIN EC PRIVATE KEY-----\nAAAABBBBCCCC\n-----END EC PRIVATE KEY----- "
        "key _abcdefghijklmnopqrstuvwxyz0123456789ABCD"
    )
    for leaked in (
        "abcdefghijklmnop",
        "_secretvalue123",
        "authcode99",
        "xyzxyzxyz",
        "AAAABBBBCCCC",
        "_abcdefghijklmnopqrstuvwxyz0123456789ABCD",
    ):
        assert leaked not in text
    assert "state=1" in text


def test_ordinary_messages_are_left_alone():
    message = "Rally answered 401 Unauthorized for project Platform (code 42)."
    assert redact(message) == message


def test_an_unknown_level_is_refused_and_nothing_is_stored(integration):
    with pytest.raises(LogLevelError):
        log_event(integration, "debug", "Hello")
    assert not IntegrationLogEntry.objects.exists()


def test_a_failure_becomes_the_last_error_until_a_success(integration):
    record_failure(integration, f"Rally refused {API_KEY}", "Re-authorize.")
    integration.refresh_from_db()
    assert integration.last_error_at is not None
    assert API_KEY not in integration.last_error
    assert Integration.objects.filter(pk=integration.pk).filter(failing_q()).exists()
    record_success(integration)
    assert not Integration.objects.filter(pk=integration.pk).filter(failing_q()).exists()


def test_the_installation_oauth_client_secret_is_masked(integration, settings):
    settings.RALLY_OAUTH_CLIENT_SECRET = "installation-client-secret-42"
    log_event(integration, "error", "Token refresh failed for installation-client-secret-42")
    assert "installation-client-secret-42" not in _stored_text()
