"""Restore a snapshot into an empty simulated account and check it by exporting that account.

The target account lives in the same simulated world as the source (same catalogue, other
users' playlists), as a new Spotify account of the same person would.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
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
from spotify_simulator.covers import jpeg

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

    def start(faults: Faults | None = None, **options: Any) -> SpotifySimulator:
        sim = SpotifySimulator(build_account("small", empty=True), faults=faults, **options).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


def restore_into(
    target: SpotifySimulator,
    store: LocalFolderStore,
    folder: str,
    tmp_path: Path,
    max_requests_per_30s: int | None = None,
    **flags: Any,
) -> tuple[RestorePlan, RestoreReport | None]:
    """An in-process restore with the production wiring; ``flags`` are the CLI's selection."""
    config = settings_from_env(
        {}, api_url=target.api_url, accounts_url=target.accounts_url, max_requests_per_30s=max_requests_per_30s
    )
    secrets = EnvironmentSecrets(environ={}, dotenv_path=write_env_file(tmp_path / "target.env", target))
    client = connect(secrets, config, [], sleep=NoSleep())
    return run_restore(SnapshotReader.open(store, folder), client, Selection(**flags))


def csv_of(store: LocalFolderStore, result: ExportResult, dataset: str) -> Rows:
    return read_csv(store, f"{result.folder}/{dataset}.csv")[1]


def restore_command(store: LocalFolderStore, snapshot: ExportResult) -> list[str]:
    return [*EXPORTER, "restore", str(store.root / snapshot.folder)]


def kill_restore_when(
    target: SpotifySimulator, command: list[str], env: dict[str, str], cwd: Path, when: Callable[[int], bool]
) -> None:
    """Run the restore CLI and SIGKILL it inside the first write for which ``when(writes_applied)``
    holds: Spotify applied that write, the restore never heard of it (nor journaled it)."""
    pids: list[int] = []

    def kill(applied: int) -> None:
        if pids and when(applied):
            os.kill(pids.pop(), signal.SIGKILL)

    target.on_write_applied = kill
    try:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pids.append(process.pid)
        assert process.wait(timeout=120) == -signal.SIGKILL, "the restore ended before the write it was to die in"
    finally:
        target.on_write_applied = None


def expected_not_restorable(store: LocalFolderStore, snapshot: ExportResult) -> list[tuple[str, list[int]]]:
    """Per own playlist with local files or gone items, in list order: their 1-based positions."""
    found: dict[str, list[int]] = {}
    for row in csv_of(store, snapshot, "playlist_items"):
        if row["item_type"] in ("local", "unavailable"):
            found.setdefault(row["playlist_id"], []).append(int(row["position"]) + 1)
    return [
        (p["playlist_name"], found[p["playlist_id"]])
        for p in csv_of(store, snapshot, "playlists")
        if p["owner_id"] == snapshot.account_id and p["playlist_id"] in found
    ]


def reported_not_restorable(report: RestoreReport) -> list[tuple[str, list[int]]]:
    return [(name, [int(line[1:].split(" ", 1)[0]) for line in lines]) for name, lines in report.not_restorable]


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
    store: LocalFolderStore,
    source: ExportResult,
    target: SpotifySimulator,
    tmp_path: Path,
    *,
    made_without_description: bool = False,
) -> ExportResult:
    again_store = LocalFolderStore(tmp_path / "restored")
    env = tmp_path / "target.env"
    again = export_account(target, again_store, env if env.exists() else write_env_file(env, target))
    assert again.status == "complete"
    before_playlists, after_playlists = csv_of(store, source, "playlists"), csv_of(again_store, again, "playlists")
    if made_without_description:  # Spotify gives a playlist made without a description the text "null"
        after_playlists = [
            {**r, "description": "" if r["description"] == "null" else r["description"]} for r in after_playlists
        ]
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
    assert reported_not_restorable(report) == expected_not_restorable(store, snapshot) != []
    reported = [line for _, lines in report.not_restorable for line in lines]
    assert any("a local file" in line for line in reported) and any("no longer on Spotify" in line for line in reported)
    # the whole restore is plain writes: one create per playlist, 100 items and 40 library URIs a request
    assert all(method in ("POST", "PUT") for method, _, _ in target.write_counters)
    assert {template for _, template, _ in target.write_counters} <= {
        "/v1/me/playlists",
        "/v1/playlists/{id}/items",
        "/v1/playlists/{id}/images",
        "/v1/me/library",
    }


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
    """SIGKILL right after Spotify applied a write, before the journal could say so: the first
    playlist's creation, then a write well into the second run."""
    store, snapshot = source
    target = empty_account()
    env = cli_env(target)
    command = restore_command(store, snapshot)
    kill_restore_when(target, command, env, tmp_path, lambda applied: applied == 1)
    assert len(target.account.playlists) == 1
    second_run = target.writes_applied + 20  # of about 40
    kill_restore_when(target, command, env, tmp_path, lambda applied: applied == second_run)
    finished = run_cli(command[len(EXPORTER) :], env, tmp_path)
    assert finished.returncode == 0, finished.stderr

    assert_restored(store, snapshot, target, tmp_path)
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
    [half] = target.account.playlists
    target.change(lambda account: account.playlists.remove(half))  # the user deletes (unfollows) it
    target.fail_writes_after = None

    restore_into(target, store, snapshot.folder, tmp_path)

    assert_restored(store, snapshot, target, tmp_path)


def test_a_playlist_of_that_name_already_in_the_account_is_not_taken_for_the_one_being_restored(
    source: tuple[LocalFolderStore, ExportResult], empty_account: Callable[..., SpotifySimulator], tmp_path: Path
) -> None:
    """Killed between Spotify creating a playlist and the journal noting it: the restore finds its
    playlist again by name, never the user's own playlist of the same name made before."""
    store, snapshot = source
    target = empty_account()
    own = [p for p in csv_of(store, snapshot, "playlists") if p["owner_id"] == snapshot.account_id]
    first = own[-1]["playlist_name"]  # the list's last playlist is created first
    mine = target.edit.create_playlist(first, description="my own, made before the restore")
    target.edit.add_items(mine.id, [f"spotify:track:{target.account.catalog.track(0).id}"])
    before = (mine.snapshot_id, list(mine.entries))
    env, command = cli_env(target), restore_command(store, snapshot)

    def created_ours(_: int) -> bool:
        return len([p for p in target.account.playlists if p.name == first]) == 2

    kill_restore_when(target, command, env, tmp_path, created_ours)
    finished = run_cli(command[len(EXPORTER) :], env, tmp_path)
    assert finished.returncode == 0, finished.stderr

    assert (mine.snapshot_id, mine.entries) == before, "the user's playlist is untouched"
    assert [p.name for p in target.account.playlists].count(first) == 2
    target.change(lambda account: account.playlists.remove(mine))
    assert_restored(store, snapshot, target, tmp_path)


def test_descriptions_come_back_as_written_and_the_csv_shows_them_so(
    source: tuple[LocalFolderStore, ExportResult], empty_account: Callable[..., SpotifySimulator], tmp_path: Path
) -> None:
    """Spotify sends descriptions HTML-escaped and escapes what it is sent: the JSON copy keeps
    the API's text, the CSV and the restore use the plain one, so nothing is escaped twice."""
    store, snapshot = source
    target = empty_account()
    source_json = list(SnapshotReader.open(store, snapshot.folder).records("playlists"))
    pairs = [
        (p["description"], r["description"])
        for p, r in zip(source_json, csv_of(store, snapshot, "playlists"), strict=True)
    ]
    assert ("Songs for the road &amp; more", "Songs for the road & more") in pairs
    assert ("Rock &#x27;n&#x27; roll &#x2F; blues &lt;live&gt;", "Rock 'n' roll / blues <live>") in pairs

    restore_into(target, store, snapshot.folder, tmp_path)

    again_store = LocalFolderStore(tmp_path / "restored")
    again = export_account(target, again_store, tmp_path / "target.env")
    restored = SnapshotReader.open(again_store, again.folder).records("playlists")
    mine = [(p["name"], p["description"]) for p in restored if p["owner"]["id"] == again.account_id]
    theirs = [(p["name"], p["description"]) for p in source_json if p["owner"]["id"] == snapshot.account_id]
    assert mine == theirs and sum("&" in text for _, text in theirs) >= 3, "the API's very text"
    assert not [p.description for p in target.account.playlists if p.description == "null" or "&#x" in p.description]


def test_a_spotify_that_refuses_an_empty_description_on_create_still_gets_every_playlist(
    source: tuple[LocalFolderStore, ExportResult], empty_account: Callable[..., SpotifySimulator], tmp_path: Path
) -> None:
    """Whether ``POST /me/playlists`` takes ``"description": ""`` is undocumented (updates refuse it):
    where it is refused, the playlists without a description are made without one, nothing is lost."""
    store, snapshot = source
    target = empty_account(empty_description_on_create=False)
    listed = zip(
        SnapshotReader.open(store, snapshot.folder).records("playlists"),
        csv_of(store, snapshot, "playlists"),
        strict=True,
    )
    bare = [p["name"] for p, row in listed if p["owner"]["id"] == snapshot.account_id and not row["description"]]
    assert bare, "the account has playlists of its own without a description"

    _, report = restore_into(target, store, snapshot.folder, tmp_path)

    assert report is not None
    assert sorted(p.name for p in target.account.playlists if p.description == "null") == sorted(bare)
    assert_restored(store, snapshot, target, tmp_path, made_without_description=True)


def test_covers_spotify_would_refuse_are_listed_and_the_playlists_restored_without_them(
    simulator: Callable[..., SpotifySimulator], empty_account: Callable[..., SpotifySimulator], tmp_path: Path
) -> None:
    sim = simulator("small")
    own = [p for p in sim.account.playlists if p.owner == 0 and p.entries and p.cover is None]
    big, gif = own[0], own[1]
    sim.edit.set_cover(big.id, jpeg("large") + bytes(200 * 1024))  # 256 KB and more in base64
    sim.edit.set_cover(gif.id, b"GIF89a" + bytes(100))
    store = LocalFolderStore(tmp_path / "backups")
    snapshot = export_account(sim, store, write_env_file(tmp_path / "source.env", sim))
    assert {big.id, gif.id} <= set(snapshot.manifest["covers"])
    target = empty_account()

    _, report = restore_into(target, store, snapshot.folder, tmp_path)

    assert report is not None
    listed = dict(report.not_restorable)
    assert "the cover image (larger than the 256 KB Spotify takes)" in listed[big.name]
    assert "the cover image (not a JPEG, which is all Spotify takes)" in listed[gif.name]
    restored = {p.name: p for p in target.account.playlists}
    assert restored[big.name].cover is None and restored[gif.name].cover is None
    assert len(restored[big.name].entries) > 0 and target.write_counters[("PUT", "/v1/playlists/{id}/images", 400)] == 0
    assert report.covers == len(snapshot.manifest["covers"]) - 2 > 0


def test_own_playlists_whose_items_were_not_read_are_listed_as_not_restored(
    simulator: Callable[..., SpotifySimulator], empty_account: Callable[..., SpotifySimulator], tmp_path: Path
) -> None:
    sim = simulator("small", Faults(unavailable={"GET /v1/playlists/{id}/items": 403}))
    store = LocalFolderStore(tmp_path / "backups")
    snapshot = export_account(sim, store, write_env_file(tmp_path / "source.env", sim))
    listed = SnapshotReader.open(store, snapshot.folder).records("playlists")
    own = [p["name"] for p in listed if p["owner"]["id"] == snapshot.account_id]
    target = empty_account()

    _, report = restore_into(target, store, snapshot.folder, tmp_path)

    assert report is not None and report.created == [] and len(own) > 5
    assert report.not_restored == [f"{name!r}: its items could not be read when the snapshot was taken" for name in own]
    assert not [p for p in target.account.playlists if p.owner == 0]


def test_what_spotify_withdrew_since_the_snapshot_is_listed_and_everything_else_restored(
    source: tuple[LocalFolderStore, ExportResult], empty_account: Callable[..., SpotifySimulator], tmp_path: Path
) -> None:
    """A song gone from a playlist's batch of 100, a liked song and a followed playlist its owner
    deleted: each answers 400 and would fail its whole request; they are singled out and listed,
    also when Spotify refused them in an earlier, interrupted run."""
    store, snapshot = source
    ids = {p["name"]: p["id"] for p in SnapshotReader.open(store, snapshot.folder).records("playlists")}
    items = [r for r in csv_of(store, snapshot, "playlist_items") if r["playlist_id"] == ids["+1 mix"]]
    gone_item = items[57]
    liked = [r["track_uri"] for r in csv_of(store, snapshot, "library")]
    followed = f"spotify:playlist:{ids['Friday Faves']}"
    target = empty_account(Faults(fail_writes_after=25))
    gone = {gone_item["track_uri"], liked[100], followed}
    target.change(lambda account: account.withdrawn.update(uri.rsplit(":", 1)[1] for uri in gone))

    with pytest.raises(ExporterError):
        restore_into(target, store, snapshot.folder, tmp_path)
    assert target.write_counters[("POST", "/v1/playlists/{id}/items", 400)] > 0, "refused in the first run"
    target.fail_writes_after = None
    _, report = restore_into(target, store, snapshot.folder, tmp_path)

    assert report is not None
    refusal = "Payload contains a non-existing ID"
    listed = dict(report.not_restorable)["+1 mix"]
    assert f"#58 {gone_item['track_name']} - {gone_item['artists']} (Spotify refused it: {refusal})" in listed
    assert report.refused == {
        "playlists": [(followed, refusal)],
        "liked": [(liked[100], refusal)],
    }
    assert "Friday Faves" not in report.followed and report.saved["liked"] == len(liked) - 1
    restored = next(p for p in target.account.playlists if p.name == "+1 mix")
    uris = [r["track_uri"] for r in items if r["item_type"] in ("track", "episode") and r is not gone_item]
    assert [f"spotify:track:{target.account.catalog.track(e.ref).id}" for e in restored.entries] == uris
    expected_liked = [uri for uri in liked if uri != liked[100]]
    assert [f"spotify:track:{target.account.catalog.track(t).id}" for t, _ in target.account.liked] == expected_liked
    assert "Not restored: 1 liked songs Spotify refused:" in report.describe()


# -- followed artists: Spotify's reading and the spec's ---------------------------------------------


def follow_requests(target: SpotifySimulator) -> dict[tuple[str, int], int]:
    """Write requests to the two routes that can follow artists, by route and status."""
    routes = {"/v1/me/library": "library", "/v1/me/following": "following"}
    return {(routes[t], status): n for (_, t, status), n in target.write_counters.items() if t in routes}


def test_artists_are_followed_through_the_library_with_no_request_to_me_following(
    source: tuple[LocalFolderStore, ExportResult], empty_account: Callable[..., SpotifySimulator], tmp_path: Path
) -> None:
    store, snapshot = source
    target = empty_account()
    artists = [r["artist_uri"] for r in csv_of(store, snapshot, "artists")]

    _, report = restore_into(target, store, snapshot.folder, tmp_path, artists=True)

    assert report is not None and report.saved == {"artists": len(artists)} and report.refused == {}
    assert [r["artist_uri"] for r in target.expected_rows("artists")] == artists
    assert follow_requests(target) == {("library", 200): math.ceil(len(artists) / 40)}


def test_a_stand_in_that_reads_the_spec_literally_gets_the_artists_through_me_following(
    source: tuple[LocalFolderStore, ExportResult], empty_account: Callable[..., SpotifySimulator], tmp_path: Path
) -> None:
    """The spec lists no artist URIs for ``PUT /me/library`` and still has the deprecated ``PUT
    /me/following`` (``library_uri_types="spec"``): the artists go there after one refusal, and
    everything else is restored as on Spotify."""
    store, snapshot = source
    target = empty_account(library_uri_types="spec")
    artists = snapshot.manifest["datasets"]["artists"]["count"]

    _, report = restore_into(target, store, snapshot.folder, tmp_path)

    assert report is not None and report.refused == {} and report.saved["artists"] == artists > 40
    assert_restored(store, snapshot, target, tmp_path)
    library = sum(n for (route, status), n in follow_requests(target).items() if route == "library" and status == 200)
    assert follow_requests(target) == {("library", 200): library, ("library", 400): 1, ("following", 204): 2}


@pytest.mark.parametrize("reading", ["changelog", "spec"])
def test_artists_spotify_withdrew_are_listed_and_the_route_is_found_once_per_run(
    reading: str,
    source: tuple[LocalFolderStore, ExportResult],
    empty_account: Callable[..., SpotifySimulator],
    tmp_path: Path,
) -> None:
    """A withdrawn artist fails its batch whichever route: on Spotify ``PUT /me/following`` is
    refused (403) once and ``/me/library`` singles it out; on the spec's reading ``/me/library``
    refuses artists once and ``/me/following`` singles it out. Either way each batch of 40 has one."""
    store, snapshot = source
    target = empty_account(library_uri_types=reading)
    artists = [r["artist_uri"] for r in csv_of(store, snapshot, "artists")]
    gone = [artists[3], artists[45]]  # one in each batch of 40
    target.change(lambda account: account.withdrawn.update(uri.rsplit(":", 1)[1] for uri in gone))

    _, report = restore_into(target, store, snapshot.folder, tmp_path, artists=True)

    assert report is not None
    assert report.refused == {"artists": [(uri, "Payload contains a non-existing ID") for uri in gone]}
    assert report.saved == {"artists": len(artists) - 2}
    assert [r["artist_uri"] for r in target.expected_rows("artists")] == [a for a in artists if a not in gone]
    requests = follow_requests(target)
    if reading == "changelog":
        assert requests[("following", 403)] == 1 and ("following", 204) not in requests
    else:
        assert requests[("library", 400)] == 1 and ("library", 200) not in requests
