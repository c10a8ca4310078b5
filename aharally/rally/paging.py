"""Paging through a query's results: whole pages (`QueryResults.pages`), or pages read as
they arrive, the next one asked for while this one is used (`QueryResults.streamed_pages`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future

from aharally.rally.errors import RallyTransientError
from aharally.rally.objects import QueryPage, RallyObject
from aharally.rally.stream import StreamedAnswer

# An executor's `submit`: runs a page's request in another thread.
Ahead = Callable[..., Future]


class QueryResults:
    """A lazily paged query: pages are requested only as iteration reaches them.

    ``total`` reads the first page (and keeps it, so iterating afterwards costs nothing
    extra). Page arithmetic follows ``TotalResultCount``: 5,000 results at 2,000 a page are
    exactly 3 requests, and no empty page is requested at the end.
    """

    def __init__(
        self,
        fetch_page: Callable[[int], QueryPage],
        *,
        limit: int | None = None,
        open_page: Callable[[int], StreamedPage] | None = None,
    ) -> None:
        self._fetch_page = fetch_page
        self._open_page = open_page
        self._first_pending: Future | None = None
        self._first: QueryPage | None = None
        self._total: int | None = None
        self.limit = limit

    @property
    def total(self) -> int:
        """Rally's ``TotalResultCount`` (ignores ``limit``)."""
        if self._first is None and self._total is not None:
            return self._total  # the first page was let go by `pages`
        return self.first_page().total

    def first_page(self) -> QueryPage:
        if self._first is None:
            self._first = self._fetch_page(1)
        return self._first

    def page_at(self, start: int) -> QueryPage:
        """One page from a 1-based ``start`` (a person paging through results): one request."""
        return self.first_page() if start == 1 else self._fetch_page(start)

    def pages(self) -> Iterator[QueryPage]:
        """Every page in turn; past the first, only the page being read is held (a catch-up
        of many pages holds one page's objects at a time, not the first one's as well)."""
        page = self.first_page()
        yielded = 0
        while True:
            yield page
            yielded += len(page.results)
            if self.limit is not None and yielded >= self.limit:
                return
            if page.next_start is None or not page.results:
                return
            following, page = page.next_start, None
            if self._first is not None:
                self._total, self._first = self._first.total, None
            page = self._fetch_page(following)

    def __iter__(self) -> Iterator[RallyObject]:
        count = 0
        for page in self.pages():
            for item in page.results:
                if self.limit is not None and count >= self.limit:
                    return
                count += 1
                yield item

    def __len__(self) -> int:
        return self.total if self.limit is None else min(self.total, self.limit)

    def first(self) -> RallyObject | None:
        return next(iter(self), None)

    def ask_ahead(self, ahead: Ahead) -> None:
        """Ask for the first page now, in another thread; `streamed_pages` starts with it."""
        if self._open_page is None:
            raise TypeError("These results can't be read as they arrive")
        if self._first_pending is None:
            self._first_pending = ahead(self._open_page, 1)

    def let_go(self) -> None:
        """A first page asked for ahead and not read after all: let go of it when it arrives."""
        if self._first_pending is not None:
            self._first_pending.add_done_callback(_close_page)
            self._first_pending = None

    def streamed_pages(
        self, *, ahead: Ahead | None = None, then: Callable[[], None] | None = None
    ) -> Iterator[StreamedPage]:
        """Every page in turn, each read as its objects are iterated (a page's objects are
        never all in memory at once, nor its text); the whole query (`limit` does not apply).

        With `ahead` (an executor's `submit`), the next page is asked for as soon as this one's
        head says there is one: Rally prepares it while this one is used, and its answer waits
        in the connection until this one is done. `then` is called once the last page's head
        is in (to ask ahead for what comes after these results). Iterate a page's objects, or
        let go of it, before asking for the next.
        """
        if self._open_page is None:
            raise TypeError("These results can't be read as they arrive")
        first, self._first_pending = self._first_pending, None
        page = first.result() if first is not None else self._open_page(1)
        pending: Future | None = None
        try:
            while True:
                following = page.next_start
                if following is None and then is not None:
                    then()
                    then = None
                if ahead is not None and following is not None:
                    pending = ahead(self._open_page, following)
                yield page
                page.close()
                if following is None or not page.read:
                    return
                page, pending = (pending.result() if pending else self._open_page(following)), None
        finally:
            page.close()
            if pending is not None:
                # Not read after all (the caller stopped): let go of it when it arrives.
                pending.add_done_callback(_close_page)


def _close_page(future: Future) -> None:
    if not future.cancelled() and future.exception() is None:
        future.result().close()


class StreamedPage:
    """One page being read: `total`, `start`, `page_size` and `warnings` from its head, its
    objects as `objects()` yields them (`read` counts them).

    Should the connection break off in the middle, the page is asked for again (`retry`
    says how long to wait, or raises): its first objects may then come twice."""

    def __init__(
        self,
        open_answer: Callable[[], StreamedAnswer],
        *,
        start: int,
        page_size: int,
        retry: Callable[[RallyTransientError, int], None],
    ) -> None:
        self._open_answer, self._retry = open_answer, retry
        self._answer = open_answer()
        head = self._answer.head
        self.total = int(head.get("TotalResultCount", 0))
        self.start = int(head.get("StartIndex", start))
        self.page_size = int(head.get("PageSize") or page_size)
        self.warnings = tuple(head.get("Warnings") or ())
        self.read = 0

    @property
    def next_start(self) -> int | None:
        following = self.start + self.page_size
        return following if following <= self.total else None

    def objects(self) -> Iterator[RallyObject]:
        attempt = 0
        while True:
            try:
                for item in self._answer.results():
                    self.read += 1
                    # Decoded for this object alone: kept as it is, unless it carries the
                    # keys `from_json` leaves out (a copy of each of 2,000 objects a page).
                    if "Errors" in item or "Warnings" in item:
                        yield RallyObject.from_json(item)
                    else:
                        yield RallyObject(fields=item)
                return
            except RallyTransientError as error:
                attempt += 1
                self._retry(error, attempt)
                self._answer = self._open_answer()

    def close(self) -> None:
        self._answer.close()
