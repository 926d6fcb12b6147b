"""Reading the store for the report: which account, its complete snapshots, their changes, and from
the latest snapshot only the profile, liked songs, playlists and custom covers (playlist items
are never read). The result is :class:`ReportData`, plain data the page is rendered from.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from datetime import timedelta

import orjson

from ..covers import image_type as cover_type
from ..diff import CHANGES_FILE, diff_snapshots
from ..errors import ExporterError
from ..history import SnapshotInfo, SnapshotReader, list_snapshots
from ..stores import SnapshotStore
from .stats import (
    JSON,
    WEEKS_SHOWN,
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

#: a custom cover larger than this is shown as a placeholder, so the page stays small
MAX_COVER_BYTES = 160_000


class ReportError(ExporterError):
    """No report can be made from this store (no snapshot, or several accounts and none named)."""


@dataclass
class ReportData:
    """Everything the page shows, gathered from one store for one account."""

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
    if image_type(image) is None or len(image) > MAX_COVER_BYTES:
        return playlist
    return replace(playlist, cover=image)


#: the covers the page embeds, by the extension :func:`~spotify_exporter.covers.image_type` gives them
EMBEDDED_COVERS = {"jpg": "image/jpeg", "png": "image/png"}


def image_type(data: bytes) -> str | None:
    """The media type of a cover we can embed (JPEG or PNG, by its signature), else None."""
    return EMBEDDED_COVERS.get(cover_type(data) or "")
