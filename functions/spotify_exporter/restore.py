"""Put a snapshot back into a Spotify account: playlists, liked songs, albums, artists.

Restores are idempotent and resumable. A **journal** next to the snapshot
(``<account>/restores/<snapshot time>-into-<target account>.json``, in the ``-journals`` container
of a write-once Blob container; the snapshot itself is never modified) records, per playlist, the
id of the playlist created for it and how far the library saves got. A run killed at any moment,
even between Spotify creating a playlist and the journal saying so, resumes with exactly one copy of everything:

* before a playlist is created, the journal notes the ids of the target's playlists of that name;
  a playlist of that name owned by the user that is neither among them nor another entry's is
  the one created just before the crash, and is filled instead of created again (no marker in
  the description: Spotify refuses to empty a description, spotify/web-api#1011, so a marker on
  a playlist without one could never be removed);
* items are never added on faith: a resumed playlist's current items are read first and the
  restore continues after the longest prefix already there;
* saving to the library and following are idempotent on Spotify's side, so a repeated batch
  changes nothing.

Spotify's February 2026 changes for development-mode apps (its "Web API Changelog - February
2026" and migration guide) removed ``PUT /me/following`` and ``PUT /playlists/{id}/followers``
("Use PUT /me/library instead"): liked songs, albums, shows, episodes, audiobooks, followed
playlists and followed artists are all written with ``PUT /me/library`` and their URIs, 40 a
request (artists go by the deprecated ``PUT /me/following`` where ``/me/library`` refuses them:
``Restore._follow_artists``). Descriptions are sent as the text people see: Spotify sends them HTML-escaped and
escapes what it is sent again (``rows.playlist_description``).

What the Web API cannot add (local files, items Spotify no longer has, covers it would refuse,
playlists whose items the snapshot lacks) is listed from the snapshot, and what Spotify refuses
(400: withdrawn since the snapshot) is singled out, journaled and listed: the list is the same
after a resume as in one go, nothing is dropped silently. Playlists still in the account (same
id) are left alone.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson

from . import rows
from .client import SpotifyClient
from .diff import SAVED_KINDS
from .errors import ExporterError, ForbiddenError, SpotifyRequestError, SpotifyServerError
from .history import SnapshotReader, playlist_of_item_line
from .pathnames import path_part
from .stores import SnapshotStore

log = logging.getLogger("spotify_exporter")

JSON = dict[str, Any]
ADD_BATCH = 100  # POST /playlists/{id}/items
LIBRARY_BATCH = 40  # PUT /me/library
COVER_LIMIT = 256 * 1024  # base64 payload of PUT /playlists/{id}/images
JPEG_MAGIC = b"\xff\xd8\xff"
ADD_ATTEMPTS = 5
COVER_POSITION = 1 << 30  # sorts a playlist's cover after its items in the not-restorable list


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
    labels: list[str] = field(default_factory=list)  # per URI, for people: "#12 Song - Artist"
    #: what the snapshot says cannot be restored, for people: (position, what), in playlist order
    skipped: list[tuple[int, str]] = field(default_factory=list)
    cover: str | None = None  # the snapshot's cover file, when Spotify will take it

    @property
    def source_id(self) -> str:
        return str(self.source.get("id"))

    @property
    def name(self) -> str:
        return str(self.source.get("name") or "")

    @property
    def description(self) -> str:
        return rows.playlist_description(self.source)


#: journal key -> what the saved things are called
SAVE_LABELS = {
    "liked": "liked songs",
    "albums": "albums",
    "shows": "shows",
    "episodes": "episodes",
    "audiobooks": "audiobooks",
    "artists": "artists",
    "playlists": "followed playlists",
}


@dataclass
class RestorePlan:
    target_account: str
    playlists: list[PlaylistPlan]  # in the order they are done: the list's last first
    saves: dict[str, list[str]]  # journal key -> URIs for PUT /me/library, oldest first
    missing_selection: list[str]
    target_playlists: dict[str, str] = field(default_factory=dict)  # id -> name, the target's list now

    def describe(self) -> list[str]:
        lines = [f"Restore into Spotify account {self.target_account}:"]
        for plan in reversed(self.playlists):
            if plan.action == "create":
                extra = ", cover image" if plan.cover else ""
                lines.append(f"  create playlist {plan.name!r} with {len(plan.uris)} items{extra}")
                lines.extend(f"    cannot be restored: {what}" for _, what in plan.skipped)
            elif plan.action == "follow":
                lines.append(f"  follow playlist {plan.name!r} again")
            elif plan.action == "exists":
                lines.append(f"  playlist {plan.name!r} is still in the account: left alone")
            elif plan.action == "already-followed":
                lines.append(f"  playlist {plan.name!r} is already followed")
            else:
                lines.append(f"  playlist {plan.name!r}: {UNREADABLE}; not restored")
        for key, uris in self.saves.items():
            if uris:
                verb = "follow" if key == "artists" else "save"
                where = "" if key == "artists" else " to the library"
                lines.append(f"  {verb} {len(uris)} {SAVE_LABELS[key]}{where}")
        lines.extend(f"  not in the snapshot: playlist {name!r}" for name in self.missing_selection)
        return lines


UNREADABLE = "its items could not be read when the snapshot was taken"


# -- the journal ---------------------------------------------------------------------------------


class Journal:
    """What earlier runs of this restore did, kept in the store next to the snapshot."""

    def __init__(self, store: SnapshotStore, path: str, document: JSON) -> None:
        self.store = store
        self.path = path
        self.document = document
        document.setdefault("playlists", {})
        document.setdefault("library", {})
        document.setdefault("followed", [])  # source ids of others' playlists this restore followed
        document.setdefault("refused", {})  # library key -> [[uri, Spotify's reason], ...]

    @classmethod
    def open(cls, store: SnapshotStore, snapshot_folder: str, target_account: str) -> Journal:
        """The journal of this restore, kept in ``store.journal_store()`` (beside the snapshots, or the
        ``-journals`` container of write-once ones, which starts from a journal left beside them)."""
        account, _, stamp = snapshot_folder.partition("/")
        path = f"{account}/restores/{stamp}-into-{path_part(target_account)}.json"
        target = store.journal_store()
        for source in dict.fromkeys((target, store)):
            try:
                with source.open_read(path) as stream:
                    return cls(target, path, orjson.loads(stream.read()))
            except FileNotFoundError:
                continue
        return cls(target, path, {"snapshot": snapshot_folder, "target_account": target_account})

    def playlist(self, source_id: str) -> JSON:
        entries: dict[str, JSON] = self.document["playlists"]
        return entries.setdefault(source_id, {})

    def claimed(self, except_for: str) -> set[str]:
        """Ids of the playlists created for the other entries."""
        entries: dict[str, JSON] = self.document["playlists"]
        return {str(e["new_id"]) for key, e in entries.items() if key != except_for and e.get("new_id")}

    def followed(self) -> set[str]:
        return set(self.document["followed"])

    def note_followed(self, source_ids: list[str]) -> None:
        self.document["followed"] = sorted(self.followed() | set(source_ids))
        self.save()

    def saved(self, key: str) -> int:
        """How many of ``key``'s URIs are done (counted in URIs: a batch size may change)."""
        return int(self.document["library"].get(key, 0))

    def refused(self, key: str) -> list[tuple[str, str]]:
        """``key``'s URIs Spotify refused to save, with its reason, in the order they were sent."""
        return [(str(uri), str(reason)) for uri, reason in self.document["refused"].get(key, [])]

    def refuse(self, key: str, uri: str, reason: str) -> None:
        """Kept by the next :meth:`save` (a batch done again after a crash refuses the same URIs)."""
        if uri not in {known for known, _ in self.refused(key)}:
            self.document["refused"].setdefault(key, []).append([uri, reason])

    def set_saved(self, key: str, count: int) -> None:
        self.document["library"][key] = count
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
    current = {
        str(p.get("id")): str(p.get("name") or "") for page in client.pages("/me/playlists") for p in page.items if p
    }
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
        plans.append(PlaylistPlan(playlist, action))
    creating = [p for p in plans if p.action == "create"]
    _fill_items(snapshot, creating)
    for plan in creating:
        _check_cover(snapshot, plan, covers.get(plan.source_id))
    plans.reverse()  # Spotify lists the newest playlist first: the list's last one goes first

    saves: dict[str, list[str]] = {}
    if selection.everything or selection.library:
        saves["liked"] = _oldest_first(_uris(snapshot, "library"))
        for key in ("shows", "episodes", "audiobooks"):
            saves[key] = _oldest_first(_uris(snapshot, key))
    if selection.everything or selection.albums:
        saves["albums"] = _oldest_first(_uris(snapshot, "albums"))
    if selection.everything or selection.artists:
        saves["artists"] = _uris(snapshot, "artists")  # Spotify lists them by id, whatever the order
    return RestorePlan(target, plans, saves, missing, current)


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
        uri, kind, position = row.get("track_uri"), row["item_type"], int(envelope.get("position") or 0)
        label = " - ".join(str(v) for v in (row.get("track_name"), row.get("artists")) if v) or "no name"
        if kind in ("track", "episode") and isinstance(uri, str) and uri.startswith("spotify:"):
            plan.uris.append(uri)
            plan.labels.append(f"#{position + 1} {label}")
        else:
            reason = "a local file" if kind == "local" else "no longer on Spotify"
            plan.skipped.append((position, f"#{position + 1} {label} ({reason})"))


def _check_cover(snapshot: SnapshotReader, plan: PlaylistPlan, name: str | None) -> None:
    """Keep the cover only if ``PUT /playlists/{id}/images`` takes it: a JPEG, at most 256 KB in base64."""
    if not name:
        return
    image = snapshot.read_bytes(name)
    if not image.startswith(JPEG_MAGIC):
        plan.skipped.append((COVER_POSITION, "the cover image (not a JPEG, which is all Spotify takes)"))
    elif len(base64.b64encode(image)) > COVER_LIMIT:
        plan.skipped.append((COVER_POSITION, "the cover image (larger than the 256 KB Spotify takes)"))
    else:
        plan.cover = name


# -- doing it ------------------------------------------------------------------------------------


@dataclass
class RestoreReport:
    created: list[str] = field(default_factory=list)
    followed: list[str] = field(default_factory=list)
    left_alone: list[str] = field(default_factory=list)
    not_restored: list[str] = field(default_factory=list)  # playlists, with the reason
    #: per created playlist (name, what of it cannot be restored), in list order
    not_restorable: list[tuple[str, list[str]]] = field(default_factory=list)
    saved: dict[str, int] = field(default_factory=dict)
    #: per library key, the URIs Spotify refused to save (with its reason)
    refused: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    covers: int = 0
    writes: int = 0  # by this run

    def describe(self) -> list[str]:
        lines = [f"Restored: {len(self.created)} playlists created, {len(self.followed)} followed again"]
        lines.extend(f"  {name}" for name in self.created)
        for key, count in self.saved.items():
            if count:
                lines.append(f"{'Followed' if key == 'artists' else 'Saved'} {count} {SAVE_LABELS[key]}")
        if self.covers:
            lines.append(f"Cover images: {self.covers}")
        lines.extend(f"Left alone (still in the account): {name}" for name in self.left_alone)
        lines.extend(f"Not restored: playlist {reason}" for reason in self.not_restored)
        for name, skipped in self.not_restorable:
            lines.append(f"Not restorable in {name!r} (the Web API cannot add these):")
            lines.extend(f"  {what}" for what in skipped)
        for key, refused in self.refused.items():
            lines.append(f"Not restored: {len(refused)} {SAVE_LABELS[key]} Spotify refused:")
            lines.extend(f"  {uri} ({reason})" for uri, reason in refused)
        return lines


class Restore:
    """Carries out a :class:`RestorePlan`, resuming from the journal."""

    def __init__(self, snapshot: SnapshotReader, client: SpotifyClient, plan: RestorePlan, journal: Journal) -> None:
        self.snapshot = snapshot
        self.client = client
        self.plan = plan
        self.journal = journal
        self.report = RestoreReport()
        #: the route that follows artists in this run, once Spotify has shown it (``_follow_artists``)
        self.artist_route: str | None = None

    def run(self) -> RestoreReport:
        try:
            followed = self._restore_playlists()
            for key, uris in self.plan.saves.items():
                self._save(key, uris)
        except ForbiddenError as error:
            raise RestoreError(
                f"Spotify refused a write ({error}); the refresh token needs the write scopes: "
                "run `make auth ARGS=--restore`, then the same restore again to resume"
            ) from None
        except ExporterError as error:
            raise RestoreError(f"{error}; run the same restore again to resume where it stopped") from None
        finally:
            self.report.writes = self.client.stats.writes
        self._summarize(followed)
        return self.report

    def _restore_playlists(self) -> list[PlaylistPlan]:
        """Create or follow each playlist, the list's last first; the ones followed (now or by an
        earlier run of this restore) are returned."""
        follows: list[str] = []
        followed_before = self.journal.followed()
        followed: list[PlaylistPlan] = []
        for plan in self.plan.playlists:
            if plan.action == "create":
                self._flush_follows(follows)
                self._restore_playlist(plan)
            elif plan.action == "follow" or plan.source_id in followed_before:
                if plan.action == "follow":
                    follows.append(plan.source_id)
                followed.append(plan)
            elif plan.action in ("exists", "already-followed"):
                self.report.left_alone.append(plan.name)
            else:
                self.report.not_restored.append(f"{plan.name!r}: {UNREADABLE}")
        self._flush_follows(follows)
        return followed

    def _summarize(self, followed: list[PlaylistPlan]) -> None:
        """What could not be restored, in list order, from the snapshot and the journal: the same
        whether the restore ran in one go or was interrupted and resumed."""
        unfollowable = self.journal.refused("playlists")
        if unfollowable:
            self.report.refused = {"playlists": unfollowable, **self.report.refused}
        refused_uris = {uri for uri, _ in unfollowable}
        self.report.followed = [p.name for p in followed if f"spotify:playlist:{p.source_id}" not in refused_uris]
        for plan in reversed(self.plan.playlists):
            if plan.action != "create":
                continue
            refused: dict[str, str] = self.journal.playlist(plan.source_id).get("refused") or {}
            found = [*plan.skipped, *((int(i), f"{plan.labels[int(i)]} ({why})") for i, why in refused.items())]
            if found:
                self.report.not_restorable.append((plan.name, [what for _, what in sorted(found)]))
        self.report.not_restored.reverse()

    # -- playlists ---------------------------------------------------------------------------

    def _flush_follows(self, follows: list[str]) -> None:
        """Followed playlists go back in list order, batched between the ones we create."""
        for batch in _batches(follows, LIBRARY_BATCH):
            # noted first: one still not followed after a crash is followed on the next run anyway
            self.journal.note_followed(batch)
            refused = self._put_library([f"spotify:playlist:{pid}" for pid in batch])
            for uri, reason in refused:
                self.journal.refuse("playlists", uri, reason)  # e.g. deleted by its owner since
            if refused:
                self.journal.save()
        follows.clear()

    def _restore_playlist(self, plan: PlaylistPlan) -> None:
        entry = self.journal.playlist(plan.source_id)
        if entry.get("state") != "done":
            target_id = entry.get("new_id")
            if target_id and target_id not in self.plan.target_playlists:
                target_id = None  # removed from the account since the last run: make it again
            if not target_id and entry.get("state") == "creating":
                target_id = self._find_created(plan, entry)  # created just before a crash?
            present = self._current_uris(target_id) if target_id else []
            if not target_id:
                same_name = [pid for pid, name in self.plan.target_playlists.items() if name == plan.name]
                entry.update(state="creating", before=same_name, new_id=None)
                self.journal.save()
                target_id = self._create(plan, entry)
            entry.update(new_id=target_id, state="filling")
            self.journal.save()
            self._add_missing(target_id, plan, present, entry)
            if plan.cover:
                payload = base64.b64encode(self.snapshot.read_bytes(plan.cover))
                self.client.request(
                    "PUT", f"/playlists/{quote(target_id)}/images", data=payload, content_type="image/jpeg"
                )
            entry["state"] = "done"
            self.journal.save()
            log.info("restored playlist %r (%s items)", plan.name, len(plan.uris))
        self.report.created.append(plan.name)
        self.report.covers += bool(plan.cover)

    def _create(self, plan: PlaylistPlan, entry: JSON) -> str:
        source = plan.source
        collaborative = bool(source.get("collaborative"))
        body = {
            "name": plan.name,
            # always sent: without one Spotify sets the text "null" (Peter-Schorn/SpotifyAPI#75)
            "description": plan.description,
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
                # it may have been created all the same: look for it before trying again
                self.client.back_off(failures)
                found = self._find_created(plan, entry)
                if found:
                    return found
        new_id = created.get("id")
        if not isinstance(new_id, str) or not new_id:
            raise RestoreError(f"Spotify created playlist {plan.name!r} but did not say its id; run the restore again")
        return new_id

    def _find_created(self, plan: PlaylistPlan, entry: JSON) -> str | None:
        """The newest playlist of the user's with this name that was not there before and is not
        another entry's: the one created for ``entry`` by a run that stopped before noting it."""
        known = set(entry.get("before") or ()) | self.journal.claimed(plan.source_id)
        for page in self.client.pages("/me/playlists"):
            for playlist in page.items:
                if not playlist or str(playlist.get("id")) in known or playlist.get("name") != plan.name:
                    continue
                owner = playlist.get("owner")
                if isinstance(owner, dict) and owner.get("id") == self.plan.target_account:
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

    def _add_missing(self, playlist_id: str, plan: PlaylistPlan, present: list[str], entry: JSON) -> None:
        """Add the items not yet there, 100 at a time; after a failure, look before adding again.

        An item Spotify refuses (400: withdrawn since the snapshot, say) would fail its whole
        batch: the batch is halved until that item is alone, and the item is noted in the journal
        as refused, listed, and left out; the others are added in order."""
        refused: dict[str, str] = entry.setdefault("refused", {})
        failures, size = 0, ADD_BATCH
        while True:
            kept = [i for i in range(len(plan.uris)) if str(i) not in refused]
            wanted = [plan.uris[i] for i in kept]
            if present != wanted[: len(present)]:
                raise RestoreError(
                    f"playlist {plan.name!r} (id {playlist_id}) was changed while it was being restored; "
                    "delete it in Spotify and run the restore again"
                )
            if len(present) == len(wanted):
                return
            batch = wanted[len(present) : len(present) + size]
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
            except SpotifyRequestError as error:
                if error.status != 400:
                    raise
                if len(batch) > 1:
                    size = (len(batch) + 1) // 2
                else:
                    refused[str(kept[len(present)])] = f"Spotify refused it: {error.reason or 'HTTP 400'}"
                    self.journal.save()
                continue
            present, size = present + batch, ADD_BATCH

    # -- library -----------------------------------------------------------------------------

    def _save(self, key: str, uris: list[str]) -> None:
        """``PUT /me/library`` (artists: :meth:`_follow_artists`) batch by batch (idempotent),
        resuming after what the journal says is done."""
        done = min(self.journal.saved(key), len(uris))
        # the same batches whichever route artists take: a resumed run repeats at most one
        for batch in _batches(uris[done:], LIBRARY_BATCH):
            for uri, reason in self._follow_artists(batch) if key == "artists" else self._put_library(batch):
                self.journal.refuse(key, uri, reason)
            done += len(batch)
            self.journal.set_saved(key, done)
        refused = self.journal.refused(key)
        self.report.saved[key] = len(uris) - len(refused)
        if refused:
            self.report.refused[key] = refused

    def _put_library(self, uris: list[str]) -> list[tuple[str, str]]:
        """Save ``uris``; the ones Spotify refuses are returned with its reason (:func:`_single_out`)."""
        return _single_out(uris, self._library_request)

    def _library_request(self, uris: list[str]) -> None:
        self.client.request("PUT", "/me/library", {"uris": ",".join(uris)})

    def _following_request(self, uris: list[str]) -> None:
        """The spec's ``PUT /me/following``: ``type`` and ``ids`` (at most 50) in the query, both required."""
        ids = ",".join(uri.rsplit(":", 1)[-1] for uri in uris)
        self.client.request("PUT", "/me/following", {"type": "artist", "ids": ids})

    def _follow_artists(self, uris: list[str]) -> list[tuple[str, str]]:
        """Follow artists; the ones Spotify refuses are returned with its reason.

        Two readings of the API disagree here. Spotify's "Web API Changelog - February 2026"
        sends Follow Artists to ``PUT /me/library`` (its migration guide's example saves
        ``spotify:artist:`` URIs there) and removed ``PUT /me/following`` for development-mode
        apps (403). The OpenAPI spec's ``save-library-items`` lists no artist among the URI types
        it takes (400 "unsupported URI type" from a stand-in that follows it) and still has
        ``follow-artists-users``, ``PUT /me/following`` (deprecated; ``type`` and ``ids``, at most
        50, in the query). So ``/me/library`` goes first (Spotify today: no extra request); a
        batch it refuses goes to ``/me/following``; if that route is refused too (403, 404, 410),
        the 400 was about some of the artists, and halving singles them out. The route that
        answered is kept for the rest of the run: one failed request at most, not one per batch.
        Both are idempotent, and batches stay at 40 URIs either way.
        """
        if self.artist_route == "following":
            return _single_out(uris, self._following_request)
        try:
            self._library_request(uris)
        except SpotifyRequestError as error:
            if error.status != 400:
                raise
            if self.artist_route == "library":
                return _single_out(uris, self._library_request, error)
            refusal = error
        else:
            self.artist_route = "library"
            return []
        try:
            self._following_request(uris)
        except (ForbiddenError, SpotifyRequestError) as error:
            if isinstance(error, SpotifyRequestError) and error.status == 400:
                self.artist_route = "following"  # the route is there and refused some of these artists
                return _single_out(uris, self._following_request, error)
            if error.status not in (403, 404, 410):
                raise
            self.artist_route = "library"  # no such route: /me/library refused some of these artists
            return _single_out(uris, self._library_request, refusal)
        self.artist_route = "following"
        return []


def _single_out(
    uris: list[str], send: Callable[[list[str]], None], refusal: SpotifyRequestError | None = None
) -> list[tuple[str, str]]:
    """``send(uris)``; a 400 fails the whole request, so the URIs Spotify refuses are found by
    halving, in order, and returned with its reason; the others are sent. ``refusal``: ``send``
    already answered 400 for these ``uris``."""
    if refusal is None:
        try:
            send(uris)
            return []
        except SpotifyRequestError as error:
            if error.status != 400:
                raise
            refusal = error
    if len(uris) == 1:
        return [(uris[0], refusal.reason or "HTTP 400")]
    half = (len(uris) + 1) // 2
    return _single_out(uris[:half], send) + _single_out(uris[half:], send)


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
