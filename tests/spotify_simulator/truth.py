"""Ground truth: the rows a correct snapshot holds, computed from the account model itself.

Deliberately not derived from the JSON the server sends, so that a mistake in one of the two
shows up as a mismatch instead of being copied into both. Values are the exact text (no
formula guard): "" for null, "true"/"false", decimal integers, names joined with "; ".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .catalog import ArtistRec, TrackRec
from .model import EPISODE, LOCAL, TRACK, Account, Playlist, iso

Row = dict[str, str]

COLUMNS: dict[str, tuple[str, ...]] = {
    "library": ("added_at", "track_name", "artists", "album", "track_uri", "duration_ms", "isrc"),
    "playlists": (
        "playlist_id", "playlist_name", "owner_id", "collaborative", "public", "snapshot_id", "item_count",
        "items_status",
    ),
    "playlist_items": (
        "playlist_id", "playlist_name", "position", "added_at", "added_by", "item_type", "track_name", "artists",
        "album", "track_uri", "duration_ms", "isrc",
    ),
    "albums": ("added_at", "album_name", "artists", "album_uri", "release_date"),
    "artists": ("artist_name", "artist_uri", "genres"),
    "shows": ("added_at", "name", "uri"),
    "episodes": ("added_at", "name", "uri"),
    "audiobooks": ("added_at", "name", "uri"),
}  # fmt: skip


def text(value: str | int | bool | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def names(artists: Iterable[ArtistRec]) -> str:
    return "; ".join(a.name for a in artists)


def _track_columns(track: TrackRec) -> Row:
    return {
        "track_name": track.name,
        "artists": names(track.artists),
        "album": track.album.name,
        "track_uri": f"spotify:track:{track.id}",
        "duration_ms": text(track.duration_ms),
        "isrc": text(track.isrc),
    }


def library(account: Account) -> list[Row]:
    return [{"added_at": text(iso(at)), **_track_columns(account.catalog.track(t))} for t, at in account.liked]


def playlists(account: Account) -> list[Row]:
    return [
        {
            "playlist_id": p.id,
            "playlist_name": p.name,
            "owner_id": account.users[p.owner].id,
            "collaborative": text(p.collaborative),
            "public": text(p.public),
            "snapshot_id": p.snapshot_id,
            "item_count": text(len(p.entries)),
            "items_status": "exported" if p.readable else "forbidden",
        }
        for p in account.playlists
    ]


def playlist_items(account: Account) -> list[Row]:
    rows: list[Row] = []
    for playlist in account.playlists:
        if playlist.readable:
            rows.extend(_items_of(account, playlist))
    return rows


EMPTY_ITEM: Row = dict.fromkeys(("track_name", "artists", "album", "track_uri", "duration_ms", "isrc"), "")


def _items_of(account: Account, playlist: Playlist) -> Iterable[Row]:
    for position, entry in enumerate(playlist.entries):
        adder = "" if entry.added_by is None else account.users[entry.added_by].id
        columns = EMPTY_ITEM
        if entry.kind == TRACK:
            columns = _track_columns(account.catalog.track(entry.ref))
        elif entry.kind == EPISODE:
            episode = account.episode_pool[entry.ref]
            columns = {
                "track_name": episode.name,
                "artists": episode.show.publisher,
                "album": episode.show.name,
                "track_uri": f"spotify:episode:{episode.id}",
                "duration_ms": text(episode.duration_ms),
                "isrc": "",
            }
        elif entry.kind == LOCAL:
            local = account.local_files[entry.ref]
            columns = {
                "track_name": local.title,
                "artists": local.artist,
                "album": local.album,
                "track_uri": local.uri,
                "duration_ms": text(local.duration_ms),
                "isrc": "",
            }
        yield {
            "playlist_id": playlist.id,
            "playlist_name": playlist.name,
            "position": text(position),
            "added_at": text(iso(entry.added_at)),
            "added_by": adder,
            "item_type": entry.kind,
            **columns,
        }


def albums(account: Account) -> list[Row]:
    rows: list[Row] = []
    for index, at in account.albums:
        album = account.catalog.album(index)
        rows.append(
            {
                "added_at": text(iso(at)),
                "album_name": album.name,
                "artists": names(album.artists),
                "album_uri": f"spotify:album:{album.id}",
                "release_date": album.release_date,
            }
        )
    return rows


def artists(account: Account) -> list[Row]:
    rows: list[Row] = []
    for index in account.artists:
        artist = account.catalog.artist(index)
        rows.append(
            {
                "artist_name": artist.name,
                "artist_uri": f"spotify:artist:{artist.id}",
                "genres": "; ".join(artist.genres),
            }
        )
    return rows


def shows(account: Account) -> list[Row]:
    return [{"added_at": text(iso(at)), "name": s.name, "uri": f"spotify:show:{s.id}"} for s, at in account.shows]


def episodes(account: Account) -> list[Row]:
    return [{"added_at": text(iso(at)), "name": e.name, "uri": f"spotify:episode:{e.id}"} for e, at in account.episodes]


def audiobooks(account: Account) -> list[Row]:
    return [
        {"added_at": text(iso(at)), "name": b.name, "uri": f"spotify:audiobook:{b.id}"} for b, at in account.audiobooks
    ]


DATASETS: dict[str, Callable[[Account], list[Row]]] = {
    "library": library,
    "playlists": playlists,
    "playlist_items": playlist_items,
    "albums": albums,
    "artists": artists,
    "shows": shows,
    "episodes": episodes,
    "audiobooks": audiobooks,
}


def expected_rows(account: Account, dataset: str) -> list[Row]:
    try:
        build = DATASETS[dataset]
    except KeyError:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}") from None
    return build(account)
