"""One export at a time for the whole app: a lease on a blob.

Every account of a household uses the same Spotify app, so they share its client id and one
rate limit: two exports at once would each keep to the pace (150 requests per 30 s) and
together break it, and Spotify answers that with bans of hours. The queue trigger is set to
one message at a time (``host.json``: ``batchSize`` 1, ``newBatchThreshold`` 0) and the app to
one instance, but Microsoft documents that this "eliminates concurrency only as long as your
function app runs on a single virtual machine" (host.json reference for queues), and Flex
Consumption drains an old instance for up to 60 minutes while a new one starts (event-driven
scaling, "Scale-in behaviors"). So the guarantee is this lock, which holds across instances:
an export runs only while it holds a lease on one blob. A run that finds it taken puts its
message back on the queue with a short delay (see ``scheduled.py``), so the platform's own
retry count and poison queue stay for real failures.

A lease lasts at most 60 s unless renewed (Blob service: "Lease Blob", 15 to 60 seconds or
infinite); the holder renews it every 20 s from a background thread, so a run that dies frees
the lock within a minute.

The blob holds one thing: when the last holder sent its requests of the last 30 s (UTC epoch
seconds). Spotify's pacing window belongs to the app, not to one run, so the next export starts
with those in its window: five accounts exported back to back still make at most the
configured number of requests in any 30 s.

``export --resume`` on this machine takes an ``flock`` on a file in the backup folder instead,
so two resumes of one folder never run at once.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError, ResourceNotFoundError

from .errors import ExporterError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.storage.blob import BlobClient, BlobLeaseClient

log = logging.getLogger("spotify_exporter")

LEASE_S = 60
RENEW_EVERY_S = 20.0
LOCAL_LOCK_FILE = ".spotify-exporter.lock"


class LockBusy(ExporterError):
    """Another export holds the lock right now."""


@dataclass
class HeldLock:
    """The lock while it is held: the pacing window the previous holder left, and a way to leave one."""

    #: how long ago (seconds) the previous holder sent each request of its last 30 s
    earlier_request_ages: list[float] = field(default_factory=list)
    _write: Callable[[bytes], None] = lambda data: None

    def leave_request_ages(self, ages: Sequence[float], now: float | None = None) -> None:
        """Record this run's requests of the pacing window for the next holder (best effort)."""
        moment = time.time() if now is None else now
        try:
            # rounded up to the millisecond: a request never looks older to the next run than it is
            sent = sorted(math.ceil((moment - age) * 1000) / 1000 for age in ages)
            self._write(json.dumps({"requests": sent}).encode())
        except AzureError as error:
            log.warning("the pacing window could not be kept in the export lock (%s)", type(error).__name__)


class ExportLock:
    """A lease on ``blob``: :meth:`hold` while exporting; :class:`LockBusy` when another run has it."""

    def __init__(self, blob: BlobClient, lease_s: int = LEASE_S, renew_every_s: float = RENEW_EVERY_S) -> None:
        self._blob = blob
        self._lease_s = lease_s
        self._renew_every_s = renew_every_s

    @classmethod
    def from_url(cls, blob_url: str, credential: TokenCredential | None = None) -> ExportLock:
        """The lock blob at ``https://ACCOUNT.blob.core.windows.net/CONTAINER/NAME``, signed in by identity."""
        from azure.storage.blob import BlobClient

        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        return cls(BlobClient.from_blob_url(blob_url, credential=credential))

    @property
    def location(self) -> str:
        return str(self._blob.url).split("?", 1)[0]

    @contextmanager
    def hold(self) -> Iterator[HeldLock]:
        lease = self._acquire()
        stop = threading.Event()
        keeper = threading.Thread(target=self._keep, args=(lease, stop), name="export-lock", daemon=True)
        keeper.start()
        try:

            def write(data: bytes) -> None:
                self._blob.upload_blob(data, overwrite=True, lease=lease)

            yield HeldLock(self._request_ages(), write)
        finally:
            stop.set()
            keeper.join()
            try:
                lease.release()
            except AzureError as error:  # it frees itself when the lease runs out
                log.warning("could not release the export lock %s (%s)", self.location, type(error).__name__)

    def _acquire(self) -> BlobLeaseClient:
        from azure.storage.blob import BlobLeaseClient

        lease = BlobLeaseClient(self._blob)
        for _ in range(2):
            try:
                lease.acquire(lease_duration=self._lease_s)
                return lease
            except ResourceNotFoundError:
                self._create()  # the first export ever: the (empty) blob is made once
            except HttpResponseError as error:
                if error.status_code == 409:  # LeaseAlreadyPresent
                    raise LockBusy(f"another export holds the lock {self.location}") from None
                raise self._error(error) from None
            except AzureError as error:
                raise self._error(error) from None
        raise ExporterError(f"the export lock {self.location} could not be created")

    def _request_ages(self) -> list[float]:
        """What the previous holder left: how long ago its last requests were sent."""
        try:
            document = json.loads(self._blob.download_blob().readall() or b"{}")
            sent = [float(t) for t in document.get("requests", [])]
        except (AzureError, ValueError, TypeError, AttributeError):
            return []
        now = time.time()
        return [now - t for t in sent if now - t >= 0]

    def _create(self) -> None:
        try:
            self._blob.upload_blob(b"", overwrite=False)
        except ResourceExistsError:
            pass  # made meanwhile, or leased by another run: the next acquire tells
        except ResourceNotFoundError:
            raise ExporterError(
                f"the container of the export lock {self.location} does not exist; run `pulumi up` to create it"
            ) from None
        except AzureError as error:
            raise self._error(error) from None

    def _keep(self, lease: BlobLeaseClient, stop: threading.Event) -> None:
        while not stop.wait(self._renew_every_s):
            try:
                lease.renew()
            except AzureError as error:
                log.error(
                    "the export lock %s could not be renewed (%s): another export may start before this one ends",
                    self.location,
                    type(error).__name__,
                )

    def _error(self, error: AzureError) -> ExporterError:
        if isinstance(error, HttpResponseError) and error.status_code in (401, 403):
            return ExporterError(
                f"the identity may not lease the export lock {self.location} (HTTP {error.status_code}); it needs "
                "Storage Blob Data Contributor (or Owner) on that container"
            )
        detail = f"HTTP {error.status_code}" if isinstance(error, HttpResponseError) else type(error).__name__
        return ExporterError(f"the export lock {self.location} failed ({detail}); try again later")


@contextmanager
def local_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on ``folder`` for this machine (``flock``); :class:`LockBusy` when taken."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCAL_LOCK_FILE
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            import fcntl
        except ImportError:  # Windows: no flock; one resume at a time is then up to the user
            yield
            return
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockBusy(f"another export is resuming a snapshot in {folder}; wait for it to finish") from None
        yield
    finally:
        os.close(descriptor)  # closing releases the flock
