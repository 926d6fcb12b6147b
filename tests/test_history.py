"""Account history: incremental export, changes.json and diff, against the simulator over HTTP.

Changes are made the way a user makes them, through Spotify's write endpoints, between
exports of one simulated account.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from exporter_fixtures import SpotifyUser, export_account, run_cli, write_env_file

from spotify_exporter.export import ExportResult
from spotify_exporter.history import SnapshotReader, list_snapshots
from spotify_exporter.stores.local import LocalFolderStore
from spotify_simulator import SpotifySimulator

ITEMS = "/v1/playlists/{id}/items"
#: files that differ between two snapshots of the same state by design; the playlists' JSON
#: differs only in the cover URLs Spotify signs anew for every answer (compared without them)
PER_RUN_FILES = {"manifest.json", "changes.json", "json/playlists.jsonl.gz"}


def item_requests(sim: SpotifySimulator) -> int:
    return sum(count for (template, _), count in sim.counters.items() if template == ITEMS)


def data_files(result: ExportResult, store: LocalFolderStore) -> dict[str, object]:
    files: dict[str, object] = {
        name: entry["sha256"] for name, entry in result.manifest["files"].items() if name not in PER_RUN_FILES
    }
    files["playlists without image URLs"] = [
        {**p, "images": len(p["images"])} for p in reader(store, result).records("playlists")
    ]
    return files


def reader(store: LocalFolderStore, result: ExportResult) -> SnapshotReader:
    return SnapshotReader.open(store, result.folder)


def items_by_playlist(snapshot: SnapshotReader) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for envelope in snapshot.records("playlist_items"):
        found.setdefault(envelope["playlist_id"], []).append(envelope["entry"])
    return found


def uri(entry: dict[str, Any]) -> str:
    return str((entry.get("item") or entry.get("track") or {}).get("uri") or "")


@pytest.fixture
def account(
    simulator: Callable[..., SpotifySimulator], tmp_path: Path
) -> tuple[SpotifySimulator, LocalFolderStore, Path]:
    sim = simulator("small")
    return sim, LocalFolderStore(tmp_path / "backups"), write_env_file(tmp_path / ".env", sim)


def test_an_unchanged_account_reads_no_playlist_items_and_writes_the_same_snapshot(
    account: tuple[SpotifySimulator, LocalFolderStore, Path],
) -> None:
    sim, store, env = account
    first = export_account(sim, store, env)
    before = item_requests(sim)
    second = export_account(sim, store, env)

    assert second.status == "complete"
    assert item_requests(sim) == before  # not one playlist-item request
    items = first.manifest["datasets"]["playlist_items"]
    reusable = items["playlists_exported"] + items["playlists_forbidden"]
    assert items["playlists_forbidden"] > 0  # refused ones are not asked again either
    assert second.manifest["incremental"] == {"base": first.folder, "playlists_reused": reusable}
    assert data_files(second, store) == data_files(first, store)  # byte for byte, covers included
    changes = json.loads((store.root / second.folder / "changes.json").read_text())
    assert changes["old"]["folder"] == first.folder
    assert all(count == 0 for section in changes["summary"].values() for count in section.values())


def test_after_a_change_to_two_playlists_only_those_are_read_and_the_snapshot_equals_a_full_export(
    account: tuple[SpotifySimulator, LocalFolderStore, Path], tmp_path: Path
) -> None:
    sim, store, env = account
    base = export_account(sim, store, env)
    base_items = items_by_playlist(reader(store, base))
    owned = [
        p for p in sim.account.playlists if p.owner == 0 and len(base_items.get(p.id, [])) >= 8 and len(p.entries) < 100
    ]
    renamed, edited = owned[0], owned[1]
    edited_uris = [uri(e) for e in base_items[edited.id]]
    removable = next(u for u in edited_uris if u.startswith("spotify:track:") and edited_uris.count(u) == 1)
    newcomers = [u for u in (uri(e) for e in base_items[renamed.id]) if u.startswith("spotify:track:")]
    newcomers = [u for u in newcomers if u not in edited_uris][:2]
    library = list(reader(store, base).records("library"))
    artists = {a["uri"] for a in reader(store, base).records("artists")}
    unliked = library[3]["track"]["uri"]
    liked = next(
        u for u in edited_uris if u.startswith("spotify:track:") and u not in {s["track"]["uri"] for s in library}
    )
    followed = next(a["uri"] for s in library for a in s["track"]["artists"] if a["uri"] not in artists)

    user = SpotifyUser(sim)
    user.rename(renamed.id, "Renamed ✨ <b>")
    user.remove(edited.id, [removable])
    user.add(edited.id, newcomers, position=0)
    user.move(edited.id, range_start=len(edited.entries) - 1, insert_before=3)
    user.like([liked])
    user.unlike([unliked])
    user.follow_artists([followed.rsplit(":", 1)[1]])

    before = item_requests(sim)
    incremental = export_account(sim, store, env)
    reread = item_requests(sim) - before
    full = export_account(sim, store, env, incremental=False)

    assert incremental.status == full.status == "complete"
    assert reread == math.ceil(len(renamed.entries) / 50) + math.ceil(len(edited.entries) / 50)
    items = base.manifest["datasets"]["playlist_items"]
    reusable = items["playlists_exported"] + items["playlists_forbidden"]
    assert incremental.manifest["incremental"]["playlists_reused"] == reusable - 2
    assert full.manifest["incremental"]["playlists_reused"] == 0
    assert data_files(incremental, store) == data_files(full, store)

    changes = json.loads((store.root / incremental.folder / "changes.json").read_text())
    assert changes["old"]["folder"] == base.folder and changes["not_compared"] == []
    assert [t["uri"] for t in changes["library"]["added"]] == [liked]
    assert [t["uri"] for t in changes["library"]["removed"]] == [unliked]
    assert [a["uri"] for a in changes["artists"]["added"]] == [followed]
    assert changes["artists"]["removed"] == changes["albums"]["added"] == changes["albums"]["removed"] == []
    playlists = changes["playlists"]
    assert playlists["renamed"] == [
        {"id": renamed.id, "old_name": name_in(store, base, renamed.id), "new_name": "Renamed ✨ <b>"}
    ]
    assert playlists["created"] == playlists["deleted"] == []
    [change] = playlists["changed"]
    assert change["id"] == edited.id
    assert [(i["uri"], i["position"]) for i in change["added"]] == [(u, n) for n, u in enumerate(newcomers)]
    assert [i["uri"] for i in change["removed"]] == [removable]
    assert len(change["moved"]) == 1

    # the CLI says the same, for people and for machines
    old_path, new_path = store.root / base.folder, store.root / incremental.folder
    text = run_cli(["diff", str(old_path), str(new_path)], sim.exporter_env(), tmp_path)
    assert text.returncode == 0, text.stderr
    assert "Renamed ✨ <b>" in text.stdout and "Liked songs added: 1" in text.stdout
    machine = run_cli(["diff", str(old_path), str(new_path), "--json"], sim.exporter_env(), tmp_path)
    assert json.loads(machine.stdout)["summary"] == changes["summary"]


def name_in(store: LocalFolderStore, snapshot: ExportResult, playlist_id: str) -> str:
    return next(str(p["name"]) for p in reader(store, snapshot).records("playlists") if p["id"] == playlist_id)


def test_a_damaged_base_snapshot_is_not_trusted(account: tuple[SpotifySimulator, LocalFolderStore, Path]) -> None:
    sim, store, env = account
    base = export_account(sim, store, env)
    full_read = item_requests(sim)
    items_file = store.root / base.folder / "json" / "playlist_items.jsonl.gz"
    items_file.write_bytes(items_file.read_bytes()[:-40] + b"\0" * 40)

    again = export_account(sim, store, env)

    assert again.status == "complete"
    assert again.manifest["incremental"]["playlists_reused"] == 0
    assert item_requests(sim) == 2 * full_read
    assert any("could not be reused" in w and "SHA-256" in w for w in again.manifest["warnings"])


def test_a_partial_snapshot_is_never_the_base(account: tuple[SpotifySimulator, LocalFolderStore, Path]) -> None:
    sim, store, env = account
    base = export_account(sim, store, env)
    manifest_path = store.root / base.folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["status"] = "partial"
    manifest_path.write_text(json.dumps(manifest))

    again = export_account(sim, store, env)

    assert again.manifest["incremental"] == {"base": None, "playlists_reused": 0}
    changes = json.loads((store.root / again.folder / "changes.json").read_text())
    assert changes["old"] is None


def test_custom_covers_are_kept_in_the_snapshot(account: tuple[SpotifySimulator, LocalFolderStore, Path]) -> None:
    sim, store, env = account
    result = export_account(sim, store, env)

    covers = result.manifest["covers"]
    custom = {p.id for p in sim.account.playlists if p.owner == 0 and p.cover is not None}
    assert custom and set(covers) == custom
    for playlist_id, name in covers.items():
        data = (store.root / result.folder / name).read_bytes()
        assert data == sim.cover_of(playlist_id)
        assert result.manifest["files"][name]["bytes"] == len(data)


def test_list_shows_finished_and_unfinished_snapshots(
    account: tuple[SpotifySimulator, LocalFolderStore, Path], tmp_path: Path
) -> None:
    sim, store, env = account
    result = export_account(sim, store, env)
    (store.root / sim.account.me.id / "2020-01-01T00-00-00Z").mkdir()
    (store.root / sim.account.me.id / "2020-01-01T00-00-00Z" / "library.csv").write_text("x")

    listing = list_snapshots(store)
    assert [s.folder for s in listing.finished] == [result.folder]
    assert listing.unfinished == [f"{sim.account.me.id}/2020-01-01T00-00-00Z"]
    shown = run_cli(["list", "--out", str(store.root)], sim.exporter_env(), tmp_path)
    assert result.folder in shown.stdout and "unfinished" in shown.stdout

    reported = run_cli(["report", "--out", str(store.root)], sim.exporter_env(), tmp_path)
    assert reported.returncode == 0, reported.stderr
    page = (store.root / "report.html").read_text()
    assert page.lower().startswith("<!doctype html>") and sim.account.me.id in page
    assert [s.folder for s in list_snapshots(store).finished] == [result.folder]  # the page is no snapshot


def test_diff_refuses_a_tampered_snapshot(
    account: tuple[SpotifySimulator, LocalFolderStore, Path], tmp_path: Path
) -> None:
    sim, store, env = account
    export_account(sim, store, env)
    second = export_account(sim, store, env)
    library = store.root / second.folder / "json" / "library.jsonl.gz"
    library.write_bytes(library.read_bytes() + b"x")

    answer = run_cli(["diff", "--out", str(store.root)], sim.exporter_env(), tmp_path)

    assert answer.returncode == 1
    assert "does not match the SHA-256" in answer.stderr and "Traceback" not in answer.stderr
    assert orjson.loads((store.root / second.folder / "manifest.json").read_bytes())["status"] == "complete"
