from __future__ import annotations

import logging

import pytest
from django.db import connection

from aharally.integrations.models import Integration
from aharally.integrations.secrets import Secret, SecretUnreadable, decrypt, encrypt
from tests.factories import make_workspace

TOKEN = "oauth-access-token-9f8e7d6c5b4a"


def test_a_secret_round_trips_and_the_ciphertext_does_not_contain_it():
    ciphertext = encrypt(TOKEN)
    assert TOKEN not in ciphertext
    assert decrypt(ciphertext) == TOKEN


def test_a_tampered_ciphertext_is_refused():
    ciphertext = encrypt(TOKEN)
    with pytest.raises(SecretUnreadable):
        decrypt(ciphertext[:-4] + "AAAA")


def test_a_secret_never_shows_itself_in_str_repr_format_or_logs(caplog):
    secret = Secret(TOKEN)
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("token is %s / %r / %s", secret, secret, f"{secret}")
    assert TOKEN not in caplog.text
    assert TOKEN not in str(secret) + repr(secret)
    assert secret.reveal() == TOKEN


@pytest.mark.django_db
def test_tokens_are_encrypted_at_rest():
    integration = Integration.objects.create(
        workspace=make_workspace(), name="Rally", access_token=TOKEN, api_key="_apikey123"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT access_token, api_key FROM integrations_integration WHERE id = %s",
            [integration.pk],
        )
        stored = cursor.fetchone()
    assert TOKEN not in stored[0]
    assert "_apikey123" not in stored[1]
    reloaded = Integration.objects.get(pk=integration.pk)
    assert reloaded.access_token.reveal() == TOKEN
    assert reloaded.refresh_token == ""
