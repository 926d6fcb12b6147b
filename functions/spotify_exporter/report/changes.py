"""The "Latest changes" section: the latest snapshot's changes document as lists people read (what
was liked, saved, followed, created, renamed, edited), each cut at :data:`LIST_LIMIT` entries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from ..diff import SAVED_KINDS, summarize
from . import formats
from .gather import ReportData
from .stats import JSON, change_counts, obj, parse_time

LIST_LIMIT = 25
#: per saved dataset: the block's title and the words for added and removed
SAVED_TITLES = {
    "library": ("Liked songs", "Liked", "Unliked"),
    "albums": ("Saved albums", "Saved", "Removed"),
    "artists": ("Followed artists", "Followed", "Unfollowed"),
    "shows": ("Saved shows", "Saved", "Removed"),
    "episodes": ("Saved episodes", "Saved", "Removed"),
    "audiobooks": ("Saved audiobooks", "Saved", "Removed"),
}
#: per saved dataset: the unit of its summary chips, singular and plural
CHIP_UNITS = {
    "library": ("liked song", "liked songs"),
    "albums": ("album", "albums"),
    "artists": ("artist", "artists"),
    "shows": ("show", "shows"),
    "episodes": ("episode", "episodes"),
    "audiobooks": ("audiobook", "audiobooks"),
}
PLAYLIST_VERBS = (("created", "created"), ("deleted", "deleted"), ("renamed", "renamed"), ("changed", "edited"))
T = TypeVar("T")


@dataclass(frozen=True)
class Thing:
    """A song, album, artist... as listed: its name (or URI), and who made it when that is known."""

    name: str
    empty: str  # shown when the name is blank
    by: str = ""

    @classmethod
    def of(cls, thing: JSON, detail: str | None) -> Thing:
        name = str(thing.get("name") or "")
        extra = thing.get(detail) if detail else None
        by = str(extra) if extra else ""
        if name:
            return cls(name, "(no name)", by)
        return cls(str(thing.get("uri") or ""), "(unavailable)", by)


@dataclass(frozen=True)
class Listing(Generic[T]):
    """The first :data:`LIST_LIMIT` of ``total`` entries, and how many more there are."""

    entries: list[T]
    total: int

    @classmethod
    def of(cls, found: list[T]) -> Listing[T]:
        return cls(found[:LIST_LIMIT], len(found))

    @property
    def more(self) -> int:
        return self.total - len(self.entries)


@dataclass(frozen=True)
class Group:
    """Added or removed things of one saved dataset."""

    verb: str  # "added" or "removed"
    label: str  # "Liked", "Unfollowed"...
    tone: str  # "up" or "down"
    things: Listing[Thing]


@dataclass(frozen=True)
class SavedBlock:
    dataset: str
    title: str
    groups: list[Group]


@dataclass(frozen=True)
class Entry:
    """One item of an edited playlist: added (at), removed (was at) or moved (from → to)."""

    kind: str  # "added", "removed" or "moved"
    thing: Thing
    position: str


@dataclass(frozen=True)
class EditedPlaylist:
    name: str
    counts: str  # "+3, −1, 2 moved"
    entries: Listing[Entry]


@dataclass(frozen=True)
class PlaylistChanges:
    created: Listing[tuple[str, int]]  # (name, items)
    deleted: Listing[tuple[str, int]]
    renamed: Listing[tuple[str, str]]  # (old name, new name)
    edited: list[EditedPlaylist]

    @property
    def empty(self) -> bool:
        return not (self.created.total or self.deleted.total or self.renamed.total or self.edited)


@dataclass(frozen=True)
class Changes:
    """What the section shows; ``document`` None: no changes to show (``first`` tells why)."""

    document: JSON | None
    first: bool  # the latest snapshot is the account's first
    period: str = ""
    added: int = 0
    removed: int = 0
    chips: tuple[tuple[str, str], ...] = ()  # (tone, text)
    saved_before: tuple[SavedBlock, ...] = ()  # liked songs, shown before the playlists
    playlists: PlaylistChanges | None = None
    saved_after: tuple[SavedBlock, ...] = ()  # albums, artists, podcasts and audiobooks
    not_compared: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.saved_before and not self.saved_after and (self.playlists is None or self.playlists.empty)


def changes_view(data: ReportData) -> Changes:
    document = data.latest_changes
    if document is None:
        return Changes(None, len(data.snapshots) < 2)
    old, new = obj(document.get("old")), obj(document.get("new"))
    since, until = parse_time(old.get("started_at")), parse_time(new.get("started_at"))
    period = (
        f"{formats.day(since) if since else old.get('folder')} to {formats.day(until) if until else new.get('folder')}"
    )
    counts = change_counts(document, until or datetime.now(UTC))
    blocks = [block for kind in SAVED_KINDS if (block := saved_block(document, kind.dataset, kind.detail))]
    return Changes(
        document,
        False,
        period,
        sum(counts.added.values()),
        sum(counts.removed.values()),
        tuple(chips(document)),
        tuple(b for b in blocks if b.dataset == "library"),
        playlist_changes(obj(document.get("playlists"))),
        tuple(b for b in blocks if b.dataset != "library"),
        tuple(str(x) for x in document.get("not_compared") or []),
    )


def chips(document: JSON) -> list[tuple[str, str]]:
    """The summary line: added and removed per saved dataset, then playlists created, deleted, renamed, edited."""
    summary = obj(document.get("summary")) or summarize(document)
    found = []
    for key, (one, many) in CHIP_UNITS.items():
        section = obj(summary.get(key))
        added, removed = int(section.get("added") or 0), int(section.get("removed") or 0)
        if added:
            found.append(("up", f"+{formats.count(added)} {one if added == 1 else many}"))
        if removed:
            found.append(("down", f"−{formats.count(removed)} {one if removed == 1 else many}"))
    playlists = obj(summary.get("playlists"))
    for key, verb in PLAYLIST_VERBS:
        if number := int(playlists.get(key) or 0):
            found.append(("", f"{formats.plural(number, 'playlist')} {verb}"))
    return found


def saved_block(document: JSON, dataset: str, detail: str | None) -> SavedBlock | None:
    section = obj(document.get(dataset))
    title, added_label, removed_label = SAVED_TITLES[dataset]
    groups = []
    for verb, label, tone in (("added", added_label, "up"), ("removed", removed_label, "down")):
        things = [t for t in section.get(verb) or [] if isinstance(t, dict)]
        if things:
            groups.append(Group(verb, label, tone, Listing.of([Thing.of(t, detail) for t in things])))
    return SavedBlock(dataset, title, groups) if groups else None


def _dicts(value: object) -> list[JSON]:
    return [x for x in value if isinstance(x, dict)] if isinstance(value, list) else []


def playlist_changes(playlists: JSON) -> PlaylistChanges:
    def sized(verb: str) -> Listing[tuple[str, int]]:
        return Listing.of([(str(p.get("name") or ""), int(p.get("items") or 0)) for p in _dicts(playlists.get(verb))])

    renamed = [(str(r.get("old_name") or ""), str(r.get("new_name") or "")) for r in _dicts(playlists.get("renamed"))]
    return PlaylistChanges(
        sized("created"),
        sized("deleted"),
        Listing.of(renamed),
        [edited_playlist(change) for change in _dicts(playlists.get("changed"))],
    )


def edited_playlist(change: JSON) -> EditedPlaylist:
    added, removed, moved = (_dicts(change.get(verb)) for verb in ("added", "removed", "moved"))
    counts = ", ".join(
        text
        for number, text in (
            (len(added), f"+{formats.count(len(added))}"),
            (len(removed), f"−{formats.count(len(removed))}"),
            (len(moved), f"{formats.count(len(moved))} moved"),
        )
        if number
    )

    def place(item: JSON, key: str = "position") -> str:
        return formats.count(int(item.get(key) or 0) + 1)

    entries = [Entry("added", Thing.of(i, "artists"), f"at {place(i)}") for i in added]
    entries += [Entry("removed", Thing.of(i, "artists"), f"was at {place(i)}") for i in removed]
    entries += [Entry("moved", Thing.of(i, "artists"), f"{place(i, 'old_position')} → {place(i)}") for i in moved]
    return EditedPlaylist(str(change.get("name") or ""), counts, Listing.of(entries))
