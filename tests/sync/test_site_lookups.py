"""Which integrations talk to a Rally: read from their URLs alone. Loading an integration
decrypts its secrets, which was most of what the catch-up spent on each Rally object it
considered importing."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from aharally.integrations.models import Integration
from aharally.sync import links
from tests.factories import make_workspace

pytestmark = pytest.mark.django_db

RALLY = "https://rally1.rallydev.com"
ON_PREMISES = "https://rally.example.com:8443"


def _integration(workspace, url: str, **fields) -> Integration:
    return Integration.objects.create(
        workspace=workspace, name="Rally", rally_url=url, api_key="a-secret-key", **fields
    )


def test_integrations_on_a_site_are_those_whose_source_talks_to_it(cast):
    company = make_workspace("Company", "CO", owner=cast.owner)
    template = _integration(cast.workspace, RALLY, is_template=True)
    # A derived integration talks to its template's Rally, whatever its own URL says.
    derived = _integration(company, ON_PREMISES, template=template)
    elsewhere = _integration(make_workspace("Other", "OT", owner=cast.owner), ON_PREMISES)

    assert sorted(links.integrations_on_site(links.site_of(template))) == sorted(
        [template.pk, derived.pk]
    )
    assert links.integrations_on_site(links.site_of(elsewhere)) == [elsewhere.pk]
    # An integration's URL as typed (case, the default port) is the same Rally.
    typed = _integration(
        make_workspace("Typed", "TY", owner=cast.owner), "HTTPS://Rally1.rallydev.com:443/"
    )
    assert typed.pk in links.integrations_on_site(links.site_of(template))


def test_finding_the_integrations_on_a_site_reads_no_secret(cast):
    template = _integration(cast.workspace, RALLY, is_template=True)
    _integration(make_workspace("Company", "CO", owner=cast.owner), RALLY, template=template)

    with CaptureQueriesContext(connection) as queries:
        links.integrations_on_site(links.site_of(template))

    assert len(queries) == 1
    sql = queries[0]["sql"]
    for secret in ("api_key", "access_token", "refresh_token", "client_secret", "private_key"):
        assert secret not in sql
