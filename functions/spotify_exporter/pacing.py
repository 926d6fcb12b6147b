"""Client-side pacing: Spotify counts requests over a rolling 30 s window and answers
bursts with bans that can last hours, so we never send more than N requests per window.

The window belongs to the app, not to one run: when several accounts are exported one after
the other (a household), each run starts with the requests of the one before it that are
still inside the window (:meth:`RequestPacer.recent_ages`, ``earlier_ages``)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable


class RequestPacer:
    """Blocks until sending one more request keeps us within ``max_requests`` per ``window_s``."""

    def __init__(
        self,
        max_requests: int,
        window_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        earlier_ages: Iterable[float] = (),
    ) -> None:
        if max_requests < 1:
            raise ValueError("max_requests must be at least 1")
        self._max = max_requests
        self._window = window_s
        self._clock = clock
        self._sleep = sleep
        now = clock()
        #: ``earlier_ages``: how long ago another run sent its last requests (seconds)
        self._sent: deque[float] = deque(sorted(now - age for age in earlier_ages if 0 <= age < window_s))

    def recent_ages(self) -> list[float]:
        """How long ago (seconds) each request still inside the window was sent, oldest first."""
        now = self._clock()
        return [now - sent for sent in self._sent if now - sent < self._window]

    def wait_turn(self) -> float:
        """Wait (if needed) for a free slot, record the request, and return the seconds waited."""
        waited = 0.0
        while True:
            now = self._clock()
            while self._sent and self._sent[0] + self._window <= now:
                self._sent.popleft()
            if len(self._sent) < self._max:
                self._sent.append(now)
                return waited
            # a millisecond past the edge, so float rounding never leaves us a hair short of it
            pause = self._sent[0] + self._window - now + 1e-3
            self._sleep(pause)
            waited += pause
