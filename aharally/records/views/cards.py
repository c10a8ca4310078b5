"""The board's cards, rendered in Python rather than by the template engine.

A board may hold a few thousand cards. Through Django templates each card cost ~110 µs
(some 40 variable look-ups and escapes); built here it costs a few µs, which is what keeps
a 2,000-card board well under a second (see bench/board.py). Everything interpolated is
escaped with `html.escape`, as Django's own `escape` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from html import escape

from django.utils.safestring import SafeString, mark_safe

from aharally.records.board import Card

DEFAULT_STATUS_COLOUR = "#9aa5b1"


@dataclass(frozen=True)
class CardOptions:
    """What a card shows besides its feature: the same for every card of a board."""

    feature_base: str  # the URL up to the reference, e.g. /w/PLAT/features/
    can_edit: bool = False
    can_select: bool = False
    # Extra HTML per card id from other apps (records.hooks.card_decorations): Rally links.
    decorations: Mapping[int, str] = field(default_factory=dict)


def person_initials(name: str) -> str:
    words = name.split("@")[0].replace(".", " ").split()
    return "".join(word[0] for word in words[:2]).upper() or "?"


def render_card(card: Card, options: CardOptions, *, oob: bool = False) -> str:
    """One card's HTML (a plain str: the caller marks the joined result safe)."""
    reference = escape(card.reference)
    colour = escape(card.status_color or DEFAULT_STATUS_COLOUR)
    status_name = escape(card.status_name) if card.status_name else "No status"
    swap = ' hx-swap-oob="true"' if oob else ""
    # The estimate lets the board re-total a column after a move without a request.
    estimate = f' data-estimate="{card.estimate}"' if card.estimate else ""
    parts = [
        f'<article class="card" id="card-{card.id}" role="listitem" data-id="{card.id}" '
        f'data-reference="{reference}"{estimate} data-status-color="{colour}"{swap}>'
    ]
    if options.can_select:
        parts.append(
            f'<input type="checkbox" class="card-select" name="ids" value="{card.id}" '
            f'form="bulk-form" aria-label="Select {reference}">'
        )
    parts.append(
        f'<a class="card-link" href="{escape(options.feature_base)}{reference}/">'
        f'<span class="card-ref">{reference}</span> '
        f'<span class="card-name">{escape(card.name)}</span></a>'
        f'<div class="card-foot"><span class="status-pill">'
        f'<span class="dot" aria-hidden="true"></span>{status_name}</span>'
    )
    # Always present, so that a link arriving later can be swapped in out of band.
    parts.append(
        f'<span class="card-links" id="card-links-{card.id}">'
        f"{options.decorations.get(card.id, '')}</span>"
    )
    if card.assignee_id:
        name = card.assignee_name
        parts.append(
            f'<span class="avatar" title="{escape(name)}">{escape(person_initials(name))}</span>'
        )
    parts.append("</div>")
    if options.can_edit:
        parts.append(
            f'<button type="button" class="card-move" data-move aria-label="Move {reference}" '
            'title="Move (Alt + arrow keys)">⋮</button>'
        )
    parts.append("</article>")
    return "".join(parts)


def render_cards(cards: list[Card], options: CardOptions) -> SafeString:
    return mark_safe("\n".join(render_card(card, options) for card in cards))  # noqa: S308
