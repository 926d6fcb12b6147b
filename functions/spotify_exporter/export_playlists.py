"""How an export reads the playlists, the one dataset that is more than a declaration: the list,
then every playlist's items, copied from the previous complete snapshot where the playlist's
version (``snapshot_id``) is unchanged (:mod:`.carryover`), continued where a resumed run was cut
off, and the custom covers (optional work). A part of :class:`~.export.Export`, whose run calls
:meth:`PlaylistsExport._export_playlists` between liked songs and the other datasets.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import quote

import orjson

from . import rows
from .carryover import PlaylistArchive, unchanged_playlists
from .covers import custom_cover_url, image_type
from .datasets import DATASET_ERRORS, DatasetOutcome
from .errors import ExporterError, ForbiddenError
from .paging import PageStream
from .snapshot import DatasetSink, SnapshotWriter, cover_file

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from .client import JSON, SpotifyClient
    from .datasets import ProgressSink
    from .history import SnapshotReader
    from .paging import Page
    from .resume import PartialSnapshot

log = logging.getLogger("spotify_exporter")

#: how the warning about refused playlist items begins (a resume that reads them again counts anew)
FORBIDDEN_WARNING_START = "Spotify refused the items of"


class PlaylistsExport:
    """The playlist steps of :class:`~.export.Export`, working on the export's state."""

    if TYPE_CHECKING:  # what they use of the export (see Export)
        client: SpotifyClient
        progress: ProgressSink
        warnings: list[str]
        outcomes: dict[str, DatasetOutcome]
        covers: dict[str, str | None]
        playlists_reused: int
        resuming: PartialSnapshot | None
        _stop: ExporterError | None
        _base: SnapshotReader | None
        _incremental: bool
        _item_offsets: dict[str, int]
        _account_id: str

        def _held(self, name: str) -> DatasetOutcome | None: ...
        def _held_listing(self) -> list[JSON] | None: ...
        def _feed_portable(self, dataset: str) -> None: ...
        def _guarded(self, name: str, outcome: DatasetOutcome, pages: Iterable[Page]) -> Iterator[Page]: ...
        def _skipped(self, outcome: DatasetOutcome) -> bool: ...
        def _note_failure(self, what: str, error: ExporterError) -> None: ...
        def _note_skipped(self, dataset: str, page: Page) -> None: ...
        def _finished(self, name: str, outcome: DatasetOutcome) -> None: ...

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
            listed: set[object] = set()
            for page in self._guarded("playlists", listing, self.client.pages("/me/playlists")):
                for playlist in page.items:
                    # one playlist listed twice (Spotify has done so with Blends) is one playlist
                    if isinstance(playlist.get("id"), str) and playlist["id"] in listed:
                        listing.extra["listed_twice"] = listing.extra.get("listed_twice", 0) + 1
                        continue
                    listed.add(playlist.get("id"))
                    playlists.append(playlist)
                listing.count = len(playlists)
                self._note_skipped("playlists", page)
            if listing.extra.get("listed_twice"):
                self.warnings.append(
                    f"playlists: Spotify listed {listing.extra['listed_twice']} playlist(s) more than once; each "
                    "is kept once, where it first appears (listed_twice in the manifest)"
                )
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

    def _archive_for(self, playlists: list[JSON]) -> PlaylistArchive:
        """The base snapshot's items of every playlist whose ``snapshot_id`` has not changed.

        A playlist whose items Spotify refused then (``forbidden``) is not asked again either:
        the same version gets the same answer in development mode; ``--full`` asks anew."""
        if not self._incremental or self._base is None or not playlists:
            return PlaylistArchive()
        try:
            archive = unchanged_playlists(self._base, playlists)
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
            return unchanged_playlists(self.resuming.reader, [p for p in playlists if not base.has(p)], started=True)
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

        Optional work: the client's budget for it (:class:`~spotify_exporter.covers.OptionalDownloads`)
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

    # -- reading a playlist's items ----------------------------------------------------------

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
