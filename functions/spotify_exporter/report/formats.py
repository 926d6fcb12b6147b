"""How the report writes numbers, dates and names: plain text, registered as template filters.

Nothing here returns markup: the templates escape whatever these give them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from .charts import Point


def count(value: float) -> str:
    """``12,345``: a count with thousands separators."""
    return f"{value:,.0f}"


def compact(value: float) -> str:
    """An axis label: ``12,500`` or ``25k``; negatives get a real minus sign, not a hyphen."""
    sign, value = ("−" if value < 0 else ""), abs(value)
    if value >= 10_000:
        thousands = value / 1000
        return sign + (f"{thousands:.0f}k" if thousands == int(thousands) or thousands >= 100 else f"{thousands:.1f}k")
    return sign + count(value)


def day(moment: datetime | date) -> str:
    """``7 Dec 2026``."""
    return f"{moment.day} {moment:%b %Y}"


def plural(number: int, one: str, many: str | None = None) -> str:
    """``1 playlist``, ``2 playlists`` (or ``many`` when adding an s will not do)."""
    return f"{count(number)} {one if number == 1 else (many or one + 's')}"


def signed(number: int) -> str:
    """A change: ``+3``, ``±0``, and a real minus sign (not a hyphen) before a decrease."""
    return f"+{count(number)}" if number > 0 else ("±0" if number == 0 else f"−{count(-number)}")


def one_line(name: str) -> str:
    """A name as one line of text: newlines become spaces, the ends are trimmed."""
    return " ".join(name.split("\n")).strip() if name else ""


def fixed(value: float) -> str:
    """A coordinate with one decimal, as the charts write them."""
    return f"{value:.1f}"


def line_path(points: Sequence[Point]) -> str:
    """SVG path data through ``points``."""
    return " ".join(f"{'M' if n == 0 else 'L'}{p.x:.1f},{p.y:.1f}" for n, p in enumerate(points))


def area_path(points: Sequence[Point], floor: float) -> str:
    """SVG path data of the area between the line through ``points`` and the height ``floor``."""
    return f"{line_path(points)} L{points[-1].x:.1f},{floor:.1f} L{points[0].x:.1f},{floor:.1f} Z"


FILTERS = {
    "count": count,
    "compact": compact,
    "day": day,
    "plural": plural,
    "signed": signed,
    "one_line": one_line,
    "fixed": fixed,
    "line_path": line_path,
    "area_path": area_path,
}
