"""Create and edit pages of features and requirements (the board's drawer edits them too)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from aharally.records.board import update_feature
from aharally.records.forms import FeatureForm, RequirementForm
from aharally.records.history import record_history
from aharally.records.models import Feature, Release, Requirement
from aharally.records.services import create_feature, create_requirement, update_record
from aharally.records.views.pages import get_record
from aharally.workspaces.access import require_capability
from aharally.workspaces.models import Capability

EDIT = Capability.EDIT_RECORDS


def _board_url(request) -> str:
    return reverse("records:board", kwargs={"prefix": request.workspace.prefix})


@require_capability(EDIT)
def feature_create(request: HttpRequest) -> HttpResponse:
    initial = {}
    wanted_release = request.GET.get("release")
    if wanted_release:
        initial["release"] = Release.objects.filter(
            workspace=request.workspace, reference=wanted_release.upper()
        ).first()
    form = FeatureForm(
        request.POST if request.method == "POST" else None,
        initial=initial,
        workspace=request.workspace,
        user=request.user,
    )
    if request.method == "POST" and form.is_valid():
        feature = create_feature(
            workspace=request.workspace, user=request.user, **form.cleaned_data
        )
        messages.success(request, f"Created {feature.reference} {feature.name}.")
        return redirect(
            "records:feature_edit", prefix=request.workspace.prefix, reference=feature.reference
        )
    return render(
        request,
        "records/record_form.html",
        {"form": form, "kind": "feature", "cancel_url": _board_url(request)},
    )


@require_capability(EDIT)
def feature_edit(request: HttpRequest, reference: str) -> HttpResponse:
    feature = get_record(Feature, request, reference, "release", "epic", "initiative")
    form = FeatureForm(
        request.POST if request.method == "POST" else None,
        instance=feature,
        workspace=request.workspace,
        user=request.user,
    )
    if request.method == "POST" and form.is_valid():
        if update_feature(feature=feature, changes=form.changes(), user=request.user):
            messages.success(request, f"Saved {feature.reference}.")
        return redirect(
            "records:feature_edit", prefix=request.workspace.prefix, reference=feature.reference
        )
    requirements = feature.requirements.select_related("status", "assignee")
    return render(
        request,
        "records/record_form.html",
        {
            "form": form,
            "kind": "feature",
            "record": feature,
            "requirements": requirements,
            "cancel_url": _board_url(request),
            "history": record_history(feature, viewer=request.user),
        },
    )


@require_capability(EDIT)
def requirement_create(request: HttpRequest, reference: str) -> HttpResponse:
    feature = get_record(Feature, request, reference)
    form = RequirementForm(
        request.POST if request.method == "POST" else None,
        workspace=request.workspace,
        user=request.user,
    )
    feature_url = reverse(
        "records:feature_edit",
        kwargs={"prefix": request.workspace.prefix, "reference": feature.reference},
    )
    if request.method == "POST" and form.is_valid():
        requirement = create_requirement(feature=feature, user=request.user, **form.cleaned_data)
        messages.success(request, f"Created {requirement.reference} {requirement.name}.")
        return redirect(feature_url)
    return render(
        request,
        "records/record_form.html",
        {"form": form, "kind": "requirement", "parent": feature, "cancel_url": feature_url},
    )


@require_capability(EDIT)
def requirement_edit(request: HttpRequest, reference: str) -> HttpResponse:
    requirement = get_object_or_404(
        Requirement.objects.select_related("status", "created_by", "feature"),
        workspace=request.workspace,
        reference=reference.upper(),
    )
    form = RequirementForm(
        request.POST if request.method == "POST" else None,
        instance=requirement,
        workspace=request.workspace,
        user=request.user,
    )
    feature_url = reverse(
        "records:feature_edit",
        kwargs={"prefix": request.workspace.prefix, "reference": requirement.feature.reference},
    )
    if request.method == "POST" and form.is_valid():
        if update_record(requirement, changes=form.changes(), user=request.user):
            messages.success(request, f"Saved {requirement.reference}.")
        return redirect(feature_url)
    return render(
        request,
        "records/record_form.html",
        {
            "form": form,
            "kind": "requirement",
            "record": requirement,
            "parent": requirement.feature,
            "cancel_url": feature_url,
            "history": record_history(requirement, viewer=request.user),
        },
    )
