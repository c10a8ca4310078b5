"""The query builder: Rally's fully parenthesised grammar, with values that cannot escape."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from aharally.rally import TODAY, RallyRef, all_of, any_of, is_null, where
from aharally.rally.query import quote

pytestmark = pytest.mark.sandbox_only


def test_a_condition_is_wrapped_in_parentheses_and_its_string_value_quoted():
    assert str(where("Name", "=", "My Story")) == '(Name = "My Story")'


def test_three_conditions_nest_pairwise_as_rally_requires():
    query = all_of(where("A", "=", 1), where("B", "=", 2), where("C", "=", 3))
    assert str(query) == "(((A = 1) AND (B = 2)) AND (C = 3))"


def test_and_and_or_combine_with_operators_and_keep_their_grouping():
    query = (where("A", "=", "x") | where("B", "=", "y")) & where("C", "!=", "z")
    assert str(query) == '(((A = "x") OR (B = "y")) AND (C != "z"))'


def test_any_of_builds_an_or_chain():
    assert str(any_of(where("A", ">", 1), where("A", "<", 0))) == "((A > 1) OR (A < 0))"


@pytest.mark.parametrize(
    ("operator", "rendered"),
    [
        ("=", '(Name = "v")'),
        ("!=", '(Name != "v")'),
        ("<", '(Name < "v")'),
        ("<=", '(Name <= "v")'),
        (">", '(Name > "v")'),
        (">=", '(Name >= "v")'),
        ("contains", '(Name contains "v")'),
        ("!contains", '(Name !contains "v")'),
    ],
)
def test_every_rally_operator_is_rendered(operator, rendered):
    assert str(where("Name", operator, "v")) == rendered


def test_in_with_plain_tokens_uses_rallys_in_list():
    query = where("ScheduleState", "in", ["Defined", "In-Progress"])
    assert str(query) == "(ScheduleState in Defined,In-Progress)"


def test_in_with_object_ids_uses_rallys_in_list_short_enough_for_a_request_line():
    oids = list(range(70000000000, 70000000100))
    query = where("ObjectID", "in", oids)
    assert str(query).startswith("(ObjectID in 70000000000,70000000001,")
    assert len(str(query)) < 1300


def test_in_with_values_that_need_quotes_becomes_an_or_chain_of_quoted_equals():
    query = where("Name", "in", ["a b", 'c"d', "OR"])
    assert str(query) == '(((Name = "a b") OR (Name = "c\\"d")) OR (Name = "OR"))'


def test_not_in_becomes_an_and_chain_of_not_equals():
    query = where("State", "!in", ["Done", "Closed"])
    assert str(query) == '((State != "Done") AND (State != "Closed"))'


def test_null_booleans_numbers_dates_refs_and_today_are_rendered_unquoted_or_iso():
    assert str(is_null("Parent")) == "(Parent = null)"
    assert str(where("Parent", "!=", None)) == "(Parent != null)"
    assert str(where("Blocked", "=", True)) == "(Blocked = true)"
    assert str(where("PlanEstimate", ">=", 2.5)) == "(PlanEstimate >= 2.5)"
    moment = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert str(where("LastUpdateDate", ">", moment)) == (
        '(LastUpdateDate > "2024-05-01T10:00:00.123Z")'
    )
    assert str(where("ReleaseDate", "<", date(2024, 1, 2))) == '(ReleaseDate < "2024-01-02")'
    ref = RallyRef("https://rally1.rallydev.com/slm/webservice/v2.0/project/123")
    assert str(where("Project", "=", ref)) == "(Project = /project/123)"
    assert str(where("Iteration.StartDate", "<=", TODAY)) == "(Iteration.StartDate <= today)"


def test_dot_paths_and_custom_fields_are_accepted_as_attributes():
    assert str(where("TypeDef.TypePath", "=", "x")) == '(TypeDef.TypePath = "x")'
    assert str(where("c_AhaReference", "=", "x")) == '(c_AhaReference = "x")'


@pytest.mark.parametrize(
    "hostile",
    [
        'x") OR (Name != "',
        "a) OR (ObjectID > 0",
        'Story" AND "1" = "1',
        "back\\slash",
        "trailing backslash \\",
        '\\" OR (Name contains "',
        "((( )))",
        "AND OR null",
    ],
)
def test_hostile_values_stay_inside_one_quoted_string(hostile):
    rendered = str(where("Name", "=", hostile))
    assert rendered.startswith('(Name = "') and rendered.endswith('")')
    literal = rendered[len("(Name = ") : -1]
    assert literal == quote(hostile)
    assert _unquote(literal) == hostile


def _unquote(literal: str) -> str:
    """Read a literal back the way a Rally-style tokenizer does; fails if it ends early."""
    assert literal[0] == '"'
    out, i = [], 1
    while i < len(literal):
        ch = literal[i]
        if ch == "\\":
            out.append(literal[i + 1])
            i += 2
            continue
        if ch == '"':
            assert i == len(literal) - 1, "the string ended before the literal did"
            return "".join(out)
        out.append(ch)
        i += 1
    raise AssertionError("unterminated literal")


@pytest.mark.parametrize(
    "attribute",
    ["Name) OR (ObjectID", "Name = 1", "", "1Name", "Name.", "Na me", 'Name"', "Name\\"],
)
def test_an_attribute_that_is_not_a_plain_path_is_refused(attribute):
    with pytest.raises(ValueError, match="attribute"):
        where(attribute, "=", "x")


def test_unknown_operators_raw_strings_and_odd_values_are_refused():
    with pytest.raises(ValueError, match="operator"):
        where("Name", "==", "x")
    with pytest.raises(ValueError, match="operator"):
        where("Name", ") OR (", "x")
    with pytest.raises(TypeError):
        where("Name", "=", "x") & "(ObjectID > 0)"
    with pytest.raises(ValueError, match="null"):
        where("Name", "<", None)
    with pytest.raises(ValueError, match="string"):
        where("PlanEstimate", "contains", 3)
    with pytest.raises(ValueError, match="timezone"):
        where("LastUpdateDate", ">", datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="finite"):
        where("PlanEstimate", ">", float("nan"))
    with pytest.raises(ValueError, match="at least one"):
        where("State", "in", [])
    with pytest.raises(ValueError, match="list"):
        where("State", "in", "Done")
    with pytest.raises(TypeError):
        where("Name", "=", object())
