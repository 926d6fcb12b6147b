"""Restore a snapshot into an empty simulated account and check it by exporting that account.

The target account lives in the same simulated world as the source (same catalogue, other
users' playlists), as a new Spotify account of the same person would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from exporter_fixtures import EXPORTER, NoSleep, cli_env, export_account, run_cli, write_env_file
from snapshot_checks import read_csv

from spotify_exporter.authorize import EXPORT_SCOPES
from spotify_exporter.connect import connect
from spotify_exporter.credentials import EnvironmentSecrets
from spotify_exporter.errors import ExporterError
from spotify_exporter.export import ExportResult
from spotify_exporter.history import SnapshotReader
from spotify_exporter.restore import RestorePlan, RestoreReport, Selection, run_restore
from spotify_exporter.settings import settings_from_env
from spotify_exporter.stores.local import LocalFolderStore
from spotify_simulator import Faults, SpotifySimulator, build_account

Rows = list[dict[str, str]]


@pytest.fixture
def source(simulator: Callable[..., SpotifySimulator], tmp_path: Path) -> tuple[LocalFolderStore, ExportResult]:
    sim = simulator("small")
    store = LocalFolderStore(tmp_path / "backups")
    result = export_account(sim, store, write_env_file(tmp_path / "source.env", sim))
    assert result.status == "complete"
    return store, result


@pytest.fixture
def empty_account(tmp_path: Path) -> Iterator[Callable[..., SpotifySimulator]]:
    started: list[SpotifySimulator] = []

    def start(faults: Faults | None = None) -> SpotifySimulator:
        sim = SpotifySimulator(build_account("small", empty=True), faults=faults).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


def restore_into(
    target: SpotifySimulator, store: LocalFolderStore, folder: str, tmp_path: Path, **flags: Any
) -> tuple[RestorePlan, RestoreReport | None]:
    config = settings_from_env({}, api_url=target.api_url, accounts_url=target.accounts_url)
    secrets = EnvironmentSecrets(environ={}, dotenv_path=write_env_file(tmp_path / "target.env", target))
    client = connect(secrets, config, [], sleep=NoSleep())
    return run_restore(SnapshotReader.open(store, folder), client, Selection(**flags))


def csv_of(store: LocalFolderStore, result: ExportResult, dataset: str) -> Rows:
    return read_csv(store, f"{result.folder}/{dataset}.csv")[1]


def comparable_playlists(rows: Rows, account: str) -> list[tuple[str, ...]]:
    """Playlist rows without what a restore cannot keep (ids, versions, the owner's new id; a
    ``public`` of null, which the Web API cannot set, comes back private)."""
    return [
        (
            r["playlist_name"],
            r["collaborative"],
            r["public"] or "false",
            r["description"],
            "me" if r["owner_id"] == account else r["owner_id"],
        )
        for r in rows
    ]


def restorable_items(rows: Rows, playlists: Rows) -> list[tuple[str, list[str]]]:
    """Per own playlist, in list order: the URIs the Web API can add back (no local files, no gone items)."""
    by_id: dict[str, list[str]] = {}
    for row in rows:
        if row["item_type"] in ("track", "episode"):
            by_id.setdefault(row["playlist_id"], []).append(row["track_uri"])
    return [(p["playlist_name"], by_id.get(p["playlist_id"], [])) for p in playlists if p["items_status"] == "exported"]


def assert_restored(
    store: LocalFolderStore, source: ExportResult, target: SpotifySimulator, tmp_path: Path
) -> ExportResult:
    again_store = LocalFolderStore(tmp_path / "restored")
    env = tmp_path / "target.env"
    again = export_account(target, again_store, env if env.exists() else write_env_file(env, target))
    assert again.status == "complete"
    before_playlists, after_playlists = csv_of(store, source, "playlists"), csv_of(again_store, again, "playlists")
    assert comparable_playlists(after_playlists, again.account_id) == comparable_playlists(
        before_playlists, source.account_id
    )
    own_before = [p for p in before_playlists if p["owner_id"] == source.account_id]
    own_after = [p for p in after_playlists if p["owner_id"] == again.account_id]
    assert restorable_items(csv_of(again_store, again, "playlist_items"), own_after) == restorable_items(
        csv_of(store, source, "playlist_items"), own_before
    )
    for dataset, column in (
        ("library", "track_uri"),
        ("albums", "album_uri"),
        ("artists", "artist_uri"),
        ("shows", "uri"),
        ("episodes", "uri"),
        ("audiobooks", "uri"),
    ):
        before = [r[column] for r in csv_of(store, source, dataset)]
        assert [r[column] for r in csv_of(again_store, again, dataset)] == before, dataset
    # custom covers come back on the new playlists
    names = {p["playlist_id"]: p["playlist_name"] for p in before_playlists}
    new_ids = {p["playlist_name"]: p["playlist_id"] for p in own_after}
    covers = source.manifest["covers"]
    assert covers
    for playlist_id, name in covers.items():
        assert target.cover_of(new_ids[names[playlist_id]]) == (store.root / source.folder / name).read_bytes()
    return again


def test_restore_into_an_empty_account_recreates_it(
    source: tuple[LocalFolderStore, ExportResult], empty_account: Callable[..., SpotifySimulator], tmp_path: Path
) -> None:
    store, snapshot = source
    target = empty_account()

    _, report = restore_into(target, store, snapshot.folder, tmp_path)
    assert report is not None

    assert_restored(store, snapshot, target, tmp_path)
    local_and_gone = [
        r for r in csv_of(store, snapshot, "playlist_items") if r["item_type"] in ("local", "unavailable")
    ]
    assert local_and_gone  # the small account has both kinds
    reported = [line for lines in report.skipped_items.values() for line in lines]
    assert len(reported) == len([r for r in local_and_gone if _own(store, snapshot, r["playlist_id"])])
    assert any("a local file" in line for line in reported) and any("no longer on Spotify" in line for line in reported)


def _own(store: LocalFolderStore, snapshot: ExportResult, playlist_id: str) -> bool:
    owners = {p["playlist_id"]: p["owner_id"] for p in csv_of(store, snapshot, "playlists")}
    return owners[playlist_id] == snapshot.account_id


def test_a_restore_stopped_half_way_and_run_again_adds_nothing_twice(
    source: tuple[LocalFolderStore, ExportResult], empty_account: Callable[..., SpotifySimulator], tmp_path: Path
) -> None:
    store, snapshot = source
    target = empty_account(Faults(fail_writes_after=25))

    with pytest.raises(ExporterError, match="run the same restore again"):
        restore_into(target, store, snapshot.folder, tmp_path)
    assert target.writes_applied == 25
    target.fail_writes_after = None
    restore_into(target, store, snapshot.folder, tmp_path)

    assert_restored(store, snapshot, target, tmp_path)


def test_a_restore_killed_at_any_moment_and_run_again_adds_nothing_twice(
    source: tuple[LocalFolderStore, ExportResult], empty_account: Callable[..., SpotifySimulator], tmp_path: Path
) -> None:
    """SIGKILL right after Spotify applied a write, before the journal could say so."""
    store, snapshot = source
    target = empty_account()
    env = {**cli_env(target), "PYTHONUNBUFFERED": "1"}
    command = [*EXPORTER, "restore", str(store.root / snapshot.folder)]
    for kill_after in (3, 40):
        process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while target.writes_applied < kill_after and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    finished = run_cli(["restore", str(store.root / snapshot.folder)], env, tmp_path)
    assert finished.returncode == 0, finished.stderr

    assert_restored(store, snapshot, target, tmp_path)  # descriptions included: no marker is left
    # (a kill during a journal write may leave the store's hidden temp file, which no reader sees)
    journals = list(store.list_files(f"{snapshot.account_id}/restores/"))
    stamp = snapshot.folder.split("/")[1]
    assert journals == [f"{snapshot.account_id}/restores/{stamp}-into-{target.account.me.id}.json"]
    assert "restores" not in str(snapshot.manifest["files"])


def test_dry_run_prints_the_plan_and_writes_nothing(
    source: tuple[LocalFolderStore, ExportResult], empty_account: Callable[..., SpotifySimulator], tmp_path: Path
) -> None:
    store, snapshot = source
    target = empty_account()

    answer = run_cli(["restore", str(store.root / snapshot.folder), "--dry-run"], cli_env(target), tmp_path)

    assert answer.returncode == 0, answer.stderr
    assert target.write_requests == 0
    first_own = next(p for p in csv_of(store, snapshot, "playlists") if p["owner_id"] == snapshot.account_id)
    assert f"create playlist {first_own['playlist_name']!r}" in answer.stdout
    assert f"save {snapshot.manifest['datasets']['library']['count']} liked songs" in answer.stdout
    assert "Dry run: nothing was changed." in answer.stdout
    assert not (store.root / snapshot.account_id / "restores").exists()


def test_only_the_chosen_parts_are_restored(
    source: tuple[LocalFolderStore, ExportResult], empty_account: Callable[..., SpotifySimulator], tmp_path: Path
) -> None:
    store, snapshot = source
    target = empty_account()
    own = [p for p in csv_of(store, snapshot, "playlists") if p["owner_id"] == snapshot.account_id]

    restore_into(target, store, snapshot.folder, tmp_path, playlists=(own[1]["playlist_name"],), artists=True)

    restored = [p.name for p in target.account.playlists]
    # a name picks every playlist of that name (the account has two called the same); an id picks one
    assert restored == [p["playlist_name"] for p in own if p["playlist_name"] == own[1]["playlist_name"]]
    assert target.account.liked == [] and target.account.albums == []
    assert len(target.account.artists) == snapshot.manifest["datasets"]["artists"]["count"]


def test_restoring_into_the_same_account_changes_nothing(
    simulator: Callable[..., SpotifySimulator], tmp_path: Path
) -> None:
    sim = simulator("tiny")
    store = LocalFolderStore(tmp_path / "backups")
    env = write_env_file(tmp_path / "target.env", sim)
    snapshot = export_account(sim, store, env)
    playlists_before = [p.id for p in sim.account.playlists]

    restore_into(sim, store, snapshot.folder, tmp_path)

    assert [p.id for p in sim.account.playlists] == playlists_before
    again = export_account(sim, store, env)
    assert again.manifest["incremental"]["playlists_reused"] == len(playlists_before)


def test_a_token_without_write_scopes_gets_an_actionable_error(
    source: tuple[LocalFolderStore, ExportResult], empty_account: Callable[..., SpotifySimulator], tmp_path: Path
) -> None:
    store, snapshot = source
    target = empty_account()
    read_only = target.issue_refresh_token(" ".join(EXPORT_SCOPES))
    env = {**cli_env(target), "SPOTIFY_REFRESH_TOKEN": read_only}

    answer = run_cli(["restore", str(store.root / snapshot.folder)], env, tmp_path)

    assert answer.returncode == 1
    assert "make auth ARGS=--restore" in answer.stderr and "Traceback" not in answer.stderr
    assert target.writes_applied == 0


def test_a_restore_through_server_errors_and_rate_limits_is_exact(
    source: tuple[LocalFolderStore, ExportResult], empty_account: Callable[..., SpotifySimulator], tmp_path: Path
) -> None:
    """Failed writes (not applied) are looked into before trying again: nothing missing, nothing twice."""
    store, snapshot = source
    target = empty_account(Faults(server_error_rate=0.08, rate_limit_rate=0.05, retry_after_s=1, seed=7))

    restore_into(target, store, snapshot.folder, tmp_path)

    assert sum(n for (_, _, status), n in target.write_counters.items() if status >= 500) > 0
    assert_restored(store, snapshot, target, tmp_path)


def test_a_half_restored_playlist_deleted_in_spotify_is_made_again(
    source: tuple[LocalFolderStore, ExportResult], empty_account: Callable[..., SpotifySimulator], tmp_path: Path
) -> None:
    store, snapshot = source
    target = empty_account(Faults(fail_writes_after=1))  # the first playlist is created, nothing added
    with pytest.raises(ExporterError):
        restore_into(target, store, snapshot.folder, tmp_path)
    [half] = [p for p in target.account.playlists if "[restoring" in p.description]
    target.change(lambda account: account.playlists.remove(half))  # the user deletes (unfollows) it
    target.fail_writes_after = None

    restore_into(target, store, snapshot.folder, tmp_path)

    assert_restored(store, snapshot, target, tmp_path)
