"""A stand-in for the Azure Functions host's queue listener, driving our queue-triggered functions
the way the runtime does (Storage Queues extension 5.x, ``QueueListener``/``QueueProcessor`` in
Azure/azure-sdk-for-net, sdk/storage/Microsoft.Azure.WebJobs.Extensions.Storage.Queues):

* it receives at most ``batchSize`` messages and takes more only once the ones in flight are down
  to ``newBatchThreshold``, with a 10-minute visibility timeout it renews while a function runs;
* a message body must be base64 (``messageEncoding``, default ``base64``): the runtime decodes
  it before the function sees it, and a message that is not base64 fails;
* the function gets a real ``azure.functions.QueueMessage``, built by the worker's own converter
  from the body and the trigger metadata (``Id``, ``DequeueCount``, ``InsertionTime``, ...);
* it succeeds: the message is deleted. It raises: the message becomes visible again after
  ``visibilityTimeout`` (``host.json``), or, once it was dequeued ``maxDequeueCount`` times, is
  copied to ``<queue>-poison`` (sent first, the queue created only if it is missing) and deleted.

Everything goes through Azurite's queue service with the real ``azure-storage-queue`` SDK.
Several hosts may run at once, one per thread: instances of a scaled-out app.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.functions import meta
from azure.functions.queue import QueueMessage, QueueMessageInConverter
from azure.storage.queue import QueueClient
from azure.storage.queue import QueueMessage as StoredMessage

HOST_JSON = Path(__file__).resolve().parents[1] / "functions" / "host.json"
#: the listener's visibility while a function runs (renewed; QueueListener's fixed 10 minutes)
RUNNING_VISIBILITY_S = 600


@dataclass(frozen=True)
class QueueOptions:
    """``extensions.queues`` of host.json, with the runtime's defaults."""

    batch_size: int = 16
    new_batch_threshold: int | None = None
    max_dequeue_count: int = 5
    visibility_timeout_s: float = 0.0
    message_encoding: str = "base64"

    @classmethod
    def from_host_json(cls, path: Path = HOST_JSON) -> QueueOptions:
        queues = json.loads(path.read_text()).get("extensions", {}).get("queues", {})
        hours, minutes, seconds = (float(part) for part in str(queues.get("visibilityTimeout", "00:00:00")).split(":"))
        return cls(
            batch_size=int(queues.get("batchSize", 16)),
            new_batch_threshold=queues.get("newBatchThreshold"),
            max_dequeue_count=int(queues.get("maxDequeueCount", 5)),
            visibility_timeout_s=hours * 3600 + minutes * 60 + seconds,
            message_encoding=str(queues.get("messageEncoding", "base64")),
        )

    @property
    def threshold(self) -> int:
        """Messages in flight below which another batch is fetched (default: half a batch, Consumption)."""
        return self.new_batch_threshold if self.new_batch_threshold is not None else self.batch_size // 2


@dataclass
class Invocation:
    """One run of the function: the message it got and how it ended."""

    message_id: str
    body: str
    dequeue_count: int
    started: float
    ended: float = 0.0
    error: BaseException | None = None


@dataclass
class QueueHost:
    """One host instance listening on ``queue`` for ``function``."""

    function: Callable[[QueueMessage], None]
    queue: QueueClient  # no encode/decode policy: the host sees the stored text
    poison: QueueClient  # ``<queue>-poison``
    options: QueueOptions = field(default_factory=QueueOptions.from_host_json)
    invocations: list[Invocation] = field(default_factory=list)

    def poll(self) -> int:
        """Receive what is visible, as the listener does, and run it; returns how many messages ran."""
        ran = 0
        in_flight: list[threading.Thread] = []
        for stored in self.queue.receive_messages(
            messages_per_page=self.options.batch_size,
            visibility_timeout=RUNNING_VISIBILITY_S,
            max_messages=self.options.batch_size,
        ):
            while len(in_flight) > self.options.threshold:  # WaitForNewBatchThreshold
                in_flight.pop(0).join()
            worker = threading.Thread(target=self._process, args=(stored,), daemon=True)
            worker.start()
            in_flight.append(worker)
            ran += 1
            if ran >= self.options.batch_size:
                break
        for worker in in_flight:
            worker.join()
        return ran

    def run_until(self, done: Callable[[], bool], timeout_s: float, interval_s: float = 0.2) -> None:
        """Poll until ``done()`` or the timeout (an AssertionError then)."""
        deadline = time.monotonic() + timeout_s
        while not done():
            assert time.monotonic() < deadline, f"the queue host gave up after {timeout_s} s"
            if not self.poll():
                time.sleep(interval_s)

    def _process(self, stored: StoredMessage) -> None:
        invocation = Invocation(str(stored.id), str(stored.content), int(stored.dequeue_count or 0), time.monotonic())
        self.invocations.append(invocation)
        try:
            self.function(self._message(stored))
        except BaseException as error:  # the runtime records the failure and keeps the message
            invocation.error = error
        invocation.ended = time.monotonic()
        if invocation.error is None:
            self.queue.delete_message(stored.id, stored.pop_receipt)
        elif invocation.dequeue_count >= self.options.max_dequeue_count:
            self._to_poison(str(stored.content))
            self.queue.delete_message(stored.id, stored.pop_receipt)
        else:
            self.queue.update_message(
                stored.id, stored.pop_receipt, visibility_timeout=int(self.options.visibility_timeout_s)
            )

    def _message(self, stored: StoredMessage) -> QueueMessage:
        """What the Python worker hands the function: decoded by the host, converted by the worker."""
        text = str(stored.content)
        if self.options.message_encoding == "base64":
            try:
                body: Any = base64.b64decode(text, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise ValueError(f"message {stored.id} is not a valid base64 string (messageEncoding base64)") from None
        else:
            body = text
        metadata = {
            "Id": meta.Datum(str(stored.id), "string"),
            "DequeueCount": meta.Datum(str(stored.dequeue_count), "string"),
            "PopReceipt": meta.Datum(str(stored.pop_receipt), "string"),
            **{
                key: meta.Datum(_iso(value), "string")
                for key, value in (
                    ("InsertionTime", stored.inserted_on),
                    ("ExpirationTime", stored.expires_on),
                    ("NextVisibleTime", stored.next_visible_on),
                )
                if value is not None
            },
        }
        message = QueueMessageInConverter.decode(meta.Datum(body, "string"), trigger_metadata=metadata)
        assert isinstance(message, QueueMessage)
        return message

    def _to_poison(self, text: str) -> None:
        """``CopyMessageToPoisonQueueAsync``: send, creating the poison queue only when it is missing."""
        try:
            self.poison.send_message(text)
        except ResourceNotFoundError:
            self.poison.create_queue()
            self.poison.send_message(text)


def _iso(moment: datetime) -> str:
    return moment.isoformat()
