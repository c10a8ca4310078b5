"""Compare with Rally holds mapped custom fields against Rally's, with the value map applied."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from aharally.integrations import rally_metadata
from aharally.integrations.models import Direction
from aharally.integrations.wizard import field_maps
from aharally.records import custom
from aharally.records.services import update_record
from aharally.sync.models import Comparison, JobState, Link
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.drain import drain_outbox
from aharally.sync.reconcile import compare_report
from aharally.sync.reconcile.compare import run_comparison, start_comparison
from aharally.workspaces.custom_fields import add_custom_field
from aharally.workspaces.models import RecordType
from tests.factories import make_feature
from tests.sync.support import connect, sandbox_client, token

pytestmark = pytest.mark.django_db(transaction=True)

FEATURE = "PortfolioItem/Feature"


@pytest.fixture
def integration(cast, rally_sandbox):
    return connect(cast.workspace, rally_sandbox, owner=cast.owner)


def _attributes(rally_sandbox):
    with sandbox_client(rally_sandbox) as client:
        engineering = next(w for w in client.workspaces() if w.name == "Engineering")
        return client.attributes(FEATURE, workspace=engineering.ref)


def _mapped(cast, integration, rally_sandbox, *, name, kind, choices, rally_field, values):
    field = add_custom_field(
        workspace=cast.workspace,
        record_type=RecordType.FEATURE,
        name=name,
        kind=kind,
        choices=choices,
    )
    mapping = field_maps.add_field_mapping(
        record_mapping=integration.record_mappings.get(record_type=RecordType.FEATURE),
        field=field.form_name,
        rally_field=rally_field,
        direction=Direction.BOTH,
        attributes=_attributes(rally_sandbox),
    )
    by_name = {c.name: c for c in field.choices.all()}
    allowed = sorted(set(values.values()))
    for ours, theirs in values.items():
        field_maps.set_value(
            field_mapping=mapping, choice_id=str(by_name[ours].pk), value=theirs, allowed=allowed
        )
    rally_metadata.drop(integration)
    return field, by_name


@pytest.fixture
def risk(cast, integration, rally_sandbox):
    """Risk (Low, Medium, Moderate, High) → c_RiskLevel; Medium and Moderate both Amber."""
    return _mapped(
        cast,
        integration,
        rally_sandbox,
        name="Risk",
        kind="choice",
        choices=["Low", "Medium", "Moderate", "High"],
        rally_field="c_RiskLevel",
        values={"Low": "Green", "Medium": "Amber", "Moderate": "Amber", "High": "Red"},
    )


def _sent(cast, integration, feature):
    outbox.request_send(record=feature, integration=integration, user=cast.owner)
    drain_outbox(integration.pk)
    return Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)


def _compared(cast, integration) -> Comparison:
    comparison = start_comparison(integration=integration, user=cast.owner)
    run_comparison(comparison.pk)
    comparison.refresh_from_db()
    assert comparison.state == JobState.DONE, comparison.message
    return comparison


def _lines(comparison, feature):
    return [
        line
        for line in compare_report.report(comparison)
        if line.difference.record_id == feature.pk
    ]


def _set_in_rally(rally_sandbox, link, values):
    with sandbox_client(rally_sandbox) as client:
        client.update(f"/portfolioitem/feature/{link.rally_oid}", values)


def test_a_custom_choice_that_differs_is_shown_through_the_value_map_and_resolved(
    cast, rally_sandbox, integration, risk
):
    field, choices = risk
    feature = make_feature(cast.workspace, name=f"Compared {token()}")
    update_record(feature, changes={field.form_name: choices["High"]}, user=cast.contributor)
    link = _sent(cast, integration, feature)
    _set_in_rally(rally_sandbox, link, {"c_RiskLevel": "Amber"})  # no one pulled it yet

    [line] = _lines(_compared(cast, integration), feature)

    assert line.label == "Risk"
    assert (line.ours, line.theirs) == ("Red (High)", "Amber (Medium, Moderate)")
    assert line.can_use_ours and line.can_use_theirs
    done, problems = compare_report.resolve(
        integration=integration,
        user=cast.owner,
        difference_ids=[line.difference.pk],
        action="theirs",
    )
    assert (done, problems) == (1, [])
    # The first choice in the layout's order that means Amber.
    assert custom.read_values(feature.pk, [field])[field.form_name] == choices["Medium"]
    assert _lines(_compared(cast, integration), feature) == []


def test_a_rally_value_no_choice_maps_to_says_so_and_cannot_be_taken(
    cast, rally_sandbox, integration, risk
):
    field, choices = risk
    field_maps.set_value(
        field_mapping=integration.record_mappings.get(
            record_type=RecordType.FEATURE
        ).field_mappings.get(field=field.form_name),
        choice_id=str(choices["Low"].pk),
        value="",
        allowed=["Green", "Amber", "Red"],
    )
    feature = make_feature(cast.workspace, name=f"Green {token()}")
    update_record(feature, changes={field.form_name: choices["High"]}, user=cast.contributor)
    link = _sent(cast, integration, feature)
    _set_in_rally(rally_sandbox, link, {"c_RiskLevel": "Green"})

    [line] = _lines(_compared(cast, integration), feature)

    assert line.theirs == "Green (no choice of Risk maps to it)"
    done, problems = compare_report.resolve(
        integration=integration,
        user=cast.owner,
        difference_ids=[line.difference.pk],
        action="theirs",
    )
    assert done == 0 and "has no match in aharally" in problems[0]
    assert custom.read_values(feature.pk, [field])[field.form_name] == choices["High"]


def test_a_multi_value_field_that_differs_is_listed(cast, rally_sandbox, integration):
    field, choices = _mapped(
        cast,
        integration,
        rally_sandbox,
        name="Platforms",
        kind="choices",
        choices=["Web", "iPhone", "iPad"],
        rally_field="c_Platforms",
        values={"Web": "Web", "iPhone": "iOS", "iPad": "iOS"},
    )
    feature = make_feature(cast.workspace, name=f"Platforms {token()}")
    both = [choices["Web"], choices["iPad"]]
    update_record(feature, changes={field.form_name: both}, user=cast.contributor)
    link = _sent(cast, integration, feature)
    assert _lines(_compared(cast, integration), feature) == []
    web = next(a for a in _attributes(rally_sandbox) if a.element_name == "c_Platforms")
    _set_in_rally(rally_sandbox, link, {"c_Platforms": [{"_ref": web.value_ref("Web").path}]})

    [line] = _lines(_compared(cast, integration), feature)

    assert (line.ours, line.theirs) == ("Web (Web); iOS (iPhone, iPad)", "Web (Web)")


def test_comparing_custom_fields_costs_the_same_queries_and_requests_for_2_or_12_records(
    cast, rally_sandbox, integration, risk
):
    field, choices = risk
    features = [make_feature(cast.workspace, name=f"Flat {n} {token()}") for n in range(12)]
    for feature in features:
        update_record(feature, changes={field.form_name: choices["Low"]}, user=cast.contributor)
        _sent(cast, integration, feature)

    def cost(count):
        # Drift no one told the sync about, on `count` records.
        for feature in features[:count]:
            custom.write_values(feature, {field.form_name: choices["High"]})
        comparison = start_comparison(integration=integration, user=cast.owner)
        rally_sandbox.admin("POST", "/sandbox-admin/stats/reset")
        with CaptureQueriesContext(connection) as captured:
            run_comparison(comparison.pk)
        requests = rally_sandbox.admin("GET", "/sandbox-admin/stats").json()["requests"]
        comparison.refresh_from_db()
        lines = [line for line in compare_report.report(comparison) if line.label == "Risk"]
        assert len(lines) == count
        # Claiming one of the 12 request slots may take a second try when the last run's
        # lease is still held: that depends on timing, not on the records compared.
        sql = [q["sql"] for q in captured.captured_queries if "concurrency_slot" not in q["sql"]]
        return len(sql), requests

    assert cost(2) == cost(12)
