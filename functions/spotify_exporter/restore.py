"""Put a snapshot back into a Spotify account: playlists, liked songs, albums, artists.

Restores are idempotent and resumable. Two things make a re-run after a crash end with
exactly one copy of everything:

* a **journal** next to the snapshot (``<account>/restores/<snapshot time>-into-<target
  account>.json``; the snapshot itself is never modified) records, per
  playlist, a random marker and the id of the playlist created for it, and how far the
  library saves got;
* a playlist is created with that marker in its description, so one created just before
  a crash (before the journal could say so) is found again by its marker instead of being
  created twice; the original description is put back as the playlist's last step.

Items are never added on faith: a resumed playlist's current items are read first and the
restore continues after the longest prefix already there. Saving to the library and
following are idempotent on Spotify's side, so a repeated batch changes nothing.

Things the Web API cannot add (local files, items Spotify no longer has) are reported per
playlist, never dropped silently. Playlists still in the account (same id) are left alone.
"""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson

from . import rows
from .client import SpotifyClient
from .diff import SAVED_KINDS
from .errors import ExporterError, ForbiddenError, SpotifyServerError
from .history import SnapshotReader, playlist_of_item_line
from .pathnames import path_part
from .stores import SnapshotStore

log = logging.getLogger("spotify_exporter")

JSON = dict[str, Any]
ADD_BATCH = 100  # POST /playlists/{id}/items
LIBRARY_BATCH = 40  # PUT /me/library
FOLLOW_BATCH = 50  # PUT /me/following
COVER_LIMIT = 256 * 1024  # base64 payload of PUT /playlists/{id}/images
MARKER_PREFIX = "[restoring "
ADD_ATTEMPTS = 5


class RestoreError(ExporterError):
    """The restore stopped; running the same command again resumes it."""


@dataclass(frozen=True)
class Selection:
    """What to restore; the CLI's flags. Nothing selected means everything."""

    playlists: tuple[str, ...] = ()  # names or ids
    all_playlists: bool = False
    library: bool = False  # liked songs, saved shows, episodes and audiobooks
    albums: bool = False
    artists: bool = False

    @property
    def everything(self) -> bool:
        return not (self.playlists or self.all_playlists or self.library or self.albums or self.artists)

    def wants_playlist(self, playlist: JSON) -> bool:
        if self.everything or self.all_playlists:
            return True
        return str(playlist.get("id")) in self.playlists or str(playlist.get("name")) in self.playlists


@dataclass
class PlaylistPlan:
    """One playlist of the snapshot and what the restore does with it."""

    source: JSON
    action: str  # create | follow | exists | already-followed | unreadable
    uris: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # what cannot be added, for people
    cover: str | None = None

    @property
    def source_id(self) -> str:
        return str(self.source.get("id"))

    @property
    def name(self) -> str:
        return str(self.source.get("name") or "")


@dataclass
class RestorePlan:
    target_account: str
    playlists: list[PlaylistPlan]  # in the order they are done: the list's last first
    saves: dict[str, list[str]]  # journal key -> URIs for PUT /me/library, oldest first
    artist_ids: list[str]
    missing_selection: list[str]
    target_playlists: set[str] = field(default_factory=set)  # ids in the target's list now

    def describe(self) -> list[str]:
        lines = [f"Restore into Spotify account {self.target_account}:"]
        for plan in reversed(self.playlists):
            if plan.action == "create":
                extra = ", cover image" if plan.cover else ""
                lines.append(f"  create playlist {plan.name!r} with {len(plan.uris)} items{extra}")
                lines.extend(f"    cannot be added: {what}" for what in plan.skipped)
            elif plan.action == "follow":
                lines.append(f"  follow playlist {plan.name!r} again")
            elif plan.action == "exists":
                lines.append(f"  playlist {plan.name!r} is still in the account: left alone")
            elif plan.action == "already-followed":
                lines.append(f"  playlist {plan.name!r} is already followed")
            else:
                lines.append(f"  playlist {plan.name!r}: its items were not in the snapshot; not restored")
        for key, uris in self.saves.items():
            if uris:
                lines.append(f"  save {len(uris)} {SAVE_LABELS[key]} to the library")
        if self.artist_ids:
            lines.append(f"  follow {len(self.artist_ids)} artists")
        lines.extend(f"  not in the snapshot: playlist {name!r}" for name in self.missing_selection)
        return lines


SAVE_LABELS = {
    "liked": "liked songs",
    "albums": "albums",
    "shows": "shows",
    "episodes": "episodes",
    "audiobooks": "audiobooks",
}


# -- the journal ---------------------------------------------------------------------------------


class Journal:
    """What an earlier run of this restore did, kept in the store next to the snapshot."""

    def __init__(self, store: SnapshotStore, path: str, document: JSON) -> None:
        self.store = store
        self.path = path
        self.document = document

    @classmethod
    def open(cls, store: SnapshotStore, snapshot_folder: str, target_account: str) -> Journal:
        account, _, stamp = snapshot_folder.partition("/")
        path = f"{account}/restores/{stamp}-into-{path_part(target_account)}.json"
        try:
            with store.open_read(path) as stream:
                document = orjson.loads(stream.read())
        except FileNotFoundError:
            document = {"snapshot": snapshot_folder, "target_account": target_account, "playlists": {}, "saved": {}}
        return cls(store, path, document)

    def playlist(self, source_id: str) -> JSON:
        entries: dict[str, JSON] = self.document["playlists"]
        return entries.setdefault(source_id, {})

    def saved(self, key: str) -> int:
        return int(self.document["saved"].get(key, 0))

    def set_saved(self, key: str, count: int) -> None:
        self.document["saved"][key] = count
        self.save()

    def save(self) -> None:
        self.document["updated_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self.store.open_write(self.path) as stream:
            stream.write(orjson.dumps(self.document, option=orjson.OPT_INDENT_2))


# -- planning ------------------------------------------------------------------------------------


def plan_restore(snapshot: SnapshotReader, client: SpotifyClient, selection: Selection) -> RestorePlan:
    """Read the snapshot and the target account; nothing is written."""
    target = str(client.get_json("/me").get("id") or "")
    source_account = snapshot.info.account_id
    current = {str(p.get("id")): p for page in client.pages("/me/playlists") for p in page.items if p}
    listed = (
        list(snapshot.records("playlists"))
        if selection.everything or selection.playlists or selection.all_playlists
        else []
    )
    chosen = [p for p in listed if selection.wants_playlist(p)]
    found = {str(p.get("id")) for p in chosen} | {str(p.get("name")) for p in chosen}
    missing = [wanted for wanted in selection.playlists if wanted not in found]
    statuses = snapshot.items_status() if chosen else {}
    covers = snapshot.manifest.get("covers") or {}
    plans: list[PlaylistPlan] = []
    for playlist in chosen:
        pid = str(playlist.get("id"))
        owner = playlist.get("owner")
        if not isinstance(owner, dict) or owner.get("id") != source_account:
            action = "already-followed" if pid in current else "follow"
        elif pid in current:
            action = "exists"
        elif statuses.get(pid) != "exported":
            action = "unreadable"
        else:
            action = "create"
        plans.append(PlaylistPlan(playlist, action, cover=covers.get(pid) if action == "create" else None))
    _fill_items(snapshot, [p for p in plans if p.action == "create"])
    plans.reverse()  # Spotify lists the newest playlist first: the list's last one goes first

    saves: dict[str, list[str]] = {}
    if selection.everything or selection.library:
        saves["liked"] = _oldest_first(_uris(snapshot, "library"))
        for key in ("shows", "episodes", "audiobooks"):
            saves[key] = _oldest_first(_uris(snapshot, key))
    if selection.everything or selection.albums:
        saves["albums"] = _oldest_first(_uris(snapshot, "albums"))
    artist_ids: list[str] = []
    if selection.everything or selection.artists:
        artist_ids = [uri.rsplit(":", 1)[1] for uri in _uris(snapshot, "artists")]
    return RestorePlan(target, plans, saves, artist_ids, missing, set(current))


def _uris(snapshot: SnapshotReader, dataset: str) -> list[str]:
    """The URIs of a saved-things dataset, in snapshot order (the same mapping ``diff`` uses)."""
    kind = next(k for k in SAVED_KINDS if k.dataset == dataset)
    found = (kind.to_row(record).get(kind.uri) for record in snapshot.records(dataset))
    return [uri for uri in found if isinstance(uri, str) and uri.startswith("spotify:")]


def _oldest_first(newest_first: list[str]) -> list[str]:
    """Saved things are listed newest first; saving them oldest first keeps that order."""
    return list(reversed(newest_first))


def _fill_items(snapshot: SnapshotReader, plans: list[PlaylistPlan]) -> None:
    wanted = {plan.source_id: plan for plan in plans}
    if not wanted:
        return
    for line in snapshot.lines("playlist_items"):
        plan = wanted.get(playlist_of_item_line(line) or "")
        if plan is None:
            continue
        envelope = orjson.loads(line)
        entry = envelope.get("entry") if isinstance(envelope.get("entry"), dict) else {}
        row = rows.playlist_item_row(plan.source, int(envelope.get("position") or 0), entry)
        uri, kind = row.get("track_uri"), row["item_type"]
        if kind in ("track", "episode") and isinstance(uri, str) and uri.startswith("spotify:"):
            plan.uris.append(uri)
        else:
            label = " - ".join(str(v) for v in (row.get("track_name"), row.get("artists")) if v) or "no name"
            reason = "a local file" if kind == "local" else "no longer on Spotify"
            plan.skipped.append(f"#{int(envelope.get('position') or 0) + 1} {label} ({reason})")


# -- doing it ------------------------------------------------------------------------------------


@dataclass
class RestoreReport:
    created: list[str] = field(default_factory=list)
    followed: list[str] = field(default_factory=list)
    left_alone: list[str] = field(default_factory=list)
    skipped_items: dict[str, list[str]] = field(default_factory=dict)
    saved: dict[str, int] = field(default_factory=dict)
    artists_followed: int = 0
    covers: int = 0
    writes: int = 0

    def describe(self) -> list[str]:
        lines = [f"Restored: {len(self.created)} playlists created, {len(self.followed)} followed again"]
        lines.extend(f"  {name}" for name in self.created)
        for key, count in self.saved.items():
            if count:
                lines.append(f"Saved {count} {SAVE_LABELS[key]}")
        if self.artists_followed:
            lines.append(f"Followed {self.artists_followed} artists")
        if self.covers:
            lines.append(f"Uploaded {self.covers} cover images")
        lines.extend(f"Left alone (still in the account): {name}" for name in self.left_alone)
        for name, skipped in self.skipped_items.items():
            lines.append(f"Not restorable in {name!r} (the Web API cannot add these):")
            lines.extend(f"  {what}" for what in skipped)
        return lines


class Restore:
    """Carries out a :class:`RestorePlan`, resuming from the journal."""

    def __init__(self, snapshot: SnapshotReader, client: SpotifyClient, plan: RestorePlan, journal: Journal) -> None:
        self.snapshot = snapshot
        self.client = client
        self.plan = plan
        self.journal = journal
        self.report = RestoreReport()

    def run(self) -> RestoreReport:
        try:
            follows: list[str] = []
            for plan in self.plan.playlists:
                if plan.action == "create":
                    self._flush_follows(follows)
                    self._restore_playlist(plan)
                elif plan.action == "follow":
                    follows.append(f"spotify:playlist:{plan.source_id}")
                    self.report.followed.append(plan.name)
                elif plan.action in ("exists", "already-followed"):
                    self.report.left_alone.append(plan.name)
            self._flush_follows(follows)
            for key, uris in self.plan.saves.items():
                self._save(key, uris)
            self._follow_artists(self.plan.artist_ids)
        except ForbiddenError as error:
            raise RestoreError(
                f"Spotify refused a write ({error}); the refresh token needs the write scopes: "
                "run `make auth ARGS=--restore`, then the same restore again to resume"
            ) from None
        except ExporterError as error:
            raise RestoreError(f"{error}; run the same restore again to resume where it stopped") from None
        finally:
            self.report.writes = self.client.stats.writes
        return self.report

    # -- playlists ---------------------------------------------------------------------------

    def _flush_follows(self, follows: list[str]) -> None:
        """Followed playlists go back in list order, batched between the ones we create."""
        for batch in _batches(follows, LIBRARY_BATCH):
            self.client.request("PUT", "/me/library", {"uris": ",".join(batch)})
        follows.clear()

    def _restore_playlist(self, plan: PlaylistPlan) -> None:
        entry = self.journal.playlist(plan.source_id)
        if entry.get("state") == "done":
            self.report.created.append(plan.name)
            return
        resumed = bool(entry)
        if not entry.get("marker"):
            entry.update(marker=secrets.token_hex(6), state="creating")
            self.journal.save()
        marker = f"{MARKER_PREFIX}{entry['marker']}]"
        target_id = entry.get("new_id") or (self._find_marked(marker) if resumed else None)
        present: list[str] = []
        if target_id and target_id not in self.plan.target_playlists:
            target_id = None  # removed from the account since the last run: make it again
        if target_id:
            present = self._current_uris(target_id)
        if not target_id:
            target_id = self._create(plan, marker)
        entry.update(new_id=target_id, state="filling")
        self.journal.save()
        self._add_missing(target_id, plan, present)
        if plan.cover:
            self._upload_cover(target_id, plan.cover)
        description = str(plan.source.get("description") or "")
        self.client.request("PUT", f"/playlists/{quote(target_id)}", json_body={"description": description})
        entry["state"] = "done"
        self.journal.save()
        self.report.created.append(plan.name)
        if plan.skipped:
            self.report.skipped_items[plan.name] = plan.skipped
        log.info("restored playlist %r (%s items)", plan.name, len(plan.uris))

    def _create(self, plan: PlaylistPlan, marker: str) -> str:
        source = plan.source
        collaborative = bool(source.get("collaborative"))
        description = " ".join(part for part in (str(source.get("description") or ""), marker) if part)
        body = {
            "name": plan.name,
            "description": description,
            "public": False if collaborative else bool(source.get("public")),
            "collaborative": collaborative,
        }
        for failures in range(1, ADD_ATTEMPTS + 1):
            try:
                created = self.client.request("POST", "/me/playlists", json_body=body, retry_failures=False)
                break
            except SpotifyServerError:
                if failures == ADD_ATTEMPTS:
                    raise
                # it may have been created all the same: look for our marker before trying again
                self.client.back_off(failures)
                found = self._find_marked(marker)
                if found:
                    return found
        new_id = created.get("id")
        if not isinstance(new_id, str) or not new_id:
            raise RestoreError(f"Spotify created playlist {plan.name!r} but did not say its id; run the restore again")
        return new_id

    def _find_marked(self, marker: str) -> str | None:
        for page in self.client.pages("/me/playlists"):
            for playlist in page.items:
                if playlist and marker in str(playlist.get("description") or ""):
                    return str(playlist.get("id"))
        return None

    def _current_uris(self, playlist_id: str) -> list[str]:
        stream = self.client.pages(f"/playlists/{quote(playlist_id)}/items", {"additional_types": "track,episode"})
        uris: list[str] = []
        for page in stream:
            for entry in page.items:
                item = rows.playlist_entry_item(entry if isinstance(entry, dict) else {})
                uris.append(str(item.get("uri") or ""))
        return uris

    def _add_missing(self, playlist_id: str, plan: PlaylistPlan, present: list[str]) -> None:
        """Add the items not yet there, 100 at a time; after a failure, look before adding again."""
        wanted = plan.uris
        failures = 0
        while True:
            if present != wanted[: len(present)]:
                raise RestoreError(
                    f"playlist {plan.name!r} (id {playlist_id}) was changed while it was being restored; "
                    "delete it in Spotify and run the restore again"
                )
            if len(present) == len(wanted):
                return
            batch = wanted[len(present) : len(present) + ADD_BATCH]
            try:
                self.client.request(
                    "POST", f"/playlists/{quote(playlist_id)}/items", json_body={"uris": batch}, retry_failures=False
                )
            except SpotifyServerError:
                failures += 1
                if failures >= ADD_ATTEMPTS:
                    raise
                self.client.back_off(failures)
                present = self._current_uris(playlist_id)  # applied or not? Spotify's copy says
                continue
            present = present + batch

    def _upload_cover(self, playlist_id: str, name: str) -> None:
        payload = base64.b64encode(self.snapshot.read_bytes(name))
        if len(payload) > COVER_LIMIT:
            self.report.skipped_items.setdefault("covers", []).append(f"{name}: larger than Spotify accepts")
            return
        self.client.request("PUT", f"/playlists/{quote(playlist_id)}/images", data=payload, content_type="image/jpeg")
        self.report.covers += 1

    # -- library -----------------------------------------------------------------------------

    def _save(self, key: str, uris: list[str]) -> None:
        self._put_batches(key, uris, LIBRARY_BATCH, "/me/library", lambda batch: {"uris": ",".join(batch)})
        self.report.saved[key] = len(uris)

    def _follow_artists(self, ids: list[str]) -> None:
        self._put_batches(
            "artists", ids, FOLLOW_BATCH, "/me/following", lambda batch: {"type": "artist", "ids": ",".join(batch)}
        )
        self.report.artists_followed = len(ids)

    def _put_batches(
        self, key: str, things: list[str], size: int, path: str, params: Callable[[list[str]], dict[str, str]]
    ) -> None:
        """Idempotent PUTs batch by batch, resuming after the last batch the journal says was done."""
        batches = list(_batches(things, size))
        for index in range(self.journal.saved(key), len(batches)):
            self.client.request("PUT", path, params(batches[index]))
            self.journal.set_saved(key, index + 1)


def _batches(things: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(things), size):
        yield list(things[start : start + size])


def run_restore(
    snapshot: SnapshotReader, client: SpotifyClient, selection: Selection, *, dry_run: bool = False
) -> tuple[RestorePlan, RestoreReport | None]:
    """Plan the restore and, unless ``dry_run``, carry it out."""
    try:
        plan = plan_restore(snapshot, client, selection)
        if dry_run:
            return plan, None
        journal = Journal.open(snapshot.store, snapshot.folder, plan.target_account)
        return plan, Restore(snapshot, client, plan, journal).run()
    finally:
        client.close()
