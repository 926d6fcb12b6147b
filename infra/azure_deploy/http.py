"""HTTPS calls to Azure with timeouts, bounded retries and one-line errors that never show a secret.

The clock and the sleep are injected (:class:`HttpClient`), so tests can run minutes of Azure's
patience (a cold SCM site, a role still propagating) in no time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_exponential

Clock = Callable[[], float]
Sleep = Callable[[float], None]
Say = Callable[[str], None]

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0
#: attempts per request (the first included) on 5xx and broken connections, and the backoff base
ATTEMPTS = 4
BACKOFF_S = 1.0
BACKOFF_MAX_S = 15.0

#: a bare 5xx from the front end: the request did not reach the app, so even a POST may be repeated
GATEWAY_STATUSES = frozenset({502, 503, 504})
SERVER_STATUSES = frozenset({500, 502, 503, 504})


class DeploymentError(Exception):
    """A deployment (or a call to Azure on its behalf) did not work; the message says what to do."""


class Transient(Exception):
    """A 5xx or a broken connection, worth another attempt."""


@dataclass(frozen=True)
class Patience:
    """How long one request keeps trying: ``attempts`` in all, or for ``seconds`` (whichever ends first)."""

    attempts: int = ATTEMPTS
    seconds: float = float("inf")
    notice: str = ""
    """Said once on the console when the first attempt fails (e.g. "the SCM site is starting")."""


@dataclass
class HttpClient:
    """A requests session plus the clock and sleep that every wait goes through."""

    session: requests.Session = field(default_factory=requests.Session)
    clock: Clock = time.monotonic
    sleep: Sleep = time.sleep
    say: Say = lambda _line: None

    def send(
        self,
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
        patience: Patience | None = None,
    ) -> requests.Response:
        """One request, repeated with exponential backoff on ``retry_statuses`` and broken connections
        until ``patience`` runs out; then DeploymentError. Redirects are not followed, so credentials
        never leave for another host."""
        patience = patience or Patience()
        host = urlsplit(url).netloc
        started = self.clock()
        noticed = False

        def attempt() -> requests.Response:
            nonlocal noticed
            try:
                response = self.session.request(
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
                failure = Transient(f"{what} at {host} did not answer within {read_timeout_s:.0f} s")
            except requests.RequestException as exc:
                failure = Transient(f"could not reach {what} at {host} ({connection_reason(exc)})")
            else:
                if response.status_code not in retry_statuses:
                    return response
                failure = Transient(f"{what} at {host} answered HTTP {response.status_code}{detail(response)}")
            if patience.notice and not noticed:
                noticed = True
                self.say(f"{patience.notice} ({failure}); trying again for up to {patience.seconds:.0f} s")
            raise failure

        def out_of_patience(state: RetryCallState) -> bool:
            return state.attempt_number >= patience.attempts or self.clock() - started >= patience.seconds

        retrying = Retrying(
            stop=out_of_patience,
            wait=wait_exponential(multiplier=BACKOFF_S, max=BACKOFF_MAX_S),
            retry=retry_if_exception_type(Transient),
            sleep=self.sleep,
            reraise=True,
        )
        try:
            response: requests.Response = retrying(attempt)
        except Transient as exc:
            tries = f"for {self.clock() - started:.0f} s" if patience.seconds < float("inf") else ""
            tries = tries or f"after {patience.attempts} attempts"
            raise DeploymentError(f"{exc} {tries}; check the network and try again later") from None
        return response


def require_https(url: str, what: str) -> str:
    """Tokens and keys go over HTTPS only; returns ``url`` without a trailing slash."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise DeploymentError(f"the {what} URL must be https://..., not {url!r}; credentials are never sent in clear")
    return url.rstrip("/")


def error_code(response: requests.Response) -> str:
    """Azure's error code from an ARM-style ``{"error": {"code": ...}}`` body (or ``Code``), else ``""``."""
    body = json_or_empty(response)
    error = body.get("error", body)
    if isinstance(error, dict):
        code = error.get("code") or error.get("Code") or ""
        return str(code)[:80]
    return ""


def detail(response: requests.Response) -> str:
    code = error_code(response)
    return f" {code}" if code else ""


def json_or_empty(response: requests.Response) -> dict[str, Any]:
    """The response body when it is a JSON object, else ``{}``."""
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def connection_reason(exc: requests.RequestException) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out", "certificate verify failed"):
        if marker.lower() in text.lower():
            return marker.lower()
    return type(exc).__name__


def one_line(text: str) -> str:
    return " ".join(text.split())
