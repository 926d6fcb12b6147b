"""The one pager: every page of a collection, following ``next`` (offset and cursor pages alike).

:class:`PageStream` fetches a collection's pages ahead on the client's request thread while the
reader writes the previous one; :class:`_PagingGuard` is where the pager decides whether and
where to go on (``next``, resolved against the request that returned it, or a cursor page's
``cursors.after``), so no answer of Spotify's can make a run loop forever.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

from .errors import PagingError, SpotifyServerError

if TYPE_CHECKING:
    from .client import JSON, SpotifyClient

#: pages the request thread may fetch ahead of the reader (bounded memory)
PAGES_AHEAD = 2


class _Abandoned(Exception):
    """The stream's reader is gone: the request it would have fed is not sent."""


@dataclass(frozen=True)
class Page:
    """One page of a paged collection, whatever its paging style.

    ``items`` holds only JSON objects: elements that are not (Spotify has sent ``null``) are
    dropped by the pager, their places on the page kept in ``skipped``."""

    items: list[JSON]
    total: int | None
    #: False on the last page: the collection is fully read once this page is written
    has_more: bool = False
    #: indexes on the page, as Spotify sent it, of the elements that were not objects
    skipped: tuple[int, ...] = ()

    @property
    def size(self) -> int:
        """How many elements Spotify sent on this page (``skipped`` ones included)."""
        return len(self.items) + len(self.skipped)

    def numbered(self) -> Iterator[tuple[int, JSON]]:
        """``(index on the page, item)``: positions stay true when an element was skipped."""
        index = 0
        for item in self.items:
            while index in self.skipped:
                index += 1
            yield index, item
            index += 1


class _PagingGuard:
    """Where the pager decides whether to go on, and where: the one place that stops a collection
    whose links repeat, that runs past its ``total`` or that pages on with nothing in them, so no
    answer of Spotify's can make a run loop forever. Spotify has served a ``next`` stuck at one
    offset; once everything announced has been read such a link is the end, before that it is an
    error for the dataset (what was read is kept).

    Where to go on, as the spec allows it to be said: ``next`` may be relative (it is resolved
    against the URL of the request that answered it; the client then sends the token to the
    configured API host only), and a cursor page (``CursorPagingObject``: neither ``next`` nor
    ``total`` is required) may say it only with ``cursors.after``: while its ``total`` says items
    are left, the same request goes on ``after`` that cursor. Without a ``total`` a page with no
    ``next`` is the end: no request is made up."""

    def __init__(self, path: str, collection_url: str, query: Mapping[str, str | int]) -> None:
        self._path = path
        self._collection_url = collection_url
        self._query = query
        self._limit = int(query.get("limit", 50))
        self._followed: set[tuple[str, str, str, tuple[tuple[str, str], ...]]] = set()
        #: elements received, objects or not (from the offset the stream started at: a resume)
        self.read = _offset(query)

    def next_url(self, paging: Mapping[str, object], request_url: str, total: int | None, page_size: int) -> str | None:
        self.read += page_size
        self._followed.add(_page_key(request_url))  # a ``next`` naming the page just read repeats it
        link = paging.get("next")
        if isinstance(link, str) and link:
            link = urljoin(request_url, link)
        else:
            link = self._cursor_link(paging.get("cursors"), total)
        if link is None:
            return None
        done = total is not None and self.read >= total
        repeated = _page_key(link) in self._followed
        if repeated or page_size == 0:
            if done:
                return None
            what = "repeated a page" if repeated else "sent an empty page"
            raise PagingError(self._path, f"{what} after {self.read} of {total if total is not None else '?'} items")
        if total is not None and self.read > total + self._limit:
            raise PagingError(self._path, f"went on past its total of {total} items")
        self._followed.add(_page_key(link))  # as written too: a link to Spotify's own host is read elsewhere
        return link

    def _cursor_link(self, cursors: object, total: int | None) -> str | None:
        """The collection's first request again, ``after`` the cursor, while ``total`` says items are left."""
        after = cursors.get("after") if isinstance(cursors, dict) else None
        if not isinstance(after, str) or not after or total is None or self.read >= total:
            return None
        return f"{self._collection_url}?{urlencode({**self._query, 'after': after})}"


def _page_key(url: str) -> tuple[str, str, str, tuple[tuple[str, str], ...]]:
    """A page's URL as the repeat guard compares it: its query parameters in any order."""
    parts = urlsplit(url)
    return parts.scheme, parts.netloc, parts.path, tuple(sorted(parse_qsl(parts.query, keep_blank_values=True)))


def _offset(query: Mapping[str, str | int]) -> int:
    try:
        return max(0, int(query.get("offset", 0)))
    except ValueError:
        return 0


class PageStream:
    """The pages of one collection, fetched ahead by the client's request thread.

    That thread follows ``next`` by itself, at most :data:`PAGES_AHEAD` pages ahead of the
    reader, so our CPU work (rows, CSV, gzip) hides behind Spotify's latency while requests
    still go out strictly one at a time. Errors reach the reader at the page they concern.

    A page is handed to the reader only once the request for the next one is on its way: the
    reader's work then runs while the request thread waits for the answer, instead of competing
    for the GIL with what that thread does between an answer and the next request (parsing,
    preparing the request), which adds to the run's wall time request after request.
    """

    def __init__(
        self, client: SpotifyClient, path: str, query: Mapping[str, str | int], container_key: str | None
    ) -> None:
        self._client = client
        self._path = path
        self._container_key = container_key
        # unbounded: ``_room`` bounds the pages in it, and errors always fit
        self._pages: queue.SimpleQueue[Page | BaseException] = queue.SimpleQueue()
        self._room = threading.Semaphore(PAGES_AHEAD)
        self._abandoned = threading.Event()
        self._ready: Page | None = None  # read, not yet handed over
        client._streams.add(self)
        self._task = client._in_order(self._fetch_all, query)

    def abandon(self) -> None:
        """Nobody will read further: stop fetching (and never block the request thread waiting for room)."""
        self._abandoned.set()

    def _fetch_all(self, query: Mapping[str, str | int]) -> None:
        url: str | None = self._path
        params: Mapping[str, str | int] | None = query
        guard = _PagingGuard(self._path, self._client.absolute_url(self._path), query)
        stop: PagingError | None = None
        try:
            while url:
                if self._ready is not None:
                    self._make_room()
                body = self._client.get_json(url, params, on_sent=self._hand_over)
                paging = body.get(self._container_key, {}) if self._container_key else body
                if not isinstance(paging, dict):
                    raise SpotifyServerError(self._path, 1, "a page without its paging object")
                elements = paging.get("items") or []
                if not isinstance(elements, list):
                    raise SpotifyServerError(self._path, 1, "a page whose items are not a list")
                total = paging.get("total")
                total = total if isinstance(total, int) and not isinstance(total, bool) else None
                here = self._client.absolute_url(url) + (f"?{urlencode(params)}" if params else "")
                try:
                    url, params = guard.next_url(paging, here, total, len(elements)), None
                except PagingError as error:  # raised to the reader after this page, which is fine
                    stop, url = error, None
                items = [element for element in elements if isinstance(element, dict)]
                skipped = tuple(n for n, element in enumerate(elements) if not isinstance(element, dict))
                self._ready = Page(items, total, has_more=url is not None or stop is not None, skipped=skipped)
            self._make_room()
            self._hand_over()
            if stop is not None:
                raise stop
        except _Abandoned:
            pass
        except BaseException as error:  # handed to the reader, raised there
            self._pages.put(error)

    def _make_room(self) -> None:
        """Wait until the reader is fewer than :data:`PAGES_AHEAD` pages behind (bounded memory)."""
        while not self._room.acquire(timeout=0.1):
            if self._abandoned.is_set():
                raise _Abandoned()
        if self._abandoned.is_set():
            raise _Abandoned()  # nobody reads on: the next request is not sent

    def _hand_over(self) -> None:
        """Give the reader the page read last (its room is already reserved: this never blocks)."""
        page, self._ready = self._ready, None
        if page is not None:
            self._pages.put(page)

    def _next(self) -> Page:
        while True:
            try:
                item = self._pages.get(timeout=0.5)
            except queue.Empty:
                if self._task.done() and self._pages.empty():
                    raise SpotifyServerError(self._path, 1, "the request thread stopped") from None
                continue
            if isinstance(item, BaseException):
                raise item
            self._room.release()
            return item

    def __iter__(self) -> Iterator[Page]:
        try:
            while True:
                page = self._next()
                yield page
                if not page.has_more:
                    return
        finally:
            self.abandon()
