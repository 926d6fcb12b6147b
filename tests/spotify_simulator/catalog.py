"""The music catalogue behind an account: compact records, generated on demand from an index.

A track is identified by an integer; its name, artists, album, duration and ISRC are computed
from ``(seed, index)`` with a cheap integer hash whenever they are needed. An account of
150,000 playlist items therefore stores 150,000 small tuples, not 150,000 JSON documents, and
builds in a fraction of a second. Hand-made records (the edge cases) override indices below 0.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from urllib.parse import quote_plus

MASK = (1 << 64) - 1
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#: catalogue slots per album: album ``a`` holds tracks ``a * SLOTS .. a * SLOTS + total_tracks - 1``
SLOTS = 16


class Domain(IntEnum):
    """Hash domains, so that track 7 and album 7 get unrelated ids."""

    TRACK = 1
    ALBUM = 2
    ARTIST = 3
    SHOW = 4
    EPISODE = 5
    AUDIOBOOK = 6
    PLAYLIST = 7
    USER = 8
    SNAPSHOT = 9


def mix64(value: int) -> int:
    """splitmix64: a fast, well-spread integer hash."""
    value = (value + 0x9E3779B97F4A7C15) & MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & MASK
    return value ^ (value >> 31)


def hash_of(*parts: int) -> int:
    value = 0
    for part in parts:
        value = mix64(value ^ (part & MASK))
    return value


def base62(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        value, digit = divmod(value, 62)
        chars.append(BASE62[digit])
    return "".join(chars)


_ALNUM = bytes.maketrans(b"+/", b"xQ")


def spotify_id(domain: int, seed: int, index: int) -> str:
    """A 22-character alphanumeric id like Spotify's (~128 hash bits: collisions are not a concern)."""
    first = hash_of(domain, seed, index)
    raw = first.to_bytes(8, "big") + mix64(first).to_bytes(8, "big") + b"\0"
    return base64.b64encode(raw)[:22].translate(_ALNUM).decode("ascii")


ADJECTIVES = (
    "Midnight", "Golden", "Electric", "Silent", "Broken", "Velvet", "Neon", "Paper", "Crystal", "Wild",
    "Lonely", "Burning", "Frozen", "Hidden", "Endless", "Sweet", "Bitter", "Northern", "Summer", "Hollow",
)  # fmt: skip
NOUNS = (
    "Dreams", "Highway", "Heart", "River", "Signals", "Lights", "Garden", "Echoes", "Horizon", "Parade",
    "Window", "Ocean", "Machine", "Letters", "Shadows", "Fever", "Satellite", "Harbor", "Static", "Bloom",
)  # fmt: skip
FIRST_NAMES = ("Ada", "Bo", "Cleo", "Dario", "Elin", "Femi", "Gus", "Hana", "Ivo", "June", "Kofi", "Lena", "Mateo")
BAND_WORDS = ("Tigers", "Owls", "Collective", "Machines", "Sisters", "Brothers", "Club", "Orchestra", "Quartet")
GENRES = (
    "indie pop", "art rock", "synthwave", "jazz", "neo soul", "techno", "folk", "k-pop", "afrobeats",
    "shoegaze", "hip hop", "ambient", "latin", "metal", "classical",
)  # fmt: skip
MARKETS = ("CA", "DE", "GB", "JP", "SE", "US")


@dataclass(frozen=True, slots=True)
class ArtistRec:
    id: str
    name: str
    genres: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AlbumRec:
    id: str
    name: str
    artists: tuple[ArtistRec, ...]
    release_date: str
    release_date_precision: str
    album_type: str
    total_tracks: int
    upc: str
    #: catalogue index of the album's first track slot (``index * SLOTS``)
    index: int = 0


@dataclass(frozen=True, slots=True)
class TrackRec:
    id: str
    name: str
    artists: tuple[ArtistRec, ...]
    album: AlbumRec
    duration_ms: int
    isrc: str | None
    explicit: bool
    track_number: int
    disc_number: int = 1


@dataclass(frozen=True, slots=True)
class LocalFileRec:
    """A file from the user's computer: Spotify knows only the names and the length."""

    title: str
    artist: str
    album: str
    duration_ms: int

    @property
    def uri(self) -> str:
        parts = (self.artist, self.album, self.title)
        return "spotify:local:" + ":".join(quote_plus(p) for p in parts) + f":{self.duration_ms // 1000}"


@dataclass(frozen=True, slots=True)
class ShowRec:
    id: str
    name: str
    publisher: str
    total_episodes: int
    media_type: str = "audio"
    explicit: bool = False


@dataclass(frozen=True, slots=True)
class EpisodeRec:
    id: str
    name: str
    show: ShowRec
    duration_ms: int
    release_date: str
    explicit: bool = False


@dataclass(frozen=True, slots=True)
class AudiobookRec:
    id: str
    name: str
    authors: tuple[str, ...]
    narrators: tuple[str, ...]
    publisher: str
    total_chapters: int
    edition: str = "Unabridged"


@dataclass
class Catalog:
    """Tracks, albums and artists of one seed; ``n_albums * SLOTS`` track slots in all."""

    seed: int
    n_albums: int
    n_artists: int
    #: hand-made tracks (edge cases) at negative indices
    special_tracks: dict[int, TrackRec] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # rendering a page touches the same albums and artists again and again; both are few
        self._albums: dict[int, AlbumRec] = {}
        self._artists: dict[int, ArtistRec] = {}
        # id -> index, built on the first look-up (writes resolve URIs; reads never need them)
        self._ids: dict[str, dict[str, int]] | None = None
        self._ids_lock = threading.Lock()

    def add_special_tracks(self, tracks: dict[int, TrackRec]) -> None:
        """Hand-made tracks at negative indices; their albums and artists get negative indices too."""
        self.special_tracks.update(tracks)
        known = {artist.id for artist in self._artists.values()}
        for index in sorted(tracks, reverse=True):
            track = tracks[index]
            self._albums[track.album.index] = track.album
            for artist in (*track.artists, *track.album.artists):
                if artist.id not in known:
                    known.add(artist.id)
                    self._artists[-1 - sum(1 for i in self._artists if i < 0)] = artist
        self._ids = None

    def track_index(self, album: int, number: int) -> int:
        """The catalogue index of track ``number`` (0-based) of ``album``."""
        return album * SLOTS + number % self.album(album).total_tracks

    def album(self, index: int) -> AlbumRec:
        album = self._albums.get(index)
        if album is None:
            album = self._albums[index] = self._album(index)
        return album

    def artist(self, index: int) -> ArtistRec:
        artist = self._artists.get(index)
        if artist is None:
            artist = self._artists[index] = self._artist(index)
        return artist

    def track(self, index: int) -> TrackRec:
        special = self.special_tracks.get(index)
        if special is not None:
            return special
        album = self.album(index // SLOTS)
        number = index % SLOTS
        h = hash_of(Domain.TRACK, self.seed, index)
        words = mix64(h)
        artists = album.artists
        if h % 7 == 0:  # a featured artist now and then
            artists = (*artists, self.artist((h >> 8) % self.n_artists))
        name = f"{ADJECTIVES[words % len(ADJECTIVES)]} {NOUNS[(words >> 16) % len(NOUNS)]}"
        if h % 11 == 0:
            name += f" (feat. {artists[-1].name})" if len(artists) > 1 else " - Remastered"
        country = ("US", "GB", "SE", "DE")[(h >> 20) % 4]
        return TrackRec(
            id=spotify_id(Domain.TRACK, self.seed, index),
            name=name,
            artists=artists,
            album=album,
            duration_ms=90_000 + (h >> 12) % 330_000,
            isrc=f"{country}{base62(h >> 24, 3).upper()}{20 + (h >> 40) % 6:02d}{(h >> 44) % 100000:05d}",
            explicit=(h >> 4) % 9 == 0,
            track_number=number + 1,
        )

    def _album(self, index: int) -> AlbumRec:
        h = hash_of(Domain.ALBUM, self.seed, index)
        artists: tuple[ArtistRec, ...] = (self.artist(h % self.n_artists),)
        if (h >> 32) % 13 == 0:
            artists = (*artists, self.artist((h >> 16) % self.n_artists))
        total = 1 + (h >> 8) % SLOTS
        album_type = "single" if total <= 3 else ("compilation" if (h >> 40) % 17 == 0 else "album")
        year = 1965 + (h >> 12) % 61
        precision = ("day", "day", "day", "month", "year")[(h >> 20) % 5]
        release = {
            "day": f"{year}-{1 + (h >> 24) % 12:02d}-{1 + (h >> 28) % 28:02d}",
            "month": f"{year}-{1 + (h >> 24) % 12:02d}",
            "year": str(year),
        }[precision]
        words = mix64(h)
        name = f"{NOUNS[words % len(NOUNS)]} of {ADJECTIVES[(words >> 16) % len(ADJECTIVES)]} Days"
        return AlbumRec(
            id=spotify_id(Domain.ALBUM, self.seed, index),
            name=name,
            artists=artists,
            release_date=release,
            release_date_precision=precision,
            album_type=album_type,
            total_tracks=total,
            upc=f"{h % 10**12:012d}",
            index=index,
        )

    def _artist(self, index: int) -> ArtistRec:
        h = hash_of(Domain.ARTIST, self.seed, index)
        words = mix64(h)
        if h % 3 == 0:
            name = f"The {ADJECTIVES[words % len(ADJECTIVES)]} {BAND_WORDS[(words >> 16) % len(BAND_WORDS)]}"
        else:
            name = f"{FIRST_NAMES[words % len(FIRST_NAMES)]} {NOUNS[(words >> 16) % len(NOUNS)]}"
        genres = tuple(dict.fromkeys(GENRES[(h >> (8 * k)) % len(GENRES)] for k in range((h >> 60) % 4)))
        return ArtistRec(spotify_id(Domain.ARTIST, self.seed, index), name, genres)

    def album_track_indices(self, album: AlbumRec) -> Sequence[int]:
        """Catalogue indices of an album's tracks (a hand-made album: the hand-made tracks on it)."""
        if album.index < 0:
            return sorted((i for i, t in self.special_tracks.items() if t.album.id == album.id), reverse=True)
        return range(album.index * SLOTS, album.index * SLOTS + album.total_tracks)

    # -- ids to indices (what a URI names) ----------------------------------------------------

    def _index(self) -> dict[str, dict[str, int]]:
        ids = self._ids
        if ids is not None:
            return ids
        with self._ids_lock:
            if self._ids is None:
                tracks = {t.id: i for i, t in self.special_tracks.items()}
                albums = {a.id: i for i, a in self._albums.items() if i < 0}
                artists = {a.id: i for i, a in self._artists.items() if i < 0}
                for index in range(self.n_albums):
                    album = self.album(index)
                    albums[album.id] = index
                    for track in self.album_track_indices(album):
                        tracks[spotify_id(Domain.TRACK, self.seed, track)] = track
                for index in range(self.n_artists):
                    artists[spotify_id(Domain.ARTIST, self.seed, index)] = index
                self._ids = {"track": tracks, "album": albums, "artist": artists}
            return self._ids

    def track_by_id(self, track_id: str) -> int | None:
        return self._index()["track"].get(track_id)

    def album_by_id(self, album_id: str) -> int | None:
        return self._index()["album"].get(album_id)

    def artist_by_id(self, artist_id: str) -> int | None:
        return self._index()["artist"].get(artist_id)
