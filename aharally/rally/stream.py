"""Reading a WSAPI query answer as it arrives: its envelope first, then one result at a time.

A catch-up's page is up to 2,000 objects (3 MiB of JSON for stories). Read whole, the page's
text, the same text as a `str`, and every decoded object are alive together; read here, only
the objects the caller still holds are, and the text a block at a time.

    reader = EnvelopeReader(response.iter_content(64 * 1024))
    root, fields = reader.head()       # "QueryResult", {"TotalResultCount": …, "Errors": …}
    for item in reader.results():      # each of "Results", a dict, as `json` decodes it
        ...
    reader.fields                      # and the keys that came after "Results", if any

Each value is decoded by `json`'s own decoder (C), from where it starts in the text; what is
between values (the envelope's two levels of braces, keys, commas) is read here. Rally writes
the envelope's counts before "Results" (`tests/rally/samples/`); were they after, they
would be in `fields` once `results()` is exhausted.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import urllib3

from aharally.rally.errors import RallyTransientError, error_from_messages

if TYPE_CHECKING:
    from aharally.rally.transport import Transport

# Bytes read from the connection at a time: a few dozen stories.
BLOCK = 64 * 1024
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


class EnvelopeError(ValueError):
    """The text is not a WSAPI envelope (or ends before it does)."""


class EnvelopeReader:
    """One envelope `{root: {key: value, …, "Results": [item, …], …}}` read from byte blocks."""

    def __init__(self, blocks: Iterable[bytes]) -> None:
        self._blocks = iter(blocks)
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._text = ""
        self._at = 0
        self._ended = False
        self.root: str | None = None
        self.fields: dict[str, Any] = {}
        self._in_results = False
        self._done = False

    def head(self) -> tuple[str, dict[str, Any]]:
        """The root key and the fields before "Results" (all of them when there is none)."""
        self._expect("{")
        root = self._value()
        if not isinstance(root, str):
            raise EnvelopeError("The envelope's key is not a string")
        self.root = root
        self._expect(":")
        self._expect("{")
        self._fields(first=True)
        return root, self.fields

    def results(self) -> Iterator[Any]:
        """Each result in turn; then the envelope's remaining fields are read into `fields`."""
        if self.root is None:
            self.head()
        if not self._in_results:
            return
        first = True
        while True:
            if self._next_char() == "]":
                self._at += 1
                break
            if not first:
                self._expect(",")
            first = False
            yield self._value()
        self._in_results = False
        self._fields(first=False)

    def _fields(self, *, first: bool) -> None:
        """The envelope's keys up to "Results" (then stops inside it) or to its end."""
        while True:
            if self._next_char() == "}":
                self._at += 1
                self._close()
                return
            if not first:
                self._expect(",")
            first = False
            key = self._value()
            if not isinstance(key, str):
                raise EnvelopeError("An envelope key is not a string")
            self._expect(":")
            if key == "Results" and self._next_char() == "[":
                self._at += 1
                self._in_results = True
                return
            self.fields[key] = self._value()

    def _close(self) -> None:
        self._expect("}")
        self._skip_whitespace(allow_end=True)
        if self._at < len(self._text):
            raise EnvelopeError("An envelope has one key")
        self._done = True

    # Reading the text.

    def _more(self) -> bool:
        """Appends the next block's text (dropping what was read); False at the end."""
        if self._ended:
            return False
        if self._at:
            self._text, self._at = self._text[self._at :], 0
        for block in self._blocks:
            text = self._utf8.decode(block)
            if text:
                self._text += text
                return True
        self._text += self._utf8.decode(b"", final=True)
        self._ended = True
        return True

    def _skip_whitespace(self, *, allow_end: bool = False) -> None:
        while True:
            self._at = _WHITESPACE.match(self._text, self._at).end()
            if self._at < len(self._text):
                return
            if self._ended:
                if allow_end:
                    return
                raise EnvelopeError("The answer ends before its envelope does")
            self._more()

    def _next_char(self) -> str:
        self._skip_whitespace()
        return self._text[self._at]

    def _expect(self, char: str) -> None:
        if self._next_char() != char:
            raise EnvelopeError(f"Expected {char!r} in the envelope")
        self._at += 1

    def _value(self) -> Any:
        """The JSON value starting here. A value that reaches the end of the text read so far
        may go on in the next block (a number, `12` of `1234`): it counts only once something
        follows it, or the answer has ended."""
        self._skip_whitespace()
        while True:
            try:
                value, end = _DECODER.raw_decode(self._text, self._at)
            except json.JSONDecodeError as error:
                if self._ended:
                    raise EnvelopeError(f"Not JSON: {error}") from None
            else:
                if end < len(self._text) or self._ended:
                    self._at = end
                    return value
            self._more()


class StreamedAnswer:
    """A WSAPI answer being read: `root` and `head` (the envelope's fields before "Results"),
    then `results()`; `close()` lets go of its connection (unread, it is not reused)."""

    def __init__(self, root: str, head: dict[str, Any], reader: EnvelopeReader, response) -> None:
        self.root, self.head = root, head
        self._reader, self._response = reader, response

    def results(self) -> Iterator[Any]:
        try:
            yield from self._reader.results()
        except EnvelopeError as error:
            raise RallyTransientError(f"Rally's answer broke off: {error}") from None
        finally:
            self.close()
        # Errors after the results (Rally writes them before: `head` held none).
        errors = self._reader.fields.get("Errors")
        if errors:
            raise error_from_messages(errors, status=200)

    def close(self) -> None:
        self._response.close()


def open_stream(
    transport: Transport, path: str, *, params: Mapping[str, Any] | None = None
) -> StreamedAnswer:
    """A GET read as it arrives, retried as `Transport.send` retries a read until the head of
    its envelope is in; a failure after that comes out of `results()` (`RallyTransientError`),
    for the caller to ask again."""
    url = transport.url(path)
    attempt, refreshed = 0, False
    while True:
        attempt += 1
        token = transport.credential.token()
        try:
            response = transport._once("GET", url, params, None, token, stream=True)
        except RallyTransientError as error:
            transport._maybe_wait(error, attempt, True)
            continue
        if response.status_code == 401 and transport.credential.can_refresh and not refreshed:
            response.close()
            refreshed = True
            transport.credential.refresh_after_failure(token)
            attempt -= 1
            continue
        if response.status_code != 200:
            try:
                # Not a page: read whole (small), and raised as `send` raises it.
                transport._unwrap(response, idempotent=True)
            except RallyTransientError as error:
                transport._maybe_wait(error, attempt, True)
                continue
            finally:
                response.close()
        reader = EnvelopeReader(_blocks(response))
        try:
            root, head = reader.head()
        except (EnvelopeError, RallyTransientError) as error:
            response.close()
            transport._maybe_wait(
                error
                if isinstance(error, RallyTransientError)
                else RallyTransientError(
                    "Rally answered HTTP 200 with something that is not a WSAPI response",
                    status=200,
                ),
                attempt,
                True,
            )
            continue
        errors = head.get("Errors") or []
        if errors:
            response.close()
            raise error_from_messages(errors, warnings=head.get("Warnings") or [], status=200)
        return StreamedAnswer(root, dict(head), reader, response)


def _blocks(response) -> Iterator[bytes]:
    try:
        yield from response.iter_content(BLOCK)
    except (urllib3.exceptions.HTTPError, OSError) as error:
        raise RallyTransientError(
            f"Connection to Rally lost while reading its answer: {type(error).__name__}"
        ) from error
