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
items: entries go to temporary spool files until each playlist's file is put together.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import IO, Any, Protocol
from urllib.parse import quote

import orjson

from . import rows
from .errors import ExporterError
from .history import JSON, SnapshotReader
from .snapshot import LIKED_SONGS_NAME, StreamedFile, liked_songs_base_name, portable_base_name
from .stores import SnapshotStore

XSPF_NAMESPACE = "http://xspf.org/ns/0/"
#: ListenBrainz reads a playlist's flags from this extension (https://musicbrainz.org/doc/jspf)
MUSICBRAINZ_PLAYLIST_EXTENSION = "https://musicbrainz.org/doc/jspf#playlist"
SPOTIFY_WEB = "https://open.spotify.com"
#: the relative way from a file in ``portable/`` to the snapshot's ``covers/``
COVER_PREFIX = "../"

UNAVAILABLE_NOTE = "Unavailable: Spotify returned no track or episode here (removed, or not playable in this market)"
LOCAL_NOTE = "Local file: on the owner's device, not on Spotify"
ITEMS_NOT_READ = {
    "forbidden": "Spotify did not let this app read the items of this playlist (someone else's, followed "
    "by the account), so none are in this file.",
    "failed": "The items of this playlist could not be read in full in this snapshot; this file holds those that were.",
}
LIBRARY_NOT_READ = "Liked songs could not be read in full in this snapshot; this file holds those that were."

_ISRC = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$")
_SPOTIFY_ID = re.compile(r"^[0-9A-Za-z]+$")
#: code points XML 1.0 does not allow, even escaped
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class PortableTrack:
    """One entry of a portable playlist; empty fields are left out of the files."""

    title: str | None = None
    creator: str | None = None
    album: str | None = None
    duration_ms: int | None = None
    identifiers: tuple[str, ...] = ()
    annotation: str | None = None


@dataclass(frozen=True)
class PortableHead:
    """What a portable playlist says about itself."""

    title: str | None = None
    creator: str | None = None
    annotation: str | None = None
    identifier: str | None = None
    image: str | None = None
    public: bool = False


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


# -- items -------------------------------------------------------------------------------------


def _text(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def spotify_url(uri: object) -> str | None:
    """``spotify:track:<id>`` as its web address (``https://open.spotify.com/track/<id>``)."""
    parts = uri.split(":") if isinstance(uri, str) else []
    if len(parts) != 3 or parts[0] != "spotify" or parts[1] not in ("track", "episode", "playlist"):
        return None
    return f"{SPOTIFY_WEB}/{parts[1]}/{parts[2]}" if _SPOTIFY_ID.match(parts[2]) else None


def isrc_identifier(isrc: object) -> str | None:
    """``isrc:<ISRC>`` for a well-formed ISRC (12 characters; spaces and hyphens dropped)."""
    if not isinstance(isrc, str):
        return None
    code = isrc.replace("-", "").replace(" ", "").upper()
    return f"isrc:{code}" if _ISRC.match(code) else None


def track_from_row(row: rows.Row, item_type: str) -> PortableTrack:
    """An entry made from the same row as the CSV, so the two never disagree."""
    if item_type == "unavailable":
        return PortableTrack(annotation=UNAVAILABLE_NOTE)
    duration = row.get("duration_ms")
    if not isinstance(duration, int) or isinstance(duration, bool) or duration < 0:
        duration = None
    identifiers: tuple[str, ...] = ()
    if item_type != "local":
        identifiers = tuple(i for i in (spotify_url(row.get("track_uri")), isrc_identifier(row.get("isrc"))) if i)
    return PortableTrack(
        title=_text(row.get("track_name")),
        creator=_text(row.get("artists")),
        album=_text(row.get("album")),
        duration_ms=duration,
        identifiers=identifiers,
        annotation=LOCAL_NOTE if item_type == "local" else None,
    )


def entry_from_row(row: rows.Row) -> PortableTrack:
    """A CSV row of ``playlist_items`` or ``library`` as an entry (liked songs have no ``item_type``:
    a saved track without name or URI is one Spotify no longer returns)."""
    item_type = row.get("item_type")
    if item_type is None:
        uri = row.get("track_uri")
        if uri is None and row.get("track_name") is None:
            item_type = "unavailable"
        else:
            item_type = "local" if str(uri).startswith("spotify:local:") else "track"
    return track_from_row(row, str(item_type))


# -- the two formats ---------------------------------------------------------------------------
#
# Each format is written as a head, the entries and an end, so that a playlist of any length
# streams. The head is the whole document serialized with an empty track list (by ElementTree
# and orjson, which escape everything) and cut open where the entries go: no markup is typed by
# hand, and every file parses whole.


def _xml_children(parent: ET.Element, fields: list[tuple[str, str | None]], indent: str) -> None:
    """Text children of ``parent`` for the fields that have a value, one per indented line."""
    parent.text = "\n" + indent + "  "
    last: ET.Element | None = None
    for name, value in fields:
        if value is not None:
            last = ET.SubElement(parent, name)
            last.text = _NOT_XML.sub("", value)
            last.tail = parent.text
    if last is not None:
        last.tail = "\n" + indent


_HEAD_FIELDS = ("title", "creator", "annotation", "identifier", "image")


def xspf_head_and_end(head: PortableHead) -> tuple[bytes, bytes]:
    root = ET.Element("playlist", {"xmlns": XSPF_NAMESPACE, "version": "1"})
    _xml_children(root, [*((name, getattr(head, name)) for name in _HEAD_FIELDS), ("trackList", "")], "")
    document = ET.tostring(root, encoding="unicode", short_empty_elements=False)
    split = document.rindex("</trackList>")
    return document[:split].encode(), ("\n  " + document[split:] + "\n").encode()


def xspf_track(track: PortableTrack) -> ET.Element:
    element = ET.Element("track")
    fields: list[tuple[str, str | None]] = [("identifier", i) for i in track.identifiers]
    fields += [("title", track.title), ("creator", track.creator), ("annotation", track.annotation)]
    fields += [("album", track.album), ("duration", None if track.duration_ms is None else str(track.duration_ms))]
    _xml_children(element, fields, "    ")
    return element


_BATCH = "trackList"


def xspf_tracks(elements: list[ET.Element]) -> bytes:
    """Serialized ``<track>`` elements, each on its own indented line: serialized together inside a
    bare wrapper element (half the cost of one call each), whose tags are then cut off."""
    wrapper = ET.Element(_BATCH)
    wrapper.text = "\n    "
    wrapper.extend(elements)
    for element in elements:
        element.tail = "\n    "
    elements[-1].tail = None
    text = ET.tostring(wrapper, encoding="unicode")
    opening, closing = f"<{_BATCH}>", f"</{_BATCH}>"
    if not (text.startswith(opening) and text.endswith(closing)):
        raise AssertionError("unexpected serialization of a batch of XSPF tracks")
    return text[len(opening) : -len(closing)].encode()


_JSPF_EMPTY_TRACKS = b"[]}}"


def jspf_head_and_end(head: PortableHead) -> tuple[bytes, bytes]:
    playlist: dict[str, Any] = {name: getattr(head, name) for name in _HEAD_FIELDS if getattr(head, name) is not None}
    playlist["extension"] = {MUSICBRAINZ_PLAYLIST_EXTENSION: {"public": head.public}}
    playlist["track"] = []  # last, so the document ends with it
    document = orjson.dumps({"playlist": playlist})
    if not document.endswith(_JSPF_EMPTY_TRACKS):
        raise AssertionError("a JSPF head must end with its empty track list")
    return document[: 1 - len(_JSPF_EMPTY_TRACKS)], b"\n" + _JSPF_EMPTY_TRACKS[1:] + b"\n"


def jspf_track(track: PortableTrack, first: bool) -> bytes:
    entry: dict[str, Any] = {}
    if track.identifiers:
        entry["identifier"] = list(track.identifiers)
    for name in ("title", "creator", "annotation", "album"):
        if (value := getattr(track, name)) is not None:
            entry[name] = value
    if track.duration_ms is not None:
        entry["duration"] = track.duration_ms
    return (b"\n" if first else b",\n") + orjson.dumps(entry)


# -- a whole snapshot --------------------------------------------------------------------------


def _obj(value: object) -> JSON:
    return value if isinstance(value, dict) else {}


def playlist_head(playlist: JSON, items_status: str, cover: str | None) -> PortableHead:
    owner = _obj(playlist.get("owner"))
    # Spotify sends descriptions HTML-escaped ("&amp;", "&#x27;"); the formats want the plain text
    notes = [rows.playlist_description(playlist).strip(), ITEMS_NOT_READ.get(items_status, "")]
    return PortableHead(
        title=_text(playlist.get("name")),
        creator=_text(owner.get("display_name")) or _text(owner.get("id")),
        annotation="\n\n".join(n for n in notes if n) or None,
        identifier=spotify_url(playlist.get("uri")) or spotify_url(f"spotify:playlist:{playlist.get('id')}"),
        image=COVER_PREFIX + quote(cover) if cover else None,
        public=playlist.get("public") is True,
    )


def liked_songs_head(profile: JSON, library_status: str) -> PortableHead:
    who = _text(profile.get("display_name")) or _text(profile.get("id"))
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
