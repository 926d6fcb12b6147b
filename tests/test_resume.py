"""Finishing a partial snapshot: a run banned half way is resumed into the same folder, reading
only what the partial snapshot lacks, and ends exactly like an export that was never banned.

The simulator bans the app after a set number of requests for a set time (a ``Retry-After`` the
client will not sit out), so each test watches the ban, the partial snapshot and its resume.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from exporter_fixtures import NoSleep, cli_env, export_account, run_cli, write_env_file
from snapshot_checks import DATASETS, assert_csv_equals_json, assert_matches_truth, verify_snapshot

from spotify_exporter.export import ExportResult
from spotify_exporter.history import SnapshotReader, list_snapshots
from spotify_exporter.locking import local_lock
from spotify_exporter.resume import NothingToResume, resume_latest, resume_snapshot, why_not_resume
from spotify_exporter.stores.local import LocalFolderStore
from spotify_simulator import Faults, SpotifySimulator

Simulator = Callable[..., SpotifySimulator]
BAN_S = 1.0
ITEMS = "/v1/playlists/{id}/items"
#: differ between two snapshots of the same account by design (cover URLs are signed per answer)
PER_RUN_FILES = {"manifest.json", "changes.json", "json/playlists.jsonl.gz"}


def banned_after(share: float, sim: SpotifySimulator) -> Faults:
    return Faults(ban_after_requests=int(sim.minimal_requests() * share), ban_duration_s=BAN_S)


def export(sim: SpotifySimulator, store: LocalFolderStore, env: Path, **options: Any) -> ExportResult:
    """An export that will not sit out a ban (``Retry-After`` above 0.5 s stops it as partial)."""
    return export_account(sim, store, env, sleep=NoSleep(), max_retry_after_s=0.5, **options)


def wait_out_the_ban() -> None:
    time.sleep(BAN_S + 0.1)


def answered(sim: SpotifySimulator, *templates: str) -> int:
    """API requests Spotify answered with data (or a refusal), of ``templates`` (or all): the 429s of a ban left out."""
    return sum(
        n
        for (template, status), n in sim.counters.items()
        if template.startswith("/v1") and status != 429 and (not templates or template in templates)
    )


def pages_read(sim: SpotifySimulator) -> int:
    """Pages of the account's collections answered (not /me, not a playlist's ``snapshot_id`` look)."""
    return answered(sim) - answered(sim, "/v1/me", "/v1/playlists/{id}")


def assert_every_page_read_once(sim: SpotifySimulator, runs: int) -> None:
    """Nothing a partial snapshot held was read again: each page once; /me once a run (it proves whose
    token it is) and at most one ``snapshot_id`` look a resume (for the playlist a ban cut in two)."""
    assert pages_read(sim) == sim.minimal_requests() - 1
    assert answered(sim, "/v1/me") == runs
    assert answered(sim, "/v1/playlists/{id}") <= runs - 1


def item_pages(sim: SpotifySimulator) -> int:
    return sum(n for (template, status), n in sim.counters.items() if template == ITEMS and status == 200)


def data_files(store: LocalFolderStore, folder: str) -> dict[str, object]:
    manifest = json.loads((store.root / folder / "manifest.json").read_text())
    files: dict[str, object] = {n: e["sha256"] for n, e in manifest["files"].items() if n not in PER_RUN_FILES}
    files["playlists without image URLs"] = [
        {**p, "images": len(p["images"])} for p in SnapshotReader.open(store, folder).records("playlists")
    ]
    return files


def test_a_ban_during_playlist_items_is_resumed_into_the_same_snapshot_reading_nothing_twice(
    simulator: Simulator, tmp_path: Path
) -> None:
    sim = simulator("demo")
    sim.faults = banned_after(0.4, sim)  # 40 % in: the liked songs and the playlist list are read
    store, env = LocalFolderStore(tmp_path / "backups"), write_env_file(tmp_path / ".env", sim)

    partial = export(sim, store, env)
    assert partial.status == "partial" and "rate-limited" in str(partial.manifest["error"])
    statuses = {name: entry["status"] for name, entry in partial.manifest["datasets"].items()}
    assert statuses["library"] == statuses["playlists"] == "complete" and statuses["playlist_items"] == "failed"
    assert partial.manifest["resumes"] == []
    wait_out_the_ban()

    result = export(sim, store, env, resume=resume_latest(store))

    assert (result.status, result.folder, result.resumed) == ("complete", partial.folder, True)
    assert [info.folder for info in list_snapshots(store).finished] == [partial.folder]  # one snapshot
    manifest = verify_snapshot(store, result.folder)
    assert_matches_truth(store, result.folder, {name: sim.expected_rows(name) for name in DATASETS})
    assert_csv_equals_json(store, result.folder)
    (resumed,) = manifest["resumes"]
    assert resumed["status"] == "complete" and resumed["reason"] == partial.manifest["error"]
    assert resumed["started_at"] >= partial.manifest["finished_at"] and resumed["requests"] > 0
    assert manifest["started_at"] == partial.manifest["started_at"] and manifest["error"] is None
    assert manifest["requests"] == partial.manifest["requests"] + resumed["requests"]
    assert not any("rate-limited" in warning for warning in manifest["warnings"])
    assert_every_page_read_once(sim, runs=2)
    # and the snapshot is, byte for byte, the one an export without a ban writes
    sim.faults = Faults()
    fresh = export(sim, LocalFolderStore(tmp_path / "fresh"), env)
    assert data_files(store, result.folder) == data_files(LocalFolderStore(tmp_path / "fresh"), fresh.folder)
    assert manifest["covers"] == fresh.manifest["covers"] != {}


def test_a_ban_before_the_playlists_are_listed_is_resumed_as_well(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("small")
    sim.faults = Faults(ban_after_requests=3, ban_duration_s=BAN_S)  # /me and two pages of liked songs
    store, env = LocalFolderStore(tmp_path), write_env_file(tmp_path / ".env", sim)
    partial = export(sim, store, env)
    assert partial.manifest["datasets"]["library"]["status"] == "failed"
    assert partial.manifest["datasets"]["playlists"]["status"] == "skipped"
    wait_out_the_ban()

    result = export(sim, store, env, resume=resume_latest(store))

    assert result.status == "complete" and result.folder == partial.folder
    verify_snapshot(store, result.folder)
    assert_matches_truth(store, result.folder, {name: sim.expected_rows(name) for name in DATASETS})
    # the liked songs read before the ban are read again: a list without a version cannot be continued
    assert pages_read(sim) == sim.minimal_requests() - 1 + 2


def test_unchanged_playlists_still_come_from_the_last_complete_snapshot(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("demo")
    store, env = LocalFolderStore(tmp_path), write_env_file(tmp_path / ".env", sim)
    first = export(sim, store, env)
    changed = next(p for p in sim.account.playlists if p.owner == 0 and len(p.entries) > 60)
    sim.edit.change_details(changed.id, name="Renamed while nobody looked")
    before = sim.requests_total
    sim.faults = Faults(ban_after_requests=before + 14, ban_duration_s=BAN_S)
    time.sleep(1.1)  # a new second: a new snapshot folder

    pages_before = item_pages(sim)
    partial = export(sim, store, env)
    assert partial.status == "partial"
    wait_out_the_ban()
    result = export(sim, store, env, resume=resume_latest(store))

    assert result.status == "complete" and result.folder == partial.folder
    assert_matches_truth(store, result.folder, {name: sim.expected_rows(name) for name in DATASETS})
    reused = first.manifest["datasets"]["playlist_items"]
    assert result.manifest["incremental"] == {
        "base": first.folder,
        "playlists_reused": reused["playlists_exported"] + reused["playlists_forbidden"] - 1,
    }
    # the two runs read the items of the changed playlist only, each page once (the ban cut it in two)
    assert item_pages(sim) - pages_before == math.ceil(len(changed.entries) / 50)
    assert answered(sim, "/v1/playlists/{id}") == 1
    changes = json.loads((store.root / result.folder / "changes.json").read_text())
    assert changes["playlists"]["renamed"] and not changes["not_compared"]


def test_a_resume_banned_again_stays_partial_and_a_later_one_finishes(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("demo")
    sim.faults = banned_after(0.3, sim)
    store, env = LocalFolderStore(tmp_path), write_env_file(tmp_path / ".env", sim)
    partial = export(sim, store, env)
    wait_out_the_ban()
    sim.faults = Faults(ban_after_requests=sim.requests_total + 10, ban_duration_s=BAN_S)

    again = export(sim, store, env, resume=resume_snapshot(store, partial.folder))
    assert again.status == "partial" and again.folder == partial.folder
    assert [r["status"] for r in again.manifest["resumes"]] == ["partial"]
    verify_snapshot(store, again.folder)
    wait_out_the_ban()

    done = export(sim, store, env, resume=resume_snapshot(store, partial.folder))
    assert done.status == "complete"
    assert [r["status"] for r in done.manifest["resumes"]] == ["partial", "complete"]
    assert done.manifest["resumes"][1]["reason"] == again.manifest["error"]
    assert_matches_truth(store, done.folder, {name: sim.expected_rows(name) for name in DATASETS})
    assert_every_page_read_once(sim, runs=3)


def test_a_stale_or_finished_snapshot_is_not_resumed(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("small")
    sim.faults = banned_after(0.5, sim)
    store, env = LocalFolderStore(tmp_path), write_env_file(tmp_path / ".env", sim)
    partial = export(sim, store, env)
    wait_out_the_ban()
    time.sleep(1.0)
    newer = export(sim, store, env)  # the next week's export, complete
    assert newer.status == "complete"

    reason = why_not_resume(store, partial.folder)
    assert reason is not None and f"a newer complete snapshot of {partial.account_id} exists" in reason
    requests_before = sim.requests_total
    with pytest.raises(NothingToResume, match="newer complete snapshot"):
        export(sim, store, env, resume=resume_snapshot(store, partial.folder))
    assert sim.requests_total == requests_before + 1  # /me only: nothing was read, nothing written
    assert json.loads((store.root / partial.folder / "manifest.json").read_text())["status"] == "partial"
    assert why_not_resume(store, newer.folder) == f"the snapshot {newer.folder} is already complete"
    with pytest.raises(NothingToResume, match="is complete: nothing to resume"):
        export(sim, store, env, resume=resume_latest(store))


def test_a_damaged_partial_snapshot_is_read_again_not_trusted(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("demo")
    sim.faults = banned_after(0.5, sim)
    store, env = LocalFolderStore(tmp_path), write_env_file(tmp_path / ".env", sim)
    partial = export(sim, store, env)
    items = store.root / partial.folder / "json" / "playlist_items.jsonl.gz"
    items.write_bytes(items.read_bytes()[:-8] + b"damaged!")
    wait_out_the_ban()

    result = export(sim, store, env, resume=resume_latest(store))

    assert result.status == "complete"
    assert any("partial snapshot's playlist items could not be reused" in w for w in result.manifest["warnings"])
    verify_snapshot(store, result.folder)
    assert_matches_truth(store, result.folder, {name: sim.expected_rows(name) for name in DATASETS})


def test_export_resume_on_the_command_line(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("small")
    sim.faults = banned_after(0.5, sim)
    env = cli_env(sim)
    out = tmp_path / "backups"
    args = ["export", "--out", str(out), "--max-retry-after", "0.5"]

    first = run_cli(args, env, tmp_path)
    assert first.returncode == 2, first.stderr
    wait_out_the_ban()
    resumed = run_cli([*args, "--resume"], env, tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "Snapshot complete (resumed):" in resumed.stdout
    (folder,) = [p.parent for p in out.glob("*/*/manifest.json")]
    assert folder.name in resumed.stdout
    again = run_cli([*args, "--resume"], env, tmp_path)
    assert again.returncode == 0 and "Nothing to resume:" in again.stdout and "is complete" in again.stdout


def test_two_resumes_of_one_folder_never_run_at_once(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("small")
    sim.faults = banned_after(0.5, sim)
    out = tmp_path / "backups"
    args = ["export", "--out", str(out), "--max-retry-after", "0.5"]
    assert run_cli(args, cli_env(sim), tmp_path).returncode == 2
    wait_out_the_ban()
    with local_lock(out):  # another `export --resume` is at work on this folder
        busy = run_cli([*args, "--resume"], cli_env(sim), tmp_path)
    assert busy.returncode == 1
    assert busy.stderr.strip() == f"error: another export is resuming a snapshot in {out}; wait for it to finish"
    assert run_cli([*args, "--resume"], cli_env(sim), tmp_path).returncode == 0
