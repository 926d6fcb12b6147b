"""The page: :class:`ReportData` into one self-contained HTML document.

Jinja2 templates (``templates/``) write the markup with autoescaping on, so every name that came
from Spotify or another person is text, never markup; nothing here builds HTML. This module
prepares what the templates show (derived numbers, chart geometry, sentences that depend on
counts), and inlines ``report.css``, so the output needs no other file and no network.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib.resources import files

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from .. import __version__
from . import charts, formats
from .changes import changes_view
from .gather import ReportData, image_type
from .stats import CATEGORIES, DATASETS, MonthlyArtists, PlaylistSize, Week

#: the colour family of each dataset's card (as in the weekly chart); "saved" for the rest
CARD_COLOR = {"library": "liked", "playlists": "items", "playlist_items": "items"}
#: each weekly category's unit, singular and plural, for tooltips
UNITS = {
    "liked": ("liked song", "liked songs"),
    "items": ("playlist item", "playlist items"),
    "saved": ("album, artist or podcast", "albums, artists or podcasts"),
}


@cache
def environment() -> Environment:
    """The templates, autoescaped whatever their name, failing loudly on a missing value."""
    env = Environment(
        loader=PackageLoader("spotify_exporter.report"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(formats.FILTERS)
    env.globals.update(categories=CATEGORIES, heat_level=charts.heat_level, week_title=week_title, zip=zip)
    return env


@cache
def stylesheet() -> Markup:
    """``report.css``, ours and trusted: the only text the page takes as markup."""
    return Markup(files(__package__).joinpath("report.css").read_text(encoding="utf-8"))  # noqa: S704


def render_page(data: ReportData, location: str, now: datetime) -> str:
    """The report page of ``data``, gathered from the store at ``location``, made at ``now``."""
    ids = Ids()
    return (
        environment()
        .get_template("report.html.j2")
        .render(
            data=data,
            css=stylesheet(),
            version=__version__,
            location=location,
            now=now.astimezone(UTC),
            header=header_view(data),
            cards=list(size_cards(data, ids)),
            weekly=weekly_view(data.weeks, ids),
            artists=artists_view(data.monthly, ids),
            playlists=playlist_rows(data.playlists),
            changes=changes_view(data),
        )
    )


class Ids:
    """Element ids unique in the page (the charts' titles and descriptions): ``t-1``, ``d-2``..."""

    def __init__(self) -> None:
        self._numbers = itertools.count(1)

    def __call__(self, prefix: str) -> str:
        return f"{prefix}-{next(self._numbers)}"


# -- the sections ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    period: str
    snapshots: str  # how many complete snapshots, and what was left out


def header_view(data: ReportData) -> Header:
    first, last = data.snapshots[0].started_at, data.snapshots[-1].started_at
    day = formats.day
    period = day(last) if first.date() == last.date() else f"{day(first)} – {day(last)}"
    left_out = []
    if data.partial:
        left_out.append(f"{formats.plural(data.partial, 'partial snapshot')} left out")
    if data.unfinished:
        left_out.append(f"{formats.plural(data.unfinished, 'unfinished export')} ignored")
    snapshots = formats.plural(len(data.snapshots), "complete snapshot")
    return Header(period, f"{snapshots} ({', '.join(left_out)})" if left_out else snapshots)


@dataclass(frozen=True)
class SizeCard:
    """One dataset's card: its size at every snapshot that read it in full."""

    dataset: str
    label: str
    color: str
    series: list[tuple[datetime, int]]
    chart: charts.Sparkline | None  # None: fewer than two points
    title_id: str
    desc_id: str

    @property
    def delta(self) -> int:
        return self.series[-1][1] - self.series[0][1]

    @property
    def trend(self) -> str:
        return "up" if self.delta > 0 else "down" if self.delta < 0 else "flat"

    @property
    def dots(self) -> list[tuple[datetime, int, charts.Point]]:
        points = self.chart.points if self.chart else []
        return [(at, value, point) for (at, value), point in zip(self.series, points, strict=bool(points))]


def size_cards(data: ReportData, ids: Callable[[str], str]) -> Iterator[SizeCard]:
    for dataset, label in DATASETS:
        series = [(p.at, count) for p in data.sizes if (count := p.counts[dataset]) is not None]
        if len(series) >= 2:
            yield SizeCard(
                dataset, label, CARD_COLOR.get(dataset, "saved"), series, charts.sparkline(series), ids("t"), ids("d")
            )
        else:
            yield SizeCard(dataset, label, CARD_COLOR.get(dataset, "saved"), series, None, "", "")


@dataclass(frozen=True)
class Weekly:
    chart: charts.WeekChart
    added: int
    removed: int
    span: str  # "the last 12 weeks", "this week"
    last_day: date  # the Sunday of the last week
    title_id: str


def weekly_view(weeks: list[Week], ids: Callable[[str], str]) -> Weekly | None:
    if not weeks:
        return None
    span = f"the last {len(weeks)} weeks" if len(weeks) > 1 else "this week"
    added, removed = sum(w.total_added for w in weeks), sum(w.total_removed for w in weeks)
    return Weekly(charts.week_chart(weeks), added, removed, span, weeks[-1].start + timedelta(days=6), ids("t"))


def week_title(week: Week) -> str:
    """A week's tooltip: what its exports found, in words."""

    def listing(counts: dict[str, int]) -> str:
        found = [formats.plural(c, *UNITS[k]) for k, c in counts.items() if c]
        return ", ".join(found) if found else "nothing"

    head = f"Week of {formats.day(week.start)}"
    if not week.exports:
        return f"{head}: nothing recorded"
    return f"{head}: added {listing(week.added)}; removed {listing(week.removed)}"


@dataclass(frozen=True)
class Artists:
    monthly: MonthlyArtists
    chart: charts.MonthChart | None  # None: no song liked in the window
    most: int  # the most songs one top artist got in one month (at least 1)
    title_id: str


def artists_view(monthly: MonthlyArtists | None, ids: Callable[[str], str]) -> Artists | None:
    if monthly is None:
        return None
    if not monthly.songs or not sum(monthly.liked):
        return Artists(monthly, None, 1, "")
    most = max((max(a.counts) for a in monthly.top), default=0) or 1
    return Artists(monthly, charts.month_chart(monthly), most, ids("t"))


@dataclass(frozen=True)
class PlaylistRow:
    playlist: PlaylistSize
    share: float  # of the largest playlist's bar, in percent
    cover: str | None  # a data: URI
    hue: int  # of the placeholder shown without a cover


def playlist_rows(playlists: list[PlaylistSize] | None) -> list[PlaylistRow] | None:
    if playlists is None:
        return None
    most = max((p.items for p in playlists), default=0) or 1
    return [
        PlaylistRow(p, charts.bar_share(p.items, most), _data_uri(p.cover), charts.placeholder_hue(p.id))
        for p in playlists
    ]


def _data_uri(image: bytes | None) -> str | None:
    kind = image_type(image) if image else None
    return f"data:{kind};base64,{base64.b64encode(image).decode()}" if image and kind else None
