"""Files on this machine: odd ids that become paths, private snapshot files, no links followed
inside the backup folder, no temp files left by killed writers."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from dotenv import dotenv_values
from exporter_fixtures import export_account, write_env_file
from snapshot_checks import verify_snapshot

from spotify_exporter.credentials import REFRESH_TOKEN, EnvironmentSecrets, write_dotenv
from spotify_exporter.diff import diff_snapshots
from spotify_exporter.errors import StoreError
from spotify_exporter.history import SnapshotReader, latest_complete, list_snapshots, single_account
from spotify_exporter.stores.local import LocalFolderStore
from spotify_simulator import Account, SpotifySimulator, build_account

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, under which a plain ``open()`` makes world-readable files."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def with_user_id(account: Account, user_id: str) -> Account:
    account.users[0] = replace(account.users[0], id=user_id)
    return account


def with_playlist_ids(account: Account, new_ids: list[str]) -> list[str]:
    """Give the account's own playlists with a custom cover the ``new_ids`` (as many as there are)."""
    owned = [p for p in account.playlists if p.owner == 0 and p.cover is not None]
    assert len(owned) >= 1
    renamed = []
    for playlist, new_id in zip(owned, new_ids, strict=False):
        account.world.pop(playlist.id, None)
        playlist.id = new_id
        account.world[new_id] = playlist
        renamed.append(new_id)
    return renamed


def folders_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir()}


@pytest.mark.parametrize("user_id", ["..", "/x", "a/b", "nul\x00l", "back\\slash", "u" * 240, "NUL", ".hidden"])
def test_an_odd_account_id_gets_one_safe_folder_that_list_diff_and_reuse_keep_seeing(
    tmp_path: Path, user_id: str
) -> None:
    root = tmp_path / "backups"
    store = LocalFolderStore(root)
    with SpotifySimulator(with_user_id(build_account("tiny"), user_id)) as sim:
        env_file = write_env_file(tmp_path / ".env", sim)
        first = export_account(sim, store, env_file)
        second = export_account(sim, store, env_file)

    assert first.status == second.status == "complete"
    account_folder = first.folder.partition("/")[0]
    assert [p.name for p in root.iterdir()] == [account_folder], "one folder, right under the backup folder"
    assert {p.parent for p in root.rglob("manifest.json")} == {root / first.folder, root / second.folder}
    assert all(p.is_relative_to(root) for p in tmp_path.rglob("*.csv")), "nothing written outside the backup folder"
    listing = list_snapshots(store)
    assert [s.folder for s in listing.finished] == [first.folder, second.folder]
    assert listing.unfinished == []
    assert {s.account_id for s in listing.finished} == {user_id}
    assert single_account(listing, store)[-1].folder == second.folder
    latest = latest_complete(store, user_id)
    assert latest is not None and latest.folder == second.folder
    assert second.manifest["incremental"]["base"] == first.folder
    assert second.manifest["incremental"]["playlists_reused"] > 0
    document = diff_snapshots(SnapshotReader(store, listing.finished[0]), SnapshotReader(store, listing.finished[1]))
    assert document["account_id"] == user_id and document["not_compared"] == []


def test_odd_playlist_ids_keep_their_covers_in_safe_unique_files(tmp_path: Path) -> None:
    account = build_account("small")
    odd = with_playlist_ids(account, ["a/../b", "a\\b", "x\x00y", "p" * 230, "P" * 230])
    store = LocalFolderStore(tmp_path / "backups")
    with SpotifySimulator(account) as sim:
        env_file = write_env_file(tmp_path / ".env", sim)
        result = export_account(sim, store, env_file)
        again = export_account(sim, store, env_file)

    assert result.status == again.status == "complete", result.manifest["warnings"]
    manifest = verify_snapshot(store, result.folder)
    covers = manifest["covers"]
    assert set(odd) <= set(covers)
    names = [covers[playlist_id] for playlist_id in odd]
    assert len(set(names)) == len(names)
    folder = tmp_path / "backups" / result.folder
    assert folders_under(folder) == {"json", "covers", "portable"}, "no id nested a folder"
    for name in names:
        assert (folder / name).is_file() and (folder / name).parent == folder / "covers"
        assert len((folder / name).name) <= 124
    assert again.manifest["incremental"]["playlists_reused"] >= len(odd)


def test_snapshot_files_are_readable_by_their_owner_only(tmp_path: Path, umask_022: None) -> None:
    root = tmp_path / "backups"
    with SpotifySimulator(build_account("tiny")) as sim:
        result = export_account(sim, LocalFolderStore(root), write_env_file(tmp_path / ".env", sim))
    assert result.status == "complete"
    paths = [root, *root.rglob("*")]
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in paths if p.is_file()} == {oct(0o600)}
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in paths if p.is_dir()} == {oct(0o700)}


def test_a_linked_account_folder_inside_backups_is_not_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root = tmp_path / "backups"
    root.mkdir()
    with SpotifySimulator(build_account("tiny")) as sim:
        (root / sim.account.me.id).symlink_to(elsewhere, target_is_directory=True)
        with pytest.raises(StoreError, match="is a symbolic link, and links inside the backup folder are not followed"):
            export_account(sim, LocalFolderStore(root), write_env_file(tmp_path / ".env", sim))
    assert list(elsewhere.iterdir()) == []
    assert list_snapshots(LocalFolderStore(root)).finished == []


def test_a_linked_file_inside_a_snapshot_is_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("private")
    store = LocalFolderStore(tmp_path / "backups")
    with store.open_write("jane/2026-01-01T00-00-00Z/library.csv") as stream:
        stream.write(b"x")
    link = tmp_path / "backups" / "jane" / "2026-01-01T00-00-00Z" / "manifest.json"
    link.symlink_to(secret)
    with pytest.raises(StoreError, match="symbolic link"), store.open_read("jane/2026-01-01T00-00-00Z/manifest.json"):
        pass


def test_a_killed_writer_leaves_no_temp_file_after_the_next_write(tmp_path: Path) -> None:
    """SIGKILL a process mid-write into the store (a restore saving its journal); the next write into
    that folder removes what it left once it is old enough to be surely dead, and lists never show it."""
    root = tmp_path / "backups"
    key = "jane/restores/2026-01-01T00-00-00Z-into-joe.json"
    store = LocalFolderStore(root)
    with store.open_write(key) as stream:
        stream.write(b'{"old": true}')
    code = textwrap.dedent(
        f"""
        from spotify_exporter.stores.local import LocalFolderStore
        with LocalFolderStore({str(root)!r}).open_write({key!r}) as stream:
            stream.write(b"{{" * (1 << 20))
            stream.flush()
            print("go", flush=True)
            input()
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "functions")}
    process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    assert process.stdout is not None
    assert process.stdout.readline() == b"go\n"
    process.kill()
    process.wait()
    folder = root / "jane" / "restores"
    leftovers = [p for p in folder.iterdir() if p.name != Path(key).name]
    assert leftovers, "the killed writer left its temp file"
    assert list(store.list_files("jane/")) == [key]
    for leftover in leftovers:
        os.utime(leftover, (0, 0))
    with LocalFolderStore(root).open_write(key) as stream:
        stream.write(b'{"new": true}')
    assert [p.name for p in folder.iterdir()] == [Path(key).name]
    with store.open_read(key) as stream:
        assert stream.read() == b'{"new": true}'


# -- .env: one writer ---------------------------------------------------------------------------

HOSTILE_VALUES = [
    "plain-token_0123456789",
    "line one\nSPOTIFY_CLIENT_ID=injected",
    'it\'s "quoted"',
    "back\\slash\\",
    "\\'",
    "# not a comment",
    " spaced ",
    "tab\there",
    "ünïcødé €",
    "$HOME and $(id)",
]


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_a_value_written_to_dotenv_reads_back_exactly_and_adds_no_key(tmp_path: Path, value: str) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("# mine\nOTHER=keep me\n")
    write_dotenv(env_file, {REFRESH_TOKEN: value})
    stored = dotenv_values(env_file)
    assert stored == {"OTHER": "keep me", REFRESH_TOKEN: value}
    assert env_file.read_text().startswith("# mine\nOTHER=keep me\n")


def test_the_rotated_token_is_saved_whole_and_the_rest_of_the_file_is_kept(tmp_path: Path) -> None:
    real = tmp_path / "secrets" / "spotify.env"
    real.parent.mkdir()
    real.write_bytes(
        b"# settings\r\nexport SPOTIFY_CLIENT_ID=abc\r\nSPOTIFY_REFRESH_TOKEN=old\r\nEMPTY=\r\n"
        b"SPOTIFY_REFRESH_TOKEN=older-duplicate\r\nMULTI='a\nb'\r\nlast line without end"
    )
    real.chmod(0o644)
    link = tmp_path / ".env"
    link.symlink_to(real)
    write_dotenv(link, {"SPOTIFY_CLIENT_SECRET": "s3cret-value"})
    secrets = EnvironmentSecrets(environ={}, dotenv_path=link)
    assert secrets.load().refresh_token == "older-duplicate", "python-dotenv reads the last one"

    assert secrets.save_refresh_token("new\nSPOTIFY_CLIENT_ID=evil") is None
    assert link.is_symlink() and stat.S_IMODE(real.stat().st_mode) == 0o600
    text = real.read_bytes()
    assert text.startswith(b"# settings\r\nexport SPOTIFY_CLIENT_ID=abc\r\n")
    assert b"older-duplicate" not in text and b"last line without end\n" in text
    stored = dotenv_values(link)
    assert stored["SPOTIFY_CLIENT_ID"] == "abc"
    assert stored[REFRESH_TOKEN] == "new\nSPOTIFY_CLIENT_ID=evil"
    assert stored["MULTI"] == "a\nb" and stored["SPOTIFY_CLIENT_SECRET"] == "s3cret-value"
    assert secrets.load().refresh_token == "new\nSPOTIFY_CLIENT_ID=evil"
    assert [p.name for p in real.parent.iterdir()] == ["spotify.env"], "no temp file left"


def test_a_value_dotenv_cannot_give_back_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("SPOTIFY_CLIENT_ID=id\nSPOTIFY_CLIENT_SECRET=secret\nSPOTIFY_REFRESH_TOKEN=old\n")
    before = env_file.read_text()
    for value in ("carriage\rreturn", "${HOME}"):
        with pytest.raises(ValueError, match="cannot keep"):
            write_dotenv(env_file, {"A": "2", REFRESH_TOKEN: value})
        assert env_file.read_text() == before
    secrets = EnvironmentSecrets(environ={}, dotenv_path=env_file)
    secrets.load()
    warning = secrets.save_refresh_token("bad\rtoken")
    assert warning is not None and f"could not be saved to {env_file}" in warning and "make auth" in warning
    assert env_file.read_text() == before
