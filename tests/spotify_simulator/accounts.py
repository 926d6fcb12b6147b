"""Simulated Spotify accounts: what a user has saved, as compact, deterministic records.

``build_account(size, seed)`` always returns the same account for the same arguments. Every
size carries the hand-made edge cases (``edge_cases.py``); the larger sizes add generated
bulk with a sprinkle of the same oddities.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import TypeVar

from . import covers, edge_cases
from .catalog import (
    ADJECTIVES,
    NOUNS,
    SLOTS,
    Catalog,
    Domain,
    base62,
    hash_of,
    spotify_id,
)
from .model import EPISODE, EPOCH_1970, KIND_CODES, LOCAL, NOW, TRACK, UNAVAILABLE, Account, Entry, Playlist, User

T = TypeVar("T")


@dataclass(frozen=True)
class SizeSpec:
    liked: int
    #: item counts of the plain edge-case playlists (see edge_cases.PLAIN_PLAYLISTS), cycled
    edge_counts: tuple[int, ...]
    generated_playlists: int
    generated_items: int
    albums: int
    artists: int
    shows: int
    episodes: int
    audiobooks: int
    catalog_albums: int
    catalog_artists: int
    #: share of odd entries (null, local, episode, missing dates) in generated playlists
    sprinkle: float


SIZES: dict[str, SizeSpec] = {
    "tiny": SizeSpec(12, (1, 2, 3), 0, 0, 3, 4, 2, 3, 2, 40, 30, 0.0),
    # 201 liked: four full pages of 50 and a last page of one
    "small": SizeSpec(201, (50, 51, 101, 3, 7, 1, 12), 0, 0, 12, 57, 4, 6, 3, 120, 80, 0.0),
    "demo": SizeSpec(500, (50, 51, 101, 100, 149, 20, 35, 8), 11, 1_050, 60, 80, 10, 30, 5, 400, 200, 0.01),
    # the account of issue 13's round trip: about 64 own playlists, 2,000 liked songs
    "medium": SizeSpec(2_000, (50, 51, 101, 100, 149, 20, 35, 8), 56, 5_600, 150, 120, 12, 40, 6, 1_500, 600, 0.01),
    "large": SizeSpec(10_000, (50, 51, 101, 250, 500, 12), 286, 38_500, 200, 150, 20, 100, 10, 4_000, 1_500, 0.005),
    "huge": SizeSpec(30_000, (50, 51, 101, 1_000, 2_500, 12), 686, 145_000, 500, 400, 40, 300, 20, 12_000, 4_000, 5e-3),
}  # fmt: skip


#: the user of an empty account (``empty_like``): someone else than the source account's user
RESTORE_USER = User("restoretarget", "Restore Target")


def build_account(size: str = "small", seed: int = 0, empty: bool = False) -> Account:
    """The account of this size and seed (same arguments, same account, every time).

    ``empty=True``: ``empty_like`` that account, an empty account to restore into.
    """
    try:
        spec = SIZES[size]
    except KeyError:
        raise ValueError(f"unknown account size {size!r}; choose one of {', '.join(SIZES)}") from None
    account = _Builder(size, seed, spec).build()
    return empty_like(account) if empty else account


def empty_like(source: Account, user: User = RESTORE_USER) -> Account:
    """A new, empty account of another user (``user``) in the same world as ``source``.

    Same catalogue, episode, show and audiobook pools, local files and other users' playlists, so
    every URI of ``source`` (tracks, albums, artists, shows, episodes, audiobooks, followed
    playlists) resolves in it; but no liked songs, no saved anything, no followed artists and no
    playlists in ``GET /me/playlists``. Other users' playlists are copies (writes to a
    collaborative one do not reach ``source``) registered in ``world``, so
    ``PUT /me/library?uris=spotify:playlist:...`` can follow them. Playlists owned by
    ``source``'s user do not exist here (as after that account was deleted): a restore must
    create them anew. ``source``'s user stays known as the adder of items in others' playlists.
    """
    if user.id in {u.id for u in source.users}:
        raise ValueError(f"user {user.id!r} already exists in the source account")
    users = [user, *source.users[1:], source.me]
    moved = len(users) - 1  # where source's user (index 0) went

    def remap(index: int | None) -> int | None:
        return moved if index == 0 else index

    account = Account(source.size, source.seed, users, source.catalog)
    account.episode_pool = source.episode_pool
    account.local_files = source.local_files
    account.show_pool = source.show_pool
    account.audiobook_pool = source.audiobook_pool
    for playlist in [*source.world.values(), *source.playlists]:
        if playlist.owner == 0 or playlist.id in account.world:
            continue
        entries = [e._replace(added_by=remap(e.added_by)) for e in playlist.entries]
        account.world[playlist.id] = dataclasses.replace(playlist, entries=entries, history=list(playlist.history))
    return account


class _Builder:
    def __init__(self, size: str, seed: int, spec: SizeSpec) -> None:
        self.spec = spec
        self.rng = random.Random(f"account:{size}:{seed}")
        catalog = Catalog(seed, spec.catalog_albums, spec.catalog_artists)
        self.account = Account(size, seed, edge_cases.users(seed), catalog)
        self.playlist_count = 0

    def build(self) -> Account:
        a, spec = self.account, self.spec
        a.catalog.add_special_tracks(edge_cases.special_tracks(a.seed))
        a.local_files = edge_cases.local_files()
        shows = edge_cases.shows(a.seed, max(spec.shows, 3))
        a.episode_pool = edge_cases.episodes(a.seed, shows, max(spec.episodes, 4))
        a.audiobook_pool = edge_cases.audiobooks(a.seed, spec.audiobooks)
        a.show_pool = shows
        a.audiobooks = self._dated(a.audiobook_pool)
        a.shows = self._dated(shows[: spec.shows])
        a.episodes = self._dated(a.episode_pool[: spec.episodes])
        a.liked = self._liked()
        a.albums = self._dated(self._distinct(spec.albums, spec.catalog_albums))
        a.artists = sorted(self._distinct(spec.artists, spec.catalog_artists), key=lambda i: a.catalog.artist(i).id)
        a.playlists = self._edge_playlists() + self._generated_playlists()
        for playlist in a.playlists:
            playlist.snapshot_id = _snapshot_id(a.seed, playlist)
        a.world = {p.id: p for p in a.playlists}
        self._covers()
        self._descriptions()
        return a

    def _covers(self) -> None:
        """About 1 in 5 of the user's own non-empty playlists (at least one) have a custom cover.

        Chosen by a hash of the id, not by ``self.rng``: the rest of the account stays as it was.
        """
        own = [p for p in self.account.playlists if p.owner == 0 and p.entries]
        chosen = [p for p in own if hash_of(Domain.PLAYLIST, self.account.seed, *map(ord, p.id)) % 5 == 0]
        for playlist in chosen or own[:1]:
            playlist.cover = covers.jpeg(f"cover of {playlist.id}")

    def _descriptions(self) -> None:
        """About 1 in 3 playlists without a description (at least one of the user's) get one of
        ``edge_cases.DESCRIPTIONS``; chosen by a hash of the id, so the rest stays as it was."""
        bare = [p for p in self.account.playlists if not p.description]
        chosen = [p for p in bare if hash_of(Domain.PLAYLIST, self.account.seed, 3, *map(ord, p.id)) % 3 == 0]
        if not any(p.owner == 0 for p in chosen):
            chosen += [p for p in bare if p.owner == 0][:1]
        for n, playlist in enumerate(chosen):
            playlist.description = edge_cases.DESCRIPTIONS[n % len(edge_cases.DESCRIPTIONS)]

    # -- helpers -----------------------------------------------------------------------------

    def _random_track(self) -> int:
        catalog = self.account.catalog
        return catalog.track_index(self.rng.randrange(catalog.n_albums), self.rng.randrange(SLOTS))

    def _distinct(self, count: int, population: int) -> list[int]:
        return self.rng.sample(range(population), min(count, population))

    def _dated(self, things: list[T]) -> list[tuple[T, int]]:
        """Saved items, newest first, a few days apart."""
        moment, dated = NOW - 3_600, []
        for thing in things:
            dated.append((thing, moment))
            moment -= self.rng.randint(3_600, 9 * 86_400)
        return dated

    def _liked(self) -> list[tuple[int, int]]:
        specials = sorted(self.account.catalog.special_tracks)
        count = max(self.spec.liked, len(specials))
        # the edge-case tracks first (newest), then unique generated ones
        chosen, seen = list(reversed(specials)), set(specials)
        while len(chosen) < count:
            track = self._random_track()
            if track not in seen:
                seen.add(track)
                chosen.append(track)
        span = 10 * 365 * 86_400
        gap = max(2, 2 * span // count)
        moment, liked = NOW - 600, []
        for track in chosen:
            liked.append((track, moment))
            moment -= self.rng.randint(1, gap)
        return liked

    def _new_id(self) -> str:
        self.playlist_count += 1
        return spotify_id(Domain.PLAYLIST, self.account.seed, self.playlist_count)

    def _fill(self, count: int, adders: tuple[int, ...], sprinkle: float) -> list[Entry]:
        """``count`` entries added in order over the playlist's life; a ``sprinkle`` of odd ones."""
        rng, a = self.rng, self.account
        created = NOW - rng.randint(30 * 86_400, 12 * 365 * 86_400)
        step = max(1, (NOW - created) // max(count, 1))
        entries = []
        moment = created
        for position in range(count):
            moment += rng.randint(1, step)
            adder: int | None = adders[position % len(adders)]
            added_at: int | None = moment
            kind, ref = TRACK, -1
            if sprinkle and rng.random() < sprinkle * 4:
                odd = rng.randrange(6)
                if odd == 0:
                    kind = UNAVAILABLE
                elif odd == 1:
                    kind, ref = LOCAL, rng.randrange(len(a.local_files))
                elif odd == 2:
                    kind, ref = EPISODE, rng.randrange(len(a.episode_pool))
                elif odd == 3:
                    adder = None
                elif odd == 4:
                    added_at = EPOCH_1970
                else:
                    added_at = None
            if kind == TRACK:
                ref = self._random_track()
            entries.append(Entry(kind, ref, added_at, adder))
        return entries

    # -- playlists ---------------------------------------------------------------------------

    def _edge_playlists(self) -> list[Playlist]:
        counts = self.spec.edge_counts
        playlists = []
        for number, plain in enumerate(edge_cases.PLAIN_PLAYLISTS):
            count = 0 if plain.empty else counts[number % len(counts)]
            entries = self._fill(count, plain.adders, 0.0)
            playlists.append(
                Playlist(self._new_id(), plain.name, plain.owner, plain.collaborative, plain.public, "", entries)
            )
        mixed = edge_cases.mixed_entries(self._fill(len(edge_cases.MIXED_ODD) + max(counts), (0,), 0.0))
        playlists.insert(
            0, Playlist(self._new_id(), edge_cases.MIXED_NAME, 0, False, True, edge_cases.MIXED_DESC, mixed)
        )
        return playlists

    def _generated_playlists(self) -> list[Playlist]:
        spec, rng = self.spec, self.rng
        if not spec.generated_playlists:
            return []
        weights = [rng.random() ** 3 + 0.02 for _ in range(spec.generated_playlists)]
        scale = spec.generated_items / sum(weights)
        playlists = []
        for weight in weights:
            name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
            roll = rng.random()
            adders: tuple[int, ...]
            if roll < 0.05:  # followed, someone else's: items refused (403)
                owner, collaborative, adders = 1 + rng.randrange(3), False, (1,)
            elif roll < 0.08:  # collaborative
                owner, collaborative, adders = rng.choice((0, 2)), True, (0, 2, 3)
            else:
                owner, collaborative, adders = 0, False, (0,)
            public = (True, False, None)[rng.randrange(3)] if not collaborative else False
            entries = self._fill(round(weight * scale), adders, spec.sprinkle)
            playlists.append(Playlist(self._new_id(), name, owner, collaborative, public, "", entries))
        return playlists


def _snapshot_id(seed: int, playlist: Playlist) -> str:
    """Opaque, and like Spotify's: equal id, unchanged contents."""
    parts = [Domain.SNAPSHOT, seed, len(playlist.entries)]
    for entry in playlist.entries[:64]:
        parts += (KIND_CODES[entry.kind], entry.ref, -1 if entry.added_at is None else entry.added_at)
    content = hash_of(*parts)
    return "AAAA" + base62(content, 11) + base62(hash_of(content, 7), 11) + "=="
