"""Export requests on an Azure Storage queue: what the weekly timer, a resume and `make trigger`
send, and the queue-triggered function runs, one export per message.

A message names the account (alias), why it was sent and when; a resume also names the
partial snapshot to finish. Messages are JSON, base64-encoded as the Functions queue trigger
expects by default (``host.json`` ``extensions.queues.messageEncoding: base64``). They are sent
with the ``azure-storage-queue`` SDK rather than an output binding because only the SDK can make
a message visible later (``visibility_timeout``): a resume waits out Spotify's ban in the queue,
up to the service's limit of seven days. Messages are signed in with an identity, never a key.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError

from .accounts import check_alias
from .errors import ConfigError, ExporterError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.storage.queue import QueueClient

#: the queue the export function reads, and where the Functions runtime moves a message that
#: failed ``maxDequeueCount`` times (``<queue>-poison``, the runtime's own naming)
QUEUE_NAME = "spotify-exports"
POISON_QUEUE_NAME = f"{QUEUE_NAME}-poison"
#: the app setting prefix of the queue trigger's identity-based connection (``EXPORT_QUEUE__queueServiceUri``)
CONNECTION = "EXPORT_QUEUE"
QUEUE_SERVICE_SETTING = f"{CONNECTION}__queueServiceUri"
REASONS = ("scheduled", "manual", "resume")
#: Put Message refuses a visibility timeout beyond seven days (and one not below the message's
#: time to live): https://learn.microsoft.com/rest/api/storageservices/put-message
MAX_DELAY = timedelta(days=7) - timedelta(minutes=1)
#: a message nobody processed for this long after it became visible is dropped by the service
TIME_TO_LIVE_AFTER_VISIBLE = timedelta(days=7)


class ExportRequestError(ExporterError):
    """A message that is not an export request: it will never succeed (it goes to the poison queue)."""


@dataclass(frozen=True)
class ExportRequest:
    """One export to run: whose, why, when it was asked for; a resume names its snapshot."""

    account: str
    reason: str
    requested_at: datetime
    #: ``<account_id>/<started_at>``: the partial snapshot a resume finishes
    snapshot: str | None = None
    #: how many resumes of this snapshot came before this one
    resumes: int = 0
    #: how often this request waited for another account's export to finish
    postponed: int = 0

    def to_json(self) -> str:
        document: dict[str, Any] = asdict(self)
        document["requested_at"] = self.requested_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return json.dumps(document, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> ExportRequest:
        try:
            document = json.loads(text)
        except ValueError:
            raise ExportRequestError(f"the queue message is not JSON: {str(text)[:80]!r}") from None
        if not isinstance(document, dict):
            raise ExportRequestError("the queue message is not a JSON object")
        try:
            reason = str(document["reason"])
            if reason not in REASONS:
                raise ValueError(f"unknown reason {reason!r}")
            requested_at = datetime.fromisoformat(str(document["requested_at"]).replace("Z", "+00:00"))
            snapshot = document.get("snapshot")
            if reason == "resume" and (not isinstance(snapshot, str) or snapshot.count("/") != 1):
                raise ValueError("a resume without its snapshot")
            return cls(
                account=check_alias(str(document["account"])),
                reason=reason,
                requested_at=requested_at.astimezone(UTC),
                snapshot=snapshot if isinstance(snapshot, str) else None,
                resumes=int(document.get("resumes") or 0),
                postponed=int(document.get("postponed") or 0),
            )
        except (KeyError, ValueError, TypeError, ConfigError) as error:
            raise ExportRequestError(f"the queue message is not an export request ({error})") from None

    def resume_of(self, snapshot: str, now: datetime) -> ExportRequest:
        """The request that finishes ``snapshot`` later."""
        resumes = self.resumes + 1 if self.reason == "resume" else 1
        return ExportRequest(self.account, "resume", now, snapshot, resumes)

    def postponed_once(self) -> ExportRequest:
        return replace(self, postponed=self.postponed + 1)

    def describe(self) -> str:
        what = f"resume of {self.snapshot}" if self.reason == "resume" else f"{self.reason} export"
        return f"{what} for account {self.account!r}"


class ExportQueue:
    """Sends export requests, now or later (a ``delay``), to the export queue."""

    def __init__(self, client: QueueClient) -> None:
        self._client = client

    @classmethod
    def from_url(
        cls, queue_service_url: str, queue_name: str = QUEUE_NAME, credential: TokenCredential | None = None
    ) -> ExportQueue:
        """The queue at ``https://ACCOUNT.queue.core.windows.net`` (``DefaultAzureCredential`` unless given)."""
        from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy

        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        client = QueueClient(
            queue_service_url.rstrip("/"),
            queue_name,
            credential=credential,
            message_encode_policy=TextBase64EncodePolicy(),
            message_decode_policy=TextBase64DecodePolicy(),
        )
        return cls(client)

    @classmethod
    def from_connection_string(cls, connection_string: str, queue_name: str = QUEUE_NAME) -> ExportQueue:
        """For a local emulator (Azurite)."""
        from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy

        client = QueueClient.from_connection_string(
            connection_string,
            queue_name,
            message_encode_policy=TextBase64EncodePolicy(),
            message_decode_policy=TextBase64DecodePolicy(),
        )
        return cls(client)

    @property
    def name(self) -> str:
        return str(self._client.queue_name)

    @property
    def location(self) -> str:
        return f"{self._client.url.split('?', 1)[0]}"

    def send(self, request: ExportRequest, delay: timedelta = timedelta(0)) -> timedelta:
        """Put ``request`` on the queue, visible after ``delay`` (at most :data:`MAX_DELAY`); returns the delay used."""
        delay = min(max(delay, timedelta(0)), MAX_DELAY)
        seconds = math.ceil(delay.total_seconds())  # never visible before the moment asked for
        try:
            self._client.send_message(
                request.to_json(),
                visibility_timeout=seconds,
                time_to_live=seconds + int(TIME_TO_LIVE_AFTER_VISIBLE.total_seconds()),
            )
        except AzureError as error:
            raise self._error(error) from None
        return timedelta(seconds=seconds)

    def close(self) -> None:
        self._client.close()

    def _error(self, error: AzureError) -> ExporterError:
        where = f"the queue {self.name} at {self.location.rsplit('/', 1)[0]}"
        if isinstance(error, ResourceNotFoundError):
            return ExporterError(f"{where} does not exist; run `pulumi up` to create it")
        if isinstance(error, HttpResponseError) and error.status_code in (401, 403):
            return ExporterError(
                f"the identity sending to {where} may not (HTTP {error.status_code}); it needs the role "
                "Storage Queue Data Message Sender on that queue (new assignments take a few minutes)"
            )
        detail = f"HTTP {error.status_code}" if isinstance(error, HttpResponseError) else type(error).__name__
        return ExporterError(f"could not send to {where} ({detail}); try again later")


def jitter(maximum_s: float, rng: random.Random | None = None) -> timedelta:
    """A random pause of up to ``maximum_s``, so that messages made together do not all come back together."""
    return timedelta(seconds=(rng or random.Random()).uniform(0, max(0.0, maximum_s)))


__all__ = [
    "CONNECTION",
    "POISON_QUEUE_NAME",
    "QUEUE_NAME",
    "QUEUE_SERVICE_SETTING",
    "ExportQueue",
    "ExportRequest",
    "ExportRequestError",
    "jitter",
]
