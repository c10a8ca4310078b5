"""Bulk actions on selected features: a registry that other apps extend.

An action is a name, a label, a form for its options, the capability it needs and a
handler. The board's selection bar offers every registered action the member may use;
`apply_bulk_action` re-checks the capability and that every id is a feature of the
workspace, then runs the handler inside one transaction, so nothing is saved half-way.

To add one (say "Send to Rally" from the sync app), call `register_bulk_action(...)` from
that app's `AppConfig.ready()`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django import forms
from django.core.exceptions import PermissionDenied
from django.db import transaction

from aharally.records.board import append_to_release, parse_id
from aharally.records.models import Feature, Release
from aharally.records.services import update_records
from aharally.workspaces.models import Capability, Membership, RecordType, WorkflowStatus

# A board holds a few thousand features; more ids than this is not a selection.
MAX_SELECTION = 5000


class BulkActionError(Exception):
    """The action was refused as a whole; the message says why, and nothing was saved."""


class BulkActionForm(forms.Form):
    """The options of one bulk action; scoped to the workspace like record forms."""

    def __init__(self, *args, workspace, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace
        self.user = user


@dataclass(frozen=True)
class BulkAction:
    name: str
    label: str
    form_class: type[BulkActionForm]
    # handler(*, features, workspace, user, **cleaned_data) -> the message shown afterwards
    handler: Callable[..., str]
    capability: str = Capability.EDIT_RECORDS
    # preview(*, features, workspace, user, **cleaned_data) -> what the action will do (HTML),
    # shown before it runs with Send and Cancel; the handler then gets `previewed=True`.
    preview: Callable[..., str] | None = None


_REGISTRY: dict[str, BulkAction] = {}


def register_bulk_action(action: BulkAction) -> BulkAction:
    if action.name in _REGISTRY and _REGISTRY[action.name] != action:
        raise ValueError(f"A bulk action named {action.name!r} is already registered.")
    _REGISTRY[action.name] = action
    return action


def get_bulk_action(name: str) -> BulkAction | None:
    return _REGISTRY.get(name)


def bulk_actions_for(membership: Membership) -> list[BulkAction]:
    """The actions this member may use, in the order they were registered."""
    return [action for action in _REGISTRY.values() if membership.can(action.capability)]


def features_phrase(count: int) -> str:
    return f"{count} feature" if count == 1 else f"{count} features"


def parse_ids(values: Iterable[str]) -> list[int]:
    """Ids as posted: one field each, or comma-separated in one (the board's selection bar)."""
    ids: list[int] = []
    for value in (one for field in values for one in str(field).split(",") if one.strip()):
        pk = parse_id(value.strip())
        if pk is None:
            raise BulkActionError(f"{value!r} is not a feature id; nothing was changed.")
        ids.append(pk)
    return list(dict.fromkeys(ids))


def _chosen(*, name: str, membership: Membership, ids: Iterable[str], data):
    """The action, its valid options and the selected ids, or BulkActionError / 403."""
    action = get_bulk_action(name)
    if action is None:
        raise BulkActionError("Choose an action for the selected features.")
    if not membership.can(action.capability):
        raise PermissionDenied("Your role in this workspace does not allow this action.")
    feature_ids = parse_ids(ids)
    if not feature_ids:
        raise BulkActionError("Select at least one feature.")
    if len(feature_ids) > MAX_SELECTION:
        raise BulkActionError(
            f"Select at most {MAX_SELECTION:,} features at a time "
            f"({len(feature_ids):,} are selected); nothing was changed."
        )
    form = action.form_class(
        data, prefix=action.name, workspace=membership.workspace, user=membership.user
    )
    if not form.is_valid():
        problems = "; ".join(str(error) for errors in form.errors.values() for error in errors)
        raise BulkActionError(f"{action.label}: {problems}")
    return action, form.cleaned_data, feature_ids


def _features(queryset, workspace, feature_ids) -> list[Feature]:
    features = list(
        queryset.filter(workspace=workspace, pk__in=feature_ids)
        .select_related("workspace", "release", "status")
        .order_by("release__is_parking_lot", "rank", "id")
    )
    if len(features) != len(feature_ids):
        unknown = len(feature_ids) - len(features)
        raise BulkActionError(
            f"{features_phrase(unknown)} of the selection "
            f"{'no longer exists or belongs' if unknown == 1 else 'no longer exist or belong'}"
            " to another workspace; nothing was changed. Reload the board and try again."
        )
    return features


def needs_preview(name: str, data) -> bool:
    """Whether the action shows what it will do first (and has not been confirmed yet)."""
    action = get_bulk_action(name)
    return action is not None and action.preview is not None and not data.get("confirmed")


def preview_bulk_action(*, name: str, membership: Membership, ids: Iterable[str], data) -> str:
    """What the action would do to the selected features; changes nothing."""
    action, options, feature_ids = _chosen(name=name, membership=membership, ids=ids, data=data)
    workspace, user = membership.workspace, membership.user
    features = _features(Feature.objects.all(), workspace, feature_ids)
    return action.preview(features=features, workspace=workspace, user=user, **options)


def apply_bulk_action(*, name: str, membership: Membership, ids: Iterable[str], data) -> str:
    """Run one action on the selected features, all or nothing; returns the report."""
    action, options, feature_ids = _chosen(name=name, membership=membership, ids=ids, data=data)
    workspace, user = membership.workspace, membership.user
    if action.preview is not None:
        options["previewed"] = bool(data.get("confirmed"))
    with transaction.atomic():
        features = _features(
            Feature.objects.select_for_update(of=("self",)), workspace, feature_ids
        )
        return action.handler(features=features, workspace=workspace, user=user, **options)


# The built-in actions.


class MoveToReleaseForm(BulkActionForm):
    release = forms.ModelChoiceField(
        queryset=Release.objects.none(),
        empty_label=None,
        error_messages={"invalid_choice": "Choose a release of this workspace."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["release"].queryset = Release.objects.filter(workspace=self.workspace)
        self.fields["release"].label_from_instance = lambda release: release.name


def move_to_release(*, features, workspace, user, release: Release) -> str:
    append_to_release(features=features, release=release, user=user)
    return f"Moved {features_phrase(len(features))} to {release.name}"


class SetStatusForm(BulkActionForm):
    status = forms.ModelChoiceField(
        queryset=WorkflowStatus.objects.none(),
        empty_label=None,
        error_messages={"invalid_choice": "Choose a status of this workspace's workflow."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["status"].queryset = WorkflowStatus.objects.filter(
            workspace=self.workspace, record_type=RecordType.FEATURE
        )


def set_status(*, features, workspace, user, status: WorkflowStatus) -> str:
    update_records([(feature, {"status": status}) for feature in features], user=user)
    return f"Set {features_phrase(len(features))} to {status.name}"


register_bulk_action(
    BulkAction(
        name="move", label="Move to release", form_class=MoveToReleaseForm, handler=move_to_release
    )
)
register_bulk_action(
    BulkAction(name="status", label="Set status", form_class=SetStatusForm, handler=set_status)
)
