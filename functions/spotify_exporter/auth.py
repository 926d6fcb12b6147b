"""Access tokens from the refresh-token grant (client id + secret by HTTP Basic).

The access token lives about an hour; it is renewed shortly before it expires and once
more whenever the API answers 401. Any new refresh token Spotify hands back is passed to
``on_new_refresh_token`` straight away, before it can be lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from .credentials import SpotifyCredentials
from .errors import AuthExpiredError, ClientRejectedError, ExporterError
from .token_age import age_detail

#: renew this many seconds before the announced expiry, so a token never dies mid-request
EXPIRY_MARGIN_S = 60.0


class _TokenEndpointUnavailable(Exception):
    """A transient failure of the accounts service (5xx, 429, broken connection)."""


class SpotifyAuth:
    """Hands out a valid access token, refreshing it as needed."""

    def __init__(
        self,
        session: requests.Session,
        accounts_url: str,
        credentials: SpotifyCredentials,
        on_new_refresh_token: Callable[[str], None],
        *,
        timeout: tuple[float, float] = (10.0, 30.0),
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        attempts: int = 4,
        authorized_at: datetime | None = None,
        auth_command: str = "make auth",
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
        self._access_token: str | None = None
        self._expires_at = 0.0
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"SpotifyAuth(token_url={self._token_url!r})"

    def access_token(self) -> str:
        """A token valid for at least the next minute."""
        if self._access_token is None or self._clock() >= self._expires_at - EXPIRY_MARGIN_S:
            self.refresh()
        assert self._access_token is not None
        return self._access_token

    def refresh(self) -> None:
        """Exchange the refresh token for a new access token (and maybe a new refresh token)."""
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
        expires_in = body.get("expires_in")
        self._expires_at = self._clock() + (float(expires_in) if isinstance(expires_in, int | float) else 3600.0)
        new_refresh_token = body.get("refresh_token")
        if isinstance(new_refresh_token, str) and new_refresh_token != self._credentials.refresh_token:
            self._credentials = SpotifyCredentials(
                self._credentials.client_id, self._credentials.client_secret, new_refresh_token
            )
            self._on_new_refresh_token(new_refresh_token)

    def _request_token(self) -> dict[str, object]:
        try:
            response = self._session.post(
                self._token_url,
                data={"grant_type": "refresh_token", "refresh_token": self._credentials.refresh_token},
                auth=(self._credentials.client_id, self._credentials.client_secret),
                timeout=self._timeout,
            )
        except requests.RequestException as error:
            raise _TokenEndpointUnavailable(type(error).__name__) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise _TokenEndpointUnavailable(f"HTTP {response.status_code}")
        body = _json_object(response)
        if response.status_code == 200 and isinstance(body.get("access_token"), str):
            return body
        code = str(body.get("error", ""))
        if code == "invalid_grant":
            raise AuthExpiredError(age_detail(self._authorized_at, datetime.now(UTC)), self._auth_command)
        if code == "invalid_client" or response.status_code == 401:
            raise ClientRejectedError()
        if response.status_code == 200:
            raise _TokenEndpointUnavailable("a token response without an access token")
        raise ExporterError(
            f"the Spotify accounts service refused the token refresh with HTTP {response.status_code}"
            + (f" ({code})" if code else "")
        )


def _json_object(response: requests.Response) -> dict[str, object]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
