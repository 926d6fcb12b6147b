"""The round trip: what a restore brings back must equal what was saved (issue 13).

Account A (the "medium" account: 65 own playlists, 2,000 liked songs, descriptions Spotify
escapes, custom covers, local files, gone items, episodes, duplicates) is exported; the snapshot
is restored into an empty account B twice: once in one go, once SIGKILLed inside a write chosen
at random (seeded: ``RESTORE_KILL_SEED``, default 13) and run again. Each B is exported and its
snapshot compared with A's, apart from what the Web API cannot restore ("added" dates, local
files, items Spotify no longer has), which the restore must list, the same in both runs.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from exporter_fixtures import cli_env, export_account, write_env_file
from test_restore import (
    expected_not_restorable,
    kill_restore_when,
    reported_not_restorable,
    restore_command,
    restore_into,
)

from spotify_exporter.export import ExportResult
from spotify_exporter.history import SnapshotReader
from spotify_exporter.restore import LIBRARY_BATCH, RestoreReport
from spotify_exporter.stores.local import LocalFolderStore
from spotify_simulator import SpotifySimulator, User, build_account, empty_like

SIZE = "medium"
#: the simulator does not ban: no client-side pacing (150 requests per 30 s would make this a minute)
UNPACED = 100_000
KILL_SEED = int(os.environ.get("RESTORE_KILL_SEED", "13"))
SAVED = {
    "library": "track_uri",
    "albums": "album_uri",
    "artists": "artist_uri",
    "shows": "uri",
    "episodes": "uri",
    "audiobooks": "uri",
}


@dataclass
class Snapshot:
    """An export, read back through the snapshot reader (JSON copy, CSVs, covers)."""

    store: LocalFolderStore
    result: ExportResult

    @property
    def reader(self) -> SnapshotReader:
        return SnapshotReader.open(self.store, self.result.folder)

    def csv(self, dataset: str) -> list[dict[str, str]]:
        return list(self.reader.csv_rows(dataset))

    def cover(self, playlist_id: str) -> bytes | None:
        name = (self.result.manifest.get("covers") or {}).get(playlist_id)
        return self.reader.read_bytes(name) if name else None


@dataclass
class Restored:
    target: SpotifySimulator
    report: RestoreReport
    snapshot: Snapshot
    writes: int  # applied by Spotify, all runs together


@pytest.fixture(scope="module")
def account_a(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snapshot]:
    folder = tmp_path_factory.mktemp("account-a")
    with SpotifySimulator(build_account(SIZE)) as sim:
        env = write_env_file(folder / "a.env", sim)
        result = export_account(sim, LocalFolderStore(folder / "backups"), env, max_requests_per_30s=UNPACED)
    assert result.status == "complete"
    yield Snapshot(LocalFolderStore(folder / "backups"), result)


def export_b(target: SpotifySimulator, folder: Path) -> Snapshot:
    store = LocalFolderStore(folder / "exported")
    result = export_account(target, store, folder / "target.env", max_requests_per_30s=UNPACED)
    assert result.status == "complete"
    return Snapshot(store, result)


@pytest.fixture(scope="module")
def in_one_go(account_a: Snapshot, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Restored]:
    folder = tmp_path_factory.mktemp("account-b-in-one-go")
    with SpotifySimulator(build_account(SIZE, empty=True)) as target:
        write_env_file(folder / "target.env", target)
        _, report = restore_into(target, account_a.store, account_a.result.folder, folder, UNPACED)
        assert report is not None
        yield Restored(target, report, export_b(target, folder), target.writes_applied)


def comparable(snapshot: Snapshot) -> dict[str, Any]:
    """Everything a restore must bring back, keyed by what it is; ids, snapshot ids, dates and
    the owner's id (another account) left out. Playlists in list order."""
    account = snapshot.result.account_id
    items: dict[str, list[str]] = {}
    for row in snapshot.csv("playlist_items"):
        if row["item_type"] in ("track", "episode"):  # what the Web API can add back
            items.setdefault(row["playlist_id"], []).append(row["track_uri"])
    api = {str(p["id"]): p for p in snapshot.reader.records("playlists")}
    playlists = []
    for row in snapshot.csv("playlists"):
        pid, own = row["playlist_id"], row["owner_id"] == account
        playlists.append(
            {
                "name": row["playlist_name"],
                "owner": "me" if own else row["owner_id"],
                "description (CSV)": row["description"],
                "description (API)": api[pid]["description"],
                "collaborative": row["collaborative"],
                "public": row["public"] or "false",  # an unset `public` cannot be set: it comes back private
                "cover": snapshot.cover(pid) if own else None,
                "items": items.get(pid, []) if own else row["items_status"],
                "items_status": row["items_status"],
            }
        )
    found: dict[str, Any] = {"playlists": playlists}
    for dataset, column in SAVED.items():
        found[dataset] = [row[column] for row in snapshot.csv(dataset)]  # in Spotify's order
    return found


def assert_round_trip(a: Snapshot, restored: Restored) -> None:
    before, after = comparable(a), comparable(restored.snapshot)
    for key in before:
        assert after[key] == before[key], key
    own = [p for p in before["playlists"] if p["owner"] == "me"]
    assert sum(p["cover"] is not None for p in own) >= 5 and sum("&" in p["description (API)"] for p in own) >= 5
    assert sum(p["owner"] != "me" for p in before["playlists"]) >= 3, "followed playlists of others"
    assert len(before["library"]) == 2_000
    # what the Web API cannot add is listed, per playlist, from the snapshot
    assert reported_not_restorable(restored.report) == expected_not_restorable(a.store, a.result) != []
    assert not [p for p in restored.target.account.playlists if p.description == "null"]


def test_the_round_trip_in_one_go_is_exact(account_a: Snapshot, in_one_go: Restored) -> None:
    assert_round_trip(account_a, in_one_go)
    assert in_one_go.report.writes == in_one_go.writes > 200


def killed_and_resumed(
    account_a: Snapshot, in_one_go: Restored, target: SpotifySimulator, tmp_path: Path, when: Callable[[int], bool]
) -> tuple[int, Restored]:
    """Restore into ``target`` with the CLI, SIGKILLed inside the first write for which ``when``
    holds, then run again: the round trip is exact, the report as in one go, and a third run
    writes nothing. Returns the writes applied when the kill struck, and the resumed restore."""
    write_env_file(tmp_path / "target.env", target)
    command = restore_command(account_a.store, account_a.result)
    env = cli_env(target, SPOTIFY_MAX_REQUESTS_PER_30S=str(UNPACED))
    kill_restore_when(target, command, env, tmp_path, when)
    killed_at = target.writes_applied

    _, report = restore_into(target, account_a.store, account_a.result.folder, tmp_path, UNPACED)
    assert report is not None
    resumed = Restored(target, report, export_b(target, tmp_path), target.writes_applied)

    assert_round_trip(account_a, resumed)
    assert report.not_restorable == in_one_go.report.not_restorable, "the same list, interrupted or not"
    assert report.describe() == in_one_go.report.describe()
    # at most the write the kill hid is done again (an idempotent save or a cover), never an add
    assert resumed.writes - in_one_go.writes in (0, 1)
    _, again = restore_into(target, account_a.store, account_a.result.folder, tmp_path, UNPACED)
    assert again is not None and again.writes == 0 and target.writes_applied == resumed.writes
    journals = list(account_a.store.list_files(f"{account_a.result.account_id}/restores/"))
    assert f"{account_a.result.folder.split('/')[1]}-into-{target.account.me.id}.json" in str(journals)
    return killed_at, resumed


def test_the_round_trip_killed_at_a_random_write_and_resumed_is_exact(
    account_a: Snapshot, in_one_go: Restored, tmp_path: Path
) -> None:
    kill_at = random.Random(KILL_SEED).randint(1, in_one_go.writes - 1)
    # another user than in_one_go's: the journal is per snapshot and target account
    with SpotifySimulator(empty_like(build_account(SIZE), User("resumed", "Resumed Target"))) as target:
        killed_at, _ = killed_and_resumed(account_a, in_one_go, target, tmp_path, lambda applied: applied == kill_at)
        assert killed_at == kill_at, f"killed inside write {kill_at} of {in_one_go.writes}"
        assert target.write_counters[("PUT", "/v1/me/library", 200)] > 50
        assert not [key for key in target.write_counters if key[1] == "/v1/me/following"], "Spotify's route only"


def test_the_round_trip_through_a_stand_in_that_reads_the_spec_literally_is_exact(
    account_a: Snapshot, in_one_go: Restored, tmp_path: Path
) -> None:
    """``library_uri_types="spec"`` (no artist URIs in ``PUT /me/library``, the deprecated ``PUT
    /me/following`` still there): killed inside one of its artist writes, chosen at random, and
    resumed, everything comes back as from Spotify, artists through ``/me/following``."""
    batches = math.ceil(len(account_a.csv("artists")) / LIBRARY_BATCH)
    killed_in = random.Random(KILL_SEED).randint(1, batches)
    account = empty_like(build_account(SIZE), User("spec-reader", "Spec Literal Target"))
    with SpotifySimulator(account, library_uri_types="spec") as target:

        def following_batch_applied(_: int) -> bool:
            return len(target.account.artists) >= killed_in * LIBRARY_BATCH

        killed_at, resumed = killed_and_resumed(account_a, in_one_go, target, tmp_path, following_batch_applied)
        assert killed_at == in_one_go.writes - batches + killed_in, "artists are the last writes"
        assert resumed.writes == in_one_go.writes + 1, "the batch the kill hid is followed again"
        assert target.write_counters[("PUT", "/v1/me/following", 204)] == batches + 1
        # one refused artist batch a run (the killed one, the resumed one), no per-batch cost
        assert target.write_counters[("PUT", "/v1/me/library", 400)] == 2
