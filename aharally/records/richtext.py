"""Rich text is sanitised on the way in, by nh3 (Ammonia), never by regexes."""

from __future__ import annotations

from html.parser import HTMLParser

import nh3

ALLOWED_TAGS = {
    "a",
    "b",
    "blockquote",
    "br",
    "code",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "i",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
    "span",
    "div",
    "hr",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "td": {"colspan", "rowspan"}, "th": {"colspan"}}


# Built once: `nh3.clean` builds its cleaner from these sets on every call, which is most of
# a short text's cost (a catch-up sanitises every description it reads).
_CLEANER = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    attributes=ALLOWED_ATTRIBUTES,
    url_schemes={"http", "https", "mailto"},
    link_rel="noopener noreferrer",
)


def sanitize_html(html: str) -> str:
    return _CLEANER.clean(html or "").strip()


# Tags after which the text breaks, so "<p>Why</p><p>How</p>" reads "Why How", not "WhyHow".
_BLOCK_TAGS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "blockquote", "pre", "hr"}


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data) -> None:
        self.parts.append(data)


def html_to_text(html: str) -> str:
    """The words of a rich-text value, without markup (for history lines and other summaries)."""
    collector = _TextCollector()
    collector.feed(html or "")
    collector.close()
    return " ".join("".join(collector.parts).split())
