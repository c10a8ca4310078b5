from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from aharally.integrations.models import Integration, IntegrationLogEntry
from aharally.integrations.templates_service import attach_template, use_as_template
from tests.factories import make_workspace
from tests.integrations.builders import configured_integration
from tests.integrations.pki import cert_pem, key_pem, make_certificate, make_key, pair


def _url(name, integration):
    return reverse(
        f"integrations:{name}",
        kwargs={"prefix": integration.workspace.prefix, "integration_id": integration.pk},
    )


@pytest.fixture
def integration(cast):
    return configured_integration(cast.workspace)


def test_a_pasted_key_and_certificate_are_saved_and_only_the_certificate_is_described(
    owner_client, integration
):
    certificate, key = pair("rsa", common_name="aharally mTLS")
    response = owner_client.post(
        _url("certificate", integration), {"certificate": certificate, "private_key": key}
    )
    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.client_private_key_pem.reveal().startswith("-----BEGIN PRIVATE KEY")
    page = owner_client.get(_url("certificate", integration)).content.decode()
    assert "CN=aharally mTLS" in page and "CN=Test CA" in page and "RSA 2048 bits" in page
    assert key.splitlines()[1] not in page
    settings_page = owner_client.get(_url("settings", integration)).content.decode()
    assert "CN=aharally mTLS" in settings_page


def test_uploaded_files_are_accepted(owner_client, integration):
    certificate, key = pair()
    response = owner_client.post(
        _url("certificate", integration),
        {
            "certificate_file": SimpleUploadedFile("client.crt", certificate.encode()),
            "private_key_file": SimpleUploadedFile("client.key", key.encode()),
        },
    )
    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.client_certificate_pem


@pytest.mark.parametrize(
    ("make_input", "expected"),
    [
        (lambda: (pair()[0], pair()[1]), "does not belong to this certificate"),
        (lambda: pair(starts_in_days=-400, days_valid=10), "expired"),
        (lambda: ("garbage", "garbage"), "not a PEM certificate"),
        (lambda: (pair()[0], ""), "Paste or upload the private key"),
    ],
)
def test_bad_input_gets_a_clear_message_and_saves_nothing(
    owner_client, integration, make_input, expected
):
    certificate, key = make_input()
    response = owner_client.post(
        _url("certificate", integration), {"certificate": certificate, "private_key": key}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert expected in html
    # The pasted key is never rendered back, not even on an error.
    if "PRIVATE KEY" in key:
        assert key.splitlines()[1] not in html
    integration.refresh_from_db()
    assert integration.client_certificate_pem == ""
    assert integration.client_private_key_pem == ""
    assert not IntegrationLogEntry.objects.filter(integration=integration).exists()


def test_an_encrypted_key_asks_for_its_passphrase_then_is_accepted(owner_client, integration):
    key = make_key()
    certificate = cert_pem(make_certificate(key))
    encrypted = key_pem(key, passphrase="s3cret phrase")
    url = _url("certificate", integration)
    response = owner_client.post(url, {"certificate": certificate, "private_key": encrypted})
    assert response.status_code == 400
    assert "enter its passphrase" in response.content.decode()
    response = owner_client.post(
        url,
        {"certificate": certificate, "private_key": encrypted, "passphrase": "s3cret phrase"},
    )
    assert response.status_code == 302
    assert "s3cret phrase" not in owner_client.get(url).content.decode()


def test_removing_the_certificate(owner_client, integration):
    certificate, key = pair()
    owner_client.post(
        _url("certificate", integration), {"certificate": certificate, "private_key": key}
    )
    owner_client.post(_url("remove_certificate", integration))
    integration.refresh_from_db()
    assert integration.client_certificate_pem == "" and integration.client_private_key_pem == ""


def test_an_integration_built_on_a_template_points_to_the_template_certificate(
    owner_client, cast, integration
):
    use_as_template(integration=integration)
    certificate, key = pair(common_name="Shared client")
    owner_client.post(
        _url("certificate", integration), {"certificate": certificate, "private_key": key}
    )
    derived = attach_template(
        integration=Integration.objects.create(
            workspace=make_workspace("Company", "COMP", owner=cast.owner), name="Company"
        ),
        template=integration,
        by=cast.owner,
    )
    page = owner_client.get(_url("certificate", derived)).content.decode()
    assert "CN=Shared client" in page
    assert "uses its client certificate" in page
    assert 'name="private_key"' not in page
    other_certificate, other_key = pair()
    owner_client.post(
        _url("certificate", derived), {"certificate": other_certificate, "private_key": other_key}
    )
    derived.refresh_from_db()
    assert derived.client_certificate_pem == ""


def test_a_certificate_about_to_expire_is_flagged_on_the_settings_page(owner_client, integration):
    certificate, key = pair(starts_in_days=-360, days_valid=370)
    owner_client.post(
        _url("certificate", integration), {"certificate": certificate, "private_key": key}
    )
    assert "expires soon" in owner_client.get(_url("settings", integration)).content.decode()


def test_an_empty_post_asks_for_both_and_saves_nothing(owner_client, integration):
    response = owner_client.post(_url("certificate", integration))
    assert response.status_code == 400
    assert "Paste or upload the certificate" in response.content.decode()
    integration.refresh_from_db()
    assert integration.client_certificate_pem == ""


def test_a_certificate_for_an_http_rally_url_is_refused_saying_why(owner_client, integration):
    integration.rally_url = "http://rally.example.com"
    integration.save(update_fields=["rally_url"])
    url = _url("certificate", integration)
    assert "is http://, which has no TLS" in owner_client.get(url).content.decode()
    certificate, key = pair()
    response = owner_client.post(url, {"certificate": certificate, "private_key": key})
    assert response.status_code == 400
    html = response.content.decode()
    assert "no client certificate can be presented over it" in html
    assert "Every call to Rally presents it" not in html
    integration.refresh_from_db()
    assert integration.client_certificate_pem == ""


def test_a_certificate_kept_when_the_rally_url_became_http_is_shown_as_not_presented(
    owner_client, integration
):
    certificate, key = pair()
    owner_client.post(
        _url("certificate", integration), {"certificate": certificate, "private_key": key}
    )
    integration.rally_url = "http://rally.example.com"
    integration.save(update_fields=["rally_url"])
    page = owner_client.get(_url("settings", integration)).content.decode()
    assert "Not presented: the Rally URL is http://" in page
