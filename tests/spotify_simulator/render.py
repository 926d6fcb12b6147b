"""Records to Spotify Web API objects, in the shapes of the fixed OpenAPI spec (2026 edition).

Fields Spotify removed for development-mode apps in 2026 (track ``popularity``,
``linked_from``, ``available_markets``; album ``label``, ``popularity``; artist ``followers``,
``popularity``; user ``email``, ``country``, ``product``) are not sent. Local files carry the
nulls Spotify sends for them (ids, hrefs and URIs of the track, its album and artists).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .catalog import (
    MARKETS,
    AlbumRec,
    ArtistRec,
    AudiobookRec,
    Catalog,
    EpisodeRec,
    LocalFileRec,
    ShowRec,
    TrackRec,
    base62,
    hash_of,
)
from .model import EPISODE, LOCAL, TRACK, Account, Entry, Playlist, User, iso
from .rules import escape_description

JSON = dict[str, Any]
OPEN = "https://open.spotify.com"
#: items embedded in a full playlist object (``GET /playlists/{id}``): one page of the items endpoint
FIRST_ITEMS = 50


def images(key: str, sizes: tuple[int, ...] = (640, 300, 64)) -> list[JSON]:
    digest = base62(hash_of(*map(ord, key[:24])), 11) + base62(hash_of(len(key), *map(ord, key[-24:])), 11)
    return [
        {"url": f"https://i.scdn.co/image/ab67616d{size:08x}{digest}", "height": size, "width": size} for size in sizes
    ]


class Renderer:
    """Builds response objects for one account; ``api_url`` makes every ``href`` point at the simulator.

    ``cover_url`` gives the (expiring) URL of a custom playlist cover; without it custom covers
    are not shown (Spotify's generated images are).
    """

    def __init__(self, account: Account, api_url: str, cover_url: Callable[[bytes], str] | None = None) -> None:
        self.account = account
        self.catalog: Catalog = account.catalog
        self.api = api_url
        self.cover_url = cover_url
        # the same albums and artists recur on every page; their objects are built once (never mutated)
        self._albums: dict[str, JSON] = {}
        self._artists: dict[str, JSON] = {}

    # -- users -------------------------------------------------------------------------------

    def private_user(self) -> JSON:
        me = self.account.me
        return {
            "display_name": me.display_name,
            "external_urls": {"spotify": f"{OPEN}/user/{me.id}"},
            "followers": {"href": None, "total": 12},
            "href": f"{self.api}/users/{me.id}",
            "id": me.id,
            "images": images(me.id, (300, 64)),
            "type": "user",
            "uri": f"spotify:user:{me.id}",
        }

    def user_ref(self, user: User) -> JSON:
        return {
            "external_urls": {"spotify": f"{OPEN}/user/{user.id}"},
            "href": f"{self.api}/users/{user.id}",
            "id": user.id,
            "type": "user",
            "uri": f"spotify:user:{user.id}",
        }

    # -- music -------------------------------------------------------------------------------

    def artist_simple(self, artist: ArtistRec) -> JSON:
        cached = self._artists.get(artist.id)
        if cached is None:
            cached = self._artists[artist.id] = self._artist_simple(artist)
        return cached

    def _artist_simple(self, artist: ArtistRec) -> JSON:
        return {
            "external_urls": {"spotify": f"{OPEN}/artist/{artist.id}"},
            "href": f"{self.api}/artists/{artist.id}",
            "id": artist.id,
            "name": artist.name,
            "type": "artist",
            "uri": f"spotify:artist:{artist.id}",
        }

    def artist_full(self, artist: ArtistRec) -> JSON:
        return {**self.artist_simple(artist), "genres": list(artist.genres), "images": images(artist.id)}

    def album_simple(self, album: AlbumRec) -> JSON:
        cached = self._albums.get(album.id)
        if cached is None:
            cached = self._albums[album.id] = self._album_simple(album)
        return cached

    def _album_simple(self, album: AlbumRec) -> JSON:
        return {
            "album_type": album.album_type,
            "total_tracks": album.total_tracks,
            "available_markets": list(MARKETS),
            "external_urls": {"spotify": f"{OPEN}/album/{album.id}"},
            "href": f"{self.api}/albums/{album.id}",
            "id": album.id,
            "images": images(album.id),
            "name": album.name,
            "release_date": album.release_date,
            "release_date_precision": album.release_date_precision,
            "type": "album",
            "uri": f"spotify:album:{album.id}",
            "artists": [self.artist_simple(a) for a in album.artists],
        }

    def album_full(self, album: AlbumRec) -> JSON:
        tracks = [self.track_simple(self.catalog.track(i)) for i in self.catalog.album_track_indices(album)]
        return {
            **self.album_simple(album),
            "tracks": {
                "href": f"{self.api}/albums/{album.id}/tracks?offset=0&limit=50",
                "items": tracks,
                "limit": 50,
                "next": None,
                "offset": 0,
                "previous": None,
                "total": len(tracks),
            },
            "copyrights": [{"text": f"℗ {album.release_date[:4]} Sim Records", "type": "P"}],
            "external_ids": {"upc": album.upc},
            "genres": [],
        }

    def track_simple(self, track: TrackRec) -> JSON:
        return {
            "artists": [self.artist_simple(a) for a in track.artists],
            "disc_number": track.disc_number,
            "duration_ms": track.duration_ms,
            "explicit": track.explicit,
            "external_urls": {"spotify": f"{OPEN}/track/{track.id}"},
            "href": f"{self.api}/tracks/{track.id}",
            "id": track.id,
            "is_local": False,
            "name": track.name,
            "preview_url": None,
            "track_number": track.track_number,
            "type": "track",
            "uri": f"spotify:track:{track.id}",
        }

    def track(self, track: TrackRec) -> JSON:
        return {
            **self.track_simple(track),
            "album": self.album_simple(track.album),
            "external_ids": {"isrc": track.isrc} if track.isrc else {},
        }

    def local_track(self, local: LocalFileRec) -> JSON:
        """What Spotify sends for a file from the user's computer: names, a length and nulls."""
        return {
            "album": {
                "album_type": None,
                "total_tracks": 0,
                "available_markets": [],
                "external_urls": {},
                "href": None,
                "id": None,
                "images": [],
                "name": local.album,
                "release_date": None,
                "release_date_precision": None,
                "type": "album",
                "uri": None,
                "artists": [],
            },
            "artists": [
                {"external_urls": {}, "href": None, "id": None, "name": local.artist, "type": "artist", "uri": None}
            ],
            "disc_number": 0,
            "duration_ms": local.duration_ms,
            "explicit": False,
            "external_ids": {},
            "external_urls": {},
            "href": None,
            "id": None,
            "is_local": True,
            "name": local.title,
            "preview_url": None,
            "track_number": 0,
            "type": "track",
            "uri": local.uri,
        }

    # -- podcasts and audiobooks -------------------------------------------------------------

    def show_simple(self, show: ShowRec) -> JSON:
        return {
            "available_markets": list(MARKETS),
            "copyrights": [],
            "description": f"{show.name}, every week.",
            "html_description": f"<p>{show.name}, every week.</p>",
            "explicit": show.explicit,
            "external_urls": {"spotify": f"{OPEN}/show/{show.id}"},
            "href": f"{self.api}/shows/{show.id}",
            "id": show.id,
            "images": images(show.id),
            "is_externally_hosted": False,
            "languages": ["en"],
            "media_type": show.media_type,
            "name": show.name,
            "publisher": show.publisher,
            "type": "show",
            "uri": f"spotify:show:{show.id}",
            "total_episodes": show.total_episodes,
        }

    def episode(self, episode: EpisodeRec) -> JSON:
        return {
            "audio_preview_url": None,
            "description": f"{episode.name}. Notes and links.",
            "html_description": f"<p>{episode.name}. Notes and links.</p>",
            "duration_ms": episode.duration_ms,
            "explicit": episode.explicit,
            "external_urls": {"spotify": f"{OPEN}/episode/{episode.id}"},
            "href": f"{self.api}/episodes/{episode.id}",
            "id": episode.id,
            "images": images(episode.id),
            "is_externally_hosted": False,
            "is_playable": True,
            "languages": ["en"],
            "name": episode.name,
            "release_date": episode.release_date,
            "release_date_precision": "day",
            "type": "episode",
            "uri": f"spotify:episode:{episode.id}",
            "show": self.show_simple(episode.show),
        }

    def audiobook_full(self, book: AudiobookRec) -> JSON:
        chapters = [self._chapter(book, n) for n in range(book.total_chapters)]
        return {
            "authors": [{"name": name} for name in book.authors],
            "available_markets": list(MARKETS),
            "copyrights": [{"text": f"© {book.publisher}", "type": "C"}],
            "description": f"{book.name}, read aloud.",
            "html_description": f"<p>{book.name}, read aloud.</p>",
            "edition": book.edition,
            "explicit": False,
            "external_urls": {"spotify": f"{OPEN}/audiobook/{book.id}"},
            "href": f"{self.api}/audiobooks/{book.id}",
            "id": book.id,
            "images": images(book.id),
            "languages": ["en"],
            "media_type": "audio",
            "name": book.name,
            "narrators": [{"name": name} for name in book.narrators],
            "publisher": book.publisher,
            "type": "audiobook",
            "uri": f"spotify:audiobook:{book.id}",
            "total_chapters": book.total_chapters,
            "chapters": {
                "href": f"{self.api}/audiobooks/{book.id}/chapters?offset=0&limit=50",
                "items": chapters,
                "limit": 50,
                "next": None,
                "offset": 0,
                "previous": None,
                "total": len(chapters),
            },
        }

    def _chapter(self, book: AudiobookRec, number: int) -> JSON:
        chapter_id = base62(hash_of(number, *map(ord, book.id)), 22)
        return {
            "audio_preview_url": None,
            "chapter_number": number,
            "description": f"Chapter {number + 1}",
            "html_description": f"<p>Chapter {number + 1}</p>",
            "duration_ms": 900_000 + 1_000 * number,
            "explicit": False,
            "external_urls": {"spotify": f"{OPEN}/episode/{chapter_id}"},
            "href": f"{self.api}/chapters/{chapter_id}",
            "id": chapter_id,
            "images": images(chapter_id, (640,)),
            "is_playable": True,
            "languages": ["en"],
            "name": f"Chapter {number + 1}",
            "release_date": "2021-05-04",
            "release_date_precision": "day",
            "type": "episode",  # sic: the spec's ChapterBase enumerates only "episode"
            "uri": f"spotify:episode:{chapter_id}",
        }

    # -- playlists ---------------------------------------------------------------------------

    def playlist_images(self, playlist: Playlist) -> list[JSON]:
        """A custom cover (sizes unknown: null), else Spotify's generated image, or none when empty."""
        if playlist.cover is not None and self.cover_url is not None:
            return [{"url": self.cover_url(playlist.cover), "height": None, "width": None}]
        return images(playlist.id, (640,)) if playlist.entries else []

    def playlist_full(self, playlist: Playlist, episodes: bool) -> JSON:
        """A PlaylistObject: its first page of items only for playlists the user may read (2026)."""
        body = self.playlist_simple(playlist)
        body["followers"] = {"href": None, "total": 0}
        del body["items"]
        if playlist.readable:
            href, total = f"{self.api}/playlists/{playlist.id}/items", len(playlist.entries)
            body["items"] = {
                "href": f"{href}?offset=0&limit={FIRST_ITEMS}",
                "items": [self.playlist_item(e, episodes) for e in playlist.entries[:FIRST_ITEMS]],
                "limit": FIRST_ITEMS,
                "next": f"{href}?offset={FIRST_ITEMS}&limit={FIRST_ITEMS}" if total > FIRST_ITEMS else None,
                "offset": 0,
                "previous": None,
                "total": total,
            }
        return body

    def playlist_simple(self, playlist: Playlist) -> JSON:
        owner = self.account.users[playlist.owner]
        return {
            "collaborative": playlist.collaborative,
            "description": escape_description(playlist.description),  # rules.py
            "external_urls": {"spotify": f"{OPEN}/playlist/{playlist.id}"},
            "href": f"{self.api}/playlists/{playlist.id}",
            "id": playlist.id,
            "images": self.playlist_images(playlist),
            "name": playlist.name,
            "owner": {**self.user_ref(owner), "display_name": owner.display_name},
            "public": playlist.public,
            "snapshot_id": playlist.snapshot_id,
            "items": {"href": f"{self.api}/playlists/{playlist.id}/items", "total": len(playlist.entries)},
            "type": "playlist",
            "uri": f"spotify:playlist:{playlist.id}",
        }

    def playlist_item(self, entry: Entry, episodes: bool) -> JSON:
        """A PlaylistTrackObject; episodes only when the client asked for them (``additional_types``)."""
        item: JSON | None = None
        if entry.kind == TRACK:
            item = self.track(self.catalog.track(entry.ref))
        elif entry.kind == LOCAL:
            item = self.local_track(self.account.local_files[entry.ref])
        elif entry.kind == EPISODE and episodes:
            item = self.episode(self.account.episode_pool[entry.ref])
        adder = None if entry.added_by is None else self.user_ref(self.account.users[entry.added_by])
        return {
            "added_at": iso(entry.added_at),
            "added_by": adder,
            "is_local": entry.kind == LOCAL,
            "item": item,
            "track": item,
        }

    # -- saved things ------------------------------------------------------------------------

    def saved_track(self, saved: tuple[int, int]) -> JSON:
        return {"added_at": iso(saved[1]), "track": self.track(self.catalog.track(saved[0]))}

    def saved_album(self, saved: tuple[int, int]) -> JSON:
        return {"added_at": iso(saved[1]), "album": self.album_full(self.catalog.album(saved[0]))}

    def saved_show(self, saved: tuple[ShowRec, int]) -> JSON:
        return {"added_at": iso(saved[1]), "show": self.show_simple(saved[0])}

    def saved_episode(self, saved: tuple[EpisodeRec, int]) -> JSON:
        return {"added_at": iso(saved[1]), "episode": self.episode(saved[0])}

    def saved_audiobook(self, saved: tuple[AudiobookRec, int]) -> JSON:
        return {"added_at": iso(saved[1]), "audiobook": self.audiobook_full(saved[0])}
