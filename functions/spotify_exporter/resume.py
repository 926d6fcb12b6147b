"""Finishing a partial snapshot instead of starting over: which one, and what it already holds.

A run that stops early (a long ``Retry-After``, the host's time budget) writes what it read and
marks the snapshot ``partial``. Resuming it reads only what that snapshot lacks: datasets whose
status is not ``complete`` (or ``unavailable``) in its manifest, and the items of playlists it
does not hold (playlists unchanged since the last complete snapshot are still copied from
there). The resumed run writes into **the same folder** and rewrites the manifest last.

What a resume rewrites in the snapshot folder (every other file is left as it is):

* the CSV and JSON files of each dataset that was not complete;
* ``playlists.csv`` and ``json/playlists.jsonl.gz`` when either playlist dataset was not
  complete (``items_status`` changes as items are read);
* every file in ``portable/`` (the liked songs' and each playlist's XSPF and JSPF: their entries
  and notes change; a playlist no longer listed keeps its old files, still listed);
* ``changes.json`` (the comparison with the previous complete snapshot, now with every dataset);
* ``manifest.json``, last: status, file table, counters, and one more entry in ``resumes``.

New files only are added for covers it downloads; ``json/profile.json`` and covers already
there are never rewritten. The resume itself keeps no state of its own: the partial manifest
and the files it lists are the record of what was read, and a resume that dies half way leaves
them as a later resume can use them (a file rewritten but not yet in the manifest fails its
SHA-256 check and is simply read again).

**In a write-once store** (a Blob container with an immutability policy, where no file can be
replaced) the resume finishes the partial snapshot **in a new snapshot folder** instead, named by
the resume's own start like any snapshot: it reads what the partial one lacks as above, copies the
partial one's other files into the new folder (:meth:`PartialSnapshot.carry_into`, each checked
against the partial manifest's SHA-256 on the way), and its manifest names the partial folder in
``continues``. The partial folder stays as it was, ``partial``, its files all still matching its
manifest; a newer complete snapshot makes it one that is not resumed again. A resume that stops
early again leaves a new partial folder, which the next resume continues in turn. Nothing of the
format changes: every folder is self-contained, and its manifest is still its last file.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .diff import CHANGES_FILE
from .errors import ExporterError, OutOfTimeError, RateLimitedError
from .history import JSON, SnapshotInfo, SnapshotReader, latest_complete, list_snapshots, read_manifest
from .snapshot import MANIFEST, PORTABLE_FOLDER, FileRecord, SnapshotWriter
from .stores import SnapshotStore

log = logging.getLogger("spotify_exporter")

#: dataset statuses a resume keeps as they are
HELD = ("complete", "unavailable")
#: why a run stopped that is worth finishing later on its own (other partials need a person or a retry)
RESUMABLE_ERRORS = (RateLimitedError, OutOfTimeError)
#: how long a resume waits after a ban whose 429s never said how long (the error says "a few hours")
UNSAID_BAN_S = 3 * 3600.0
#: the manifest's counters that add up over a snapshot's runs
SUMMED_COUNTERS = ("requests", "retries", "token_refreshes", "image_downloads")


class NothingToResume(ExporterError):
    """There is no partial snapshot to finish (or it no longer needs finishing): not a failure."""


@dataclass(frozen=True)
class PartialSnapshot:
    """A partial snapshot being finished: its folder, its manifest and what it already holds."""

    reader: SnapshotReader

    @classmethod
    def of(cls, store: SnapshotStore, info: SnapshotInfo) -> PartialSnapshot:
        return cls(SnapshotReader(store, info))

    @property
    def folder(self) -> str:
        return self.reader.folder

    @property
    def info(self) -> SnapshotInfo:
        return self.reader.info

    @property
    def manifest(self) -> JSON:
        return self.reader.manifest

    @property
    def started_at(self) -> datetime:
        return self.info.started_at

    def holds(self, *datasets: str) -> bool:
        """Whether the snapshot has each of ``datasets`` in full (or knows Spotify refuses it)."""
        return all(self.reader.dataset_status(name) in HELD for name in datasets)

    def entry(self, dataset: str) -> dict[str, Any]:
        """The dataset's manifest entry (status, count, extra counts, error)."""
        entry = self.manifest.get("datasets", {}).get(dataset)
        return dict(entry) if isinstance(entry, dict) else {}

    def file_records(self, names: set[str] | None = None) -> dict[str, FileRecord]:
        """The manifest's records of the files it lists (of ``names`` only, when given)."""
        records: dict[str, FileRecord] = {}
        for name, record in (self.manifest.get("files") or {}).items():
            if (names is None or name in names) and isinstance(record, dict):
                records[name] = FileRecord(int(record["rows"]), str(record["sha256"]), int(record["bytes"]))
        return records

    def kept_files(self) -> dict[str, FileRecord]:
        """Every file the partial snapshot lists: a resume rewrites some (their new records replace
        these) and leaves the others, so the manifest always lists exactly the folder's files."""
        return self.file_records()

    def holds_playlists(self) -> bool:
        return self.holds("playlists", "playlist_items")

    def covers(self) -> dict[str, str | None]:
        """Playlist id -> cover file the snapshot holds (None: not downloaded, tried again)."""
        covers = self.manifest.get("covers")
        if not isinstance(covers, dict):
            return {}
        return {str(k): (str(v) if isinstance(v, str) else None) for k, v in covers.items()}

    def listing(self) -> list[JSON]:
        """The playlists as Spotify listed them to the partial run (only when it read the whole list)."""
        return list(self.reader.records("playlists"))

    def playlist_rows(self) -> dict[str, dict[str, str]]:
        """``playlists.csv`` by playlist id: its ``items_status``, ``snapshot_id`` and ``item_count``."""
        return {row["playlist_id"]: row for row in self.reader.csv_rows("playlists")}

    def counters(self) -> dict[str, float]:
        """What the earlier runs of this snapshot cost, to add this run's to."""
        totals = {name: float(self.manifest.get(name) or 0) for name in SUMMED_COUNTERS}
        totals["rate_limit_wait_s"] = float(self.manifest.get("rate_limit_wait_s") or 0)
        return totals

    def resumes(self) -> list[JSON]:
        earlier = self.manifest.get("resumes")
        return [dict(entry) for entry in earlier if isinstance(entry, dict)] if isinstance(earlier, list) else []

    def carry_into(self, writer: SnapshotWriter, *, last: bool) -> int:
        """Write-once store: copy into ``writer``'s new folder every file of this partial snapshot that
        the resume does not write itself; returns how many. Before the portable playlists and
        ``changes.json`` are written (``last`` False) those are left for later: the run writes them
        anew, and only what it did not write (a playlist no longer listed) is copied at the end."""
        later = () if last else (f"{PORTABLE_FOLDER}/", CHANGES_FILE)
        copied = 0
        for name, record in self.kept_files().items():
            if name in writer.files or (later and name.startswith(later)):
                continue
            # the target is written only if the source matched its SHA-256 to the last byte
            with writer.stream_file(name) as target, self.reader.open_file(name) as source:
                shutil.copyfileobj(source, target.stream, 1 << 20)
                target.rows = record.rows
            copied += 1
        return copied

    def warnings(self) -> list[str]:
        """The earlier runs' warnings, without the error that stopped the last one (the resume answers it)."""
        error = self.manifest.get("error")
        return [str(w) for w in self.manifest.get("warnings") or [] if str(w) != error]


#: picks the partial snapshot to finish once the account is known (``None``: export afresh)
ResumeChoice = Callable[[str], PartialSnapshot | None]


def why_not_resume(store: SnapshotStore, folder: str) -> str | None:
    """None when ``folder`` is a partial snapshot worth finishing; otherwise why it is not (for the log)."""
    try:
        manifest = read_manifest(store, folder)
    except ExporterError as error:
        return f"the snapshot {folder} cannot be resumed: {error}"
    if manifest.get("status") == "complete":
        return f"the snapshot {folder} is already complete"
    account_id, _, stamp = folder.partition("/")
    newer = latest_complete(store, account_id)
    if newer is not None and newer.stamp > stamp:
        return f"a newer complete snapshot of {account_id} exists ({newer.folder}), so {folder} is left partial"
    return None


def resume_snapshot(store: SnapshotStore, folder: str) -> ResumeChoice:
    """Finish exactly ``folder`` (a resume message): dropped when it is complete or a newer complete one exists."""

    def choose(account_id: str) -> PartialSnapshot:
        if folder.partition("/")[0] != account_id:
            raise ExporterError(
                f"the snapshot {folder} is not of the Spotify user this refresh token belongs to ({account_id}); "
                "it is not resumed with it"
            )
        reason = why_not_resume(store, folder)
        if reason is not None:
            raise NothingToResume(reason)
        return PartialSnapshot.of(store, SnapshotInfo(folder, read_manifest(store, folder)))

    return choose


def resume_latest(store: SnapshotStore, *, since: datetime | None = None, required: bool = True) -> ResumeChoice:
    """Finish the account's latest snapshot if it is partial (and started at or after ``since``).

    ``required``: having none is :class:`NothingToResume` (``export --resume``); otherwise the
    run exports afresh (a retried request whose first attempt left nothing to finish)."""

    def choose(account_id: str) -> PartialSnapshot | None:
        finished = list_snapshots(store, account_id).finished
        latest = finished[-1] if finished else None
        recent = since is None or (
            latest is not None and latest.started_at >= since.astimezone(UTC).replace(microsecond=0)
        )
        if latest is not None and not latest.complete and recent:
            return PartialSnapshot.of(store, latest)
        if not required:
            return None
        where = f"{store.location}/{account_id}"
        if latest is None:
            raise NothingToResume(f"there is no snapshot in {where} to resume; run an export")
        raise NothingToResume(f"the latest snapshot in {where} ({latest.stamp}) is complete: nothing to resume")

    return choose


def resume_delay_s(error: ExporterError, now: datetime, jitter_s: float) -> float | None:
    """Seconds until a run stopped by ``error`` is worth resuming, or None when it is not resumable.

    A ban is waited out to the moment Spotify named, plus ``jitter_s`` so that several apps (or
    accounts) banned together do not all come back in the same second; a run out of time is
    resumed after the jitter alone."""
    if isinstance(error, RateLimitedError):
        if error.retry_at is None:  # 429s that never said for how long: come back in a few hours
            return UNSAID_BAN_S + jitter_s
        return max(0.0, (error.retry_at - now).total_seconds()) + jitter_s
    if isinstance(error, OutOfTimeError):
        return jitter_s
    return None


__all__ = [
    "MANIFEST",
    "RESUMABLE_ERRORS",
    "NothingToResume",
    "PartialSnapshot",
    "ResumeChoice",
    "resume_delay_s",
    "resume_latest",
    "resume_snapshot",
    "why_not_resume",
]
