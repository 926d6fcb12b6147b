"""What changed between two snapshots of one account: a pure function of their JSON copies.

Saved things (liked songs, albums, artists, shows, episodes, audiobooks) are compared as
sets of URIs. Playlists are matched by id: created, deleted, renamed, and, for a playlist
whose ``snapshot_id`` changed, its items added, removed and moved. A playlist's items are
compared as sequences of URIs with duplicates kept: the k-th copy of a song on one side
pairs with its k-th copy on the other; copies left unpaired were added or removed, and
among the paired ones the fewest that must have moved to explain the new order (those
outside the longest run kept in order) are reported as moved.

Only datasets read in full on both sides are compared; the others are named in
``not_compared`` so that "no changes" never hides "could not tell".
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from . import rows
from .history import SnapshotReader, playlist_of_item_line

JSON = dict[str, Any]
CHANGES_FORMAT = 1
CHANGES_FILE = "changes.json"


@dataclass(frozen=True)
class SavedKind:
    """A collection of saved things: its dataset, its row mapping and the columns that name a thing."""

    dataset: str
    to_row: Callable[[JSON], rows.Row]
    uri: str
    name: str
    detail: str | None


SAVED_KINDS = (
    SavedKind("library", rows.library_row, "track_uri", "track_name", "artists"),
    SavedKind("albums", rows.album_row, "album_uri", "album_name", "artists"),
    SavedKind("artists", rows.artist_row, "artist_uri", "artist_name", None),
    SavedKind("shows", rows.show_row, "uri", "name", "publisher"),
    SavedKind("episodes", rows.episode_row, "uri", "name", "show_name"),
    SavedKind("audiobooks", rows.audiobook_row, "uri", "name", "authors"),
)


def _complete(reader: SnapshotReader, dataset: str) -> bool:
    return reader.dataset_status(dataset) == "complete"


def snapshot_ref(reader: SnapshotReader | None) -> JSON | None:
    if reader is None:
        return None
    return {"folder": reader.folder, "started_at": reader.manifest.get("started_at")}


def diff_snapshots(old: SnapshotReader | None, new: SnapshotReader) -> JSON:
    """The changes document (what ``changes.json`` holds) from ``old`` to ``new``.

    With no ``old`` snapshot (the account's first), every section is empty and ``old`` is null.
    """
    document: JSON = {
        "format_version": CHANGES_FORMAT,
        "account_id": new.info.account_id,
        "old": snapshot_ref(old),
        "new": snapshot_ref(new),
        "not_compared": [],
    }
    for kind in SAVED_KINDS:
        document[kind.dataset] = {"added": [], "removed": []}
    document["playlists"] = {"created": [], "deleted": [], "renamed": [], "changed": []}
    if old is None:
        document["summary"] = summarize(document)
        return document
    for kind in SAVED_KINDS:
        if _complete(old, kind.dataset) and _complete(new, kind.dataset):
            document[kind.dataset] = _diff_saved(kind, old, new)
        else:
            document["not_compared"].append(kind.dataset)
    if _complete(old, "playlists") and _complete(new, "playlists"):
        document["playlists"] = _diff_playlists(old, new, document["not_compared"])
    else:
        document["not_compared"].append("playlists")
    document["summary"] = summarize(document)
    return document


def summarize(document: JSON) -> JSON:
    """Counts per section, for the report and for a one-line log."""
    summary: JSON = {}
    for kind in SAVED_KINDS:
        section = document.get(kind.dataset, {})
        summary[kind.dataset] = {"added": len(section.get("added", [])), "removed": len(section.get("removed", []))}
    playlists = document.get("playlists", {})
    changed = playlists.get("changed", [])
    summary["playlists"] = {
        "created": len(playlists.get("created", [])),
        "deleted": len(playlists.get("deleted", [])),
        "renamed": len(playlists.get("renamed", [])),
        "changed": len(changed),
        "items_added": sum(len(c["added"]) for c in changed),
        "items_removed": sum(len(c["removed"]) for c in changed),
        "items_moved": sum(len(c["moved"]) for c in changed),
    }
    return summary


def is_empty(document: JSON) -> bool:
    summary = document.get("summary") or summarize(document)
    return not any(count for section in summary.values() for count in section.values())


# -- saved things ------------------------------------------------------------------------------


def _thing(kind: SavedKind, row: rows.Row) -> JSON:
    thing: JSON = {"uri": row.get(kind.uri), "name": row.get(kind.name)}
    if kind.detail:
        thing[kind.detail] = row.get(kind.detail)
    if "added_at" in row:
        thing["added_at"] = row.get("added_at")
    return thing


def _saved(kind: SavedKind, reader: SnapshotReader) -> dict[str, JSON]:
    things: dict[str, JSON] = {}
    for record in reader.records(kind.dataset):
        row = kind.to_row(record)
        uri = row.get(kind.uri)
        if isinstance(uri, str) and uri:
            things.setdefault(uri, _thing(kind, row))
    return things


def _diff_saved(kind: SavedKind, old: SnapshotReader, new: SnapshotReader) -> JSON:
    before, after = _saved(kind, old), _saved(kind, new)
    return {
        "added": [thing for uri, thing in after.items() if uri not in before],
        "removed": [thing for uri, thing in before.items() if uri not in after],
    }


# -- playlists ---------------------------------------------------------------------------------


def _playlists(reader: SnapshotReader) -> dict[str, JSON]:
    listed: dict[str, JSON] = {}
    for record in reader.records("playlists"):
        playlist_id = record.get("id")
        if isinstance(playlist_id, str):
            listed.setdefault(playlist_id, record)
    return listed


def _diff_playlists(old: SnapshotReader, new: SnapshotReader, not_compared: list[str]) -> JSON:
    before, after = _playlists(old), _playlists(new)
    created = [_playlist_ref(p) for pid, p in after.items() if pid not in before]
    deleted = [_playlist_ref(p) for pid, p in before.items() if pid not in after]
    renamed = [
        {"id": pid, "old_name": before[pid].get("name"), "new_name": p.get("name")}
        for pid, p in after.items()
        if pid in before and before[pid].get("name") != p.get("name")
    ]
    candidates = {
        pid for pid, p in after.items() if pid in before and before[pid].get("snapshot_id") != p.get("snapshot_id")
    }
    changed: list[JSON] = []
    if candidates:
        if _complete(old, "playlist_items") and _complete(new, "playlist_items"):
            old_status, new_status = old.items_status(), new.items_status()
            readable = {p for p in candidates if old_status.get(p) == new_status.get(p) == "exported"}
            old_items, new_items = _items_by_playlist(old, readable), _items_by_playlist(new, readable)
            for pid in (pid for pid in after if pid in candidates):
                if pid not in readable:
                    not_compared.append(f"items of playlist {pid} ({after[pid].get('name')})")
                    continue
                change = diff_items(old_items.get(pid, []), new_items.get(pid, []))
                if change["added"] or change["removed"] or change["moved"]:
                    changed.append({"id": pid, "name": after[pid].get("name"), **change})
        else:
            not_compared.append("playlist_items")
    return {"created": created, "deleted": deleted, "renamed": renamed, "changed": changed}


def _playlist_ref(playlist: JSON) -> JSON:
    return {"id": playlist.get("id"), "name": playlist.get("name"), "items": rows.playlist_item_total(playlist)}


def _items_by_playlist(reader: SnapshotReader, wanted: set[str]) -> dict[str, list[JSON]]:
    """The items of the ``wanted`` playlists, in order, as small dicts (uri, name, artists, type)."""
    found: dict[str, list[JSON]] = defaultdict(list)
    if not wanted:
        return found
    for line in reader.lines("playlist_items"):
        playlist_id = playlist_of_item_line(line)  # skips the parse of playlists nobody asked about
        if playlist_id is None or playlist_id not in wanted:
            continue
        envelope = orjson.loads(line)
        entry = envelope.get("entry") if isinstance(envelope.get("entry"), dict) else {}
        row = rows.playlist_item_row({}, int(envelope.get("position") or 0), entry)
        found[playlist_id].append(
            {
                "uri": row["track_uri"],
                "name": row["track_name"],
                "artists": row["artists"],
                "item_type": row["item_type"],
                "position": row["position"],
            }
        )
    return found


def _item_key(item: JSON) -> str:
    uri = item.get("uri")
    return str(uri) if uri else f"{item.get('item_type')}:{item.get('name')}"


def diff_items(before: list[JSON], after: list[JSON]) -> JSON:
    """Added, removed and moved entries between two versions of one playlist (positions are new ones
    for added and moved, old ones for removed).

    The longest runs kept in order are matched first (``difflib``, no junk heuristics); an entry
    left over on both sides is a move, one left over on one side only was added or removed. So a
    song moved from the end to the top is one move, not fifty shifted positions.
    """
    old_keys = [_item_key(i) for i in before]
    new_keys = [_item_key(i) for i in after]
    matcher = difflib.SequenceMatcher(None, old_keys, new_keys, autojunk=False)
    kept_old: set[int] = set()
    kept_new: set[int] = set()
    for block in matcher.get_matching_blocks():
        kept_old.update(range(block.a, block.a + block.size))
        kept_new.update(range(block.b, block.b + block.size))
    left_over: dict[str, list[int]] = defaultdict(list)
    for index, key in enumerate(old_keys):
        if index not in kept_old:
            left_over[key].append(index)
    added: list[JSON] = []
    moved: list[JSON] = []
    for position, key in enumerate(new_keys):
        if position in kept_new:
            continue
        if left_over.get(key):
            old = left_over[key].pop(0)
            moved.append({**after[position], "position": position, "old_position": old})
        else:
            added.append({**after[position], "position": position})
    removed = sorted(
        ({**before[i], "position": i} for indexes in left_over.values() for i in indexes),
        key=lambda item: int(item["position"]),
    )
    return {"added": added, "removed": removed, "moved": moved}


# -- text --------------------------------------------------------------------------------------


def describe(document: JSON, limit: int = 20) -> list[str]:
    """The changes as lines a person reads; long lists are cut at ``limit`` with a count of the rest."""
    lines: list[str] = []
    old, new = document.get("old"), document.get("new")
    if old is None:
        return [f"{(new or {}).get('folder')} is the first snapshot of this account: nothing to compare with"]
    lines.append(f"Changes from {old['folder']} to {new['folder'] if new else '?'}")
    labels = {
        "library": "Liked songs",
        "albums": "Saved albums",
        "artists": "Followed artists",
        "shows": "Saved shows",
        "episodes": "Saved episodes",
        "audiobooks": "Saved audiobooks",
    }
    for kind in SAVED_KINDS:
        section = document[kind.dataset]
        for verb, sign in (("added", "+"), ("removed", "-")):
            things = section[verb]
            if things:
                lines.append(f"{labels[kind.dataset]} {verb}: {len(things)}")
                lines.extend(_cut([f"  {sign} {_label(t, kind.detail)}" for t in things], limit))
    playlists = document["playlists"]
    for verb, sign in (("created", "+"), ("deleted", "-")):
        if playlists[verb]:
            lines.append(f"Playlists {verb}: {len(playlists[verb])}")
            lines.extend(_cut([f"  {sign} {p['name']} ({p['items'] or 0} items)" for p in playlists[verb]], limit))
    if playlists["renamed"]:
        lines.append(f"Playlists renamed: {len(playlists['renamed'])}")
        lines.extend(_cut([f"  {r['old_name']} -> {r['new_name']}" for r in playlists["renamed"]], limit))
    for change in playlists["changed"]:
        counts = ", ".join(f"{len(change[k])} {k}" for k in ("added", "removed", "moved") if change[k])
        lines.append(f"Playlist {change['name']}: {counts}")
        entries = [f"  + {_label(i, 'artists')} (at {i['position'] + 1})" for i in change["added"]]
        entries += [f"  - {_label(i, 'artists')} (was at {i['position'] + 1})" for i in change["removed"]]
        entries += [
            f"  ~ {_label(i, 'artists')} ({i['old_position'] + 1} -> {i['position'] + 1})" for i in change["moved"]
        ]
        lines.extend(_cut(entries, limit))
    if is_empty(document):
        lines.append("No changes.")
    if document.get("not_compared"):
        lines.append("Not compared (not read in full in both snapshots): " + ", ".join(document["not_compared"]))
    return lines


def _label(thing: JSON, detail: str | None) -> str:
    name = thing.get("name") or thing.get("uri") or "(unavailable)"
    extra = thing.get(detail) if detail else None
    return f"{name} - {extra}" if extra else str(name)


def _cut(lines: list[str], limit: int) -> list[str]:
    if limit <= 0 or len(lines) <= limit:
        return lines
    return [*lines[:limit], f"  ... and {len(lines) - limit} more"]
