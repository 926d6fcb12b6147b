"""The export schedule as Azure Functions reads it (NCRONTAB, six fields, UTC), and how long it may be quiet.

The missed-export alert must know the longest gap between two runs of the schedule, so the
expression is parsed here the way NCrontab (the library the Functions timer uses) parses it:
``second minute hour day month day-of-week``, each field ``*``, a number, a range ``a-b``, a
list ``a,b``, a step ``*/n`` or ``a-b/n``, with month and day names (``Jan``, ``Sun``), Sunday 0
(and 7). Unlike Vixie cron, NCrontab requires *both* the day of the month and the day of the
week to match (``0 0 8 1-7 * Mon`` is the first Monday of the month; atifaziz/NCrontab issue 107).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

_FIELDS = (("second", 0, 59), ("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12), ("weekday", 0, 7))
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_WEEKDAYS = {name: number for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_ITEM = re.compile(r"(?P<range>\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(?P<step>\d+))?")
#: long enough to see every pattern of days of the month, months and weekdays (and leap years)
_HORIZON_YEARS = 8
_START = date(2024, 1, 1)


class ScheduleError(ValueError):
    """An expression NCrontab would refuse; the message says which field."""


@dataclass(frozen=True)
class Schedule:
    expression: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    """0 is Sunday (7 is folded into 0)."""

    @classmethod
    def parse(cls, expression: str) -> Schedule:
        fields = expression.split()
        if len(fields) != len(_FIELDS):
            raise ScheduleError(
                "use six NCRONTAB fields (second minute hour day month day-of-week), e.g. '0 0 0 * * Sun'"
            )
        values = [_parse_field(text, name, low, high) for text, (name, low, high) in zip(fields, _FIELDS, strict=True)]
        seconds, minutes, hours, days, months, weekdays = values
        sunday_as_0 = frozenset(0 if day == 7 else day for day in weekdays)
        return cls(expression, seconds, minutes, hours, days, months, sunday_as_0)

    def _run_days(self) -> list[date]:
        days = []
        day = _START
        end = date(_START.year + _HORIZON_YEARS, 1, 1)
        while day < end:
            weekday = (day.weekday() + 1) % 7  # Python's Monday 0 to cron's Sunday 0
            if day.month in self.months and day.day in self.days and weekday in self.weekdays:
                days.append(day)
            day += timedelta(days=1)
        return days

    def longest_gap(self) -> timedelta:
        """The longest time between two consecutive runs (ScheduleError if it never runs)."""
        days = self._run_days()
        if not days:
            raise ScheduleError(f"'{self.expression}' never runs (no day matches both its day and its day-of-week)")
        times = sorted(
            timedelta(hours=h, minutes=m, seconds=s) for h in self.hours for m in self.minutes for s in self.seconds
        )
        first, last = times[0], times[-1]
        within_day = max((b - a for a, b in pairwise(times)), default=timedelta(0))
        between_days = max(
            (timedelta(days=(b - a).days) - last + first for a, b in pairwise(days)),
            default=timedelta(0),
        )
        return max(within_day, between_days)

    def next_run(self, after: datetime) -> datetime:
        """The first run strictly after ``after`` (UTC), for documentation and tests."""
        moment = after.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)
        for day in (d for d in self._run_days() if d >= moment.date()):
            for hour in sorted(self.hours):
                for minute in sorted(self.minutes):
                    for second in sorted(self.seconds):
                        candidate = datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)
                        if candidate >= moment:
                            return candidate
        raise ScheduleError(f"'{self.expression}' does not run after {after:%Y-%m-%d}")


def _parse_field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for item in text.lower().split(","):
        match = _ITEM.fullmatch(item)
        if not match:
            raise ScheduleError(f"the {name} field '{text}' is not NCRONTAB")
        step = int(match["step"] or 1)
        if step < 1:
            raise ScheduleError(f"the {name} field '{text}' has a step of 0")
        if match["range"] == "*":
            first, last = low, high
        else:
            bounds = [_number(part, name, text) for part in match["range"].split("-")]
            first, last = bounds[0], bounds[-1]
            if match["step"] and len(bounds) == 1:
                last = high  # "5/15" means from 5 on, every 15
        if not (low <= first <= last <= high):
            raise ScheduleError(f"the {name} field '{text}' is outside {low}-{high}")
        values.update(range(first, last + 1, step))
    return frozenset(values)


def _number(part: str, name: str, text: str) -> int:
    names = _MONTHS if name == "month" else _WEEKDAYS if name == "weekday" else {}
    if part in names:
        return names[part]
    if part.isdigit():
        return int(part)
    raise ScheduleError(f"the {name} field '{text}' has '{part}', which is neither a number nor a name")
