"""Chart geometry: where every line, dot and bar of the report's inline SVG charts goes, in the
coordinates of each chart's ``viewBox``. Pure functions of numbers; the templates only draw
what these place (and format the numbers), so the arithmetic is tested without any markup.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from .stats import CATEGORIES, MonthlyArtists, Week


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


@dataclass(frozen=True)
class Frame:
    """A chart's drawing area: the ``viewBox`` size and the margins kept for labels."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int

    @property
    def plot_right(self) -> int:
        return self.width - self.right

    @property
    def plot_height(self) -> int:
        return self.height - self.top - self.bottom

    def y(self, value: float, low: float, high: float) -> float:
        """Where ``value`` sits on an axis from ``low`` (bottom) to ``high`` (top)."""
        return self.top + (high - value) / (high - low) * self.plot_height


@dataclass(frozen=True)
class Tick:
    value: float
    y: float


@dataclass(frozen=True)
class Point:
    x: float
    y: float


SPARK = Frame(240, 88, 34, 6, 8, 20)
WEEKS = Frame(720, 260, 8, 46, 12, 26)
MONTHS = Frame(720, 170, 10, 10, 20, 24)


@dataclass(frozen=True)
class Sparkline:
    """A dataset's size at each snapshot: a line over time, a dot per snapshot, two ticks."""

    frame: Frame
    points: list[Point]
    ticks: list[Tick]  # the bottom and the top of the axis
    floor: float  # the y the area under the line closes at
    dot_radius: float


def sparkline(series: Sequence[tuple[datetime, int]], frame: Frame = SPARK) -> Sparkline:
    """The line of at least two ``(time, count)`` points, spaced by time; a flat series is drawn
    in the middle, not on the floor."""
    values = [v for _, v in series]
    if min(values) == max(values):
        low, high = float(max(0, values[0] - 1)), float(values[0] + 1)
    else:
        low, high, _ = nice_scale(min(values), max(values), 2)
    t0, t1 = series[0][0].timestamp(), series[-1][0].timestamp()
    span = (t1 - t0) or 1.0
    points = [
        Point(frame.left + (at.timestamp() - t0) / span * (frame.plot_right - frame.left), frame.y(v, low, high))
        for at, v in series
    ]
    ticks = [Tick(v, frame.y(v, low, high)) for v in (low, high)]
    return Sparkline(frame, points, ticks, frame.y(low, low, high), 3 if len(series) <= 40 else 1.6)


@dataclass(frozen=True)
class Segment:
    """One category's part of a week's bar: additions above the zero line, removals below."""

    category: str
    verb: str  # "added" or "removed"
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class WeekColumn:
    week: Week
    x: float  # the left edge of the week's slot (the whole slot carries its tooltip)
    segments: list[Segment]


@dataclass(frozen=True)
class WeekChart:
    frame: Frame
    ticks: list[Tick]  # from the most removed to the most added, zero included
    slot: float  # the width of one week
    columns: list[WeekColumn]
    labels: list[tuple[float, str]]  # (x of the label's middle, text)


def week_chart(weeks: Sequence[Week], frame: Frame = WEEKS) -> WeekChart:
    """Bars per week, additions stacked up from zero and removals down, on a round axis."""
    most_added = max(w.total_added for w in weeks)
    most_removed = max(w.total_removed for w in weeks)
    low, high, step = nice_scale(-most_removed, max(most_added, 1 if not most_removed else 0), 4)
    ticks = []
    tick = low
    while tick <= high + 1e-9:
        ticks.append(Tick(tick, frame.y(tick, low, high)))
        tick += step
    slot = (frame.plot_right - frame.left) / len(weeks)
    bar = max(2.0, min(28.0, slot * 0.72))
    columns = []
    for n, week in enumerate(weeks):
        x = frame.left + n * slot
        x0 = x + (slot - bar) / 2
        segments = []
        for verb, counts, sign in (("added", week.added, 1), ("removed", week.removed, -1)):
            base = 0.0
            for key, _ in CATEGORIES:
                count = sign * counts[key]
                if count:
                    y_top, y_bottom = sorted((frame.y(base, low, high), frame.y(base + count, low, high)))
                    segments.append(Segment(key, verb, x0, y_top, bar, max(0.5, y_bottom - y_top)))
                    base += count
        columns.append(WeekColumn(week, x, segments))
    labels = [(frame.left + n * slot + slot / 2, text) for n, text in week_labels([w.start for w in weeks])]
    return WeekChart(frame, ticks, slot, columns, labels)


def week_labels(starts: Sequence[date]) -> list[tuple[int, str]]:
    """Which weeks of an axis get a label: every week when there are few, else where a month
    begins (with the year at the first label and in January), never two labels too close."""
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


@dataclass(frozen=True)
class MonthBar:
    month: date
    count: int
    label: str  # the axis label: the month, with the year at the first one and in January
    x: float  # the left edge of the month's slot (the whole slot carries its tooltip)
    middle: float
    bar_x: float  # the left edge of the bar
    top: float  # the y of the bar's top (the zero line when the count is 0)
    height: float


@dataclass(frozen=True)
class MonthChart:
    frame: Frame
    zero: float  # the y of the zero line
    slot: float
    bar_width: float
    bars: list[MonthBar]


def month_chart(monthly: MonthlyArtists, frame: Frame = MONTHS) -> MonthChart:
    """A bar per month of the liked songs, from a zero line up to a round maximum."""
    _, high, _ = nice_scale(0, max(monthly.liked), 3)
    zero = frame.y(0, 0, high)
    slot = (frame.plot_right - frame.left) / len(monthly.months)
    bar_width = min(40.0, slot * 0.64)
    bars = []
    for n, (month, count) in enumerate(zip(monthly.months, monthly.liked, strict=True)):
        x = frame.left + n * slot
        middle = x + slot / 2
        top = frame.y(count, 0, high)
        label = f"{month:%b}" if n and month.month != 1 else f"{month:%b %Y}"
        bars.append(MonthBar(month, count, label, x, middle, middle - bar_width / 2, top, zero - top))
    return MonthChart(frame, zero, slot, bar_width, bars)


def heat_level(count: int, most: int) -> int:
    """The shade of a heat-map cell: 0 for nothing, else 1 to 5 by its share of ``most``."""
    return 0 if not count else 1 + min(4, math.floor(count / most * 4.999))


def bar_share(items: int, most: int) -> float:
    """How much of a playlist's size bar is filled, in percent; never less than a sliver."""
    return max(0.5, items / most * 100)


def placeholder_hue(playlist_id: str) -> int:
    """The hue of the gradient shown for a playlist without a cover: fixed per playlist."""
    return sum(playlist_id.encode()) * 37 % 360
