"""Playlist items carried over from the previous complete snapshot (incremental export).

Spotify's ``snapshot_id`` is a playlist's version: equal id, equal items. A playlist whose
id matches the one in the latest complete snapshot need not be read again; its items are
copied from that snapshot's JSON copy, so the new snapshot is still complete and
self-contained. The old items file is unpacked once into a temporary file with an index
by playlist (memory holds offsets, not items) because the new run may want the playlists
in another order than the old one stored them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import IO

from . import rows
from .history import JSON, SnapshotReader, playlist_of_item_line


@dataclass(frozen=True)
class _Span:
    offset: int
    length: int
    items: int


class PlaylistArchive:
    """The JSON Lines of chosen playlists of one snapshot, readable in any order, and which
    playlists the export takes from it (none in an empty archive: a full read)."""

    def __init__(self, spans: dict[str, _Span] | None = None, spool: IO[bytes] | None = None) -> None:
        self._spans = spans or {}
        self._spool = spool
        self._reused: dict[str, str] = {}  # playlist id -> its items_status in the base snapshot
        #: playlists of which the archive holds the first items only (id -> how many), for a resume
        self.started: dict[str, int] = {}

    def reuse(self, statuses: dict[str, str]) -> None:
        """Take these playlists (id -> ``items_status``) from the archive instead of reading them."""
        self._reused = statuses

    @property
    def size(self) -> int:
        """How many playlists the export takes from the archive."""
        return len(self._reused)

    def has(self, playlist: JSON) -> bool:
        return str(playlist.get("id")) in self._reused

    def status(self, playlist_id: str) -> str:
        return self._reused[playlist_id]

    @classmethod
    def load(cls, base: SnapshotReader, wanted: set[str]) -> PlaylistArchive:
        """Copy the items of the ``wanted`` playlists out of ``base`` (checked against its manifest)."""
        spool = tempfile.TemporaryFile(prefix="spotify-exporter-", suffix=".jsonl")  # noqa: SIM115 (owned by the archive)
        spans: dict[str, _Span] = {}
        try:
            current: str | None = None
            start = count = 0
            for line in base.lines("playlist_items"):
                playlist_id = playlist_of_item_line(line)
                if playlist_id != current:
                    if current is not None and current in wanted:
                        spans[current] = _Span(start, spool.tell() - start, count)
                    current, start, count = playlist_id, spool.tell(), 0
                if playlist_id in wanted:
                    spool.write(line if line.endswith(b"\n") else line + b"\n")
                    count += 1
            if current is not None and current in wanted:
                spans[current] = _Span(start, spool.tell() - start, count)
        except BaseException:
            spool.close()
            raise
        return cls(spans, spool)

    def item_count(self, playlist_id: str) -> int | None:
        """How many items the base holds for the playlist (None: none stored, e.g. an empty one)."""
        span = self._spans.get(playlist_id)
        return span.items if span else None

    def lines(self, playlist_id: str) -> Iterator[bytes]:
        span = self._spans.get(playlist_id)
        if span is None or self._spool is None:
            return
        self._spool.seek(span.offset)
        yield from self._spool.read(span.length).splitlines()

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()

    def __enter__(self) -> PlaylistArchive:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def unchanged_playlists(source: SnapshotReader, playlists: list[JSON], started: bool = False) -> PlaylistArchive:
    """The items ``source`` holds of every listed playlist it has at the same ``snapshot_id`` and item
    count, all of them (``exported``) or refused (``forbidden``); raises when ``source`` is unreadable.

    ``started``: also the first items of playlists at the same version that ``source`` could not read
    to the end (``failed``), in the archive's ``started``."""
    before = {row["playlist_id"]: row for row in source.csv_rows("playlists")}
    unchanged = {
        str(p["id"]): p
        for p in playlists
        if (old := before.get(str(p.get("id"))))
        and old["items_status"] in ("exported", "forbidden")
        and p.get("snapshot_id")
        and old["snapshot_id"] == p.get("snapshot_id")
        and old["item_count"] == str(rows.playlist_item_total(p))
    }
    cut_off = {
        str(p["id"])
        for p in playlists
        if started
        and (old := before.get(str(p.get("id"))))
        and old["items_status"] == "failed"
        and p.get("snapshot_id")
        and old["snapshot_id"] == p.get("snapshot_id")
    }
    if not unchanged and not cut_off:
        return PlaylistArchive()
    exported = {pid for pid in unchanged if before[pid]["items_status"] == "exported"}
    archive = PlaylistArchive.load(source, exported | cut_off)
    archive.started = {pid: count for pid in cut_off if (count := archive.item_count(pid) or 0)}
    archive.reuse(
        {
            pid: before[pid]["items_status"]
            for pid in unchanged
            if pid not in exported or (archive.item_count(pid) or 0) == rows.playlist_item_total(unchanged[pid])
        }
    )
    return archive
