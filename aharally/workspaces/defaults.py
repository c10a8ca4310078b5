"""Workflows a new workspace starts with; owners edit them afterwards."""

from __future__ import annotations

from aharally.workspaces.models import RecordType, StatusCategory

NS, IP, DONE, WONT = (
    StatusCategory.NOT_STARTED,
    StatusCategory.IN_PROGRESS,
    StatusCategory.DONE,
    StatusCategory.WONT_DO,
)

_FEATURE_FLOW = [
    ("Under consideration", NS, "#9aa5b1"),
    ("Ready to develop", NS, "#4a90d9"),
    ("In development", IP, "#f5a623"),
    ("Ready to ship", IP, "#9b59b6"),
    ("Shipped", DONE, "#27ae60"),
    ("Will not implement", WONT, "#c0392b"),
]

DEFAULT_WORKFLOWS: dict[str, list[tuple[str, str, str]]] = {
    RecordType.FEATURE: _FEATURE_FLOW,
    RecordType.REQUIREMENT: _FEATURE_FLOW,
    RecordType.EPIC: _FEATURE_FLOW,
    RecordType.INITIATIVE: [
        ("Not started", NS, "#9aa5b1"),
        ("On track", IP, "#27ae60"),
        ("At risk", IP, "#f5a623"),
        ("Off track", IP, "#c0392b"),
        ("Done", DONE, "#2c3e50"),
        ("Will not do", WONT, "#7f8c8d"),
    ],
    RecordType.RELEASE: [
        ("Planning", NS, "#9aa5b1"),
        ("In progress", IP, "#f5a623"),
        ("Shipped", DONE, "#27ae60"),
        ("Cancelled", WONT, "#c0392b"),
    ],
}
