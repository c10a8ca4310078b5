"""Typed errors from Rally's real envelopes and status codes (samples in tests/rally/samples)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aharally.rally import (
    RallyAuthError,
    RallyConcurrencyConflict,
    RallyNotFound,
    RallyQueryError,
    RallyThrottled,
    RallyTransientError,
    RallyValidationError,
)
from aharally.rally.errors import error_from_messages, error_from_status, parse_retry_after

pytestmark = pytest.mark.sandbox_only

SAMPLES = Path(__file__).parent / "samples"


def envelope(name: str) -> dict:
    ((_, content),) = json.loads((SAMPLES / name).read_text()).items()
    return content


def test_validation_errors_carry_rallys_messages_verbatim():
    content = envelope("create-result-validation-errors.json")
    error = error_from_messages(content["Errors"])
    assert type(error) is RallyValidationError
    assert error.kind == "validation"
    assert error.messages == tuple(content["Errors"])
    assert "HierarchicalRequirement.MICS Category should not be null" in str(error)


def test_a_concurrency_conflict_is_recognised():
    error = error_from_messages(envelope("create-result-concurrency-error-v1_43.json")["Errors"])
    assert isinstance(error, RallyConcurrencyConflict)
    assert error.kind == "conflict"


def test_could_not_read_an_object_to_update_is_not_found():
    error = error_from_messages(envelope("operation-result-error-could-not-read.json")["Errors"])
    assert isinstance(error, RallyNotFound)


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("Cannot find object to read", RallyNotFound),
        ("Object to delete cannot be null", RallyNotFound),
        ("Not authorized to perform action: Invalid key", RallyAuthError),
        ('Could not parse: Unknown operator "zobolts"', RallyQueryError),
        ("Could not update: Could not write changes in Unit Of Work", RallyConcurrencyConflict),
        ('Requested type name "iamnotarealone" is unknown', RallyValidationError),
    ],
)
def test_rallys_known_error_texts_map_to_their_kind(message, kind):
    assert type(error_from_messages([message])) is kind


def test_a_401_html_page_is_an_auth_error_summarised_by_its_title_not_the_page():
    body = (SAMPLES / "error-401.html").read_text()
    error = error_from_status(401, body=body)
    assert isinstance(error, RallyAuthError)
    assert not error.revoked
    assert "Full authentication is required" in str(error)
    assert "<html>" not in str(error) and "Jetty" not in str(error)


def test_429_is_throttled_with_its_retry_after_in_seconds():
    error = error_from_status(429, retry_after="7")
    assert isinstance(error, RallyThrottled)
    assert isinstance(error, RallyTransientError)
    assert error.retry_after == 7.0


def test_5xx_is_transient_and_keeps_a_retry_after_when_given():
    error = error_from_status(503, retry_after="2")
    assert type(error) is RallyTransientError
    assert error.retry_after == 2.0
    assert error_from_status(502).retry_after is None


def test_404_is_not_found_and_other_4xx_are_validation_errors():
    assert isinstance(error_from_status(404), RallyNotFound)
    assert type(error_from_status(400)) is RallyValidationError


def test_retry_after_accepts_seconds_and_http_dates_and_ignores_garbage():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
