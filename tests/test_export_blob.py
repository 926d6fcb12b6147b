"""The same export into Azure Blob Storage (Azurite over real HTTP, the real azure-storage-blob)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from azurite import Azurite
from exporter_fixtures import cli_env, export_account, run_cli, write_env_file
from snapshot_checks import DATASETS, assert_csv_equals_json, assert_matches_truth, verify_snapshot

from spotify_exporter.stores.blob import BlobStore
from spotify_simulator import Faults, SpotifySimulator

Simulator = Callable[..., SpotifySimulator]


def test_blob_snapshot_matches_the_account_row_by_row(
    simulator: Simulator, azurite: Azurite, blob_container: str, tmp_path: Path
) -> None:
    sim = simulator("small", faults=Faults(server_error_rate=0.03, seed=5))
    store = BlobStore.from_connection_string(azurite.connection_string, blob_container)
    result = export_account(sim, store, write_env_file(tmp_path / ".env", sim), sleep=lambda _: None)

    assert result.status == "complete"
    assert verify_snapshot(store, result.folder)["status"] == "complete"
    assert_matches_truth(store, result.folder, {name: sim.expected_rows(name) for name in DATASETS})
    assert_csv_equals_json(store, result.folder)


def test_cli_exports_to_blob_with_a_connection_string_and_never_prints_the_key(
    simulator: Simulator, azurite: Azurite, blob_container: str, tmp_path: Path
) -> None:
    sim = simulator("tiny")
    env = cli_env(sim, SNAPSHOT_BLOB_CONNECTION_STRING=azurite.connection_string)
    result = run_cli(["export", "--container", blob_container], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert azurite.account_key not in result.stdout + result.stderr
    store = BlobStore.from_connection_string(azurite.connection_string, blob_container)
    (manifest,) = [p for p in store.list_files() if p.endswith("/manifest.json")]
    assert verify_snapshot(store, manifest.rsplit("/", 1)[0])["status"] == "complete"
    assert blob_container in result.stdout


def test_incremental_export_diff_and_restore_work_from_blob(
    simulator: Simulator, azurite: Azurite, blob_container: str, tmp_path: Path
) -> None:
    """The history commands read Blob as they read a folder: the second export reuses every
    playlist, matches the truth, and ``diff`` and ``restore --dry-run`` read from the container."""
    sim = simulator("small")
    store = BlobStore.from_connection_string(azurite.connection_string, blob_container)
    env_file = write_env_file(tmp_path / ".env", sim)
    first = export_account(sim, store, env_file)
    second = export_account(sim, store, env_file)

    assert second.manifest["incremental"]["base"] == first.folder
    assert second.manifest["incremental"]["playlists_reused"] == len(sim.account.playlists)
    assert_matches_truth(store, second.folder, {name: sim.expected_rows(name) for name in DATASETS})
    assert set(second.manifest["covers"]) and all(store.list_files(f"{second.folder}/covers/"))

    env = cli_env(sim, SNAPSHOT_BLOB_CONNECTION_STRING=azurite.connection_string)
    shown = run_cli(["diff", "--container", blob_container], env, tmp_path)
    assert shown.returncode == 0 and "No changes." in shown.stdout, shown.stderr
    planned = run_cli(["restore", "latest", "--container", blob_container, "--dry-run"], env, tmp_path)
    assert planned.returncode == 0 and "left alone" in planned.stdout, planned.stderr
