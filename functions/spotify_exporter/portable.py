"""Portable playlists: liked songs and every playlist as XSPF and JSPF, for other services and players.

XSPF is Xiph's XML playlist format (https://www.xspf.org/spec), JSPF its JSON form
(https://www.xspf.org/jspf) which ListenBrainz imports (https://musicbrainz.org/doc/jspf). Each
file carries what another service needs to find the songs again: per item, in playlist order,
title, creator (artists joined with "; " as in the CSVs), album, duration in ms and, as
identifiers, the Spotify URL and ``isrc:<ISRC>``. Episodes carry their show as album, local
files keep their names without identifiers, and an item Spotify no longer returns is kept as an
entry whose annotation says so, never dropped.

The entries are made from the very records the JSON copy holds, as they are written (during an
export, while the next page is on its way), so an export, an incremental export that copied
unchanged playlists and ``spotify-exporter portable`` reading an older snapshot's JSON copy (with
its SHA-256 checks) write the same bytes. Memory holds the playlist list, never a playlist's
items: entries go to temporary spool files until each playlist's file is put together. The
entries and the two formats themselves are in :mod:`.portable_formats`.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import IO, Protocol
from urllib.parse import quote

import orjson

from . import rows
from .errors import ExporterError
from .history import JSON, SnapshotReader
from .portable_formats import (
    PortableHead,
    PortableTrack,
    entry_from_row,
    jspf_head_and_end,
    jspf_track,
    optional_text,
    spotify_url,
    xspf_head_and_end,
    xspf_track,
    xspf_tracks,
)
from .snapshot import LIKED_SONGS_NAME, StreamedFile, liked_songs_base_name, portable_base_name
from .stores import SnapshotStore

#: the relative way from a file in ``portable/`` to the snapshot's ``covers/``
COVER_PREFIX = "../"

ITEMS_NOT_READ = {
    "forbidden": "Spotify did not let this app read the items of this playlist (someone else's, followed "
    "by the account), so none are in this file.",
    "failed": "The items of this playlist could not be read in full in this snapshot; this file holds those that were.",
}
LIBRARY_NOT_READ = "Liked songs could not be read in full in this snapshot; this file holds those that were."


class PortableFiles(Protocol):
    """Where portable files go: a snapshot being written, or a folder of the user's."""

    def stream_file(self, name: str) -> AbstractContextManager[StreamedFile]: ...


@dataclass
class PortableIndex:
    """The manifest's ``portable`` entry: which files hold which playlist."""

    liked_songs: dict[str, str] = field(default_factory=dict)
    playlists: dict[str, dict[str, str]] = field(default_factory=dict)

    def as_manifest(self) -> dict[str, object]:
        return {"liked_songs": self.liked_songs, "playlists": self.playlists}


# -- a whole snapshot --------------------------------------------------------------------------


def _obj(value: object) -> JSON:
    return value if isinstance(value, dict) else {}


def playlist_head(playlist: JSON, items_status: str, cover: str | None) -> PortableHead:
    owner = _obj(playlist.get("owner"))
    # Spotify sends descriptions HTML-escaped ("&amp;", "&#x27;"); the formats want the plain text
    notes = [rows.playlist_description(playlist).strip(), ITEMS_NOT_READ.get(items_status, "")]
    return PortableHead(
        title=optional_text(playlist.get("name")),
        creator=optional_text(owner.get("display_name")) or optional_text(owner.get("id")),
        annotation="\n\n".join(n for n in notes if n) or None,
        identifier=spotify_url(playlist.get("uri")) or spotify_url(f"spotify:playlist:{playlist.get('id')}"),
        image=COVER_PREFIX + quote(cover) if cover else None,
        public=playlist.get("public") is True,
    )


def liked_songs_head(profile: JSON, library_status: str) -> PortableHead:
    who = optional_text(profile.get("display_name")) or optional_text(profile.get("id"))
    notes = [f"Liked Songs of {who} on Spotify, newest first." if who else "Liked Songs on Spotify, newest first."]
    if library_status not in ("complete", "missing"):
        notes.append(LIBRARY_NOT_READ)
    return PortableHead(title=LIKED_SONGS_NAME, creator=who, annotation="\n\n".join(notes))


def _covers(source: SnapshotReader, playlist_ids: list[str]) -> dict[str, str]:
    """The saved custom cover of each playlist (the manifest says; older ones only have the files)."""
    listed = source.manifest.get("covers")
    if isinstance(listed, dict):
        return {str(k): str(v) for k, v in listed.items() if source.has_file(str(v))}
    return {pid: f"covers/{pid}.jpg" for pid in playlist_ids if source.has_file(f"covers/{pid}.jpg")}


def _base_names(playlists: list[JSON]) -> dict[str, str]:
    """A file name per playlist id, unique even where file names ignore case (Windows, macOS)."""
    names: dict[str, str] = {}
    taken = {liked_songs_base_name().casefold()}
    for playlist in playlists:
        pid = str(playlist.get("id"))
        if pid in names:
            continue
        base = portable_base_name(str(playlist.get("name") or ""), pid)
        if base.casefold() in taken:  # ids that differ only in case: astronomically rare, still handled
            base = f"{base[:-1]}-{hashlib.sha256(pid.encode()).hexdigest()[:8]})"
        taken.add(base.casefold())
        names[pid] = base
    return names


class PortableError(ExporterError):
    """The portable playlists could not be made (the rest of the snapshot is not affected)."""


@dataclass(frozen=True)
class _Span:
    """Where one playlist's serialized entries lie in the two spool files."""

    xspf: tuple[int, int]  # offset, length
    jspf: tuple[int, int]
    count: int


_LIKED = ""  # the spool key of liked songs (no playlist has an empty id)
_COPY_CHUNK = 1 << 20
#: XSPF entries serialized together
_XSPF_BATCH = 64
#: portable files written at the same time (each holds at most two store buffers)
_WRITERS = 4


class PortableBuilder:
    """Turns liked songs and playlist items into portable entries as they are written.

    Each entry is serialized in both formats at once and appended to one of two temporary spool
    files (a playlist's entries lie together, as in the JSON copy); ``write`` puts each file
    together from head, spooled entries and end, once the playlist list, the covers and the item
    statuses are known. During an export the entries are made while the next page is on its way.
    """

    def __init__(self) -> None:
        self._failure: Exception | None = None
        self._spools: tuple[IO[bytes], IO[bytes]] | None = None
        self._locks = (threading.Lock(), threading.Lock())
        self._spans: dict[str, _Span] = {}
        self._key: str | None = None
        self._skipping = False
        self._start = (0, 0)
        self._count = 0
        self._pending: list[ET.Element] = []  # XSPF entries not serialized yet

    def add_liked(self, row: rows.Row, raw: object) -> None:
        """A liked song: its ``library.csv`` row (and the saved-track object, not needed)."""
        self._guarded(_LIKED, row)

    def add_item(self, row: rows.Row, raw: object) -> None:
        """A playlist item: its ``playlist_items.csv`` row and its ``{"playlist_id", "position",
        "entry"}`` record, which names the playlist."""
        playlist_id = _obj(raw).get("playlist_id")
        if isinstance(playlist_id, str) and playlist_id:
            self._guarded(playlist_id, row)

    def _guarded(self, key: str, row: rows.Row) -> None:
        """Add an entry; a failure here (a full temp disk, a bug) must not cost the export its data,
        so it is kept and reported by ``write`` instead."""
        if self._failure is not None:
            return
        try:
            self._add(key, entry_from_row(row))
        except Exception as error:
            self._failure = error

    def _add(self, key: str, track: PortableTrack) -> None:
        if key != self._key:
            self._end_group()
            self._key, self._skipping, self._count = key, key in self._spans, 0  # a playlist listed twice
            self._start = self._tell()
        if self._skipping:
            return
        _, jspf = self._open()
        self._pending.append(xspf_track(track))
        if len(self._pending) >= _XSPF_BATCH:
            self._flush_xspf()
        jspf.write(jspf_track(track, first=self._count == 0))
        self._count += 1

    def _flush_xspf(self) -> None:
        if self._pending and self._spools is not None:
            self._spools[0].write(xspf_tracks(self._pending))
        self._pending = []

    def _open(self) -> tuple[IO[bytes], IO[bytes]]:
        if self._spools is None:
            self._spools = (
                tempfile.TemporaryFile(prefix="spotify-exporter-", suffix=".xspf"),  # noqa: SIM115 (closed by close())
                tempfile.TemporaryFile(prefix="spotify-exporter-", suffix=".jspf"),  # noqa: SIM115
            )
        return self._spools

    def _tell(self) -> tuple[int, int]:
        return (self._spools[0].tell(), self._spools[1].tell()) if self._spools else (0, 0)

    def _end_group(self) -> None:
        self._flush_xspf()
        if self._key is not None and not self._skipping:
            end = self._tell()
            self._spans[self._key] = _Span(
                (self._start[0], end[0] - self._start[0]), (self._start[1], end[1] - self._start[1]), self._count
            )
        self._key = None

    def write(self, source: SnapshotReader, files: PortableFiles) -> PortableIndex:
        """Write the files of liked songs and of every playlist that ``source`` lists."""
        if self._failure is not None:
            raise PortableError(f"the entries could not be prepared: {self._failure}") from self._failure
        self._end_group()
        for spool in self._spools or ():
            spool.flush()
        liked = liked_songs_head(source.profile(), source.dataset_status("library"))
        playlists = [p for p in source.records("playlists") if p.get("id")]  # a few hundred small objects
        by_id = {str(p["id"]): p for p in reversed(playlists)}  # of duplicates, the first one counts
        names = _base_names(playlists)
        statuses = source.items_status()
        covers = _covers(source, list(names))
        # one file at a time, a thousand playlists cost a thousand fsyncs or uploads one after the
        # other; a few at once overlap them (each pair is still written whole or not at all)
        with ThreadPoolExecutor(max_workers=_WRITERS, thread_name_prefix="portable") as pool:
            liked_files = pool.submit(self._write_pair, files, liked_songs_base_name(), liked, _LIKED)
            playlist_files = {
                pid: pool.submit(
                    self._write_pair,
                    files,
                    base_name,
                    playlist_head(by_id[pid], statuses.get(pid, "exported"), covers.get(pid)),
                    pid,
                )
                for pid, base_name in names.items()
            }
        return PortableIndex(liked_files.result(), {pid: job.result() for pid, job in playlist_files.items()})

    def _write_pair(self, files: PortableFiles, base_name: str, head: PortableHead, key: str) -> dict[str, str]:
        names = {"xspf": f"{base_name}.xspf", "jspf": f"{base_name}.jspf"}
        heads = {"xspf": xspf_head_and_end(head), "jspf": jspf_head_and_end(head)}
        span = self._spans.get(key)
        with ExitStack() as stack:  # both files whole, or neither
            for spool_index, kind in enumerate(("xspf", "jspf")):
                target = stack.enter_context(files.stream_file(names[kind]))
                start, end = heads[kind]
                target.stream.write(start)
                if span is not None:
                    self._copy(spool_index, span.xspf if kind == "xspf" else span.jspf, target.stream)
                    target.rows = span.count
                target.stream.write(end)
        return names

    def _copy(self, spool_index: int, where: tuple[int, int], target: IO[bytes]) -> None:
        """Copy a span of a spool file, a chunk at a time (the writers share the file: seek and read
        happen under its lock)."""
        assert self._spools is not None
        spool, lock = self._spools[spool_index], self._locks[spool_index]
        offset, remaining = where
        while remaining > 0:
            with lock:
                spool.seek(offset)
                chunk = spool.read(min(remaining, _COPY_CHUNK))
            if not chunk:
                raise OSError("a portable playlist spool file ended early")
            target.write(chunk)
            offset += len(chunk)
            remaining -= len(chunk)

    def close(self) -> None:
        if self._spools is not None:
            for spool in self._spools:
                spool.close()
            self._spools = None

    def __enter__(self) -> PortableBuilder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_portable_playlists(source: SnapshotReader, files: PortableFiles) -> PortableIndex:
    """The portable files of an existing snapshot, from its JSON copy (every file hash-checked)."""
    with PortableBuilder() as builder:
        for saved in source.records("library"):
            builder.add_liked(rows.library_row(saved), saved)
        for line in source.lines("playlist_items"):
            envelope = _obj(orjson.loads(line))
            builder.add_item(rows.playlist_item_row({}, 0, _obj(envelope.get("entry"))), envelope)
        return builder.write(source, files)


class StoreFiles:
    """Portable files written straight into a store (``spotify-exporter portable --out``)."""

    def __init__(self, store: SnapshotStore) -> None:
        self.store = store

    @contextmanager
    def stream_file(self, name: str) -> Iterator[StreamedFile]:
        with self.store.open_write(name) as stream:
            yield StreamedFile(stream)


def copy_portable_playlists(source: SnapshotReader, target: SnapshotStore) -> PortableIndex:
    """The portable files of an existing snapshot into ``target``, laid out as in a snapshot
    (``portable/`` and the ``covers/`` its files point to), so the relative cover links work."""
    index = write_portable_playlists(source, StoreFiles(target))
    for cover in sorted(_covers(source, list(index.playlists)).values()):
        with target.open_write(cover) as stream:
            stream.write(source.read_bytes(cover))
    return index
