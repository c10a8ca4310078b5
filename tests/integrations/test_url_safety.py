from __future__ import annotations

import pytest

from aharally.integrations.url_safety import (
    UnsafeRallyURL,
    normalise_rally_url,
    validate_rally_url,
)


@pytest.fixture
def strict(settings):
    settings.RALLY_ALLOW_HTTP = False
    settings.RALLY_ALLOW_PRIVATE_ADDRESSES = False
    return settings


@pytest.mark.parametrize(
    ("typed", "normalised"),
    [
        ("https://rally1.rallydev.com", "https://rally1.rallydev.com"),
        ("  HTTPS://Rally1.RallyDev.com/slm/#/home?x=1 ", "https://rally1.rallydev.com"),
        ("https://rally1.rallydev.com:443/", "https://rally1.rallydev.com"),
        ("https://rally.example.com:8443/", "https://rally.example.com:8443"),
        ("https://rally.example.com./", "https://rally.example.com"),
    ],
)
def test_a_rally_url_is_normalised_to_scheme_host_and_port(strict, typed, normalised):
    assert normalise_rally_url(typed) == normalised


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("", "Enter the URL"),
        ("ftp://rally1.rallydev.com", "must start with https://"),
        ("rally1.rallydev.com", r"Add https:// at the start of the Rally URL: https://rally1"),
        ("rally please", "A URL has no spaces"),
        ("http://rally1.rallydev.com", "must use https://"),
        ("https://user:pw@rally1.rallydev.com", "user name and password"),
        ("https://:443", "needs a host name"),
        ("https://rally1.rallydev.com:99999", "not a valid URL"),
    ],
)
def test_a_malformed_url_is_refused_with_a_reason(strict, typed, says):
    with pytest.raises(UnsafeRallyURL, match=says):
        normalise_rally_url(typed)


def test_http_is_allowed_only_when_the_operator_allows_it(settings):
    settings.RALLY_ALLOW_HTTP = True
    assert normalise_rally_url("http://localhost:8001/") == "http://localhost:8001"


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1",
        "https://localhost",
        "https://10.1.2.3",
        "https://192.168.0.10:8443",
        "https://169.254.169.254",  # cloud metadata
        "https://[::1]",
        "https://[::ffff:127.0.0.1]",
        "https://0.0.0.0",
        "https://100.64.0.1",  # carrier-grade NAT: not public
    ],
)
def test_internal_addresses_are_refused(strict, url):
    with pytest.raises(UnsafeRallyURL, match="internal address"):
        validate_rally_url(url)


def test_private_addresses_are_allowed_when_the_operator_allows_them(strict):
    strict.RALLY_ALLOW_PRIVATE_ADDRESSES = True
    assert validate_rally_url("https://127.0.0.1:9443") == "https://127.0.0.1:9443"


def test_a_host_that_does_not_resolve_is_refused(strict):
    with pytest.raises(UnsafeRallyURL, match=r"Could not find the host rally\.invalid"):
        validate_rally_url("https://rally.invalid")


def test_a_public_address_is_accepted(strict):
    # An IP literal: no DNS needed, and 93.184.215.14 is a public (global) address.
    assert validate_rally_url("https://93.184.215.14") == "https://93.184.215.14"
