from __future__ import annotations

from django import template

from aharally.discussion.sizes import file_size as _file_size

register = template.Library()


@register.filter
def file_size(size) -> str:
    """`{{ attachment.size|file_size }}`: 50 MB for 50,000,000 bytes (see discussion.sizes)."""
    return _file_size(size)
