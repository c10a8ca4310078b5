"""Import from Rally and Compare with Rally: an owner's pages on one integration.

Both ask Rally in the cluster and the page polls (HTMX) for the answer; every form also works
as a plain POST with a redirect. Errors come back as 422 with the fragment that shows them.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from aharally.integrations.models import Integration, IntegrationState
from aharally.records.board import parse_id
from aharally.sync.models import JobState, RallySearch
from aharally.sync.outgoing import outbox
from aharally.sync.reconcile import compare, compare_report, search
from aharally.sync.web.integration_pages import integration_of, integration_url
from aharally.workspaces.access import require_capability
from aharally.workspaces.models import Capability

IMPORT_PAGE = "sync/import_from_rally.html"
COMPARE_PAGE = "sync/compare.html"


def import_action(integration: Integration) -> tuple[str, str, str] | None:
    """The integration's More options entry (integrations.hooks): a page, so a GET."""
    if integration.state != IntegrationState.ENABLED:
        return None
    return ("Import from Rally", integration_url("sync:import_from_rally", integration), "get")


def compare_action(integration: Integration) -> tuple[str, str] | None:
    """More options → Compare with Rally: starts a comparison and opens its page."""
    if integration.state != IntegrationState.ENABLED:
        return None
    return ("Compare with Rally", integration_url("sync:compare_start", integration))


# -- Import from Rally -----------------------------------------------------------------------


def _search_context(request, integration, found: RallySearch | None, **extra) -> dict:
    return {
        "integration": integration,
        "search": found,
        "rows": search.search_rows(found) if found and found.state == JobState.DONE else [],
        "text": found.text if found else "",
        "page_size": search.PAGE_SIZE,
        "tab": "integrations",
        **extra,
    }


def _search_of(integration, search_id) -> RallySearch | None:
    return RallySearch.objects.filter(pk=search_id, integration=integration).first()


@require_GET
@require_capability(Capability.CONFIGURE)
def import_from_rally(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = integration_of(request, integration_id)
    found = _search_of(integration, parse_id(request.GET.get("search")))
    return render(request, IMPORT_PAGE, _search_context(request, integration, found))


@require_POST
@require_capability(Capability.CONFIGURE)
def search_rally(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = integration_of(request, integration_id)
    text = request.POST.get("q", "")
    try:
        found = search.start_search(
            integration=integration,
            user=request.user,
            text=text,
            page=parse_id(request.POST.get("page")) or 1,
        )
    except search.SearchError as error:
        if not request.htmx:
            messages.error(request, error.message)
            return redirect(integration_url("sync:import_from_rally", integration))
        context = _search_context(request, integration, None, error=error.message, text=text)
        return render(request, IMPORT_PAGE + "#results", context, status=422)
    if not request.htmx:
        return redirect(
            integration_url("sync:import_from_rally", integration) + f"?search={found.pk}"
        )
    return render(request, IMPORT_PAGE + "#results", _search_context(request, integration, found))


@require_GET
@require_capability(Capability.CONFIGURE)
def search_results(request: HttpRequest, integration_id: int, rally_search_id: int):
    """The polled fragment: running, or the page of records found."""
    integration = integration_of(request, integration_id)
    found = _search_of(integration, rally_search_id)
    if found is None:
        raise Http404("No such search.")
    if not request.htmx:
        return redirect(
            integration_url("sync:import_from_rally", integration) + f"?search={found.pk}"
        )
    return render(request, IMPORT_PAGE + "#results", _search_context(request, integration, found))


@require_POST
@require_capability(Capability.CONFIGURE)
def import_chosen(request: HttpRequest, integration_id: int, rally_search_id: int):
    integration = integration_of(request, integration_id)
    found = _search_of(integration, rally_search_id)
    if found is None:
        raise Http404("No such search.")
    oids = [pk for pk in (parse_id(v) for v in request.POST.getlist("oids")) if pk]
    level, status = "success", 200
    if not oids:
        level, status, message = "error", 422, "Choose at least one record to import."
    else:
        made, problems = search.import_chosen(search=found, user=request.user, oids=oids)
        message = (f"Imported {', '.join(made)}." if made else "Nothing was imported.") + (
            " Not imported: " + " ".join(problems) if problems else ""
        )
        if problems and not made:
            level, status = "error", 422
    if not request.htmx:
        (messages.error if level == "error" else messages.success)(request, message)
        return redirect(
            integration_url("sync:import_from_rally", integration) + f"?search={found.pk}"
        )
    context = _search_context(request, integration, found, message=message, level=level)
    return render(request, IMPORT_PAGE + "#results", context, status=status)


# -- Compare with Rally ----------------------------------------------------------------------


def _compare_context(integration, **extra) -> dict:
    comparison = compare_report.latest(integration)
    done = comparison is not None and comparison.state == JobState.DONE
    return {
        "integration": integration,
        "comparison": comparison,
        "lines": compare_report.report(comparison) if done else [],
        "tab": "integrations",
        **extra,
    }


@require_GET
@require_capability(Capability.CONFIGURE)
def compare_page(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = integration_of(request, integration_id)
    template = COMPARE_PAGE + "#report" if request.htmx else COMPARE_PAGE
    return render(request, template, _compare_context(integration))


@require_POST
@require_capability(Capability.CONFIGURE)
def compare_start(request: HttpRequest, integration_id: int) -> HttpResponse:
    """Compare (again): the report is made in the cluster; the page polls for it."""
    integration = integration_of(request, integration_id)
    status, extra = 200, {}
    try:
        compare.start_comparison(integration=integration, user=request.user)
    except outbox.SyncError as error:
        if not request.htmx:
            messages.error(request, error.message)
        status, extra = 422, {"message": error.message, "level": "error"}
    if not request.htmx:
        return redirect(integration_url("sync:compare", integration))
    context = _compare_context(integration, **extra)
    return render(request, COMPARE_PAGE + "#report", context, status=status)


@require_POST
@require_capability(Capability.CONFIGURE)
def compare_resolve(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = integration_of(request, integration_id)
    action, _, one = request.POST.get("action", "").partition(":")
    ids = [parse_id(one)] if one else [parse_id(v) for v in request.POST.getlist("ids")]
    ids = [pk for pk in ids if pk]
    level, status = "success", 200
    if not ids:
        level, status, message = "error", 422, "Select at least one line."
    else:
        try:
            done, problems = compare_report.resolve(
                integration=integration, user=request.user, difference_ids=ids, action=action
            )
            message = f"Resolved {done} line{'s' if done != 1 else ''}." + (
                " Not resolved: " + " ".join(problems) if problems else ""
            )
            if problems and not done:
                level, status = "error", 422
        except compare_report.ResolveError as error:
            level, status, message = "error", 422, error.message
    if not request.htmx:
        (messages.error if level == "error" else messages.success)(request, message)
        return redirect(integration_url("sync:compare", integration))
    context = _compare_context(integration, message=message, level=level)
    return render(request, COMPARE_PAGE + "#report", context, status=status)
