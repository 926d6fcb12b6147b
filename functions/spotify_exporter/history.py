"""Reading snapshots back: which ones a store holds, and what is in them.

Only snapshots with a manifest count (a folder without one is an export that died; it is
listed as incomplete and otherwise ignored). Data is read from the full JSON copy, the
machine-readable half of the format, through the file names the manifest lists; every file
is checked against the manifest's SHA-256 as it is read, so a damaged snapshot is never
silently diffed, reported on or restored from.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import logging
import re
import zlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from .errors import ExporterError
from .pathnames import name_of_part, path_part
from .snapshot import DATASET_FILES, MANIFEST, PROFILE_FILE
from .stores import SnapshotStore
from .stores.local import LocalFolderStore

JSON = dict[str, Any]
log = logging.getLogger("spotify_exporter")
_FOLDER_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ$")


class SnapshotError(ExporterError):
    """A snapshot that cannot be found or read as the manifest describes it."""


@dataclass(frozen=True)
class SnapshotInfo:
    """A finished snapshot: where it is and its manifest."""

    folder: str  # "<account_id>/<YYYY-MM-DDTHH-MM-SSZ>"
    manifest: JSON

    @property
    def account_id(self) -> str:
        """The Spotify user id (the folder holds it as :func:`~spotify_exporter.pathnames.path_part` made it)."""
        part = self.folder.partition("/")[0]
        recorded = self.manifest.get("account_id")
        if isinstance(recorded, str) and path_part(recorded) == part:
            return recorded
        return name_of_part(part)

    @property
    def stamp(self) -> str:
        return self.folder.partition("/")[2]

    @property
    def started_at(self) -> datetime:
        return datetime.strptime(self.stamp, "%Y-%m-%dT%H-%M-%SZ").replace(tzinfo=UTC)

    @property
    def complete(self) -> bool:
        return self.manifest.get("status") == "complete"


@dataclass(frozen=True)
class SnapshotListing:
    """Every snapshot folder of a store, oldest first."""

    finished: list[SnapshotInfo]  # complete and partial, by time
    unfinished: list[str]  # folders without a manifest

    @property
    def complete(self) -> list[SnapshotInfo]:
        return [s for s in self.finished if s.complete]

    def accounts(self) -> list[str]:
        return sorted({s.account_id for s in self.finished})


def _folders(store: SnapshotStore, account_id: str | None) -> dict[str, bool]:
    """Snapshot folders (by time, then account) and whether each has its manifest."""
    prefix = f"{path_part(account_id)}/" if account_id else ""
    folders: dict[str, bool] = {}
    for key in store.list_files(prefix):
        parts = key.split("/")
        if len(parts) < 3 or not _FOLDER_STAMP.match(parts[1]):
            continue  # e.g. <account>/restores/: not a snapshot
        folder = f"{parts[0]}/{parts[1]}"
        folders[folder] = folders.get(folder, False) or (len(parts) == 3 and parts[2] == MANIFEST)
    return dict(sorted(folders.items(), key=lambda item: item[0].split("/")[::-1]))


def list_snapshots(store: SnapshotStore, account_id: str | None = None, *, say_skipped: bool = True) -> SnapshotListing:
    """All snapshot folders under ``account_id`` (or under every account), oldest first.

    Folders without a manifest are skipped, and (unless the caller lists them itself:
    ``say_skipped=False``) a warning says which: the contract has readers skip them and say so."""
    folders = _folders(store, account_id)
    finished = [SnapshotInfo(folder, read_manifest(store, folder)) for folder, done in folders.items() if done]
    unfinished = sorted(folder for folder, done in folders.items() if not done)
    if unfinished and say_skipped:
        named = ", ".join(unfinished[:5]) + (f" and {len(unfinished) - 5} more" if len(unfinished) > 5 else "")
        log.warning(
            "skipped %s snapshot folder(s) in %s without manifest.json (exports that did not finish): %s",
            len(unfinished), store.location, named,
        )  # fmt: skip
    return SnapshotListing(finished, unfinished)


def read_manifest(store: SnapshotStore, folder: str) -> JSON:
    try:
        with store.open_read(f"{folder}/{MANIFEST}") as stream:
            manifest = orjson.loads(stream.read())
    except FileNotFoundError:
        raise SnapshotError(
            f"{folder} in {store.location} has no manifest.json: that export did not finish; pick a finished snapshot"
        ) from None
    except orjson.JSONDecodeError:
        raise SnapshotError(f"the manifest of {folder} in {store.location} is not valid JSON") from None
    if not isinstance(manifest, dict):
        raise SnapshotError(f"the manifest of {folder} in {store.location} is not a JSON object")
    return manifest


class SnapshotReader:
    """The datasets of one finished snapshot, read from its JSON copy."""

    def __init__(self, store: SnapshotStore, info: SnapshotInfo) -> None:
        self.store = store
        self.info = info

    @classmethod
    def open(cls, store: SnapshotStore, folder: str) -> SnapshotReader:
        return cls(store, SnapshotInfo(folder, read_manifest(store, folder)))

    @property
    def folder(self) -> str:
        return self.info.folder

    @property
    def manifest(self) -> JSON:
        return self.info.manifest

    def describe(self) -> str:
        return f"{self.store.location}/{self.folder}"

    def dataset_status(self, dataset: str) -> str:
        entry = self.manifest.get("datasets", {}).get(dataset)
        return str(entry.get("status")) if isinstance(entry, dict) else "missing"

    def json_file(self, dataset: str) -> str:
        listed = self.manifest.get("json_files")
        if isinstance(listed, dict) and isinstance(listed.get(dataset), str):
            return str(listed[dataset])
        return PROFILE_FILE if dataset == "profile" else DATASET_FILES[dataset].json

    def has_file(self, name: str) -> bool:
        return name in self.manifest.get("files", {})

    def read_bytes(self, name: str) -> bytes:
        """A file of the snapshot, checked against the manifest."""
        with self._verified(name) as stream:
            return stream.read()

    def open_file(self, name: str) -> AbstractContextManager[BinaryIO]:
        """A file of the snapshot as a stream; a mismatch with the manifest's SHA-256 raises when the
        stream is closed (after the last byte was read), so nothing built from it is kept."""
        return self._verified(name)

    def lines(self, dataset: str) -> Iterator[bytes]:
        """The JSON Lines of ``dataset``, unparsed (empty if the snapshot has no such file)."""
        name = self.json_file(dataset)
        if not self.has_file(name):
            return
        with self._verified(name) as stream:
            source = gzip.GzipFile(fileobj=stream, mode="rb") if name.endswith(".gz") else stream
            for line in source:
                if line.strip():
                    yield line

    def records(self, dataset: str) -> Iterator[JSON]:
        """The raw API objects of ``dataset`` in snapshot order."""
        for line in self.lines(dataset):
            record = orjson.loads(line)
            yield record if isinstance(record, dict) else {}

    def csv_rows(self, dataset: str) -> Iterator[dict[str, str]]:
        """The CSV rows of ``dataset`` as text (formula-guarded cells keep their ``'``)."""
        name = DATASET_FILES[dataset].csv
        if not self.has_file(name):
            return
        with self._verified(name) as stream:
            text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
            yield from csv.DictReader(text)
            text.detach()

    def items_status(self) -> dict[str, str]:
        """``items_status`` per playlist id, from ``playlists.csv`` (the JSON copy is the API's object)."""
        return {row["playlist_id"]: row["items_status"] for row in self.csv_rows("playlists")}

    def profile(self) -> JSON:
        name = self.json_file("profile")
        document = orjson.loads(self.read_bytes(name)) if self.has_file(name) else {}
        return document if isinstance(document, dict) else {}

    @contextmanager
    def _verified(self, name: str) -> Iterator[BinaryIO]:
        """Stream a file while hashing it; a mismatch with the manifest raises at the end."""
        expected = self.manifest.get("files", {}).get(name, {}).get("sha256")
        mismatch = SnapshotError(
            f"{name} in {self.describe()} does not match the SHA-256 in its manifest: the file was "
            "changed or damaged after the export"
        )
        try:
            with self.store.open_read(f"{self.folder}/{name}") as raw:
                checked = _HashingReader(raw)
                try:
                    yield io.BufferedReader(checked, 1 << 16)
                except (EOFError, OSError, zlib.error, ValueError) as error:
                    # unreadable content: a damaged file says so, not how gzip or csv tripped on it
                    checked.drain()
                    if expected and checked.hexdigest() != expected:
                        raise mismatch from None
                    raise SnapshotError(f"{name} in {self.describe()} cannot be read: {error}") from None
                checked.drain()
        except FileNotFoundError:
            raise SnapshotError(f"{self.describe()} lists {name} but the file is missing") from None
        if expected and checked.hexdigest() != expected:
            raise mismatch


class _HashingReader(io.RawIOBase):
    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self._hash = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._source.read(len(buffer))
        self._hash.update(data)
        buffer[: len(data)] = data
        return len(data)

    def drain(self) -> None:
        while chunk := self._source.read(1 << 16):
            self._hash.update(chunk)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def resolve_snapshot(store: SnapshotStore, reference: str | None, account_id: str | None = None) -> SnapshotInfo:
    """A finished snapshot named by ``reference``: ``"<account>/<stamp>"``, a stamp, or ``None``/``"latest"``
    for the newest complete one."""
    listing = list_snapshots(store, account_id)
    if reference in (None, "", "latest"):
        return single_account(listing, store)[-1]
    reference = reference.strip("/")
    for info in reversed(listing.finished):
        if reference in (info.folder, info.stamp):
            return info
    if reference in listing.unfinished or any(f.endswith("/" + reference) for f in listing.unfinished):
        raise SnapshotError(f"{reference} in {store.location} has no manifest.json: that export did not finish")
    raise SnapshotError(f"no snapshot {reference!r} in {store.location}; `spotify-exporter list` shows them")


def latest_complete(store: SnapshotStore, account_id: str, before: str | None = None) -> SnapshotInfo | None:
    """The newest complete snapshot of the account (older than the folder stamp ``before``, if given);
    manifests are read newest first, so years of weekly snapshots cost one or two reads."""
    for folder, done in reversed(_folders(store, account_id).items()):
        if done and (before is None or folder.partition("/")[2] < before):
            info = SnapshotInfo(folder, read_manifest(store, folder))
            if info.complete:
                return info
    return None


def single_account(listing: SnapshotListing, store: SnapshotStore) -> list[SnapshotInfo]:
    """The complete snapshots of the one account the store holds; none, or several accounts when
    the caller did not name one, is an error saying what to do."""
    accounts = {s.account_id for s in listing.complete}
    if not accounts:
        raise SnapshotError(f"no complete snapshot in {store.location}; run an export first")
    if len(accounts) > 1:
        raise SnapshotError(
            f"{store.location} holds snapshots of several accounts ({', '.join(sorted(accounts))}); "
            "name the snapshot as <account>/<time>"
        )
    return listing.complete


def store_for_path(path: str | Path) -> tuple[LocalFolderStore, str] | None:
    """A local snapshot folder given as a path: its store root and its ``<account>/<stamp>`` key."""
    folder = Path(path).expanduser()
    if not (folder / MANIFEST).is_file() or not _FOLDER_STAMP.match(folder.resolve().name):
        return None
    resolved = folder.resolve()
    return LocalFolderStore(resolved.parent.parent), f"{resolved.parent.name}/{resolved.name}"


_ITEM_PREFIX = b'{"playlist_id":"'


def playlist_of_item_line(line: bytes) -> str | None:
    """The ``playlist_id`` of a ``playlist_items`` JSON line, without parsing the whole line when
    it starts the way the snapshot writer writes it."""
    if line.startswith(_ITEM_PREFIX):
        end = line.find(b'"', len(_ITEM_PREFIX))
        if end > 0 and b"\\" not in line[len(_ITEM_PREFIX) : end]:
            return line[len(_ITEM_PREFIX) : end].decode()
    envelope = orjson.loads(line)
    value = envelope.get("playlist_id") if isinstance(envelope, dict) else None
    return value if isinstance(value, str) else None
