"""The report: one self-contained HTML page about how an account's library changes over time.

It reads little: the manifests of the complete snapshots (library size over time), their
``changes.json`` (additions and removals per week; computed with :func:`diff_snapshots` for
snapshots written before that file existed), and from the latest snapshot only the profile,
liked songs, playlists and custom covers. Playlist items are never read.

The page needs no network to be viewed: CSS is inline, charts are inline SVG drawn here (no
script at all), covers are embedded as ``data:`` URIs. Every string that came from Spotify is
escaped, and names sit in ``<bdi>`` so right-to-left titles do not reorder the text around them.
"""

from __future__ import annotations

import base64
import html
import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from . import __version__, rows
from .diff import CHANGES_FILE, SAVED_KINDS, diff_snapshots, summarize
from .errors import ExporterError
from .files import write_file_atomically
from .history import SnapshotInfo, SnapshotReader, list_snapshots
from .stores import SnapshotStore

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
#: each category's unit, singular and plural, for tooltips
_UNITS = {
    "liked": ("liked song", "liked songs"),
    "items": ("playlist item", "playlist items"),
    "saved": ("album, artist or podcast", "albums, artists or podcasts"),
}
OTHER_SAVED = ("albums", "artists", "shows", "episodes", "audiobooks")
#: the colour family of each dataset's card (as in the weekly chart)
_CARD_COLOR = {"library": "liked", "playlists": "items", "playlist_items": "items"}
WEEKS_SHOWN = 52
MONTHS_SHOWN = 12
TOP_ARTISTS = 10
TOP_PLAYLISTS = 10
LIST_LIMIT = 25
#: a custom cover larger than this is shown as a placeholder, so the page stays small
MAX_COVER_BYTES = 160_000


def _obj(value: object) -> JSON:
    return value if isinstance(value, dict) else {}


class ReportError(ExporterError):
    """No report can be made from this store (no snapshot, or several accounts and none named)."""


# -- statistics (pure) -------------------------------------------------------------------------


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

    playlists = _obj(document.get("playlists"))
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
        owner = _obj(playlist.get("owner"))
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


def nice_scale(low: float, high: float, ticks: int = 4) -> tuple[float, float, float]:
    """A round axis range covering ``low``..``high`` and its tick step (at least 1: we count things)."""
    if high < low:
        low, high = high, low
    span = high - low
    if span == 0:
        span = max(1.0, abs(high) * 0.1)
    raw = span / max(ticks, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if raw <= m * magnitude)
    step = max(1.0, step)
    bottom = math.floor(low / step) * step
    top = math.ceil(high / step) * step
    if top == bottom:
        top = bottom + step
    if low >= 0:
        bottom = max(0.0, bottom)
    return bottom, top, step


# -- reading the store ------------------------------------------------------------------------


@dataclass
class ReportData:
    account_id: str
    display_name: str
    snapshots: list[SnapshotInfo]  # complete ones, oldest first
    partial: int
    unfinished: int
    sizes: list[SizePoint]
    weeks: list[Week]
    latest_changes: JSON | None  # None: the latest snapshot is the account's first
    monthly: MonthlyArtists | None  # None: liked songs not read in the latest snapshot
    playlists: list[PlaylistSize] | None  # None: playlists not read in the latest snapshot
    playlist_count: int
    notes: list[str]


def _pick_account(store: SnapshotStore, account_id: str | None) -> tuple[str, list[SnapshotInfo], int, int]:
    listing = list_snapshots(store, account_id)
    accounts = sorted({s.account_id for s in listing.complete})
    if account_id is None and len(accounts) > 1:
        raise ReportError(
            f"{store.location} holds snapshots of several accounts ({', '.join(accounts)}); "
            "name the one to report on with --account ID"
        )
    if not accounts:
        whose = f" of account {account_id}" if account_id else ""
        if listing.finished:
            hint = "only partial ones; run `spotify-exporter export` again"
        elif account_id and (others := list_snapshots(store).accounts()):
            hint = f"it holds snapshots of {', '.join(others)}"
        else:
            hint = "run `spotify-exporter export` first"
        raise ReportError(f"no complete snapshot{whose} in {store.location}; {hint}")
    chosen = accounts[0]
    complete = [s for s in listing.complete if s.account_id == chosen]
    partial_count = sum(1 for s in listing.finished if s.account_id == chosen and not s.complete)
    unfinished = sum(1 for folder in listing.unfinished if folder.partition("/")[0] == chosen)
    return chosen, complete, partial_count, unfinished


def _changes_of(store: SnapshotStore, previous: SnapshotInfo, info: SnapshotInfo) -> JSON:
    """The changes from ``previous`` to ``info``: its ``changes.json`` when it compares with an
    earlier snapshot, otherwise computed from both snapshots."""
    reader = SnapshotReader(store, info)
    name = info.manifest.get("changes_file") or CHANGES_FILE
    if isinstance(name, str) and reader.has_file(name):
        document = orjson.loads(reader.read_bytes(name))
        if isinstance(document, dict) and document.get("old") is not None:
            return document
    return diff_snapshots(SnapshotReader(store, previous), reader)


def gather(store: SnapshotStore, account_id: str | None = None) -> ReportData:
    """Everything the report shows, read from ``store``."""
    chosen, snapshots, partial, unfinished = _pick_account(store, account_id)
    notes: list[str] = []
    latest = snapshots[-1]
    reader = SnapshotReader(store, latest)

    window_start = week_start(latest.started_at) - timedelta(weeks=WEEKS_SHOWN - 1)
    points: list[ChangeCounts] = []
    latest_changes: JSON | None = None
    for previous, info in itertools.pairwise(snapshots):
        if week_start(info.started_at) < window_start and info is not latest:
            continue
        try:
            document = _changes_of(store, previous, info)
        except (ExporterError, orjson.JSONDecodeError) as error:
            notes.append(
                f"The changes of the snapshot {info.stamp} could not be read ({error}); that week may be short."
            )
            continue
        points.append(change_counts(document, info.started_at))
        if info is latest:
            latest_changes = document
    weeks = weekly_changes(points, since=snapshots[0].started_at) if points else []

    profile = reader.profile()
    display_name = str(profile.get("display_name") or chosen)

    monthly = None
    if reader.dataset_status("library") == "complete":
        monthly = artists_by_month(reader.records("library"), latest.started_at.date())

    playlists: list[PlaylistSize] | None = None
    playlist_count = 0
    if reader.dataset_status("playlists") == "complete":
        records = list(reader.records("playlists"))
        playlist_count = len(records)
        playlists = [_with_cover(reader, p, notes) for p in largest_playlists(records, chosen)]

    return ReportData(
        chosen,
        display_name,
        snapshots,
        partial,
        unfinished,
        library_sizes(snapshots),
        weeks,
        latest_changes,
        monthly,
        playlists,
        playlist_count,
        notes,
    )


def _with_cover(reader: SnapshotReader, playlist: PlaylistSize, notes: list[str]) -> PlaylistSize:
    covers = reader.manifest.get("covers")
    name = covers.get(playlist.id) if isinstance(covers, dict) else None
    if not isinstance(name, str) or not reader.has_file(name):
        return playlist
    size = reader.manifest.get("files", {}).get(name, {}).get("bytes")
    if isinstance(size, int) and size > MAX_COVER_BYTES:
        return playlist
    try:
        image = reader.read_bytes(name)
    except ExporterError as error:
        notes.append(f"A playlist cover could not be read ({error}).")
        return playlist
    if _image_type(image) is None or len(image) > MAX_COVER_BYTES:
        return playlist
    return PlaylistSize(playlist.id, playlist.name, playlist.items, playlist.owner, image)


def _image_type(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    return None


# -- public API --------------------------------------------------------------------------------


def render_report(store: SnapshotStore, account_id: str | None = None, *, now: datetime | None = None) -> str:
    """The report on ``account_id`` (or the store's only account) as one self-contained HTML page.

    Raises :class:`ExporterError` when the store holds no complete snapshot of the account, or
    snapshots of several accounts and none is named.
    """
    data = gather(store, account_id)
    return _Page(data, store.location, now or datetime.now(UTC)).render()


def write_report(
    store: SnapshotStore, output: Path, account_id: str | None = None, *, now: datetime | None = None
) -> Path:
    """Write the report to ``output`` (atomically: a finished file or none) and return its path."""
    document = render_report(store, account_id, now=now).encode()
    output = Path(output).expanduser()
    try:
        output = write_file_atomically(output, document)
    except OSError as error:
        raise ExporterError(f"could not write the report to {output}: {error.strerror or error}") from None
    return output


# -- formatting --------------------------------------------------------------------------------


def _e(value: object) -> str:
    """Text (or an attribute value) escaped for HTML and SVG."""
    return html.escape(str(value), quote=True)


def _name(value: str, empty: str = "(no name)") -> str:
    """A user-controlled name: escaped, isolated for bidi, newlines shown as spaces."""
    text = " ".join(value.split("\n")).strip() if value else ""
    return f"<bdi>{_e(text)}</bdi>" if text else f'<span class="none">{_e(empty)}</span>'


def _n(count: int | float) -> str:
    return f"{count:,.0f}"


def _compact(count: float) -> str:
    """An axis label: ``12,500`` or ``25k``; negatives get a real minus sign, not a hyphen."""
    sign, count = ("−" if count < 0 else ""), abs(count)
    if count >= 10_000:
        value = count / 1000
        return sign + (f"{value:.0f}k" if value == int(value) or value >= 100 else f"{value:.1f}k")
    return sign + _n(count)


def _day(moment: datetime | date) -> str:
    return f"{moment.day} {moment:%b %Y}"


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{_n(count)} {one if count == 1 else (many or one + 's')}"


def _signed(count: int) -> str:
    return f"+{_n(count)}" if count > 0 else ("±0" if count == 0 else f"−{_n(-count)}")


def _week_labels(starts: list[date]) -> list[tuple[int, str]]:
    """Where to label a week axis: every week when there are few, else where a month begins
    (with the year at the first label and in January), never two labels too close."""
    if len(starts) <= 8:
        return [(n, f"{s.day} {s:%b}") for n, s in enumerate(starts)]
    labels: list[tuple[int, str]] = []
    for n, start in enumerate(starts):
        if n and starts[n - 1].month == start.month:
            continue
        if labels and n - labels[-1][0] < 3:
            labels.pop()  # the first, partial month gives way to the next
        year = not labels or start.month == 1
        labels.append((n, f"{start:%b %Y}" if year else f"{start:%b}"))
    return labels


class _Ids:
    def __init__(self) -> None:
        self._next = 0

    def __call__(self, prefix: str) -> str:
        self._next += 1
        return f"{prefix}-{self._next}"


# -- the page ----------------------------------------------------------------------------------


class _Page:
    def __init__(self, data: ReportData, location: str, now: datetime) -> None:
        self.data = data
        self.location = location
        self.now = now
        self.id = _Ids()

    def render(self) -> str:
        d = self.data
        body = [
            self._header(),
            self._sizes(),
            self._weekly(),
            self._artists(),
            self._playlists(),
            self._changes(),
            self._footer(),
        ]
        title = f"Spotify library report: {d.display_name}"
        return (
            "<!doctype html>\n"
            '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            '<meta name="color-scheme" content="light dark">\n'
            '<link rel="icon" href="data:,">\n'
            f"<title>{_e(title)}</title>\n<style>{STYLE}</style>\n</head>\n"
            "<body>\n<main>\n" + "\n".join(body) + "\n</main>\n</body>\n</html>\n"
        )

    # -- header

    def _header(self) -> str:
        d = self.data
        first, last = d.snapshots[0].started_at, d.snapshots[-1].started_at
        period = _day(last) if first.date() == last.date() else f"{_day(first)} – {_day(last)}"
        extra = []
        if d.partial:
            extra.append(f"{_plural(d.partial, 'partial snapshot')} left out")
        if d.unfinished:
            extra.append(f"{_plural(d.unfinished, 'unfinished export')} ignored")
        snapshots = _plural(len(d.snapshots), "complete snapshot")
        if extra:
            snapshots += f" ({', '.join(extra)})"
        return (
            '<header class="top">\n<p class="eyebrow">Spotify library report</p>\n'
            f"<h1>{_name(d.display_name)}</h1>\n"
            '<dl class="meta">'
            f"<div><dt>Account</dt><dd><code>{_e(d.account_id)}</code></dd></div>"
            f'<div><dt>Period</dt><dd class="period">{_e(period)}</dd></div>'
            f'<div><dt>Snapshots</dt><dd class="count">{_e(snapshots)}</dd></div>'
            "</dl>\n</header>"
        )

    # -- library size over time

    def _sizes(self) -> str:
        d = self.data
        cards = []
        for dataset, label in DATASETS:
            series = [(p.at, p.counts[dataset]) for p in d.sizes]
            known = [(at, c) for at, c in series if c is not None]
            cards.append(self._size_card(dataset, label, known))
        if len(d.snapshots) < 2:
            intro = (
                '<p class="lede">Only one snapshot so far, so there is no history yet: these are today\'s '
                "numbers. Each export adds a point to these charts.</p>"
            )
        else:
            intro = (
                f'<p class="lede">How big each part of your library was at each of your '
                f"{_n(len(d.snapshots))} complete snapshots.</p>"
            )
        return (
            f'<section id="library-size">\n<h2>Your library over time</h2>\n{intro}\n'
            f'<div class="cards">\n{"".join(cards)}\n</div>\n</section>'
        )

    def _size_card(self, dataset: str, label: str, series: list[tuple[datetime, int]]) -> str:
        color = _CARD_COLOR.get(dataset, "saved")
        opening = f'<article class="card {color}" data-dataset="{dataset}"><h3>{_e(label)}</h3>'
        if not series:
            return f'{opening}<p class="big">–</p><p class="sub">not read</p></article>'
        latest = series[-1][1]
        sub = ""
        chart = ""
        if len(series) >= 2:
            delta = latest - series[0][1]
            trend = "up" if delta > 0 else "down" if delta < 0 else "flat"
            sub = f'<p class="sub"><span class="{trend}">{_signed(delta)}</span> since {_e(_day(series[0][0]))}</p>'
            chart = self._sparkline(series, label)
        elif latest == 0:
            sub = '<p class="sub">none yet</p>'
        return f'{opening}<p class="big">{_n(latest)}</p>{sub}{chart}</article>'

    def _sparkline(self, series: list[tuple[datetime, int]], label: str) -> str:
        width, height, left, right, top, bottom = 240, 88, 34, 6, 8, 20
        values = [v for _, v in series]
        if min(values) == max(values):  # a flat line in the middle, not on the floor
            low, high = float(max(0, values[0] - 1)), float(values[0] + 1)
        else:
            low, high, _ = nice_scale(min(values), max(values), 2)
        t0, t1 = series[0][0].timestamp(), series[-1][0].timestamp()
        span = (t1 - t0) or 1.0

        def x(at: datetime) -> float:
            return left + (at.timestamp() - t0) / span * (width - left - right)

        def y(value: float) -> float:
            return top + (high - value) / (high - low) * (height - top - bottom)

        coords = [(x(at), y(v)) for at, v in series]
        line = " ".join(f"{'M' if n == 0 else 'L'}{cx:.1f},{cy:.1f}" for n, (cx, cy) in enumerate(coords))
        area = f"{line} L{coords[-1][0]:.1f},{y(low):.1f} L{coords[0][0]:.1f},{y(low):.1f} Z"
        title_id, desc_id = self.id("t"), self.id("d")
        dots = []
        for (at, value), (cx, cy) in zip(series, coords, strict=True):
            dots.append(
                f'<circle class="dot" cx="{cx:.1f}" cy="{cy:.1f}" r="{3 if len(series) <= 40 else 1.6}">'
                f"<title>{_e(_day(at))}: {_n(value)} {_e(label.lower())}</title></circle>"
            )
        grid = "".join(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>'
            f'<text class="tick" x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{_compact(v)}</text>'
            for v in (low, high)
        )
        return (
            f'<svg class="chart spark" viewBox="0 0 {width} {height}" role="img" '
            f'aria-labelledby="{title_id} {desc_id}">'
            f'<title id="{title_id}">{_e(label)} over time</title>'
            f'<desc id="{desc_id}">From {_n(values[0])} on {_e(_day(series[0][0]))} to {_n(values[-1])} '
            f"on {_e(_day(series[-1][0]))}.</desc>"
            f'{grid}<path class="area" d="{area}"/><path class="line" d="{line}"/>{"".join(dots)}'
            f'<text class="tick" x="{left}" y="{height - 5}">{_e(_day(series[0][0]))}</text>'
            f'<text class="tick" x="{width - right}" y="{height - 5}" text-anchor="end">'
            f"{_e(_day(series[-1][0]))}</text>"
            "</svg>"
        )

    # -- additions and removals per week

    def _weekly(self) -> str:
        d = self.data
        head = '<section id="weekly">\n<h2>Added and removed, week by week</h2>\n'
        if not d.weeks:
            return (
                head + '<p class="empty">No history yet: this chart needs two snapshots. After the next export it '
                "shows what you added and removed each week.</p>\n</section>"
            )
        added = sum(w.total_added for w in d.weeks)
        removed = sum(w.total_removed for w in d.weeks)
        span = f"the last {len(d.weeks)} weeks" if len(d.weeks) > 1 else "this week"
        legend = "".join(f'<span class="key {key}">{_e(label)}</span>' for key, label in CATEGORIES)
        return (
            head + f'<p class="lede">In {span}: <strong class="up">{_signed(added)}</strong> added, '
            f'<strong class="down">{_signed(-removed)}</strong> removed. Bars above the line are additions, '
            "below it removals.</p>\n"
            f'<div class="wide">{self._week_chart(d.weeks)}</div>\n'
            f'<p class="legend">{legend}</p>\n'
            '<p class="note">Changes are counted in the week of the export that found them: when exports are '
            "weeks apart, the whole gap lands in the week of the later one. A new playlist counts all its items "
            "as added, a deleted one as removed.</p>\n</section>"
        )

    def _week_chart(self, weeks: list[Week]) -> str:
        width, height, left, right, top, bottom = 720, 260, 8, 46, 12, 26
        most_added = max(w.total_added for w in weeks)
        most_removed = max(w.total_removed for w in weeks)
        low, high, step = nice_scale(-most_removed, max(most_added, 1 if not most_removed else 0), 4)

        def y(value: float) -> float:
            return top + (high - value) / (high - low) * (height - top - bottom)

        plot = width - left - right
        slot = plot / len(weeks)
        bar = max(2.0, min(28.0, slot * 0.72))
        parts = []
        tick = low
        while tick <= high + 1e-9:
            parts.append(
                f'<line class="{"zero" if tick == 0 else "grid"}" x1="{left}" x2="{width - right}" '
                f'y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>'
                f'<text class="tick" x="{width - right + 8}" y="{y(tick) + 4:.1f}">{_compact(tick)}</text>'
            )
            tick += step
        for n, week in enumerate(weeks):
            parts.append(self._week_bars(week, left + n * slot, slot, bar, top, height - top - bottom, y))
        for n, label in _week_labels([w.start for w in weeks]):
            parts.append(
                f'<text class="tick" x="{left + n * slot + slot / 2:.1f}" y="{height - 8}" '
                f'text-anchor="middle">{_e(label)}</text>'
            )
        title_id = self.id("t")
        return (
            f'<svg class="chart weeks" viewBox="0 0 {width} {height}" role="img" aria-labelledby="{title_id}">'
            f'<title id="{title_id}">Items added and removed per week, {_e(_day(weeks[0].start))} to '
            f"{_e(_day(weeks[-1].start + timedelta(days=6)))}</title>{''.join(parts)}</svg>"
        )

    def _week_bars(
        self, week: Week, x: float, slot: float, bar: float, top: float, plot: float, y: Callable[[float], float]
    ) -> str:
        """One week: additions stacked up from the zero line, removals down from it; the whole
        column carries the week's tooltip."""
        x0 = x + (slot - bar) / 2
        segments = []
        for verb, counts in (("added", week.added), ("removed", week.removed)):
            base = 0.0
            for key, _ in CATEGORIES:
                count = counts[key] if verb == "added" else -counts[key]
                if count:
                    y_top, y_bottom = sorted((y(base), y(base + count)))
                    segments.append(
                        f'<rect class="seg {key} {verb}" x="{x0:.1f}" y="{y_top:.1f}" width="{bar:.1f}" '
                        f'height="{max(0.5, y_bottom - y_top):.1f}" rx="1.5"/>'
                    )
                    base += count
        hit = f'<rect class="hit" x="{x:.1f}" y="{top}" width="{slot:.1f}" height="{plot}"/>'
        return f'<g class="week"><title>{_e(self._week_title(week))}</title>{hit}{"".join(segments)}</g>'

    @staticmethod
    def _week_title(week: Week) -> str:
        def listing(counts: dict[str, int]) -> str:
            found = [_plural(c, *_UNITS[k]) for k, c in counts.items() if c]
            return ", ".join(found) if found else "nothing"

        head = f"Week of {_day(week.start)}"
        if not week.exports:
            return f"{head}: nothing recorded"
        return f"{head}: added {listing(week.added)}; removed {listing(week.removed)}"

    # -- top artists per month

    def _artists(self) -> str:
        monthly = self.data.monthly
        head = '<section id="artists">\n<h2>Artists you liked, month by month</h2>\n'
        if monthly is None:
            return head + '<p class="empty">Your liked songs were not read in the latest snapshot.</p>\n</section>'
        if monthly.songs == 0:
            return head + '<p class="empty">No liked songs yet.</p>\n</section>'
        first, last = monthly.months[0], monthly.months[-1]
        window = f"{first:%b %Y} to {last:%b %Y}"
        note = (
            f'<p class="note">From the “added” dates of the {_n(monthly.songs)} liked songs in the latest '
            "snapshot, so this reaches back before your first export; songs you liked and later removed are "
            "not counted."
        )
        if monthly.undated:
            note += f" {_plural(monthly.undated, 'song has', 'songs have')} no usable date."
        note += "</p>"
        total = sum(monthly.liked)
        if total == 0:
            return head + f'<p class="empty">No songs liked from {_e(window)}.</p>\n{note}\n</section>'
        lede = f'<p class="lede">{_plural(total, "song")} liked from {_e(window)}.</p>'
        return (
            head + f'{lede}\n<div class="wide">{self._month_chart(monthly)}</div>\n'
            f'<div class="scroll">{self._heat_table(monthly)}</div>\n{note}\n</section>'
        )

    def _month_chart(self, monthly: MonthlyArtists) -> str:
        width, height, left, right, top, bottom = 720, 170, 10, 10, 20, 24
        _, high, _ = nice_scale(0, max(monthly.liked), 3)

        def y(value: float) -> float:
            return top + (high - value) / high * (height - top - bottom)

        slot = (width - left - right) / len(monthly.months)
        bar = min(40.0, slot * 0.64)
        parts = [f'<line class="zero" x1="{left}" x2="{width - right}" y1="{y(0):.1f}" y2="{y(0):.1f}"/>']
        for n, (month, count) in enumerate(zip(monthly.months, monthly.liked, strict=True)):
            cx = left + n * slot + slot / 2
            label = f"{month:%b}" if n and month.month != 1 else f"{month:%b %Y}"
            drawn = (
                f'<rect class="seg liked" x="{cx - bar / 2:.1f}" y="{y(count):.1f}" width="{bar:.1f}" '
                f'height="{y(0) - y(count):.1f}" rx="2"/>'
                f'<text class="value" x="{cx:.1f}" y="{y(count) - 5:.1f}" text-anchor="middle">{_n(count)}</text>'
                if count
                else ""
            )
            parts.append(
                f"<g><title>{_e(f'{month:%B %Y}')}: {_plural(count, 'song')} liked</title>"
                f'<rect class="hit" x="{left + n * slot:.1f}" y="{top}" width="{slot:.1f}" '
                f'height="{height - top - bottom}"/>{drawn}'
                f'<text class="tick" x="{cx:.1f}" y="{height - 7}" text-anchor="middle">{_e(label)}</text></g>'
            )
        title_id = self.id("t")
        return (
            f'<svg class="chart months" viewBox="0 0 {width} {height}" role="img" aria-labelledby="{title_id}">'
            f'<title id="{title_id}">Songs liked per month</title>{"".join(parts)}</svg>'
        )

    def _heat_table(self, monthly: MonthlyArtists) -> str:
        if not monthly.top:
            return ""
        most = max(max(a.counts) for a in monthly.top) or 1
        head = "".join(f'<th scope="col">{_e(f"{m:%b}")}<span>{_e(f"{m:%y}")}</span></th>' for m in monthly.months)
        rows = []
        for artist in monthly.top:
            cells = []
            for month, count in zip(monthly.months, artist.counts, strict=True):
                level = 0 if not count else 1 + min(4, math.floor(count / most * 4.999))
                tip = f"{artist.name or '(no name)'}, {month:%B %Y}: {_plural(count, 'song')}"
                cells.append(f'<td class="h{level}" title="{_e(tip)}">{_n(count) if count else ""}</td>')
            rows.append(
                f'<tr><th scope="row">{_name(artist.name)}</th>{"".join(cells)}'
                f'<td class="total">{_n(artist.total)}</td></tr>'
            )
        return (
            '<table class="heat"><caption>Your most liked artists of these 12 months: songs liked per month'
            f'</caption><thead><tr><th scope="col">Artist</th>{head}<th scope="col">All</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>"
        )

    # -- largest playlists

    def _playlists(self) -> str:
        d = self.data
        head = '<section id="playlists">\n<h2>Your largest playlists</h2>\n'
        if d.playlists is None:
            return head + '<p class="empty">Your playlists were not read in the latest snapshot.</p>\n</section>'
        if not d.playlists:
            return head + '<p class="empty">No playlists yet.</p>\n</section>'
        most = max(p.items for p in d.playlists) or 1
        rows = []
        for playlist in d.playlists:
            if playlist.cover is not None:
                data = base64.b64encode(playlist.cover).decode()
                source = f"data:{_image_type(playlist.cover)};base64,{data}"
                cover = f'<img class="cover" alt="" width="44" height="44" src="{source}">'
            else:
                hue = sum(playlist.id.encode()) * 37 % 360
                cover = f'<span class="cover none" style="--hue:{hue}" aria-hidden="true">♪</span>'
            owner = f'<span class="owner">by {_name(playlist.owner)}</span>' if playlist.owner else ""
            share = max(0.5, playlist.items / most * 100)
            unit = "item" if playlist.items == 1 else "items"
            rows.append(
                f'<li>{cover}<div class="pl"><p class="plname">{_name(playlist.name)}{owner}</p>'
                f'<div class="bar"><span style="width:{share:.1f}%"></span></div></div>'
                f'<p class="plcount"><strong>{_n(playlist.items)}</strong> {unit}</p></li>'
            )
        lede = (
            f'<p class="lede">The {_plural(len(d.playlists), "playlist")} with the most items, of the '
            f"{_plural(d.playlist_count, 'playlist')} in your latest snapshot.</p>"
        )
        return head + f'{lede}\n<ol class="playlists">{"".join(rows)}</ol>\n</section>'

    # -- latest changes

    def _changes(self) -> str:
        d = self.data
        head = '<section id="changes">\n<h2>Latest changes</h2>\n'
        document = d.latest_changes
        if document is None:
            if len(d.snapshots) < 2:
                text = "This is your first snapshot: what changed shows up here after the next export."
            else:
                text = "The changes of the latest snapshot could not be read."
            return head + f'<p class="empty">{_e(text)}</p>\n</section>'
        old, new = document.get("old") or {}, document.get("new") or {}
        since = parse_time(old.get("started_at"))
        until = parse_time(new.get("started_at"))
        period = f"{_day(since) if since else old.get('folder')} to {_day(until) if until else new.get('folder')}"
        counts = change_counts(document, until or datetime.now(UTC))
        chips = self._chips(document)
        blocks = [self._saved_block(document, kind.dataset, kind.detail) for kind in SAVED_KINDS[:1]]
        blocks.append(self._playlist_blocks(document))
        blocks.extend(self._saved_block(document, kind.dataset, kind.detail) for kind in SAVED_KINDS[1:])
        content = "".join(b for b in blocks if b)
        if not content:
            content = '<p class="empty">No changes since the snapshot before.</p>'
        not_compared = [str(x) for x in document.get("not_compared") or []]
        missing = (
            f'<p class="note">Not compared, because they were not read in full in both snapshots: '
            f"{', '.join(_e(x) for x in not_compared)}.</p>"
            if not_compared
            else ""
        )
        total_added, total_removed = sum(counts.added.values()), sum(counts.removed.values())
        return (
            head + f'<p class="lede">From {_e(period)}: <strong class="up">{_signed(total_added)}</strong> added, '
            f'<strong class="down">{_signed(-total_removed)}</strong> removed.</p>\n{chips}\n'
            f'<div class="changes">{content}</div>\n{missing}\n</section>'
        )

    @staticmethod
    def _chips(document: JSON) -> str:
        summary = _obj(document.get("summary")) or summarize(document)
        units = {
            "library": ("liked song", "liked songs"),
            "albums": ("album", "albums"),
            "artists": ("artist", "artists"),
            "shows": ("show", "shows"),
            "episodes": ("episode", "episodes"),
            "audiobooks": ("audiobook", "audiobooks"),
        }
        chips = []
        for key, (one, many) in units.items():
            section = _obj(summary.get(key))
            added, removed = int(section.get("added") or 0), int(section.get("removed") or 0)
            if added:
                chips.append(f'<li class="chip up">+{_n(added)} {one if added == 1 else many}</li>')
            if removed:
                chips.append(f'<li class="chip down">−{_n(removed)} {one if removed == 1 else many}</li>')
        playlists = _obj(summary.get("playlists"))
        for key, verb in (
            ("created", "created"),
            ("deleted", "deleted"),
            ("renamed", "renamed"),
            ("changed", "edited"),
        ):
            count = int(playlists.get(key) or 0)
            if count:
                chips.append(f'<li class="chip">{_plural(count, "playlist")} {verb}</li>')
        return f'<ul class="chips">{"".join(chips)}</ul>' if chips else ""

    def _saved_block(self, document: JSON, dataset: str, detail: str | None) -> str:
        section = _obj(document.get(dataset))
        titles = {
            "library": ("Liked songs", "Liked", "Unliked"),
            "albums": ("Saved albums", "Saved", "Removed"),
            "artists": ("Followed artists", "Followed", "Unfollowed"),
            "shows": ("Saved shows", "Saved", "Removed"),
            "episodes": ("Saved episodes", "Saved", "Removed"),
            "audiobooks": ("Saved audiobooks", "Saved", "Removed"),
        }
        title, added_verb, removed_verb = titles[dataset]
        parts = []
        for verb, label, sign in (("added", added_verb, "+"), ("removed", removed_verb, "−")):
            things = [t for t in section.get(verb) or [] if isinstance(t, dict)]
            if things:
                items = [f"<li>{self._thing(t, detail)}</li>" for t in things[:LIST_LIMIT]]
                more = (
                    f'<li class="more">and {_n(len(things) - LIST_LIMIT)} more</li>' if len(things) > LIST_LIMIT else ""
                )
                parts.append(
                    f'<h4 class="{"up" if sign == "+" else "down"}">{_e(label)} ({_n(len(things))})</h4>'
                    f'<ul class="things {verb}">{"".join(items)}{more}</ul>'
                )
        if not parts:
            return ""
        return f'<article class="block" data-section="{dataset}"><h3>{_e(title)}</h3>{"".join(parts)}</article>'

    @staticmethod
    def _thing(thing: JSON, detail: str | None) -> str:
        name = str(thing.get("name") or "")
        label = _name(name) if name else _name(str(thing.get("uri") or ""), "(unavailable)")
        extra = thing.get(detail) if detail else None
        return f'{label}<span class="by"> · {_name(str(extra))}</span>' if extra else label

    def _playlist_blocks(self, document: JSON) -> str:
        playlists = _obj(document.get("playlists"))
        parts = []
        for verb, label, cls in (("created", "Created", "up"), ("deleted", "Deleted", "down")):
            found = [p for p in playlists.get(verb) or [] if isinstance(p, dict)]
            if found:
                items = "".join(
                    f'<li>{_name(str(p.get("name") or ""))}<span class="by"> · '
                    f"{_plural(int(p.get('items') or 0), 'item')}</span></li>"
                    for p in found[:LIST_LIMIT]
                )
                more = (
                    f'<li class="more">and {_n(len(found) - LIST_LIMIT)} more</li>' if len(found) > LIST_LIMIT else ""
                )
                parts.append(
                    f'<h4 class="{cls}">{label} ({_n(len(found))})</h4><ul class="things {verb}">{items}{more}</ul>'
                )
        renamed = [r for r in playlists.get("renamed") or [] if isinstance(r, dict)]
        if renamed:
            items = "".join(
                f'<li>{_name(str(r.get("old_name") or ""))} <span class="arrow">→</span> '
                f"{_name(str(r.get('new_name') or ''))}</li>"
                for r in renamed[:LIST_LIMIT]
            )
            parts.append(f'<h4>Renamed ({_n(len(renamed))})</h4><ul class="things renamed">{items}</ul>')
        for change in [c for c in playlists.get("changed") or [] if isinstance(c, dict)]:
            parts.append(self._playlist_change(change))
        if not parts:
            return ""
        return f'<article class="block" data-section="playlists"><h3>Playlists</h3>{"".join(parts)}</article>'

    def _playlist_change(self, change: JSON) -> str:
        added = [i for i in change.get("added") or [] if isinstance(i, dict)]
        removed = [i for i in change.get("removed") or [] if isinstance(i, dict)]
        moved = [i for i in change.get("moved") or [] if isinstance(i, dict)]
        counts = ", ".join(
            text
            for count, text in (
                (len(added), f"+{_n(len(added))}"),
                (len(removed), f"−{_n(len(removed))}"),
                (len(moved), f"{_n(len(moved))} moved"),
            )
            if count
        )
        entries = []
        for item in added:
            entries.append(
                f'<li class="added"><span class="sign">+</span>{self._thing(item, "artists")}'
                f'<span class="pos">at {_n(int(item.get("position") or 0) + 1)}</span></li>'
            )
        for item in removed:
            entries.append(
                f'<li class="removed"><span class="sign">−</span>{self._thing(item, "artists")}'
                f'<span class="pos">was at {_n(int(item.get("position") or 0) + 1)}</span></li>'
            )
        for item in moved:
            entries.append(
                f'<li class="moved"><span class="sign">↕</span>{self._thing(item, "artists")}'
                f'<span class="pos">{_n(int(item.get("old_position") or 0) + 1)} → '
                f"{_n(int(item.get('position') or 0) + 1)}</span></li>"
            )
        more = f'<li class="more">and {_n(len(entries) - LIST_LIMIT)} more</li>' if len(entries) > LIST_LIMIT else ""
        return (
            f'<h4>{_name(str(change.get("name") or ""))} <span class="by">{_e(counts)}</span></h4>'
            f'<ul class="things items">{"".join(entries[:LIST_LIMIT])}{more}</ul>'
        )

    # -- footer

    def _footer(self) -> str:
        d = self.data
        notes = "".join(f"<li>{_e(n)}</li>" for n in d.notes)
        return (
            f"<footer>{f'<ul>{notes}</ul>' if notes else ''}"
            f"<p>Made by spotify-exporter {_e(__version__)} on {_e(_day(self.now))} at "
            f"{_e(f'{self.now.astimezone(UTC):%H:%M}')} UTC from the snapshots in <code>{_e(self.location)}</code>. "
            "This page is self-contained: it works offline and sends nothing anywhere.</p></footer>"
        )


STYLE = """
:root{color-scheme:light dark;--bg:#f6f5f1;--card:#fff;--ink:#18181b;--muted:#6b6b76;--line:#e6e3dc;
--liked:#14a44d;--items:#3b7ddd;--saved:#d9822b;--up:#14843f;--down:#d4363c;--hit:rgba(0,0,0,.04);
--heat:#14a44d;--shadow:0 1px 2px rgba(0,0,0,.05),0 4px 16px rgba(0,0,0,.04)}
@media (prefers-color-scheme:dark){:root{--bg:#0f1113;--card:#181b1f;--ink:#ececf0;--muted:#9b9ca8;
--line:#2b2f35;--liked:#1ed760;--items:#5d9bff;--saved:#f2a54a;--up:#3ddc84;--down:#ff6b6b;
--hit:rgba(255,255,255,.05);--heat:#1ed760;--shadow:none}}
*{box-sizing:border-box}
html{background:var(--bg);color:var(--ink);-webkit-text-size-adjust:100%}
body{margin:0;font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Helvetica Neue",Arial,
sans-serif,"Apple Color Emoji","Segoe UI Emoji","Noto Color Emoji"}
main{max-width:1040px;margin:0 auto;padding:40px 24px 64px}
h1{font-size:clamp(2rem,5vw,3.1rem);line-height:1.1;margin:.1em 0 .25em;letter-spacing:-.02em;font-weight:750}
h2{font-size:1.45rem;margin:0 0 .3em;letter-spacing:-.01em}
h3{font-size:.8rem;text-transform:uppercase;letter-spacing:.08em;color:var(--muted);margin:0 0 .4em;font-weight:650}
h4{font-size:1rem;margin:1em 0 .35em}
code{font:.9em ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
section{background:var(--card);border:1px solid var(--line);border-radius:18px;padding:28px;margin:22px 0;
box-shadow:var(--shadow)}
.eyebrow{margin:0;color:var(--liked);font-weight:700;letter-spacing:.08em;text-transform:uppercase;font-size:.8rem}
.meta{display:flex;flex-wrap:wrap;gap:10px 36px;margin:14px 0 0}
.meta dt{font-size:.75rem;text-transform:uppercase;letter-spacing:.08em;color:var(--muted);font-weight:650}
.meta dd{margin:0;font-weight:550}
.lede{margin:0 0 18px;color:var(--muted)}
.note{font-size:.85rem;color:var(--muted);margin:14px 0 0}
.empty{color:var(--muted);font-style:italic;margin:6px 0}
.none{color:var(--muted);font-style:italic}
.up{color:var(--up)}.down{color:var(--down)}.flat{color:var(--muted)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:14px}
.card{border:1px solid var(--line);border-radius:14px;padding:14px 14px 8px;min-width:0}
.big{font-size:1.9rem;font-weight:700;margin:0;line-height:1.1;font-variant-numeric:tabular-nums}
.sub{margin:2px 0 6px;font-size:.85rem;color:var(--muted)}
.chart{display:block;width:100%;height:auto;overflow:visible}
.chart text{font-size:11px;fill:var(--muted);font-variant-numeric:tabular-nums}
.chart .value{fill:var(--ink);font-weight:600}
.chart .grid{stroke:var(--line);stroke-width:1}
.chart .zero{stroke:var(--muted);stroke-width:1}
.card{--c:var(--liked)}.card.items{--c:var(--items)}.card.saved{--c:var(--saved)}
.chart .line{fill:none;stroke:var(--c);stroke-width:2.2;stroke-linejoin:round;stroke-linecap:round}
.chart .area{fill:var(--c);opacity:.13}
.chart .dot{fill:var(--card);stroke:var(--c);stroke-width:2}
.seg.liked{fill:var(--liked)}.seg.items{fill:var(--items)}.seg.saved{fill:var(--saved)}
.seg.removed{opacity:.5}
.hit{fill:transparent}
g:hover>.hit{fill:var(--hit)}
.wide{overflow-x:auto;direction:rtl}
.wide>*{direction:ltr}
.wide svg{min-width:560px}
.legend{display:flex;flex-wrap:wrap;gap:8px 18px;font-size:.85rem;color:var(--muted);margin:10px 0 0}
.key:before{content:"";display:inline-block;width:11px;height:11px;border-radius:3px;margin-right:6px;
vertical-align:-1px;background:var(--liked)}
.key.items:before{background:var(--items)}.key.saved:before{background:var(--saved)}
.scroll{overflow-x:auto;margin-top:18px}
table.heat{border-collapse:separate;border-spacing:3px;font-size:.85rem;width:100%;min-width:640px}
.heat caption{text-align:left;color:var(--muted);font-size:.85rem;padding-bottom:6px}
.heat th{font-weight:600;color:var(--muted);text-align:center;font-size:.75rem;line-height:1.2}
.heat thead th span{display:block;opacity:.7}
.heat thead th:first-child{text-align:left}
.heat tbody th{text-align:left;color:var(--ink);font-size:.85rem;max-width:220px;overflow:hidden;
text-overflow:ellipsis;white-space:nowrap;padding-right:8px}
.heat td{text-align:center;border-radius:5px;height:30px;min-width:34px;font-variant-numeric:tabular-nums;
background:color-mix(in srgb,var(--line) 45%,transparent)}
.heat td.h1{background:color-mix(in srgb,var(--heat) 18%,transparent)}
.heat td.h2{background:color-mix(in srgb,var(--heat) 36%,transparent)}
.heat td.h3{background:color-mix(in srgb,var(--heat) 56%,transparent)}
.heat td.h4{background:color-mix(in srgb,var(--heat) 76%,transparent);color:#fff}
.heat td.h5{background:var(--heat);color:#fff;font-weight:700}
@media (prefers-color-scheme:dark){.heat td.h4,.heat td.h5{color:#08110b}}
.heat td.total{background:none;font-weight:700;color:var(--ink)}
ol.playlists{list-style:none;margin:0;padding:0;display:grid;gap:12px}
ol.playlists li{display:grid;grid-template-columns:44px 1fr auto;gap:14px;align-items:center}
.cover{width:44px;height:44px;border-radius:8px;object-fit:cover;display:block}
.cover.none{display:grid;place-items:center;color:#fff;font-size:1.2rem;
background:linear-gradient(135deg,hsl(var(--hue) 60% 48%),hsl(calc(var(--hue) + 60) 60% 38%))}
.pl{min-width:0}
.plname{margin:0 0 5px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;font-weight:600}
.owner{font-weight:400;color:var(--muted);font-size:.85rem;margin-left:8px}
.bar{height:10px;border-radius:6px;background:color-mix(in srgb,var(--line) 60%,transparent);overflow:hidden}
.bar span{display:block;height:100%;border-radius:6px;background:linear-gradient(90deg,var(--items),var(--liked))}
.plcount{margin:0;color:var(--muted);font-size:.9rem;white-space:nowrap;font-variant-numeric:tabular-nums}
.plcount strong{color:var(--ink);font-size:1.05rem}
.chips{list-style:none;padding:0;margin:0 0 16px;display:flex;flex-wrap:wrap;gap:8px}
.chip{border:1px solid var(--line);border-radius:999px;padding:3px 12px;font-size:.85rem;font-weight:600}
.changes{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:14px}
.block{border:1px solid var(--line);border-radius:14px;padding:14px 16px;min-width:0}
.block h4:first-of-type{margin-top:.2em}
.things{list-style:none;margin:0;padding:0}
.things li{padding:4px 0;border-bottom:1px solid var(--line);overflow-wrap:anywhere}
.things li:last-child{border-bottom:0}
.things .more{color:var(--muted);font-style:italic}
.by{color:var(--muted);font-size:.9em}
.sign{display:inline-block;width:1.3em;font-weight:700}
.things .added .sign{color:var(--up)}.things .removed .sign{color:var(--down)}.things .moved .sign{color:var(--items)}
.pos{float:right;color:var(--muted);font-size:.8rem;margin-left:8px;font-variant-numeric:tabular-nums}
.arrow{color:var(--muted)}
footer{color:var(--muted);font-size:.82rem;margin-top:28px}
footer code{overflow-wrap:anywhere}
@media (max-width:600px){main{padding:24px 12px 40px}.spark text{display:none}
section{padding:18px 14px;border-radius:14px}
.cards{grid-template-columns:1fr 1fr;gap:10px}.big{font-size:1.5rem}
ol.playlists li{grid-template-columns:36px 1fr auto;gap:10px}.cover{width:36px;height:36px}}
@media (max-width:380px){.cards{grid-template-columns:1fr}}
"""
