"""End to end: the real exporter against the simulator over HTTP, checked against the contract."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from dotenv import dotenv_values
from exporter_fixtures import NoSleep, export_account, write_env_file
from snapshot_checks import DATASETS, assert_csv_equals_json, assert_matches_truth, read_csv, verify_snapshot

from spotify_exporter.errors import AuthExpiredError
from spotify_exporter.stores.local import LocalFolderStore
from spotify_simulator import Faults, SpotifySimulator

Simulator = Callable[..., SpotifySimulator]


def truth(sim: SpotifySimulator) -> dict[str, list[dict[str, str]]]:
    return {name: sim.expected_rows(name) for name in DATASETS}


@pytest.mark.parametrize("size", ["tiny", "small", "demo", "large", "huge"])
def test_snapshot_matches_the_account_row_by_row(simulator: Simulator, tmp_path: Path, size: str) -> None:
    sim = simulator(size)
    store = LocalFolderStore(tmp_path / "backups")
    # pacing (150 per 30 s by default) would make the big accounts take minutes; it has tests of its own
    result = export_account(sim, store, write_env_file(tmp_path / ".env", sim), max_requests_per_30s=100_000)

    assert result.status == "complete"
    manifest = verify_snapshot(store, result.folder)
    assert manifest["status"] == "complete"
    assert_matches_truth(store, result.folder, truth(sim))
    assert_csv_equals_json(store, result.folder)
    assert manifest["requests"] == sim.requests_total == sim.minimal_requests()


def test_followed_playlist_refused_by_spotify_is_kept_and_does_not_make_the_run_partial(
    simulator: Simulator, tmp_path: Path
) -> None:
    sim = simulator("small")
    store = LocalFolderStore(tmp_path)
    result = export_account(sim, store, write_env_file(tmp_path / ".env", sim))

    _, playlists = read_csv(store, f"{result.folder}/playlists.csv")
    forbidden = [p for p in playlists if p["items_status"] == "forbidden"]
    assert forbidden, "the small account has a followed playlist that answers 403"
    _, items = read_csv(store, f"{result.folder}/playlist_items.csv")
    assert not {p["playlist_id"] for p in forbidden} & {i["playlist_id"] for i in items}
    assert result.status == "complete"
    assert any("items_status=forbidden" in w for w in result.manifest["warnings"])


def test_fault_matrix_still_gives_a_complete_and_exact_snapshot(simulator: Simulator, tmp_path: Path) -> None:
    faults = Faults(
        server_error_rate=0.05,
        rate_limit_rate=0.05,
        retry_after_s=1,
        malformed_rate=0.02,
        token_lifetime_s=30,
        rotate_refresh_tokens=True,
        seed=7,
    )
    sim = simulator("demo", faults=faults)
    store = LocalFolderStore(tmp_path / "backups")
    env_file = write_env_file(tmp_path / ".env", sim)
    sleep = NoSleep()
    result = export_account(sim, store, env_file, sleep=sleep)

    assert result.status == "complete", result.manifest
    verify_snapshot(store, result.folder)
    assert_matches_truth(store, result.folder, truth(sim))
    assert result.manifest["retries"] > 0
    assert all(wait <= 60 for wait in sleep.waits)
    # the rotated, single-use refresh token was saved: the next run can still sign in
    assert dotenv_values(env_file)["SPOTIFY_REFRESH_TOKEN"] == sim.refresh_token
    assert "# a comment the exporter must keep" in env_file.read_text()
    assert env_file.stat().st_mode & 0o777 == 0o600
    again = export_account(sim, LocalFolderStore(tmp_path / "again"), env_file, sleep=sleep)
    assert again.status == "complete"


def test_access_token_expiring_mid_run_is_refreshed(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("small", faults=Faults(token_lifetime_s=1, latency_s=0.02))
    store = LocalFolderStore(tmp_path)
    result = export_account(sim, store, write_env_file(tmp_path / ".env", sim))

    assert result.status == "complete"
    assert sim.token_requests > 1
    assert_matches_truth(store, result.folder, truth(sim))


def test_a_long_rate_limit_ban_stops_the_run_as_partial_and_says_when_to_retry(
    simulator: Simulator, tmp_path: Path
) -> None:
    sim = simulator("small", faults=Faults(ban_after_requests=5, ban_retry_after_s=3600))
    store = LocalFolderStore(tmp_path)
    sleep = NoSleep()
    result = export_account(sim, store, write_env_file(tmp_path / ".env", sim), sleep=sleep)

    assert result.status == "partial"
    manifest = verify_snapshot(store, result.folder)
    assert manifest["status"] == "partial"
    assert "run the export again after" in manifest["error"]
    assert "1 h 0 min" in manifest["error"]
    assert sum(sleep.waits) < 60, "it must not sit out an hour-long ban"
    statuses = {name: entry["status"] for name, entry in manifest["datasets"].items()}
    assert statuses["library"] == "failed"
    assert statuses["audiobooks"] == "skipped"
    assert sim.requests_total <= 6, "after the ban nothing more is sent"
    _, liked = read_csv(store, f"{result.folder}/library.csv")
    assert len(liked) == 4 * 50 or len(liked) == manifest["datasets"]["library"]["count"]


def test_an_endpoint_refused_to_the_app_is_recorded_as_unavailable(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("small", faults=Faults(unavailable={"/v1/me/audiobooks": 403}))
    store = LocalFolderStore(tmp_path)
    result = export_account(sim, store, write_env_file(tmp_path / ".env", sim))

    manifest = verify_snapshot(store, result.folder)
    assert manifest["datasets"]["audiobooks"]["status"] == "unavailable"
    assert any(w.startswith("audiobooks:") for w in manifest["warnings"])
    header, rows = read_csv(store, f"{result.folder}/audiobooks.csv")
    assert header[:3] == ["added_at", "name", "uri"] and rows == []
    assert manifest["datasets"]["library"]["status"] == "complete"


def test_a_server_that_keeps_failing_marks_the_run_partial_but_keeps_the_rest(
    simulator: Simulator, tmp_path: Path
) -> None:
    sim = simulator("small", faults=Faults(unavailable={"/v1/me/albums": 503}))
    store = LocalFolderStore(tmp_path)
    sleep = NoSleep()
    result = export_account(sim, store, write_env_file(tmp_path / ".env", sim), sleep=sleep)

    manifest = verify_snapshot(store, result.folder)
    assert manifest["status"] == "partial"
    assert manifest["datasets"]["albums"]["status"] == "failed"
    assert "after 6 attempts" in manifest["datasets"]["albums"]["error"]
    assert manifest["datasets"]["artists"]["status"] == "complete"
    assert len(sleep.waits) >= 5


def test_an_expired_refresh_token_says_how_to_reauthorize(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("tiny")
    env_file = write_env_file(tmp_path / ".env", sim)
    sim.revoke_refresh_tokens()
    with pytest.raises(AuthExpiredError, match="run `make auth`"):
        export_account(sim, LocalFolderStore(tmp_path / "backups"), env_file)
    assert not (tmp_path / "backups").exists() or not any((tmp_path / "backups").rglob("manifest.json"))


def test_two_exports_in_the_same_second_never_share_a_folder(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("tiny")
    store = LocalFolderStore(tmp_path)
    env_file = write_env_file(tmp_path / ".env", sim)
    first = export_account(sim, store, env_file)
    second = export_account(sim, store, env_file)
    assert first.folder != second.folder
    verify_snapshot(store, first.folder)
    verify_snapshot(store, second.folder)


def test_manifest_is_written_last_and_says_what_is_in_the_snapshot(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("tiny")
    store = LocalFolderStore(tmp_path)
    result = export_account(sim, store, write_env_file(tmp_path / ".env", sim))
    folder = tmp_path / result.folder
    manifest_mtime = (folder / "manifest.json").stat().st_mtime_ns
    assert all(p.stat().st_mtime_ns <= manifest_mtime for p in folder.rglob("*") if p.is_file())
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["account_id"] == result.account_id
    assert set(manifest["datasets"]) >= set(DATASETS)


def test_a_run_that_would_outlive_its_time_budget_ends_cleanly_as_partial(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("demo", faults=Faults(latency_s=0.05))
    store = LocalFolderStore(tmp_path)
    result = export_account(sim, store, write_env_file(tmp_path / ".env", sim), time_budget_s=1.0)

    manifest = verify_snapshot(store, result.folder)
    assert manifest["status"] == "partial"
    assert "time budget of 1 s" in manifest["error"]
    assert "export --resume" in manifest["error"]  # it is resumed, not started over (resume.resume_delay_s)
    assert "skipped" in {entry["status"] for entry in manifest["datasets"].values()}
