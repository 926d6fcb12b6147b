"""The store contract, checked against a real folder and a real Blob endpoint (Azurite).

Every contract test runs against both stores, so a snapshot behaves the same
whether it is kept on disk or in Azure.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.storage.blob import (
    AccountSasPermissions,
    BlobServiceClient,
    ContainerSasPermissions,
    ResourceTypes,
    generate_account_sas,
    generate_container_sas,
)
from azurite import ACCOUNT_KEY, ACCOUNT_NAME, Azurite, free_port

from spotify_exporter.errors import ConfigError, StoreError
from spotify_exporter.stores import SnapshotStore
from spotify_exporter.stores.blob import BlobStore
from spotify_exporter.stores.local import LocalFolderStore

SNAPSHOT = "acct/2026-11-25T00-00-00Z"


class Boom(Exception):
    """Stands for anything that goes wrong while a file is being written."""


@pytest.fixture(params=["local", "blob"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SnapshotStore]:
    if request.param == "local":
        yield LocalFolderStore(tmp_path / "backups")
        return
    azurite: Azurite = request.getfixturevalue("azurite")
    blob = BlobStore.from_connection_string(azurite.connection_string, request.getfixturevalue("blob_container"))
    yield blob
    blob.close()


def write(store: SnapshotStore, path: str, data: bytes) -> None:
    with store.open_write(path) as stream:
        stream.write(data)


def read(store: SnapshotStore, path: str) -> bytes:
    with store.open_read(path) as stream:
        return stream.read()


# --- the contract, for both stores ------------------------------------------------------------


def test_is_a_snapshot_store(store: SnapshotStore) -> None:
    assert isinstance(store, SnapshotStore)


def test_written_bytes_read_back_equal(store: SnapshotStore) -> None:
    csv = "\ufeffadded_at,track_name\r\n2026-01-01,Björk — Jóga\r\n".encode()
    big = os.urandom(9 * 1024 * 1024)  # past the in-memory spool and the upload block size
    write(store, f"{SNAPSHOT}/library.csv", csv)
    write(store, f"{SNAPSHOT}/library.json.gz", big)
    write(store, f"{SNAPSHOT}/empty.csv", b"")

    assert read(store, f"{SNAPSHOT}/library.csv") == csv
    assert read(store, f"{SNAPSHOT}/library.json.gz") == big
    assert read(store, f"{SNAPSHOT}/empty.csv") == b""


def test_overwrite_replaces_the_whole_file(store: SnapshotStore) -> None:
    write(store, "acct/manifest.json", b"a much longer first version")
    write(store, "acct/manifest.json", b"short")

    assert read(store, "acct/manifest.json") == b"short"
    assert list(store.list_files("acct/")) == ["acct/manifest.json"]


def test_file_appears_only_when_the_writer_closes(store: SnapshotStore) -> None:
    with store.open_write(f"{SNAPSHOT}/manifest.json") as stream:
        stream.write(b"{}")
        assert list(store.list_files()) == []
        with pytest.raises(FileNotFoundError):
            read(store, f"{SNAPSHOT}/manifest.json")
    assert read(store, f"{SNAPSHOT}/manifest.json") == b"{}"


def test_failed_write_leaves_no_file_and_keeps_the_old_one(store: SnapshotStore) -> None:
    write(store, f"{SNAPSHOT}/library.csv", b"old complete file")

    with pytest.raises(Boom), store.open_write(f"{SNAPSHOT}/library.csv") as stream:
        stream.write(b"half of the new")
        raise Boom
    with pytest.raises(Boom), store.open_write(f"{SNAPSHOT}/manifest.json") as stream:
        stream.write(b"{")
        raise Boom

    assert read(store, f"{SNAPSHOT}/library.csv") == b"old complete file"
    assert list(store.list_files()) == [f"{SNAPSHOT}/library.csv"]


def test_closing_the_stream_early_still_writes_the_file(store: SnapshotStore) -> None:
    """Text wrappers close the stream they wrap; the file must still be kept."""
    with store.open_write(f"{SNAPSHOT}/artists.csv") as stream, io.TextIOWrapper(stream, encoding="utf-8") as text:
        text.write("artist_name\r\nSigur Rós\r\n")

    assert read(store, f"{SNAPSHOT}/artists.csv") == "artist_name\r\nSigur Rós\r\n".encode()


def test_list_files_by_prefix_sorted(store: SnapshotStore) -> None:
    paths = [
        "acct/2026-11-25T00-00-00Z/playlists.csv",
        "acct/2026-11-25T00-00-00Z/library.csv",
        "acct/2026-11-24T00-00-00Z/manifest.json",
        "acct/2026-11-24T00-00-00Z/library.csv",
        "acct2/2026-11-25T00-00-00Z/library.csv",
        "other/2026-11-25T00-00-00Z/library.csv",
    ]
    for path in paths:
        write(store, path, path.encode())

    assert list(store.list_files()) == sorted(paths)
    assert list(store.list_files("acct/")) == [
        "acct/2026-11-24T00-00-00Z/library.csv",
        "acct/2026-11-24T00-00-00Z/manifest.json",
        "acct/2026-11-25T00-00-00Z/library.csv",
        "acct/2026-11-25T00-00-00Z/playlists.csv",
    ]
    assert list(store.list_files("acct")) == sorted(p for p in paths if p.startswith("acct"))
    assert list(store.list_files("acct/2026-11-25T00-00-00Z/l")) == ["acct/2026-11-25T00-00-00Z/library.csv"]
    assert list(store.list_files("nobody/")) == []


def test_empty_store_lists_nothing_and_has_no_files(store: SnapshotStore) -> None:
    """A store that was never written to (no folder, no container yet) is simply empty."""
    assert list(store.list_files()) == []
    with pytest.raises(FileNotFoundError):
        read(store, f"{SNAPSHOT}/manifest.json")


def test_missing_file_raises_file_not_found(store: SnapshotStore) -> None:
    write(store, f"{SNAPSHOT}/library.csv", b"x")

    with pytest.raises(FileNotFoundError, match=r"manifest\.json"):
        read(store, f"{SNAPSHOT}/manifest.json")
    with pytest.raises(FileNotFoundError):
        read(store, SNAPSHOT)  # a folder is not a file


def test_non_ascii_names_round_trip(store: SnapshotStore) -> None:
    path = f"{SNAPSHOT}/café é 日本.csv"
    write(store, path, b"data")

    assert list(store.list_files(f"{SNAPSHOT}/caf")) == [path]
    assert read(store, path) == b"data"


@pytest.mark.parametrize("path", ["../outside.csv", "/etc/outside.csv", "acct/../../outside.csv", "acct//x.csv", ""])
def test_paths_that_escape_the_root_are_rejected(store: SnapshotStore, path: str) -> None:
    with pytest.raises(ValueError, match="relative POSIX keys"), store.open_write(path) as stream:
        stream.write(b"x")
    with pytest.raises(ValueError, match="relative POSIX keys"):
        read(store, path)


# --- local folder -----------------------------------------------------------------------------


def test_local_location_is_the_absolute_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = LocalFolderStore("backups")
    write(store, "acct/x.csv", b"x")

    assert store.location == str(tmp_path.resolve() / "backups")
    assert (tmp_path / "backups" / "acct" / "x.csv").read_bytes() == b"x"


def test_local_leaves_no_temp_files(tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path)
    write(store, f"{SNAPSHOT}/library.csv", b"ok")
    with pytest.raises(Boom), store.open_write(f"{SNAPSHOT}/playlists.csv") as stream:
        stream.write(b"partial")
        raise Boom

    on_disk = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert on_disk == [f"{SNAPSHOT}/library.csv"]


def test_local_never_lists_temp_files_left_by_a_crash(tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path)
    write(store, f"{SNAPSHOT}/library.csv", b"ok")
    (tmp_path / SNAPSHOT / ".manifest.json.0123456789abcdef.tmp").write_bytes(b"{")

    assert list(store.list_files()) == [f"{SNAPSHOT}/library.csv"]


def test_local_escaping_paths_write_nothing_outside(tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path / "backups")
    with pytest.raises(ValueError), store.open_write("../outside.csv") as stream:
        stream.write(b"x")

    assert list(tmp_path.rglob("*")) == []


def test_local_unwritable_root_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "backups").write_bytes(b"a file where the folder should be")
    store = LocalFolderStore(tmp_path / "backups")

    with pytest.raises(StoreError, match=r"could not write acct/x\.csv to the folder .*backups"):
        write(store, "acct/x.csv", b"x")


# --- blob container ---------------------------------------------------------------------------


def _blob_service(azurite: Azurite) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(azurite.connection_string)


def test_blob_location_is_the_container_url_without_the_key(azurite: Azurite, blob_container: str) -> None:
    store = BlobStore.from_connection_string(azurite.connection_string, blob_container)

    assert store.location == f"{azurite.blob_endpoint}/{blob_container}"
    assert ACCOUNT_KEY not in store.location
    store.close()


def test_blob_content_types_follow_the_extension(azurite: Azurite, blob_container: str) -> None:
    store = BlobStore.from_connection_string(azurite.connection_string, blob_container)
    for name in ("library.csv", "manifest.json", "library.json.gz"):
        write(store, f"{SNAPSHOT}/{name}", b"x")
    store.close()

    with _blob_service(azurite) as service:
        container = service.get_container_client(blob_container)
        types = {
            name: container.get_blob_client(f"{SNAPSHOT}/{name}").get_blob_properties().content_settings.content_type
            for name in ("library.csv", "manifest.json", "library.json.gz")
        }
    assert types == {
        "library.csv": "text/csv; charset=utf-8",
        "manifest.json": "application/json",
        "library.json.gz": "application/gzip",
    }


def _container_sas(blob_container: str, **permissions: bool) -> str:
    return generate_container_sas(
        ACCOUNT_NAME,
        blob_container,
        account_key=ACCOUNT_KEY,
        permission=ContainerSasPermissions(**permissions),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )


def test_blob_container_url_with_sas(azurite: Azurite, blob_container: str) -> None:
    """A container SAS cannot create the container; the store uses the existing one."""
    with _blob_service(azurite) as service:
        service.create_container(blob_container)
    sas = _container_sas(blob_container, read=True, write=True, create=True, add=True, list=True)

    store = BlobStore.from_url(f"{azurite.blob_endpoint}/{blob_container}?{sas}")
    write(store, f"{SNAPSHOT}/library.csv", b"via sas")

    assert read(store, f"{SNAPSHOT}/library.csv") == b"via sas"
    assert list(store.list_files("acct/")) == [f"{SNAPSHOT}/library.csv"]
    assert store.location == f"{azurite.blob_endpoint}/{blob_container}"
    assert "?" not in store.location
    assert "sig=" not in store.location
    store.close()


def test_blob_account_url_with_sas_creates_the_container(azurite: Azurite, blob_container: str) -> None:
    sas = generate_account_sas(
        ACCOUNT_NAME,
        ACCOUNT_KEY,
        resource_types=ResourceTypes(container=True, object=True),
        permission=AccountSasPermissions(read=True, write=True, create=True, list=True, add=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    store = BlobStore.from_url(f"{azurite.blob_endpoint}?{sas}", container=blob_container)
    write(store, "acct/x.csv", b"x")

    assert read(store, "acct/x.csv") == b"x"
    assert store.location == f"{azurite.blob_endpoint}/{blob_container}"
    store.close()


def test_blob_denied_write_is_a_store_error_without_the_sas(azurite: Azurite, blob_container: str) -> None:
    with _blob_service(azurite) as service:
        service.create_container(blob_container)
    sas = _container_sas(blob_container, read=True, list=True)
    store = BlobStore.from_url(f"{azurite.blob_endpoint}/{blob_container}?{sas}")

    with pytest.raises(StoreError) as caught:
        write(store, f"{SNAPSHOT}/library.csv", b"x")

    message = str(caught.value)
    assert message.startswith(f"could not write {SNAPSHOT}/library.csv to container '{blob_container}'")
    assert "HTTP 403 Authorization" in message  # the service error code, readable
    assert "\n" not in message
    assert sas not in message
    assert "sig=" not in message
    store.close()


def test_blob_dead_endpoint_fails_fast_without_secrets(azurite: Azurite) -> None:
    port = free_port()  # nothing listens there
    connection_string = azurite.connection_string.replace(str(azurite.port), str(port))
    store = BlobStore.from_connection_string(connection_string, "spotify", retries=0)

    started = time.monotonic()
    errors: list[StoreError] = []
    for attempt in (
        lambda: write(store, f"{SNAPSHOT}/library.csv", b"x"),
        lambda: read(store, f"{SNAPSHOT}/library.csv"),
        lambda: list(store.list_files()),
    ):
        with pytest.raises(StoreError) as caught:
            attempt()
        errors.append(caught.value)

    assert time.monotonic() - started < 10
    for error in errors:
        message = str(error)
        assert "could not connect" in message
        assert f"at http://127.0.0.1:{port}/{ACCOUNT_NAME}" in message
        assert ACCOUNT_KEY not in message
        assert "\n" not in message
    assert ACCOUNT_KEY not in store.location
    store.close()


def test_blob_url_must_name_a_container(azurite: Azurite) -> None:
    with pytest.raises(ConfigError, match="container name"):
        BlobStore.from_url(azurite.blob_endpoint, credential=None)
    with pytest.raises(ConfigError, match="names the container 'a-one' but the container 'b-two'"):
        BlobStore.from_url("https://acct.blob.core.windows.net/a-one", container="b-two")
    with pytest.raises(ConfigError, match="not a valid blob container name"):
        BlobStore.from_url("https://acct.blob.core.windows.net", container="My_Backups")


def test_blob_production_urls_are_understood() -> None:
    """Container and account URLs give the same store; no network is used to build one."""
    by_container = BlobStore.from_url("https://acct.blob.core.windows.net/spotify/")
    by_account = BlobStore.from_url("https://acct.blob.core.windows.net", container="spotify")

    assert by_container.location == by_account.location == "https://acct.blob.core.windows.net/spotify"
    assert by_container.container_name == "spotify"
    by_container.close()
    by_account.close()
