"""Access tokens from the refresh-token grant (client id + secret by HTTP Basic).

The access token lives about an hour; it is renewed shortly before it expires (a minute, or
half its life if Spotify grants less than two) and once more whenever the API answers 401. Any
new refresh token Spotify hands back is passed to ``on_new_refresh_token`` straight away, before
it can be lost; what it answers (a reason the token could not be kept) is collected in
``unsaved_tokens``. Token requests never follow a redirect: it would re-send the refresh token and
the client secret to wherever the redirect points.

A ``429`` from the token endpoint is the client's retry policy's to handle (:mod:`.retries`), as
a ``429`` from the API is: its ``Retry-After`` is waited out within the run's rate-limit budget,
or a long one stops the run as partial with the time to try again. Server errors and broken
connections are backed off here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from .credentials import SpotifyCredentials
from .errors import AuthExpiredError, ClientRejectedError, ExporterError
from .redaction import remember
from .retries import TooManyRequests, retry_after_seconds
from .token_age import age_detail

#: renew this many seconds before the announced expiry, so a token never dies mid-request
EXPIRY_MARGIN_S = 60.0
#: what an access token is taken to live when Spotify's ``expires_in`` is missing or meaningless
DEFAULT_LIFETIME_S = 3600.0


class _TokenEndpointUnavailable(Exception):
    """A transient failure of the accounts service (5xx, broken connection)."""


class SpotifyAuth:
    """Hands out a valid access token, refreshing it as needed."""

    def __init__(
        self,
        session: requests.Session,
        accounts_url: str,
        credentials: SpotifyCredentials,
        on_new_refresh_token: Callable[[str], str | None],
        *,
        timeout: tuple[float, float] = (10.0, 30.0),
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        attempts: int = 4,
        authorized_at: datetime | None = None,
        auth_command: str = "make auth",
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._session = session
        self._token_url = accounts_url.rstrip("/") + "/api/token"
        self._credentials = credentials
        self._on_new_refresh_token = on_new_refresh_token
        self._timeout = timeout
        self._clock = clock
        self._sleep = sleep
        self._attempts = attempts
        self._authorized_at = authorized_at
        self._auth_command = auth_command
        self._now = now
        self._access_token: str | None = None
        self._expires_at = 0.0
        self._margin_s = EXPIRY_MARGIN_S
        self.refreshes = 0
        #: why rotated refresh tokens could not be saved: the next run will be refused
        self.unsaved_tokens: list[str] = []

    def __repr__(self) -> str:
        return f"SpotifyAuth(token_url={self._token_url!r})"

    def access_token(self) -> str:
        """A token valid for at least the next minute."""
        if self._access_token is None or self._clock() >= self._expires_at - self._margin_s:
            self.refresh()
        assert self._access_token is not None
        return self._access_token

    def refresh(self) -> None:
        """Exchange the refresh token for a new access token (and maybe a new refresh token).

        Raises :class:`.retries.TooManyRequests` on a ``429``; the token is then renewed on the next
        request, whatever the old one's expiry says (it may just have been refused)."""
        self._access_token = None
        try:
            for attempt in Retrying(
                retry=retry_if_exception_type(_TokenEndpointUnavailable),
                stop=stop_after_attempt(self._attempts),
                wait=wait_exponential(multiplier=1, max=20),
                sleep=self._sleep,
                reraise=True,
            ):
                with attempt:
                    body = self._request_token()
        except _TokenEndpointUnavailable as error:
            raise ExporterError(f"the Spotify accounts service kept failing ({error}); try again later") from None
        self.refreshes += 1
        self._access_token = str(body["access_token"])
        remember(self._access_token)
        lifetime = _lifetime(body.get("expires_in"))
        self._expires_at = self._clock() + lifetime
        # a token granted for less than two minutes is renewed at half its life, not before every request
        self._margin_s = min(EXPIRY_MARGIN_S, lifetime / 2)
        new_refresh_token = body.get("refresh_token")
        if isinstance(new_refresh_token, str) and new_refresh_token != self._credentials.refresh_token:
            self._credentials = SpotifyCredentials(
                self._credentials.client_id, self._credentials.client_secret, new_refresh_token
            )
            problem = self._on_new_refresh_token(new_refresh_token)
            if problem:
                self.unsaved_tokens.append(problem)

    def _request_token(self) -> dict[str, object]:
        try:
            response = self._session.post(
                self._token_url,
                data={"grant_type": "refresh_token", "refresh_token": self._credentials.refresh_token},
                auth=(self._credentials.client_id, self._credentials.client_secret),
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.RequestException as error:
            raise _TokenEndpointUnavailable(type(error).__name__) from None
        if response.is_redirect:
            raise ExporterError(redirect_refused(response, "SPOTIFY_ACCOUNTS_URL"))
        if response.status_code == 429:
            raise TooManyRequests(retry_after_seconds(response.headers.get("Retry-After"), self._now()))
        if response.status_code >= 500:
            raise _TokenEndpointUnavailable(f"HTTP {response.status_code}")
        body = _json_object(response)
        if response.status_code == 200 and isinstance(body.get("access_token"), str):
            return body
        code = str(body.get("error", ""))
        if code == "invalid_grant":
            raise AuthExpiredError(age_detail(self._authorized_at, self._now()), self._auth_command)
        if code == "invalid_client" or response.status_code == 401:
            raise ClientRejectedError()
        if response.status_code == 200:
            raise _TokenEndpointUnavailable("a token response without an access token")
        raise ExporterError(
            f"the Spotify accounts service refused the token refresh with HTTP {response.status_code}"
            + (f" ({code})" if code else "")
        )


def _lifetime(expires_in: object) -> float:
    """Seconds an access token lives: ``expires_in`` when it is a positive, finite number."""
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
        return DEFAULT_LIFETIME_S
    return float(expires_in) if math.isfinite(expires_in) and expires_in > 0 else DEFAULT_LIFETIME_S


def redirect_refused(response: requests.Response, setting: str) -> str:
    """The message for a token endpoint that answered with a redirect, which is never followed."""
    target = urlsplit(response.headers.get("Location") or "").netloc or "elsewhere"
    return (
        f"the Spotify accounts service answered the token request with a redirect (HTTP {response.status_code} "
        f"to {target}); it was not followed, so no token or secret was sent there. Check {setting}"
    )


def _json_object(response: requests.Response) -> dict[str, object]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
