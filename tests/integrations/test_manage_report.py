from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from aharally.integrations.log import record_failure
from aharally.integrations.models import Integration, IntegrationState
from aharally.integrations.report import (
    ReportFilters,
    SyncCounts,
    register_sync_counter,
    report_rows,
)
from aharally.integrations.templates_service import attach_template, use_as_template
from aharally.workspaces.models import Role
from tests.factories import add_member, make_workspace
from tests.integrations.builders import configured_integration

MANAGE = reverse("integrations:manage", kwargs={"prefix": "PLAT"})


@pytest.fixture
def setup(cast):
    """Platform (a template, a draft), Company (built on the template), and a workspace the
    owner only contributes to."""
    template = use_as_template(integration=configured_integration(cast.workspace, "Shared"))
    draft = Integration.objects.create(workspace=cast.workspace, name="Draft one")
    company = make_workspace("Company", "COMP", owner=cast.owner)
    derived = attach_template(
        integration=Integration.objects.create(workspace=company, name="Company Rally"),
        template=template,
        by=cast.owner,
    )
    Integration.objects.filter(pk=derived.pk).update(state=IntegrationState.ENABLED)
    foreign = make_workspace("Foreign", "FOR", owner=cast.outsider)
    add_member(foreign, cast.owner, Role.CONTRIBUTOR)
    configured_integration(foreign, "Not mine")
    return {"template": template, "draft": draft, "derived": derived}


def _names(user, **filters) -> list[str]:
    return [
        row.integration.name for row in report_rows(user=user, filters=ReportFilters(**filters))
    ]


def test_the_report_lists_integrations_of_the_workspaces_the_viewer_owns(cast, setup):
    assert _names(cast.owner) == ["Company Rally", "Draft one", "Shared"]


def test_the_state_is_derived(cast, setup):
    states = {
        r.integration.name: r.state for r in report_rows(user=cast.owner, filters=ReportFilters())
    }
    assert states == {"Company Rally": "enabled", "Draft one": "draft", "Shared": "enabled"}

    # The template's credential is refused: both need re-authorization.
    Integration.objects.filter(pk=setup["template"].pk).update(needs_reauthorization=True)
    assert _names(cast.owner, state="needs_reauthorization") == ["Company Rally", "Shared"]
    Integration.objects.filter(pk=setup["template"].pk).update(needs_reauthorization=False)

    record_failure(setup["derived"], "Rally refused the update", "Fix the mapping.")
    assert _names(cast.owner, state="failing") == ["Company Rally"]
    Integration.objects.filter(pk=setup["derived"].pk).update(
        last_success_at=timezone.now() + dt.timedelta(seconds=1)
    )
    assert _names(cast.owner, state="failing") == []

    Integration.objects.filter(pk=setup["template"].pk).update(state=IntegrationState.DISABLED)
    assert _names(cast.owner, state="disabled") == ["Shared"]


def test_the_report_filters_by_workspace_and_template(cast, setup):
    assert _names(cast.owner, workspace="COMP") == ["Company Rally"]
    assert _names(cast.owner, template=str(setup["template"].pk)) == ["Company Rally", "Shared"]
    assert _names(cast.owner, template="none") == ["Draft one"]
    assert _names(cast.owner, template="templates") == ["Shared"]


def test_the_report_page_shows_each_row_with_links_to_settings_and_log(client, cast, setup):
    client.force_login(cast.owner)
    html = client.get(MANAGE).content.decode()
    derived = setup["derived"]
    for text in (
        "Company Rally",
        "Engineering / Platform",
        "Enabled",
        reverse("integrations:settings", kwargs={"prefix": "COMP", "integration_id": derived.pk}),
        reverse("integrations:log", kwargs={"prefix": "COMP", "integration_id": derived.pk}),
    ):
        assert text in html
    assert "Not mine" not in html


def test_the_report_page_filters_from_the_query_string(client, cast, setup):
    client.force_login(cast.owner)
    html = client.get(MANAGE, {"state": "draft"}).content.decode()
    assert "Draft one" in html and "Company Rally" not in html
    html = client.get(MANAGE, {"workspace": "FOR"}).content.decode()
    assert "Not mine" not in html  # not a choice for someone who does not own it


def test_a_filter_asked_for_by_htmx_gets_the_report_alone(client, cast, setup):
    client.force_login(cast.owner)
    html = client.get(MANAGE, {"state": "draft"}, HTTP_HX_REQUEST="true").content.decode()
    assert html.lstrip().startswith('<div id="report" class="table-scroll">') and "<h1>" not in html
    assert "Draft one" in html and "Company Rally" not in html


def test_the_report_costs_the_same_queries_for_3_or_23_integrations(client, cast, setup):
    client.force_login(cast.owner)
    client.get(MANAGE)
    with CaptureQueriesContext(connection) as few:
        assert client.get(MANAGE).status_code == 200
    for number in range(20):
        derived = attach_template(
            integration=Integration.objects.create(workspace=cast.workspace, name=f"More {number}"),
            template=setup["template"],
            by=cast.owner,
        )
        record_failure(derived, "Something failed")
    with CaptureQueriesContext(connection) as many:
        html = client.get(MANAGE).content.decode()
    assert "More 19" in html
    assert len(many) == len(few), (len(few), len(many))


def test_linked_records_and_pending_changes_come_from_the_sync(client, cast, setup):
    client.force_login(cast.owner)
    rows = report_rows(user=cast.owner, filters=ReportFilters())
    assert {(r.counts.linked, r.counts.pending) for r in rows} == {(0, 0)}
    calls = []

    def counter(ids):
        calls.append(list(ids))
        return {setup["derived"].pk: SyncCounts(linked=7, pending=2)}

    register_sync_counter(counter)
    try:
        rows = {
            r.integration.name: r.counts
            for r in report_rows(user=cast.owner, filters=ReportFilters())
        }
    finally:
        register_sync_counter(None)
    assert rows["Company Rally"] == SyncCounts(linked=7, pending=2)
    assert rows["Shared"] == SyncCounts()
    assert len(calls) == 1  # one call for the whole report, not one per integration
