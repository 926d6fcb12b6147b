"""`spotify-exporter restore` as acceptance runs it: a snapshot of the spec-written stand-in put back
into an empty account there, with the write endpoints as the spec has them, then exported again
and compared."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from acceptance_contract import check_snapshot, read_csv
from acceptance_standin import JANE, TARGET, StandinSpotify, World, build_world
from test_acceptance_export import json_lines, run_cli, snapshots

WRITES = ("POST", "PUT", "DELETE")


@pytest.fixture
def world() -> Iterator[World]:
    with StandinSpotify() as standin:
        yield build_world(standin)


def writes(world: World) -> list[tuple[str, str, dict[str, str]]]:
    return [request for request in world.standin.requests if request[0] in WRITES]


def restore(world: World, work: Path, *args: str) -> tuple[int, str]:
    """``restore`` with the target account's credentials (its own ``.env`` in another folder)."""
    target = work / "target"
    target.mkdir(exist_ok=True)
    result = run_cli(world, ["restore", *args, "--out", str(work / "backups")], target, token=world.target_token)
    assert "Traceback" not in result.stderr
    return result.returncode, result.stdout + result.stderr


def playlist_uris(folder: Path) -> dict[str, list[str]]:
    """Each exported playlist's restorable item URIs, in order, by playlist name."""
    _, playlists = read_csv(folder / "playlists.csv")
    names = {row["playlist_id"]: row["playlist_name"] for row in playlists}
    found: dict[str, list[str]] = {row["playlist_name"]: [] for row in playlists if row["items_status"] == "exported"}
    _, items = read_csv(folder / "playlist_items.csv")
    for row in items:
        if row["item_type"] in ("track", "episode"):
            found[names[row["playlist_id"]]].append(row["track_uri"])
    return found


def test_a_snapshot_comes_back_into_an_empty_account(world: World, tmp_path: Path) -> None:
    assert run_cli(world, ["export"], tmp_path).returncode == 0
    (source,) = snapshots(tmp_path / "backups")
    before = len(world.standin.requests)

    status, dry_run = restore(world, tmp_path, "latest", "--dry-run")
    assert status == 0, dry_run
    assert writes(world) == [] and len(world.standin.requests) > before
    assert "Demo take 3" in dry_run and "no longer on Spotify" in dry_run

    status, output = restore(world, tmp_path, "latest")
    assert status == 0, output
    assert "Demo take 3" in output  # the local file is listed as not restorable
    done = writes(world)
    assert all(len(query.get("uris", "").split(",")) <= 40 for method, path, query in done if path == "/v1/me/library")
    assert not any(path.endswith("/followers") for _, path, _ in done)  # gone for development mode

    status, again = restore(world, tmp_path, "latest")
    assert status == 0, again
    assert writes(world) == done  # a finished restore writes nothing more

    target_run = tmp_path / "target-export"
    target_run.mkdir()
    assert run_cli(world, ["export"], target_run, token=world.target_token).returncode == 0
    (copy,) = snapshots(target_run / "backups", TARGET)
    assert check_snapshot(copy, TARGET) == []

    own = {"Road Trip ☀️ / 2024", '\'=HYPERLINK("http://x")', "قائمة تشغيل " + "x" * 300}
    expected = {name: uris for name, uris in playlist_uris(source).items() if name in own}
    restored = playlist_uris(copy)
    assert {name: restored.get(name) for name in expected} == expected
    _, rows = read_csv(copy / "playlists.csv")
    assert {row["playlist_name"] for row in rows} == own | {"Friend's mix", "Shared 🎧"}  # others' followed again
    source_json = {p["name"]: p for p in json_lines(source / "json/playlists.jsonl.gz")}
    for playlist in json_lines(copy / "json/playlists.jsonl.gz"):
        if playlist["owner"]["id"] == TARGET:
            original = source_json[playlist["name"]]
            assert playlist["description"] == (original["description"] or "")  # not escaped twice
            assert playlist["public"] is bool(original["public"])
    road = next(p for p in world.standin.playlists.values() if p.owner == TARGET and p.name.startswith("Road"))
    assert road.cover == world.standin.playlists[world.playlists["road"].id].cover

    for dataset, uri in (("library", "track_uri"), ("albums", "album_uri"), ("shows", "uri"), ("episodes", "uri")):
        assert [row[uri] for row in read_csv(copy / f"{dataset}.csv")[1]] == [
            row[uri] for row in read_csv(source / f"{dataset}.csv")[1]
        ], dataset  # in the same order: saved oldest first
    artists = {row["artist_uri"] for row in read_csv(copy / "artists.csv")[1]}
    assert artists == {row["artist_uri"] for row in read_csv(source / "artists.csv")[1]}


def duplicate_listing(folder: Path, playlist_id: str) -> None:
    """Make ``folder`` what an earlier version wrote when Spotify listed ``playlist_id`` twice:
    its row and record repeated, the manifest's hashes made to match."""
    manifest = json.loads((folder / "manifest.json").read_text())
    records: list[Any] = json_lines(folder / "json/playlists.jsonl.gz")
    records.insert(3, next(p for p in records if p["id"] == playlist_id))
    data = gzip.compress(b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records))
    lines = (folder / "playlists.csv").read_bytes().split(b"\r\n")
    lines.insert(4, next(line for line in lines if line.startswith(playlist_id.encode())))
    for name, content in (("json/playlists.jsonl.gz", data), ("playlists.csv", b"\r\n".join(lines))):
        (folder / name).write_bytes(content)
        record = {"rows": len(records), "sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content)}
        manifest["files"][name] = record
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_a_playlist_listed_twice_in_a_snapshot_is_restored_once(world: World, tmp_path: Path) -> None:
    assert run_cli(world, ["export"], tmp_path).returncode == 0
    (source,) = snapshots(tmp_path / "backups")
    road = world.playlists["road"].id
    duplicate_listing(source, road)

    status, output = restore(world, tmp_path, "latest", "--all-playlists")
    assert status == 0, output
    created = [path for method, path, _ in writes(world) if (method, path) == ("POST", "/v1/me/playlists")]
    assert len(created) == 3  # Road Trip, the formula-named one and the RTL one: once each
    assert sum(p.name.startswith("Road Trip") for p in world.standin.playlists.values() if p.owner == TARGET) == 1
    assert "3 playlists created" in output and output.count("\n  Road Trip") == 1  # and reported once
    assert JANE in world.standin.accounts
