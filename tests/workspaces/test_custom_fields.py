"""Settings → Custom layouts: custom field definitions, their order and their choices."""

from __future__ import annotations

import pytest

from aharally.records.models import CustomValue, Feature, RecordChange
from aharally.records.services import update_record
from aharally.workspaces import custom_fields
from aharally.workspaces.errors import WorkspaceError
from aharally.workspaces.models import CustomField, CustomFieldChoice
from tests.factories import make_feature

S = "/w/PLAT/settings/"


def risk(workspace, *names):
    return custom_fields.add_custom_field(
        workspace=workspace,
        record_type="feature",
        name="Risk",
        kind="choice",
        choices=names or ("Low", "Medium", "High"),
    )


def choice(field, name):
    return CustomFieldChoice.objects.get(field=field, name=name)


def test_an_owner_adds_a_single_choice_field_with_its_choices(client, cast):
    client.force_login(cast.owner)
    response = client.post(
        f"{S}layouts/feature/fields/",
        {
            "add-feature-name": "Risk",
            "add-feature-kind": "choice",
            "add-feature-help_text": "How likely it slips",
            "add-feature-required": "on",
            "add-feature-choices": "Low\nMedium\n\nHigh\n",
        },
    )
    assert response.status_code == 302
    field = CustomField.objects.get(workspace=cast.workspace)
    assert (field.key, field.kind, field.required, field.record_type) == (
        "risk",
        "choice",
        True,
        "feature",
    )
    assert [c.name for c in field.choices.all()] == ["Low", "Medium", "High"]
    html = client.get(f"{S}layouts/").content.decode()
    assert "How likely it slips" in html
    assert 'value="Medium"' in html


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"add-feature-name": "", "add-feature-kind": "text"}, "This field is required."),
        (
            {"add-feature-name": "Risk", "add-feature-kind": "choice"},
            "A choice field needs at least one choice",
        ),
        (
            {
                "add-feature-name": "Tier",
                "add-feature-kind": "choices",
                "add-feature-choices": "A\na",
            },
            "a is listed twice",
        ),
        ({"add-feature-name": "Name2", "add-feature-kind": "colour"}, "Select a valid choice"),
    ],
)
def test_a_bad_new_field_is_refused_with_its_reason(client, cast, data, message):
    client.force_login(cast.owner)
    response = client.post(f"{S}layouts/feature/fields/", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not CustomField.objects.exists()


def test_two_fields_of_a_record_type_cannot_share_a_name(cast):
    risk(cast.workspace)
    with pytest.raises(WorkspaceError, match="already have a field called risk"):
        custom_fields.add_custom_field(
            workspace=cast.workspace, record_type="feature", name="risk", kind="text"
        )
    # Another record type may have its own Risk.
    custom_fields.add_custom_field(
        workspace=cast.workspace, record_type="epic", name="Risk", kind="text"
    )


def test_renaming_a_field_keeps_its_key_and_values(client, cast):
    field = risk(cast.workspace)
    feature = make_feature(cast.workspace)
    update_record(feature, changes={"cf_risk": choice(field, "High")})
    client.force_login(cast.owner)
    response = client.post(
        f"{S}fields/{field.pk}/",
        {f"cf-{field.pk}-name": "Delivery risk", f"cf-{field.pk}-help_text": ""},
    )
    assert response.status_code == 302
    field.refresh_from_db()
    assert (field.name, field.key, field.required) == ("Delivery risk", "risk", False)
    assert CustomValue.objects.get(field=field, record_id=feature.pk).choice.name == "High"


def test_fields_move_up_and_down_the_layout(client, cast):
    first = risk(cast.workspace)
    second = custom_fields.add_custom_field(
        workspace=cast.workspace, record_type="feature", name="Customer", kind="text"
    )
    client.force_login(cast.owner)
    client.post(f"{S}fields/{second.pk}/move/", {"direction": "up"})
    order = list(CustomField.objects.order_by("position").values_list("pk", flat=True))
    assert order == [second.pk, first.pk]


def test_renaming_a_choice_keeps_the_records_that_have_it(client, cast):
    field = risk(cast.workspace)
    feature = make_feature(cast.workspace)
    high = choice(field, "High")
    update_record(feature, changes={"cf_risk": high})
    client.force_login(cast.owner)
    response = client.post(f"{S}choices/{high.pk}/", {f"choice-{high.pk}-name": "Severe"})
    assert response.status_code == 302
    assert CustomValue.objects.get(record_id=feature.pk).choice.name == "Severe"


def test_a_choice_cannot_take_another_choices_name(client, cast):
    field = risk(cast.workspace)
    high = choice(field, "High")
    client.force_login(cast.owner)
    response = client.post(f"{S}choices/{high.pk}/", {f"choice-{high.pk}-name": "low"})
    assert response.status_code == 400
    assert "Risk already has a choice called low" in response.content.decode()
    high.refresh_from_db()
    assert high.name == "High"


def test_deleting_a_used_choice_asks_what_becomes_of_its_records(client, cast):
    field = risk(cast.workspace)
    features = [make_feature(cast.workspace) for _ in range(3)]
    high, medium = choice(field, "High"), choice(field, "Medium")
    for feature in features[:2]:
        update_record(feature, changes={"cf_risk": high}, user=cast.owner)
    client.force_login(cast.owner)
    page = client.get(f"{S}choices/{high.pk}/delete/").content.decode()
    assert "2 records have High" in page
    refused = client.post(f"{S}choices/{high.pk}/delete/", {"action": "replace"})
    assert refused.status_code == 400
    assert "Choose the choice these records take instead." in refused.content.decode()
    assert CustomFieldChoice.objects.filter(pk=high.pk).exists()

    response = client.post(
        f"{S}choices/{high.pk}/delete/", {"action": "replace", "replacement": medium.pk}
    )
    assert response.status_code == 302
    assert not CustomFieldChoice.objects.filter(pk=high.pk).exists()
    assert [v.choice_id for v in CustomValue.objects.filter(field=field)] == [medium.pk] * 2
    moved = RecordChange.objects.filter(field="cf_risk", old_value="High", new_value="Medium")
    assert sorted(moved.values_list("object_id", flat=True)) == [f.pk for f in features[:2]]


def test_a_used_choice_can_be_cleared_from_its_records(cast):
    field = risk(cast.workspace)
    feature = make_feature(cast.workspace)
    low = choice(field, "Low")
    update_record(feature, changes={"cf_risk": low})
    with pytest.raises(WorkspaceError, match="1 record"):
        custom_fields.delete_choice(choice=low)
    assert custom_fields.delete_choice(choice=low, clear=True) == 1
    assert not CustomValue.objects.exists()
    assert RecordChange.objects.filter(field="cf_risk", old_value="Low", new_value="").exists()


def test_a_multiple_choice_that_has_both_keeps_the_replacement_once(cast):
    field = custom_fields.add_custom_field(
        workspace=cast.workspace,
        record_type="feature",
        name="Platforms",
        kind="choices",
        choices=["iOS", "Android", "Web"],
    )
    feature = make_feature(cast.workspace)
    ios, android = choice(field, "iOS"), choice(field, "Android")
    update_record(feature, changes={"cf_platforms": [ios, android]})
    custom_fields.delete_choice(choice=android, replacement=ios)
    assert list(CustomValue.objects.values_list("choice_id", flat=True)) == [ios.pk]
    change = RecordChange.objects.get(field="cf_platforms", new_value="iOS")
    assert change.old_value == "iOS, Android"


def test_deleting_a_field_removes_its_values_and_keeps_the_history(client, cast):
    field = risk(cast.workspace)
    feature = make_feature(cast.workspace)
    update_record(feature, changes={"cf_risk": choice(field, "Low")})
    client.force_login(cast.owner)
    assert (
        "1 feature record has a value"
        in client.get(f"{S}fields/{field.pk}/delete/").content.decode()
    )
    assert client.post(f"{S}fields/{field.pk}/delete/").status_code == 302
    assert not CustomField.objects.exists()
    assert not CustomValue.objects.exists()
    assert RecordChange.objects.filter(field="cf_risk", new_value="Low").exists()
    assert Feature.objects.filter(pk=feature.pk).exists()


def test_another_workspaces_field_is_not_found(client, cast):
    field = custom_fields.add_custom_field(
        workspace=cast.other_workspace, record_type="feature", name="Secret", kind="text"
    )
    client.force_login(cast.owner)
    response = client.post(f"{S}fields/{field.pk}/", {f"cf-{field.pk}-name": "Mine"})
    assert response.status_code == 404
    field.refresh_from_db()
    assert field.name == "Secret"


ROLES = ["owner", "contributor", "reviewer", "viewer", "outsider"]
REFUSED = {"contributor": 403, "reviewer": 403, "viewer": 403, "outsider": 404}


def _state():
    return (
        sorted(CustomField.objects.values_list("pk", "name", "position", "required")),
        sorted(CustomFieldChoice.objects.values_list("pk", "name", "position")),
    )


def _cases(cast):
    field = risk(cast.workspace)
    custom_fields.add_custom_field(
        workspace=cast.workspace, record_type="feature", name="Customer", kind="text"
    )
    high = choice(field, "High")
    return {
        "add_custom_field": (
            f"{S}layouts/feature/fields/",
            {"add-feature-name": "Budget", "add-feature-kind": "number"},
        ),
        "edit_custom_field": (f"{S}fields/{field.pk}/", {f"cf-{field.pk}-name": "Peril"}),
        "move_custom_field": (f"{S}fields/{field.pk}/move/", {"direction": "down"}),
        "delete_custom_field": (f"{S}fields/{field.pk}/delete/", {}),
        "add_choice": (f"{S}fields/{field.pk}/choices/", {f"add-choice-{field.pk}-name": "Huge"}),
        "rename_choice": (f"{S}choices/{high.pk}/", {f"choice-{high.pk}-name": "Severe"}),
        "move_choice": (f"{S}choices/{high.pk}/move/", {"direction": "up"}),
        "delete_choice": (f"{S}choices/{high.pk}/delete/", {}),
    }


@pytest.mark.parametrize("who", ROLES)
@pytest.mark.parametrize(
    "case",
    [
        "add_custom_field",
        "edit_custom_field",
        "move_custom_field",
        "delete_custom_field",
        "add_choice",
        "rename_choice",
        "move_choice",
        "delete_choice",
    ],
)
def test_only_owners_change_custom_fields(client, cast, who, case):
    url, data = _cases(cast)[case]
    before = _state()
    client.force_login(getattr(cast, who))
    response = client.post(url, data)
    if who == "owner":
        assert response.status_code == 302
        assert _state() != before
    else:
        assert response.status_code == REFUSED[who]
        assert _state() == before


def test_keys_stay_short_enough_for_an_integrations_field_mapping(cast):
    long_name = "A very long custom field name that goes on and on ok"
    first = custom_fields.add_custom_field(
        workspace=cast.workspace, record_type="feature", name=long_name, kind="text"
    )
    second = custom_fields.add_custom_field(
        workspace=cast.workspace, record_type="feature", name=long_name + "!", kind="text"
    )
    assert first.key != second.key
    assert second.key.startswith(first.key)
    # FieldMapping.field holds 40 characters: cf_<key> must fit.
    assert max(len(first.form_name), len(second.form_name)) <= 40
