"""An update that never overwrites a value Rally changed since the baseline (DESIGN rule 8).

Rally's WSAPI has no conditional write: `VersionId` is a read-only attribute, nothing makes a
write depend on it (the sandbox ignores it in an update's body), and no If-Match/ETag
precondition is documented (rally/WSAPI.md, "Update"). So an update reads first: one GET of the
object, fetching only the fields about to be sent whose Rally edits the catch-up would keep
(two-way), normalised as the catch-up normalises them. A field Rally changed since the baseline
is held back: equal to what we send, the two sides agree and the baseline moves; otherwise it
is a conflict, opened exactly as the catch-up opens it. The rest is sent.

The caveat: a Rally edit landing between the read and the write (a few milliseconds here, plus
the write's own trip to Rally) is still overwritten; Rally offers nothing to close that window.
It is not silent, though: Rally's version counter moves by one a write, so a written object
more than one version past the read took another write meanwhile, and the record's history
and the integration log say which of the fields sent may have replaced a Rally edit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from aharally.integrations.log import log_event
from aharally.integrations.models import LogLevel
from aharally.integrations.templates_service import EffectiveRecordMapping
from aharally.rally.client import RallyClient
from aharally.rally.objects import RallyObject
from aharally.records.services import update_record
from aharally.sync import agreement, custom_values, history, links, mapping, policies
from aharally.sync.models import ActivityAction, Link
from aharally.sync.outgoing.payload import mapping_label
from aharally.sync.records import SOURCE
from aharally.workspaces.models import CustomFieldKind


@dataclass
class Held:
    """The fields Rally's current values keep out of an update, and why."""

    # Rally already holds our value: nothing to send, the baseline moves to it.
    agreed: dict[str, Any] = field(default_factory=dict)
    # (field, ours, theirs, last agreed): changed on both sides, for a reviewer.
    conflicts: list[tuple[str, Any, Any, Any]] = field(default_factory=list)
    # Rally's VersionId when read, and the fields read (none when nothing was read).
    version: str | None = None
    read: set[str] = field(default_factory=set)
    # Changed on both sides and settled by the field's conflict policy:
    # (field, ours, theirs, kept, policy). Rally's kept values are taken here ({field: value}).
    settled: list[tuple[str, Any, Any, str, str]] = field(default_factory=list)
    taken: dict[str, Any] = field(default_factory=dict)

    @property
    def fields(self) -> set[str]:
        """What is kept out of the write (aharally's value kept by a policy still goes)."""
        return set(self.agreed) | {name for name, *_ in self.conflicts}


def fields_to_guard(
    record_mapping: EffectiveRecordMapping, changed: set[str], specs=None
) -> list[tuple[str, str]]:
    """The (field, Rally field) pairs about to be sent whose Rally edits come back to us
    (`specs`: the mapped custom fields, `custom_values.specs_for`).

    A field mapped *to Rally* only is aharally's alone: the catch-up never keeps Rally's edits
    of it, so there is nothing to protect and nothing to read.
    """
    pairs = mapping.fields_to_receive(record_mapping.field_mappings)
    pairs += [
        (m.field, m.rally_field)
        for m in record_mapping.field_mappings
        if m.field in (specs or {}) and m.direction in mapping.SENT_TO_AHARALLY
    ]
    return [(name, rally_field) for name, rally_field in pairs if name in changed]


def hold_back(
    client: RallyClient,
    *,
    link: Link,
    record,
    record_mapping: EffectiveRecordMapping,
    values: dict[str, Any],
    pairs: list[tuple[str, str]],
    people=None,
    specs=None,
) -> Held:
    """Read Rally's current values of `pairs` (one request) and sort out what must not go
    (`specs`: the mapped custom fields among them, judged as the catch-up judges them).

    Raises RallyNotFound when Rally no longer has the object, as the write would.
    """
    specs = specs or {}
    fetch = ["ObjectID", *[rally_field for _, rally_field in pairs]]
    if any(name == "assignee" for name, _ in pairs) or any(
        specs[name].field.kind == CustomFieldKind.MEMBER for name, _ in pairs if name in specs
    ):
        fetch.append(mapping.OWNER_FETCH)  # an Owner is matched by email, as in the catch-up
    rules = policies.policies_of(record_mapping)
    if any(rules.get(name) == policies.Policy.RECENT for name, _ in pairs):
        fetch.append("LastUpdateDate")  # Rally's side of "most recent change wins"
    current = client.read(f"/{link.rally_type.lower()}/{link.rally_oid}", fetch=fetch)
    held = Held(version=current.version, read={name for name, _ in pairs})
    for name, rally_field in pairs:
        if rally_field not in current:
            continue
        spec = specs.get(name)
        if spec is not None:
            theirs = custom_values.from_rally(spec, current[rally_field], people)
            changed = custom_values.changed_in_rally(name, theirs, link.baseline)
        else:
            theirs = agreement.rally_value(name, current[rally_field], people)
            changed = agreement.changed_in_rally(name, theirs, link.baseline)
        if not changed:
            continue  # Rally still holds the agreed value: ours replaces it
        ours = values[name]
        if agreement.same_value(name, ours, theirs, record, record_mapping.status_map):
            held.agreed[name] = theirs
            continue
        policy = rules.get(name)
        kept = policies.decide(policy, record, current, name) if policy else policies.ASK
        if kept == policies.THEIRS:
            if spec is not None:
                value = custom_values.to_record(
                    spec, theirs, workspace_id=record.workspace_id, people=people
                )
            else:
                value = agreement.to_record_value(
                    name,
                    theirs,
                    record_mapping.status_map,
                    workspace=record.workspace,
                    people=people,
                )
            if value is not mapping.UNKNOWN and value is not custom_values.UNMAPPED:
                held.agreed[name] = theirs  # Rally's stays, and becomes ours and the baseline
                held.taken[name] = value
                held.settled.append((name, ours, theirs, kept, policy))
                continue
        elif kept == policies.OURS:
            held.settled.append((name, ours, theirs, kept, policy))  # sent: ours replaces it
            continue
        held.conflicts.append((name, ours, theirs, link.baseline.get(name)))
    return held


def settle(held: Held, *, link: Link, record, sent: dict[str, Any], written=None) -> None:
    """Open the held conflicts and move the link's baseline to the agreed and `sent` values
    (in the caller's transaction, beside the row's outcome).

    Merged into the link as it is now, under its lock: a catch-up may have moved other fields
    of the baseline since this send read the link. `written` is Rally's answer to the write.
    """
    fresh = Link.objects.select_for_update().get(pk=link.pk)
    baseline = {**fresh.baseline, **held.agreed, **sent}
    version = links.newest_version(fresh, *([written] if written is not None else []))
    if held.version is not None and (version is None or int(held.version) > version):
        version = int(held.version)
    if baseline != fresh.baseline or version != fresh.rally_version:
        Link.objects.filter(pk=link.pk).update(
            baseline=baseline, rally_version=version, updated_at=timezone.now()
        )
    link.baseline, link.rally_version = baseline, version
    for name, ours, theirs, agreed in held.conflicts:
        agreement.open_conflict(link, record, name, ours=ours, theirs=theirs, agreed=agreed)
    if held.taken:
        # Rally's value wins: written here as the integration's, so nothing is sent back.
        update_record(record, changes=dict(held.taken), user=None, source=SOURCE)
    for name, ours, theirs, kept, policy in held.settled:
        if kept == policies.OURS and name not in sent:
            continue  # the write did not happen: the next attempt reads and decides again
        policies.say_decided(link, record, name, ours=ours, theirs=theirs, kept=kept, policy=policy)


def warn_if_raced(held: Held, written: RallyObject, *, link: Link, row, sent: set[str]) -> bool:
    """Say so when Rally's object took another write between the read and ours: a Rally edit
    of a field just sent may have been replaced (the window this module can't close)."""
    try:
        raced = int(written.version) > int(held.version) + 1
    except (TypeError, ValueError):
        return False  # nothing read, or a version Rally didn't give: nothing to tell
    exposed = sorted(sent & held.read)
    if not raced or not exposed:
        return False
    names = ", ".join(mapping_label(name) for name in exposed)
    message = (
        f"{link.label} changed in Rally between aharally's read and its write "
        f"(version {held.version} to {written.version}): if someone edited {names} in Rally "
        "just then, aharally's value replaced theirs."
    )
    history.note(row, ActivityAction.UPDATED, message)
    log_event(
        link.integration,
        LogLevel.WARNING,
        message,
        f"Check {link.label}'s revision history in Rally and edit the record if needed.",
    )
    return True
