"""What a restore will do, read from the snapshot and the target account before anything is
written: per playlist create, follow again, leave alone or not restorable, with the items and the
cover Spotify will take; the saved things to put back, oldest first. ``restore --dry-run`` prints
it; :mod:`.restore` carries it out."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from . import rows
from .client import SpotifyClient
from .diff import SAVED_KINDS
from .history import SnapshotReader, playlist_of_item_line

JSON = dict[str, Any]
COVER_LIMIT = 256 * 1024  # base64 payload of PUT /playlists/{id}/images
JPEG_MAGIC = b"\xff\xd8\xff"
COVER_POSITION = 1 << 30  # sorts a playlist's cover after its items in the not-restorable list


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


def plan_restore(snapshot: SnapshotReader, client: SpotifyClient, selection: Selection) -> RestorePlan:
    """Read the snapshot and the target account; nothing is written."""
    target = str(client.get_json("/me").get("id") or "")
    source_account = snapshot.info.account_id
    current = {
        str(p.get("id")): str(p.get("name") or "") for page in client.pages("/me/playlists") for p in page.items if p
    }
    listed = (
        _once_each(snapshot.records("playlists"))
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


def _once_each(playlists: Iterable[JSON]) -> list[JSON]:
    """The snapshot's playlists, one listed twice (Spotify has listed Blends so; earlier versions kept
    both rows) only where it first appears."""
    seen: set[str] = set()
    kept = []
    for playlist in playlists:
        key = playlist.get("id")
        if isinstance(key, str):
            if key in seen:
                continue
            seen.add(key)
        kept.append(playlist)
    return kept


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
