"""The report: one self-contained HTML page about how an account's library changes over time.

It reads little (see :mod:`.gather`): the manifests of the complete snapshots, their
``changes.json``, and from the latest snapshot only the profile, liked songs, playlists and
custom covers. The numbers come from :mod:`.stats`, the charts' geometry from :mod:`.charts`,
and the page from Jinja2 templates with autoescaping on (:mod:`.page`): every name that came
from Spotify or another person is text, never markup.

The page needs no network to be viewed: CSS is inlined, charts are inline SVG (no script at
all), covers are embedded as ``data:`` URIs. Only the CLI renders reports, so only it needs
Jinja2: the function app never imports this package.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from ..errors import ExporterError
from ..files import write_file_atomically
from ..stores import SnapshotStore
from .charts import nice_scale
from .gather import ReportData, ReportError, gather
from .page import render_page
from .stats import (
    ChangeCounts,
    MonthlyArtists,
    PlaylistSize,
    SizePoint,
    Week,
    artists_by_month,
    change_counts,
    largest_playlists,
    library_sizes,
    week_start,
    weekly_changes,
)

__all__ = [
    "ChangeCounts",
    "MonthlyArtists",
    "PlaylistSize",
    "ReportData",
    "ReportError",
    "SizePoint",
    "Week",
    "artists_by_month",
    "change_counts",
    "gather",
    "largest_playlists",
    "library_sizes",
    "nice_scale",
    "render_page",
    "render_report",
    "week_start",
    "weekly_changes",
    "write_report",
]


def render_report(store: SnapshotStore, account_id: str | None = None, *, now: datetime | None = None) -> str:
    """The report on ``account_id`` (or the store's only account) as one self-contained HTML page.

    Raises :class:`ExporterError` when the store holds no complete snapshot of the account, or
    snapshots of several accounts and none is named.
    """
    return render_page(gather(store, account_id), store.location, now or datetime.now(UTC))


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
