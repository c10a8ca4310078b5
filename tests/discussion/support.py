"""URLs of the discussion views, for tests."""

from __future__ import annotations

from django.urls import reverse

HTMX = {"HX-Request": "true"}


def url(record, name: str = "panel", pk: int | None = None, prefix: str | None = None) -> str:
    kwargs = {
        "prefix": prefix or record.workspace.prefix,
        "record_type": record.record_type,
        "reference": record.reference,
    }
    if pk is not None:
        kwargs["attachment_id" if name.startswith("attachment") else "comment_id"] = pk
    return reverse(f"discussion:{name}", kwargs=kwargs)
