"""A multiple choice field mapped to Rally's multi-value drop-down (the sandbox's features'
`c_Platforms`: Web, iOS, Android), both ways through a many-to-one value map."""

from __future__ import annotations

import pytest

from aharally.integrations import rally_metadata
from aharally.integrations.models import Direction, FieldMapping
from aharally.integrations.wizard import field_maps
from aharally.integrations.wizard.services import WizardError
from aharally.records import custom
from aharally.records.services import update_record
from aharally.sync.incoming.pull import pull_updates
from aharally.sync.models import Activity, Link
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.drain import drain_outbox
from aharally.workspaces.custom_fields import add_custom_field
from aharally.workspaces.models import RecordType
from tests.factories import make_feature
from tests.sync.support import connect, sandbox_client, token

pytestmark = pytest.mark.django_db(transaction=True)

FEATURE = "PortfolioItem/Feature"
ALLOWED = ["Web", "iOS", "Android"]


@pytest.fixture
def integration(cast, rally_sandbox):
    return connect(cast.workspace, rally_sandbox, owner=cast.owner)


def _attributes(rally_sandbox):
    with sandbox_client(rally_sandbox) as client:
        engineering = next(w for w in client.workspaces() if w.name == "Engineering")
        return client.attributes(FEATURE, workspace=engineering.ref)


@pytest.fixture
def platforms(cast, integration, rally_sandbox):
    """Platforms (Web, iPhone, iPad, Android, Desktop) → c_Platforms: iPhone and iPad both
    iOS; Android and Desktop left unmapped."""
    field = add_custom_field(
        workspace=cast.workspace,
        record_type=RecordType.FEATURE,
        name="Platforms",
        kind="choices",
        choices=["Web", "iPhone", "iPad", "Android", "Desktop"],
    )
    mapping = field_maps.add_field_mapping(
        record_mapping=integration.record_mappings.get(record_type=RecordType.FEATURE),
        field=field.form_name,
        rally_field="c_Platforms",
        direction=Direction.BOTH,
        attributes=_attributes(rally_sandbox),
    )
    choices = {c.name: c for c in field.choices.all()}
    mapping = FieldMapping.objects.get(pk=mapping.pk)
    # Matched by name when the mapping was made: Web and Android.
    assert {int(k): v for k, v in mapping.value_map.items() if k.isdigit() and v} == {
        choices["Web"].pk: "Web",
        choices["Android"].pk: "Android",
    }
    for ours, theirs in (("iPhone", "iOS"), ("iPad", "iOS"), ("Android", "")):
        field_maps.set_value(
            field_mapping=mapping, choice_id=str(choices[ours].pk), value=theirs, allowed=ALLOWED
        )
    rally_metadata.drop(integration)
    return field, choices


def _send(cast, integration, feature):
    outbox.request_send(record=feature, integration=integration, user=cast.contributor)
    drain_outbox(integration.pk)
    return Link.objects.get(record_type=RecordType.FEATURE, record_id=feature.pk)


def _in_rally(rally_sandbox, link) -> list[str]:
    with sandbox_client(rally_sandbox) as client:
        found = client.read(f"/portfolioitem/feature/{link.rally_oid}", fetch=["c_Platforms"])
    return [item["Name"] for item in found.get("c_Platforms")["_tagsNameArray"]]


def _set_in_rally(rally_sandbox, link, names):
    attribute = next(a for a in _attributes(rally_sandbox) if a.element_name == "c_Platforms")
    refs = [{"_ref": attribute.value_ref(name).path} for name in names]
    with sandbox_client(rally_sandbox) as client:
        client.update(f"/portfolioitem/feature/{link.rally_oid}", {"c_Platforms": refs})


def _value(feature, field) -> set[str]:
    return {c.name for c in custom.read_values(feature.pk, [field])[field.form_name] or []}


def test_choices_go_to_rallys_multi_value_field_and_come_back(
    cast, rally_sandbox, integration, platforms
):
    field, choices = platforms
    feature = make_feature(cast.workspace, name=f"Everywhere {token()}")
    chosen = [choices["Web"], choices["iPhone"], choices["iPad"]]
    update_record(feature, changes={field.form_name: chosen}, user=cast.contributor)

    link = _send(cast, integration, feature)

    assert _in_rally(rally_sandbox, link) == ["Web", "iOS"]
    assert link.baseline[field.form_name] == ["Web", "iOS"]
    _set_in_rally(rally_sandbox, link, ["Web"])
    assert pull_updates(integration.pk)["applied"] == 1
    # iOS went: so did both choices that mean it.
    assert _value(feature, field) == {"Web"}
    # Named as the layout names it (PostgreSQL compares case: "cf_platforms" would not do).
    assert Activity.objects.filter(
        record_id=feature.pk, detail="Took Platforms from " + link.formatted_id
    ).exists()


def test_a_rally_value_no_choice_maps_to_is_not_applied_and_the_history_says_so(
    cast, rally_sandbox, integration, platforms
):
    field, choices = platforms
    feature = make_feature(cast.workspace, name=f"Unmapped {token()}")
    update_record(feature, changes={field.form_name: [choices["Web"]]}, user=cast.contributor)
    link = _send(cast, integration, feature)

    _set_in_rally(rally_sandbox, link, ["Web", "Android"])
    pull_updates(integration.pk)

    assert _value(feature, field) == {"Web"}
    said = Activity.objects.get(record_id=feature.pk, action="not_applied")
    assert said.detail.startswith("“Android” has no mapping for Platforms (Rally's c_Platforms")
    assert "left as it was" in said.detail


def test_a_choice_the_value_map_leaves_out_is_not_sent_and_rally_keeps_its_values(
    cast, rally_sandbox, integration, platforms
):
    field, choices = platforms
    feature = make_feature(cast.workspace, name=f"Desktop {token()}")
    update_record(feature, changes={field.form_name: [choices["Web"]]}, user=cast.contributor)
    link = _send(cast, integration, feature)

    both = [choices["iPad"], choices["Desktop"]]
    update_record(feature, changes={field.form_name: both}, user=cast.contributor)
    drain_outbox(integration.pk)

    # Never a partial set (iOS without Desktop would drop what Rally can't be told).
    assert _in_rally(rally_sandbox, link) == ["Web"]
    assert Activity.objects.filter(
        record_id=feature.pk, action="not_sent", detail__contains="“Desktop” has no mapping"
    ).exists()


def test_clearing_the_choices_clears_rallys_values(cast, rally_sandbox, integration, platforms):
    field, choices = platforms
    feature = make_feature(cast.workspace, name=f"Cleared {token()}")
    update_record(feature, changes={field.form_name: [choices["iPhone"]]}, user=cast.contributor)
    link = _send(cast, integration, feature)
    assert _in_rally(rally_sandbox, link) == ["iOS"]

    update_record(feature, changes={field.form_name: []}, user=cast.contributor)
    drain_outbox(integration.pk)

    assert _in_rally(rally_sandbox, link) == []


def test_a_multiple_choice_field_cannot_map_to_a_collection_of_objects(
    cast, rally_sandbox, integration
):
    field = add_custom_field(
        workspace=cast.workspace,
        record_type=RecordType.FEATURE,
        name="Labels",
        kind="choices",
        choices=["a", "b"],
    )
    with pytest.raises(WizardError, match="Tags is a collection of objects"):
        field_maps.add_field_mapping(
            record_mapping=integration.record_mappings.get(record_type=RecordType.FEATURE),
            field=field.form_name,
            rally_field="Tags",
            direction=Direction.BOTH,
            attributes=_attributes(rally_sandbox),
        )
