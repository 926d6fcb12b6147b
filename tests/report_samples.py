"""Report data built by hand, for every branch of every section (partial snapshots, notes, owners,
long lists, missing names, empty states): the data of the reference pages in ``report_reference/``
and of the hostile-names test.

``sample(variant, name)`` builds the gathered data of one variant; every name a person or
Spotify chose goes through ``name(kind, n)``, so the same pages can be filled with hostile names.
The data are fixed, and depend on nothing but the report's own statistics: the same call gives
the same page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from spotify_exporter.history import SnapshotInfo
from spotify_exporter.report import (
    ChangeCounts,
    ReportData,
    artists_by_month,
    change_counts,
    largest_playlists,
    library_sizes,
    weekly_changes,
)
from spotify_simulator.covers import jpeg

Namer = Callable[[str, int], str]
VARIANTS = ("sink", "first", "quiet", "empty")
START = datetime(2026, 9, 7, 6, 0, tzinfo=UTC)  # a Monday
NOW = datetime(2026, 12, 16, 9, 30, tzinfo=UTC)
LOCATION = "backups"


def plain(kind: str, n: int) -> str:
    """Ordinary names, some long, one right-to-left."""
    if kind == "playlist" and n == 11:
        return "שירים חדשים"
    if kind == "playlist" and n == 12:
        return "A playlist with a name long enough to be cut short at the edge of its row, really"
    return f"{kind.capitalize()} {n}"


def _manifest(counts: dict[str, int | None]) -> dict[str, Any]:
    datasets = {
        name: {"status": "complete", "count": count} if count is not None else {"status": "partial", "count": 3}
        for name, count in counts.items()
    }
    return {"status": "complete", "datasets": datasets}


def _snapshots(account: str, count: int) -> list[SnapshotInfo]:
    snapshots = []
    for n in range(count):
        at = START + timedelta(weeks=n * 2, hours=n)
        counts: dict[str, int | None] = {
            "library": 1200 + 40 * n - (30 if n == 3 else 0),
            "playlists": 30 + n,
            "playlist_items": 12_400 + 900 * n,
            "albums": 75,
            "artists": 12 + n // 2,
            "shows": 4 - n // 3,
            "episodes": 0 if n == count - 1 else None,  # read only in the latest: "none yet"
            "audiobooks": None,  # never read in full: "not read"
        }
        snapshots.append(SnapshotInfo(f"{account}/{at:%Y-%m-%dT%H-%M-%SZ}", _manifest(counts)))
    return snapshots


def _track(name: Namer, n: int) -> dict[str, Any]:
    return {"uri": f"spotify:track:t{n}", "name": name("song", n), "artists": name("artist", n % 7)}


def _changes(name: Namer, old: SnapshotInfo, new: SnapshotInfo) -> dict[str, Any]:
    def entry(n: int, **extra: int) -> dict[str, Any]:
        return {**_track(name, n), **extra}

    return {
        "old": {"folder": old.folder, "started_at": f"{old.started_at:%Y-%m-%dT%H:%M:%SZ}"},
        "new": {"folder": new.folder, "started_at": f"{new.started_at:%Y-%m-%dT%H:%M:%SZ}"},
        "library": {"added": [_track(name, n) for n in range(30)], "removed": [_track(name, 40), _track(name, 41)]},
        "albums": {
            "added": [{"uri": "spotify:album:a1", "name": name("album", 1), "artists": name("artist", 2)}],
            "removed": [],
        },
        "artists": {
            "added": [{"uri": "spotify:artist:r1", "name": name("artist", 9)}, {"uri": "spotify:artist:r2"}, {}],
            "removed": [],
        },
        "shows": {"added": [], "removed": [{"uri": "spotify:show:s1", "name": name("show", 1)}]},
        "episodes": {"added": [], "removed": []},
        "audiobooks": {"added": [], "removed": []},
        "playlists": {
            "created": [{"id": "p9", "name": name("playlist", 9), "items": 12}],
            "deleted": [{"id": "p8", "name": name("playlist", 8), "items": 1}],
            "renamed": [
                {"id": "p3", "old_name": name("playlist", 30), "new_name": name("playlist", 3)},
                {"id": "p4", "old_name": "", "new_name": name("playlist", 4)},
            ],
            "changed": [
                {
                    "id": "p2",
                    "name": name("playlist", 2),
                    "added": [entry(100 + n, position=n * 3) for n in range(20)],
                    "removed": [entry(200 + n, position=n) for n in range(6)],
                    "moved": [entry(300, position=0, old_position=9), entry(301, position=4, old_position=1)],
                },
                {
                    "id": "p5",
                    "name": name("playlist", 5),
                    "added": [entry(400, position=0)],
                    "removed": [],
                    "moved": [],
                },
            ],
        },
        "not_compared": ["audiobooks", name("dataset", 1)],
    }


def _no_changes(old: SnapshotInfo, new: SnapshotInfo) -> dict[str, Any]:
    """What an export of an empty account writes (the folders only: no usable start times)."""
    document: dict[str, Any] = {"old": {"folder": old.folder}, "new": {"folder": new.folder}, "not_compared": []}
    for dataset in ("library", "albums", "artists", "shows", "episodes", "audiobooks"):
        document[dataset] = {"added": [], "removed": []}
    document["playlists"] = {"created": [], "deleted": [], "renamed": [], "changed": []}
    return document


def _library(name: Namer) -> list[dict[str, Any]]:
    songs = []
    for n in range(260):
        month = 1 + n % 12
        day = 1 + n % 27
        added = f"2026-{month:02d}-{day:02d}T08:00:00Z" if n % 13 else "1970-01-01T00:00:00Z"
        artists = [{"uri": f"spotify:artist:{n % 13}", "name": name("artist", n % 13)}]
        if n % 5 == 0:
            artists.append({"uri": f"spotify:artist:{n % 4}", "name": name("artist", n % 4)})
        songs.append({"added_at": added, "track": {"artists": artists}})
    songs.append({"added_at": "2026-12-01T00:00:00Z", "track": {"artists": [{"uri": "spotify:artist:x"}]}})
    return songs


def _playlists(name: Namer, account: str) -> list[dict[str, Any]]:
    playlists = []
    for n in range(14):
        owner = {"id": account} if n % 3 else {"id": f"friend{n}", "display_name": name("owner", n) if n != 6 else ""}
        playlists.append(
            {"id": f"p{n}", "name": name("playlist", n) if n != 7 else "", "owner": owner, "items": {"total": 5 + n**3}}
        )
    return playlists


def sample(variant: str, name: Namer = plain, account: str = "jane.doe") -> ReportData:
    """The gathered data of one page: ``sink`` (everything), ``first`` (one snapshot, nothing
    read), ``quiet`` (changes unreadable, no song liked in the window, no top artist) or
    ``empty`` (an account with nothing in it)."""
    if variant == "sink":
        snapshots = _snapshots(account, 6)
        points = [
            ChangeCounts(s.started_at, {"liked": 40 + n, "items": 900, "saved": n % 3}, {"liked": n, "items": 3 * n})
            for n, s in enumerate(snapshots[1:-1])
        ]
        document = _changes(name, snapshots[-2], snapshots[-1])
        points.append(change_counts(document, snapshots[-1].started_at))
        playlists = largest_playlists(_playlists(name, account), account)
        playlists[2] = replace(playlists[2], cover=jpeg("a cover"))
        return ReportData(
            account,
            name("user", 1),
            snapshots,
            2,
            1,
            library_sizes(snapshots),
            weekly_changes(points, since=snapshots[0].started_at),
            document,
            artists_by_month(_library(name), NOW.date()),
            playlists,
            14,
            [f"The changes of the snapshot {snapshots[2].stamp} could not be read ({name('error', 1)})."],
        )
    if variant == "first":
        snapshots = _snapshots(account, 1)
        return ReportData(
            account, name("user", 2), snapshots, 0, 0, library_sizes(snapshots), [], None, None, None, 0, []
        )
    snapshots = _snapshots(account, 2)
    empty = variant == "empty"
    at = snapshots[-1].started_at
    nothing = {"liked": 0, "items": 0, "saved": 0}
    latest_changes = _no_changes(*snapshots) if empty else None
    library = [] if empty else [{"added_at": "2024-05-01T00:00:00Z", "track": {"artists": []}}]
    return ReportData(
        account,
        "",
        snapshots,
        0,
        0,
        library_sizes(snapshots),
        weekly_changes([ChangeCounts(at, nothing, nothing)]),
        latest_changes,
        artists_by_month(library, NOW.date()),
        [] if empty else None,
        0,
        [],
    )
