"""The people who use one app: each with an account of their own, reached by their own tokens.

A development-mode Spotify app admits up to five allow-listed users, so one deployment of the
exporter may back up a household. They share the app (client id and secret) and so its rate
limit, but each one's refresh token opens only their own account. The simulator's first user is
the account it was started with; ``SpotifySimulator.add_user(account)`` adds the others.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import TypeVar

from . import truth
from .model import PAGE, Account
from .render import Renderer
from .writes import Editor, Fingerprint, bump

T = TypeVar("T")


class SimulatedUser:
    """One person of the app: their account, the editor that changes it and the renderer that
    shows it, and how many API requests were answered for them."""

    def __init__(
        self, index: int, account: Account, data: threading.RLock, clock: Callable[[], float], render: Renderer
    ) -> None:
        self.index = index
        self.account = account
        self._data = data
        self.edit = Editor(account, data, clock)
        self.render = render
        #: API requests made with this user's access tokens (any status), and when each arrived
        self.requests = 0
        self.request_times: list[float] = []
        #: set by the simulator: the refresh token that works for this user now
        self.current_refresh_token: Callable[[], str] = lambda: ""

    @property
    def id(self) -> str:
        return self.account.me.id

    @property
    def refresh_token(self) -> str:
        """The user's refresh token that works now (the newest one when tokens rotate)."""
        return self.current_refresh_token()

    def expected_rows(self, dataset: str) -> list[dict[str, str]]:
        """The rows a snapshot of this user taken now must hold (writes included)."""
        with self._data:
            return truth.expected_rows(self.account, dataset)

    def minimal_requests(self) -> int:
        """The fewest API requests that read everything now, at 50 per page (an empty list still takes one)."""
        a = self.account

        def pages(n: int) -> int:
            return max(1, math.ceil(n / PAGE))

        with self._data:
            total = 1 + sum(
                pages(len(things))
                for things in (a.liked, a.playlists, a.albums, a.artists, a.shows, a.episodes, a.audiobooks)
            )
            return total + sum(pages(len(p.entries)) if p.readable else 1 for p in a.playlists)

    def change(self, fn: Callable[[Account], T]) -> T:
        """Run ``fn(account)`` as one change, with reads and writes held off; return what it returns.

        Afterwards every playlist whose name, description, flags, owner, items or cover changed
        gets a new snapshot id (unless ``fn`` set one), and playlists ``fn`` put into
        ``account.playlists`` join the world.
        """
        a = self.account
        with self._data:
            before = {p.id: Fingerprint.of(p) for p in [*a.world.values(), *a.playlists]}
            try:
                return fn(a)
            finally:
                self._after_change(before)

    def _after_change(self, before: dict[str, Fingerprint]) -> None:
        """New playlists join the world; changed ones get a new snapshot id (also when ``fn`` failed half way)."""
        a = self.account
        for playlist in a.playlists:
            if playlist.id not in a.world:
                a.world[playlist.id] = playlist
        for playlist in a.world.values():
            old = before.get(playlist.id)
            if old is None:
                if not playlist.snapshot_id:
                    bump(playlist, a)
            elif old.snapshot_id != playlist.snapshot_id:
                playlist.history.append(old.snapshot_id)
            elif old != Fingerprint.of(playlist):
                bump(playlist, a)
