"""`make trigger`: run the weekly export in Azure now and wait for its snapshot.

The function app's master key is fetched through Azure Resource Manager with your Entra
sign-in (``DefaultAzureCredential``: ``az login`` on a workstation), used once for the host's
admin endpoint that runs a timer function on demand, and never printed or stored. Then the
snapshot container is watched until a new ``manifest.json`` appears (it is written last), and
its summary is printed. Exit status 0 complete, 2 partial, 1 failed or timed out.

Names default to the Pulumi stack outputs (``resourceGroupName``, ``functionAppName``,
``spotifyContainerUrl``) when the Pulumi CLI is installed; the subscription comes from
``--subscription`` or ``AZURE_SUBSCRIPTION_ID``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests

ROOT = Path(__file__).resolve().parents[1]
for _path in (str(ROOT / "infra"), str(Path(__file__).resolve().parent)):
    if _path not in sys.path:
        sys.path.append(_path)  # last: nothing in these folders may shadow an installed module

from azure_publish import (  # noqa: E402
    ARM_SCOPE,
    DeploymentError,
    EntraToken,
    default_credential,
    error_code,
    json_or_empty,
    refused,
    require_https,
    send,
)
from deploy import StackError, output_or_flag, stack_outputs  # noqa: E402

from spotify_exporter.errors import ExporterError  # noqa: E402
from spotify_exporter.stores.blob import BlobStore  # noqa: E402
from spotify_exporter.terminal import printable  # noqa: E402

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

ARM_URL = "https://management.azure.com"
#: Microsoft.Web api-version of both calls (Web Apps - Get, Web Apps - List Host Keys)
WEB_API_VERSION = "2023-12-01"
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


def _site_path(subscription: str, resource_group: str, app: str) -> str:
    parts = (quote(subscription, safe=""), quote(resource_group, safe=""), quote(app, safe=""))
    return "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Web/sites/{}".format(*parts)


def _arm_call(
    session: requests.Session, token: EntraToken, method: str, url: str, what: str, where: str
) -> dict[str, Any]:
    response = send(session, method, url, params={"api-version": WEB_API_VERSION}, headers=token.header(), what=what)
    if response.status_code in (401, 403):
        raise refused(response, "Azure Resource Manager")
    code = error_code(response)
    detail = f" {code}" if code else ""
    if response.status_code == 404:
        raise TriggerError(f"{where} was not found (HTTP 404{detail}); check the names")
    if response.status_code != 200:
        raise TriggerError(f"Azure Resource Manager answered HTTP {response.status_code}{detail} for {where}")
    return json_or_empty(response)


def app_url_and_master_key(
    credential: TokenCredential, arm_url: str, subscription: str, resource_group: str, app: str, app_url: str | None
) -> tuple[str, str]:
    """The app's HTTPS address (its ``defaultHostName`` unless given) and its master key, both from ARM."""
    arm = require_https(arm_url, "Azure Resource Manager")
    site = arm + _site_path(subscription, resource_group, app)
    where = f"the function app {app} in resource group {resource_group} of subscription {subscription}"
    token = EntraToken(credential, ARM_SCOPE)
    with requests.Session() as session:
        if app_url is None:
            properties = _arm_call(session, token, "GET", site, "Azure Resource Manager", where).get("properties")
            host = properties.get("defaultHostName") if isinstance(properties, dict) else None
            if not isinstance(host, str) or not host:
                raise TriggerError(f"Azure Resource Manager gave no host name for {app}; pass --app-url")
            app_url = f"https://{host}"
        keys = _arm_call(session, token, "POST", site + "/host/default/listkeys", "Azure Resource Manager", where)
    master_key = keys.get("masterKey")
    if not isinstance(master_key, str) or not master_key:
        raise TriggerError(f"Azure Resource Manager returned no master key for {app}; is the function host running?")
    return require_https(app_url, "function app"), master_key


def start_function(app_url: str, master_key: str, function: str = FUNCTION_NAME) -> None:
    """``POST /admin/functions/<name>``: the host queues a run of a non-HTTP function and answers 202."""
    with requests.Session() as session:
        response = send(
            session,
            "POST",
            f"{app_url}/admin/functions/{quote(function, safe='')}",
            data=json.dumps({"input": ""}).encode(),
            headers={"x-functions-key": master_key, "Content-Type": "application/json"},
            what="the function app",
            retry_statuses={502, 503, 504},  # the host is starting: the run was not queued
            retry_read_timeouts=False,
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
) -> tuple[str, dict[str, Any]]:
    """The first manifest that was not there ``before`` and started after the trigger, and its content."""
    deadline = time.monotonic() + timeout_s
    while True:
        for path in sorted(manifests(store) - before, reverse=True):
            started = _started_at(path)
            if started is not None and started >= triggered_at.replace(microsecond=0) - CLOCK_SKEW:
                with store.open_read(path) as stream:
                    document = json.load(stream)
                return path, document if isinstance(document, dict) else {}
        remaining = deadline - time.monotonic()
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
    parser.add_argument("--subscription", help="subscription id (default: AZURE_SUBSCRIPTION_ID)")
    parser.add_argument("--resource-group", help="resource group (default: stack output resourceGroupName)")
    parser.add_argument("--app", help="function app name (default: stack output functionAppName)")
    parser.add_argument("--container-url", help="snapshot container URL (default: stack output spotifyContainerUrl)")
    parser.add_argument("--stack", help="Pulumi stack to read outputs from (default: the selected one)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the snapshot (1800)")
    parser.add_argument("--poll-interval", type=float, default=15, help="seconds between looks (15)")
    parser.add_argument("--arm-url", default=ARM_URL, help=argparse.SUPPRESS)
    parser.add_argument("--app-url", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None, *, credential: TokenCredential | None = None) -> int:
    args = _parser().parse_args(argv)
    subscription = args.subscription or os.environ.get("AZURE_SUBSCRIPTION_ID", "")
    if not subscription:
        print("trigger: give --subscription (or set AZURE_SUBSCRIPTION_ID)", file=sys.stderr)
        return 1
    try:
        given = (args.resource_group, args.app, args.container_url)
        outputs = None if all(given) else stack_outputs(args.stack)
        resource_group = output_or_flag(args.resource_group, "resourceGroupName", "--resource-group", outputs)
        app = output_or_flag(args.app, "functionAppName", "--app", outputs)
        container_url = output_or_flag(args.container_url, "spotifyContainerUrl", "--container-url", outputs)
    except StackError as exc:
        print(f"trigger: {exc}", file=sys.stderr)
        return 1

    master_key = ""
    try:
        credential = credential or default_credential()
        store = BlobStore.from_url(container_url, credential=credential)
        _say(f"fetching the master key of {app} from Azure Resource Manager")
        app_url, master_key = app_url_and_master_key(
            credential, args.arm_url, subscription, resource_group, app, args.app_url
        )
        before = manifests(store)
        triggered_at = datetime.now(UTC)
        start_function(app_url, master_key)
        _say(f"{FUNCTION_NAME} started on {app_url} at {triggered_at:%H:%M:%S} UTC; waiting for its snapshot")
        path, manifest = wait_for_snapshot(store, before, triggered_at, args.timeout, args.poll_interval)
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
