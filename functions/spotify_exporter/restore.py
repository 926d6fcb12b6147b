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

Planning (what will be done, nothing written) is :mod:`.restore_plan`, the journal
:mod:`.restore_journal`; this module carries a plan out.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from . import rows
from .client import SpotifyClient
from .errors import ExporterError, ForbiddenError, SpotifyRequestError, SpotifyServerError
from .history import SnapshotReader
from .restore_journal import Journal
from .restore_plan import JSON, SAVE_LABELS, UNREADABLE, PlaylistPlan, RestorePlan, Selection, plan_restore

log = logging.getLogger("spotify_exporter")

ADD_BATCH = 100  # POST /playlists/{id}/items
LIBRARY_BATCH = 40  # PUT /me/library
ADD_ATTEMPTS = 5


class RestoreError(ExporterError):
    """The restore stopped; running the same command again resumes it."""


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
        failures = 0
        while True:
            try:
                created = self.client.request("POST", "/me/playlists", json_body=body, retry_failures=False)
                break
            except SpotifyRequestError as error:
                # Spotify refuses to set an empty description on an update (spotify/web-api#1011); should
                # it refuse one on create too, the playlist is made without (it then reads "null")
                if error.status != 400 or body.get("description") != "":
                    raise
                log.warning("Spotify refused an empty description for %r; creating it without one", plan.name)
                del body["description"]  # a 400 is an answer: nothing was created, so no need to look
            except SpotifyServerError:
                failures += 1
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


__all__ = ["RestoreError", "RestorePlan", "RestoreReport", "Selection", "run_restore"]
