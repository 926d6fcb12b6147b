"""Publish the function app's zip to a Flex Consumption app ("one deploy") and wait for the outcome.

Used by the Pulumi program's code-deployment resource and by ``scripts/deploy.py``, so it
imports nothing from Pulumi. Flex Consumption takes code only through the SCM site's
``POST /api/publish`` (``/api/zipdeploy`` and ``WEBSITE_RUN_FROM_PACKAGE`` are not supported
there), authenticated with a Microsoft Entra bearer token: basic (publishing profile) auth is
disabled on our apps. The publish answer only means "accepted"; the deployment runs
afterwards, so its status is polled until it says success or failure.

Errors are :class:`DeploymentError`: one line saying what to do, never a token or a key.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from azure.core.exceptions import ClientAuthenticationError
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

#: The audience of the token ``az`` sends to the SCM site (its default resource, the classic
#: management endpoint): what Kudu accepts, including for Flex Consumption and in sovereign clouds.
SCM_SCOPE = "https://management.core.windows.net/.default"
#: Azure Resource Manager, as the management SDKs ask for it.
ARM_SCOPE = "https://management.azure.com/.default"
#: recorded by the SCM site as who deployed (``az`` sends ``az_cli``)
DEPLOYER = "spotify_exporter"

#: Kudu's DeployStatus (Pending 0, Building 1, Deploying 2, Failed 3, Success 4)
STATUS_FAILED = 3
STATUS_SUCCESS = 4
STATUS_NAMES = {0: "pending", 1: "building", 2: "deploying", 3: "failed", 4: "succeeded"}

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0
#: the upload of a ~20 MB zip plus the SCM site storing it before it answers
UPLOAD_TIMEOUT_S = 300.0
#: attempts per request (the first included) on 5xx and broken connections, and the backoff base
ATTEMPTS = 4
BACKOFF_S = 1.0
#: renew a cached token this long before it expires
TOKEN_MARGIN_S = 300.0

#: a bare 5xx from the front end: the request did not reach the app, so even a POST may be repeated
GATEWAY_STATUSES = frozenset({502, 503, 504})
SERVER_STATUSES = frozenset({500, 502, 503, 504})

_LOGIN_HINT = "run `az login` (or check the service principal has Website Contributor on the app)"
_DEPLOYMENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class DeploymentError(Exception):
    """A deployment (or a call to Azure on its behalf) did not work; the message says what to do."""


class _Transient(Exception):
    """A 5xx or a broken connection, worth another attempt."""


class EntraToken:
    """Bearer tokens for one scope, kept until shortly before they expire.

    ``AzureCliCredential`` (what ``DefaultAzureCredential`` ends up using on a workstation)
    runs ``az`` on every call, about a second each: too slow to repeat on every poll.
    """

    def __init__(self, credential: TokenCredential, scope: str) -> None:
        self._credential = credential
        self._scope = scope
        self._token = ""
        self._expires_on = 0.0

    def header(self) -> dict[str, str]:
        if time.time() > self._expires_on - TOKEN_MARGIN_S:
            try:
                access = self._credential.get_token(self._scope)
            except ClientAuthenticationError as exc:
                reason = _one_line(str(exc.message or exc))[:200]
                raise DeploymentError(f"could not get a Microsoft Entra token ({reason}); {_LOGIN_HINT}") from None
            self._token, self._expires_on = access.token, float(access.expires_on)
        return {"Authorization": f"Bearer {self._token}"}


def default_credential() -> TokenCredential:
    """``DefaultAzureCredential``, imported only when no credential was given (the import is slow)."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def require_https(url: str, what: str) -> str:
    """Tokens and keys go over HTTPS only; returns ``url`` without a trailing slash."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise DeploymentError(f"the {what} URL must be https://..., not {url!r}; credentials are never sent in clear")
    return url.rstrip("/")


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    what: str,
    params: Mapping[str, str] | None = None,
    data: bytes | None = None,
    read_timeout_s: float = READ_TIMEOUT_S,
    retry_statuses: Collection[int] = SERVER_STATUSES,
    retry_read_timeouts: bool = True,
) -> requests.Response:
    """One request with timeouts, repeated with exponential backoff on ``retry_statuses`` and broken
    connections; DeploymentError once the attempts are used up. Redirects are not followed, so
    credentials never leave for another host."""
    host = urlsplit(url).netloc

    def attempt() -> requests.Response:
        try:
            response = session.request(
                method,
                url,
                params=params,
                data=data,
                headers=dict(headers),
                timeout=(CONNECT_TIMEOUT_S, read_timeout_s),
                allow_redirects=False,
            )
        except requests.ReadTimeout:
            if not retry_read_timeouts:
                raise DeploymentError(
                    f"{what} at {host} did not answer within {read_timeout_s:.0f} s; it may still have "
                    "acted on the request, check before trying again"
                ) from None
            raise _Transient(f"{what} at {host} did not answer within {read_timeout_s:.0f} s") from None
        except requests.RequestException as exc:
            raise _Transient(f"could not reach {what} at {host} ({_connection_reason(exc)})") from None
        if response.status_code in retry_statuses:
            raise _Transient(f"{what} at {host} answered HTTP {response.status_code}{_detail(response)}")
        return response

    retrying = Retrying(
        stop=stop_after_attempt(ATTEMPTS),
        wait=wait_exponential(multiplier=BACKOFF_S, max=30),
        retry=retry_if_exception_type(_Transient),
        reraise=True,
    )
    try:
        response: requests.Response = retrying(attempt)
    except _Transient as exc:
        raise DeploymentError(f"{exc} after {ATTEMPTS} attempts; check the network and try again later") from None
    return response


def refused(response: requests.Response, what: str) -> DeploymentError:
    """401/403: an expired login, or a principal without rights on the app."""
    return DeploymentError(f"{what} refused the token (HTTP {response.status_code}{_detail(response)}); {_LOGIN_HINT}")


def error_code(response: requests.Response) -> str:
    """Azure's error code from an ARM-style ``{"error": {"code": ...}}`` body (or ``Code``), else ``""``."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    error = body.get("error", body)
    if isinstance(error, dict):
        code = error.get("code") or error.get("Code") or ""
        return str(code)[:80]
    return ""


def publish_package(
    app_name: str,
    zip_path: Path,
    *,
    credential: TokenCredential | None = None,
    scm_url: str | None = None,
    timeout_s: float = 900,
    poll_interval_s: float = 5,
    on_status: Callable[[str], None] | None = None,
) -> str:
    """Publish ``zip_path`` to the Flex Consumption app ``app_name`` and wait until it is live.

    Returns the deployment id. ``scm_url`` overrides ``https://<app>.scm.azurewebsites.net``
    (apps with a unique default host name, sovereign clouds, tests). ``on_status`` receives a
    line whenever the deployment's status changes.
    """
    report = on_status or (lambda _line: None)
    base = require_https(scm_url or f"https://{app_name}.scm.azurewebsites.net", "SCM site")
    try:
        package = zip_path.read_bytes()
    except OSError as exc:
        raise DeploymentError(f"cannot read the package {zip_path} ({exc.strerror}); run `make package`") from None
    if not package.startswith(b"PK\x03\x04"):
        raise DeploymentError(f"{zip_path} is not a zip file; run `make package`")
    token = EntraToken(credential or default_credential(), SCM_SCOPE)

    with requests.Session() as session:
        response = send(
            session,
            "POST",
            f"{base}/api/publish",
            params={"RemoteBuild": "false", "Deployer": DEPLOYER},
            data=package,
            headers={**token.header(), "Content-Type": "application/zip", "Cache-Control": "no-cache"},
            what="the SCM site",
            read_timeout_s=UPLOAD_TIMEOUT_S,
            # a 500 may come after the upload was taken: repeating it could start a second deployment
            retry_statuses=GATEWAY_STATUSES,
            retry_read_timeouts=False,
        )
        if response.status_code in (401, 403):
            raise refused(response, f"the SCM site of {app_name}")
        if response.status_code == 404:
            raise DeploymentError(
                f"{base} has no publish endpoint (HTTP 404); check the app name, and for an app with a "
                "unique default host name pass its SCM URL"
            )
        if response.status_code == 409:
            raise DeploymentError(
                f"another deployment to {app_name} is in progress; wait for it ({base}/api/deployments/latest) "
                "and run again"
            )
        if response.status_code not in (200, 202):
            raise DeploymentError(
                f"the SCM site of {app_name} did not take the package (HTTP {response.status_code}{_detail(response)})"
            )
        deployment_id = _deployment_id(response)
        report(f"package accepted ({len(package) / 1e6:.1f} MB), deployment {deployment_id or '(latest)'}")
        status_url = f"{base}/api/deployments/{deployment_id or 'latest'}"
        return _wait(session, token, base, status_url, deployment_id, timeout_s, poll_interval_s, report)


def _wait(
    session: requests.Session,
    token: EntraToken,
    base: str,
    status_url: str,
    deployment_id: str,
    timeout_s: float,
    poll_interval_s: float,
    report: Callable[[str], None],
) -> str:
    deadline = time.monotonic() + timeout_s
    last_status: object = None
    while True:
        response = send(session, "GET", status_url, headers=token.header(), what="the SCM site")
        if response.status_code in (401, 403):
            raise refused(response, "the SCM site")
        document: dict[str, Any] = {}
        if response.status_code == 200:
            try:
                parsed = response.json()
            except ValueError:
                parsed = None
            document = parsed if isinstance(parsed, dict) else {}
        elif response.status_code != 404:  # 404: the deployment is not registered yet
            raise DeploymentError(f"the deployment status at {status_url} answered HTTP {response.status_code}")
        deployment_id = str(document.get("id") or deployment_id)
        status = document.get("status")
        code = _int(status)
        if status is not None and status != last_status:
            last_status = status
            name = STATUS_NAMES.get(code, f"status {status}") if code is not None else f"status {status}"
            report(f"deployment {deployment_id}: {name}")
        if code == STATUS_SUCCESS:
            return deployment_id
        if code == STATUS_FAILED or (document.get("complete") is True and status is not None):
            reason = _failure_reason(session, token, base, document)
            where = document.get("log_url") or status_url
            raise DeploymentError(f"deployment {deployment_id} failed: {reason}; see {where}")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DeploymentError(
                f"deployment {deployment_id or '(latest)'} did not finish within {timeout_s:.0f} s; it may still "
                f"finish: follow it at {status_url} or in the portal's Deployment Center"
            )
        time.sleep(min(poll_interval_s, remaining))


def _failure_reason(session: requests.Session, token: EntraToken, base: str, document: dict[str, Any]) -> str:
    """The deployment's own words: its ``status_text`` and the last error line of its log."""
    status_text = _one_line(str(document.get("status_text") or ""))
    log_line = ""
    log_url = str(document.get("log_url") or "")
    # the token only goes to the SCM site itself, whatever URL the answer names
    if log_url and urlsplit(log_url).netloc == urlsplit(base).netloc and log_url.startswith("https://"):
        try:
            response = send(session, "GET", log_url, headers=token.header(), what="the deployment log")
            entries = response.json() if response.status_code == 200 else []
        except (DeploymentError, ValueError):
            entries = []
        if isinstance(entries, list):
            messages = [e for e in entries if isinstance(e, dict) and e.get("message")]
            errors = [e for e in messages if _int(e.get("type")) == 2] or messages  # Kudu: 2 = error
            if errors:
                log_line = _one_line(str(errors[-1]["message"]))
    parts = [p for p in (status_text, log_line) if p]
    if len(parts) == 2 and parts[1] in parts[0]:
        parts = parts[:1]
    reason = ": ".join(parts) or f"status {document.get('status')}"
    return reason[:400]


def _deployment_id(response: requests.Response) -> str:
    """The id from the body (a bare or JSON-quoted string) or the ``Location`` header."""
    candidates = [response.text.strip().strip('"').strip()]
    location = response.headers.get("Location", "")
    if "/api/deployments/" in location:
        candidates.append(location.rstrip("/").rsplit("/", 1)[-1])
    for candidate in candidates:
        if _DEPLOYMENT_ID.match(candidate) and candidate != "latest":
            return candidate
    return ""


def _detail(response: requests.Response) -> str:
    code = error_code(response)
    return f" {code}" if code else ""


def _connection_reason(exc: requests.RequestException) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out", "certificate verify failed"):
        if marker.lower() in text.lower():
            return marker.lower()
    return type(exc).__name__


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


def _one_line(text: str) -> str:
    return " ".join(text.split())


def json_or_empty(response: requests.Response) -> dict[str, Any]:
    """The response body when it is a JSON object, else ``{}``."""
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


__all__ = [
    "ARM_SCOPE",
    "SCM_SCOPE",
    "DeploymentError",
    "EntraToken",
    "default_credential",
    "error_code",
    "json_or_empty",
    "publish_package",
    "refused",
    "require_https",
    "send",
]
