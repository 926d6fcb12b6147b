"""Portable playlists: liked songs and every playlist as XSPF and JSPF, for other services and players.

XSPF is Xiph's XML playlist format (https://www.xspf.org/spec), JSPF its JSON form
(https://www.xspf.org/jspf) which ListenBrainz imports (https://musicbrainz.org/doc/jspf). Each
file carries what another service needs to find the songs again: per item, in playlist order,
title, creator (artists joined with "; " as in the CSVs), album, duration in ms and, as
identifiers, the Spotify URL and ``isrc:<ISRC>``. Episodes carry their show as album, local
files keep their names without identifiers, and an item Spotify no longer returns is kept as an
entry whose annotation says so, never dropped.

The files are made from a snapshot's own JSON copy (read back with its SHA-256 checks), so an
export, an incremental export that copied unchanged playlists and ``spotify-exporter portable``
on an older snapshot write the same bytes. They are streamed one entry at a time: memory holds
the playlist list, never a playlist's items.
"""

from __future__ import annotations

import hashlib
import html
import io
import itertools
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO, Protocol, cast
from urllib.parse import quote

import orjson

from . import rows
from .history import JSON, SnapshotReader, playlist_of_item_line
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
    "forbidden": "Spotify did not let this app read the items of this playlist (someone else's playlist "
    "that the owner follows), so none are in this file.",
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

    title: str
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
    return f"{SPOTIFY_WEB}/{parts[1]}/{quote(parts[2], safe='')}" if _SPOTIFY_ID.match(parts[2]) else None


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
        duration_ms=duration
        if isinstance(duration, int) and not isinstance(duration, bool) and duration >= 0
        else None,
        identifiers=identifiers,
        annotation=LOCAL_NOTE if item_type == "local" else None,
    )


def liked_song(saved: JSON) -> PortableTrack:
    track = saved.get("track")
    if not isinstance(track, dict) or not track:
        return track_from_row({}, "unavailable")
    local = bool(track.get("is_local")) or str(track.get("uri", "")).startswith("spotify:local:")
    return track_from_row(rows.library_row(saved), "local" if local else "track")


def playlist_entry(playlist: JSON, envelope: object, position: int) -> PortableTrack:
    envelope = envelope if isinstance(envelope, dict) else {}
    entry = envelope.get("entry")
    entry = entry if isinstance(entry, dict) else {}
    row = rows.playlist_item_row(playlist, int(envelope.get("position", position)), entry)
    return track_from_row(row, str(row["item_type"]))


# -- the two formats ---------------------------------------------------------------------------


class _XspfWriter:
    """XSPF through ElementTree's streaming writer (it escapes; we only drop what XML cannot hold)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._xml = ET.C14NWriterTarget(stream.write)

    def _element(self, name: str, text: str | None, indent: str) -> None:
        if text is None:
            return
        self._xml.data(indent)
        self._xml.start(f"{{{XSPF_NAMESPACE}}}{name}", {})
        self._xml.data(_NOT_XML.sub("", text))
        self._xml.end(f"{{{XSPF_NAMESPACE}}}{name}")

    def begin(self, head: PortableHead) -> None:
        self._xml.start_ns("", XSPF_NAMESPACE)
        self._xml.start(f"{{{XSPF_NAMESPACE}}}playlist", {"version": "1"})
        for name in ("title", "creator", "annotation", "identifier", "image"):
            self._element(name, getattr(head, name), "\n  ")
        self._xml.data("\n  ")
        self._xml.start(f"{{{XSPF_NAMESPACE}}}trackList", {})

    def track(self, track: PortableTrack) -> None:
        self._xml.data("\n    ")
        self._xml.start(f"{{{XSPF_NAMESPACE}}}track", {})
        for identifier in track.identifiers:
            self._element("identifier", identifier, "\n      ")
        self._element("title", track.title, "\n      ")
        self._element("creator", track.creator, "\n      ")
        self._element("annotation", track.annotation, "\n      ")
        self._element("album", track.album, "\n      ")
        self._element("duration", None if track.duration_ms is None else str(track.duration_ms), "\n      ")
        self._xml.data("\n    ")
        self._xml.end(f"{{{XSPF_NAMESPACE}}}track")

    def end(self) -> None:
        self._xml.data("\n  ")
        self._xml.end(f"{{{XSPF_NAMESPACE}}}trackList")
        self._xml.data("\n")
        self._xml.end(f"{{{XSPF_NAMESPACE}}}playlist")
        self._stream.write("\n")


class _JspfWriter:
    """JSPF, one track a line: the document is serialized by orjson with an empty track list,
    which is then opened up and filled one serialized track at a time."""

    _CLOSE = b"[]}}"

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._first = True

    def begin(self, head: PortableHead) -> None:
        playlist: dict[str, Any] = {
            name: getattr(head, name)
            for name in ("title", "creator", "annotation", "identifier", "image")
            if getattr(head, name) is not None
        }
        playlist["extension"] = {MUSICBRAINZ_PLAYLIST_EXTENSION: {"public": head.public}}
        playlist["track"] = []
        document = orjson.dumps({"playlist": playlist})
        if not document.endswith(self._CLOSE):  # the track list is the last key, as written above
            raise AssertionError("JSPF head does not end with its empty track list")
        self._stream.write(document[: -len(self._CLOSE) + 1] + b"\n")

    def track(self, track: PortableTrack) -> None:
        entry: dict[str, Any] = {}
        if track.identifiers:
            entry["identifier"] = list(track.identifiers)
        for name in ("title", "creator", "annotation", "album"):
            if (value := getattr(track, name)) is not None:
                entry[name] = value
        if track.duration_ms is not None:
            entry["duration"] = track.duration_ms
        self._stream.write((b"" if self._first else b",\n") + orjson.dumps(entry))
        self._first = False

    def end(self) -> None:
        self._stream.write(b"\n" + self._CLOSE[1:] + b"\n")


class _PortablePair:
    """The XSPF and the JSPF of one playlist, written side by side (both whole, or neither)."""

    def __init__(self, files: PortableFiles, base_name: str, stack: ExitStack) -> None:
        self.xspf_name, self.jspf_name = f"{base_name}.xspf", f"{base_name}.jspf"
        self._xspf_file = stack.enter_context(files.stream_file(self.xspf_name))
        self._jspf_file = stack.enter_context(files.stream_file(self.jspf_name))
        self._xspf = _XspfWriter(stack.enter_context(_text_stream(self._xspf_file.stream)))
        self._jspf = _JspfWriter(self._jspf_file.stream)

    def begin(self, head: PortableHead) -> None:
        self._xspf.begin(head)
        self._jspf.begin(head)

    def add(self, track: PortableTrack) -> None:
        self._xspf.track(track)
        self._jspf.track(track)
        self._xspf_file.rows += 1
        self._jspf_file.rows += 1

    def end(self) -> None:
        self._xspf.end()
        self._jspf.end()

    def names(self) -> dict[str, str]:
        return {"xspf": self.xspf_name, "jspf": self.jspf_name}


@contextmanager
def _text_stream(stream: IO[bytes]) -> Iterator[IO[str]]:
    """UTF-8 text over a binary stream that stays open for its owner."""
    text = io.TextIOWrapper(cast(BinaryIO, stream), encoding="utf-8", newline="\n")
    try:
        yield text
        text.flush()
    finally:
        with suppress(ValueError, OSError):  # after an error the owner discards the file anyway
            text.detach()


# -- a whole snapshot --------------------------------------------------------------------------


def _obj(value: object) -> JSON:
    return value if isinstance(value, dict) else {}


def playlist_head(playlist: JSON, items_status: str, cover: str | None) -> PortableHead:
    owner = _obj(playlist.get("owner"))
    description = playlist.get("description")
    # Spotify sends descriptions HTML-escaped ("&amp;", "&#x27;"); the formats want plain text
    notes = [html.unescape(description).strip() if isinstance(description, str) else ""]
    notes.append(ITEMS_NOT_READ.get(items_status, ""))
    return PortableHead(
        title=_text(playlist.get("name")) or "",
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


def write_portable_playlists(source: SnapshotReader, files: PortableFiles) -> PortableIndex:
    """Write the portable files of everything ``source`` holds; return which file is which.

    Playlist items are read in one pass over the JSON copy, where each playlist's items lie
    together; a playlist with none (empty, refused by Spotify, failed) still gets its files.
    """
    index = PortableIndex()
    with ExitStack() as stack:
        liked = _PortablePair(files, liked_songs_base_name(), stack)
        liked.begin(liked_songs_head(source.profile(), source.dataset_status("library")))
        for saved in source.records("library"):
            liked.add(liked_song(saved))
        liked.end()
    index.liked_songs = liked.names()

    playlists = [p for p in source.records("playlists") if p.get("id")]  # a few hundred small objects
    by_id = {str(p["id"]): p for p in reversed(playlists)}  # of duplicates, the first one counts
    names = _base_names(playlists)
    statuses = source.items_status()
    covers = _covers(source, list(names))

    def write(pid: str, items: Iterator[bytes]) -> None:
        with ExitStack() as stack:
            pair = _PortablePair(files, names[pid], stack)
            pair.begin(playlist_head(by_id[pid], statuses.get(pid, "exported"), covers.get(pid)))
            for position, line in enumerate(items):
                pair.add(playlist_entry(by_id[pid], orjson.loads(line), position))
            pair.end()
        index.playlists[pid] = pair.names()

    for pid, items in itertools.groupby(source.lines("playlist_items"), key=playlist_of_item_line):
        if pid in by_id and pid not in index.playlists:
            write(pid, items)
    for pid in names:
        if pid not in index.playlists:
            write(pid, iter(()))
    return index


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
