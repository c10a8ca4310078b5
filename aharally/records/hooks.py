"""Where other apps plug into records without records knowing them (DESIGN: one-way imports).

Four registries, filled from an app's `AppConfig.ready()` (the sync fills the first three,
discussion the card decorations and the panels):

- record listeners: called by the record services *inside the transaction* of every edit and
  creation, so that what they write (an outbox row) commits or fails with the edit;
- card decorations: extra HTML for board cards, computed for all cards of a board at once
  (and requirement decorations, the same for a feature's requirement rows);
- record menus: extra HTML for a record's drawer or page (the Integrations ▾ menu);
- record panels: sections of a record's drawer or page below its fields (the comments and
  attachments), each in a fixed number of queries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from django.utils.safestring import SafeString, mark_safe

# listener(*, saved: Sequence[tuple[record, list[str]]], user, source: str, created: bool)
# -> None: the records saved together (a bulk move's thousand, an edit's one), each with the
# names of its changed fields, so that a listener reads what it needs for all of them at once.
RecordListener = Callable[..., None]
# decorator(*, workspace, feature_ids: Sequence[int]) -> {feature id: html}
CardDecorator = Callable[..., Mapping[int, str]]
# menu(*, request, record) -> html or ""
RecordMenu = Callable[..., str]
# panel(*, request, record) -> html or ""
RecordPanel = Callable[..., str]

_listeners: list[RecordListener] = []
_card_decorators: list[CardDecorator] = []
# decorator(*, workspace, requirement_ids: Sequence[int]) -> {requirement id: html}
_requirement_decorators: list[CardDecorator] = []
_record_menus: list[RecordMenu] = []
_record_panels: list[RecordPanel] = []
# What other apps add to the seeded demo: called with the demo users by user name.
_demo_seeders: list = []


def _add(registry: list, item) -> None:
    if item not in registry:
        registry.append(item)


def register_record_listener(listener: RecordListener) -> None:
    _add(_listeners, listener)


def register_card_decorator(decorator: CardDecorator) -> None:
    _add(_card_decorators, decorator)


def register_requirement_decorator(decorator: CardDecorator) -> None:
    _add(_requirement_decorators, decorator)


def register_record_menu(menu: RecordMenu) -> None:
    _add(_record_menus, menu)


def register_record_panel(panel: RecordPanel) -> None:
    _add(_record_panels, panel)


def register_demo_seeder(seeder) -> None:
    _add(_demo_seeders, seeder)


def seed_demo_extras(users: dict) -> list[str]:
    """Let other apps seed their part of the demo; each returns lines for the summary."""
    return [line for seeder in _demo_seeders for line in seeder(users)]


def record_saved(
    record, *, changed: Iterable[str], user=None, source: str = "", created: bool = False
) -> None:
    """Tell every listener that `record` was created or had `changed` fields saved."""
    records_saved([(record, changed)], user=user, source=source, created=created)


def records_saved(
    saved: Iterable[tuple[object, Iterable[str]]],
    *,
    user=None,
    source: str = "",
    created: bool = False,
) -> None:
    """Tell every listener, once, of records created or saved together with their changed
    fields (those with none left out)."""
    saved = [(record, list(changed)) for record, changed in saved]
    if not created:
        saved = [(record, changed) for record, changed in saved if changed]
    if not saved:
        return
    for listener in _listeners:
        listener(saved=saved, user=user, source=source, created=created)


def card_decorations(*, workspace, feature_ids: Sequence[int]) -> dict[int, str]:
    """Extra HTML per card (each decorator in a fixed number of queries for all cards)."""
    found: dict[int, str] = {}
    if not feature_ids:
        return found
    for decorator in _card_decorators:
        for pk, html in decorator(workspace=workspace, feature_ids=feature_ids).items():
            found[pk] = found.get(pk, "") + html
    return found


def decorate_requirements(requirements: Sequence, *, workspace) -> None:
    """Set each requirement's `decoration` (extra HTML for its row: its Rally link), in a
    fixed number of queries for all the rows."""
    found: dict[int, str] = {}
    ids = [requirement.pk for requirement in requirements]
    for decorator in _requirement_decorators if ids else ():
        for pk, html in decorator(workspace=workspace, requirement_ids=ids).items():
            found[pk] = found.get(pk, "") + html
    for requirement in requirements:
        requirement.decoration = mark_safe(found.get(requirement.pk, ""))  # noqa: S308 (escaped)


def record_menus(*, request, record) -> SafeString:
    """The extra menus of a record's drawer or page, joined."""
    return mark_safe("".join(menu(request=request, record=record) for menu in _record_menus))  # noqa: S308


def record_panels(*, request, record) -> SafeString:
    """The extra sections of a record's drawer or page, joined."""
    return mark_safe("".join(panel(request=request, record=record) for panel in _record_panels))  # noqa: S308
