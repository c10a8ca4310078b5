"""Matching aharally custom fields to Rally's by name, and their values: pure functions."""

from __future__ import annotations

from types import SimpleNamespace

from aharally.integrations.custom_matching import (
    auto_value_map,
    incompatibility,
    name_key,
    suggest,
)
from aharally.rally.metadata import AttributeDefinition


def attribute(name, element, kind="STRING", allowed=None, read_only=False):
    return AttributeDefinition(
        ref=f"/attributedefinition/{element}",
        name=name,
        element_name=element,
        attribute_type=kind,
        required=False,
        read_only=read_only,
        custom=True,
        constrained=allowed is not None,
        allowed_values=allowed,
    )


class _Choices(list):
    def all(self):
        return self


def field(name, kind, choices=()):
    key = name_key(name)
    return SimpleNamespace(
        name=name, key=key, kind=kind, choices=_Choices(SimpleNamespace(name=c) for c in choices)
    )


def test_names_match_whatever_their_spelling():
    assert name_key("Risk level") == name_key("risk_level") == name_key("c_RiskLevel")
    assert name_key("Customer") != name_key("Customer ID")


def test_values_match_by_name_and_several_may_share_one():
    assert auto_value_map(["low", "High", "Crimson"], ["Low", "Medium", "High"]) == {
        "low": "Low",
        "High": "High",
        "Crimson": None,
    }
    # Many-to-one is a map's shape: two choices may name the same Rally value.
    assert auto_value_map(["Red", "red "], ["Red"]) == {"Red": "Red", "red ": "Red"}


def test_incompatible_kinds_are_explained():
    date = attribute("Due", "c_Due", "DATE")
    assert incompatibility("date", date) == ""
    assert incompatibility("number", date, field_name="Budget") == (
        "Budget is a number field; Rally's Due is DATE: map it to an integer or decimal field."
    )
    locked = attribute("Rank", "c_Rank", "INTEGER", read_only=True)
    assert incompatibility("number", locked) == "Rally's Rank is read-only."
    assert incompatibility("choices", attribute("Tags", "c_Tags", "COLLECTION")) == ""
    assert incompatibility("member", attribute("Asker", "c_Asker", "OBJECT")) == ""


def test_suggest_prefers_a_compatible_field_of_the_same_name():
    rally = [
        attribute("Risk", "c_Risk", "DATE"),
        attribute("RISK", "c_RISK", "STRING", allowed=("Green", "Amber", "Red")),
    ]
    (match,) = suggest([field("Risk", "choice", ["Green", "Blue"])], rally)
    assert match.attribute.element_name == "c_RISK"
    assert match.problem == ""
    assert match.values == {"Green": "Green", "Blue": None}
    assert match.unmatched_values == ["Blue"]
    (nothing,) = suggest([field("Customer", "text")], rally)
    assert nothing.attribute is None
