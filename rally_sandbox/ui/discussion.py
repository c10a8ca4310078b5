"""An item's Discussion and Attachments in the sandbox's UI: the development team replies,
attaches a file, deletes a post or a file, through the same WSAPI write services (so webhooks
hear of it)."""

from __future__ import annotations

import base64
import mimetypes

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import linebreaks
from django.views.decorators.http import require_GET, require_POST

from rally_sandbox.wsapi.discussion import MAX_ATTACHMENT_BYTES, content_bytes
from rally_sandbox.wsapi.models import Attachment, ConversationPost
from rally_sandbox.wsapi.registry import SPECS
from rally_sandbox.wsapi.services import WriteError, delete_object, save_object

from .views import _artifact, login_required


def context_for(artifact) -> dict:
    """What item.html shows: two queries, whatever the number of posts and files."""
    return {
        "posts": list(artifact.discussion.select_related("user")),
        "attachments": list(artifact.attachments.select_related("user")),
        "max_attachment_bytes": MAX_ATTACHMENT_BYTES,
    }


def _back(artifact) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("sandbox_ui:item", args=[artifact.pk]) + "#discussion")


def _save(request, artifact, type_path: str, fields: dict):
    return save_object(
        spec=SPECS[type_path],
        user=request.sandbox_user,
        workspace=artifact.workspace,
        fields=fields,
    ).obj


@require_POST
@login_required
def post(request: HttpRequest, oid: int) -> HttpResponse:
    artifact = _artifact(request, oid)
    text = (request.POST.get("text") or "").strip()
    if not text:
        messages.error(request, "Write something to post.")
        return _back(artifact)
    html = text if text.startswith("<") else linebreaks(text)
    ref = f"/{SPECS[artifact.type_path].ref_segment}/{artifact.pk}"
    try:
        made = _save(request, artifact, "ConversationPost", {"Artifact": ref, "Text": html})
    except WriteError as error:
        for message in error.errors:
            messages.error(request, message)
    else:
        messages.success(request, f"Posted #{made.post_number}.")
    return _back(artifact)


@require_POST
@login_required
def attach(request: HttpRequest, oid: int) -> HttpResponse:
    """The two creates a client makes: AttachmentContent (base64), then the Attachment."""
    artifact = _artifact(request, oid)
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "Choose a file to attach.")
        return _back(artifact)
    data = upload.read()
    content_type = (
        upload.content_type or mimetypes.guess_type(upload.name)[0] or "application/octet-stream"
    )
    ref = f"/{SPECS[artifact.type_path].ref_segment}/{artifact.pk}"
    try:
        content = _save(
            request, artifact, "AttachmentContent", {"Content": base64.b64encode(data).decode()}
        )
        _save(
            request,
            artifact,
            "Attachment",
            {
                "Name": upload.name,
                "Content": f"/attachmentcontent/{content.pk}",
                "ContentType": content_type,
                "Size": len(data),
                "Artifact": ref,
            },
        )
    except WriteError as error:
        for message in error.errors:
            messages.error(request, message)
    else:
        messages.success(request, f"Attached {upload.name}.")
    return _back(artifact)


def _delete(request, artifact, obj, type_path: str, what: str) -> HttpResponse:
    if obj is None:
        raise Http404("Not on this item")
    try:
        delete_object(spec=SPECS[type_path], obj=obj, user=request.sandbox_user)
    except WriteError as error:
        for message in error.errors:
            messages.error(request, message)
    else:
        messages.success(request, f"Deleted {what}.")
    return _back(artifact)


@require_POST
@login_required
def delete_post(request: HttpRequest, oid: int, post_oid: int) -> HttpResponse:
    artifact = _artifact(request, oid)
    post = ConversationPost.objects.filter(pk=post_oid, artifact=artifact).first()
    number = post.post_number if post is not None else 0
    return _delete(request, artifact, post, "ConversationPost", f"post #{number}")


@require_POST
@login_required
def delete_attachment(request: HttpRequest, oid: int, attachment_oid: int) -> HttpResponse:
    artifact = _artifact(request, oid)
    attachment = Attachment.objects.filter(pk=attachment_oid, artifact=artifact).first()
    name = attachment.name if attachment is not None else ""
    return _delete(request, artifact, attachment, "Attachment", name)


@require_GET
@login_required
def download(request: HttpRequest, oid: int, attachment_oid: int) -> HttpResponse:
    artifact = _artifact(request, oid)
    attachment = (
        Attachment.objects.select_related("content").filter(pk=attachment_oid, artifact=artifact)
    ).first()
    if attachment is None or attachment.content is None:
        raise Http404("No such attachment")
    response = HttpResponse(
        content_bytes(attachment.content),
        content_type=attachment.content_type or "application/octet-stream",
    )
    # Always a download, never rendered here (an HTML file would run in the sandbox's origin).
    response["Content-Disposition"] = f'attachment; filename="{_ascii(attachment.name)}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _ascii(name: str) -> str:
    return "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
