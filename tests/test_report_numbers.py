"""The report's numbers: the statistics it gathers and the geometry of its charts, tested as
numbers (no markup): what is counted in which week and month, and where every bar and point goes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from spotify_exporter.report import ChangeCounts, Week, artists_by_month, change_counts, week_start, weekly_changes
from spotify_exporter.report.charts import (
    SPARK,
    WEEKS,
    bar_share,
    heat_level,
    month_chart,
    nice_scale,
    placeholder_hue,
    sparkline,
    week_chart,
    week_labels,
)
from spotify_exporter.report.stats import MonthlyArtists

NOW = datetime(2026, 12, 16, 9, 30, tzinfo=UTC)


def _counts(at: datetime, liked: int = 0, removed: int = 0, items: int = 0) -> ChangeCounts:
    return ChangeCounts(at, {"liked": liked, "items": items, "saved": 0}, {"liked": removed, "items": 0, "saved": 0})


def test_weeks_start_on_monday_and_the_weeks_without_exports_are_kept() -> None:
    assert week_start(datetime(2026, 11, 29, 23, 59, tzinfo=UTC)) == date(2026, 11, 23)  # a Sunday
    assert week_start(datetime(2026, 11, 30, 0, 0, tzinfo=UTC)) == date(2026, 11, 30)
    points = [
        _counts(datetime(2026, 11, 24, tzinfo=UTC), liked=2),
        _counts(datetime(2026, 11, 29, tzinfo=UTC), liked=1, removed=1, items=5),  # same week
        _counts(datetime(2026, 12, 15, tzinfo=UTC), removed=3),
    ]
    weeks = weekly_changes(points, since=datetime(2026, 11, 10, tzinfo=UTC))
    assert [w.start for w in weeks] == [date(2026, 11, 9) + timedelta(weeks=n) for n in range(6)]
    assert [(w.total_added, w.total_removed, w.exports) for w in weeks] == [
        (0, 0, 0),
        (0, 0, 0),
        (8, 1, 2),
        (0, 0, 0),
        (0, 0, 0),
        (0, 3, 1),
    ]
    assert weeks[2].added == {"liked": 3, "items": 5, "saved": 0}
    assert [w.start for w in weekly_changes(points, weeks=2)] == [date(2026, 12, 7), date(2026, 12, 14)]
    assert weekly_changes([]) == []


def test_a_created_playlist_adds_its_items_and_a_deleted_one_removes_them() -> None:
    document = {
        "library": {"added": [{"uri": "a"}], "removed": []},
        "artists": {"added": [{"uri": "b"}, {"uri": "c"}], "removed": [{"uri": "d"}]},
        "playlists": {
            "created": [{"id": "p", "items": 30}],
            "deleted": [{"id": "q", "items": None}, {"id": "r", "items": 4}],
            "renamed": [],
            "changed": [{"added": [{}, {}], "removed": [{}], "moved": [{}, {}, {}]}],
        },
    }
    counts = change_counts(document, NOW)
    assert counts.added == {"liked": 1, "items": 32, "saved": 2}
    assert counts.removed == {"liked": 0, "items": 5, "saved": 1}


def _liked(added_at: str | None, *artists: tuple[str, str]) -> dict[str, Any]:
    return {"added_at": added_at, "track": {"artists": [{"uri": uri, "name": name} for uri, name in artists]}}


def test_top_artists_per_month_count_each_artist_of_a_song_once() -> None:
    ada, bo, cy = ("spotify:artist:ada", "Ada"), ("spotify:artist:bo", "Bo"), ("spotify:artist:cy", "Cy")
    library = [
        _liked("2026-12-02T10:00:00Z", ada, bo),
        _liked("2026-12-01T00:00:00Z", ada, ada),  # the same artist twice on one song counts once
        _liked("2026-11-30T23:59:59Z", bo),
        _liked("2026-01-15T00:00:00Z", cy),  # the first month of the window
        _liked("2025-12-31T23:59:59Z", cy),  # before it
        _liked("1970-01-01T00:00:00Z", cy),  # Spotify did not know
        _liked(None, cy),
        {"added_at": "2026-12-03T00:00:00Z", "track": None},  # gone from Spotify
    ]
    monthly = artists_by_month(library, date(2026, 12, 16), top=2)
    assert monthly.months[0] == date(2026, 1, 1) and monthly.months[-1] == date(2026, 12, 1)
    assert len(monthly.months) == 12
    assert monthly.liked == [1, *[0] * 9, 1, 2]
    assert [(a.name, a.total, a.counts[-2:]) for a in monthly.top] == [("Ada", 2, [0, 2]), ("Bo", 2, [1, 1])]
    assert (monthly.songs, monthly.undated, monthly.earlier) == (7, 2, 1)


def test_axes_end_on_round_numbers() -> None:
    assert nice_scale(0, 87) == (0, 100, 25)
    assert nice_scale(-3, 24) == (-10, 30, 10)
    assert nice_scale(10_003, 10_010, 2) == (10_000, 10_010, 5)
    assert nice_scale(0, 0) == (0, 1, 1)
    assert nice_scale(5, 5)[0] <= 5 < nice_scale(5, 5)[1]


# -- chart geometry ------------------------------------------------------------------------------


def test_a_sparkline_spaces_its_points_by_time_on_a_round_axis() -> None:
    t0 = datetime(2026, 11, 23, tzinfo=UTC)
    line = sparkline([(t0, 10), (t0 + timedelta(days=1), 20), (t0 + timedelta(days=3), 40)])
    assert (SPARK.left, SPARK.plot_right, SPARK.top, SPARK.height - SPARK.bottom) == (34, 234, 8, 68)
    assert [p.x for p in line.points] == pytest.approx([34, 34 + 200 / 3, 234])
    # nice_scale(10, 40, 2) is 0..40: 40 at the top, 0 at the bottom, 10 a quarter up
    assert [p.y for p in line.points] == pytest.approx([53, 38, 8])
    assert [(t.value, t.y) for t in line.ticks] == [(0, 68), (40, 8)]
    assert line.floor == 68 and line.dot_radius == 3


def test_a_flat_sparkline_runs_through_the_middle_and_many_points_get_small_dots() -> None:
    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    flat = sparkline([(t0, 5), (t0 + timedelta(weeks=1), 5)])
    assert [p.y for p in flat.points] == [38, 38]  # halfway between 4 (bottom) and 6 (top)
    assert [t.value for t in flat.ticks] == [4, 6]
    many = sparkline([(t0 + timedelta(weeks=n), n) for n in range(41)])
    assert many.dot_radius < 3 and len(many.points) == 41
    assert all(a.x < b.x and a.y > b.y for a, b in zip(many.points, many.points[1:], strict=False))


def _week(start: date, added: dict[str, int], removed: dict[str, int], exports: int = 1) -> Week:
    zero = {"liked": 0, "items": 0, "saved": 0}
    return Week(start, {**zero, **added}, {**zero, **removed}, exports)


def test_week_bars_stack_additions_up_and_removals_down_from_zero() -> None:
    weeks = [
        _week(date(2026, 11, 30), {"liked": 3, "items": 1}, {"liked": 2}),
        _week(date(2026, 12, 7), {}, {}, exports=0),
    ]
    chart = week_chart(weeks)
    # nice_scale(-2, 4, 4) is -2..4 by 2; the plot is 222 high from y=12
    assert [(t.value, t.y) for t in chart.ticks] == [(-2, 234), (0, 160), (2, 86), (4, 12)]
    assert chart.slot == (WEEKS.plot_right - WEEKS.left) / 2 == 333
    liked, items, unliked = chart.columns[0].segments
    assert (liked.category, liked.verb, liked.y, liked.height) == ("liked", "added", 49, 111)  # 0 up to 3
    assert (items.category, items.y, items.y + items.height) == ("items", 12, liked.y)  # 3 up to 4, on top
    assert (unliked.verb, unliked.y, unliked.height) == ("removed", 160, 74)  # 0 down to -2
    assert liked.width == 28 and liked.x == 8 + (333 - 28) / 2  # at most 28 wide, centred in the slot
    assert chart.columns[1].segments == [] and chart.columns[1].x == 8 + 333
    assert chart.labels == [(174.5, "30 Nov"), (507.5, "7 Dec")]


def test_an_empty_week_chart_still_has_an_axis_and_tiny_counts_stay_visible() -> None:
    chart = week_chart([_week(date(2026, 11, 30), {}, {})])
    assert [t.value for t in chart.ticks] == [0, 1]
    weeks = [_week(date(2026, 1, 5) + timedelta(weeks=n), {"items": 1000 if n == 0 else 0}, {}) for n in range(52)]
    weeks[-1] = _week(weeks[-1].start, {"liked": 1}, {})
    chart = week_chart(weeks)
    (one,) = chart.columns[-1].segments
    assert one.height == 0.5 and one.width == pytest.approx(chart.slot * 0.72)  # a sliver, never nothing
    assert chart.columns[-1].x + chart.slot == pytest.approx(WEEKS.plot_right)


def test_long_week_axes_are_labelled_where_months_begin() -> None:
    starts = [date(2025, 12, 1) + timedelta(weeks=n) for n in range(12)]
    labels = week_labels(starts)
    assert labels == [(0, "Dec 2025"), (5, "Jan 2026"), (9, "Feb")]
    starts = [date(2026, 3, 23) + timedelta(weeks=n) for n in range(10)]  # March ends a week in
    assert week_labels(starts) == [(2, "Apr 2026"), (6, "May")]  # the partial month gives way
    assert week_labels(starts[:3]) == [(0, "23 Mar"), (1, "30 Mar"), (2, "6 Apr")]


def test_month_bars_rise_from_the_zero_line_to_a_round_maximum() -> None:
    months = [date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1)]
    chart = month_chart(MonthlyArtists(months, [0, 5, 10], [], 15, 0, 0))
    # nice_scale(0, 10, 3) tops at 10; the plot is 126 high from y=20
    assert chart.zero == 146 and chart.slot == pytest.approx(700 / 3)
    assert [(b.top, b.height) for b in chart.bars] == [(146, 0), (83, 63), (20, 126)]
    assert [b.label for b in chart.bars] == ["Nov 2026", "Dec", "Jan 2027"]
    assert chart.bar_width == 40 and chart.bars[1].bar_x == chart.bars[1].middle - 20
    assert [b.middle for b in chart.bars] == pytest.approx([10 + 700 / 6, 10 + 700 / 2, 10 + 5 * 700 / 6])


def test_heat_levels_playlist_bars_and_placeholder_colours() -> None:
    assert [heat_level(count, 20) for count in (0, 1, 4, 5, 8, 12, 16, 19, 20)] == [0, 1, 1, 2, 2, 3, 4, 5, 5]
    assert heat_level(1, 1) == 5
    assert bar_share(50, 200) == 25 and bar_share(0, 200) == 0.5 and bar_share(200, 200) == 100
    hues = {placeholder_hue(f"playlist{n}") for n in range(20)}
    assert all(0 <= hue < 360 for hue in hues) and len(hues) > 10
    assert placeholder_hue("37i9dQZF1DXcBWIGoYBM5M") == placeholder_hue("37i9dQZF1DXcBWIGoYBM5M")
