"""Error pages belong to the site: its layout, the reason when it is for people, a way back."""

from __future__ import annotations

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from aharally.errors import server_error
from tests.factories import make_feature


def test_a_403_says_why_inside_the_layout_with_the_workspaces_navigation(client, cast):
    client.force_login(cast.viewer)
    response = client.get("/w/PLAT/settings/")
    page = response.content.decode()
    assert response.status_code == 403
    assert 'class="topbar"' in page and "viewer@example.com" in page
    assert "Your role in this workspace does not allow this." in page
    assert 'href="/w/PLAT/features/board/"' in page  # the workspace's navigation
    assert 'href="/"' in page


def test_a_404_from_a_view_gives_its_reason(client, cast):
    client.force_login(cast.owner)
    response = client.get("/w/PLAT/features/PLAT-999/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "No such feature." in page
    assert "Your workspaces" in page


def test_an_unknown_address_says_not_found_without_djangos_internals(client, cast):
    client.force_login(cast.owner)
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "There is nothing at this address." in page
    assert "tried" not in page and "urlpatterns" not in page


def test_an_outsider_gets_the_same_404_as_for_a_workspace_that_does_not_exist(client, cast):
    feature = make_feature(cast.workspace)
    client.force_login(cast.outsider)
    page = client.get(f"/w/PLAT/features/{feature.reference}/").content.decode()
    assert "No such workspace." in page


def test_a_form_sent_without_its_csrf_token_gets_a_page_that_says_so(cast):
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.owner)
    response = client.post("/w/PLAT/settings/", {"name": "Renamed", "prefix": "PLAT"})
    assert response.status_code == 403
    page = response.content.decode()
    assert "The form could not be sent" in page and "Nothing was saved" in page
    assert 'class="topbar"' in page


@pytest.mark.django_db
def test_a_500_page_renders_without_the_database(rf, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = server_error(rf.get("/"))
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()


def test_the_favicon_is_found(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"] == "/static/favicon.svg"
    assert finders.find("favicon.svg")


def test_a_session_ended_under_htmx_is_sent_to_sign_in_as_a_whole_page(client, cast):
    """Not the sign-in page swapped into the settings section or the wizard's frame."""
    plain = client.get("/w/PLAT/settings/")
    assert plain.status_code == 302 and plain["Location"].startswith("/accounts/login/")

    htmx = client.get("/w/PLAT/settings/", HTTP_HX_REQUEST="true")
    assert htmx.status_code == 200
    assert htmx["HX-Redirect"] == plain["Location"]
    assert htmx.content == b""


def test_an_htmx_redirect_within_the_site_is_left_alone(client, cast):
    client.force_login(cast.owner)
    response = client.post(
        "/w/PLAT/settings/", {"name": "Platform", "prefix": "PLAT"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 302 and "HX-Redirect" not in response
