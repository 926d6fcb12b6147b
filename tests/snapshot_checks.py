"""Independent checks of the snapshot contract (../shared/snapshot-format.md).

Written from the contract, not from the exporter's code: they read files back through a
store and compare them with the simulator's ground truth.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from typing import Any

from spotify_exporter.stores import SnapshotStore

REQUIRED_COLUMNS = {
    "library": ["added_at", "track_name", "artists", "album", "track_uri", "duration_ms", "isrc"],
    "playlists": [
        "playlist_id", "playlist_name", "owner_id", "collaborative", "public", "snapshot_id", "item_count",
        "items_status",
    ],
    "playlist_items": [
        "playlist_id", "playlist_name", "position", "added_at", "added_by", "item_type", "track_name", "artists",
        "album", "track_uri", "duration_ms", "isrc",
    ],
    "albums": ["added_at", "album_name", "artists", "album_uri", "release_date"],
    "artists": ["artist_name", "artist_uri", "genres"],
    "shows": ["added_at", "name", "uri"],
    "episodes": ["added_at", "name", "uri"],
    "audiobooks": ["added_at", "name", "uri"],
}  # fmt: skip
DATASETS = list(REQUIRED_COLUMNS)


def guard(text: str) -> str:
    """The contract's formula guard, as a spreadsheet user would see it."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def read_bytes(store: SnapshotStore, path: str) -> bytes:
    with store.open_read(path) as stream:
        return stream.read()


def read_csv(store: SnapshotStore, path: str) -> tuple[list[str], list[dict[str, str]]]:
    data = read_bytes(store, path)
    assert data.startswith(b"\xef\xbb\xbf"), f"{path}: no UTF-8 BOM"
    text = data[3:].decode("utf-8")
    assert text.endswith("\r\n"), f"{path}: last line not ended with CRLF"
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    rows = [dict(zip(header, row, strict=True)) for row in reader]
    return header, rows


def read_jsonl(store: SnapshotStore, path: str) -> list[Any]:
    data = read_bytes(store, path)
    if path.endswith(".gz"):
        data = gzip.decompress(data)
    return [json.loads(line) for line in data.decode("utf-8").splitlines() if line]


def verify_snapshot(store: SnapshotStore, folder: str) -> dict[str, Any]:
    """The manifest exists, lists every file with matching hash, size and rows; returns it."""
    manifest: dict[str, Any] = json.loads(read_bytes(store, f"{folder}/manifest.json"))
    assert manifest["format_version"] == 1
    assert manifest["status"] in ("complete", "partial")
    for key in ("tool_version", "account_id", "started_at", "finished_at", "datasets", "requests", "retries"):
        assert key in manifest, key
    assert isinstance(manifest["warnings"], list)
    assert folder.endswith(manifest["started_at"].replace(":", "-"))
    listed = set(manifest["files"])
    on_disk = {p[len(folder) + 1 :] for p in store.list_files(folder + "/")} - {"manifest.json"}
    assert listed == on_disk, f"manifest lists {sorted(listed ^ on_disk)} differently from the store"
    for name in DATASETS:
        assert f"{name}.csv" in listed, name
    for name, entry in manifest["files"].items():
        data = read_bytes(store, f"{folder}/{name}")
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
        assert len(data) == entry["bytes"], name
        if name.endswith(".csv"):
            header, rows = read_csv(store, f"{folder}/{name}")
            assert len(rows) == entry["rows"], name
            dataset = name.removesuffix(".csv")
            assert header[: len(REQUIRED_COLUMNS[dataset])] == REQUIRED_COLUMNS[dataset], name
            for row in rows:
                for value in row.values():
                    assert value not in ("None", "null"), f"{name}: {value!r}"
        elif ".jsonl" in name:
            assert len(read_jsonl(store, f"{folder}/{name}")) == entry["rows"], name
    return manifest


def assert_matches_truth(store: SnapshotStore, folder: str, truth: dict[str, list[dict[str, str]]]) -> None:
    """Every dataset's CSV equals the ground truth row by row (required columns, guarded)."""
    for dataset, expected in truth.items():
        _, rows = read_csv(store, f"{folder}/{dataset}.csv")
        columns = REQUIRED_COLUMNS[dataset]
        got = [[row[c] for c in columns] for row in rows]
        want = [[guard(row[c]) for c in columns] for row in expected]
        assert len(got) == len(want), f"{dataset}: {len(got)} rows, expected {len(want)}"
        for index, (g, w) in enumerate(zip(got, want, strict=True)):
            assert g == w, (
                f"{dataset} row {index}: {dict(zip(columns, g, strict=True))} != {dict(zip(columns, w, strict=True))}"
            )


def assert_csv_equals_json(store: SnapshotStore, folder: str) -> None:
    """The CSVs say what the full JSON copy says (read with the csv module; the guard aside)."""
    manifest = json.loads(read_bytes(store, f"{folder}/manifest.json"))
    json_name = {name: path for name, path in manifest["json_files"].items()}
    _, liked = read_csv(store, f"{folder}/library.csv")
    raw_liked = read_jsonl(store, f"{folder}/{json_name['library']}")
    assert len(liked) == len(raw_liked)
    for row, raw in zip(liked, raw_liked, strict=True):
        track = raw["track"]
        assert row["track_name"] == guard(track["name"])
        assert row["track_uri"] == track["uri"]
        assert row["added_at"] == raw["added_at"]
        assert row["artists"] == guard("; ".join(a["name"] for a in track["artists"]))
        assert row["duration_ms"] == str(track["duration_ms"])
    _, items = read_csv(store, f"{folder}/playlist_items.csv")
    raw_items = read_jsonl(store, f"{folder}/{json_name['playlist_items']}")
    assert len(items) == len(raw_items)
    for row, raw in zip(items, raw_items, strict=True):
        assert row["playlist_id"] == raw["playlist_id"]
        assert row["position"] == str(raw["position"])
        entry = raw["entry"]
        item = entry.get("item") or entry.get("track")
        assert row["added_at"] == (entry.get("added_at") or "")
        assert row["added_by"] == ((entry.get("added_by") or {}).get("id") or "")
        if item is None:
            assert row["item_type"] == "unavailable" and row["track_uri"] == ""
        else:
            assert row["track_uri"] == item["uri"]
            assert row["track_name"] == guard(item["name"] or "")
    _, playlists = read_csv(store, f"{folder}/playlists.csv")
    raw_playlists = read_jsonl(store, f"{folder}/{json_name['playlists']}")
    assert [p["playlist_id"] for p in playlists] == [p["id"] for p in raw_playlists]
    assert [p["playlist_name"] for p in playlists] == [guard(p["name"]) for p in raw_playlists]
    for dataset, key in (("albums", "album"), ("shows", "show"), ("episodes", "episode"), ("audiobooks", "audiobook")):
        _, csv_rows = read_csv(store, f"{folder}/{dataset}.csv")
        raw_rows = read_jsonl(store, f"{folder}/{json_name[dataset]}")
        uri_column = "album_uri" if dataset == "albums" else "uri"
        assert [r[uri_column] for r in csv_rows] == [(r.get(key) or r)["uri"] for r in raw_rows], dataset
    _, artists = read_csv(store, f"{folder}/artists.csv")
    raw_artists = read_jsonl(store, f"{folder}/{json_name['artists']}")
    assert [a["artist_uri"] for a in artists] == [a["uri"] for a in raw_artists]
