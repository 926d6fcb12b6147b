"""Snapshots in an Azure Blob Storage container.

A blob is uploaded only when its writer closes cleanly, and a block blob upload
is all-or-nothing, so readers never see a half-written file. Data passes
through spooled temp files so that memory stays bounded for large files.
Error messages name the container but never a key, SAS token or access token.

**Write-once containers.** A container with an immutability policy (``spotify-exporter:immutableDays``,
`infra/storage.py`) keeps every blob version for the policy's days: Azure refuses to delete it (409
``BlobImmutableDueToPolicy``) and turns an overwrite into a new version, the old one kept. The store
then writes each file exactly once: the upload carries ``If-None-Match: *`` (Azure answers 409
``BlobAlreadyExists`` instead of overwriting) and the content's MD5, so an upload the SDK retried
after its first attempt had landed is recognised as the same file, not as a conflict. The store
knows from the container's properties (version-level immutability, a policy or a legal hold) or
from ``SNAPSHOT_WRITE_ONCE``; what the exporter rewrites (restore journals) goes to
:meth:`BlobStore.journal_store`, the container ``<container>-journals``, and a resume finishes a
partial snapshot in a new folder (`resume.py`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any, BinaryIO, cast
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.storage.blob import ContainerClient, ContentSettings, ExponentialRetry

from ..errors import ConfigError, StoreError
from .blob_errors import WRITE_ONCE_SETTING, describe, error_code, redact

log = logging.getLogger("spotify_exporter")

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

#: files larger than this go to disk while being written or read
SPOOL_MAX_BYTES = 8 * 1024 * 1024
#: upload/download in blocks of this size, so the SDK never holds a whole large file in memory
BLOCK_BYTES = 4 * 1024 * 1024
#: retries after the first attempt, about 3 s, 5 s and 9 s apart: a refused connection fails in
#: about 15 s, an unreachable host (4 connect timeouts) in about 35 s
DEFAULT_RETRIES = 3
CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 60

CONTENT_TYPES = {
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
    ".gz": "application/gzip",
    ".xspf": "application/xspf+xml",  # IANA-registered for XSPF
    ".jspf": "application/json",
    ".jpg": "image/jpeg",
}
DEFAULT_CONTENT_TYPE = "application/octet-stream"

#: restore journals of a write-once container go to the container named like it plus this
JOURNAL_CONTAINER_SUFFIX = "-journals"

_CONTAINER_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$|^\$(root|web|logs)$")


class _UploadBuffer(tempfile.SpooledTemporaryFile[bytes]):
    """A spooled buffer whose ``close()`` only flushes.

    Wrappers such as ``io.TextIOWrapper`` close the stream they wrap; the bytes
    must survive that until they are uploaded, so the real close is ours.
    """

    def close(self) -> None:
        self.flush()

    def really_close(self) -> None:
        super().close()


class BlobStore:
    """A :class:`~spotify_exporter.stores.SnapshotStore` in one blob container."""

    def __init__(
        self,
        container: ContainerClient,
        *,
        secrets: tuple[str, ...] = (),
        write_once: bool | None = None,
        retries: int = DEFAULT_RETRIES,
    ) -> None:
        """Prefer :meth:`from_url` or :meth:`from_connection_string`; ``secrets`` are scrubbed from errors.

        ``write_once``: never replace a file (None: ask the container, once, when it first matters)."""
        self._container = container
        self._secrets = tuple(s for s in secrets if s)
        self._container_ready = False
        self._write_once = write_once
        self._retries = retries
        parts = urlsplit(container.url)
        # no query (a SAS) and no user info: location is printed and logged
        host = parts.netloc.rpartition("@")[2]
        self._location = urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))
        self._account_url = self._location.rsplit("/", 1)[0]

    @classmethod
    def from_url(
        cls,
        url: str,
        container: str | None = None,
        credential: TokenCredential | None = None,
        *,
        default_container: str | None = None,
        retries: int = DEFAULT_RETRIES,
        write_once: bool | None = None,
    ) -> BlobStore:
        """A store from an account URL plus ``container``, or from a container URL (optionally with a SAS).

        ``default_container`` is used for an account URL when ``container`` is not given.

        Without a SAS and without ``credential``, ``DefaultAzureCredential`` is used (a managed
        identity in Azure, ``az login`` on a workstation).
        """
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"the storage URL must look like https://<account>.blob.core.windows.net, not {url!r}")
        segments = [unquote(s) for s in parts.path.split("/") if s]
        # Azurite and other emulators put the account in the path: http://127.0.0.1:10000/devstoreaccount1
        account_segments = 1 if _is_path_style(parts.hostname) else 0
        if len(segments) == account_segments + 1:
            url_container = segments[-1]
            if container is not None and container != url_container:
                raise ConfigError(
                    f"the storage URL names the container {url_container!r} but the container "
                    f"{container!r} was also given; give only one"
                )
            container = url_container
            segments = segments[:-1]
        elif len(segments) != account_segments:
            raise ConfigError(f"the storage URL must point at an account or a container, not a blob: {redact(url)}")
        container = container or default_container
        if container is None:
            raise ConfigError(f"give the blob container name to use at {redact(url)}")
        _check_container_name(container)
        account_url = urlunsplit((parts.scheme, parts.netloc, "/".join(["", *segments]), parts.query, ""))
        has_sas = "sig" in parse_qs(parts.query)
        if parts.scheme != "https" and not has_sas:
            raise ConfigError(
                f"signing in to {parts.scheme}://{parts.netloc} needs https; for a local emulator "
                "use a connection string or a URL with a SAS token"
            )
        if credential is None and not has_sas:
            from azure.identity import DefaultAzureCredential  # slow import; only when needed

            credential = DefaultAzureCredential()
        client = ContainerClient(
            account_url, container, credential=None if has_sas else credential, **_client_options(retries)
        )
        return cls(client, secrets=(parts.query,), write_once=write_once, retries=retries)

    @classmethod
    def from_connection_string(
        cls,
        connection_string: str,
        container: str,
        *,
        retries: int = DEFAULT_RETRIES,
        write_once: bool | None = None,
    ) -> BlobStore:
        """A store from a storage connection string (Azurite, or an account key or SAS)."""
        _check_container_name(container)
        try:
            client = ContainerClient.from_connection_string(connection_string, container, **_client_options(retries))
        except ValueError as exc:
            raise ConfigError(
                "the storage connection string is malformed; copy it again from the storage account's Access keys page"
            ) from exc
        secrets = tuple(
            value
            for key, _, value in (item.partition("=") for item in connection_string.split(";"))
            if key.strip().lower() in ("accountkey", "sharedaccesssignature")
        )
        return cls(client, secrets=secrets, write_once=write_once, retries=retries)

    def __repr__(self) -> str:
        return f"BlobStore({self._location!r})"

    @property
    def location(self) -> str:
        """The container URL, without any SAS token."""
        return self._location

    @property
    def container_name(self) -> str:
        return str(self._container.container_name)

    def close(self) -> None:
        """Close the HTTP connections."""
        self._container.close()

    @property
    def write_once(self) -> bool:
        """Whether every file is written once and never replaced: the container is immutable, or the
        environment says so (``SNAPSHOT_WRITE_ONCE=true``, which infra sets with ``immutableDays``)."""
        if self._write_once is None:
            forced = os.environ.get(WRITE_ONCE_SETTING, "").strip().lower() in ("1", "true", "yes")
            self._write_once = forced or self._container_is_immutable()
        return self._write_once

    def journal_store(self) -> BlobStore:
        """Where files that are rewritten as work goes on (restore journals) are kept: this container,
        or, when it is write-once, the container beside it named ``<container>-journals``."""
        if not self.write_once:
            return self
        parts = urlsplit(self._container.url)
        path = parts.path.rstrip("/").rsplit("/", 1)[0] + "/" + journal_container_name(self.container_name)
        client = ContainerClient.from_container_url(
            urlunsplit((parts.scheme, parts.netloc, path, parts.query, "")),
            credential=None if "sig=" in parts.query else self._container.credential,
            **_client_options(self._retries),
        )
        return BlobStore(client, secrets=self._secrets, write_once=False, retries=self._retries)

    @contextmanager
    def open_write(self, path: str) -> Iterator[BinaryIO]:
        """Collect the bytes in a spooled temp file; upload them in blocks only on a clean exit."""
        _check_path(path)
        buffer = _UploadBuffer(max_size=SPOOL_MAX_BYTES)
        try:
            yield cast(BinaryIO, buffer)
            buffer.flush()
            size = buffer.tell()
            with self._errors("write", path):
                self._ensure_container()
                if self.write_once:
                    self._upload_once(path, buffer, size)
                else:
                    buffer.seek(0)
                    self._container.upload_blob(
                        path,
                        buffer,
                        length=size,
                        overwrite=True,
                        content_settings=ContentSettings(content_type=content_type(path)),
                    )
        finally:
            buffer.really_close()

    def _upload_once(self, path: str, buffer: IO[bytes], size: int) -> None:
        """Create ``path``, never replace it: ``If-None-Match: *`` and the content's MD5, by which an
        upload that already landed (the SDK retried after a lost answer) is told from another file."""
        buffer.seek(0)
        digest = hashlib.md5(usedforsecurity=False)
        while chunk := buffer.read(BLOCK_BYTES):
            digest.update(chunk)
        buffer.seek(0)
        settings = ContentSettings(content_type=content_type(path), content_md5=bytearray(digest.digest()))
        try:
            self._container.upload_blob(path, buffer, length=size, overwrite=False, content_settings=settings)
        except ResourceExistsError:
            existing = self._container.get_blob_client(path).get_blob_properties()
            stored = existing.content_settings.content_md5
            if existing.size == size and stored is not None and bytes(stored) == digest.digest():
                return  # the same bytes: written once already
            raise StoreError(
                redact(
                    f"could not write {path} to container '{self.container_name}' at {self._account_url}: a "
                    "different file of that name is already there, and the container is write-once (an "
                    "immutability policy keeps every file as first written); nothing was replaced",
                    self._secrets,
                )
            ) from None

    def _container_is_immutable(self) -> bool:
        """Whether the container has version-level immutability, an immutability policy or a legal hold.
        A container that does not exist yet is not; properties this identity may not read say nothing
        (``SNAPSHOT_WRITE_ONCE`` decides then)."""
        what = "the container's properties"
        try:
            properties = self._container.get_container_properties()
        except ResourceNotFoundError:
            return False
        except HttpResponseError as exc:
            if exc.status_code != 403:
                raise self._store_error("read", what, exc) from None
            log.info(
                "the properties of container %s are not readable here: not taken as write-once", self.container_name
            )
            return False
        except AzureError as exc:
            raise self._store_error("read", what, exc) from None
        return bool(
            properties.immutable_storage_with_versioning_enabled
            or properties.has_immutability_policy
            or properties.has_legal_hold
        )

    @contextmanager
    def open_read(self, path: str) -> Iterator[BinaryIO]:
        """Download the blob into a spooled temp file, then hand it over; ``FileNotFoundError`` if missing."""
        _check_path(path)
        buffer = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_BYTES)  # noqa: SIM115 (closed below)
        try:
            try:
                with self._errors("read", path):
                    self._container.download_blob(path).readinto(buffer)
            except ResourceNotFoundError:
                raise FileNotFoundError(f"{path} does not exist in {self._location}") from None
            buffer.seek(0)
            yield cast(BinaryIO, buffer)
        finally:
            buffer.close()

    def list_files(self, prefix: str = "") -> Iterator[str]:
        """Blob names starting with ``prefix``, sorted; a container that does not exist yet is empty."""
        try:
            with self._errors("list", prefix or "the files"):
                names = list(self._container.list_blob_names(name_starts_with=prefix or None))
        except ResourceNotFoundError:
            return iter(())
        return iter(sorted(names))

    def _ensure_container(self) -> None:
        """Create the container on the first write; a writer with data-only rights can still use an existing one."""
        if self._container_ready:
            return
        try:
            self._container.create_container()
        except ResourceExistsError:
            pass
        except HttpResponseError as exc:
            # 403: the identity may write blobs but not create containers (RBAC or container SAS);
            # the upload that follows tells whether the container is really there
            if exc.status_code != 403:
                raise
        self._container_ready = True

    @contextmanager
    def _errors(self, action: str, path: str) -> Iterator[None]:
        """Turn SDK errors into one-line, secret-free StoreErrors; missing blobs pass through."""
        try:
            yield
        except ResourceNotFoundError as exc:
            if action in ("read", "list") and error_code(exc) in ("BlobNotFound", "ContainerNotFound", ""):
                raise
            raise self._store_error(action, path, exc) from None
        except AzureError as exc:
            # "from None": SDK messages and tracebacks can carry request URLs, SAS tokens included
            raise self._store_error(action, path, exc) from None

    def _store_error(self, action: str, path: str, exc: AzureError) -> StoreError:
        reason, hint = describe(exc)
        preposition = {"write": "to", "read": "from", "list": "in"}[action]
        message = (
            f"could not {action} {path} {preposition} container '{self.container_name}' "
            f"at {self._account_url}: {reason}; {hint}"
        )
        return StoreError(redact(message, self._secrets))


def journal_container_name(container: str) -> str:
    """Where the restore journals of a write-once ``container`` are kept (rewritten as a restore goes on)."""
    name = f"{container}{JOURNAL_CONTAINER_SUFFIX}"
    _check_container_name(name)
    return name


def content_type(path: str) -> str:
    """The Content-Type for a file, so browsers and the portal show CSVs and JSON sensibly."""
    name = path.rsplit("/", 1)[-1]
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return CONTENT_TYPES.get(suffix, DEFAULT_CONTENT_TYPE)


def _client_options(retries: int) -> dict[str, Any]:
    return {
        "connection_timeout": CONNECT_TIMEOUT_S,
        "read_timeout": READ_TIMEOUT_S,
        # the SDK default waits about 18 s, 24 s and 42 s between attempts: too long for a dead endpoint
        "retry_policy": ExponentialRetry(
            initial_backoff=1, increment_base=2, retry_total=retries, random_jitter_range=1
        ),
        "max_single_put_size": BLOCK_BYTES,
        "max_block_size": BLOCK_BYTES,
        "max_single_get_size": BLOCK_BYTES,
        "max_chunk_get_size": BLOCK_BYTES,
    }


def _is_path_style(host: str) -> bool:
    """Emulators (IP addresses, ``localhost``, docker service names) carry the account in the URL path."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return "." not in host
    return True


def _check_container_name(name: str) -> None:
    if not _CONTAINER_NAME.match(name):
        raise ConfigError(
            f"{name!r} is not a valid blob container name: use 3-63 lowercase letters, digits and "
            "single hyphens, starting and ending with a letter or digit"
        )


def _check_path(path: str) -> None:
    # the same rule as the local store, so a snapshot can move between the two
    if "\\" in path or any(part in ("", ".", "..") for part in path.split("/")):
        raise ValueError(f"store paths are relative POSIX keys without '..', '.' or empty parts, not {path!r}")


__all__ = ["WRITE_ONCE_SETTING", "BlobStore", "content_type", "journal_container_name"]
