"""From API objects to CSV rows: one mapping per dataset, nothing else.

The columns the snapshot contract requires come first, in its order; extra columns
follow. Values are plain Python (``None`` for an empty cell); the snapshot writer turns
them into text.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

JSON = dict[str, Any]
Row = dict[str, object]

LIBRARY_COLUMNS = (
    "added_at",
    "track_name",
    "artists",
    "album",
    "track_uri",
    "duration_ms",
    "isrc",
    "artist_uris",
    "album_uri",
    "explicit",
)
PLAYLIST_COLUMNS = (
    "playlist_id",
    "playlist_name",
    "owner_id",
    "collaborative",
    "public",
    "snapshot_id",
    "item_count",
    "items_status",
    "owner_name",
    "description",
    "playlist_uri",
)
PLAYLIST_ITEM_COLUMNS = (
    "playlist_id",
    "playlist_name",
    "position",
    "added_at",
    "added_by",
    "item_type",
    "track_name",
    "artists",
    "album",
    "track_uri",
    "duration_ms",
    "isrc",
    "artist_uris",
    "album_uri",
    "is_local",
)
ALBUM_COLUMNS = (
    "added_at",
    "album_name",
    "artists",
    "album_uri",
    "release_date",
    "artist_uris",
    "total_tracks",
)
ARTIST_COLUMNS = ("artist_name", "artist_uri", "genres")
SHOW_COLUMNS = ("added_at", "name", "uri", "publisher")
EPISODE_COLUMNS = ("added_at", "name", "uri", "show_name", "show_uri", "release_date", "duration_ms")
AUDIOBOOK_COLUMNS = ("added_at", "name", "uri", "authors", "narrators")


def _obj(value: object) -> JSON:
    return value if isinstance(value, dict) else {}


def _names(objects: object) -> str:
    return "; ".join(str(o.get("name") or "") for o in _objects(objects))


def _uris(objects: object) -> str:
    return ";".join(str(o.get("uri") or "") for o in _objects(objects) if o.get("uri"))


def _objects(value: object) -> Iterable[JSON]:
    return [o for o in value if isinstance(o, dict)] if isinstance(value, list) else []


def _isrc(track: JSON) -> object:
    return _obj(track.get("external_ids")).get("isrc")


def library_row(saved: JSON) -> Row:
    """A liked song (``SavedTrackObject``)."""
    track = _obj(saved.get("track"))
    album = _obj(track.get("album"))
    return {
        "added_at": saved.get("added_at"),
        "track_name": track.get("name"),
        "artists": _names(track.get("artists")),
        "album": album.get("name"),
        "track_uri": track.get("uri"),
        "duration_ms": track.get("duration_ms"),
        "isrc": _isrc(track),
        "artist_uris": _uris(track.get("artists")),
        "album_uri": album.get("uri"),
        "explicit": track.get("explicit"),
    }


def playlist_item_total(playlist: JSON) -> int | None:
    """How many items a playlist object says it has (None when it does not say)."""
    # 2026 renamed the ``tracks`` ref to ``items``; older answers still carry ``tracks``
    total = (_obj(playlist.get("items")) or _obj(playlist.get("tracks"))).get("total")
    return total if isinstance(total, int) else None


def playlist_row(playlist: JSON, items_status: str) -> Row:
    """A playlist in the user's list; ``items_status`` says whether its items were read."""
    owner = _obj(playlist.get("owner"))
    return {
        "playlist_id": playlist.get("id"),
        "playlist_name": playlist.get("name"),
        "owner_id": owner.get("id"),
        "collaborative": playlist.get("collaborative"),
        "public": playlist.get("public"),
        "snapshot_id": playlist.get("snapshot_id"),
        "item_count": playlist_item_total(playlist),
        "items_status": items_status,
        "owner_name": owner.get("display_name"),
        "description": playlist_description(playlist),
        "playlist_uri": playlist.get("uri"),
    }


def playlist_description(playlist: JSON) -> str:
    """The description as its owner wrote it: Spotify sends it HTML-escaped (``R&amp;B``), the JSON
    copy keeps that, the CSV and a restore use the text people see in the app (``R&B``)."""
    return html.unescape(str(playlist.get("description") or ""))


def playlist_item_type(entry: JSON) -> str:
    """``track``, ``episode``, ``local`` or ``unavailable`` (the API sent a null item)."""
    item = playlist_entry_item(entry)
    if not item:
        return "unavailable"
    if entry.get("is_local") or item.get("is_local") or str(item.get("uri", "")).startswith("spotify:local:"):
        return "local"
    return "episode" if item.get("type") == "episode" else "track"


def playlist_entry_item(entry: JSON) -> JSON:
    """The track or episode of a playlist entry: ``item`` since 2026, ``track`` before."""
    return _obj(entry.get("item")) or _obj(entry.get("track"))


def playlist_item_row(playlist: JSON, position: int, entry: JSON) -> Row:
    """One entry of a playlist (``PlaylistTrackObject``) at its 0-based position."""
    item = playlist_entry_item(entry)
    item_type = playlist_item_type(entry)
    if item_type == "episode":
        show = _obj(item.get("show"))
        artists, artist_uris, album, album_uri = show.get("publisher"), "", show.get("name"), show.get("uri")
    else:
        album_obj = _obj(item.get("album"))
        artists, artist_uris = _names(item.get("artists")), _uris(item.get("artists"))
        album, album_uri = album_obj.get("name"), album_obj.get("uri")
    return {
        "playlist_id": playlist.get("id"),
        "playlist_name": playlist.get("name"),
        "position": position,
        "added_at": entry.get("added_at"),
        "added_by": _obj(entry.get("added_by")).get("id"),
        "item_type": item_type,
        "track_name": item.get("name"),
        "artists": artists,
        "album": album,
        "track_uri": item.get("uri"),
        "duration_ms": item.get("duration_ms"),
        "isrc": _isrc(item),
        "artist_uris": artist_uris,
        "album_uri": album_uri,
        "is_local": entry.get("is_local", item_type == "local"),
    }


def album_row(saved: JSON) -> Row:
    album = _obj(saved.get("album"))
    return {
        "added_at": saved.get("added_at"),
        "album_name": album.get("name"),
        "artists": _names(album.get("artists")),
        "album_uri": album.get("uri"),
        "release_date": album.get("release_date"),
        "artist_uris": _uris(album.get("artists")),
        "total_tracks": album.get("total_tracks"),
    }


def artist_row(artist: JSON) -> Row:
    genres = artist.get("genres")
    return {
        "artist_name": artist.get("name"),
        "artist_uri": artist.get("uri"),
        "genres": "; ".join(str(g) for g in genres) if isinstance(genres, list) else None,
    }


def show_row(saved: JSON) -> Row:
    show = _obj(saved.get("show"))
    return {
        "added_at": saved.get("added_at"),
        "name": show.get("name"),
        "uri": show.get("uri"),
        "publisher": show.get("publisher"),
    }


def episode_row(saved: JSON) -> Row:
    episode = _obj(saved.get("episode"))
    show = _obj(episode.get("show"))
    return {
        "added_at": saved.get("added_at"),
        "name": episode.get("name"),
        "uri": episode.get("uri"),
        "show_name": show.get("name"),
        "show_uri": show.get("uri"),
        "release_date": episode.get("release_date"),
        "duration_ms": episode.get("duration_ms"),
    }


def audiobook_row(saved: JSON) -> Row:
    # SavedAudiobookObject wraps the book; some answers send the book itself
    book = _obj(saved.get("audiobook")) or saved
    return {
        "added_at": saved.get("added_at"),
        "name": book.get("name"),
        "uri": book.get("uri"),
        "authors": _names(book.get("authors")),
        "narrators": _names(book.get("narrators")),
    }
