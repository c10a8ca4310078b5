"""Thin views over the discussion services: the panel (HTMX or a plain page), comments,
uploads and downloads.

Every URL names a workspace, a record type and a reference; `member_required` makes it a 404
for anyone who is not a member of that workspace, signed in or not (a sign-in redirect would
tell a stranger that the URL means something).
"""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from aharally.discussion import services
from aharally.discussion.forms import AttachmentForm, CommentForm
from aharally.discussion.panel import PREVIEWABLE, panel_context
from aharally.discussion.records import get_record
from aharally.records.hooks import card_decorations
from aharally.workspaces.access import require_capability
from aharally.workspaces.models import Capability, RecordType


def member_required(capability: str = Capability.VIEW):
    def decorator(view):
        guarded = require_capability(capability)(view)

        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                raise Http404("No such page.")
            return guarded(request, *args, **kwargs)

        return wrapper

    return decorator


def _record_page(record) -> str:
    """Where a plain (non-HTMX) form goes back to: the record's own page."""
    from django.urls import reverse

    prefix = record.workspace.prefix
    if record.record_type == RecordType.REQUIREMENT:
        return (
            reverse(
                "records:requirement",
                kwargs={
                    "prefix": prefix,
                    "reference": record.feature.reference,
                    "number": record.number,
                },
            )
            + "?edit"
        )
    return reverse(
        f"records:{record.record_type}", kwargs={"prefix": prefix, "reference": record.reference}
    )


def _card_counts_oob(request, record) -> str:
    """After a comment on a feature opened from the board, its card's count, out of band."""
    if record.record_type != RecordType.FEATURE or not request.htmx:
        return ""
    page = (request.htmx.current_url_abs_path or "").split("?", 1)[0]
    if not page.endswith("/features/board/"):
        return ""
    html = card_decorations(workspace=request.workspace, feature_ids=[record.pk]).get(record.pk, "")
    return f'<span class="card-links" id="card-links-{record.pk}" hx-swap-oob="true">{html}</span>'


def _panel(request, record, *, status: int = 200, **forms) -> HttpResponse:
    context = panel_context(request, record, **forms)
    if not request.htmx:
        if status != 200:
            # A plain form post with an error: the panel on a page of its own, with the error.
            return render(request, "discussion/page.html", context, status=status)
        return redirect(_record_page(record))
    response = render(request, "discussion/partials/panel.html", context, status=status)
    if status == 200:
        response.content += _card_counts_oob(request, record).encode()
    return response


@require_GET
@member_required()
def panel(request: HttpRequest, record_type: str, reference: str) -> HttpResponse:
    record = get_record(request.workspace, record_type, reference)
    context = panel_context(request, record)
    template = "discussion/partials/panel.html" if request.htmx else "discussion/page.html"
    return render(request, template, context)


@require_POST
@member_required(Capability.EDIT_RECORDS)
def comment_create(request: HttpRequest, record_type: str, reference: str) -> HttpResponse:
    record = get_record(request.workspace, record_type, reference)
    form = CommentForm(request.POST)
    if form.is_valid():
        try:
            services.create_comment(
                record=record, body=form.cleaned_data["body"], user=request.user
            )
        except services.DiscussionError as refusal:
            form.add_error("body", str(refusal))
    if form.errors:
        return _panel(request, record, status=422, comment_form=form)
    if not request.htmx:
        messages.success(request, "Comment added.")
    return _panel(request, record)


def _comment(request, record, pk: int):
    comment = services.comments_of(record).filter(pk=pk).first()
    if comment is None:
        raise Http404("No such comment.")
    return comment


@require_POST
@member_required(Capability.EDIT_RECORDS)
def comment_edit(
    request: HttpRequest, record_type: str, reference: str, comment_id: int
) -> HttpResponse:
    record = get_record(request.workspace, record_type, reference)
    comment = _comment(request, record, comment_id)
    if not services.can_edit_comment(comment, membership=request.membership):
        raise PermissionDenied("Only its author can edit a comment.")
    form = CommentForm(request.POST)
    if form.is_valid():
        try:
            services.edit_comment(
                comment=comment,
                record=record,
                body=form.cleaned_data["body"],
                membership=request.membership,
            )
        except services.DiscussionError as refusal:
            form.add_error("body", str(refusal))
    if form.errors:
        return _panel(request, record, status=422, error=form.errors["body"][0])
    return _panel(request, record)


@require_POST
@member_required()
def comment_delete(
    request: HttpRequest, record_type: str, reference: str, comment_id: int
) -> HttpResponse:
    record = get_record(request.workspace, record_type, reference)
    comment = _comment(request, record, comment_id)
    try:
        services.delete_comment(comment=comment, record=record, membership=request.membership)
    except services.DiscussionError as refusal:
        raise PermissionDenied(str(refusal)) from None
    return _panel(request, record)


@require_POST
@member_required(Capability.EDIT_RECORDS)
def attachment_upload(request: HttpRequest, record_type: str, reference: str) -> HttpResponse:
    record = get_record(request.workspace, record_type, reference)
    form = AttachmentForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.add_attachment(
                record=record, upload=form.cleaned_data["file"], user=request.user
            )
        except services.DiscussionError as refusal:
            form.add_error("file", str(refusal))
    if form.errors:
        return _panel(request, record, status=422, attachment_form=form)
    return _panel(request, record)


def _attachment(record, pk: int):
    attachment = services.attachments_of(record).filter(pk=pk).first()
    if attachment is None:
        raise Http404("No such attachment.")
    return attachment


@require_GET
@member_required()
def attachment_download(
    request: HttpRequest, record_type: str, reference: str, attachment_id: int
) -> HttpResponse:
    """The file, to members only, never from a public URL. Only images a browser cannot run
    are shown inline (the thumbnails, with ?preview); everything else, HTML and SVG first,
    comes as a download, and nosniff keeps the browser from guessing otherwise."""
    record = get_record(request.workspace, record_type, reference)
    attachment = _attachment(record, attachment_id)
    inline = "preview" in request.GET and attachment.mime_type in PREVIEWABLE
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError:
        raise Http404("The file is no longer stored.") from None
    response = FileResponse(
        handle,
        as_attachment=not inline,
        filename=attachment.name,
        content_type=attachment.mime_type if inline else _download_type(attachment.mime_type),
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    # Were it ever rendered, the file could run nothing and reach nothing.
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def _download_type(mime_type: str) -> str:
    return mime_type or "application/octet-stream"


@require_POST
@member_required()
def attachment_delete(
    request: HttpRequest, record_type: str, reference: str, attachment_id: int
) -> HttpResponse:
    record = get_record(request.workspace, record_type, reference)
    attachment = _attachment(record, attachment_id)
    try:
        services.delete_attachment(
            attachment=attachment, record=record, membership=request.membership
        )
    except services.DiscussionError as refusal:
        raise PermissionDenied(str(refusal)) from None
    return _panel(request, record)
