"""The board's selection bar: one POST with the action, its options and the feature ids."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django_htmx.http import trigger_client_event

from aharally.records.bulk import (
    BulkActionError,
    apply_bulk_action,
    bulk_actions_for,
    needs_preview,
    preview_bulk_action,
)
from aharally.workspaces.access import require_capability
from aharally.workspaces.models import Capability


@require_POST
@require_capability(Capability.VIEW)
def bulk_action(request: HttpRequest) -> HttpResponse:
    """Apply a registered bulk action; the action's own capability is checked by the service.

    An action with a preview (Send to Rally) first answers with what it will do, and a Send
    that posts the same selection again, confirmed.
    """
    if not bulk_actions_for(request.membership):
        raise PermissionDenied("Your role in this workspace does not allow bulk actions.")
    name = request.POST.get("action", "")
    try:
        if needs_preview(name, request.POST):
            return _preview(request, name)
        report = apply_bulk_action(
            name=name,
            membership=request.membership,
            ids=request.POST.getlist("ids"),
            data=request.POST,
        )
    except BulkActionError as error:
        if request.htmx:
            response = render(
                request,
                "records/partials/bulk_result.html",
                {"message": str(error), "level": "error"},
                status=422,
            )
            return response
        messages.error(request, str(error))
        return redirect("records:board", prefix=request.workspace.prefix)
    if request.htmx:
        response = render(
            request,
            "records/partials/bulk_result.html",
            {"message": report, "level": "success"},
        )
        # The board reloads itself (with its filters) when it hears this.
        return trigger_client_event(response, "board:refresh")
    messages.success(request, report)
    return redirect("records:board", prefix=request.workspace.prefix)


def _preview(request: HttpRequest, name: str) -> HttpResponse:
    """The preview in a dialog over the board (HTMX), or as a page of its own."""
    summary = preview_bulk_action(
        name=name,
        membership=request.membership,
        ids=request.POST.getlist("ids"),
        data=request.POST,
    )
    # The confirmed Send posts the selection and the action's options as they came.
    carried = [
        (key, value)
        for key in request.POST
        if key == "action" or key == "ids" or key.startswith(f"{name}-")
        for value in request.POST.getlist(key)
    ]
    context = {"preview_html": summary, "carried": carried}
    template = "records/partials/bulk_preview.html" if request.htmx else "records/bulk_preview.html"
    return render(request, template, context)
