"""The journal of a restore: what earlier runs of it did (playlists created, how far the saves got,
what Spotify refused), so that running the same restore again resumes it. See :mod:`.restore`."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from .pathnames import path_part
from .restore_plan import JSON
from .stores import SnapshotStore


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
