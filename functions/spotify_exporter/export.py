"""One export run: read every dataset and write one snapshot.

Whatever could be read is written. Errors scoped to one dataset (an endpoint refused to
the app, a server that keeps failing) mark that dataset and the run goes on; errors that
stop the whole account (a long rate-limit ban, a dead refresh token) mark the rest as
skipped. Either way the manifest then says ``partial``. Errors before anything could be
written (no profile) and store failures propagate: no manifest, no snapshot. The datasets are
declared in :mod:`.datasets`; the playlists, more than a declaration (carry-over, resumes cut off
in a playlist, covers), are read by :mod:`.export_playlists`.

Given ``resume``, the run finishes a partial snapshot in its own folder instead (see
:mod:`.resume`): what that snapshot holds is kept, the rest is read, the manifest is rewritten;
in a write-once store it finishes it in a new folder whose manifest says which one it ``continues``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from . import __version__, rows
from .client import JSON, SpotifyClient
from .datasets import (
    AFTER_PLAYLISTS,
    DATASET_ERRORS,
    DATASET_ORDER,
    LIBRARY,
    DatasetOutcome,
    NoProgress,
    ProgressSink,
    SimpleDataset,
)
from .diff import CHANGES_FILE, diff_snapshots
from .errors import ExporterError, ForbiddenError, SpotifyServerError
from .export_playlists import FORBIDDEN_WARNING_START, PlaylistsExport
from .history import SnapshotError, SnapshotInfo, SnapshotReader, latest_complete
from .paging import Page
from .portable import PortableBuilder, PortableError, PortableIndex
from .redaction import redact
from .resume import PartialSnapshot, ResumeChoice
from .snapshot import (
    DATASET_FILES,
    FORMAT_VERSION,
    MANIFEST,
    PROFILE_FILE,
    SnapshotWriter,
    iso_utc,
    snapshot_folder,
)
from .stores import SnapshotStore

log = logging.getLogger("spotify_exporter")


@dataclass(frozen=True)
class ExportResult:
    status: str
    account_id: str
    folder: str
    location: str
    manifest: dict[str, Any]
    duration_s: float
    #: what stopped the run early (a ban, the time budget, a dead token), if anything did
    stopped_by: ExporterError | None = None
    #: whether this run finished an earlier partial snapshot rather than starting one
    resumed: bool = False


class Export(PlaylistsExport):
    """Reads an account through ``client`` and writes it to ``store``."""

    def __init__(
        self,
        client: SpotifyClient,
        store: SnapshotStore,
        *,
        progress: ProgressSink | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        clock: Callable[[], float] = time.monotonic,
        warnings: list[str] | None = None,
        incremental: bool = True,
        changes: bool = True,
        resume: ResumeChoice | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.progress = progress or NoProgress()
        self._now = now
        self._clock = clock
        self.warnings: list[str] = list(warnings or [])
        self.outcomes: dict[str, DatasetOutcome] = {}
        self._stop: ExporterError | None = None
        self._incremental = incremental
        self._write_changes = changes
        self._base: SnapshotReader | None = None
        self.playlists_reused = 0
        self.covers: dict[str, str | None] = {}
        self.portable: PortableIndex | None = None
        self._portable = PortableBuilder()
        self._account_id = ""
        self._skipped_elements: dict[str, int] = {}
        self._choose_resume = resume
        self.resuming: PartialSnapshot | None = None
        self._item_offsets: dict[str, int] = {}  # resuming: where reading a cut-off playlist goes on

    def run(self) -> ExportResult:
        try:
            return self._run()
        finally:
            self.client.close()
            self._portable.close()

    def _run(self) -> ExportResult:
        began = self._clock()
        started_at = run_started = self._now().replace(microsecond=0)
        profile = self.client.get_json("/me")
        account_id = str(profile.get("id") or "")
        if not account_id:
            raise SpotifyServerError("/me", 1, "a profile without a user id")
        self._account_id = account_id
        self.resuming = self._choose_resume(account_id) if self._choose_resume is not None else None
        if self.resuming is not None and self.store.write_once:  # finished in a new folder (resume.py)
            folder, started_at = self._free_folder(account_id, started_at)
            log.info(
                "resuming the partial snapshot %s/%s into %s: the store is write-once",
                self.store.location, self.resuming.folder, folder,
            )  # fmt: skip
            writer = SnapshotWriter(self.store, folder)
            self.covers = self.resuming.covers()
        elif self.resuming is not None:
            folder, started_at = self.resuming.folder, self.resuming.started_at
            log.info("resuming the partial snapshot %s/%s", self.store.location, folder)
            writer = SnapshotWriter(self.store, folder)
            writer.files.update(self.resuming.kept_files())  # rewritten files replace their records
            self.covers = self.resuming.covers()
        else:
            folder, started_at = self._free_folder(account_id, started_at)
            log.info("exporting Spotify account %s into %s/%s", account_id, self.store.location, folder)
            writer = SnapshotWriter(self.store, folder)
        writer.tap("library", self._portable.add_liked)
        writer.tap("playlist_items", self._portable.add_item)
        if self.resuming is None:
            writer.write_json(PROFILE_FILE, profile)
        self._base = self._previous_snapshot(account_id, folder)

        self._export_simple(writer, LIBRARY)
        self._export_playlists(writer)
        for dataset in AFTER_PLAYLISTS:
            self._export_simple(writer, dataset)
        self._carry_from_partial(writer, last=False)
        self._write_portable(writer, folder)

        status = (
            "complete" if all(o.status in ("complete", "unavailable") for o in self.outcomes.values()) else "partial"
        )
        for name, count in self._skipped_elements.items():
            self.outcomes[name].extra["skipped_elements"] = count
            self.warnings.append(
                f"{name}: Spotify sent {count} empty element(s) (null) among the items; they were skipped "
                "(nothing else is missing)"
            )
        if self._stop is not None:
            self.warnings.append(str(self._stop))
        # the snapshot itself is whole (its status says so); the user must still act before next week
        action_required = self.client.action_required
        self.warnings.extend(problem for problem in action_required if problem not in self.warnings)
        if self._write_changes:
            self._write_changes_file(writer, folder, iso_utc(started_at), status)
        self._carry_from_partial(writer, last=True)
        stats = self.client.stats
        counters = self._counters()
        manifest: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "tool_version": __version__,
            "account_id": account_id,
            "started_at": iso_utc(started_at),
            "finished_at": iso_utc(self._now()),
            "status": status,
            "files": writer.file_table(),
            "datasets": {name: self.outcomes[name].as_manifest() for name in DATASET_ORDER},
            "requests": int(counters["requests"]),
            "retries": int(counters["retries"]),
            "warnings": [redact(warning) for warning in self._manifest_warnings()],
            "action_required": action_required,
            "error": str(self._stop) if self._stop else None,
            "rate_limit_wait_s": round(counters["rate_limit_wait_s"], 1),
            "token_refreshes": int(counters["token_refreshes"]),
            "json_files": {name: files.json for name, files in DATASET_FILES.items()} | {"profile": PROFILE_FILE},
            "covers": dict(sorted(self.covers.items())),
            "incremental": {
                "base": self._base.folder if self._base else None,
                "playlists_reused": self.playlists_reused,
            },
            "changes_file": CHANGES_FILE if CHANGES_FILE in writer.files else None,
            "portable": self.portable.as_manifest() if self.portable else None,
            "image_downloads": int(counters["image_downloads"]),
            "resumes": self._resumes(run_started, status),
            "continues": self.resuming.folder if self.resuming and self.resuming.folder != folder else None,
        }
        writer.write_manifest(manifest)
        duration = self._clock() - began
        log.info(
            "export %s: %s requests, %s retries, %.1f s, snapshot %s/%s",
            status,
            stats.requests,
            stats.retries,
            duration,
            self.store.location,
            folder,
        )
        return ExportResult(
            status, account_id, folder, self.store.location, manifest, duration, self._stop, self.resuming is not None
        )

    # -- resuming ----------------------------------------------------------------------------

    def _counters(self) -> dict[str, float]:
        """This run's costs, plus the earlier runs' when it finishes their snapshot."""
        stats = self.client.stats
        counters = {
            "requests": float(stats.requests),
            "retries": float(stats.retries),
            "token_refreshes": float(self.client.token_refreshes),
            "image_downloads": float(stats.downloads),
            "rate_limit_wait_s": stats.rate_limit_wait_s,
        }
        if self.resuming is not None:
            for name, earlier in self.resuming.counters().items():
                counters[name] += earlier
        return counters

    def _manifest_warnings(self) -> list[str]:
        """This run's warnings, after the earlier runs' ones that still hold (a count this run redid is dropped)."""
        if self.resuming is None:
            return self.warnings
        redone = () if self.resuming.holds_playlists() else (FORBIDDEN_WARNING_START,)
        earlier = [w for w in self.resuming.warnings() if not w.startswith(redone)]
        return list(dict.fromkeys([*earlier, *self.warnings]))

    def _resumes(self, run_started: datetime, status: str) -> list[dict[str, Any]]:
        """The manifest's ``resumes``: one entry per run that finished this snapshot after its first."""
        if self.resuming is None:
            return []
        entry = {
            "started_at": iso_utc(run_started),
            "finished_at": iso_utc(self._now()),
            "status": status,
            "requests": self.client.stats.requests,
            "reason": self.resuming.manifest.get("error"),
        }
        return [*self.resuming.resumes(), entry]

    def _carry_from_partial(self, writer: SnapshotWriter, *, last: bool) -> None:
        """Resuming into a new folder (a write-once store): the partial snapshot's files this run keeps."""
        if self.resuming is not None and writer.folder != self.resuming.folder:
            copied = self.resuming.carry_into(writer, last=last)
            if copied:
                log.info("%s files of %s carried into %s", copied, self.resuming.folder, writer.folder)

    def _held(self, name: str) -> DatasetOutcome | None:
        """The outcome the partial snapshot already has for ``name``, when it holds that dataset in full."""
        if self.resuming is None or not self.resuming.holds(name):
            return None
        entry = self.resuming.entry(name)
        extra = {k: int(v) for k, v in entry.items() if k not in ("status", "count", "error") and isinstance(v, int)}
        return DatasetOutcome(str(entry["status"]), int(entry.get("count") or 0), entry.get("error"), extra)

    def _feed_portable(self, dataset: str) -> None:
        """The portable playlists take the records of a dataset the partial snapshot holds, as if written now."""
        assert self.resuming is not None
        reader = self.resuming.reader
        if dataset == "library":
            for saved in reader.records("library"):
                self._portable.add_liked(rows.library_row(saved), saved)
            return
        for envelope in reader.records("playlist_items"):
            entry = envelope.get("entry")
            row = rows.playlist_item_row({}, 0, entry if isinstance(entry, dict) else {})
            self._portable.add_item(row, envelope)

    def _held_listing(self) -> list[JSON] | None:
        """The playlist list the partial snapshot read in full, or None (then it is read again)."""
        if self.resuming is None or not self.resuming.holds("playlists"):
            return None
        try:
            return [p for p in self.resuming.listing() if isinstance(p, dict)]
        except ExporterError as error:
            self.warnings.append(f"the partial snapshot's playlist list could not be reused ({error}); it is read")
            return None

    # -- datasets ----------------------------------------------------------------------------

    def _export_simple(self, writer: SnapshotWriter, dataset: SimpleDataset) -> None:
        held = self._held(dataset.name)
        if held is not None:  # resuming: the partial snapshot has it; its files stay as they are
            if dataset is LIBRARY:
                self._feed_portable("library")
            self.outcomes[dataset.name] = held
            self._finished(dataset.name, held)
            return
        outcome = self.outcomes[dataset.name] = DatasetOutcome()
        with writer.dataset(dataset.name, dataset.columns) as sink:
            if not self._skipped(outcome):
                pages = self.client.pages(dataset.path, dataset.params, dataset.container_key)
                for page in self._guarded(dataset.name, outcome, pages):
                    for raw in page.items:
                        sink.add(dataset.to_row(raw), raw)
                    outcome.count = sink.rows
                    self._note_skipped(dataset.name, page)
                    self.progress.advanced(dataset.name, len(page.items))
        self._finished(dataset.name, outcome)

    def _previous_snapshot(self, account_id: str, folder: str) -> SnapshotReader | None:
        """The latest complete snapshot before this one: the base for carry-over and ``changes.json``."""
        try:
            info = latest_complete(self.store, account_id, before=folder.partition("/")[2])
        except ExporterError as error:
            self.warnings.append(f"the earlier snapshots could not be listed ({error}); every playlist is read")
            return None
        return SnapshotReader(self.store, info) if info else None

    # -- portable playlists and changes ------------------------------------------------------

    def _written_so_far(self, writer: SnapshotWriter, folder: str, **manifest: object) -> SnapshotReader:
        """This run's snapshot as far as it is written, readable (and hash-checked) like a finished one."""
        document = {
            "files": writer.file_table(),
            "datasets": {n: o.as_manifest() for n, o in self.outcomes.items()},
            "covers": dict(self.covers),
            **manifest,
        }
        return SnapshotReader(self.store, SnapshotInfo(folder, document))

    def _write_portable(self, writer: SnapshotWriter, folder: str) -> None:
        """XSPF and JSPF of liked songs and every playlist, from the records as they were written:
        the same files whether items were read now or copied from the previous snapshot."""
        try:
            self.portable = self._portable.write(self._written_so_far(writer, folder), writer)
        except (SnapshotError, PortableError) as error:
            self.warnings.append(f"the portable playlists were not written: {error}")
            return
        log.info("portable playlists: liked songs and %s playlists as XSPF and JSPF", len(self.portable.playlists))

    def _write_changes_file(self, writer: SnapshotWriter, folder: str, started_at: str, status: str) -> None:
        """``changes.json``: what changed since the previous complete snapshot (datasets this run
        could not read in full are listed as not compared)."""
        current = self._written_so_far(writer, folder, started_at=started_at, status=status)
        try:
            document = diff_snapshots(self._base, current)
        except ExporterError as error:
            self.warnings.append(f"changes.json was not written: {error}")
            return
        writer.write_json(CHANGES_FILE, document)
        summary = document["summary"]
        if self._base is None:
            log.info("the first complete snapshot of this account: changes.json has nothing to compare with")
            return
        log.info(
            "changes since the last complete snapshot: %s liked songs added, %s removed, %s playlists changed",
            summary["library"]["added"],
            summary["library"]["removed"],
            summary["playlists"]["changed"],
        )

    # -- bookkeeping -------------------------------------------------------------------------

    def _guarded(self, name: str, outcome: DatasetOutcome, pages: Iterable[Page]) -> Iterator[Page]:
        """Yield pages until the end or an error, and record that error on the outcome."""
        first = True
        try:
            for page in pages:
                if first:
                    self.progress.started(name, page.total)
                    first = False
                yield page
        except ForbiddenError as error:
            if first:
                outcome.status, outcome.error = "unavailable", str(error)
                self.warnings.append(f"{name}: {error}; the dataset is not in this snapshot")
            else:
                outcome.status, outcome.error = "failed", str(error)
        except DATASET_ERRORS as error:
            outcome.status, outcome.error = "failed", str(error)
        except ExporterError as error:
            outcome.status, outcome.error = "failed", str(error)
            self._stop = error

    def _skipped(self, outcome: DatasetOutcome) -> bool:
        """Mark the dataset skipped when an earlier error stopped the run."""
        if self._stop is None:
            return False
        outcome.status, outcome.error = "skipped", "not read: the run stopped earlier"
        return True

    def _note_failure(self, what: str, error: ExporterError) -> None:
        log.warning("%s: %s", what, error)

    def _note_skipped(self, dataset: str, page: Page) -> None:
        """Count elements the pager dropped (not objects); each dataset gets one warning at the end."""
        if page.skipped:
            self._skipped_elements[dataset] = self._skipped_elements.get(dataset, 0) + len(page.skipped)

    def _finished(self, name: str, outcome: DatasetOutcome) -> None:
        level = logging.INFO if outcome.status == "complete" else logging.WARNING
        log.log(
            level,
            "%s: %s rows, %s%s",
            name,
            outcome.count,
            outcome.status,
            f" ({outcome.error})" if outcome.error else "",
        )
        self.progress.finished(name, outcome)

    def _free_folder(self, account_id: str, started_at: datetime) -> tuple[str, datetime]:
        """A snapshot folder nobody has used, and its time: two runs in one second never share one."""
        moment = started_at
        while next(iter(self.store.list_files(snapshot_folder(account_id, moment) + "/")), None) is not None:
            moment += timedelta(seconds=1)
        return snapshot_folder(account_id, moment), moment


def run_export(client: SpotifyClient, store: SnapshotStore, **options: Any) -> ExportResult:
    """Export the account behind ``client`` into ``store``; see :class:`Export`."""
    return Export(client, store, **options).run()


__all__ = ["MANIFEST", "DatasetOutcome", "Export", "ExportResult", "ProgressSink", "run_export"]
