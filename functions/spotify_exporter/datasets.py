"""The datasets of a snapshot as declarations: which endpoint, which rows, in which order; and what
became of each in a run (:class:`DatasetOutcome`, which the manifest records), as a progress
display is told it. The run itself is :mod:`.export`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from . import rows
from .errors import ForbiddenError, SpotifyRequestError, SpotifyServerError
from .rows import JSON

#: errors that concern one dataset only; anything else stops the run
DATASET_ERRORS = (ForbiddenError, SpotifyServerError, SpotifyRequestError)


@dataclass(frozen=True)
class SimpleDataset:
    """A paged collection exported row for row: a declaration, not a loop."""

    name: str
    path: str
    columns: tuple[str, ...]
    to_row: Callable[[JSON], rows.Row]
    params: dict[str, str] = field(default_factory=dict)
    container_key: str | None = None


LIBRARY = SimpleDataset("library", "/me/tracks", rows.LIBRARY_COLUMNS, rows.library_row)
AFTER_PLAYLISTS = (
    SimpleDataset("albums", "/me/albums", rows.ALBUM_COLUMNS, rows.album_row),
    SimpleDataset("artists", "/me/following", rows.ARTIST_COLUMNS, rows.artist_row, {"type": "artist"}, "artists"),
    SimpleDataset("shows", "/me/shows", rows.SHOW_COLUMNS, rows.show_row),
    SimpleDataset("episodes", "/me/episodes", rows.EPISODE_COLUMNS, rows.episode_row),
    SimpleDataset("audiobooks", "/me/audiobooks", rows.AUDIOBOOK_COLUMNS, rows.audiobook_row),
)
DATASET_ORDER = ("library", "playlists", "playlist_items", *(d.name for d in AFTER_PLAYLISTS))


class ProgressSink(Protocol):
    """Told how far each dataset has come; the CLI draws it, the function app ignores it."""

    def started(self, dataset: str, total: int | None) -> None: ...

    def advanced(self, dataset: str, rows: int) -> None: ...

    def finished(self, dataset: str, outcome: DatasetOutcome) -> None: ...


class NoProgress:
    """Progress nobody watches (the function app's)."""

    def started(self, dataset: str, total: int | None) -> None:
        pass

    def advanced(self, dataset: str, rows: int) -> None:
        pass

    def finished(self, dataset: str, outcome: DatasetOutcome) -> None:
        pass


@dataclass
class DatasetOutcome:
    """``complete``, ``failed`` (an error after retries; rows read so far are kept),
    ``unavailable`` (the API refuses the endpoint to this app) or ``skipped`` (the run stopped first)."""

    status: str = "complete"
    count: int = 0
    error: str | None = None
    extra: dict[str, int] = field(default_factory=dict)

    def as_manifest(self) -> dict[str, object]:
        entry: dict[str, object] = {"status": self.status, "count": self.count, **self.extra}
        if self.error:
            entry["error"] = self.error
        return entry
