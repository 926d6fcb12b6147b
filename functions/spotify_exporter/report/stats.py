"""The report's statistics: pure functions from manifests, changes documents and records to the
numbers the page shows (library sizes per snapshot, additions and removals per week, liked songs
per month and artist, the largest playlists). Nothing here reads a store or writes markup.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .. import rows
from ..history import SnapshotInfo

JSON = dict[str, Any]

#: datasets of the "library over time" cards, in the order a person thinks of them
DATASETS = (
    ("library", "Liked songs"),
    ("playlists", "Playlists"),
    ("playlist_items", "Playlist items"),
    ("albums", "Saved albums"),
    ("artists", "Followed artists"),
    ("shows", "Saved shows"),
    ("episodes", "Saved episodes"),
    ("audiobooks", "Saved audiobooks"),
)
#: how additions and removals are grouped in the weekly chart
CATEGORIES = (("liked", "Liked songs"), ("items", "Playlist items"), ("saved", "Albums, artists & podcasts"))
#: the datasets counted together as "saved" in the weekly chart
OTHER_SAVED = ("albums", "artists", "shows", "episodes", "audiobooks")
WEEKS_SHOWN = 52
MONTHS_SHOWN = 12
TOP_ARTISTS = 10
TOP_PLAYLISTS = 10


def obj(value: object) -> JSON:
    """``value`` if it is a JSON object, else an empty one: documents from disk may be odd."""
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class SizePoint:
    """The size of every dataset in one complete snapshot (None: not read in it)."""

    at: datetime
    counts: dict[str, int | None]


def library_sizes(snapshots: Sequence[SnapshotInfo]) -> list[SizePoint]:
    """Dataset counts per snapshot, from the manifests alone."""
    points = []
    for info in snapshots:
        datasets = info.manifest.get("datasets")
        datasets = datasets if isinstance(datasets, dict) else {}
        counts: dict[str, int | None] = {}
        for name, _ in DATASETS:
            entry = datasets.get(name)
            ok = isinstance(entry, dict) and entry.get("status") == "complete" and isinstance(entry.get("count"), int)
            counts[name] = int(entry["count"]) if ok and isinstance(entry, dict) else None
        points.append(SizePoint(info.started_at, counts))
    return points


@dataclass(frozen=True)
class ChangeCounts:
    """What one snapshot's changes document counts, by category (see ``CATEGORIES``)."""

    at: datetime
    added: dict[str, int]
    removed: dict[str, int]


def change_counts(document: JSON, at: datetime) -> ChangeCounts:
    """Additions and removals of a changes document; a created (deleted) playlist adds (removes)
    all its items."""

    def listed(section: str, verb: str) -> int:
        part = document.get(section)
        things = part.get(verb) if isinstance(part, dict) else None
        return len(things) if isinstance(things, list) else 0

    playlists = obj(document.get("playlists"))
    changed = [c for c in playlists.get("changed") or [] if isinstance(c, dict)]

    def items(verb: str, whole: str) -> int:
        count = sum(len(c.get(verb) or []) for c in changed)
        count += sum(int(p.get("items") or 0) for p in playlists.get(whole) or [] if isinstance(p, dict))
        return count

    added = {
        "liked": listed("library", "added"),
        "items": items("added", "created"),
        "saved": sum(listed(name, "added") for name in OTHER_SAVED),
    }
    removed = {
        "liked": listed("library", "removed"),
        "items": items("removed", "deleted"),
        "saved": sum(listed(name, "removed") for name in OTHER_SAVED),
    }
    return ChangeCounts(at, added, removed)


@dataclass(frozen=True)
class Week:
    """Additions and removals seen by the exports of one week (Monday to Sunday, UTC)."""

    start: date
    added: dict[str, int]
    removed: dict[str, int]
    exports: int

    @property
    def total_added(self) -> int:
        return sum(self.added.values())

    @property
    def total_removed(self) -> int:
        return sum(self.removed.values())


def week_start(moment: datetime | date) -> date:
    """The Monday of the (UTC) week ``moment`` falls in."""
    day = moment.astimezone(UTC).date() if isinstance(moment, datetime) else moment
    return day - timedelta(days=day.weekday())


def weekly_changes(
    points: Iterable[ChangeCounts], *, since: datetime | None = None, weeks: int = WEEKS_SHOWN
) -> list[Week]:
    """One entry per week from the week of ``since`` (or of the first point) to the week of the
    last point, empty weeks included; at most the last ``weeks`` of them."""
    buckets: dict[date, Week] = {}
    for point in points:
        start = week_start(point.at)
        week = buckets.get(start) or Week(start, {k: 0 for k, _ in CATEGORIES}, {k: 0 for k, _ in CATEGORIES}, 0)
        added = {k: week.added[k] + point.added.get(k, 0) for k, _ in CATEGORIES}
        removed = {k: week.removed[k] + point.removed.get(k, 0) for k, _ in CATEGORIES}
        buckets[start] = Week(start, added, removed, week.exports + 1)
    if not buckets:
        return []
    last = max(buckets)
    first = min(buckets) if since is None else min(min(buckets), week_start(since))
    first = max(first, last - timedelta(weeks=weeks - 1))
    result = []
    start = first
    while start <= last:
        result.append(
            buckets.get(start) or Week(start, {k: 0 for k, _ in CATEGORIES}, {k: 0 for k, _ in CATEGORIES}, 0)
        )
        start += timedelta(weeks=1)
    return result


@dataclass(frozen=True)
class ArtistMonths:
    name: str
    counts: list[int]  # liked songs per month, aligned with MonthlyArtists.months

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True)
class MonthlyArtists:
    """Liked songs per month and the artists behind them, over a window of months."""

    months: list[date]  # the first day of each month, oldest first
    liked: list[int]  # liked songs per month
    top: list[ArtistMonths]  # the most liked artists of the window, most liked first
    songs: int  # liked songs looked at
    undated: int  # liked songs without a usable date
    earlier: int  # liked before the window


def month_start(day: date) -> date:
    return day.replace(day=1)


def _months_back(last: date, count: int) -> list[date]:
    months = [month_start(last)]
    while len(months) < count:
        previous = months[-1] - timedelta(days=1)
        months.append(previous.replace(day=1))
    return months[::-1]


def parse_time(value: object) -> datetime | None:
    """An API timestamp (``2026-11-25T00:00:00Z``), or None for a missing or odd one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def artists_by_month(
    library: Iterable[JSON], last_month: date, *, months: int = MONTHS_SHOWN, top: int = TOP_ARTISTS
) -> MonthlyArtists:
    """Liked songs per month for the ``months`` months up to ``last_month``, and the ``top``
    artists among them (a song with several artists counts once for each). Artists are told
    apart by URI, shown by name."""
    window = _months_back(last_month, months)
    index = {m: n for n, m in enumerate(window)}
    liked = [0] * len(window)
    per_artist: dict[str, list[int]] = defaultdict(lambda: [0] * len(window))
    names: dict[str, str] = {}
    songs = undated = earlier = 0
    for saved in library:
        track = saved.get("track")
        if not isinstance(track, dict):
            continue
        songs += 1
        moment = parse_time(saved.get("added_at"))
        if moment is None or moment.year < 2000:  # 1970: Spotify did not know
            undated += 1
            continue
        slot = index.get(month_start(moment.astimezone(UTC).date()))
        if slot is None:
            earlier += moment.date() < window[0]
            continue
        liked[slot] += 1
        seen: set[str] = set()
        for artist in track.get("artists") or []:
            if not isinstance(artist, dict):
                continue
            name = str(artist.get("name") or "")
            key = str(artist.get("uri") or artist.get("id") or name)
            if not key or key in seen:
                continue
            seen.add(key)
            names.setdefault(key, name)
            per_artist[key][slot] += 1
    ranked = sorted(per_artist.items(), key=lambda kv: (-sum(kv[1]), names[kv[0]].casefold(), kv[0]))
    best = [ArtistMonths(names[key], counts) for key, counts in ranked[:top]]
    return MonthlyArtists(window, liked, best, songs, undated, earlier)


@dataclass(frozen=True)
class PlaylistSize:
    id: str
    name: str
    items: int
    owner: str | None  # who owns it, when it is not the account's user
    cover: bytes | None = field(default=None, repr=False)


def largest_playlists(playlists: Iterable[JSON], account_id: str, limit: int = TOP_PLAYLISTS) -> list[PlaylistSize]:
    """The ``limit`` playlists with the most items, in list order among equals."""
    sizes = []
    for playlist in playlists:
        owner = obj(playlist.get("owner"))
        owner_id = str(owner.get("id") or "")
        by = None if owner_id == account_id else str(owner.get("display_name") or owner_id or "someone else")
        sizes.append(
            PlaylistSize(
                str(playlist.get("id") or ""),
                str(playlist.get("name") or ""),
                rows.playlist_item_total(playlist) or 0,
                by,
            )
        )
    return sorted(sizes, key=lambda p: -p.items)[:limit]
