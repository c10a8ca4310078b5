"""The conversions of custom values between aharally and Rally, one kind at a time (no Rally)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from types import SimpleNamespace

import pytest

from aharally.integrations.custom_matching import incompatibility
from aharally.rally.metadata import AttributeDefinition
from aharally.rally.objects import RallyRef
from aharally.sync import custom_values, mapping
from aharally.sync.custom_values import UNMAPPED, CustomSpec, NotSendable
from aharally.workspaces.custom_fields import add_custom_field

pytestmark = pytest.mark.django_db


def attribute(attribute_type: str, *, name="Field", read_only=False, allowed=None):
    return AttributeDefinition(
        ref=RallyRef(ref="/attributedefinition/1"),
        name=name,
        element_name="c_Field",
        attribute_type=attribute_type,
        required=False,
        read_only=read_only,
        custom=True,
        constrained=bool(allowed),
        allowed_values=allowed,
    )


@pytest.fixture
def spec(cast):
    def make(kind: str, choices=(), value_map=None):
        field = add_custom_field(
            workspace=cast.workspace,
            record_type="feature",
            name=f"F {kind}",
            kind=kind,
            choices=choices,
        )
        by_name = {c.name: c.pk for c in field.choices.all()}
        return CustomSpec(
            field=field, value_map={by_name[k]: v for k, v in (value_map or {}).items()}
        )

    return make


def test_text_is_stripped_and_empty_is_none_both_ways(spec):
    text = spec("text")
    assert custom_values.normalise(text, "  ACME ") == "ACME"
    assert custom_values.normalise(text, "") is None
    assert custom_values.from_rally(text, " Globex ") == "Globex"
    assert custom_values.from_rally(text, "") is None
    assert custom_values.to_rally(text, None, attribute("STRING")) == ""  # clears Rally's
    assert custom_values.to_record(text, None, workspace_id=1) == ""


def test_rich_text_is_sanitised_both_ways(spec):
    rich = spec("rich_text")
    sent = custom_values.normalise(rich, "<p>Hi <script>x()</script><b>there</b></p>\n <p>x</p>")
    assert sent == "<p>Hi <b>there</b></p><p>x</p>"
    back = custom_values.from_rally(rich, '<p onclick="x()">Back</p>')
    assert back == "<p>Back</p>"


def test_numbers_are_whole_when_they_can_be_and_rallys_integers_hold_32_bits(spec):
    number = spec("number")
    assert custom_values.normalise(number, Decimal("3.0000")) == 3
    assert custom_values.normalise(number, Decimal("3.5")) == 3.5
    assert custom_values.from_rally(number, 7.0) == 7
    assert custom_values.to_record(number, 7, workspace_id=1) == Decimal("7")
    assert custom_values.to_rally(number, 3.5, attribute("DECIMAL")) == 3.5
    with pytest.raises(NotSendable, match="whole numbers up to 2,147,483,647"):
        custom_values.to_rally(number, 3.5, attribute("INTEGER"))
    with pytest.raises(NotSendable):
        custom_values.to_rally(number, 2**31, attribute("INTEGER"))
    assert custom_values.to_rally(number, 2**31 - 1, attribute("INTEGER")) == 2**31 - 1


def test_dates_go_as_noon_utc_and_come_back_as_the_day(spec):
    day = spec("date")
    assert custom_values.normalise(day, date(2027, 3, 31)) == "2027-03-31"
    assert custom_values.to_rally(day, "2027-03-31", attribute("DATE")) == (
        "2027-03-31T12:00:00.000Z"
    )
    assert custom_values.from_rally(day, "2027-06-30T23:59:59.000Z") == "2027-06-30"
    assert custom_values.to_record(day, "2027-06-30", workspace_id=1) == date(2027, 6, 30)


def test_members_travel_as_email_and_a_user_read_without_one_is_no_change(spec, cast):
    member = spec("member")
    assert custom_values.normalise(member, cast.viewer) == "viewer@example.com"
    assert custom_values.from_rally(member, {"EmailAddress": " viewer@example.com "}) == (
        "viewer@example.com"
    )
    assert custom_values.from_rally(member, {"_ref": "/user/1"}) is mapping.UNKNOWN
    found = custom_values.to_record(member, "VIEWER@example.com", workspace_id=cast.workspace.pk)
    assert found == cast.viewer
    nobody = custom_values.to_record(member, "x@example.com", workspace_id=cast.workspace.pk)
    assert nobody is mapping.UNKNOWN


def test_a_single_choice_goes_through_the_value_map_many_to_one(spec):
    risk = spec(
        "choice",
        choices=["Low", "Medium", "High", "Critical"],
        value_map={"Low": "Green", "Medium": "Amber", "High": "Red", "Critical": "Red"},
    )
    choices = {c.name: c for c in risk.field.choices.all()}
    assert custom_values.normalise(risk, choices["Critical"]) == "Red"
    assert custom_values.normalise(risk, choices["High"]) == "Red"  # the same to the sync
    # Back from Rally: the first choice in layout order that sends the value.
    assert custom_values.to_record(risk, "Red", workspace_id=1) == choices["High"]
    assert custom_values.to_record(risk, "red", workspace_id=1) == choices["High"]
    assert custom_values.to_record(risk, "Purple", workspace_id=1) is UNMAPPED
    assert custom_values.to_record(risk, None, workspace_id=1) is None


def test_a_choice_left_out_of_the_map_has_no_rally_value_and_is_named(spec):
    risk = spec("choice", choices=["Low", "Medium"], value_map={"Low": "Green"})
    medium = risk.field.choices.get(name="Medium")
    record = SimpleNamespace(pk=1, _custom_values={risk.field.form_name: medium})
    specs = {risk.field.form_name: risk}
    assert custom_values.record_value(record, risk, specs) is None
    assert custom_values.unmapped_choices(record, risk, specs) == ["Medium"]
    assert "“Medium”" in custom_values.not_sent(risk, ["Medium"])
    said = custom_values.not_applied(risk, "c_RiskLevel", "Purple")
    assert said.startswith("“Purple” has no mapping for F choice (Rally's c_RiskLevel)")


@pytest.mark.parametrize(
    ("kind", "rally_type", "fits"),
    [
        ("number", "INTEGER", True),
        ("number", "DECIMAL", True),
        ("number", "STRING", False),
        ("date", "DATE", True),
        ("date", "STRING", False),
        ("choice", "STRING", True),
        ("choice", "DATE", False),
        ("member", "OBJECT", True),
        ("text", "INTEGER", False),
        ("rich_text", "TEXT", True),
        ("url", "STRING", True),
        ("choices", "COLLECTION", True),
        ("choices", "STRING", False),
    ],
)
def test_which_kinds_fit_which_rally_types(kind, rally_type, fits):
    assert (incompatibility(kind, attribute(rally_type)) == "") is fits


def test_a_read_only_rally_field_fits_nothing():
    assert "read-only" in incompatibility("text", attribute("STRING", read_only=True))
