"""What both sides agree on: Rally's values normalised as baselines keep them, whether Rally
changed one since the baseline, whether two values mean the same, Rally's value as a record
takes it, and a disagreement kept for a reviewer.

The catch-up (`incoming/pull.py`), the guarded update (`outgoing/guarded_update.py`), imports,
Compare with Rally and the reviewers' decisions all judge values here, so they never differ.
"""

from __future__ import annotations

from typing import Any

from aharally.integrations.log import log_event
from aharally.integrations.models import LogLevel
from aharally.records import custom
from aharally.records.models import RecordChange, Tag
from aharally.records.richtext import sanitize_html
from aharally.sync import history, mapping
from aharally.sync.models import ActivityAction, Conflict, ConflictState
from aharally.sync.people import PeopleMap
from aharally.sync.records import SOURCE


def rally_value(field_name: str, value: Any, people: PeopleMap | None = None) -> Any:
    """A Rally field's value normalised as baselines keep it (rich text sanitised as every
    description is), or UNKNOWN. An Owner is said in aharally's terms through People: the
    paired member's e-mail address (`sync.people`)."""
    normalised = mapping.incoming_value(field_name, value, sanitize=sanitize_html)
    if field_name == "assignee" and people is not None and isinstance(normalised, str):
        return people.in_aharally(value, normalised)
    return normalised


def changed_in_rally(field_name: str, incoming: Any, baseline: dict) -> bool:
    """Whether Rally's normalised value differs from what both sides last agreed on."""
    if incoming is mapping.UNKNOWN or baseline.get(field_name) == incoming:
        return False
    # Never agreed (an assignee Rally has no user for is sent without an owner): Rally's
    # empty field is not a wish to clear ours.
    return not (field_name in PEOPLE_AND_TAGS and field_name not in baseline and not incoming)


def same_value(field_name, ours, theirs, record, status_map) -> bool:
    """Whether two normalised values mean the same (a status is the same when both Rally
    states map to the record's status: Measuring and Developing are both In development)."""
    if ours == theirs:
        return True
    if field_name == "assignee" and ours and theirs:
        return str(ours).lower() == str(theirs).lower()  # Rally may spell an email otherwise
    if field_name == "status" and status_map is not None and theirs:
        status = status_map.status_for(theirs)
        return status is not None and record.status_id == status.pk
    return False


# Fields whose Rally value is a reference (Owner, Tags), matched here by email and by name.
PEOPLE_AND_TAGS = {"assignee", "tags"}


def to_record_value(field_name: str, incoming, status_map, *, workspace=None, people=None):
    """Rally's normalised value as the record takes it, or UNKNOWN when it can't (an Owner
    who is no member here: the assignee is left as it is)."""
    if field_name == "assignee":
        if not incoming:
            return None
        if people is not None:
            member_id = people.member_id(incoming, workspace.pk)
            return _user(member_id) if member_id else mapping.UNKNOWN
        return _member_by_email(workspace, incoming)
    if field_name == "tags":
        tags = []
        for name in incoming or []:
            tag, _ = Tag.objects.get_or_create(workspace=workspace, name=name[:60])
            tags.append(tag)
        return tags
    if field_name == "status":
        status = status_map.status_for(incoming) if status_map and incoming else None
        return status if status is not None else mapping.UNKNOWN
    if field_name in mapping.DATE_FIELDS:
        from datetime import date

        return date.fromisoformat(incoming) if incoming else None
    if field_name == "estimate":
        return incoming
    return incoming if incoming is not None else ""


def _user(user_id: int):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(pk=user_id).first() or mapping.UNKNOWN


def _member_by_email(workspace, email: str):
    """The workspace member with this email (case aside), or UNKNOWN."""
    from django.contrib.auth import get_user_model

    user = (
        get_user_model()
        .objects.filter(email__iexact=email, memberships__workspace=workspace)
        .first()
    )
    return user if user is not None else mapping.UNKNOWN


def open_conflict(link, record, field_name: str, *, ours, theirs, agreed) -> None:
    """Keep the conflict for a reviewer (one open per field); say so once, not every pass.

    The catch-up and the guarded update (`sync.guarded_update`) both open them here.
    """

    last_edit = (
        RecordChange.objects.filter(
            content_type__model=type(record)._meta.model_name,
            object_id=record.pk,
            field=field_name,
        )
        .exclude(source=SOURCE)
        .order_by("-changed_at", "-id")
        .first()
    )
    _row, created = Conflict.objects.update_or_create(
        link=link,
        field=field_name,
        state=ConflictState.OPEN,
        defaults={
            "ours": ours,
            "theirs": theirs,
            "baseline": agreed,
            "ours_by": last_edit.changed_by if last_edit else None,
        },
    )
    if not created:
        return
    label = field_name
    if custom.is_custom(field_name):  # its name in the layout (a query; conflicts are rare)
        label = custom.labels(record.workspace_id, record.record_type, [field_name]).get(
            field_name, field_name
        )
    message = (
        f"{record.reference}'s {label} changed in aharally and in Rally "
        f"({link.label}) since they last agreed; neither was overwritten."
    )
    history.note(
        link,
        ActivityAction.CONFLICT,
        message,
    )
    log_event(
        link.integration,
        LogLevel.WARNING,
        message,
        "A reviewer picks the value to keep in Integration updates.",
    )
