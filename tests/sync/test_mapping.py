"""The pure translation: normalised values and Rally's detail URLs."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from aharally.sync import mapping


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("3.00"), 3),
        (3.0, 3),
        ("3.0", 3),
        (Decimal("2.50"), 2.5),
        (None, None),
        ("", None),
        ("nan", None),
        ("x", None),
    ],
)
def test_numbers_compare_as_rally_sends_them(value, expected):
    assert mapping.normalise("estimate", value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (date(2027, 1, 31), "2027-01-31"),
        (datetime(2027, 1, 31, 23, 59), "2027-01-31"),
        ("2027-01-31T23:59:59.000Z", "2027-01-31"),
        (None, None),
        ("soon", None),
    ],
)
def test_dates_keep_the_day(value, expected):
    assert mapping.normalise("due_date", value) == expected


def test_rich_text_ignores_white_space_between_tags():
    assert mapping.normalise("description", "<p>a</p>\n  <p>b  c</p> ") == "<p>a</p><p>b c</p>"


def test_tags_are_a_sorted_set_of_names():
    assert mapping.normalise("tags", ["ux", " api", "ux", ""]) == ["api", "ux"]


def test_rich_text_is_shown_as_text_in_the_queue():
    assert mapping.display("description", "<p>Why: <b>fast</b> &amp; cheap</p><p>2</p>") == (
        "Why: fast & cheap\n2"
    )


@pytest.mark.parametrize(
    ("rally_type", "segment"),
    [
        ("PortfolioItem/Feature", "portfolioitem/feature"),
        ("HierarchicalRequirement", "userstory"),
        ("Release", "release"),
    ],
)
def test_links_use_rallys_own_detail_url(rally_type, segment):
    url = mapping.detail_url("https://rally1.rallydev.com/", rally_type, 42)
    assert url == f"https://rally1.rallydev.com/#/detail/{segment}/42"


def test_only_fields_whose_direction_allows_are_sent():
    class M:
        def __init__(self, field, direction):
            self.field, self.rally_field, self.direction = field, field.title(), direction

    fields = [
        M("name", "both"),
        M("status", "to_aharally"),
        M("tags", "once"),
        M("rank", "to_rally"),
    ]
    assert [f for f, _ in mapping.fields_to_send(fields, creating=True)] == ["name", "tags", "rank"]
    assert [f for f, _ in mapping.fields_to_send(fields, creating=False)] == ["name", "rank"]
