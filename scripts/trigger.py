"""`make trigger`: run an export in Azure now, of every account or of ``--account ALIAS``, and wait
for the snapshots.

It puts one export request per account on the app's queue ``spotify-exports``, exactly what the
weekly timer puts there, signed in with your Entra login
(:func:`azure_deploy.credentials.deploy_credential`: ``az login``, ``AZURE_*`` or Pulumi's
``ARM_*``; `pulumi up` gives the deployer *Storage Queue Data Message Sender* on that queue). No
key is fetched and the app's host is not called: the queue trigger picks the requests up, one
export at a time. Then the snapshot container is watched until a new ``manifest.json`` (written
last) appears for each request, and their summaries are printed. Exit status 0 when all are
complete, 2 when one is partial (a ban resumes on its own later), 3 when all are complete but
one needs you to act before the next run (e.g. a rotated refresh token could not be saved), 1
failed or timed out. Reading
the container needs a data role: `pulumi up` gives the deployer Storage Blob Data Contributor on it.

The queue, the container and the accounts default to the Pulumi stack outputs
(``exportQueueUrl``, ``spotifyContainerUrl``, ``exportAccounts``) when the Pulumi CLI is installed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from azure_deploy.credentials import deploy_credential
from azure_deploy.http import DeploymentError, HttpClient
from azure_deploy.stack import StackError, output_or_flag, stack_outputs
from spotify_exporter.accounts import DEFAULT_ACCOUNT, check_alias, parse_accounts
from spotify_exporter.errors import ConfigError, ExporterError
from spotify_exporter.export_queue import ExportQueue, ExportRequest
from spotify_exporter.stores.blob import BlobStore
from spotify_exporter.terminal import printable

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

MANIFEST = "manifest.json"
FOLDER_TIME_FORMAT = "%Y-%m-%dT%H-%M-%SZ"
#: a snapshot counts as ours if it started no earlier than this before the trigger (clock skew)
CLOCK_SKEW = timedelta(minutes=2)
#: how long one account's export may take: the function's timeout (host.json), plus the queue's polling
TIMEOUT_PER_ACCOUNT_S = 65 * 60.0
EXIT_CODES = {"complete": 0, "partial": 2}
#: complete, but the next run will be refused (a rotated refresh token could not be saved)
EXIT_ACTION_REQUIRED = 3


class TriggerError(Exception):
    """The export could not be started or watched; the message says what to do."""


def _say(line: str) -> None:
    print(printable(f"trigger: {line}"), flush=True)  # names from Spotify never reach the terminal raw


def manifests(store: BlobStore) -> set[str]:
    """``<account_id>/<started_at>/manifest.json`` of every finished snapshot in the container."""
    return {name for name in store.list_files() if name.endswith("/" + MANIFEST) and name.count("/") == 2}


def _started_at(manifest_path: str) -> datetime | None:
    try:
        return datetime.strptime(manifest_path.split("/")[1], FOLDER_TIME_FORMAT).replace(tzinfo=UTC)
    except (IndexError, ValueError):
        return None


def wait_for_snapshots(
    store: BlobStore,
    before: set[str],
    triggered_at: datetime,
    count: int,
    timeout_s: float,
    poll_interval_s: float,
    on_snapshot: Callable[[str, dict[str, Any]], None],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[dict[str, Any]]:
    """The manifests of ``count`` snapshots that were not there ``before`` and started after the
    trigger, each handed to ``on_snapshot`` as it appears."""
    deadline = clock() + timeout_s
    found: dict[str, dict[str, Any]] = {}
    while True:
        for path in sorted(manifests(store) - before - set(found)):
            started = _started_at(path)
            if started is not None and started >= triggered_at.replace(microsecond=0) - CLOCK_SKEW:
                with store.open_read(path) as stream:
                    document = json.load(stream)
                found[path] = document if isinstance(document, dict) else {}
                on_snapshot(path, found[path])
        if len(found) >= count:
            return list(found.values())
        remaining = deadline - clock()
        if remaining <= 0:
            raise TriggerError(
                f"{len(found)} of {count} new snapshot(s) in {store.location} within {timeout_s:.0f} s; the exports "
                "may still be going (one account at a time) or have failed: check export_account's invocations "
                "in Application Insights"
            )
        sleep(min(poll_interval_s, remaining))


def summary(path: str, location: str, manifest: dict[str, Any]) -> list[str]:
    """Status, rows per dataset, requests and warnings of a snapshot, one item per line."""
    lines = [f"snapshot {location}/{path.rsplit('/', 1)[0]}: {manifest.get('status', 'unknown')}"]
    datasets = manifest.get("datasets")
    if isinstance(datasets, dict):
        cells = []
        for name, outcome in datasets.items():
            outcome = outcome if isinstance(outcome, dict) else {}
            cell = f"{name} {outcome.get('count', '?')}"
            if outcome.get("status") not in (None, "complete"):
                cell += f" ({outcome['status']})"
            cells.append(cell)
        lines.append("rows: " + ", ".join(cells))
    lines.append(f"requests: {manifest.get('requests', '?')} ({manifest.get('retries', 0)} retries)")
    warnings = manifest.get("warnings") or []
    lines.append(f"warnings: {len(warnings)}" if warnings else "warnings: none")
    lines.extend(f"  - {warning}" for warning in warnings)
    if manifest.get("error"):
        lines.append(f"error: {manifest['error']}")
    lines.extend(f"action required: {problem}" for problem in manifest.get("action_required") or [])
    return lines


def accounts_to_export(flags: Sequence[str], outputs: dict[str, Any] | None) -> tuple[str, ...]:
    """``--account`` (repeatable), else the stack output ``exportAccounts``, else the default account."""
    if flags:
        return tuple(dict.fromkeys(check_alias(alias) for alias in flags))
    listed = (outputs or {}).get("exportAccounts")
    if isinstance(listed, list) and listed:
        return parse_accounts(json.dumps(listed))
    return (DEFAULT_ACCOUNT,)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trigger", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="ALIAS",
        help="export this account (repeatable; default: every account of the stack output exportAccounts)",
    )
    parser.add_argument("--queue-url", help="the export queue's URL (default: stack output exportQueueUrl)")
    parser.add_argument("--container-url", help="snapshot container URL (default: stack output spotifyContainerUrl)")
    parser.add_argument("--stack", help="Pulumi stack to read outputs from (default: the selected one)")
    parser.add_argument("--timeout", type=float, help="seconds to wait for the snapshots (65 minutes per account)")
    parser.add_argument("--poll-interval", type=float, default=15, help="seconds between looks (15)")
    return parser


def main(
    argv: list[str] | None = None, *, credential: TokenCredential | None = None, http: HttpClient | None = None
) -> int:
    args = _parser().parse_args(argv)
    http = http or HttpClient(say=_say)
    try:
        outputs = None if (args.queue_url and args.container_url and args.account) else stack_outputs(args.stack)
        queue_url = output_or_flag(args.queue_url, "exportQueueUrl", "--queue-url", outputs)
        container_url = output_or_flag(args.container_url, "spotifyContainerUrl", "--container-url", outputs)
        accounts = accounts_to_export(args.account, outputs)
    except (StackError, ConfigError) as exc:
        print(f"trigger: {exc}", file=sys.stderr)
        return 1
    service_url, _, queue_name = queue_url.rstrip("/").rpartition("/")
    try:
        credential = credential or deploy_credential()
        store = BlobStore.from_url(container_url, credential=credential)
        queue = ExportQueue.from_url(service_url, queue_name, credential)
        before = manifests(store)

        def show(path: str, manifest: dict[str, Any]) -> None:
            for line in summary(path, store.location, manifest):
                _say(line)

        triggered_at = datetime.now(UTC)
        for alias in accounts:
            queue.send(ExportRequest(alias, "manual", triggered_at.replace(microsecond=0)))
        _say(
            f"queued the export of {', '.join(accounts)} on {queue_name} at {triggered_at:%H:%M:%S} UTC; "
            "waiting for the snapshots (one account at a time)"
        )
        found = wait_for_snapshots(
            store,
            before,
            triggered_at,
            len(accounts),
            args.timeout or TIMEOUT_PER_ACCOUNT_S * len(accounts),
            args.poll_interval,
            show,
            sleep=http.sleep,
            clock=http.clock,
        )
    except (DeploymentError, TriggerError, ExporterError) as exc:
        print(f"trigger: {exc}", file=sys.stderr)
        return 1
    codes = {EXIT_CODES.get(str(manifest.get("status")), 1) for manifest in found}
    action_required = any(manifest.get("action_required") for manifest in found)
    if 1 in codes:
        return 1
    if max(codes) == 0 and action_required:
        return EXIT_ACTION_REQUIRED
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
