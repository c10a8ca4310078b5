"""Every view of the integration settings pages: owners only, outsiders can't tell it exists."""

from __future__ import annotations

import pytest
from django.urls import reverse

from aharally.integrations.models import Integration, IntegrationState
from tests.integrations.builders import configured_integration

ROLES_REFUSED = ["contributor", "reviewer", "viewer"]

GET_VIEWS = ["settings", "log", "certificate", "delete"]
POST_VIEWS = [
    "make_template",
    "unmake_template",
    "certificate",
    "remove_certificate",
    "disable",
    "enable",
    "delete",
    "check",
]


@pytest.fixture
def integration(cast):
    return configured_integration(cast.workspace)


def _url(name: str, integration: Integration | None = None, prefix: str = "PLAT") -> str:
    kwargs = {"prefix": prefix}
    if integration is not None:
        kwargs["integration_id"] = integration.pk
    return reverse(f"integrations:{name}", kwargs=kwargs)


@pytest.mark.parametrize("name", ["index", "manage"])
def test_owners_see_the_workspace_pages_and_others_do_not(client, cast, integration, name):
    client.force_login(cast.owner)
    assert client.get(_url(name)).status_code == 200
    for role in ROLES_REFUSED:
        client.force_login(getattr(cast, role))
        assert client.get(_url(name)).status_code == 403
    client.force_login(cast.outsider)
    assert client.get(_url(name)).status_code == 404


@pytest.mark.parametrize("name", GET_VIEWS)
def test_owners_see_an_integration_page_and_others_do_not(client, cast, integration, name):
    client.force_login(cast.owner)
    assert client.get(_url(name, integration)).status_code == 200
    for role in ROLES_REFUSED:
        client.force_login(getattr(cast, role))
        assert client.get(_url(name, integration)).status_code == 403
    client.force_login(cast.outsider)
    assert client.get(_url(name, integration)).status_code == 404


@pytest.mark.parametrize("name", POST_VIEWS)
def test_only_owners_may_act_on_an_integration(client, cast, integration, name):
    before = Integration.objects.filter(pk=integration.pk).values().get()
    for role in ROLES_REFUSED:
        client.force_login(getattr(cast, role))
        assert client.post(_url(name, integration)).status_code == 403
    client.force_login(cast.outsider)
    assert client.post(_url(name, integration)).status_code == 404
    # The outsider's own workspace prefix does not reach another workspace's integration.
    assert client.post(_url(name, integration, prefix="ELSE")).status_code == 404
    assert Integration.objects.filter(pk=integration.pk).values().get() == before
    assert not integration.log.exists()


@pytest.mark.parametrize("name", ["index", "manage"])
def test_anonymous_visitors_are_sent_to_sign_in(client, cast, name):
    response = client.get(_url(name))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_an_owner_of_another_workspace_gets_404_for_this_integration(client, cast, integration):
    client.force_login(cast.outsider)
    assert client.get(_url("settings", integration, prefix="ELSE")).status_code == 404
    assert client.get(_url("log", integration, prefix="ELSE")).status_code == 404


def test_get_is_refused_on_the_action_urls(client, cast, integration):
    client.force_login(cast.owner)
    assert client.get(_url("disable", integration)).status_code == 405
    integration.refresh_from_db()
    assert integration.state == IntegrationState.ENABLED
