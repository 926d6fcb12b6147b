"""The account model: plain dataclasses holding compact records, shared by builder, server and truth."""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass, field
from typing import NamedTuple

from .catalog import AudiobookRec, Catalog, EpisodeRec, LocalFileRec, ShowRec

#: the simulated "now": every timestamp of an account lies before it
NOW = calendar.timegm((2026, 11, 20, 12, 0, 0))
EPOCH_1970 = 0

#: playlist entry kinds; ``unavailable`` is a null item (the track is gone from Spotify)
TRACK, EPISODE, LOCAL, UNAVAILABLE = "track", "episode", "local", "unavailable"
KIND_CODES = {TRACK: 1, EPISODE: 2, LOCAL: 3, UNAVAILABLE: 4}


def iso(moment: int | None) -> str | None:
    """Spotify's timestamp format: UTC, whole seconds, a "Z"."""
    return None if moment is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


class Entry(NamedTuple):
    """One playlist item: ``ref`` indexes the catalogue (track), ``episode_pool`` or ``local_files``."""

    kind: str
    ref: int
    added_at: int | None  # epoch seconds; None is the spec's "very old playlists may return null"
    added_by: int | None  # index into Account.users; None when Spotify does not know


@dataclass(frozen=True)
class User:
    id: str
    display_name: str | None


@dataclass
class Playlist:
    id: str
    name: str
    owner: int  # index into Account.users; 0 is the account's user
    collaborative: bool
    public: bool | None
    description: str
    entries: list[Entry]
    snapshot_id: str = ""
    #: a custom cover (JPEG bytes) uploaded by the owner; None: Spotify's generated images
    cover: bytes | None = None
    #: writes so far; each one gives a new ``snapshot_id`` (see ``writes.bump``)
    revision: int = 0
    #: every earlier ``snapshot_id`` of this playlist, oldest first
    history: list[str] = field(default_factory=list)

    @property
    def readable(self) -> bool:
        """Development-mode apps read only the items of playlists the user owns or collaborates on."""
        return self.owner == 0 or self.collaborative


@dataclass
class Account:
    size: str
    seed: int
    users: list[User]
    catalog: Catalog
    liked: list[tuple[int, int]] = field(default_factory=list)  # (track index, added_at), newest first
    playlists: list[Playlist] = field(default_factory=list)
    albums: list[tuple[int, int]] = field(default_factory=list)  # (catalogue album index, added_at)
    artists: list[int] = field(default_factory=list)  # catalogue artist indices, in Spotify's id order
    shows: list[tuple[ShowRec, int]] = field(default_factory=list)
    episodes: list[tuple[EpisodeRec, int]] = field(default_factory=list)
    audiobooks: list[tuple[AudiobookRec, int]] = field(default_factory=list)
    episode_pool: list[EpisodeRec] = field(default_factory=list)  # episodes that playlists refer to
    local_files: list[LocalFileRec] = field(default_factory=list)
    #: every show and audiobook that exists (saved or not): what ``spotify:show:``/``audiobook:`` URIs resolve to
    show_pool: list[ShowRec] = field(default_factory=list)
    audiobook_pool: list[AudiobookRec] = field(default_factory=list)
    #: every playlist that exists, by id: the user's (listed in ``playlists`` or not) and other users'
    world: dict[str, Playlist] = field(default_factory=dict, repr=False, compare=False)
    #: ids of things Spotify has withdrawn since (licences end): writes naming them answer 400
    withdrawn: set[str] = field(default_factory=set, repr=False, compare=False)

    @property
    def me(self) -> User:
        return self.users[0]

    def playlist(self, playlist_id: str) -> Playlist | None:
        """Any playlist that exists (followed or not), by id."""
        found = self.world.get(playlist_id)
        if found is None:  # listed but not registered yet (a test appended it): register it now
            found = next((p for p in self.playlists if p.id == playlist_id), None)
            if found is not None:
                self.world[found.id] = found
        return found

    def describe(self) -> str:
        items = sum(len(p.entries) for p in self.playlists)
        return (
            f"{len(self.liked)} liked songs, {len(self.playlists)} playlists ({items} items), "
            f"{len(self.albums)} albums, {len(self.artists)} artists, {len(self.shows)} shows, "
            f"{len(self.episodes)} episodes, {len(self.audiobooks)} audiobooks"
        )
