"""A feature in the board's drawer (HTMX) or on its own page, editable in place.

One URL per feature: an HTMX request gets the drawer partial, any other request the full
page around the same partial; every form also works as a plain POST and redirect.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from aharally.records.board import MAX_ID, Card, update_feature
from aharally.records.bulk import bulk_actions_for
from aharally.records.forms import FeatureForm, RequirementForm
from aharally.records.history import record_history
from aharally.records.hooks import (
    card_decorations,
    decorate_requirements,
    record_menus,
    record_panels,
)
from aharally.records.models import Feature, Requirement
from aharally.records.services import create_requirement, update_record
from aharally.records.templatetags.custom_fields import custom_facts as custom_facts_of
from aharally.records.views.board import feature_base_url
from aharally.records.views.cards import CardOptions, render_card
from aharally.workspaces.access import require_capability
from aharally.workspaces.models import Capability

NEW_REQUIREMENT_PREFIX = "new"
# The drawer shows the latest changes; the edit page has them all.
HISTORY_LIMIT = 30


def get_feature(workspace, reference: str) -> Feature:
    """The workspace's feature by reference, or 404 (whoever asks, whatever exists elsewhere)."""
    try:
        return (
            Feature.objects.select_related(
                "workspace", "release", "epic", "initiative", "status", "assignee"
            )
            .prefetch_related("tags")
            .get(workspace=workspace, reference=reference.upper())
        )
    except Feature.DoesNotExist:
        raise Http404("No such feature.") from None


def get_requirement(feature: Feature, number: int) -> Requirement:
    if number > MAX_ID:
        raise Http404("No such requirement.")
    try:
        return (
            Requirement.objects.select_related("status", "assignee", "workspace")
            .prefetch_related("tags")
            .get(feature=feature, number=number)
        )
    except Requirement.DoesNotExist:
        raise Http404("No such requirement.") from None


def panel_context(
    request: HttpRequest,
    feature: Feature,
    *,
    form: FeatureForm | None = None,
    add_form: RequirementForm | None = None,
    saved: bool = False,
) -> dict:
    can_edit = request.membership.can(Capability.EDIT_RECORDS)
    workspace = request.workspace
    if can_edit and form is None:
        form = FeatureForm(instance=feature, workspace=workspace, user=request.user)
    if can_edit and add_form is None:
        add_form = RequirementForm(
            prefix=NEW_REQUIREMENT_PREFIX, workspace=workspace, user=request.user
        )
    if form is not None and "status" in form.fields:
        # In the drawer a new status is saved as soon as it is picked (see board.js).
        form.fields["status"].widget.attrs["data-autosubmit"] = ""
    custom_facts = [] if can_edit else custom_facts_of(feature)
    requirements = list(
        feature.requirements.select_related("status", "assignee").prefetch_related("tags")
    )
    decorate_requirements(requirements, workspace=workspace)
    return {
        "feature": feature,
        "assignee_name": Card.from_feature(feature).assignee_name,
        "form": form,
        "add_form": add_form,
        "requirements": requirements,
        "custom_facts": custom_facts,
        "history": record_history(feature, limit=HISTORY_LIMIT, viewer=request.user),
        "record_menus": record_menus(request=request, record=feature),
        "record_panels": record_panels(request=request, record=feature),
        "can_edit": can_edit,
        "saved": saved,
        "feature_url": reverse(
            "records:feature", kwargs={"prefix": workspace.prefix, "reference": feature.reference}
        ),
        "board_url": reverse("records:board", kwargs={"prefix": workspace.prefix}),
    }


def _render_panel(request: HttpRequest, context: dict, *, status: int = 200) -> HttpResponse:
    template = "records/partials/drawer.html" if request.htmx else "records/feature.html"
    return render(request, template, context, status=status)


def _card_oob(request: HttpRequest, feature: Feature) -> str:
    """The board card of this feature, swapped out-of-band so the board shows the change."""
    membership = request.membership
    options = CardOptions(
        feature_base=feature_base_url(request.workspace.prefix),
        can_edit=membership.can(Capability.EDIT_RECORDS),
        can_select=bool(bulk_actions_for(membership)),
        decorations=card_decorations(workspace=request.workspace, feature_ids=[feature.pk]),
    )
    return render_card(Card.from_feature(feature), options, oob=True)


def _from_board(request: HttpRequest) -> bool:
    """Whether the HTMX request came from the board page (where the cards are)."""
    page = (request.htmx.current_url_abs_path or "").split("?", 1)[0]
    return page == reverse("records:board", kwargs={"prefix": request.workspace.prefix})


@require_http_methods(["GET", "POST"])
@require_capability(Capability.VIEW)
def feature(request: HttpRequest, reference: str) -> HttpResponse:
    feature = get_feature(request.workspace, reference)
    if request.method == "GET":
        return _render_panel(request, panel_context(request, feature))
    if not request.membership.can(Capability.EDIT_RECORDS):
        raise PermissionDenied("Your role in this workspace does not allow editing features.")
    form = FeatureForm(
        request.POST, instance=feature, workspace=request.workspace, user=request.user
    )
    if not form.is_valid():
        return _render_panel(request, panel_context(request, feature, form=form), status=422)
    old_release_id = feature.release_id
    changed = update_feature(feature=feature, changes=form.changes(), user=request.user)
    if not request.htmx:
        messages.success(request, f"Saved {feature.reference}.")
        return redirect("records:feature", prefix=request.workspace.prefix, reference=reference)
    feature = get_feature(request.workspace, reference)
    response = _render_panel(request, panel_context(request, feature, saved=bool(changed)))
    if _from_board(request):
        # The feature's own page has no card to update (htmx would log oobErrorNoTarget).
        response.content += _card_oob(request, feature).encode()
    if feature.release_id != old_release_id:
        # The card belongs in another column now: let the board reload itself.
        trigger_client_event(response, "board:refresh")
    return response


def _requirements_section(request, feature, *, add_form=None, status=200) -> HttpResponse:
    context = panel_context(request, feature, add_form=add_form)
    return render(request, "records/partials/requirements.html", context, status=status)


@require_POST
@require_capability(Capability.EDIT_RECORDS)
def add_requirement(request: HttpRequest, reference: str) -> HttpResponse:
    feature = get_feature(request.workspace, reference)
    form = RequirementForm(
        request.POST,
        prefix=NEW_REQUIREMENT_PREFIX,
        workspace=request.workspace,
        user=request.user,
    )
    if not form.is_valid():
        if request.htmx:
            return _requirements_section(request, feature, add_form=form, status=422)
        return _render_panel(request, panel_context(request, feature, add_form=form), status=422)
    fields = dict(form.cleaned_data)
    requirement = create_requirement(
        feature=feature,
        name=fields.pop("name"),
        tags=fields.pop("tags", ()),
        user=request.user,
        **fields,
    )
    if request.htmx:
        return _requirements_section(request, feature)
    messages.success(request, f"Added {requirement.reference}.")
    return redirect("records:feature", prefix=request.workspace.prefix, reference=reference)


@require_http_methods(["GET", "POST"])
@require_capability(Capability.VIEW)
def requirement(request: HttpRequest, reference: str, number: int) -> HttpResponse:
    """A requirement's row in the drawer: shown, or (?edit) as a form, or saved from one."""
    feature = get_feature(request.workspace, reference)
    requirement = get_requirement(feature, number)
    can_edit = request.membership.can(Capability.EDIT_RECORDS)
    context = {"feature": feature, "requirement": requirement, "can_edit": can_edit}
    prefix = f"req-{requirement.pk}"
    if request.method == "GET":
        if "edit" in request.GET and can_edit:
            context["req_form"] = RequirementForm(
                instance=requirement, prefix=prefix, workspace=request.workspace, user=request.user
            )
            if request.htmx:
                return render(request, "records/partials/requirements.html#row_form", context)
            context["record_panels"] = record_panels(request=request, record=requirement)
            return render(request, "records/requirement_edit.html", context)
        if not request.htmx:
            return redirect("records:feature", prefix=request.workspace.prefix, reference=reference)
        decorate_requirements([requirement], workspace=request.workspace)
        return render(request, "records/partials/requirements.html#row", context)
    if not can_edit:
        raise PermissionDenied("Your role in this workspace does not allow editing requirements.")
    form = RequirementForm(
        request.POST,
        instance=requirement,
        prefix=prefix,
        workspace=request.workspace,
        user=request.user,
    )
    if not form.is_valid():
        context["req_form"] = form
        if request.htmx:
            return render(
                request, "records/partials/requirements.html#row_form", context, status=422
            )
        return render(request, "records/requirement_edit.html", context, status=422)
    update_record(requirement, changes=form.changes(), user=request.user)
    if not request.htmx:
        messages.success(request, f"Saved {requirement.reference}.")
        return redirect("records:feature", prefix=request.workspace.prefix, reference=reference)
    context["requirement"] = get_requirement(feature, number)
    decorate_requirements([context["requirement"]], workspace=request.workspace)
    return render(request, "records/partials/requirements.html#row", context)
