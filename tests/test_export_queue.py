"""Export requests on the queue: the message format, and sending them later through the real SDK to
Azurite's queue service (signed in by the managed identity stand-in)."""

from __future__ import annotations

import base64
import contextlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.queue import QueueClient
from azurite import Azurite
from keyvault_standin import KeyVaultStandIn

from spotify_exporter.errors import ExporterError
from spotify_exporter.export_queue import MAX_DELAY, ExportQueue, ExportRequest, ExportRequestError

MOMENT = datetime(2026, 11, 29, 0, 0, 5, tzinfo=UTC)


def test_a_request_survives_the_round_trip_and_says_what_it_is() -> None:
    request = ExportRequest("jane", "scheduled", MOMENT)
    assert ExportRequest.from_json(request.to_json()) == request
    assert request.describe() == "scheduled export for account 'jane'"
    resume = request.resume_of("31abc/2026-11-29T00-00-05Z", MOMENT + timedelta(hours=1))
    assert (resume.reason, resume.snapshot, resume.resumes) == ("resume", "31abc/2026-11-29T00-00-05Z", 1)
    assert resume.resume_of(resume.snapshot or "", MOMENT).resumes == 2
    assert ExportRequest.from_json(resume.postponed_once().to_json()).postponed == 1
    assert '"requested_at": "2026-11-29T00:00:05Z"' in request.to_json()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", "is not JSON"),
        ("[1]", "is not a JSON object"),
        ('{"account": "jane", "reason": "whenever", "requested_at": "2026-11-29T00:00:00Z"}', "unknown reason"),
        ('{"account": "Jane Doe", "reason": "manual", "requested_at": "2026-11-29T00:00:00Z"}', "not an account alias"),
        ('{"account": "jane", "reason": "resume", "requested_at": "2026-11-29T00:00:00Z"}', "without its snapshot"),
        ('{"account": "jane", "reason": "manual"}', "requested_at"),
    ],
)
def test_a_message_that_is_no_request_says_why(body: str, reason: str) -> None:
    with pytest.raises(ExportRequestError, match=reason):
        ExportRequest.from_json(body)


@pytest.fixture
def queue(azurite_queue_oauth: Azurite, keyvault: KeyVaultStandIn) -> Iterator[tuple[ExportQueue, QueueClient]]:
    name = f"test-{uuid.uuid4().hex[:12]}"
    raw = QueueClient(azurite_queue_oauth.queue_endpoint, name, keyvault.credential())
    raw.create_queue()
    yield ExportQueue.from_url(azurite_queue_oauth.queue_endpoint, name, keyvault.credential()), raw
    with contextlib.suppress(ResourceNotFoundError):
        raw.delete_queue()


def test_a_request_is_base64_json_visible_when_asked(queue: tuple[ExportQueue, QueueClient]) -> None:
    sender, raw = queue
    assert sender.send(ExportRequest("jane", "manual", MOMENT)) == timedelta(0)
    (stored,) = raw.peek_messages()
    assert ExportRequest.from_json(base64.b64decode(stored.content, validate=True)).account == "jane"

    assert sender.send(ExportRequest("max", "manual", MOMENT), timedelta(seconds=1.2)) == timedelta(seconds=2)
    assert len(raw.peek_messages(32)) == 1  # the later one is on the queue, not yet visible
    assert raw.get_queue_properties().approximate_message_count == 2


def test_a_delay_beyond_seven_days_is_cut_to_what_the_service_takes(queue: tuple[ExportQueue, QueueClient]) -> None:
    sender, raw = queue
    with pytest.raises(HttpResponseError):  # Put Message refuses more than seven days
        raw.send_message("eA==", visibility_timeout=int(timedelta(days=8).total_seconds()))
    assert sender.send(ExportRequest("jane", "manual", MOMENT), timedelta(days=30)) == MAX_DELAY
    assert raw.get_queue_properties().approximate_message_count == 1 and not raw.peek_messages()


def test_a_missing_queue_says_to_run_pulumi_up(queue: tuple[ExportQueue, QueueClient]) -> None:
    sender, raw = queue
    raw.delete_queue()
    with pytest.raises(ExporterError, match=r"does not exist; run `pulumi up` to create it"):
        sender.send(ExportRequest("jane", "manual", MOMENT))
