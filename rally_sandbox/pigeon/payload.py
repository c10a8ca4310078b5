"""Rally's webhook delivery shape, built from an artifact's WSAPI JSON.

Plain Python (no models): the input is what the WSAPI serialiser returns for the artifact
(`_ref`, `_refObjectUUID`, `Name`, `Project: {_ref, _refObjectUUID, _refObjectName, _type}`…),
the output is the `message` of samples/webhook-delivery-*.json: `state` and `changes` keyed by
attribute UUID, values encoded by attribute type, refs rewritten as `v2.x` UUID refs.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from rally_sandbox.pigeon import attribute_ids

# Names for attributes the samples do not show: stable across runs and sandboxes.
_NAMESPACE = uuid.UUID("0f6b3c52-7d0e-4bb4-9d0a-6a1f0e6c5a11")

HOURS_FIELDS = {
    "Estimate",
    "ToDo",
    "Actuals",
    "TaskEstimateTotal",
    "TaskRemainingTotal",
    "TaskActualTotal",
}
POINTS_FIELDS = {
    "PlanEstimate",
    "AcceptedLeafStoryPlanEstimateTotal",
    "LeafStoryPlanEstimateTotal",
}
TEXT_FIELDS = {"Description", "Notes"}
# Drop-down values Rally delivers as {value, ordinal_index}, in Rally's default order.
RATINGS = {
    "Priority": ["None", "Resolve Immediately", "High Attention", "Normal", "Low"],
    "Severity": ["None", "Crash/Data Loss", "Major Problem", "Minor Problem", "Cosmetic"],
    "Environment": ["None", "Development", "Test", "Production", "Staging"],
    "Resolution": [
        "None",
        "Architecture",
        "Code Change",
        "Configuration Change",
        "Database/Metadata Change",
        "Duplicate",
        "Need More Information",
        "Not a Defect",
        "Software Limitation",
        "User Interface",
    ],
    "InvestmentCategory": ["None", "Transformational", "Cost Savings", "Strategic", "Maintenance"],
}
# Defect and task State are drop-downs too; a portfolio item's State is a State object.
STRING_STATES = {
    "Defect": ["None", "Submitted", "Open", "Fixed", "Closed"],
    "Task": ["Defined", "In-Progress", "Completed"],
}
SCHEDULE_STATES = ["Defined", "In-Progress", "Completed", "Accepted"]
# Types whose objects have a detail page, hence a detail_link, in deliveries.
DETAIL_TYPES = {
    "hierarchicalrequirement": "userstory",
    "defect": "defect",
    "task": "task",
    "project": "project",
    "workspace": "workspace",
    "subscription": "subscription",
    "user": "user",
    "release": "release",
    "iteration": "iteration",
    "milestone": "milestone",
}
TYPE_DISPLAY = {
    "HierarchicalRequirement": "Hierarchical Requirement",
    "FlowState": "Flow State",
    "TypeDefinition": "Type Definition",
    "RevisionHistory": "Revision History",
    "PreliminaryEstimate": "Preliminary Estimate",
    "UserProfile": "User Profile",
}
SKIPPED_KEYS = {"Errors", "Warnings"}
_VERSION_RE = re.compile(r"/slm/webservice/v2\.0/")


def short_type(type_name: str) -> str:
    """`PortfolioItem/Feature` → `Feature`: how deliveries and webhook rules name types."""
    return type_name.rsplit("/", 1)[-1]


def family(type_name: str) -> str:
    return "portfolio" if type_name.lower().startswith("portfolioitem") else "schedulable"


def _table(type_name: str) -> dict[str, tuple[str, str, str]]:
    if family(type_name) == "portfolio":
        return attribute_ids.PORTFOLIO_ITEM
    return attribute_ids.SCHEDULABLE


def attribute_id(type_name: str, name: str) -> str:
    known = _table(type_name).get(name)
    if known:
        return known[0]
    return str(uuid.uuid5(_NAMESPACE, f"{family(type_name)}.{name}"))


def display_name(type_name: str, name: str) -> str:
    known = _table(type_name).get(name)
    if known:
        return known[2]
    bare = name[2:] if name.startswith("c_") else name
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", bare)


def base_url_of(ref: str) -> str:
    """`https://host:port/slm/webservice/v2.0/defect/1` → `https://host:port`."""
    return ref.split("/slm/", 1)[0]


def _ref_path(ref: str) -> tuple[str, str]:
    """(type path in the ref, its last segment): `…/v2.0/portfolioitem/feature/12` → …"""
    tail = ref.split("/slm/webservice/", 1)[-1].split("/", 1)[-1]
    type_path, _, last = tail.rpartition("/")
    return type_path, last


def uuid_ref(ref: str, object_uuid: str | None, base_url: str | None = None) -> str:
    type_path, oid = _ref_path(ref)
    base = base_url or base_url_of(ref)
    return f"{base}/slm/webservice/v2.x/{type_path.lower()}/{object_uuid or oid}"


def rebased(ref: str, base_url: str) -> str:
    """The ref on `base_url`, as a v2.x ref (refs in a change set may use another host)."""
    return f"{base_url}/slm/{ref.split('/slm/', 1)[-1]}".replace("/v2.0/", "/v2.x/")


def detail_link(ref: str, base_url: str | None = None) -> str | None:
    type_path, oid = _ref_path(ref)
    lowered = type_path.lower()
    page = DETAIL_TYPES.get(lowered) or (lowered if lowered.startswith("portfolioitem/") else None)
    if page is None or not oid.lstrip("-").isdigit():
        return None
    return f"{base_url or base_url_of(ref)}/slm/#/detail/{page}/{oid}"


def _is_collection(value: Any) -> bool:
    return isinstance(value, dict) and "Count" in value and "_ref" in value


def _ref_value(value: dict, base_url: str) -> dict[str, Any]:
    encoded: dict[str, Any] = {}
    if value.get("FormattedID") and value.get("_type") == "HierarchicalRequirement":
        encoded["formatted_id"] = value["FormattedID"]
    ref = value["_ref"]
    encoded.update(
        {
            "name": value.get("_refObjectName") or value.get("Name") or "",
            "ref": uuid_ref(ref, value.get("_refObjectUUID"), base_url),
            "detail_link": detail_link(ref, base_url),
            "id": value.get("_refObjectUUID"),
            "object_type": short_type(value.get("_type") or _ref_path(ref)[0]),
        }
    )
    if value.get("_type") == "State" and "OrderIndex" in value:
        encoded["order_index"] = value["OrderIndex"]
    return encoded


def _collection_items(value: dict, base: str) -> list[dict[str, Any]] | None:
    items = value.get("_tagsNameArray")
    if not items or not value.get("Count"):
        return None
    encoded = []
    for item in items:
        ref = item.get("_ref") or ""
        if ref and not ref.startswith("http"):
            ref = f"{base}/slm/webservice/v2.0/{ref.lstrip('/')}"
        encoded.append(
            {
                "name": item.get("Name"),
                "ref": uuid_ref(ref, item.get("_refObjectUUID"), base) if ref else None,
                "detail_link": None,
                "id": item.get("_refObjectUUID"),
                "object_type": short_type(value.get("_type") or ""),
            }
        )
    return encoded


def _rating(options: list[str], value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    text = value or "None"
    index = options.index(text) if text in options else 0
    return {"value": text, "ordinal_index": index}


def _number(value: Any) -> float | int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def encode(type_name: str, name: str, value: Any, *, base_url: str) -> dict[str, Any]:
    """One attribute as Rally delivers it: {value, type, name, display_name, ref}."""
    known = _table(type_name).get(name)
    kind = known[1] if known else None
    ref = None
    short = short_type(type_name)

    if _is_collection(value):
        kind, ref = "Collection", rebased(value["_ref"], base_url)
        encoded = _collection_items(value, base_url)
    elif name == "ScheduleState":
        kind = "State"
        encoded = None
        if value:
            state_id = str(uuid.uuid5(_NAMESPACE, f"ScheduleState.{value}"))
            index = SCHEDULE_STATES.index(value) + 1 if value in SCHEDULE_STATES else 0
            encoded = {
                "name": value,
                # The double slash is Rally's own (samples/webhook-delivery-updated-defect.json).
                "ref": f"{base_url}/slm/webservice/v2.x//{state_id}",
                "detail_link": None,
                "id": state_id,
                "order_index": index,
                "object_type": "State",
            }
    elif name == "State" and short in STRING_STATES and not isinstance(value, dict):
        kind, encoded = "Rating", _rating(STRING_STATES[short], value)
    elif name in RATINGS:
        kind, encoded = "Rating", _rating(RATINGS[name], value)
    elif isinstance(value, dict) and "_ref" in value:
        encoded = _ref_value(value, base_url)
        kind = kind or TYPE_DISPLAY.get(value.get("_type", ""), short_type(value.get("_type", "")))
    elif name in POINTS_FIELDS or name in HOURS_FIELDS:
        number = _number(value)
        kind = "Quantity"
        units = "Points" if name in POINTS_FIELDS else "Hours"
        encoded = None if number is None else {"value": float(number), "units": units}
    elif name == "ObjectUUID":
        kind, encoded = "Raw", value
    elif name in ("VersionId", "ObjectID", "FormattedIDID") or kind == "Integer":
        number = _number(value)
        kind = "Integer"
        encoded = int(number) if number is not None else None
    elif name in TEXT_FIELDS:
        kind, encoded = "Text", value
    elif isinstance(value, bool):
        kind, encoded = "Boolean", value
    elif isinstance(value, int):
        kind, encoded = kind or "Integer", value
    elif isinstance(value, float):
        kind, encoded = kind or "Decimal", value
    elif name.endswith("Date") or kind == "Date":
        kind, encoded = "Date", value
    else:
        kind, encoded = kind or "String", value
    return {
        "value": encoded,
        "type": kind or "String",
        "name": name,
        "display_name": display_name(type_name, name),
        "ref": ref,
    }


def _collection_diff(old: Any, new: Any, base_url: str) -> tuple[list | None, list | None]:
    def items(value: Any) -> dict[str, Any]:
        if _is_collection(value):
            member_type = value.get("_type")
            value = [{"_type": member_type, **item} for item in value.get("_tagsNameArray") or []]
        elif isinstance(value, dict) and "_ref" in value:
            value = [value]
        if not isinstance(value, list):
            return {}
        return {item.get("_refObjectUUID") or item.get("_ref"): item for item in value}

    before, after = items(old), items(new)
    added = [
        _ref_value(after[key], base_url)
        for key in after
        if key not in before and "_ref" in after[key]
    ]
    removed = [
        _ref_value(before[key], base_url)
        for key in before
        if key not in after and "_ref" in before[key]
    ]
    return added or None, removed or None


def build_message(
    *,
    action: str,
    state: dict[str, Any],
    changes: dict[str, tuple[Any, Any]] | None,
    actor: dict[str, Any] | None,
    subscription_id: int,
    message_id: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The `message` part of a delivery (the `rule` is added when it is sent)."""
    type_name = state.get("_type") or "Artifact"
    ref = state.get("_ref") or ""
    base_url = base_url_of(ref)
    object_uuid = state.get("ObjectUUID") or state.get("_refObjectUUID")
    encoded_state = {}
    for name, value in state.items():
        if name.startswith("_") or name in SKIPPED_KEYS:
            continue
        encoded_state[attribute_id(type_name, name)] = encode(
            type_name, name, value, base_url=base_url
        )

    encoded_changes: dict[str, Any] = {}
    if action == "Updated":
        changes = dict(changes or {})
        version = _number(state.get("VersionId"))
        if "VersionId" not in changes and version is not None and changes:
            changes["VersionId"] = (int(version) - 1, int(version))
        for name, (old, new) in changes.items():
            if name.startswith("_"):
                continue
            entry = encode(type_name, name, new, base_url=base_url)
            if any(isinstance(v, list) or _is_collection(v) for v in (old, new)):
                added, removed = _collection_diff(old, new, base_url)
                entry.update(
                    {"type": "Collection", "value": None, "old_value": None}
                    | {"added": added, "removed": removed}
                )
            else:
                entry["old_value"] = encode(type_name, name, old, base_url=base_url)["value"]
                entry["added"] = entry["removed"] = None
            encoded_changes[attribute_id(type_name, name)] = entry

    project = state.get("Project") if isinstance(state.get("Project"), dict) else {}
    now = now or datetime.now(UTC)
    timestamp_ms = int(now.timestamp() * 1000)
    user = actor or {}
    return {
        "action": action,
        "message_version": 2,
        "id": object_uuid,
        "object_id": object_uuid,
        "object_type": short_type(type_name),
        "ref": uuid_ref(ref, object_uuid) if ref else None,
        "detail_link": detail_link(ref) if ref else None,
        "subscription_id": subscription_id,
        "message_id": message_id,
        "project": {"uuid": project.get("_refObjectUUID"), "name": project.get("_refObjectName")},
        "transaction": {
            "trace_id": str(uuid.uuid4()),
            "timestamp": timestamp_ms,
            "message_id": message_id,
            "parent_span_id": str(uuid.uuid4()),
            "span_id": str(uuid.uuid4()),
            "message_lag": 0,
            "user": {
                "uuid": user.get("uuid"),
                "username": user.get("username"),
                "email": user.get("email"),
            },
        },
        "state": encoded_state,
        "changes": encoded_changes,
    }


def envelope(message: dict[str, Any], rule: dict[str, Any]) -> dict[str, Any]:
    """The POST body: message, rule and the send time (as in the 2022 captures)."""
    now = time.time()
    stamp = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
    return {"message": message, "rule": rule, "Timestamp": stamp.replace("+00:00", "Z")}
