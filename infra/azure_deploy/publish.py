"""Publish the function app's zip to a Flex Consumption app ("one deploy") and report the truth.

Used by the Pulumi program's code-deployment resource and by ``scripts/deploy.py``. Flex
Consumption takes code only through the SCM site's ``POST /api/publish`` (``/api/zipdeploy`` and
``WEBSITE_RUN_FROM_PACKAGE`` are not supported there), authenticated with a Microsoft Entra
bearer token: basic (publishing profile) auth is disabled on our apps. The publish answer only
means "accepted": the SCM site then stores the package in the app's deployment container *with
the app's own identity* and restarts the host, so the outcome is polled.

Polling follows the Azure CLI (``enable_zip_deploy_flex`` and ``_check_zip_deployment_status_flex``
in azure-cli's appservice ``custom.py``): ``GET /api/deployments/latest``, here matched against the
id the publish answered, with Kudu's statuses -1 cancelled, 0-2 in progress, 3 failed, 4 succeeded,
5 cancelled for a conflicting deployment and 6 partially succeeded (the numbering of
``DeploymentStatus`` in the .NET SDK's OneDeploy task and Azure Functions Core Tools' ``DeployStatus``).
Like the CLI, a partial success counts as a failure: some instances did not take the new code.
``/api/deployments/{id}`` is not used for the status: a failed Flex deployment has been seen
answering 404 there (Azure/azure-dev issue 4439), which a poller would take for "pending" forever.

Three waits are Azure's, not ours, and each is bounded and said on the console:

* a cold SCM site answers 502/503/504 from its front end for a while: retried for two minutes;
* a role assignment made a moment ago can take up to ten minutes to apply, so the first publish
  of a new stack may fail with "403 ... not authorized" from storage (the deployment log says so,
  Azure/azure-functions-core-tools issue 4346): published again, with backoff, for ten minutes;
* a deployment that the SCM site does not list yet: one minute, then an error, never "pending".

Errors are :class:`~azure_deploy.http.DeploymentError`: one line saying what to do, never a token.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from .credentials import LOGIN_HINT, SCM_SCOPE, EntraToken, deploy_credential
from .http import (
    GATEWAY_STATUSES,
    DeploymentError,
    HttpClient,
    Patience,
    detail,
    json_or_empty,
    one_line,
    require_https,
)

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

#: recorded by the SCM site as who deployed (``az`` sends ``az_cli``)
DEPLOYER = "spotify_exporter"

STATUS_SUCCESS = 4
IN_PROGRESS = {0: "pending", 1: "building", 2: "deploying"}
FAILURES = {
    -1: "was cancelled",
    3: "failed",
    5: "was cancelled: another deployment is in progress",
    6: "only partially succeeded (some instances did not take the new code; publish again)",
}

#: the upload of a ~20 MB zip plus the SCM site storing it before it answers
UPLOAD_TIMEOUT_S = 300.0
#: a cold SCM site's front end answers 502/503/504 until Kudu is up
SCM_WARMUP_S = 120.0
#: Azure RBAC: "may take up to 10 minutes" for a new role assignment to apply
ROLE_PROPAGATION_S = 600.0
REPUBLISH_BACKOFF_S = (15.0, 30.0, 60.0)
#: how long a published deployment may be missing from /api/deployments/latest
REGISTRATION_GRACE_S = 60.0
#: log lines shown on the console when a deployment fails
LOG_LINES_SHOWN = 30

#: a deployment log line saying that storage refused the app's identity
STORAGE_REFUSED = re.compile(
    r"(storage|blob)[^\n]*(403|forbidden|not authorized)|(403|forbidden)[^\n]*(storage|blob)", re.IGNORECASE
)
_DEPLOYMENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class StorageRefused(DeploymentError):
    """The deployment failed because storage refused the app's identity (a role not applied yet)."""


@dataclass
class Publisher:
    """Publishes zips to one app's SCM site; the HTTP client carries the clock and the sleep."""

    scm_url: str
    credential: TokenCredential
    http: HttpClient = field(default_factory=HttpClient)
    timeout_s: float = 900.0
    poll_interval_s: float = 5.0
    report: Callable[[str], None] = lambda _line: None

    def __post_init__(self) -> None:
        self.base = require_https(self.scm_url, "SCM site")
        self.token = EntraToken(self.credential, SCM_SCOPE)
        self.warmup = Patience(attempts=1000, seconds=SCM_WARMUP_S, notice="the SCM site is not answering yet")

    def publish(self, zip_path: Path) -> str:
        """Publish ``zip_path`` and wait until it runs; returns the deployment id."""
        package = read_package(zip_path)
        started = self.http.clock()
        for attempt in range(1, 1000):
            deployment_id = self._upload(package)
            self.report(f"package accepted ({len(package) / 1e6:.1f} MB), deployment {deployment_id or '(latest)'}")
            try:
                return self._wait(deployment_id)
            except StorageRefused as refused:
                waited = self.http.clock() - started
                if waited >= ROLE_PROPAGATION_S:
                    raise DeploymentError(
                        f"{refused} for {waited / 60:.0f} minutes: check that the app's identity has Storage Blob "
                        "Data Owner on its host storage account (`pulumi up` grants it)"
                    ) from None
                backoff = REPUBLISH_BACKOFF_S[min(attempt, len(REPUBLISH_BACKOFF_S)) - 1]
                delay = min(backoff, ROLE_PROPAGATION_S - waited)
                self.report(
                    "storage refused the app's identity (HTTP 403): a new role assignment can take up to 10 minutes "
                    f"to apply; publishing again in {delay:.0f} s"
                )
                self.http.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _upload(self, package: bytes) -> str:
        response = self.http.send(
            "POST",
            f"{self.base}/api/publish",
            params={"RemoteBuild": "false", "Deployer": DEPLOYER},
            data=package,
            headers={**self.token.header(), "Content-Type": "application/zip", "Cache-Control": "no-cache"},
            what="the SCM site",
            read_timeout_s=UPLOAD_TIMEOUT_S,
            # a 500 may come after the upload was taken: repeating it could start a second deployment
            retry_statuses=GATEWAY_STATUSES,
            retry_read_timeouts=False,
            patience=self.warmup,
        )
        if response.status_code in (401, 403):
            raise refused(response, f"the SCM site {self.base}")
        if response.status_code == 404:
            raise DeploymentError(f"{self.base} has no publish endpoint (HTTP 404); check the app name and its SCM URL")
        if response.status_code == 409:
            raise DeploymentError(
                f"another deployment is in progress; wait for it ({self.base}/api/deployments/latest) and run again"
            )
        if response.status_code not in (200, 202):
            raise DeploymentError(
                f"the SCM site did not take the package (HTTP {response.status_code}{detail(response)})"
            )
        return deployment_id_of(response)

    def _latest(self) -> tuple[int, dict[str, Any]]:
        response = self.http.send(
            "GET", f"{self.base}/api/deployments/latest", headers=self.token.header(), what="the SCM site",
            patience=self.warmup,
        )  # fmt: skip
        if response.status_code in (401, 403):
            raise refused(response, "the SCM site")
        if response.status_code not in (200, 202, 404):
            raise DeploymentError(
                f"{self.base}/api/deployments/latest answered HTTP {response.status_code}{detail(response)}"
            )
        return response.status_code, json_or_empty(response)

    def _wait(self, deployment_id: str) -> str:
        clock = self.http.clock
        deadline = clock() + self.timeout_s
        missing_since: float | None = None
        last_status: object = None
        while True:
            code, document = self._latest()
            latest_id = str(document.get("id") or "")
            if code == 404 or not document or (deployment_id and latest_id != deployment_id):
                # not listed (yet): a deployment registers within seconds, so this does not last
                missing_since = clock() if missing_since is None else missing_since
                if clock() - missing_since >= REGISTRATION_GRACE_S:
                    seen = f"it lists {latest_id}" if latest_id else f"HTTP {code}"
                    raise DeploymentError(
                        f"the SCM site has not listed deployment {deployment_id or '(latest)'} for "
                        f"{REGISTRATION_GRACE_S:.0f} s ({seen} at /api/deployments/latest): it may have failed "
                        f"before it was recorded; see {self.base}/api/deployments/latest/log or the portal's "
                        "Deployment Center, then run again"
                    )
            else:
                missing_since = None
                deployment_id = latest_id
                status = _int(document.get("status"))
                if status != last_status:
                    last_status = status
                    name = "succeeded" if status == STATUS_SUCCESS else IN_PROGRESS.get(status or 0, f"status {status}")
                    self.report(f"deployment {deployment_id}: {FAILURES.get(status or 0, name)}")
                if status == STATUS_SUCCESS:
                    return deployment_id
                if status in FAILURES or (document.get("complete") is True and status not in IN_PROGRESS):
                    raise self._failure(deployment_id, document, status)
            remaining = deadline - clock()
            if remaining <= 0:
                raise DeploymentError(
                    f"deployment {deployment_id or '(latest)'} did not finish within {self.timeout_s:.0f} s; it may "
                    f"still finish: follow it at {self.base}/api/deployments/latest or in the portal's "
                    "Deployment Center"
                )
            self.http.sleep(min(self.poll_interval_s, remaining))

    def _failure(self, deployment_id: str, document: dict[str, Any], status: int | None) -> DeploymentError:
        """The deployment's own words: its log on the console, its status text and last error in the message."""
        log_url, entries = self._log(deployment_id, document)
        messages = [e for e in entries if e.get("message")]
        for entry in messages[-LOG_LINES_SHOWN:]:
            self.report(f"  log: {one_line(str(entry['message']))[:300]}")
        errors = [e for e in messages if _int(e.get("type")) == 2] or messages  # Kudu's log entry type 2: error
        status_text = one_line(str(document.get("status_text") or ""))
        last_error = one_line(str(errors[-1]["message"])) if errors else ""
        parts = [p for p in (status_text, last_error) if p]
        if len(parts) == 2 and parts[1] in parts[0]:
            parts = parts[:1]
        reason = (": ".join(parts) or f"status {document.get('status')}")[:400]
        verb = FAILURES.get(status or 0, "failed")
        where = log_url or f"{self.base}/api/deployments/latest/log"
        if any(STORAGE_REFUSED.search(str(e["message"])) for e in messages) or STORAGE_REFUSED.search(status_text):
            return StorageRefused(f"deployment {deployment_id} {verb}: {reason}")
        return DeploymentError(f"deployment {deployment_id} {verb}: {reason}; see {where}")

    def _log(self, deployment_id: str, document: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        """The deployment log's entries, from ``log_url`` or by id or as the latest's (a failed one may 404)."""
        candidates = [str(document.get("log_url") or "")]
        if deployment_id:
            candidates.append(f"{self.base}/api/deployments/{deployment_id}/log")
        candidates.append(f"{self.base}/api/deployments/latest/log")
        for url in dict.fromkeys(candidates):
            # the token only goes to the SCM site itself, whatever URL the answer names
            if not url.startswith("https://") or urlsplit(url).netloc != urlsplit(self.base).netloc:
                continue
            try:
                response = self.http.send("GET", url, headers=self.token.header(), what="the deployment log")
                entries = response.json() if response.status_code == 200 else None
            except (DeploymentError, ValueError):
                entries = None
            if isinstance(entries, list):
                return url, [e for e in entries if isinstance(e, dict)]
        return "", []


def publish_package(
    zip_path: Path,
    *,
    scm_url: str,
    credential: TokenCredential | None = None,
    timeout_s: float = 900,
    poll_interval_s: float = 5,
    on_status: Callable[[str], None] | None = None,
    http: HttpClient | None = None,
) -> str:
    """Publish ``zip_path`` to the Flex Consumption app whose SCM site is ``scm_url``; the deployment id.

    ``scm_url`` is the app's ``Repository`` host (``hostNameSslStates``), never guessed from its name.
    ``on_status`` receives a line whenever something worth saying happens.
    """
    say = on_status or (lambda _line: None)
    client = http or HttpClient(say=say)
    publisher = Publisher(
        scm_url,
        credential or deploy_credential(),
        http=client,
        timeout_s=timeout_s,
        poll_interval_s=poll_interval_s,
        report=say,
    )
    return publisher.publish(zip_path)


def read_package(zip_path: Path) -> bytes:
    try:
        package = zip_path.read_bytes()
    except OSError as exc:
        raise DeploymentError(f"cannot read the package {zip_path} ({exc.strerror}); run `make package`") from None
    if not package.startswith(b"PK\x03\x04"):
        raise DeploymentError(f"{zip_path} is not a zip file; run `make package`")
    return package


def refused(response: requests.Response, what: str) -> DeploymentError:
    """401/403 from the SCM site: an expired login, or a principal without rights on the app."""
    return DeploymentError(
        f"{what} refused the token (HTTP {response.status_code}{detail(response)}); {LOGIN_HINT} "
        "(the principal needs Website Contributor on the app)"
    )


def deployment_id_of(response: requests.Response) -> str:
    """The id from the body (a bare or JSON-quoted string) or the ``Location`` header."""
    candidates = [response.text.strip().strip('"').strip()]
    location = response.headers.get("Location", "")
    if "/api/deployments/" in location:
        candidates.append(location.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1])
    for candidate in candidates:
        if _DEPLOYMENT_ID.match(candidate) and candidate != "latest":
            return candidate
    return ""


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str | float):
        try:
            return int(value)
        except ValueError:
            return None
    return None
