"""What a portable playlist holds and how it is written: entries made from CSV rows, and the two
formats, XSPF (https://www.xspf.org/spec) and JSPF (https://www.xspf.org/jspf), serialized by
ElementTree and orjson so that no markup is typed by hand. Pure functions; :mod:`.portable`
puts a snapshot's files together from them.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

import orjson

from . import rows

XSPF_NAMESPACE = "http://xspf.org/ns/0/"
#: ListenBrainz reads a playlist's flags from this extension (https://musicbrainz.org/doc/jspf)
MUSICBRAINZ_PLAYLIST_EXTENSION = "https://musicbrainz.org/doc/jspf#playlist"
SPOTIFY_WEB = "https://open.spotify.com"

UNAVAILABLE_NOTE = "Unavailable: Spotify returned no track or episode here (removed, or not playable in this market)"
LOCAL_NOTE = "Local file: on the owner's device, not on Spotify"

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


# -- items -------------------------------------------------------------------------------------


def optional_text(value: object) -> str | None:
    """A field's text, None for a missing or empty one (left out of the files)."""
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
        title=optional_text(row.get("track_name")),
        creator=optional_text(row.get("artists")),
        album=optional_text(row.get("album")),
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
