"""`make trigger`: run the weekly export in Azure now and wait for its snapshot.

The function app's master key is fetched through Azure Resource Manager with your Entra
sign-in (:func:`azure_deploy.credentials.deploy_credential`: ``az login``, ``AZURE_*`` or
Pulumi's ``ARM_*``), used once for the host's admin endpoint that runs a timer function on
demand, and never printed or stored. Then the snapshot container is watched until a new
``manifest.json`` appears (it is written last), and its summary is printed. Exit status 0
complete, 2 partial, 1 failed or timed out. Reading the container needs a data role:
`pulumi up` gives the deployer Storage Blob Data Contributor on it.

Names default to the Pulumi stack outputs (``subscriptionId``, ``resourceGroupName``,
``functionAppName``, ``spotifyContainerUrl``) when the Pulumi CLI is installed; the
subscription also comes from ``AZURE_SUBSCRIPTION_ID`` or ``ARM_SUBSCRIPTION_ID``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from azure_deploy.arm import ARM_URL, ResourceManager
from azure_deploy.credentials import deploy_credential
from azure_deploy.http import GATEWAY_STATUSES, DeploymentError, HttpClient, Patience, require_https
from azure_deploy.stack import StackError, output_or_flag, stack_outputs, subscription_of
from spotify_exporter.errors import ExporterError
from spotify_exporter.stores.blob import BlobStore
from spotify_exporter.terminal import printable

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

FUNCTION_NAME = "weekly_export"
MANIFEST = "manifest.json"
FOLDER_TIME_FORMAT = "%Y-%m-%dT%H-%M-%SZ"
#: a snapshot counts as ours if it started no earlier than this before the trigger (clock skew)
CLOCK_SKEW = timedelta(minutes=2)
EXIT_CODES = {"complete": 0, "partial": 2}
#: complete, but the next run will be refused (a rotated refresh token could not be saved)
EXIT_ACTION_REQUIRED = 3


class TriggerError(Exception):
    """The export could not be started or watched; the message says what to do."""


def _say(line: str) -> None:
    print(printable(f"trigger: {line}"), flush=True)  # names from Spotify never reach the terminal raw


#: the function host of a Flex Consumption app starts on demand: its front end answers 502/503/504 meanwhile
HOST_WARMUP = Patience(attempts=1000, seconds=120.0, notice="the function app is starting")


def start_function(http: HttpClient, app_url: str, master_key: str, function: str = FUNCTION_NAME) -> None:
    """``POST /admin/functions/<name>``: the host queues a run of a non-HTTP function and answers 202."""
    response = http.send(
        "POST",
        f"{require_https(app_url, 'function app')}/admin/functions/{quote(function, safe='')}",
        data=json.dumps({"input": ""}).encode(),
        headers={"x-functions-key": master_key, "Content-Type": "application/json"},
        what="the function app",
        retry_statuses=GATEWAY_STATUSES,  # the host is starting: the run was not queued
        retry_read_timeouts=False,
        patience=HOST_WARMUP,
    )
    if response.status_code == 404:
        raise TriggerError(f"the function app has no function {function}; deploy the code first (`make deploy`)")
    if response.status_code in (401, 403):
        raise TriggerError(f"the function app refused its master key (HTTP {response.status_code}); try again")
    if response.status_code not in (200, 202, 204):
        raise TriggerError(f"the function app answered HTTP {response.status_code} to the run request")


def manifests(store: BlobStore) -> set[str]:
    """``<account_id>/<started_at>/manifest.json`` of every finished snapshot in the container."""
    return {name for name in store.list_files() if name.endswith("/" + MANIFEST) and name.count("/") == 2}


def _started_at(manifest_path: str) -> datetime | None:
    try:
        return datetime.strptime(manifest_path.split("/")[1], FOLDER_TIME_FORMAT).replace(tzinfo=UTC)
    except (IndexError, ValueError):
        return None


def wait_for_snapshot(
    store: BlobStore,
    before: set[str],
    triggered_at: datetime,
    timeout_s: float,
    poll_interval_s: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[str, dict[str, Any]]:
    """The first manifest that was not there ``before`` and started after the trigger, and its content."""
    deadline = clock() + timeout_s
    while True:
        for path in sorted(manifests(store) - before, reverse=True):
            started = _started_at(path)
            if started is not None and started >= triggered_at.replace(microsecond=0) - CLOCK_SKEW:
                with store.open_read(path) as stream:
                    document = json.load(stream)
                return path, document if isinstance(document, dict) else {}
        remaining = deadline - clock()
        if remaining <= 0:
            raise TriggerError(
                f"no new snapshot in {store.location} within {timeout_s:.0f} s; the run may still be going or "
                "have failed: check the function's invocations in Application Insights"
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trigger", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--subscription", help="subscription id (default: stack output subscriptionId)")
    parser.add_argument("--resource-group", help="resource group (default: stack output resourceGroupName)")
    parser.add_argument("--app", help="function app name (default: stack output functionAppName)")
    parser.add_argument("--container-url", help="snapshot container URL (default: stack output spotifyContainerUrl)")
    parser.add_argument("--stack", help="Pulumi stack to read outputs from (default: the selected one)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the snapshot (1800)")
    parser.add_argument("--poll-interval", type=float, default=15, help="seconds between looks (15)")
    parser.add_argument("--arm-url", default=ARM_URL, help=argparse.SUPPRESS)
    parser.add_argument("--app-url", help=argparse.SUPPRESS)
    return parser


def main(
    argv: list[str] | None = None, *, credential: TokenCredential | None = None, http: HttpClient | None = None
) -> int:
    args = _parser().parse_args(argv)
    http = http or HttpClient(say=_say)
    try:
        given = (args.subscription, args.resource_group, args.app, args.container_url)
        outputs = None if all(given) else stack_outputs(args.stack)
        subscription = subscription_of(args.subscription, outputs)
        if not subscription:
            raise StackError(
                "give --subscription (or set AZURE_SUBSCRIPTION_ID, or install the Pulumi CLI to read the stack "
                "output subscriptionId)"
            )
        resource_group = output_or_flag(args.resource_group, "resourceGroupName", "--resource-group", outputs)
        app = output_or_flag(args.app, "functionAppName", "--app", outputs)
        container_url = output_or_flag(args.container_url, "spotifyContainerUrl", "--container-url", outputs)
    except StackError as exc:
        print(f"trigger: {exc}", file=sys.stderr)
        return 1

    master_key = ""
    try:
        credential = credential or deploy_credential()
        store = BlobStore.from_url(container_url, credential=credential)
        _say(f"fetching the master key of {app} from Azure Resource Manager")
        arm = ResourceManager.signed_in(http, credential, subscription, resource_group, app, args.arm_url)
        app_url = args.app_url or arm.site().app_url
        master_key = arm.master_key()
        before = manifests(store)
        triggered_at = datetime.now(UTC)
        start_function(http, app_url, master_key)
        _say(f"{FUNCTION_NAME} started on {app_url} at {triggered_at:%H:%M:%S} UTC; waiting for its snapshot")
        path, manifest = wait_for_snapshot(
            store, before, triggered_at, args.timeout, args.poll_interval, sleep=http.sleep, clock=http.clock
        )
    except (DeploymentError, TriggerError, ExporterError) as exc:
        message = str(exc).replace(master_key, "***") if master_key else str(exc)
        print(f"trigger: {message}", file=sys.stderr)
        return 1
    for line in summary(path, store.location, manifest):
        _say(line)
    code = EXIT_CODES.get(str(manifest.get("status")), 1)
    return EXIT_ACTION_REQUIRED if code == 0 and manifest.get("action_required") else code


if __name__ == "__main__":
    sys.exit(main())
