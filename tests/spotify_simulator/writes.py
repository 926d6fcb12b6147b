"""Changes to an account as Spotify's write endpoints make them, shared by the server and by tests.

The server checks what is HTTP's business (the token's scopes, who may change which playlist,
request limits, body shapes) and then calls an :class:`Editor` method; tests call the same
methods (``sim.edit``) to change an account between two exports, without HTTP and without
those checks (a test may rename someone else's playlist, as its owner would). Either way a
change is validated as a whole before anything is applied, and every change to a playlist
gives it a new ``snapshot_id``.

Ordering rules, as Spotify's listings show them:

* ``save`` (``PUT /me/library``): a newly saved item becomes the newest of its collection
  (first in ``GET /me/tracks``, ``/me/albums``, ..., ``/me/playlists``); within one call later
  URIs count as newer, so the last URI of a request is listed first. An item already saved is
  left alone: not duplicated, not moved, its ``added_at`` unchanged.
* followed artists (``spotify:artist:`` URIs saved with ``PUT /me/library``, see ``rules.py``)
  are listed in id order whenever they were followed (``GET /me/following``).
* a created playlist comes first in ``GET /me/playlists``.
* added playlist items get ``added_at`` = now (the simulator's clock, epoch seconds) and
  ``added_by`` = the user; moved items keep theirs; replaced items are new items.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from .catalog import Domain, base62, hash_of, mix64
from .model import EPISODE, KIND_CODES, LOCAL, TRACK, Account, Entry, Playlist
from .rules import LIBRARY_SCOPES

BASE62_ID = re.compile(r"[0-9A-Za-z]{22}")
#: what ``PUT``/``DELETE``/``GET /me/library(/contains)`` accept: the spec's list, plus artists
#: (Spotify's migration guide follows artists there; see ``rules.py``)
LIBRARY_KINDS = tuple(LIBRARY_SCOPES)
#: what playlists hold
ITEM_KINDS = ("track", "episode")


class WriteError(ValueError):
    """A change Spotify refuses: ``status`` and ``message`` are its error answer's."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Uri(NamedTuple):
    kind: str  # track, episode, album, artist, show, audiobook, user, playlist or local
    id: str  # the id; for local files, everything after ``spotify:local:``
    text: str


def parse_uri(text: str) -> Uri:
    """A Spotify URI's parts; 400 unless it is ``spotify:<type>:<id>`` (or a local file's)."""
    if text.startswith("spotify:local:"):
        return Uri("local", text.removeprefix("spotify:local:"), text)
    parts = text.split(":")
    if len(parts) != 3 or parts[0] != "spotify" or not parts[1] or not parts[2]:
        raise WriteError(400, f"Invalid URI: {text}")
    return Uri(parts[1], parts[2], text)


def entry_uri(account: Account, entry: Entry) -> str | None:
    """The URI of a playlist item; None for one Spotify no longer knows (a null item)."""
    if entry.kind == TRACK:
        return f"spotify:track:{account.catalog.track(entry.ref).id}"
    if entry.kind == EPISODE:
        return f"spotify:episode:{account.episode_pool[entry.ref].id}"
    if entry.kind == LOCAL:
        return account.local_files[entry.ref].uri
    return None


def bump(playlist: Playlist, account: Account) -> str:
    """Give ``playlist`` a new ``snapshot_id``, unlike every earlier one; return it."""
    if playlist.snapshot_id:
        playlist.history.append(playlist.snapshot_id)
    seen = set(playlist.history)
    content = hash_of(len(playlist.entries), *(hash_of(KIND_CODES[e.kind], e.ref) for e in playlist.entries[:256]))
    while True:
        playlist.revision += 1
        h = hash_of(Domain.SNAPSHOT, account.seed, playlist.revision, content, *map(ord, playlist.id))
        snapshot = "AAAA" + base62(h, 11) + base62(mix64(h), 11) + "=="
        if snapshot not in seen:
            playlist.snapshot_id = snapshot
            return snapshot


@dataclass(frozen=True)
class Fingerprint:
    """What a playlist looks like, to notice that a test changed it (``SpotifySimulator.change``)."""

    snapshot_id: str
    state: tuple[Any, ...]

    @staticmethod
    def of(playlist: Playlist) -> Fingerprint:
        state = (
            playlist.name,
            playlist.description,
            playlist.public,
            playlist.collaborative,
            playlist.owner,
            tuple(playlist.entries),
            playlist.cover,
        )
        return Fingerprint(playlist.snapshot_id, state)


class _Saved:
    """The keys saved per collection, computed once per call (liked songs can be 30,000)."""

    def __init__(self, collections: dict[str, tuple[list[Any], Callable[[Any], Any]]]) -> None:
        self.collections = collections
        self._keys: dict[str, set[Any]] = {}

    def _of(self, kind: str) -> set[Any]:
        keys = self._keys.get(kind)
        if keys is None:
            things, key = self.collections[kind]
            keys = self._keys[kind] = {key(thing) for thing in things}
        return keys

    def has(self, kind: str, key: Any) -> bool:
        return key in self._of(kind)

    def add(self, kind: str, key: Any) -> bool:
        """Note ``key`` as saved; False when it already was."""
        keys = self._of(kind)
        if key in keys:
            return False
        keys.add(key)
        return True


class Editor:
    """The changes Spotify's write endpoints make, on one account; thread-safe (``lock``).

    ``clock`` gives "now" in epoch seconds for ``added_at``. Methods raise :class:`WriteError`
    (400 for a bad URI, id, position or snapshot id; 404 for an unknown playlist) and change
    nothing then.
    """

    def __init__(self, account: Account, lock: threading.RLock, clock: Callable[[], float]) -> None:
        self.account = account
        self.lock = lock
        self.clock = clock
        self._created = 0

    # -- resolving ---------------------------------------------------------------------------

    def playlist(self, playlist_id: str) -> Playlist:
        found = self.account.playlist(playlist_id)
        if found is None:
            raise WriteError(404, "Resource not found")
        return found

    def _ref(self, uri: Uri) -> Any:
        """What ``uri`` names in this account's world (an index, a record, a playlist)."""
        a = self.account
        if uri.kind == "user":
            if not uri.id:
                raise WriteError(400, f"Invalid URI: {uri.text}")
            return uri.id
        if not BASE62_ID.fullmatch(uri.id):
            raise WriteError(400, "Invalid base62 id")
        if uri.id in a.withdrawn:
            raise WriteError(400, "Payload contains a non-existing ID")
        found: Any = None
        if uri.kind == "track":
            found = a.catalog.track_by_id(uri.id)
        elif uri.kind == "album":
            found = a.catalog.album_by_id(uri.id)
        elif uri.kind == "artist":
            found = a.catalog.artist_by_id(uri.id)
        elif uri.kind == "episode":
            found = next((n for n, e in enumerate(a.episode_pool) if e.id == uri.id), None)
        elif uri.kind == "show":
            found = next((s for s in a.show_pool if s.id == uri.id), None)
        elif uri.kind == "audiobook":
            found = next((b for b in a.audiobook_pool if b.id == uri.id), None)
        elif uri.kind == "playlist":
            found = a.playlist(uri.id)
        if found is None:
            raise WriteError(400, "Payload contains a non-existing ID")
        return found

    def _new_entries(self, uris: Sequence[str], added_by: str | None) -> list[Entry]:
        adder = 0 if added_by is None else self._user_index(added_by)
        now = int(self.clock())
        entries = []
        for text in uris:
            uri = parse_uri(text)
            if uri.kind not in ITEM_KINDS:
                raise WriteError(400, f"Invalid track uri: {text}")
            entries.append(Entry(TRACK if uri.kind == "track" else EPISODE, self._ref(uri), now, adder))
        return entries

    def _user_index(self, user_id: str) -> int:
        for index, user in enumerate(self.account.users):
            if user.id == user_id:
                return index
        raise WriteError(400, f"Unknown user {user_id}")

    @staticmethod
    def _check_snapshot(playlist: Playlist, snapshot_id: str | None) -> None:
        """A snapshot id this playlist never had is refused; a past one is applied to the current items."""
        if snapshot_id is not None and snapshot_id != playlist.snapshot_id and snapshot_id not in playlist.history:
            raise WriteError(400, "Invalid snapshot id")

    # -- playlists ---------------------------------------------------------------------------

    def new_playlist_id(self) -> str:
        """22 base62 characters, unlike any playlist id in this account's world."""
        me = hash_of(*map(ord, self.account.me.id))
        while True:
            self._created += 1
            h = hash_of(Domain.PLAYLIST, self.account.seed, me, self._created)
            candidate = base62(h, 11) + base62(mix64(h), 11)
            if self.account.playlist(candidate) is None:
                return candidate

    def create_playlist(
        self, name: str, *, description: str = "", public: bool = True, collaborative: bool = False
    ) -> Playlist:
        """A new empty playlist of the user's, first in their list (``POST /me/playlists``)."""
        if collaborative and public:
            raise WriteError(400, "Collaborative playlists can only be private.")
        with self.lock:
            playlist = Playlist(self.new_playlist_id(), name, 0, collaborative, public, description, [])
            bump(playlist, self.account)
            self.account.playlists.insert(0, playlist)
            self.account.world[playlist.id] = playlist
            return playlist

    def change_details(
        self,
        playlist_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        public: bool | None = None,
        collaborative: bool | None = None,
    ) -> str:
        """``PUT /playlists/{id}``: None leaves a detail as it is. Returns the new snapshot id."""
        with self.lock:
            playlist = self.playlist(playlist_id)
            now_public = playlist.public if public is None else public
            now_collaborative = playlist.collaborative if collaborative is None else collaborative
            if now_collaborative and now_public:
                raise WriteError(400, "Collaborative playlists can only be private.")
            if name is not None:
                playlist.name = name
            if description is not None:
                playlist.description = description
            playlist.public, playlist.collaborative = now_public, now_collaborative
            return bump(playlist, self.account)

    def add_items(
        self, playlist_id: str, uris: Sequence[str], position: int | None = None, added_by: str | None = None
    ) -> str:
        """Insert tracks/episodes at ``position`` (default: append); ``added_by`` a user id (default: the user)."""
        with self.lock:
            playlist = self.playlist(playlist_id)
            entries = self._new_entries(uris, added_by)
            at = len(playlist.entries) if position is None else position
            if not 0 <= at <= len(playlist.entries):
                raise WriteError(400, "Index out of bounds")
            playlist.entries[at:at] = entries
            return bump(playlist, self.account)

    def replace_items(self, playlist_id: str, uris: Sequence[str]) -> str:
        """All items replaced by new ones (an empty list clears the playlist)."""
        with self.lock:
            playlist = self.playlist(playlist_id)
            playlist.entries[:] = self._new_entries(uris, None)
            return bump(playlist, self.account)

    def reorder_items(
        self,
        playlist_id: str,
        range_start: int,
        insert_before: int,
        range_length: int = 1,
        snapshot_id: str | None = None,
    ) -> str:
        """Move ``range_length`` items from ``range_start`` to before ``insert_before`` (positions of now)."""
        with self.lock:
            playlist = self.playlist(playlist_id)
            self._check_snapshot(playlist, snapshot_id)
            entries, end = playlist.entries, range_start + range_length
            if range_length < 1 or range_start < 0 or end > len(entries) or not 0 <= insert_before <= len(entries):
                raise WriteError(400, "Index out of bounds")
            block = entries[range_start:end]
            del entries[range_start:end]
            if insert_before > range_start:
                insert_before = max(range_start, insert_before - range_length)
            entries[insert_before:insert_before] = block
            return bump(playlist, self.account)

    def remove_items(self, playlist_id: str, uris: Sequence[str], snapshot_id: str | None = None) -> str:
        """Remove every occurrence of each URI (tracks, episodes, local files); absent ones are ignored."""
        with self.lock:
            playlist = self.playlist(playlist_id)
            self._check_snapshot(playlist, snapshot_id)
            gone = set()
            for text in uris:
                uri = parse_uri(text)
                if uri.kind not in (*ITEM_KINDS, "local"):
                    raise WriteError(400, f"Invalid track uri: {text}")
                if uri.kind != "local" and not BASE62_ID.fullmatch(uri.id):
                    raise WriteError(400, "Invalid base62 id")
                gone.add(text)
            playlist.entries[:] = [e for e in playlist.entries if entry_uri(self.account, e) not in gone]
            return bump(playlist, self.account)

    def set_cover(self, playlist_id: str, jpeg: bytes | None) -> str:
        """Set (None: remove) the custom cover (``PUT /playlists/{id}/images`` only ever sets one)."""
        with self.lock:
            playlist = self.playlist(playlist_id)
            playlist.cover = jpeg
            return bump(playlist, self.account)

    # -- library -----------------------------------------------------------------------------

    def resolve(self, uris: Sequence[str], kinds: Sequence[str]) -> list[tuple[Uri, Any]]:
        """Each URI parsed and looked up; 400 for a kind not in ``kinds``, a bad or an unknown id."""
        resolved = []
        for text in uris:
            uri = parse_uri(text)
            if uri.kind not in kinds:
                raise WriteError(400, f"Unsupported URI type: {uri.kind}")
            resolved.append((uri, self._ref(uri)))
        return resolved

    def _collections(self) -> dict[str, tuple[list[Any], Callable[[Any], Any]]]:
        """kind -> (the saved list, newest first; the key an item is saved under)."""
        a = self.account
        return {
            "track": (a.liked, lambda saved: saved[0]),
            "album": (a.albums, lambda saved: saved[0]),
            "episode": (a.episodes, lambda saved: saved[0].id),
            "show": (a.shows, lambda saved: saved[0].id),
            "audiobook": (a.audiobooks, lambda saved: saved[0].id),
            "playlist": (a.playlists, lambda playlist: playlist.id),
        }

    @staticmethod
    def _key(uri: Uri, ref: Any) -> Any:
        return ref if uri.kind in ("track", "album", "artist") else uri.id

    def save(self, uris: Sequence[str]) -> None:
        """``PUT /me/library``: save (follow: artists, playlists) each URI; the module docstring says in which order.

        ``spotify:user:`` URIs are accepted and ignored (the simulator does not model followed users).
        """
        with self.lock:
            resolved = self.resolve(uris, LIBRARY_KINDS)
            now = int(self.clock())
            saved = _Saved(self._collections())
            for uri, ref in resolved:
                if uri.kind == "artist":
                    self._follow_artist(ref)
                    continue
                if uri.kind == "user" or not saved.add(uri.kind, self._key(uri, ref)):
                    continue
                things = saved.collections[uri.kind][0]
                if uri.kind == "playlist":
                    things.insert(0, ref)
                elif uri.kind == "episode":
                    things.insert(0, (self.account.episode_pool[ref], now))
                else:
                    things.insert(0, (ref, now))

    def unsave(self, uris: Sequence[str]) -> None:
        """``DELETE /me/library``: remove (unfollow) each URI; what is not saved is ignored.

        An unfollowed playlist of the user's own still exists (it can be followed again).
        """
        with self.lock:
            gone: dict[str, set[Any]] = {}
            for uri, ref in self.resolve(uris, LIBRARY_KINDS):
                if uri.kind != "user":
                    gone.setdefault(uri.kind, set()).add(self._key(uri, ref))
            artists = gone.pop("artist", set())
            self.account.artists[:] = [i for i in self.account.artists if i not in artists]
            collections = self._collections()
            for kind, keys in gone.items():
                things, key = collections[kind]
                things[:] = [thing for thing in things if key(thing) not in keys]

    def contains(self, uris: Sequence[str]) -> list[bool]:
        """``GET /me/library/contains``: artists count when followed; users never (not modelled)."""
        with self.lock:
            saved = _Saved(self._collections())
            answer = []
            for uri, ref in self.resolve(uris, LIBRARY_KINDS):
                if uri.kind == "artist":
                    answer.append(ref in self.account.artists)
                else:
                    answer.append(uri.kind != "user" and saved.has(uri.kind, self._key(uri, ref)))
            return answer

    def follow_artists(self, ids: Sequence[str]) -> None:
        """Follow artists by id (as ``PUT /me/library`` with their URIs does)."""
        self.save([f"spotify:artist:{i}" for i in ids])

    def unfollow_artists(self, ids: Sequence[str]) -> None:
        self.unsave([f"spotify:artist:{i}" for i in ids])

    def _follow_artist(self, index: int) -> None:
        """The artist joins the followed list at its place in id order (already there: nothing changes)."""
        catalog, artists = self.account.catalog, self.account.artists
        if index not in artists:
            order = [catalog.artist(i).id for i in artists]
            artists.insert(bisect_left(order, catalog.artist(index).id), index)
