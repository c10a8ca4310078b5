"""File sizes as people and Rally read them: 50 MB is 50,000,000 bytes.

Django's `filesizeformat` counts in powers of 1,024 yet writes "MB", so Rally's limit of
50,000,000 bytes showed as "47.7 MB" beside Rally's own "50 MB".
"""

from __future__ import annotations

_UNITS = ("kB", "MB", "GB", "TB")


def file_size(size: int | None) -> str:
    """ "1 byte", "999 bytes", "1.5 kB", "50 MB" (decimal units, one decimal when it says
    something)."""
    size = int(size or 0)
    if size < 1000:
        return "1 byte" if size == 1 else f"{size:,} bytes"
    value = float(size)
    for unit in _UNITS:
        value /= 1000
        if value < 1000 or unit == _UNITS[-1]:
            shown = f"{value:.1f}".removesuffix(".0")
            return f"{shown} {unit}"
    raise AssertionError("unreachable")
