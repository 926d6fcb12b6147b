"""One export run: read every dataset and write one snapshot.

Whatever could be read is written. Errors scoped to one dataset (an endpoint refused to
the app, a server that keeps failing) mark that dataset and the run goes on; errors that
stop the whole account (a long rate-limit ban, a dead refresh token) mark the rest as
skipped. Either way the manifest then says ``partial``. Errors before anything could be
written (no profile) and store failures propagate: no manifest, no snapshot.

Given ``resume``, the run finishes a partial snapshot in its own folder instead (see
:mod:`.resume`): what that snapshot holds is kept, the rest is read, the manifest is rewritten;
in a write-once store it finishes it in a new folder whose manifest says which one it ``continues``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import orjson

from . import __version__, rows
from .carryover import PlaylistArchive
from .client import JSON, Page, PageStream, SpotifyClient, image_type
from .diff import CHANGES_FILE, diff_snapshots
from .errors import ExporterError, ForbiddenError, SpotifyRequestError, SpotifyServerError
from .history import SnapshotError, SnapshotInfo, SnapshotReader, latest_complete
from .portable import PortableBuilder, PortableError, PortableIndex
from .redaction import redact
from .resume import PartialSnapshot, ResumeChoice
from .snapshot import (
    DATASET_FILES,
    FORMAT_VERSION,
    MANIFEST,
    PROFILE_FILE,
    DatasetSink,
    SnapshotWriter,
    cover_file,
    iso_utc,
    snapshot_folder,
)
from .stores import SnapshotStore

log = logging.getLogger("spotify_exporter")

#: errors that concern one dataset only; anything else stops the run
DATASET_ERRORS = (ForbiddenError, SpotifyServerError, SpotifyRequestError)


@dataclass(frozen=True)
class SimpleDataset:
    """A paged collection exported row for row: a declaration, not a loop."""

    name: str
    path: str
    columns: tuple[str, ...]
    to_row: Callable[[JSON], rows.Row]
    params: dict[str, str] = field(default_factory=dict)
    container_key: str | None = None


LIBRARY = SimpleDataset("library", "/me/tracks", rows.LIBRARY_COLUMNS, rows.library_row)
AFTER_PLAYLISTS = (
    SimpleDataset("albums", "/me/albums", rows.ALBUM_COLUMNS, rows.album_row),
    SimpleDataset("artists", "/me/following", rows.ARTIST_COLUMNS, rows.artist_row, {"type": "artist"}, "artists"),
    SimpleDataset("shows", "/me/shows", rows.SHOW_COLUMNS, rows.show_row),
    SimpleDataset("episodes", "/me/episodes", rows.EPISODE_COLUMNS, rows.episode_row),
    SimpleDataset("audiobooks", "/me/audiobooks", rows.AUDIOBOOK_COLUMNS, rows.audiobook_row),
)
DATASET_ORDER = ("library", "playlists", "playlist_items", *(d.name for d in AFTER_PLAYLISTS))


class ProgressSink(Protocol):
    """Told how far each dataset has come; the CLI draws it, the function app ignores it."""

    def started(self, dataset: str, total: int | None) -> None: ...

    def advanced(self, dataset: str, rows: int) -> None: ...

    def finished(self, dataset: str, outcome: DatasetOutcome) -> None: ...


class _NoProgress:
    def started(self, dataset: str, total: int | None) -> None:
        pass

    def advanced(self, dataset: str, rows: int) -> None:
        pass

    def finished(self, dataset: str, outcome: DatasetOutcome) -> None:
        pass


@dataclass
class DatasetOutcome:
    """``complete``, ``failed`` (an error after retries; rows read so far are kept),
    ``unavailable`` (the API refuses the endpoint to this app) or ``skipped`` (the run stopped first)."""

    status: str = "complete"
    count: int = 0
    error: str | None = None
    extra: dict[str, int] = field(default_factory=dict)

    def as_manifest(self) -> dict[str, object]:
        entry: dict[str, object] = {"status": self.status, "count": self.count, **self.extra}
        if self.error:
            entry["error"] = self.error
        return entry


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


class Export:
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
        self.progress = progress or _NoProgress()
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

    def _export_playlists(self, writer: SnapshotWriter) -> None:
        listing = self.outcomes["playlists"] = DatasetOutcome()
        items_outcome = self.outcomes["playlist_items"] = DatasetOutcome()
        held = self._held_listing()  # resuming: the list the partial snapshot read in full
        playlists: list[JSON] = held or []  # a few hundred small objects: the rows need items_status first
        if held is not None:
            listing.count = len(held)
            if self._keep_held_playlists(writer, held):
                return
        elif not self._skipped(listing):
            for page in self._guarded("playlists", listing, self.client.pages("/me/playlists")):
                playlists.extend(page.items)
                listing.count = len(playlists)
                self._note_skipped("playlists", page)
        statuses: list[str] = []
        with (
            self._archive_for(playlists) as archive,
            self._partial_archive(playlists, archive) as kept,
            writer.dataset("playlist_items", rows.PLAYLIST_ITEM_COLUMNS) as sink,
        ):
            if not self._skipped(items_outcome):
                self.progress.started("playlist_items", sum(rows.playlist_item_total(p) or 0 for p in playlists))
                continued = self._continued(playlists, kept)  # resuming: playlists the ban cut in two
                to_read = [p for p in playlists if not archive.has(p) and not kept.has(p)]
                # the next playlist to read is queued behind the current one on the client's single
                # request thread, so its first page is fetched while this one's last page is written
                streams = iter(to_read)
                upcoming = self._items_of(next(streams)) if to_read else None
                for playlist in playlists:
                    if archive.has(playlist):
                        statuses.append(self._carry_over(playlist, archive, sink))
                        continue
                    if kept.has(playlist):  # resuming: read by an earlier run of this snapshot
                        statuses.append(self._carry_over(playlist, kept, sink, reused=False))
                        continue
                    stream = upcoming or self._items_of(playlist)
                    following = next(streams, None)
                    upcoming = self._items_of(following) if following is not None and self._stop is None else None
                    start = self._copy_items(playlist, kept, sink) if str(playlist.get("id")) in continued else 0
                    statuses.append(self._export_playlist_items(playlist, stream, sink, start))
        items_outcome.count = sink.rows
        self._download_covers(writer, playlists)
        with writer.dataset("playlists", rows.PLAYLIST_COLUMNS) as sink:
            for playlist, items_status in zip(playlists, statuses, strict=False):
                sink.add(rows.playlist_row(playlist, items_status), playlist)
            for playlist in playlists[len(statuses) :]:
                sink.add(rows.playlist_row(playlist, "failed"), playlist)
        forbidden = statuses.count("forbidden")
        failed = len(playlists) - statuses.count("exported") - forbidden
        items_outcome.extra = {
            "playlists_reused": self.playlists_reused,
            "playlists_exported": statuses.count("exported"),
            "playlists_forbidden": forbidden,
            "playlists_failed": failed,
        }
        if failed and items_outcome.status == "complete" and statuses:
            items_outcome.status = "failed"
            items_outcome.error = f"the items of {failed} playlist(s) could not be read"
        if forbidden:
            self.warnings.append(
                f"{FORBIDDEN_WARNING_START} {forbidden} playlist(s) you follow but neither own nor "
                "collaborate on (development-mode apps may read only those); their rows are kept "
                "with items_status=forbidden"
            )
        self._finished("playlists", listing)
        self._finished("playlist_items", items_outcome)

    def _keep_held_playlists(self, writer: SnapshotWriter, playlists: list[JSON]) -> bool:
        """Resuming a snapshot that holds both playlist datasets: keep them (only covers it lacks are
        fetched) and say so; False when the items are not all there (they are then read)."""
        listing, items = self._held("playlists"), self._held("playlist_items")
        if listing is None or items is None or self.resuming is None:
            return False
        self.outcomes["playlists"], self.outcomes["playlist_items"] = listing, items
        self.playlists_reused = int((self.resuming.manifest.get("incremental") or {}).get("playlists_reused") or 0)
        self._feed_portable("playlist_items")
        self._download_covers(writer, playlists)
        self._finished("playlists", listing)
        self._finished("playlist_items", items)
        return True

    # -- incremental -------------------------------------------------------------------------

    def _previous_snapshot(self, account_id: str, folder: str) -> SnapshotReader | None:
        """The latest complete snapshot before this one: the base for carry-over and ``changes.json``."""
        try:
            info = latest_complete(self.store, account_id, before=folder.partition("/")[2])
        except ExporterError as error:
            self.warnings.append(f"the earlier snapshots could not be listed ({error}); every playlist is read")
            return None
        return SnapshotReader(self.store, info) if info else None

    def _archive_for(self, playlists: list[JSON]) -> PlaylistArchive:
        """The base snapshot's items of every playlist whose ``snapshot_id`` has not changed.

        A playlist whose items Spotify refused then (``forbidden``) is not asked again either:
        the same version gets the same answer in development mode; ``--full`` asks anew."""
        if not self._incremental or self._base is None or not playlists:
            return PlaylistArchive()
        try:
            archive = _unchanged_playlists(self._base, playlists)
        except ExporterError as error:
            self.warnings.append(f"the previous snapshot could not be reused ({error}); every playlist is read")
            return PlaylistArchive()
        log.info(
            "%s of %s playlists unchanged since %s: their items are reused",
            archive.size, len(playlists), self._base.folder,
        )  # fmt: skip
        return archive

    def _partial_archive(self, playlists: list[JSON], base: PlaylistArchive) -> PlaylistArchive:
        """Resuming: the items of playlists an earlier run of this snapshot read (same ``snapshot_id``)
        and the base does not supply; those are not read again. It also holds the first items of
        playlists that run was cut off in (``started``)."""
        if self.resuming is None or not playlists:
            return PlaylistArchive()
        try:
            return _unchanged_playlists(self.resuming.reader, [p for p in playlists if not base.has(p)], started=True)
        except ExporterError as error:
            self.warnings.append(f"the partial snapshot's playlist items could not be reused ({error}); they are read")
            return PlaylistArchive()

    def _carry_over(self, playlist: JSON, archive: PlaylistArchive, sink: DatasetSink, reused: bool = True) -> str:
        """Copy an unchanged playlist's items from the base snapshot (``reused``) or from the partial
        snapshot being finished, rows rebuilt from today's playlist."""
        self._copy_items(playlist, archive, sink)
        self.playlists_reused += reused
        return archive.status(str(playlist.get("id")))

    def _copy_items(self, playlist: JSON, archive: PlaylistArchive, sink: DatasetSink) -> int:
        """Write the items ``archive`` holds of ``playlist``; returns how many."""
        count = 0
        for line in archive.lines(str(playlist.get("id"))):
            envelope = orjson.loads(line)
            entry = envelope.get("entry")
            position = int(envelope.get("position", count))
            sink.add(rows.playlist_item_row(playlist, position, entry if isinstance(entry, dict) else {}), envelope)
            count += 1
        self.progress.advanced("playlist_items", count)
        return count

    def _continued(self, playlists: list[JSON], kept: PlaylistArchive) -> dict[str, int]:
        """Resuming: the playlists an earlier run was cut off in, still at the version it read
        (one ``snapshot_id`` look each), with how many of their items it holds: their reading
        goes on from there instead of starting over. Spotify pages a playlist version stably."""
        found: dict[str, int] = {}
        for playlist in playlists:
            playlist_id = str(playlist.get("id"))
            held = kept.started.get(playlist_id)
            if not held or self._stop is not None:
                continue
            path = f"/playlists/{quote(playlist_id, safe='')}"
            try:
                current = self.client.get_json(path, {"fields": "snapshot_id"})
            except DATASET_ERRORS:
                continue
            except ExporterError as error:
                self._stop = error
                break
            if current.get("snapshot_id") == playlist.get("snapshot_id"):
                found[playlist_id] = held
        self._item_offsets = found
        return found

    # -- cover art ---------------------------------------------------------------------------

    def _download_covers(self, writer: SnapshotWriter, playlists: list[JSON]) -> None:
        """Custom covers of the user's own playlists; their URLs expire within a day, so the image
        itself is kept. Covers Spotify generates (mosaics, album art) are not: they follow the items.

        Optional work: the client's budget for it (:class:`~spotify_exporter.client.OptionalDownloads`)
        may skip the rest, and no failure here makes the snapshot partial. A cover that is not in the
        snapshot is listed in ``covers`` as null; the next export tries it again."""
        if self._stop is not None:
            return
        failed = 0
        skipped: list[str] = []
        reason = ""
        for playlist in playlists:
            url = custom_cover_url(playlist, self._account_id)
            if url is None or self.covers.get(str(playlist.get("id"))):  # resuming: an earlier run has it
                continue
            playlist_id = str(playlist.get("id"))
            self.covers[playlist_id] = None
            if reason:
                skipped.append(playlist_id)
                continue
            try:
                image = self.client.download(url)
            except DATASET_ERRORS as error:
                log.warning("cover of playlist %s: %s", playlist_id, error)
                failed += 1
                continue
            except ExporterError as error:  # the budget for covers closed, or the run's own ran out
                reason = str(error)
                skipped.append(playlist_id)
                continue
            name = cover_file(playlist_id, image_type(image) or "jpg")
            writer.write_bytes(name, image)
            self.covers[playlist_id] = name
        if failed:
            self.warnings.append(
                f"the custom cover of {failed} playlist(s) could not be downloaded (null under covers in the manifest)"
            )
        if skipped:
            self.warnings.append(
                f"{len(skipped)} custom cover(s) were not downloaded: {reason}; they are null under covers in the "
                "manifest and the next export tries again (the rest of the snapshot is complete)"
            )
            log.warning("%s custom cover(s) skipped for this run: %s", len(skipped), reason)

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

    def _items_of(self, playlist: JSON) -> PageStream:
        path = f"/playlists/{quote(str(playlist.get('id', '')), safe='')}/items"
        query: dict[str, str | int] = {"additional_types": "track,episode"}
        offset = self._item_offsets.get(str(playlist.get("id")))
        if offset:
            query["offset"] = offset
        return self.client.pages(path, query)

    def _export_playlist_items(self, playlist: JSON, stream: PageStream, sink: DatasetSink, start: int = 0) -> str:
        """Export one playlist's items (from ``start``: the ones before are already written); returns
        its ``items_status``."""
        if self._stop is not None:
            return "failed"
        position = start
        try:
            for page in stream:
                for index, entry in page.numbered():
                    envelope = {"playlist_id": playlist.get("id"), "position": position + index, "entry": entry}
                    sink.add(rows.playlist_item_row(playlist, position + index, entry), envelope)
                position += page.size
                self._note_skipped("playlist_items", page)
                self.progress.advanced("playlist_items", len(page.items))
        except ForbiddenError as error:
            if error.status == 403 and position == 0:
                return "forbidden"
            self._note_failure(f"playlist {playlist.get('id')}", error)
            return "failed"
        except DATASET_ERRORS as error:
            self._note_failure(f"playlist {playlist.get('id')}", error)
            return "failed"
        except ExporterError as error:
            self._stop = error
            return "failed"
        return "exported"

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


def _unchanged_playlists(source: SnapshotReader, playlists: list[JSON], started: bool = False) -> PlaylistArchive:
    """The items ``source`` holds of every listed playlist it has at the same ``snapshot_id`` and item
    count, all of them (``exported``) or refused (``forbidden``); raises when ``source`` is unreadable.

    ``started``: also the first items of playlists at the same version that ``source`` could not read
    to the end (``failed``), in the archive's ``started``."""
    before = {row["playlist_id"]: row for row in source.csv_rows("playlists")}
    unchanged = {
        str(p["id"]): p
        for p in playlists
        if (old := before.get(str(p.get("id"))))
        and old["items_status"] in ("exported", "forbidden")
        and p.get("snapshot_id")
        and old["snapshot_id"] == p.get("snapshot_id")
        and old["item_count"] == str(rows.playlist_item_total(p))
    }
    cut_off = {
        str(p["id"])
        for p in playlists
        if started
        and (old := before.get(str(p.get("id"))))
        and old["items_status"] == "failed"
        and p.get("snapshot_id")
        and old["snapshot_id"] == p.get("snapshot_id")
    }
    if not unchanged and not cut_off:
        return PlaylistArchive()
    exported = {pid for pid in unchanged if before[pid]["items_status"] == "exported"}
    archive = PlaylistArchive.load(source, exported | cut_off)
    archive.started = {pid: count for pid in cut_off if (count := archive.item_count(pid) or 0)}
    archive.reuse(
        {
            pid: before[pid]["items_status"]
            for pid in unchanged
            if pid not in exported or (archive.item_count(pid) or 0) == rows.playlist_item_total(unchanged[pid])
        }
    )
    return archive


#: how the warning about refused playlist items begins (a resume that reads them again counts anew)
FORBIDDEN_WARNING_START = "Spotify refused the items of"

#: covers Spotify makes itself: a mosaic of the first albums, or one album's art
_GENERATED_IMAGE_PREFIX = "ab67616d"


def custom_cover_url(playlist: JSON, account_id: str) -> str | None:
    """The URL of a playlist's cover if the user set it themselves (and owns the playlist)."""
    owner = playlist.get("owner")
    if not isinstance(owner, dict) or owner.get("id") != account_id:
        return None
    images = playlist.get("images")
    first = images[0] if isinstance(images, list) and images and isinstance(images[0], dict) else {}
    url = first.get("url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        return None
    parts = urlsplit(url)
    if parts.netloc.startswith("mosaic.") or parts.path.rsplit("/", 1)[-1].startswith(_GENERATED_IMAGE_PREFIX):
        return None
    return url


def run_export(client: SpotifyClient, store: SnapshotStore, **options: Any) -> ExportResult:
    """Export the account behind ``client`` into ``store``; see :class:`Export`."""
    return Export(client, store, **options).run()


__all__ = ["MANIFEST", "DatasetOutcome", "Export", "ExportResult", "ProgressSink", "run_export"]
