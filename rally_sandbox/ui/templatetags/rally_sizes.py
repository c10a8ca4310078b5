"""`{{ size|rally_size }}`: sizes as Rally's UI states them, 50 MB for 50,000,000 bytes.

Django's `filesizeformat` divides by 1,024 and showed Rally's limit as "47.7 MB". (The
sandbox imports nothing of aharally, which has the same rule for its own pages.)
"""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def rally_size(size) -> str:
    size = int(size or 0)
    if size < 1000:
        return "1 byte" if size == 1 else f"{size:,} bytes"
    value, unit = size / 1000, "kB"
    for bigger in ("MB", "GB"):
        if value < 1000:
            break
        value, unit = value / 1000, bigger
    return f"{value:.1f}".removesuffix(".0") + f" {unit}"
