"""Write-once snapshots (``spotify-exporter:immutableDays``): the exporter against a Blob container under
version-level immutability, enforced as Azure enforces it by the WORM proxy (``worm_standin``) in
front of Azurite, through the real azure-storage-blob.

Azure refuses to delete a protected blob and keeps the old version of an overwritten one; the
exporter never needs either: it writes every file once (an overwrite it attempts is refused by
the store), finishes a partial snapshot in a new folder, and keeps restore journals in the
``-journals`` container. Each test also checks that nothing in the protected container was ever
overwritten (the proxy keeps a previous version of every overwrite) or refused.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import ContainerClient
from azurite import Azurite
from exporter_fixtures import NoSleep, cli_env, export_account, run_cli, write_env_file
from function_app_scene import FunctionAppScene
from keyvault_standin import KeyVaultStandIn
from snapshot_checks import (
    DATASETS,
    assert_csv_equals_json,
    assert_matches_truth,
    read_bytes,
    read_csv,
    verify_snapshot,
)
from test_function_app import AzureApp
from test_resume import BAN_S, assert_every_page_read_once, banned_after, wait_out_the_ban
from worm_standin import WormProxy

from spotify_exporter.connect import connect
from spotify_exporter.credentials import EnvironmentSecrets
from spotify_exporter.errors import ExporterError, StoreError
from spotify_exporter.export import ExportResult
from spotify_exporter.history import SnapshotError, SnapshotReader, list_snapshots, read_manifest
from spotify_exporter.restore import Selection, run_restore
from spotify_exporter.restore_journal import Journal
from spotify_exporter.resume import NothingToResume, resume_latest
from spotify_exporter.settings import settings_from_env
from spotify_exporter.stores import SnapshotStore
from spotify_exporter.stores.blob import WRITE_ONCE_SETTING, BlobStore
from spotify_exporter.stores.local import LocalFolderStore
from spotify_simulator import Faults, SpotifySimulator, build_account

Simulator = Callable[..., SpotifySimulator]


@pytest.fixture
def worm(worm_azurite: WormProxy, worm_container: str) -> Iterator[BlobStore]:
    """The exporter's store for the protected container; afterwards nothing in it was overwritten or refused."""
    refused_before = len(worm_azurite.refused)
    store = BlobStore.from_connection_string(worm_azurite.address.connection_string, worm_container)
    yield store
    store.close()
    assert worm_azurite.versions(worm_container) == [], "the exporter overwrote a file in the write-once container"
    assert worm_azurite.refused[refused_before:] == [], "Azure refused something the exporter asked"


def key_holder(worm_azurite: WormProxy, container: str) -> ContainerClient:
    """Someone with the storage account's key (a script gone wrong, a stolen key), with the plain SDK."""
    return ContainerClient.from_connection_string(worm_azurite.address.connection_string, container)


def error_code(error: HttpResponseError) -> str | None:
    """The ``x-ms-error-code`` header of Azure's answer."""
    response: Any = error.response
    return response.headers.get("x-ms-error-code") if response is not None else None


def export(sim: SpotifySimulator, store: SnapshotStore, env: Path, **options: Any) -> ExportResult:
    """An export that will not sit out a ban (a ``Retry-After`` above 0.5 s stops it as partial)."""
    return export_account(sim, store, env, sleep=NoSleep(), max_retry_after_s=0.5, **options)


def hashes(store: SnapshotStore, folder: str) -> dict[str, str]:
    """The files' SHA-256 of a snapshot, without those that differ between two runs by design."""
    per_run = {"changes.json", "json/playlists.jsonl.gz"}  # cover URLs are signed per answer
    return {n: e["sha256"] for n, e in read_manifest(store, folder)["files"].items() if n not in per_run}


# -- what Azure refuses, and what the exporter never asks ----------------------------------------


def test_a_snapshot_file_cannot_be_deleted_and_an_overwrite_keeps_what_was_written(
    simulator: Simulator, worm_azurite: WormProxy, worm_container: str, tmp_path: Path
) -> None:
    sim = simulator("tiny")
    store = BlobStore.from_connection_string(worm_azurite.address.connection_string, worm_container)
    result = export_account(sim, store, write_env_file(tmp_path / ".env", sim))
    assert result.status == "complete" and store.write_once  # seen on the container, no setting needed
    thief = key_holder(worm_azurite, worm_container)
    library = f"{result.folder}/library.csv"
    original = read_bytes(store, library)

    for attempt in (
        lambda: thief.delete_blob(library),
        lambda: thief.delete_blob(f"{result.folder}/manifest.json"),
        lambda: thief.get_blob_client(library).set_blob_metadata({"tampered": "yes"}),
    ):
        with pytest.raises(HttpResponseError) as refused:
            attempt()
        assert (refused.value.status_code, error_code(refused.value)) == (409, "BlobImmutableDueToPolicy")
        assert "This operation is not permitted as the blob is immutable due to a policy." in str(refused.value)
    with pytest.raises(HttpResponseError) as refused:
        thief.delete_container()
    assert error_code(refused.value) == "ContainerImmutableStorageWithVersioningEnabled"
    policy = thief.get_blob_client(library).get_blob_properties().immutability_policy
    assert policy.policy_mode == "unlocked" and policy.expiry_time is not None
    thief.get_blob_client(library).set_standard_blob_tier("Cool")  # what the lifecycle rule does: allowed

    # an overwrite is allowed, as in Azure, but only adds a version: the original stays, and the
    # snapshot's readers notice the current one no longer matches the manifest
    thief.upload_blob(library, b"nothing to see here\r\n", overwrite=True)
    (kept,) = worm_azurite.versions(worm_container, library)
    assert kept.data == original
    with pytest.raises(SnapshotError, match="does not match the SHA-256 in its manifest"):
        SnapshotReader.open(store, result.folder).read_bytes("library.csv")

    # the exporter itself never replaces a file: the same bytes are the same file, others are refused
    manifest = f"{result.folder}/manifest.json"
    with store.open_write(manifest) as stream:
        stream.write(read_bytes(store, manifest))
    with (
        pytest.raises(StoreError, match="already there, and the container is write-once"),
        store.open_write(manifest) as stream,
    ):
        stream.write(b"{}")
    assert json.loads(read_bytes(store, manifest))["status"] == "complete"

    with worm_azurite.later(timedelta(days=366)):  # the retention has passed
        thief.delete_blob(f"{result.folder}/albums.csv")
    store.close()


def test_export_incremental_list_diff_report_and_portable_work_in_the_write_once_container(
    simulator: Simulator, worm: BlobStore, worm_azurite: WormProxy, worm_container: str, tmp_path: Path
) -> None:
    sim = simulator("small")
    env = cli_env(sim, SNAPSHOT_BLOB_CONNECTION_STRING=worm_azurite.address.connection_string)
    args = ["--container", worm_container]
    first = run_cli(["export", *args], env, tmp_path)
    assert first.returncode == 0, first.stderr
    time.sleep(1.0)  # a new second: a new snapshot folder
    second = run_cli(["export", *args], env, tmp_path)
    assert second.returncode == 0, second.stderr

    older, newer = list_snapshots(worm).complete
    assert newer.manifest["incremental"] == {
        "base": older.folder,
        "playlists_reused": older.manifest["datasets"]["playlist_items"]["playlists_exported"]
        + older.manifest["datasets"]["playlist_items"]["playlists_forbidden"],
    }
    verify_snapshot(worm, newer.folder)
    assert_matches_truth(worm, newer.folder, {name: sim.expected_rows(name) for name in DATASETS})
    listed = run_cli(["list", *args], env, tmp_path)
    assert listed.returncode == 0 and older.stamp in listed.stdout and newer.stamp in listed.stdout, listed.stderr
    shown = run_cli(["diff", *args], env, tmp_path)
    assert shown.returncode == 0 and "No changes." in shown.stdout, shown.stderr
    report = run_cli(["report", *args, "--output", str(tmp_path / "report.html")], env, tmp_path)
    assert report.returncode == 0 and (tmp_path / "report.html").stat().st_size > 0, report.stderr
    portable = run_cli(["portable", "latest", *args, "--out", "out"], env, tmp_path)
    assert portable.returncode == 0 and any((tmp_path / "out" / "portable").iterdir()), portable.stderr


def test_the_setting_makes_a_store_write_once_before_the_container_says_so(
    monkeypatch: pytest.MonkeyPatch, azurite: Any, blob_container: str
) -> None:
    """``SNAPSHOT_WRITE_ONCE`` (set by infra with ``immutableDays``) holds from the first export on, even
    if the policy is not in place yet (or the identity may not read the container's properties)."""
    plain = BlobStore.from_connection_string(azurite.connection_string, blob_container)
    assert not plain.write_once and plain.journal_store() is plain
    monkeypatch.setenv(WRITE_ONCE_SETTING, "true")
    store = BlobStore.from_connection_string(azurite.connection_string, blob_container)
    assert store.write_once
    assert store.journal_store().location.endswith(f"/{blob_container}-journals")
    with store.open_write("a/file.txt") as stream:
        stream.write(b"first")
    with pytest.raises(StoreError, match="write-once"), store.open_write("a/file.txt") as stream:
        stream.write(b"second")
    assert read_bytes(store, "a/file.txt") == b"first"
    store.close()
    plain.close()


@pytest.mark.parametrize("size", [1000, 9 * 1024 * 1024])  # one Put Blob; blocks and a Put Block List
def test_an_upload_whose_answer_was_lost_is_retried_and_taken_as_the_same_file(
    worm: BlobStore, worm_azurite: WormProxy, size: int
) -> None:
    data = bytes(range(256)) * (size // 256)
    lost = worm_azurite.answers_lost
    worm_azurite.lose_answer("Put Blob" if size < 4 * 1024 * 1024 else "Put Block List", "/lost.bin")
    with worm.open_write("x/lost.bin") as stream:
        stream.write(data)  # landed; the SDK retried; the retry found the file there, with the same MD5
    assert worm_azurite.answers_lost == lost + 1
    assert read_bytes(worm, "x/lost.bin") == data


# -- resume: into a new folder -------------------------------------------------------------------


def test_a_banned_export_is_finished_in_a_new_folder_that_continues_the_partial_one(
    simulator: Simulator, worm: BlobStore, tmp_path: Path
) -> None:
    sim = simulator("demo")
    sim.faults = banned_after(0.4, sim)
    env = write_env_file(tmp_path / ".env", sim)
    partial = export(sim, worm, env)
    assert partial.status == "partial"
    wait_out_the_ban()

    result = export(sim, worm, env, resume=resume_latest(worm))

    assert (result.status, result.resumed) == ("complete", True) and result.folder > partial.folder
    manifest = verify_snapshot(worm, result.folder)
    assert manifest["continues"] == partial.folder and manifest["error"] is None
    assert [r["status"] for r in manifest["resumes"]] == ["complete"]
    assert manifest["requests"] == partial.manifest["requests"] + manifest["resumes"][0]["requests"]
    assert_matches_truth(worm, result.folder, {name: sim.expected_rows(name) for name in DATASETS})
    assert_csv_equals_json(worm, result.folder)
    assert_every_page_read_once(sim, runs=2)  # the partial folder's files were copied, not read again
    # the partial snapshot is as it was, and no longer the one to resume
    assert verify_snapshot(worm, partial.folder) == partial.manifest
    assert [(s.folder, s.complete) for s in list_snapshots(worm).finished] == [
        (partial.folder, False),
        (result.folder, True),
    ]
    with pytest.raises(NothingToResume, match="is complete: nothing to resume"):
        export(sim, worm, env, resume=resume_latest(worm))
    # byte for byte what an export without a ban writes
    sim.faults = Faults()
    fresh_store = LocalFolderStore(tmp_path / "fresh")
    fresh = export(sim, fresh_store, env)
    assert hashes(worm, result.folder) == hashes(fresh_store, fresh.folder)


def test_a_resume_banned_again_leaves_a_new_partial_folder_that_the_next_one_finishes(
    simulator: Simulator, worm: BlobStore, tmp_path: Path
) -> None:
    sim = simulator("small")
    sim.faults = banned_after(0.3, sim)
    env = write_env_file(tmp_path / ".env", sim)
    first = export(sim, worm, env)
    wait_out_the_ban()
    sim.faults = Faults(ban_after_requests=sim.requests_total + 10, ban_duration_s=BAN_S)

    again = export(sim, worm, env, resume=resume_latest(worm))
    assert again.status == "partial" and again.manifest["continues"] == first.folder
    verify_snapshot(worm, again.folder)
    wait_out_the_ban()
    done = export(sim, worm, env, resume=resume_latest(worm))

    assert done.status == "complete" and done.manifest["continues"] == again.folder
    assert [r["status"] for r in done.manifest["resumes"]] == ["partial", "complete"]
    assert_matches_truth(worm, done.folder, {name: sim.expected_rows(name) for name in DATASETS})
    assert_every_page_read_once(sim, runs=3)
    assert [s.complete for s in list_snapshots(worm).finished] == [False, False, True]


def test_export_resume_on_the_command_line_in_the_write_once_container(
    simulator: Simulator, worm: BlobStore, worm_azurite: WormProxy, worm_container: str, tmp_path: Path
) -> None:
    sim = simulator("small")
    sim.faults = banned_after(0.5, sim)
    env = cli_env(sim, SNAPSHOT_BLOB_CONNECTION_STRING=worm_azurite.address.connection_string)
    args = ["export", "--container", worm_container, "--max-retry-after", "0.5"]
    assert run_cli(args, env, tmp_path).returncode == 2
    wait_out_the_ban()

    resumed = run_cli([*args, "--resume"], env, tmp_path)

    assert resumed.returncode == 0, resumed.stderr
    partial, done = list_snapshots(worm).finished
    assert f"Snapshot complete (resumed): {worm.location}/{done.folder}" in resumed.stdout
    assert done.manifest["continues"] == partial.folder
    listed = run_cli(["list", "--container", worm_container], env, tmp_path).stdout.splitlines()
    assert listed[0].startswith(f"{partial.folder}  partial ") and "continues" not in listed[0]
    assert listed[1].startswith(f"{done.folder}  complete ") and listed[1].endswith(f"(continues {partial.folder})")


# -- restore journals ----------------------------------------------------------------------------


def test_a_restore_from_write_once_snapshots_journals_beside_them_and_resumes(
    simulator: Simulator, worm: BlobStore, worm_azurite: WormProxy, worm_container: str, tmp_path: Path
) -> None:
    sim = simulator("small")
    snapshot = export_account(sim, worm, write_env_file(tmp_path / "source.env", sim))
    target = SpotifySimulator(build_account("small", empty=True), faults=Faults(fail_writes_after=25)).start()
    try:
        config = settings_from_env({}, api_url=target.api_url, accounts_url=target.accounts_url)
        secrets = EnvironmentSecrets(environ={}, dotenv_path=write_env_file(tmp_path / "target.env", target))

        def restore() -> Any:
            client = connect(secrets, config, [], sleep=NoSleep())
            return run_restore(SnapshotReader.open(worm, snapshot.folder), client, Selection())

        with pytest.raises(ExporterError, match="run the same restore again"):
            restore()  # stopped half way: the journal was written, and rewritten, as it went
        target.fail_writes_after = None
        _, report = restore()
        assert report is not None
        again = LocalFolderStore(tmp_path / "restored")
        restored = export_account(target, again, tmp_path / "target.env")
        for dataset, column in (("library", "track_uri"), ("albums", "album_uri"), ("artists", "artist_uri")):
            before = read_csv(worm, f"{snapshot.folder}/{dataset}.csv")[1]
            after = read_csv(again, f"{restored.folder}/{dataset}.csv")[1]
            assert [r[column] for r in after] == [r[column] for r in before], dataset
    finally:
        target.stop()

    stamp = snapshot.folder.split("/")[1]
    journal = f"{snapshot.account_id}/restores/{stamp}-into-{target.account.me.id}.json"
    journals = BlobStore.from_connection_string(worm_azurite.address.connection_string, f"{worm_container}-journals")
    assert list(journals.list_files()) == [journal]
    assert not any("/restores/" in name for name in worm.list_files())
    journals.close()


def test_a_journal_left_beside_the_snapshots_is_carried_on_in_the_journals_container(
    worm: BlobStore, worm_azurite: WormProxy, worm_container: str
) -> None:
    """A restore begun before the container became write-once goes on where it stopped."""
    old = {"snapshot": "jane/2026-01-01T00-00-00Z", "target_account": "joe", "library": {"library": 40}}
    earlier = key_holder(worm_azurite, worm_container)
    earlier.create_container()
    earlier.upload_blob("jane/restores/2026-01-01T00-00-00Z-into-joe.json", json.dumps(old).encode())
    journal = Journal.open(worm, "jane/2026-01-01T00-00-00Z", "joe")
    assert journal.saved("library") == 40 and journal.store.location.endswith(f"/{worm_container}-journals")
    journal.set_saved("library", 80)
    journal.set_saved("library", 120)  # rewritten where rewriting is allowed
    assert Journal.open(worm, "jane/2026-01-01T00-00-00Z", "joe").saved("library") == 120


# -- the function app ----------------------------------------------------------------------------


@pytest.fixture
def worm_app(
    simulator: Simulator,
    keyvault: KeyVaultStandIn,
    worm_azurite_oauth: WormProxy,
    azurite_queue_oauth: Azurite,
    blob_container: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[AzureApp]:
    """The deployed app's world (``azure_app`` of test_function_app) with a write-once snapshot container:
    what `pulumi up` makes with ``immutableDays``, the app setting left out (the container says it)."""
    worm_azurite_oauth.protect(blob_container)
    scene = FunctionAppScene.prepare(
        simulator("small"),
        keyvault,
        worm_azurite_oauth.address,
        azurite_queue_oauth,
        blob_container,
        keyvault.credential(),
    )
    app = AzureApp.of(scene, monkeypatch)
    yield app
    app.close()
    assert worm_azurite_oauth.versions(blob_container) == [] and not [
        refusal for refusal in worm_azurite_oauth.refused if refusal[1].startswith(blob_container)
    ]


def test_the_app_resumes_a_ban_by_its_own_message_into_a_new_folder(worm_app: AzureApp) -> None:
    sim = worm_app.sim
    sim.faults = Faults(ban_after_requests=int(sim.minimal_requests() * 0.4), ban_duration_s=2.0)
    worm_app.setting("SPOTIFY_MAX_RETRY_AFTER_S", "0.5")
    worm_app.run_timer()
    host = worm_app.host()

    assert host.poll() == 1
    (partial,) = worm_app.manifests()
    assert partial["status"] == "partial"
    resume = worm_app.next_visible()
    assert resume.reason == "resume" and resume.snapshot is not None

    host.run_until(lambda: len(worm_app.manifests()) == 2, timeout_s=30)

    first, done = list_snapshots(worm_app.store).finished
    assert (first.folder, first.manifest) == (resume.snapshot, partial)  # as it was written
    assert done.complete and done.manifest["continues"] == resume.snapshot
    verify_snapshot(worm_app.store, done.folder)
    assert_matches_truth(worm_app.store, done.folder, {name: sim.users[0].expected_rows(name) for name in DATASETS})
    assert not worm_app.pending()
