"""An overall deadline per HTTP request, whatever the server does.

Socket timeouts bound each ``recv``, not a request: a server that drips one byte every few
seconds keeps a request open for ever while every read succeeds. So each request runs inside
:meth:`Watchdog.limit`; the connection that carries it registers itself (see
``transport._SignallingConnection``), and once the deadline passes the watchdog shuts that
connection's socket down. The blocked read then returns at once, the request fails as a broken
connection, and :attr:`Limit.expired` tells the caller it was the deadline. One thread watches
every request of a client; it sleeps until the earliest deadline and costs nothing per request
beyond a lock.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

_current = threading.local()


class Limit:
    """One request's deadline (``time.monotonic`` seconds) and the connection carrying it."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = False
        self._connection: Any = None

    def _cut(self) -> None:
        self.expired = True
        sock = getattr(self._connection, "sock", None)
        if sock is not None:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class Watchdog:
    """Cuts the connections of requests that outlive their :class:`Limit`."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._limits: set[Limit] = set()
        self._wake_at: float | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    @contextmanager
    def limit(self, seconds: float) -> Iterator[Limit]:
        """Requests sent by this thread inside the block are cut ``seconds`` from now."""
        limit = Limit(time.monotonic() + max(0.0, seconds))
        with self._changed:
            self._limits.add(limit)
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(target=self._watch, name="spotify-deadlines", daemon=True)
                self._thread.start()
            if self._wake_at is None or limit.deadline < self._wake_at:
                self._changed.notify()
        outer, _current.limit = getattr(_current, "limit", None), limit
        try:
            yield limit
        finally:
            _current.limit = outer
            with self._changed:
                self._limits.discard(limit)

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _watch(self) -> None:
        with self._changed:
            while not self._stopped:
                now = time.monotonic()
                for limit in [limit for limit in self._limits if not limit.expired and limit.deadline <= now]:
                    limit._cut()
                waiting = [limit.deadline for limit in self._limits if not limit.expired]
                self._wake_at = min(waiting) if waiting else None
                self._changed.wait(None if self._wake_at is None else self._wake_at - now)


def attach(connection: Any) -> None:
    """Called by a connection as it sends a request: the current limit (if any) now covers it; a
    limit already past cuts it at once."""
    limit: Limit | None = getattr(_current, "limit", None)
    if limit is not None:
        limit._connection = connection
        if limit.expired:
            limit._cut()
