from __future__ import annotations


class WorkspaceError(Exception):
    """A workspace change refused for a reason the person can act on; str() is the message."""
