from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from aharally.integrations.log import log_event
from aharally.integrations.models import Integration, IntegrationLogEntry
from tests.integrations.builders import configured_integration


@pytest.fixture
def integration(cast):
    return configured_integration(cast.workspace)


@pytest.fixture
def url(integration):
    return reverse("integrations:log", kwargs={"prefix": "PLAT", "integration_id": integration.pk})


def test_the_log_shows_newest_first_with_what_to_do(client, cast, integration, url):
    log_event(integration, "info", "Connected to Rally.")
    log_event(integration, "error", "Rally refused PLAT-3.", "Fill the required field Owner.")
    client.force_login(cast.owner)
    html = client.get(url).content.decode()
    assert html.index("Rally refused PLAT-3.") < html.index("Connected to Rally.")
    assert "What to do:</strong> Fill the required field Owner." in html


def test_the_log_filters_by_level(client, cast, integration, url):
    log_event(integration, "info", "Connected to Rally.")
    log_event(integration, "warning", "Rally is slow today.")
    log_event(integration, "error", "Rally refused PLAT-3.")
    client.force_login(cast.owner)
    html = client.get(url, {"level": "warning"}).content.decode()
    assert "Rally is slow today." in html
    assert "Connected to Rally." not in html and "Rally refused PLAT-3." not in html
    # An unknown level shows everything rather than failing.
    assert "Connected to Rally." in client.get(url, {"level": "nonsense"}).content.decode()


def test_the_log_is_paginated_and_costs_the_same_queries_per_page(client, cast, integration, url):
    IntegrationLogEntry.objects.bulk_create(
        IntegrationLogEntry(integration=integration, level="info", message=f"Line {n:03d}")
        for n in range(60)
    )
    client.force_login(cast.owner)
    with CaptureQueriesContext(connection) as first:
        html = client.get(url).content.decode()
    assert "Page 1 of 3" in html and "Line 059" in html and "Line 034" not in html
    with CaptureQueriesContext(connection) as last:
        html = client.get(url, {"page": 3}).content.decode()
    assert "Line 000" in html and "Line 059" not in html
    assert len(first) == len(last)


def test_the_log_of_another_integration_is_not_mixed_in(client, cast, integration, url):
    other = Integration.objects.create(workspace=cast.workspace, name="Other")
    log_event(other, "info", "Other's line.")
    client.force_login(cast.owner)
    assert "Other's line." not in client.get(url).content.decode()


def test_the_level_filter_works_as_an_htmx_swap_of_the_same_page(client, cast, integration, url):
    log_event(integration, "error", "Rally refused PLAT-3.")
    client.force_login(cast.owner)
    html = client.get(url, {"level": "error"}, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="log"' in html and "Rally refused PLAT-3." in html
    # The entries only (the page's named partial), not the page for HTMX to pick from.
    assert html.lstrip().startswith('<div id="log">') and "<h1>" not in html
