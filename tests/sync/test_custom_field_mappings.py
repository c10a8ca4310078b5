"""Custom fields mapped to Rally's custom fields: sent, caught up, value maps and conversions,
against the sandbox (acceptance 1 and 3 of issue 18 below the browser)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from aharally.integrations import rally_metadata
from aharally.integrations.models import Direction, FieldMapping
from aharally.integrations.wizard import field_maps
from aharally.records import custom
from aharally.records.services import update_record
from aharally.sync.incoming.pull import pull_updates
from aharally.sync.models import Activity, Link
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.drain import drain_outbox
from aharally.workspaces.custom_fields import add_custom_field
from aharally.workspaces.models import RecordType, Role
from tests.factories import add_member, make_feature, make_user
from tests.sync.support import connect, sandbox_client, token

pytestmark = pytest.mark.django_db(transaction=True)

FEATURE = "PortfolioItem/Feature"
MARK = uuid.uuid4().hex[:6]


@pytest.fixture
def integration(cast, rally_sandbox):
    return connect(cast.workspace, rally_sandbox, owner=cast.owner)


def _feature_mapping(integration):
    return integration.record_mappings.get(record_type=RecordType.FEATURE)


def _attributes(integration, rally_sandbox):
    with sandbox_client(rally_sandbox) as client:
        engineering = next(w for w in client.workspaces() if w.name == "Engineering")
        return client.attributes(FEATURE, workspace=engineering.ref)


def _risk(cast, integration, rally_sandbox, direction=Direction.BOTH):
    field = add_custom_field(
        workspace=cast.workspace,
        record_type=RecordType.FEATURE,
        name="Risk",
        kind="choice",
        choices=["Low", "Medium", "High"],
    )
    record_mapping = _feature_mapping(integration)
    mapping = field_maps.add_field_mapping(
        record_mapping=record_mapping,
        field=field.form_name,
        rally_field="c_RiskLevel",
        direction=direction,
        attributes=_attributes(integration, rally_sandbox),
    )
    choices = {c.name: c for c in field.choices.all()}
    for ours, theirs in (("Low", "Green"), ("Medium", "Amber"), ("High", "Red")):
        field_maps.set_value(
            field_mapping=mapping,
            choice_id=str(choices[ours].pk),
            value=theirs,
            allowed=["Green", "Amber", "Red"],
        )
    rally_metadata.drop(integration)
    return field, choices, FieldMapping.objects.get(pk=mapping.pk)


def _send(cast, integration, feature):
    outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    drain_outbox(integration.pk)
    return Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)


def _rally(rally_sandbox, link, *fields):
    with sandbox_client(rally_sandbox) as client:
        return client.read(f"/portfolioitem/feature/{link.rally_oid}", fetch=list(fields))


def _set_in_rally(rally_sandbox, link, values):
    with sandbox_client(rally_sandbox) as client:
        client.update(f"/portfolioitem/feature/{link.rally_oid}", values)


def _value(feature, field):
    return custom.read_values(feature.pk, [field])[field.form_name]


def test_a_choice_goes_to_rally_through_the_value_map_and_comes_back(
    cast, rally_sandbox, integration
):
    field, choices, _ = _risk(cast, integration, rally_sandbox)
    # Requirements have a Risk of their own, of the same key: the features' is the one mapped.
    stories_risk = add_custom_field(
        workspace=cast.workspace,
        record_type=RecordType.REQUIREMENT,
        name="Risk",
        kind="choice",
        choices=["Yes", "No"],
    )
    assert stories_risk.key == field.key
    feature = make_feature(cast.workspace, name=f"Risky {token()}")
    update_record(feature, changes={field.form_name: choices["High"]}, user=cast.contributor)

    link = _send(cast, integration, feature)

    assert _rally(rally_sandbox, link, "c_RiskLevel").get("c_RiskLevel") == "Red"
    _set_in_rally(rally_sandbox, link, {"c_RiskLevel": "Green"})
    counts = pull_updates(integration.pk)
    assert counts["applied"] == 1
    assert _value(feature, field) == choices["Low"]
    # Taken from Rally: nothing goes back.
    assert not outbox_rows_waiting()


def outbox_rows_waiting() -> bool:
    from aharally.sync.models import OutboxItem

    return OutboxItem.objects.filter(state__in=["queued", "awaiting_approval"]).exists()


def test_a_rally_value_no_choice_maps_to_is_not_applied_and_the_history_says_so(
    cast, rally_sandbox, integration
):
    field, choices, mapping = _risk(cast, integration, rally_sandbox)
    field_maps.set_value(
        field_mapping=mapping,
        choice_id=str(choices["Medium"].pk),
        value="",
        allowed=["Green", "Amber", "Red"],
    )
    feature = make_feature(cast.workspace, name=f"Unmapped {token()}")
    update_record(feature, changes={field.form_name: choices["High"]}, user=cast.contributor)
    link = _send(cast, integration, feature)

    _set_in_rally(rally_sandbox, link, {"c_RiskLevel": "Amber"})
    pull_updates(integration.pk)

    assert _value(feature, field) == choices["High"]
    said = Activity.objects.filter(
        record_id=feature.pk, action="not_applied", detail__contains="no mapping for Risk"
    )
    assert said.count() == 1
    assert "“Amber”" in said.get().detail and "left as it was" in said.get().detail


def test_a_choice_the_value_map_leaves_out_is_not_sent_and_rally_keeps_its_value(
    cast, rally_sandbox, integration
):
    field, choices, mapping = _risk(cast, integration, rally_sandbox)
    feature = make_feature(cast.workspace, name=f"Kept {token()}")
    update_record(feature, changes={field.form_name: choices["High"]}, user=cast.contributor)
    link = _send(cast, integration, feature)
    field_maps.set_value(
        field_mapping=mapping,
        choice_id=str(choices["Medium"].pk),
        value="",
        allowed=["Green", "Amber", "Red"],
    )

    update_record(feature, changes={field.form_name: choices["Medium"]}, user=cast.contributor)
    drain_outbox(integration.pk)

    assert _rally(rally_sandbox, link, "c_RiskLevel").get("c_RiskLevel") == "Red"
    assert Activity.objects.filter(
        record_id=feature.pk, action="not_sent", detail__contains="“Medium”"
    ).exists()


def test_a_text_field_goes_both_ways(cast, rally_sandbox, integration):
    field = add_custom_field(
        workspace=cast.workspace, record_type=RecordType.FEATURE, name="Customer", kind="text"
    )
    field_maps.add_field_mapping(
        record_mapping=_feature_mapping(integration),
        field=field.form_name,
        rally_field="c_Customer",
        direction=Direction.BOTH,
        attributes=_attributes(integration, rally_sandbox),
    )
    feature = make_feature(cast.workspace, name=f"Customer {token()}")
    update_record(feature, changes={field.form_name: "  ACME  "}, user=cast.contributor)
    link = _send(cast, integration, feature)
    assert _rally(rally_sandbox, link, "c_Customer").get("c_Customer") == "ACME"

    _set_in_rally(rally_sandbox, link, {"c_Customer": "Globex"})
    pull_updates(integration.pk)

    assert _value(feature, field) == "Globex"


@pytest.fixture
def rally_kinds(rally_sandbox):
    """A number, a date, a rich text and a user field on Rally's features (removed after)."""
    made = {}
    for kind in ("INTEGER", "DATE", "TEXT", "USER"):
        made[kind] = rally_sandbox.admin(
            "POST",
            "/sandbox-admin/custom-fields",
            json={
                "workspace": "Engineering",
                "type": FEATURE,
                "name": f"{kind.title()} {MARK}",
                "kind": kind,
            },
        ).json()["field"]
    yield made
    for element in made.values():
        rally_sandbox.admin(
            "DELETE",
            "/sandbox-admin/custom-fields",
            json={"workspace": "Engineering", "type": FEATURE, "field": element},
        )


def test_numbers_dates_rich_text_and_members_convert_both_ways(
    cast, rally_sandbox, integration, rally_kinds
):
    record_mapping = _feature_mapping(integration)
    attributes = _attributes(integration, rally_sandbox)
    made = {}
    for kind, rally_field in (
        ("number", rally_kinds["INTEGER"]),
        ("date", rally_kinds["DATE"]),
        ("rich_text", rally_kinds["TEXT"]),
        ("member", rally_kinds["USER"]),
    ):
        field = add_custom_field(
            workspace=cast.workspace, record_type=RecordType.FEATURE, name=f"F {kind}", kind=kind
        )
        field_maps.add_field_mapping(
            record_mapping=record_mapping,
            field=field.form_name,
            rally_field=rally_field,
            direction=Direction.BOTH,
            attributes=attributes,
        )
        made[kind] = field
    rally_metadata.drop(integration)
    # The sandbox's user of the API key: a member of this workspace too (matched by e-mail).
    pm = make_user("pm@example.com")
    add_member(cast.workspace, pm, Role.CONTRIBUTOR)
    feature = make_feature(cast.workspace, name=f"Kinds {token()}")
    update_record(
        feature,
        changes={
            made["number"].form_name: Decimal("42"),
            made["date"].form_name: date(2027, 3, 31),
            made["rich_text"].form_name: "<p>Hello <script>x()</script><b>world</b></p>",
            made["member"].form_name: pm,
        },
        user=cast.contributor,
    )

    link = _send(cast, integration, feature)

    sent = _rally(rally_sandbox, link, *rally_kinds.values(), "EmailAddress")
    assert sent.get(rally_kinds["INTEGER"]) == 42
    assert str(sent.get(rally_kinds["DATE"])).startswith("2027-03-31")
    assert "<script>" not in sent.get(rally_kinds["TEXT"])
    assert "<b>world</b>" in sent.get(rally_kinds["TEXT"])
    assert sent.get(rally_kinds["USER"]) is not None

    _set_in_rally(
        rally_sandbox,
        link,
        {
            rally_kinds["INTEGER"]: 7,
            rally_kinds["DATE"]: "2027-06-30T23:59:59.000Z",
            rally_kinds["TEXT"]: "<p>Back <b>here</b></p>",
        },
    )
    pull_updates(integration.pk)

    assert _value(feature, made["number"]) == Decimal("7")
    assert _value(feature, made["date"]) == date(2027, 6, 30)
    assert _value(feature, made["rich_text"]) == "<p>Back <b>here</b></p>"
    assert _value(feature, made["member"]) == pm


def test_a_number_rally_cannot_hold_is_not_sent_and_the_history_says_why(
    cast, rally_sandbox, integration, rally_kinds
):
    field = add_custom_field(
        workspace=cast.workspace, record_type=RecordType.FEATURE, name="Points", kind="number"
    )
    field_maps.add_field_mapping(
        record_mapping=_feature_mapping(integration),
        field=field.form_name,
        rally_field=rally_kinds["INTEGER"],
        direction=Direction.TO_RALLY,
        attributes=_attributes(integration, rally_sandbox),
    )
    rally_metadata.drop(integration)
    feature = make_feature(cast.workspace, name=f"Range {token()}")
    update_record(feature, changes={field.form_name: Decimal("3.5")}, user=cast.contributor)

    link = _send(cast, integration, feature)

    assert _rally(rally_sandbox, link, rally_kinds["INTEGER"]).get(rally_kinds["INTEGER"]) is None
    line = Activity.objects.get(record_id=feature.pk, action="skipped")
    assert "Points is 3.5" in line.detail and "whole numbers" in line.detail


def test_the_catch_up_reads_custom_values_once_a_chunk(cast, rally_sandbox, integration):
    """Statements per applied record stay flat with a mapped custom field (values read and
    written for the whole chunk)."""
    field, choices, _ = _risk(cast, integration, rally_sandbox)
    word = token()

    def catch_up_statements(n):
        features = [make_feature(cast.workspace, name=f"Flat {word} {n} {i}") for i in range(n)]
        links = [_send(cast, integration, f) for f in features]
        for link in links:
            _set_in_rally(rally_sandbox, link, {"c_RiskLevel": "Amber"})
        with CaptureQueriesContext(connection) as captured:
            counts = pull_updates(integration.pk)
        assert counts["applied"] == n
        assert all(_value(f, field) == choices["Medium"] for f in features)
        return len(captured.captured_queries)

    small, large = catch_up_statements(3), catch_up_statements(9)
    # Six more records cost no more than a statement each for the rest of the catch-up
    # (cursors, links), never the five a record a per-record custom write would cost.
    assert large - small <= 6, (small, large)


def test_a_required_rally_field_a_custom_field_leaves_empty_stops_the_create_naming_it(
    cast, rally_sandbox, integration
):
    from aharally.sync.models import ErrorKind, OutboxItem, OutboxState

    field = add_custom_field(
        workspace=cast.workspace, record_type=RecordType.FEATURE, name="Customer", kind="text"
    )
    field_maps.add_field_mapping(
        record_mapping=_feature_mapping(integration),
        field=field.form_name,
        rally_field="c_Customer",
        direction=Direction.BOTH,
        attributes=_attributes(integration, rally_sandbox),
    )
    feature = make_feature(cast.workspace, name=f"Nobody {token()}")
    with rally_sandbox.required_field(FEATURE, "c_Customer"):
        outbox.request_send(record=feature, integration=integration, user=cast.contributor)
        drain_outbox(integration.pk)

        row = OutboxItem.objects.get(record_id=feature.pk)
        assert (row.state, row.error_kind) == (OutboxState.FAILED, ErrorKind.REQUIRED)
        assert (
            f"Rally requires Feature.Customer, and {feature.reference}'s Customer is empty"
            in row.error_message
        )
        assert "Required flag on Customer in Settings → Custom layouts" in row.error_message

        # Filled in: the send is tried again by itself, and nothing was lost.
        update_record(feature, changes={field.form_name: "ACME"}, user=cast.contributor)
        drain_outbox(integration.pk)

    link = Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)
    assert _rally(rally_sandbox, link, "c_Customer").get("c_Customer") == "ACME"


def test_a_choice_deleted_while_in_use_sends_the_records_replacement(
    cast, rally_sandbox, integration
):
    from aharally.workspaces.custom_fields import delete_choice

    field, choices, _ = _risk(cast, integration, rally_sandbox)
    feature = make_feature(cast.workspace, name=f"Replaced {token()}")
    update_record(feature, changes={field.form_name: choices["High"]}, user=cast.contributor)
    link = _send(cast, integration, feature)

    delete_choice(choice=choices["High"], replacement=choices["Medium"], user=cast.owner)
    drain_outbox(integration.pk)

    assert _value(feature, field) == choices["Medium"]
    assert _rally(rally_sandbox, link, "c_RiskLevel").get("c_RiskLevel") == "Amber"


def test_a_reviewer_sees_a_custom_value_as_it_would_go_to_rally(cast, rally_sandbox):
    from aharally.integrations.models import OutgoingMode
    from aharally.sync.review import queue

    integration = connect(
        cast.workspace, rally_sandbox, owner=cast.owner, outgoing_mode=OutgoingMode.APPROVE
    )
    field, choices, _ = _risk(cast, integration, rally_sandbox)
    feature = make_feature(cast.workspace, name=f"Reviewed {token()}")
    update_record(feature, changes={field.form_name: choices["High"]}, user=cast.contributor)
    outbox.request_send(record=feature, integration=integration, user=cast.contributor)

    [entry] = queue.pending_entries(user=cast.reviewer, filters=queue.QueueFilters())

    risk = next(change for change in entry.changes if change.field == field.form_name)
    assert (risk.label, risk.new) == ("Risk → c_RiskLevel", "Red")


def test_a_workspace_on_the_template_sends_its_copy_through_the_templates_value_map(
    cast, rally_sandbox
):
    from aharally.integrations.templates_service import use_as_template
    from aharally.workspaces.models import CustomField
    from tests.factories import make_workspace

    template = connect(cast.workspace, rally_sandbox, owner=cast.owner)
    use_as_template(integration=template, by=cast.owner)
    field, _, _ = _risk(cast, template, rally_sandbox)
    payments = make_workspace("Payments", "PAY", owner=cast.owner)
    derived = connect(payments, rally_sandbox, owner=cast.owner, template=template, name="Pay")
    copy = CustomField.objects.get(workspace=payments, key=field.key)
    assert copy.shared_from_id == field.pk
    feature = make_feature(payments, name=f"Shared {token()}")
    high = copy.choices.get(name="High")
    update_record(feature, changes={copy.form_name: high}, user=cast.owner)

    outbox.request_send(record=feature, integration=derived, user=cast.owner)
    drain_outbox(derived.pk)

    link = Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)
    assert _rally(rally_sandbox, link, "c_RiskLevel").get("c_RiskLevel") == "Red"
    _set_in_rally(rally_sandbox, link, {"c_RiskLevel": "Green"})
    pull_updates(derived.pk)
    assert _value(feature, copy) == copy.choices.get(name="Low")


def test_a_send_never_overwrites_a_custom_value_rally_changed_meanwhile(
    cast, rally_sandbox, integration
):
    from aharally.sync.models import Conflict

    field, choices, _ = _risk(cast, integration, rally_sandbox)
    feature = make_feature(cast.workspace, name=f"Guarded {token()}")
    update_record(feature, changes={field.form_name: choices["High"]}, user=cast.contributor)
    link = _send(cast, integration, feature)
    _set_in_rally(rally_sandbox, link, {"c_RiskLevel": "Amber"})  # no catch-up yet

    update_record(feature, changes={field.form_name: choices["Low"]}, user=cast.contributor)
    drain_outbox(integration.pk)

    assert _rally(rally_sandbox, link, "c_RiskLevel").get("c_RiskLevel") == "Amber"
    conflict = Conflict.objects.get(link=link, field=field.form_name)
    assert (conflict.ours, conflict.theirs, conflict.baseline) == ("Green", "Amber", "Red")
    # Named as the layout names the field, for the reviewer and in the history.
    from aharally.sync.review import conflicts, queue

    [entry] = conflicts.open_conflicts(user=cast.reviewer, filters=queue.QueueFilters())
    assert (entry.label, entry.ours, entry.theirs) == ("Risk", "Green", "Amber")
    said = f"{feature.reference}'s Risk changed in aharally and in Rally"
    assert Activity.objects.filter(record_id=feature.pk, detail__startswith=said).exists()


def test_a_story_imported_from_rally_brings_its_custom_value(cast, rally_sandbox, integration):
    from aharally.records.models import Requirement
    from tests.sync.support import scope_of

    field = add_custom_field(
        workspace=cast.workspace,
        record_type=RecordType.REQUIREMENT,
        name="Risk level",
        kind="choice",
        choices=["Low", "Medium", "High"],
    )
    with sandbox_client(rally_sandbox) as client:
        engineering = next(w for w in client.workspaces() if w.name == "Engineering")
        story_attributes = client.attributes("HierarchicalRequirement", workspace=engineering.ref)
    mapping = field_maps.add_field_mapping(
        record_mapping=integration.record_mappings.get(record_type=RecordType.REQUIREMENT),
        field=field.form_name,
        rally_field="c_RiskLevel",
        direction=Direction.BOTH,
        attributes=story_attributes,
    )
    # Stories' Low/Medium/High: matched by name (and Rally's values remembered).
    assert {k: v for k, v in mapping.value_map.items() if k.isdigit()} == {
        str(c.pk): c.name for c in field.choices.all()
    }
    feature = make_feature(cast.workspace, name=f"Parent {token()}")
    link = _send(cast, integration, feature)
    _, project = scope_of(rally_sandbox)
    with sandbox_client(rally_sandbox) as client:
        client.create(
            "HierarchicalRequirement",
            {
                "Project": f"/project/{project}",
                "Name": "Risky story",
                "PortfolioItem": f"/portfolioitem/feature/{link.rally_oid}",
                "c_RiskLevel": "High",
            },
        )

    pull_updates(integration.pk)

    requirement = Requirement.objects.get(feature=feature, name="Risky story")
    assert custom.read_values(requirement.pk, [field])[field.form_name].name == "High"
