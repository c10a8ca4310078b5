"""List, detail, create and edit pages of initiatives, epics and releases.

Records are found by reference inside the workspace the URL names (resolved by
require_capability), so another workspace's record is a 404 whatever its reference.
"""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count, F, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from aharally.records.forms_planning import EpicForm, InitiativeForm, ReleaseForm
from aharally.records.history import record_history
from aharally.records.hooks import record_menus, record_panels
from aharally.records.models import Epic, Feature, Initiative, Release
from aharally.records.services import (
    create_epic,
    create_initiative,
    create_release,
    update_record,
)
from aharally.workspaces.access import require_capability, visible_workspaces
from aharally.workspaces.models import Capability

EDIT = Capability.EDIT_RECORDS

# What a page needs to show a feature row: one query for the lot.
FEATURE_ROW_RELATED = ("workspace", "status", "release", "assignee", "epic")


def get_record(model, request: HttpRequest, reference: str, *related: str):
    """The workspace's record with this reference, or 404."""
    return get_object_or_404(
        model.objects.select_related("status", "created_by", *related),
        workspace=request.workspace,
        reference=reference.upper(),
    )


def _visible_workspace_ids(user) -> list[int]:
    return list(visible_workspaces(user).values_list("pk", flat=True))


def _form_page(request, *, form, kind: str, record=None, cancel_url: str) -> HttpResponse:
    context = {
        "form": form,
        "kind": kind,
        "record": record,
        "cancel_url": cancel_url,
        "history": record_history(record, viewer=request.user) if record is not None else None,
    }
    return render(request, "records/record_form.html", context)


def _create(request, *, form_class, service, kind: str, list_url: str, detail_url: str):
    form = form_class(
        request.POST if request.method == "POST" else None,
        workspace=request.workspace,
        user=request.user,
    )
    if request.method == "POST" and form.is_valid():
        record = service(workspace=request.workspace, user=request.user, **form.cleaned_data)
        messages.success(request, f"Created {record.reference} {record.name}.")
        return redirect(detail_url, prefix=request.workspace.prefix, reference=record.reference)
    return _form_page(
        request, form=form, kind=kind, cancel_url=_url(list_url, request.workspace.prefix)
    )


def _edit(request, *, record, form_class, kind: str, detail_url: str):
    form = form_class(
        request.POST if request.method == "POST" else None,
        instance=record,
        workspace=request.workspace,
        user=request.user,
    )
    cancel = _url(detail_url, request.workspace.prefix, record.reference)
    if request.method == "POST" and form.is_valid():
        changed = update_record(record, changes=form.changes(), user=request.user)
        if changed:
            messages.success(request, f"Saved {record.reference}.")
        return redirect(cancel)
    return _form_page(request, form=form, kind=kind, record=record, cancel_url=cancel)


def _url(name: str, prefix: str, reference: str | None = None) -> str:
    kwargs = {"prefix": prefix}
    if reference is not None:
        kwargs["reference"] = reference
    return reverse(name, kwargs=kwargs)


# Initiatives


@require_capability()
def initiatives(request: HttpRequest) -> HttpResponse:
    visible = _visible_workspace_ids(request.user)
    items = (
        Initiative.objects.filter(workspace=request.workspace)
        .select_related("status", "assignee")
        .annotate(
            feature_count=Count(
                "features", filter=Q(features__workspace__in=visible), distinct=True
            )
        )
        .order_by("number")
    )
    return render(request, "records/initiatives.html", {"initiatives": items})


@require_capability()
def initiative(request: HttpRequest, reference: str) -> HttpResponse:
    record = get_record(Initiative, request, reference, "assignee")
    visible = _visible_workspace_ids(request.user)
    # An initiative may gather features from several workspaces: list those the viewer
    # belongs to, never the others.
    features = (
        Feature.objects.filter(initiative=record, workspace__in=visible)
        .select_related(*FEATURE_ROW_RELATED)
        .order_by("workspace__name", "number")
    )
    epics = (
        Epic.objects.filter(initiative=record, workspace__in=visible)
        .select_related("workspace", "status")
        .order_by("workspace__name", "number")
    )
    return render(
        request,
        "records/initiative.html",
        {
            "record": record,
            "features": features,
            "epics": epics,
            "history": record_history(record, viewer=request.user),
            "record_panels": record_panels(request=request, record=record),
            "record_menus": record_menus(request=request, record=record),
        },
    )


@require_capability(EDIT)
def initiative_create(request: HttpRequest) -> HttpResponse:
    return _create(
        request,
        form_class=InitiativeForm,
        service=create_initiative,
        kind="initiative",
        list_url="records:initiatives",
        detail_url="records:initiative",
    )


@require_capability(EDIT)
def initiative_edit(request: HttpRequest, reference: str) -> HttpResponse:
    return _edit(
        request,
        record=get_record(Initiative, request, reference),
        form_class=InitiativeForm,
        kind="initiative",
        detail_url="records:initiative",
    )


# Epics


@require_capability()
def epics(request: HttpRequest) -> HttpResponse:
    items = (
        Epic.objects.filter(workspace=request.workspace)
        .select_related("status", "assignee", "release", "initiative")
        .annotate(feature_count=Count("features", distinct=True))
        .order_by("number")
    )
    # An epic's initiative may live in a workspace the viewer doesn't belong to: not named.
    visible = set(_visible_workspace_ids(request.user))
    return render(request, "records/epics.html", {"epics": items, "visible_ids": visible})


@require_capability()
def epic(request: HttpRequest, reference: str) -> HttpResponse:
    record = get_record(Epic, request, reference, "release", "initiative__workspace", "assignee")
    features = (
        Feature.objects.filter(epic=record).select_related(*FEATURE_ROW_RELATED).order_by("number")
    )
    # The epic's initiative may live in a workspace the viewer doesn't belong to.
    initiative_visible = (
        record.initiative is not None
        and record.initiative.workspace_id in _visible_workspace_ids(request.user)
    )
    return render(
        request,
        "records/epic.html",
        {
            "record": record,
            "features": features,
            "initiative_visible": initiative_visible,
            "history": record_history(record, viewer=request.user),
            "record_panels": record_panels(request=request, record=record),
        },
    )


@require_capability(EDIT)
def epic_create(request: HttpRequest) -> HttpResponse:
    return _create(
        request,
        form_class=EpicForm,
        service=create_epic,
        kind="epic",
        list_url="records:epics",
        detail_url="records:epic",
    )


@require_capability(EDIT)
def epic_edit(request: HttpRequest, reference: str) -> HttpResponse:
    return _edit(
        request,
        record=get_record(Epic, request, reference),
        form_class=EpicForm,
        kind="epic",
        detail_url="records:epic",
    )


# Releases


@require_capability()
def releases(request: HttpRequest) -> HttpResponse:
    items = (
        Release.objects.filter(workspace=request.workspace)
        .select_related("status")
        .annotate(feature_count=Count("features", distinct=True))
        # Explicit: Meta.ordering doesn't apply to aggregate queries. Parking lots last,
        # then by date, undated releases after dated ones on every database.
        .order_by("is_parking_lot", F("release_date").asc(nulls_last=True), "position", "id")
    )
    return render(request, "records/releases.html", {"releases": items})


@require_capability()
def release(request: HttpRequest, reference: str) -> HttpResponse:
    record = get_record(Release, request, reference)
    features = (
        Feature.objects.filter(release=record)
        .select_related(*FEATURE_ROW_RELATED)
        .order_by("rank", "id")
    )
    return render(
        request,
        "records/release.html",
        {
            "record": record,
            "features": features,
            "history": record_history(record, viewer=request.user),
            "record_panels": record_panels(request=request, record=record),
            "record_menus": record_menus(request=request, record=record),
        },
    )


@require_capability(EDIT)
def release_create(request: HttpRequest) -> HttpResponse:
    return _create(
        request,
        form_class=ReleaseForm,
        service=create_release,
        kind="release",
        list_url="records:releases",
        detail_url="records:release",
    )


@require_capability(EDIT)
def release_edit(request: HttpRequest, reference: str) -> HttpResponse:
    return _edit(
        request,
        record=get_record(Release, request, reference),
        form_class=ReleaseForm,
        kind="release",
        detail_url="records:release",
    )
