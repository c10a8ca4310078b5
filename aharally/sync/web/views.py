"""Send to Rally, link/unlink, bulk-send progress and Integration updates.

Views are thin: no Rally HTTP here (the cluster sends), no rule that a service does not own.
Every form works as an HTMX fragment swap and as a plain POST with a redirect.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from aharally.integrations.models import Integration, IntegrationState
from aharally.records.board import parse_id
from aharally.sync import enqueue
from aharally.sync.incoming.catchup import request_catch_up
from aharally.sync.incoming.webhooks import MAX_DELIVERY_BYTES, DeliveryRefused, receive_delivery
from aharally.sync.models import (
    Link,
    OutboxState,
    SendJob,
)
from aharally.sync.outgoing import outbox
from aharally.sync.outgoing.linking import request_link, unlink_record
from aharally.sync.outgoing.preview import preview_sends
from aharally.sync.records import model_for
from aharally.sync.review import conflicts, import_decisions, queue
from aharally.sync.web.board import card_links_by_record
from aharally.sync.web.jobs import (
    check_release,
    job_progress,
    linked_in_job,
    release_records,
    start_release_job,
)
from aharally.sync.web.menus import MENU_TYPES, menu_context
from aharally.workspaces.access import require_capability
from aharally.workspaces.models import Capability, RecordType

RECORD_PAGES = {
    RecordType.FEATURE: "records:feature",
    RecordType.RELEASE: "records:release",
    RecordType.INITIATIVE: "records:initiative",
    RecordType.EPIC: "records:epic",
}


def _record(request: HttpRequest, record_type: str, record_id: int):
    if record_type not in MENU_TYPES:
        raise Http404("No such record.")
    record = (
        model_for(record_type)
        .objects.select_related("workspace")
        .filter(pk=record_id, workspace=request.workspace)
        .first()
    )
    if record is None:
        raise Http404("No such record.")
    return record


def _integration(request: HttpRequest) -> Integration:
    pk = parse_id(request.POST.get("integration"))
    integration = (
        Integration.objects.select_related("template", "workspace")
        .filter(pk=pk, workspace=request.workspace)
        .first()
    )
    if integration is None:
        raise Http404("No such integration in this workspace.")
    return integration


def _record_url(request: HttpRequest, record) -> str:
    return reverse(
        RECORD_PAGES[record.record_type],
        kwargs={"prefix": request.workspace.prefix, "reference": record.reference},
    )


def _from_board(request: HttpRequest) -> bool:
    current = (request.htmx.current_url or "") if request.htmx else ""
    return "/features/board/" in current


def _answer(
    request,
    record,
    *,
    message: str = "",
    level: str = "success",
    status: int = 200,
    keep_open: bool = False,
    extra: dict | None = None,
):
    """The record's menu (HTMX), or a redirect to its page with the message (plain POST);
    `extra` adds to the answer's context (a job's progress)."""
    if not request.htmx:
        if message:
            (messages.error if level == "error" else messages.success)(request, message)
        return redirect(_record_url(request, record))
    context = menu_context(request, record, message=message, level=level, keep_open=keep_open)
    if record.record_type == RecordType.FEATURE and _from_board(request):
        links = list(Link.objects.filter(record_type=RecordType.FEATURE, record_id=record.pk))
        context["card_links"] = card_links_by_record(links)
    context.update(extra or {})
    return render(request, "sync/partials/record_menu_answer.html", context, status=status)


@require_GET
@require_capability(Capability.VIEW)
def record_menu(request: HttpRequest, record_type: str, record_id: int) -> HttpResponse:
    record = _record(request, record_type, record_id)
    if not request.htmx:
        return redirect(_record_url(request, record))
    # The menu's own reloads ask it to stay open: what was sent ends where it was asked for.
    return _answer(request, record, keep_open=request.GET.get("open") == "1")


@require_POST
@require_capability(Capability.EDIT_RECORDS)
def send(request: HttpRequest, record_type: str, record_id: int) -> HttpResponse:
    record = _record(request, record_type, record_id)
    integration = _integration(request)
    try:
        if record_type == RecordType.RELEASE:
            return _send_release(request, record, integration)
        with transaction.atomic():
            row = outbox.request_send(record=record, integration=integration, user=request.user)
    except outbox.SyncError as error:
        return _answer(request, record, message=error.message, level="error", status=422)
    if row.state == OutboxState.AWAITING_APPROVAL:
        message = f"{record.reference} waits for a reviewer's approval in Integration updates."
    else:
        message = f"Sending {record.reference} to Rally…"
    return _answer(request, record, message=message)


def _send_release(request, release, integration) -> HttpResponse:
    """First what the send will do (a dialog, or a page without JavaScript); confirmed, the
    send, leaving out what the preview said is refused."""
    if not request.POST.get("confirmed"):
        check_release(release)
        preview = preview_sends(records=release_records(release), integration=integration)
        if request.htmx:
            return _answer(request, release, keep_open=True, extra={"preview": preview})
        context = {
            "preview": preview,
            "record": release,
            "record_url": _record_url(request, release),
            "prefix": request.workspace.prefix,
        }
        return render(request, "sync/send_preview.html", context)
    job = start_release_job(
        release=release, integration=integration, user=request.user, skip_refused=True
    )
    if not request.htmx:
        messages.success(request, job.label + ": under way.")
        return redirect(_record_url(request, release))
    return _answer(request, release, extra={"progress": job_progress(job)})


@require_POST
@require_capability(Capability.EDIT_RECORDS)
def link_existing(request: HttpRequest, record_type: str, record_id: int) -> HttpResponse:
    """Link to an existing Rally record: checked in Rally by the cluster, shown on return."""
    record = _record(request, record_type, record_id)
    integration = _integration(request)
    try:
        row = request_link(
            record=record,
            integration=integration,
            formatted_id=request.POST.get("formatted_id", ""),
            user=request.user,
        )
    except outbox.SyncError as error:
        return _answer(request, record, message=error.message, level="error", status=422)
    return _answer(request, record, message=f"Looking for {row.fields[0]} in Rally…")


@require_POST
@require_capability(Capability.EDIT_RECORDS)
def unlink(request: HttpRequest, record_type: str, record_id: int) -> HttpResponse:
    """Stop syncing: both records stay, the link goes, waiting changes are dropped."""
    record = _record(request, record_type, record_id)
    integration = _integration(request)
    link = unlink_record(
        integration=integration, record_type=record_type, record_id=record.pk, user=request.user
    )
    if link is None:
        return _answer(
            request, record, message=f"{record.reference} is not linked.", level="error", status=422
        )
    return _answer(request, record, message=f"Unlinked {record.reference} from {link.label}.")


@require_POST
@require_capability(Capability.EDIT_RECORDS)
def retry_record(request: HttpRequest, record_type: str, record_id: int) -> HttpResponse:
    record = _record(request, record_type, record_id)
    integration = _integration(request)

    count = outbox.retry_record(
        integration=integration, record_type=record_type, record_id=record.pk
    )
    message = "Trying again now." if count else "Nothing waits to be retried."
    return _answer(request, record, message=message)


@require_GET
@require_capability(Capability.VIEW)
def job(request: HttpRequest, job_id: int) -> HttpResponse:
    send_job = SendJob.objects.filter(pk=job_id, workspace=request.workspace).first()
    if send_job is None:
        raise Http404("No such send.")
    context = {"progress": job_progress(send_job), "prefix": request.workspace.prefix}
    if request.htmx and _from_board(request):
        links = linked_in_job(send_job, record_type=RecordType.FEATURE)
        context["card_links"] = card_links_by_record(links)
    return render(request, "sync/partials/job_progress.html", context)


# -- Integration updates ---------------------------------------------------------------------


def _filters(params) -> queue.QueueFilters:
    record_type = params.get("record_type", "")
    return queue.QueueFilters(
        integration=parse_id(params.get("integration")),
        record_type=record_type if record_type in RecordType.values else "",
        author=parse_id(params.get("author")),
    )


@login_required
@require_GET
def integration_updates(request: HttpRequest) -> HttpResponse:
    context = _queue_context(request, _filters(request.GET))
    if request.htmx and request.htmx.target == "queue":  # the filters: the queue alone
        return render(request, "sync/integration_updates.html#queue", context)
    return render(request, "sync/integration_updates.html", context)


def _queue_answer(request, message: str, *, level: str, status: int) -> HttpResponse:
    """The queue re-rendered with the outcome (HTMX), or a redirect with it as a message."""
    if not request.htmx:
        (messages.error if level == "error" else messages.success)(request, message)
        return redirect("sync:integration_updates")
    context = _queue_context(request, _filters(request.POST))
    # The top bar's count changes with the decision: it comes along out of band.
    context.update({"message": message, "level": level, "updates_link_oob": True})
    return render(request, "sync/integration_updates.html#queue", context, status=status)


def _decide_imports(request, action: str, one: str) -> HttpResponse:
    ids = [parse_id(one)] if one else [parse_id(v) for v in request.POST.getlist("import_ids")]
    ids = [pk for pk in ids if pk]
    level, status = "success", 200
    if not ids:
        level, message, status = "error", "Select at least one record to import or ignore.", 422
    else:
        try:
            count = import_decisions.decide_imports(
                user=request.user, candidate_ids=ids, action=action
            )
            verb = "Imported" if action == "import" else "Ignored"
            message = f"{verb} {count} record{'s' if count != 1 else ''} from Rally."
        except queue.DecisionError as error:
            level, message, status = "error", error.message, 422
    return _queue_answer(request, message, level=level, status=status)


def _resolve(request, conflict_id: str, *, keep: str) -> HttpResponse:
    level, status = "success", 200
    try:
        message = conflicts.resolve_conflict(
            user=request.user, conflict_id=parse_id(conflict_id) or 0, keep=keep
        )
    except queue.DecisionError as error:
        level, message, status = "error", error.message, 422
    return _queue_answer(request, message, level=level, status=status)


def _queue_context(request, filters) -> dict:
    entries = queue.pending_entries(user=request.user, filters=filters)
    workspace_ids = queue.reviewable_workspace_ids(request.user)
    integrations = list(
        Integration.objects.filter(workspace_id__in=workspace_ids, is_template=False)
        .select_related("workspace")
        .order_by("workspace__name", "name")
    ) + list(
        Integration.objects.filter(workspace_id__in=workspace_ids, is_template=True)
        .select_related("workspace")
        .order_by("workspace__name", "name")
    )
    authors = {e.row.created_by for e in entries if e.row.created_by is not None}
    return {
        "entries": entries,
        "problems": queue.problem_rows(user=request.user, filters=filters),
        "conflicts": conflicts.open_conflicts(user=request.user, filters=filters),
        "imports": import_decisions.pending_imports(user=request.user, filters=filters),
        "filters": filters,
        "integrations": integrations,
        "authors": sorted(authors, key=lambda u: u.email),
        "record_types": queue.RECORD_TYPE_CHOICES,
        "reviews_anything": bool(workspace_ids),
    }


@login_required
@require_POST
def decide(request: HttpRequest) -> HttpResponse:
    action, _, one = request.POST.get("action", "").partition(":")
    ids = [pk for pk in (parse_id(v) for v in request.POST.getlist("ids")) if pk]
    if one:
        ids = [pk for pk in [parse_id(one)] if pk]
    if action in {"keep_ours", "keep_theirs"}:
        return _resolve(request, one, keep=action.removeprefix("keep_"))
    if action in {"import", "ignore"}:
        return _decide_imports(request, action, one)
    if action in {"approve_all", "reject_all"}:
        action = action.removesuffix("_all")
        filters = _filters(request.POST)
        ids = [e.row.pk for e in queue.pending_entries(user=request.user, filters=filters)]
    level, message, status = "success", "", 200
    if not queue.reviewable_workspace_ids(request.user):
        raise PermissionDenied("You review no workspace.")
    if action not in {"approve", "reject", "retry"}:
        level, message, status = "error", "Choose Approve or Reject.", 422
    elif not ids:
        level, message, status = "error", "Select at least one change.", 422
    else:
        try:
            if action == "approve":
                count = queue.approve(user=request.user, row_ids=ids)
                message = f"Approved {count} change{'s' if count != 1 else ''}: sending to Rally."
            elif action == "reject":
                count = queue.reject(user=request.user, row_ids=ids)
                message = f"Rejected {count} change{'s' if count != 1 else ''}."
            else:
                count = queue.retry(user=request.user, row_ids=ids)
                message = f"Trying {count} again now."
        except queue.DecisionError as error:
            level, message, status = "error", error.message, 422
    return _queue_answer(request, message, level=level, status=status)


# -- Sync now ----------------------------------------------------------------------------------


def sync_now_action(integration: Integration) -> tuple[str, str] | None:
    """The integration's More options entry (integrations.hooks)."""
    if integration.state != IntegrationState.ENABLED:
        return None
    url = reverse(
        "sync:sync_now",
        kwargs={"prefix": integration.workspace.prefix, "integration_id": integration.pk},
    )
    return ("Sync now", url)


@require_POST
@require_capability(Capability.CONFIGURE)
def sync_now(request: HttpRequest, integration_id: int) -> HttpResponse:
    """Read what changed in Rally and send what waits, now rather than at the next minute."""

    integration = Integration.objects.filter(pk=integration_id, workspace=request.workspace).first()
    if integration is None:
        raise Http404("No such integration in this workspace.")
    if integration.state != IntegrationState.ENABLED:
        messages.error(request, f"“{integration.name}” is not enabled: enable it first.")
    else:
        transaction.on_commit(lambda: request_catch_up(integration.pk))
        enqueue.drain_on_commit(integration.pk)
        messages.success(
            request,
            f"Syncing “{integration.name}” with Rally now: changes arrive within seconds.",
        )
    return redirect(
        "integrations:settings", prefix=request.workspace.prefix, integration_id=integration_id
    )


# -- Rally's webhook deliveries ----------------------------------------------------------------


@csrf_exempt
@require_POST
def webhook(request: HttpRequest, integration_id: int, secret: str) -> HttpResponse:
    """A delivery from Rally: checked, kept once, answered at once (the cluster applies it)."""
    body = request.read(MAX_DELIVERY_BYTES + 1)
    try:
        event = receive_delivery(integration_id=integration_id, secret=secret, body=body)
    except DeliveryRefused as refused:
        return JsonResponse({"error": refused.message}, status=refused.status)
    return JsonResponse({"received": event is not None})
