"""The snapshot contract (shared/snapshot-format.md) checked as an outsider would, from its text.

Independent of ``tests/snapshot_checks.py`` and of the exporter's own readers: a small strict
RFC 4180 parser, hashes and counts computed here, the contract's columns and values typed in
from the contract. :func:`check_snapshot` returns every violation it finds (empty: none).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from pathlib import Path
from typing import Any

#: the contract's table: file -> required columns, in order
REQUIRED_COLUMNS = {
    "library.csv": ["added_at", "track_name", "artists", "album", "track_uri", "duration_ms", "isrc"],
    "playlists.csv": [
        "playlist_id", "playlist_name", "owner_id", "collaborative", "public", "snapshot_id", "item_count",
        "items_status",
    ],
    "playlist_items.csv": [
        "playlist_id", "playlist_name", "position", "added_at", "added_by", "item_type", "track_name", "artists",
        "album", "track_uri", "duration_ms", "isrc",
    ],
    "albums.csv": ["added_at", "album_name", "artists", "album_uri", "release_date"],
    "artists.csv": ["artist_name", "artist_uri", "genres"],
    "shows.csv": ["added_at", "name", "uri"],
    "episodes.csv": ["added_at", "name", "uri"],
    "audiobooks.csv": ["added_at", "name", "uri"],
}  # fmt: skip
ITEMS_STATUS = {"exported", "forbidden", "failed"}
ITEM_TYPES = {"track", "episode", "local", "unavailable"}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z$")
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
BOM = b"\xef\xbb\xbf"


class CsvError(ValueError):
    pass


def parse_rfc4180(data: bytes) -> list[list[str]]:
    """Records of a CSV file as RFC 4180 defines them (UTF-8 after a BOM): fields are plain (no
    quote, comma, CR or LF) or quoted (``""`` for a quote); every record ends with CRLF."""
    if not data.startswith(BOM):
        raise CsvError("no UTF-8 BOM")
    text = data[len(BOM) :].decode("utf-8")
    records: list[list[str]] = []
    record: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] == '"':
            i += 1
            value = []
            while True:
                if i >= n:
                    raise CsvError("a quoted field that never ends")
                if text[i] == '"':
                    if i + 1 < n and text[i + 1] == '"':
                        value.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                value.append(text[i])
                i += 1
            field = "".join(value)
        else:
            start = i
            while i < n and text[i] not in ',\r\n"':
                i += 1
            if i < n and text[i] == '"':
                raise CsvError(f"a quote inside an unquoted field at character {i}")
            field = text[start:i]
        record.append(field)
        if text.startswith(",", i):
            i += 1
            continue
        if text.startswith("\r\n", i):
            records.append(record)
            record = []
            i += 2
            continue
        raise CsvError(f"a record that does not end with CRLF at character {i}: {text[i : i + 10]!r}")
    if record:
        raise CsvError("the last record does not end with CRLF")
    return records


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    records = parse_rfc4180(path.read_bytes())
    header, rows = records[0], records[1:]
    for row in rows:
        if len(row) != len(header):
            raise CsvError(f"{path.name}: a row of {len(row)} fields under a header of {len(header)}")
    return header, [dict(zip(header, row, strict=True)) for row in rows]


def check_snapshot(folder: Path, account_id: str) -> list[str]:
    """Every way ``folder`` breaks the contract."""
    problems: list[str] = []
    if folder.parent.name != account_id:
        problems.append(f"the account folder is {folder.parent.name!r}, not the user id {account_id!r}")
    if not STAMP.match(folder.name):
        problems.append(f"the snapshot folder {folder.name!r} is not YYYY-MM-DDTHH-MM-SSZ")
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        return [*problems, "no manifest.json"]
    manifest: dict[str, Any] = json.loads(manifest_path.read_bytes())
    tables: dict[str, list[dict[str, str]]] = {}
    for name, required in REQUIRED_COLUMNS.items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{name} is missing")
            continue
        try:
            header, rows = read_csv(path)
        except CsvError as error:
            problems.append(f"{name}: {error}")
            continue
        if header[: len(required)] != required:
            problems.append(f"{name}: the header starts {header[: len(required)]}, not {required}")
        tables[name] = rows
        for number, row in enumerate(rows, 1):
            for column, value in row.items():
                if value in ("None", "null", "NULL", "NaN"):
                    problems.append(f"{name} row {number} {column}: the text {value!r} for an empty value")
                if value.startswith(FORMULA_STARTS):
                    problems.append(f"{name} row {number} {column}: {value[:20]!r} is not formula-guarded")
    problems += _check_playlists(tables)
    problems += _check_manifest(folder, manifest, account_id, tables)
    return problems


def _check_playlists(tables: dict[str, list[dict[str, str]]]) -> list[str]:
    problems: list[str] = []
    playlists, items = tables.get("playlists.csv", []), tables.get("playlist_items.csv", [])
    status = {row["playlist_id"]: row["items_status"] for row in playlists}
    for row in playlists:
        if row["items_status"] not in ITEMS_STATUS:
            problems.append(f"playlists.csv: items_status {row['items_status']!r}")
    positions: dict[str, list[int]] = {}
    for row in items:
        if row["item_type"] not in ITEM_TYPES:
            problems.append(f"playlist_items.csv: item_type {row['item_type']!r}")
        if row["item_type"] == "local" and not row["track_uri"].startswith("spotify:local:"):
            problems.append(f"playlist_items.csv: a local item whose track_uri is {row['track_uri']!r}")
        # a playlist whose reading failed part-way keeps what was read (the README's reading of "could be read")
        if status.get(row["playlist_id"]) not in ("exported", "failed"):
            problems.append(f"playlist_items.csv: an item of {row['playlist_id']}, whose items were not read")
        positions.setdefault(row["playlist_id"], []).append(int(row["position"]))
    for playlist_id, found in positions.items():
        if found != list(range(len(found))):
            problems.append(f"playlist_items.csv: positions of {playlist_id} are {found}, not 0-based in order")
    return problems


def _check_manifest(
    folder: Path, manifest: dict[str, Any], account_id: str, tables: dict[str, list[dict[str, str]]]
) -> list[str]:
    problems: list[str] = []
    for key in ("format_version", "tool_version", "account_id", "started_at", "finished_at", "status", "files",
                "datasets", "requests", "retries", "warnings"):  # fmt: skip
        if key not in manifest:
            problems.append(f"manifest: no {key}")
    if problems:
        return problems
    if manifest["format_version"] != 1:
        problems.append(f"manifest: format_version {manifest['format_version']!r}")
    if manifest["account_id"] != account_id:
        problems.append(f"manifest: account_id {manifest['account_id']!r}")
    if not ISO.match(str(manifest["started_at"])) or not ISO.match(str(manifest["finished_at"])):
        problems.append("manifest: started_at/finished_at are not YYYY-MM-DDTHH:MM:SSZ")
    elif manifest["started_at"].replace(":", "-") != folder.name:
        problems.append(f"manifest: started_at {manifest['started_at']} is not the folder's time {folder.name}")
    elif manifest["finished_at"] < manifest["started_at"]:
        problems.append("manifest: finished before it started")
    if manifest["status"] not in ("complete", "partial"):
        problems.append(f"manifest: status {manifest['status']!r}")
    for key in ("requests", "retries"):
        if not isinstance(manifest[key], int) or isinstance(manifest[key], bool) or manifest[key] < 0:
            problems.append(f"manifest: {key} {manifest[key]!r}")
    if not isinstance(manifest["warnings"], list) or not all(isinstance(w, str) for w in manifest["warnings"]):
        problems.append("manifest: warnings is not a list of text")
    files: dict[str, dict[str, Any]] = manifest["files"]
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {"manifest.json"}
    if set(files) != on_disk:
        problems.append(f"manifest: files lists {sorted(set(files) ^ on_disk)} wrongly")
    manifest_written = (folder / "manifest.json").stat().st_mtime_ns
    for name, record in files.items():
        path = folder / name
        if not path.is_file():
            continue
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != record.get("sha256") or len(data) != record.get("bytes"):
            problems.append(f"manifest: sha256 or bytes of {name} do not match the file")
        if path.stat().st_mtime_ns > manifest_written:
            problems.append(f"{name} was written after manifest.json")
        rows = _rows(name, data)
        if rows is not None and rows != record.get("rows"):
            problems.append(f"manifest: {name} has {rows} rows, the manifest says {record.get('rows')}")
    for name in REQUIRED_COLUMNS:
        if name not in files:
            problems.append(f"manifest: {name} is not listed")
    datasets: dict[str, dict[str, Any]] = manifest["datasets"]
    for name in REQUIRED_COLUMNS:
        dataset = name.removesuffix(".csv")
        entry = datasets.get(dataset)
        if not isinstance(entry, dict):
            problems.append(f"manifest: datasets has no {dataset}")
            continue
        if name in tables and entry.get("count") != len(tables[name]):
            problems.append(f"manifest: datasets.{dataset}.count {entry.get('count')} but {len(tables[name])} rows")
    failed = [row["playlist_id"] for row in tables.get("playlists.csv", []) if row["items_status"] == "failed"]
    if manifest["status"] == "complete" and failed:
        problems.append(f"manifest: complete although the items of {failed} failed")
    return problems


def _rows(name: str, data: bytes) -> int | None:
    """Data rows of a file whose rows this checker knows how to count (None: not counted here)."""
    if name.endswith(".csv"):
        return len(parse_rfc4180(data)) - 1
    if name.endswith(".jsonl.gz"):
        return len(gzip.decompress(data).splitlines())
    if name.endswith(".jsonl"):
        return len(data.splitlines())
    return None
