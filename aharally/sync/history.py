"""A record's integration history: the one way a line is written.

Sends, receipts, links, conflicts and decisions each add an `Activity` line about one record
of one integration; the subject is whatever names that record — an outbox row or a link.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from aharally.records.rows import insert_each, insert_one
from aharally.sync.models import DISCUSSION_KINDS, Activity


class AboutARecord(Protocol):
    integration_id: int
    record_type: str
    record_id: int


def about(subject: AboutARecord) -> tuple[str, int]:
    """The record a line is about: a comment's or an attachment's outbox row names the item
    (`record_type` "comment"/"attachment"), and its `values` the record it is on."""
    if getattr(subject, "kind", None) in DISCUSSION_KINDS:
        values = getattr(subject, "values", None) or {}
        return values.get("record_type", subject.record_type), values.get(
            "record_id", subject.record_id
        )
    return subject.record_type, subject.record_id


def note(
    subject: AboutARecord, action: str, detail: str = "", user=None, *, user_id: int | None = None
) -> Activity:
    """`user_id` names the person without loading them (a send writes one line an object)."""
    return insert_one(Activity(**_fields(subject, action, detail, user, user_id)))


def note_all(lines: Iterable[tuple[AboutARecord, str]], action: str, user=None) -> None:
    """`note` for many records at once ((subject, detail) pairs): one INSERT."""
    user_id = user.pk if user is not None else None
    insert_each(
        Activity,
        [_fields(subject, action, detail, None, user_id) for subject, detail in lines],
    )


def note_each(lines: Iterable[tuple[AboutARecord, str, str, int | None]]) -> None:
    """`note` for many lines at once ((subject, action, detail, user id)): one INSERT."""
    insert_each(
        Activity,
        [
            _fields(subject, action, detail, None, user_id)
            for subject, action, detail, user_id in lines
        ],
    )


def _fields(subject: AboutARecord, action: str, detail: str, user, user_id=None) -> dict:
    record_type, record_id = about(subject)
    return {
        "integration_id": subject.integration_id,
        "record_type": record_type,
        "record_id": record_id,
        "action": action,
        "detail": detail[:2000],
        **({"user_id": user_id} if user is None and user_id is not None else {"user": user}),
    }
