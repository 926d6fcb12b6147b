"""The exports as they run in Azure: settings from app settings, secrets from Key Vault,
snapshots to Blob Storage, requests on a Storage queue, all by the app's managed identity (no
keys, no connection strings). ``function_app.py`` only calls the functions here.

* The weekly timer :func:`enqueue_exports`: one message per account, nothing else.
* The queue-triggered function :func:`run_queued_export`: one export per message, one at a
  time for the whole app (a blob lease, :mod:`.locking`; a message that finds it taken goes
  back on the queue a minute later). A run stopped by a long ``Retry-After`` (or the host's time
  budget) is resumed by a message it sends itself, visible when Spotify will talk to us again
  plus jitter; the resume finishes the same snapshot (:mod:`.resume`). A resume that finds its
  snapshot complete, or a newer complete one, is dropped with a log line.
* Anything else that leaves a snapshot partial, or fails, raises: the Functions runtime retries
  the message (``host.json`` ``maxDequeueCount``), and a retry finishes what the first attempt
  began instead of starting over. After the last attempt the runtime moves the message to the
  poison queue, where :func:`report_gave_up` logs the error the alert watches for.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .accounts import describe, parse_accounts
from .connect import connect
from .errors import ConfigError, ExporterError
from .export import ExportResult, run_export
from .export_queue import QUEUE_SERVICE_SETTING, ExportQueue, ExportRequest, jitter
from .keyvault import KeyVaultSecrets, SecretNames
from .locking import ExportLock, HeldLock, LockBusy
from .resume import ResumeChoice, resume_delay_s, resume_latest, resume_snapshot, why_not_resume
from .settings import settings_from_env
from .stores.blob import BlobStore

log = logging.getLogger("spotify_exporter")

DEFAULT_TIMEOUT_S = 30 * 60.0  # Flex Consumption's default functionTimeout
#: stop this long before the host's timeout, so the snapshot and its manifest are written in time
TIMEOUT_MARGIN_S = 5 * 60.0
#: a snapshot resumed this often and still partial is left to a person (the failure alert)
MAX_RESUMES = 8
#: a request that found the lock taken this often gives up (an hour of exports, four times over)
MAX_POSTPONEMENTS = 240
#: what the poison-queue function logs, and the alert in ``infra/monitoring.py`` looks for
GAVE_UP = "spotify export gave up"


class ExportIncompleteError(ExporterError):
    """Raised after a partial snapshot was written, so the Functions runtime records a failure."""


class ActionRequiredError(ExporterError):
    """Raised after a complete snapshot when next week's run would be refused (a rotated refresh token
    could not be saved): the execution fails, so the alert reaches the user this week."""


@dataclass(frozen=True)
class AppSettings:
    """The function app's settings, validated once with the setting's name in every error."""

    vault: str
    account_url: str
    container: str
    secret_names: SecretNames
    accounts: tuple[str, ...] = ("default",)
    queue_service_url: str | None = None
    lock_url: str | None = None
    #: the most a resume waits past Spotify's ``Retry-After`` (seconds)
    resume_jitter_s: float = 60.0
    #: how long a request that found another export running waits before it tries again (seconds)
    lock_retry_s: float = 60.0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> AppSettings:
        vault = environ.get("KEY_VAULT_URL") or environ.get("KEY_VAULT_NAME")
        if not vault:
            raise ConfigError(
                "the app setting KEY_VAULT_NAME is not set; it names the Key Vault with the Spotify secrets"
            )
        account_url = environ.get("SNAPSHOT_ACCOUNT_URL")
        if not account_url:
            raise ConfigError(
                "the app setting SNAPSHOT_ACCOUNT_URL is not set; it is the blob endpoint of the storage "
                "account for snapshots, e.g. https://ACCOUNT.blob.core.windows.net"
            )
        defaults = SecretNames()
        names = SecretNames(
            client_id=environ.get("SPOTIFY_CLIENT_ID_SECRET_NAME") or defaults.client_id,
            client_secret=environ.get("SPOTIFY_CLIENT_SECRET_SECRET_NAME") or defaults.client_secret,
            refresh_token=environ.get("SPOTIFY_REFRESH_TOKEN_SECRET_NAME") or defaults.refresh_token,
        )
        return cls(
            vault,
            account_url,
            environ.get("SNAPSHOT_CONTAINER") or "spotify",
            names,
            accounts=parse_accounts(environ.get("EXPORT_ACCOUNTS")),
            queue_service_url=environ.get(QUEUE_SERVICE_SETTING) or None,
            lock_url=environ.get("EXPORT_LOCK_URL") or None,
            resume_jitter_s=_seconds(environ, "EXPORT_RESUME_JITTER_S", 60.0),
            lock_retry_s=_seconds(environ, "EXPORT_LOCK_RETRY_S", 60.0),
        )

    def queue(self) -> ExportQueue:
        if not self.queue_service_url:
            raise ConfigError(
                f"the app setting {QUEUE_SERVICE_SETTING} is not set; it is the queue endpoint of the storage "
                "account with the export queue, e.g. https://ACCOUNT.queue.core.windows.net"
            )
        return ExportQueue.from_url(self.queue_service_url)

    def lock(self) -> ExportLock:
        if not self.lock_url:
            raise ConfigError(
                "the app setting EXPORT_LOCK_URL is not set; it is the blob that serializes exports, e.g. "
                "https://ACCOUNT.blob.core.windows.net/export-locks/spotify-api"
            )
        return ExportLock.from_url(self.lock_url)


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ConfigError(f"the app setting {name}={raw!r} is not a number of seconds") from None
    if value < 0:
        raise ConfigError(f"the app setting {name} must not be negative")
    return value


def function_timeout_s(host_json: Path) -> float:
    """The app's ``functionTimeout`` from host.json (``hh:mm:ss``), or the plan default."""
    try:
        value = json.loads(host_json.read_text()).get("functionTimeout")
    except (OSError, ValueError):
        return DEFAULT_TIMEOUT_S
    match = re.fullmatch(r"(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})", str(value or ""))
    if not match:
        return DEFAULT_TIMEOUT_S
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)


def time_budget_s(timeout_s: float) -> float:
    """Leave a margin before the host kills the run (at least a tenth of short timeouts)."""
    return max(timeout_s - TIMEOUT_MARGIN_S, timeout_s * 0.9 if timeout_s < 2 * TIMEOUT_MARGIN_S else 0.0)


# -- the timer ---------------------------------------------------------------------------------


def enqueue_exports(
    environ: Mapping[str, str] | None = None,
    reason: str = "scheduled",
    *,
    queue: ExportQueue | None = None,
    now: datetime | None = None,
) -> list[ExportRequest]:
    """One export request per account of ``EXPORT_ACCOUNTS`` on the queue, visible at once."""
    settings = AppSettings.from_environ(os.environ if environ is None else environ)
    queue = queue or settings.queue()
    moment = (now or datetime.now(UTC)).replace(microsecond=0)
    requests = [ExportRequest(alias, reason, moment) for alias in settings.accounts]
    for request in requests:
        queue.send(request)
    log.info("queued %s %s export(s): %s", len(requests), reason, ", ".join(settings.accounts))
    return requests


# -- the queue trigger -------------------------------------------------------------------------


def run_queued_export(
    body: str | bytes,
    dequeue_count: int = 1,
    environ: Mapping[str, str] | None = None,
    host_json: Path | None = None,
    *,
    queue: ExportQueue | None = None,
    lock: ExportLock | None = None,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> str:
    """Run the export a queue message asks for; returns what became of it (``complete``,
    ``resume queued``, ``postponed``, ``dropped``). Raises when the runtime should try again."""
    request = ExportRequest.from_json(body)
    environ = os.environ if environ is None else environ
    settings = AppSettings.from_environ(environ)
    queue = queue or settings.queue()
    lock = lock or settings.lock()
    rng = rng or random.Random()
    try:
        with lock.hold() as held:
            return _export(request, dequeue_count, settings, environ, host_json, queue, now, rng, held)
    except LockBusy:
        if request.postponed >= MAX_POSTPONEMENTS:
            raise ExportIncompleteError(
                f"the {request.describe()} waited for {request.postponed} other exports to finish and gives up; "
                f"check for exports that never end (the lock is {lock.location})"
            ) from None
        delay = queue.send(request.postponed_once(), timedelta(seconds=settings.lock_retry_s) + jitter(5.0, rng))
        log.info(
            "another export is running (every account shares the app's Spotify rate limit): the %s waits %.0f s",
            request.describe(),
            delay.total_seconds(),
        )
        return "postponed"


def _export(
    request: ExportRequest,
    dequeue_count: int,
    settings: AppSettings,
    environ: Mapping[str, str],
    host_json: Path | None,
    queue: ExportQueue,
    now: datetime | None,
    rng: random.Random,
    held: HeldLock,
) -> str:
    store = BlobStore.from_url(settings.account_url, settings.container)
    choice: ResumeChoice | None = None
    if request.reason == "resume":
        assert request.snapshot is not None  # from_json checks it
        reason = why_not_resume(store, request.snapshot)
        if reason is not None:
            log.info("the %s is dropped: %s", request.describe(), reason)
            return "dropped"
        choice = resume_snapshot(store, request.snapshot)
    elif dequeue_count > 1:  # an earlier attempt of this message failed: finish what it began, if anything
        choice = resume_latest(store, since=request.requested_at, required=False)
    host_json = host_json or Path(__file__).resolve().parents[1] / "host.json"
    budget = time_budget_s(function_timeout_s(host_json))
    secrets = KeyVaultSecrets(settings.vault, names=settings.secret_names, account=request.account)
    warnings: list[str] = []
    log.info("%s (attempt %s)", request.describe(), dequeue_count)
    client = connect(
        secrets, settings_from_env(environ), warnings, time_budget_s=budget,
        earlier_request_ages=held.earlier_request_ages,
    )  # fmt: skip
    try:
        result = run_export(client, store, warnings=warnings, resume=choice)
    finally:  # the app's pacing window goes on in the next export, whatever became of this one
        held.leave_request_ages(client.recent_request_ages())
    action_required = _log_summary(request, result)
    if result.status == "complete":
        if action_required:  # e.g. a rotated refresh token not saved: the next export would be refused
            but = "; ".join(action_required)
            who = describe(request.account)
            raise ActionRequiredError(f"{who}: the snapshot {result.folder} is complete, but {but}")
        return "complete"
    moment = now or datetime.now(UTC)
    wait = (
        resume_delay_s(result.stopped_by, moment, jitter(settings.resume_jitter_s, rng).total_seconds())
        if result.stopped_by is not None
        else None
    )
    resumes_so_far = request.resumes if request.reason == "resume" else 0
    if wait is not None and resumes_so_far < MAX_RESUMES:
        follow_up = request.resume_of(result.folder, moment)
        delay = queue.send(follow_up, timedelta(seconds=wait))
        log.warning(
            "%s: the snapshot %s is partial (%s); it resumes on its own at %s",
            describe(request.account),
            result.folder,
            result.manifest.get("error"),
            (moment + delay).strftime("%Y-%m-%d %H:%M:%S UTC"),
        )
        return "resume queued"
    tried = f" after {resumes_so_far} resumes" if resumes_so_far else ""
    raise ExportIncompleteError(
        f"{describe(request.account)}: the snapshot {result.folder} is partial{tried}: {_what_is_missing(result)}"
    )


def _what_is_missing(result: ExportResult) -> str:
    """Why a snapshot is partial: the error that stopped the run, or each dataset that failed."""
    if result.manifest.get("error"):
        return str(result.manifest["error"])
    failed = [
        f"{name} {entry.get('status')} ({entry.get('error') or 'no detail'})"
        for name, entry in result.manifest["datasets"].items()
        if entry.get("status") not in ("complete", "unavailable")
    ]
    return "; ".join(failed) or "see its manifest"


def _log_summary(request: ExportRequest, result: ExportResult) -> list[str]:
    """Log the run's one summary line (and its warnings); returns what the user must do."""
    manifest = result.manifest
    summary = {
        "account": request.account,
        "reason": request.reason,
        "status": result.status,
        "snapshot": f"{result.location}/{result.folder}",
        "resumed": result.resumed,
        "counts": {name: entry["count"] for name, entry in manifest["datasets"].items()},
        "requests": manifest["requests"],
        "retries": manifest["retries"],
        "duration_s": round(result.duration_s, 1),
        "warnings": manifest["warnings"],
        "action_required": manifest.get("action_required") or [],
    }
    log.info("spotify export finished %s", json.dumps(summary, ensure_ascii=False))
    for warning in manifest["warnings"]:
        log.warning("%s", warning)
    return list(summary["action_required"])


# -- the poison queue --------------------------------------------------------------------------


def report_gave_up(body: str | bytes) -> str:
    """Log, as an error, a request the runtime gave up on after its last attempt; returns the line."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        request = ExportRequest.from_json(text)
        what = request.describe()
        again = f'make trigger ARGS="--account {request.account}"'
    except ExporterError:
        what, again = f"queue message {text[:120]!r}, which is no export request,", "nothing"
    line = (
        f"{GAVE_UP}: the {what} failed on every attempt (host.json maxDequeueCount); the errors are in "
        "the failed runs of export_account. "
        f"Once the cause is fixed, run `{again}`"
    )
    log.error("%s", line)
    return line
