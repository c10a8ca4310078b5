"""Where the sync plugs into comments and attachments without discussion knowing it
(docs/architecture.md: a lower app offers a registry, the higher one fills it in).

- item listeners: called *inside the transaction* that adds a comment or an attachment, so
  what they write (an outbox row) commits or fails with it;
- item change listeners: called *inside the transaction* that edits a comment or deletes a
  comment or an attachment (`change` "edited" or "deleted"; a deleted item has no pk any
  more, so `item_id` names it), for the same reason;
- item notes: for the thread, a line per comment or attachment saying where it stands
  elsewhere ("In Rally", "Waiting for approval to go to Rally", "Not sent to Rally: …"),
  computed for all of a record's items at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

# listener(*, kind: "comment" | "attachment", item, record, source: str) -> None
ItemListener = Callable[..., None]
# change listener(*, change: "edited" | "deleted", kind, item, item_id: int, record, source)
ItemChangeListener = Callable[..., None]
# notes(*, record, comments: Sequence, attachments: Sequence)
#   -> {("comment" | "attachment", id): (text, level)} with level "ok" | "waiting" | "error"
ItemNotes = Callable[..., Mapping[tuple[str, int], tuple[str, str]]]
# edits(*, record) -> a sentence on what edits and deletions here do elsewhere, or ""
EditNote = Callable[..., str]

_listeners: list[ItemListener] = []
_change_listeners: list[ItemChangeListener] = []
_notes: list[ItemNotes] = []
_edit_notes: list[EditNote] = []


def register_item_listener(listener: ItemListener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def register_item_change_listener(listener: ItemChangeListener) -> None:
    if listener not in _change_listeners:
        _change_listeners.append(listener)


def register_item_notes(notes: ItemNotes) -> None:
    if notes not in _notes:
        _notes.append(notes)


def register_edit_note(note: EditNote) -> None:
    if note not in _edit_notes:
        _edit_notes.append(note)


def item_added(*, kind: str, item, record, source: str) -> None:
    for listener in _listeners:
        listener(kind=kind, item=item, record=record, source=source)


def item_changed(
    *, change: str, kind: str, item, item_id: int, record, source: str, user=None
) -> None:
    for listener in _change_listeners:
        listener(
            change=change, kind=kind, item=item, item_id=item_id, record=record, source=source,
            user=user,
        )  # fmt: skip


def item_notes(*, record, comments: Sequence, attachments: Sequence) -> dict:
    found: dict = {}
    for notes in _notes:
        found.update(notes(record=record, comments=comments, attachments=attachments))
    return found


def edit_note(*, record) -> str:
    return " ".join(text for note in _edit_notes if (text := note(record=record)))
