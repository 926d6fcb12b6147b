"""The deployed function app's world, made of stand-ins: a household on the Spotify simulator, the
Key Vault stand-in (whose managed-identity endpoint signs everything in), Azurite's Blob and Queue
services over HTTPS, the export queue with its poison queue, the lock container, and the app
settings the infrastructure gives the app. The function app's tests and the benchmarks use it.

The app's own functions run as the host runs them: the timer called with a ``TimerRequest``, the
queue triggers through :class:`functions_host.QueueHost`.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import ResourceNotFoundError
from azure.functions.decorators.function_app import Function
from azure.functions.timer import TimerRequest
from azure.storage.blob import ContainerClient
from azure.storage.queue import QueueClient
from azurite import Azurite
from functions_host import QueueHost, QueueOptions
from keyvault_standin import KeyVaultStandIn

from spotify_exporter.credentials import SpotifyCredentials
from spotify_exporter.export_queue import POISON_QUEUE_NAME, QUEUE_NAME, ExportRequest
from spotify_exporter.history import list_snapshots
from spotify_exporter.keyvault import KeyVaultSecrets
from spotify_exporter.locking import ExportLock
from spotify_exporter.stores.blob import BlobStore
from spotify_simulator import SimulatedUser, SpotifySimulator

AUTHORIZED_AT = datetime(2026, 10, 1, tzinfo=UTC)


@functools.cache
def indexed_functions() -> dict[str, Function]:
    """Index the app once, as the worker does at start (indexing twice is an error)."""
    import function_app

    return {str(function.get_function_name()): function for function in function_app.app.get_functions()}


@dataclass
class FunctionAppScene:
    sim: SpotifySimulator
    vault: KeyVaultStandIn
    blob: Azurite
    container: str
    queue: QueueClient
    poison: QueueClient
    lock: ExportLock
    settings: dict[str, str]

    @classmethod
    def prepare(
        cls,
        sim: SpotifySimulator,
        vault: KeyVaultStandIn,
        blob: Azurite,
        queues: Azurite,
        container: str,
        credential: TokenCredential,
    ) -> FunctionAppScene:
        """Empty queues, a lock container and the app settings; the first user authorized as ``default``."""
        queue, poison = (
            QueueClient(queues.queue_endpoint, name, credential) for name in (QUEUE_NAME, POISON_QUEUE_NAME)
        )
        for client in (queue, poison):  # one Azurite may serve many scenes: each starts with empty queues
            with contextlib.suppress(ResourceNotFoundError):
                client.delete_queue()
            client.create_queue()
        lock_container = f"{container}-locks"
        ContainerClient(blob.blob_endpoint, lock_container, credential).create_container()
        lock_url = f"{blob.blob_endpoint}/{lock_container}/spotify-api"
        settings = {
            "KEY_VAULT_URL": vault.url,
            "SNAPSHOT_ACCOUNT_URL": blob.blob_endpoint,
            "SNAPSHOT_CONTAINER": container,
            "SPOTIFY_API_URL": sim.api_url,
            "SPOTIFY_ACCOUNTS_URL": sim.accounts_url,
            "EXPORT_SCHEDULE": "0 0 0 * * Sun",
            "EXPORT_QUEUE__queueServiceUri": queues.queue_endpoint,
            "EXPORT_LOCK_URL": lock_url,
            "EXPORT_LOCK_RETRY_S": "0.3",
            "EXPORT_RESUME_JITTER_S": "0.3",
        }
        scene = cls(sim, vault, blob, container, queue, poison, ExportLock.from_url(lock_url, credential), settings)
        scene.authorize("default", sim.users[0])
        return scene

    def close(self) -> None:
        for client in (self.queue, self.poison):
            with contextlib.suppress(ResourceNotFoundError):
                client.delete_queue()

    @property
    def store(self) -> BlobStore:
        return BlobStore.from_connection_string(self.blob.connection_string, self.container)

    def authorize(self, alias: str, user: SimulatedUser) -> None:
        """What `make auth ARGS="--vault NAME --account ALIAS"` stores."""
        credentials = SpotifyCredentials(self.sim.client_id, self.sim.client_secret, user.refresh_token)
        vault = KeyVaultSecrets(self.vault.url, self.vault.credential(), account=alias)
        vault.store_authorization(credentials, AUTHORIZED_AT)

    def host(self, options: QueueOptions | None = None) -> QueueHost:
        function = indexed_functions()["export_account"].get_user_function()
        return QueueHost(function, self.queue, self.poison, options or QueueOptions.from_host_json())

    def poison_host(self) -> QueueHost:
        function = indexed_functions()["export_gave_up"].get_user_function()
        return QueueHost(function, self.poison, self.poison, QueueOptions.from_host_json())

    def run_timer(self) -> None:
        indexed_functions()["weekly_export"].get_user_function()(TimerRequest(past_due=False))

    def send(self, request: ExportRequest, delay_s: int = 0) -> None:
        self.queue.send_message(base64.b64encode(request.to_json().encode()).decode(), visibility_timeout=delay_s)

    def visible(self) -> list[ExportRequest]:
        """The requests on the queue that a host could take now (peeked: not taken)."""
        return [ExportRequest.from_json(base64.b64decode(m.content)) for m in self.queue.peek_messages(32)]

    def pending(self) -> int:
        """Messages on the queue, visible or not yet."""
        return int(self.queue.get_queue_properties().approximate_message_count or 0)

    def next_visible(self, timeout_s: float = 10) -> ExportRequest:
        """The first request to become visible (peeked, so a host can still take it)."""
        deadline = time.monotonic() + timeout_s
        while not (found := self.visible()):
            assert time.monotonic() < deadline, "no message became visible"
            time.sleep(0.1)
        return found[0]

    def manifests(self) -> list[dict[str, Any]]:
        return [info.manifest for info in list_snapshots(self.store).finished]
