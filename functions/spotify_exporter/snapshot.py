"""The snapshot format, written in one place (see README "Snapshot format").

Layout: ``<account_id>/<started_at>/`` holding one CSV per dataset for people, one
gzipped JSON Lines file per dataset under ``json/`` with every object exactly as the API
sent it, and ``manifest.json`` written last: a folder without a manifest is an export
that died and must never be taken for a complete one.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, cast

import orjson

from .pathnames import path_part, safe_title
from .stores import SnapshotStore

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class DatasetFiles:
    """The two files of a dataset: the CSV for people, the JSON copy for machines."""

    csv: str
    json: str


DATASET_FILES: dict[str, DatasetFiles] = {
    name: DatasetFiles(csv=f"{name}.csv", json=f"json/{name}.jsonl.gz")
    for name in (
        "library",
        "playlists",
        "playlist_items",
        "albums",
        "artists",
        "shows",
        "episodes",
        "audiobooks",
    )
}
PROFILE_FILE = "json/profile.json"
#: portable playlists (XSPF and JSPF), one pair per playlist and one for liked songs
PORTABLE_FOLDER = "portable"
LIKED_SONGS_NAME = "Liked Songs"


def snapshot_folder(account_id: str, started_at: datetime) -> str:
    """``<account_id>/<YYYY-MM-DDTHH-MM-SSZ>``: sorts by time, no colons (safe on every file system);
    the account id as :func:`~spotify_exporter.pathnames.path_part` makes it safe."""
    return f"{path_part(account_id)}/{started_at.strftime('%Y-%m-%dT%H-%M-%SZ')}"


def cover_file(playlist_id: str, extension: str = "jpg") -> str:
    """``covers/<playlist_id>.jpg`` (``.png``, ``.gif``, ``.webp`` for those), the id made safe as a file name."""
    return f"covers/{path_part(playlist_id)}.{extension}"


def iso_utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def csv_cell(value: object) -> str:
    """Text for one CSV cell: empty for null, JSON-style booleans, formula-guarded text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


@dataclass(frozen=True)
class FileRecord:
    rows: int
    sha256: str
    bytes: int


class _HashingWriter(io.RawIOBase):
    """Passes bytes through to the store while counting and hashing them for the manifest."""

    def __init__(self, target: BinaryIO) -> None:
        self._target = target
        self._hash = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self._hash.update(view)
        self._target.write(view)
        self.size += len(view)
        return len(view)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


class DatasetSink:
    """Streams one dataset: a CSV row and the raw JSON object per record, nothing held in memory."""

    def __init__(
        self,
        columns: Sequence[str],
        csv_stream: io.TextIOWrapper,
        json_stream: gzip.GzipFile,
        tap: Callable[[dict[str, object], object], None] | None = None,
    ) -> None:
        self._columns = tuple(columns)
        self._csv = csv.writer(csv_stream, lineterminator="\r\n")
        self._json = json_stream
        self._tap = tap
        self.rows = 0
        self._csv.writerow(self._columns)

    def add(self, row: dict[str, object], raw: object) -> None:
        self._csv.writerow([csv_cell(row.get(column)) for column in self._columns])
        self._json.write(orjson.dumps(raw) + b"\n")
        self.rows += 1
        if self._tap is not None:
            self._tap(row, raw)


class StreamedFile:
    """A file being written: bytes go to ``stream``; ``rows`` (its entries) is counted by the writer."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.rows = 0


class SnapshotWriter:
    """Writes the files of one snapshot to a store and, last, its manifest."""

    def __init__(self, store: SnapshotStore, folder: str) -> None:
        self.store = store
        self.folder = folder
        self.files: dict[str, FileRecord] = {}
        self._taps: dict[str, Callable[[dict[str, object], object], None]] = {}

    def tap(self, name: str, callback: Callable[[dict[str, object], object], None]) -> None:
        """Also hand each record of dataset ``name`` (its row and its raw object) to ``callback`` as
        it is written: the portable playlists are built alongside, while the next page is on its way."""
        self._taps[name] = callback

    @contextmanager
    def _hashed_file(self, name: str) -> Iterator[_HashingWriter]:
        with self.store.open_write(f"{self.folder}/{name}") as target:
            hashing = _HashingWriter(target)
            yield hashing

    @contextmanager
    def dataset(self, name: str, columns: Sequence[str]) -> Iterator[DatasetSink]:
        """Open both files of ``name``; they are complete files once the block exits."""
        files = DATASET_FILES[name]
        with ExitStack() as stack:
            csv_hash = stack.enter_context(self._hashed_file(files.csv))
            json_hash = stack.enter_context(self._hashed_file(files.json))
            csv_text = io.TextIOWrapper(
                io.BufferedWriter(csv_hash, 1 << 16), encoding="utf-8-sig", newline="", write_through=False
            )
            json_buffer = io.BufferedWriter(json_hash, 1 << 16)
            json_gz = gzip.GzipFile(filename="", mode="wb", compresslevel=3, fileobj=json_buffer, mtime=0)
            sink = DatasetSink(columns, csv_text, json_gz, self._taps.get(name))
            yield sink
            csv_text.flush()
            csv_text.detach().flush()
            json_gz.close()  # writes the gzip trailer and leaves json_buffer open
            json_buffer.flush()
        self.files[files.csv] = FileRecord(sink.rows, csv_hash.hexdigest(), csv_hash.size)
        self.files[files.json] = FileRecord(sink.rows, json_hash.hexdigest(), json_hash.size)

    @contextmanager
    def stream_file(self, name: str) -> Iterator[StreamedFile]:
        """A file written piece by piece (a portable playlist); listed with its ``rows`` once complete."""
        with self._hashed_file(name) as hashing:
            buffered = io.BufferedWriter(hashing, 1 << 16)
            streamed = StreamedFile(cast(BinaryIO, buffered))
            yield streamed
            buffered.flush()
            buffered.detach()
        self.files[name] = FileRecord(streamed.rows, hashing.hexdigest(), hashing.size)

    def write_json(self, name: str, document: object) -> None:
        data = json.dumps(document, ensure_ascii=False, indent=2).encode() + b"\n"
        with self._hashed_file(name) as target:
            target.write(data)
        self.files[name] = FileRecord(1, hashlib.sha256(data).hexdigest(), len(data))

    def write_bytes(self, name: str, data: bytes) -> None:
        """A binary file (a cover image): one "row" in the manifest's file table."""
        with self._hashed_file(name) as target:
            target.write(data)
        self.files[name] = FileRecord(1, hashlib.sha256(data).hexdigest(), len(data))

    def file_table(self) -> dict[str, dict[str, object]]:
        """The manifest's ``files``: every file written so far with its rows, hash and size."""
        return {name: {"rows": r.rows, "sha256": r.sha256, "bytes": r.bytes} for name, r in sorted(self.files.items())}

    def write_manifest(self, document: dict[str, object]) -> None:
        """The last write of a snapshot; only after it does the snapshot count as finished."""
        data = json.dumps(document, ensure_ascii=False, indent=2).encode() + b"\n"
        with self.store.open_write(f"{self.folder}/{MANIFEST}") as target:
            target.write(data)


# -- portable playlist file names ----------------------------------------------------------


def portable_base_name(title: str, playlist_id: str) -> str:
    """``portable/<title> (<id>)``: the id makes it unique; add ``.xspf`` or ``.jspf``.

    The id is encoded as every id in a path is (:func:`~spotify_exporter.pathnames.path_part`):
    Spotify's base62 ids are kept as they are, and two ids never share a name.
    """
    return f"{PORTABLE_FOLDER}/{safe_title(title)} ({path_part(playlist_id)})"


def liked_songs_base_name() -> str:
    return f"{PORTABLE_FOLDER}/{LIKED_SONGS_NAME}"
