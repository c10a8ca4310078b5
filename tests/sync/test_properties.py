"""Property-based tests of the pure pieces: value normalisation and the delivery parser."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aharally.sync import mapping
from aharally.sync.incoming.webhooks import DeliveryRefused, parse_delivery

numbers = st.one_of(
    st.integers(min_value=-(10**9), max_value=10**9),
    st.decimals(min_value=-(10**6), max_value=10**6, places=2, allow_nan=False),
)


@given(numbers)
def test_a_number_and_rallys_float_of_it_normalise_the_same(value):
    as_rally_sends_it = float(value)  # Rally answers 3.0 for 3
    assert mapping.normalise("estimate", value) == mapping.normalise("estimate", as_rally_sends_it)


@given(numbers)
def test_normalising_a_number_twice_changes_nothing(value):
    once = mapping.normalise("estimate", value)
    assert mapping.normalise("estimate", once) == once


@given(st.dates())
def test_a_date_and_rallys_date_time_of_it_normalise_the_same(day):
    sent = mapping.rally_scalar("due_date", mapping.normalise("due_date", day))
    assert mapping.incoming_value("due_date", sent) == mapping.normalise("due_date", day)


@given(st.text(max_size=200))
def test_normalising_html_is_idempotent(text):
    once = mapping.normalise_html(text)
    assert mapping.normalise_html(once) == once


@given(st.lists(st.text(max_size=20), max_size=10))
def test_tags_normalise_to_a_sorted_set_whatever_the_order(names):
    assert mapping.normalise("tags", names) == mapping.normalise("tags", list(reversed(names)))


def test_decimal_places_do_not_make_a_change():
    assert mapping.normalise("estimate", Decimal("13.00")) == mapping.normalise("estimate", 13)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300)
@given(json_values)
def test_the_parser_accepts_or_refuses_any_json_but_never_fails_otherwise(value):
    body = json.dumps(value).encode()
    try:
        parsed = parse_delivery(body)
    except DeliveryRefused as refused:
        assert refused.status == 400
    else:
        assert parsed["action"] in {"Created", "Updated", "Deleted"}


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_the_parser_refuses_any_bytes_that_are_not_a_delivery(body):
    with pytest.raises(DeliveryRefused):
        parse_delivery(body)


@given(
    st.text(min_size=1, max_size=64),
    st.sampled_from(["Created", "Updated", "Deleted"]),
    st.integers(min_value=1, max_value=2**62),
)
def test_a_well_formed_delivery_gives_its_id_action_and_object(message_id, action, object_id):
    body = json.dumps(
        {
            "message": {
                "message_id": message_id,
                "action": action,
                "object_type": "Defect",
                "state": {"uuid": {"name": "ObjectID", "value": object_id}},
            }
        }
    ).encode()
    parsed = parse_delivery(body)
    assert (parsed["message_id"], parsed["action"], parsed["object_oid"]) == (
        message_id,
        action,
        object_id,
    )
