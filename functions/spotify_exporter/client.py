"""The one place that sends requests to the Spotify Web API.

It owns the base URL, the bearer header, timeouts, pacing, the status → error mapping
and the retry policy (:mod:`.retries`):

* 5xx, broken connections and malformed bodies: retried with bounded exponential backoff;
* 429 (also from the token endpoint, renewing the access token for a request): ``Retry-After``
  is honoured while it fits the wait budget, otherwise the run stops with
  :class:`RateLimitedError` saying when Spotify will talk to us again;
* 401: the access token is refreshed once;
* 403/404: :class:`ForbiddenError`, not retried (the resource is refused to this app);
* any other 4xx: :class:`SpotifyRequestError`, not retried.

Whatever a server does, a request ends: each has an overall deadline (:mod:`.deadlines`),
answers are read at most :data:`MAX_ANSWER_BYTES` (decoded), odd ``Retry-After`` values pass one
guard (:func:`.retries.retry_after_seconds`), and the pager stops collections whose pages do not
end as announced (:mod:`.paging`). Cover images are optional work in a budget of their own
(:class:`.covers.OptionalDownloads`). The connections a request goes through are in :mod:`.transport`.
"""

from __future__ import annotations

import random
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import orjson
import requests
import requests.adapters
import urllib3
import urllib3.connection

from . import deadlines
from .auth import SpotifyAuth
from .covers import OptionalDownloads, image_type
from .errors import (
    ExporterError,
    ForbiddenError,
    OutOfTimeError,
    OversizedAnswerError,
    RateLimitedError,
    SpotifyRequestError,
    SpotifyServerError,
)
from .pacing import RequestPacer
from .paging import PageStream
from .redaction import redact
from .retries import RetryPolicy, TokenRefreshed, TooManyRequests, Transient, retry_after_seconds
from .settings import DEFAULT_API_URL, ClientSettings
from .transport import AnswerTooLarge, SignallingAdapter, read_body, request_sent, send, when_sent

JSON = dict[str, Any]
#: the largest answer the API may give, decoded (a page of 50 full albums is a few MB)
MAX_ANSWER_BYTES = 32 << 20
#: Spotify counts requests as they arrive over 30 s; spacing them over a little more absorbs the
#: network's jitter, so that no 30 s of arrivals ever holds more than the configured number
PACING_WINDOW_S = 30.5
#: how Spotify's own paging links begin (``next``), whatever API base the client is configured with
SPOTIFY_API_PREFIX = DEFAULT_API_URL + "/"


class _Answer(NamedTuple):
    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass
class RequestStats:
    """What a run cost; reported in the manifest and the log."""

    requests: int = 0
    retries: int = 0
    downloads: int = 0  # image CDN requests (cover art), not API requests
    writes: int = 0  # successful writes (restore)
    rate_limit_wait_s: float = 0.0
    pacing_wait_s: float = 0.0


class SpotifyClient:
    """Talks to the Web API one request at a time, paced and retried."""

    def __init__(
        self,
        session: requests.Session,
        auth: SpotifyAuth,
        settings: ClientSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
        time_budget_s: float | None = None,
        earlier_request_ages: Sequence[float] = (),
    ) -> None:
        self._session = session
        self._auth = auth
        self.settings = settings
        self._real_sleep = sleep
        self._clock = clock
        self._budget_s = time_budget_s
        self._deadline = clock() + time_budget_s if time_budget_s is not None else None
        self._now = now
        self._pacer = RequestPacer(
            settings.max_requests_per_30s, PACING_WINDOW_S, clock=clock, sleep=self._sleep,
            earlier_ages=earlier_request_ages,
        )  # fmt: skip
        self._api = urlsplit(settings.api_url)
        self._timeout = (settings.connect_timeout_s, settings.read_timeout_s)
        # every request (API, token, images) goes through connections that report when it is sent
        # and that the watchdog can cut at the request's deadline
        adapter = SignallingAdapter()
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        self._watchdog = deadlines.Watchdog()
        self.optional = OptionalDownloads(settings.cover_budget_s)
        self.stats = RequestStats()
        self._retries = RetryPolicy(settings, self.stats, rng or random.Random())
        self._worker: ThreadPoolExecutor | None = None
        self._halted: ExporterError | None = None
        self._streams: weakref.WeakSet[PageStream] = weakref.WeakSet()

    @property
    def token_refreshes(self) -> int:
        return self._auth.refreshes

    @property
    def action_required(self) -> list[str]:
        """What the user must do before the next run (a rotated refresh token that could not be saved)."""
        return list(self._auth.unsaved_tokens)

    def recent_request_ages(self) -> list[float]:
        """How long ago each request of the current pacing window was sent, for the next run to go on from."""
        return self._pacer.recent_ages()

    def get_json(
        self,
        path_or_url: str,
        params: Mapping[str, str | int] | None = None,
        *,
        on_sent: Callable[[], None] | None = None,
    ) -> JSON:
        """GET one JSON object. ``path_or_url`` is an API path ("/me") or a ``next`` URL."""
        return self.request("GET", path_or_url, params, on_sent=on_sent)

    def request(
        self,
        method: str,
        path_or_url: str,
        params: Mapping[str, str | int] | None = None,
        *,
        json_body: object = None,
        data: bytes | None = None,
        content_type: str | None = None,
        retry_failures: bool = True,
        on_sent: Callable[[], None] | None = None,
    ) -> JSON:
        """One API call; the JSON object it answers (``{}`` for a write answered without a body).

        ``retry_failures=False`` is for writes that are not idempotent (creating a playlist,
        adding items): after a 5xx or a broken connection nobody knows whether Spotify applied
        it, so the caller looks before trying again. A 429 or a 401 is always retried: Spotify
        did not act on those.

        ``on_sent`` runs once: as soon as the request is on its way, or before the call first
        sleeps (pacing, backoff), or at the latest before it returns or raises.
        """
        when_sent.callback = on_sent
        try:
            return self._request(method, path_or_url, params, json_body, data, content_type, retry_failures)
        finally:
            request_sent()

    def _request(
        self,
        method: str,
        path_or_url: str,
        params: Mapping[str, str | int] | None,
        json_body: object,
        data: bytes | None,
        content_type: str | None,
        retry_failures: bool,
    ) -> JSON:
        if self._halted is not None:
            raise self._halted  # after a ban or a dead token, nothing more is sent
        url = self._url(path_or_url)
        path = urlsplit(url).path
        attempts = self._retries.attempts(retry_failures, self._sleep)
        try:
            for attempt in attempts:
                with attempt:
                    body = self._send(method, url, params, json_body, data, content_type)
        except TooManyRequests as error:
            # the rate limit is the whole app's: once it outlasts our patience nothing more is sent
            if error.retry_after_s is None:  # no usable Retry-After, and backing off did not help
                self._halted = RateLimitedError(None, None)
            else:
                retry_at = self._now() + timedelta(seconds=error.retry_after_s)
                self._halted = RateLimitedError(retry_at, error.retry_after_s)
            raise self._halted from None
        except Transient as error:
            raise SpotifyServerError(path, attempts.transient_failures, str(error)) from None
        except TokenRefreshed:
            raise SpotifyRequestError(path, 401, "a freshly issued access token was refused") from None
        return body

    def download(self, url: str, max_bytes: int = 4 << 20) -> bytes:
        """GET an image from Spotify's image CDN: optional work, in the run's budget for it.

        No bearer token (it is not the API host), no pacing (the CDN is not the API's rate limit),
        no redirect followed, short timeouts, at most two attempts (a connection failure is not
        tried again: the next file is the next try). The answer must be an image of at most
        ``max_bytes``. Once :attr:`optional` has closed (a few connection failures in a row, or
        its time spent) :class:`OptionalWorkSkipped` is raised without a request. It runs on the
        request thread, after every collection queued before it."""
        if self._halted is not None:
            raise self._halted
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spotify-requests")
        return self._worker.submit(self._download, url, max_bytes).result()

    def _download(self, url: str, max_bytes: int) -> bytes:
        target = urlsplit(url)
        path = target.path
        timeout = self.settings.image_timeout_s
        for attempt in (1, 2):
            self.optional.check()
            self._check_deadline()
            self.stats.downloads += 1
            started = self._clock()
            try:
                with self._limited(min(2 * timeout, self.optional.remaining_s())):
                    answer = send(
                        self._session, "GET", url, None, {"Accept": "image/*"}, None, None, (timeout, timeout)
                    )
                    body = read_body(answer, max_bytes)
            except Transient as error:
                self.optional.spent(self._clock() - started, connection_failed=True)
                raise SpotifyServerError(path, attempt, str(error)) from None
            except AnswerTooLarge:
                self.optional.spent(self._clock() - started)
                raise SpotifyRequestError(path, 200, f"a file larger than {max_bytes} bytes") from None
            self.optional.spent(self._clock() - started)
            status = answer.status_code
            if status == 200:
                if image_type(body) is None:
                    raise SpotifyRequestError(path, 200, "an answer that is not an image; it is not kept")
                return body
            if 300 <= status < 400:
                location = urlsplit(answer.headers.get("Location") or "").netloc or target.netloc
                raise SpotifyRequestError(path, status, f"a redirect to {location}, not followed")
            if status in (403, 404, 410):
                raise ForbiddenError(path, status, "the link has expired or the file is gone")
            if not (status == 429 or status >= 500):
                raise SpotifyRequestError(path, status)
            if attempt == 2 or self._retries.backoff(1) >= self.optional.remaining_s():
                raise SpotifyServerError(path, attempt, f"HTTP {status}")
            self._sleep(self._retries.backoff(1))
        raise AssertionError("unreachable")  # pragma: no cover

    def pages(
        self, path: str, params: Mapping[str, str | int] | None = None, container_key: str | None = None
    ) -> PageStream:
        """Every page of a collection, following ``next`` (offset and cursor paging alike).

        Collections are fetched in the order their streams were created, one request at a
        time, so read them in that order; creating the next one early lets its first page be
        fetched while the current one is still being written. ``container_key`` names the
        object that holds the paging fields when the API wraps them (``{"artists": {...}}``).
        """
        query: dict[str, str | int] = {"limit": self.settings.page_limit, **(params or {})}
        return PageStream(self, path, query, container_key)

    def _in_order(
        self, work: Callable[[Mapping[str, str | int]], None], query: Mapping[str, str | int]
    ) -> Future[None]:
        """Queue work on the client's one request thread: collections are read strictly one
        after the other, one request at a time, while the caller's thread writes."""
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spotify-requests")
        return self._worker.submit(work, query)

    def close(self) -> None:
        """Stop the worker thread (requests already queued and no longer wanted are dropped)."""
        for stream in list(self._streams):
            stream.abandon()
        if self._worker is not None:
            self._worker.shutdown(wait=True, cancel_futures=True)
            self._worker = None
        self._watchdog.stop()

    # -- one HTTP exchange -------------------------------------------------------------------

    def _sleep(self, seconds: float) -> None:
        """Every wait goes through here, so none can run past the deadline."""
        self._check_deadline(seconds)
        request_sent()  # nothing is sent for a while: what waits for the send need not
        self._real_sleep(seconds)

    def _check_deadline(self, upcoming_s: float = 0.0) -> None:
        if self._deadline is not None and self._clock() + upcoming_s >= self._deadline:
            raise OutOfTimeError(self._budget_s or 0.0)

    @contextmanager
    def _limited(self, seconds: float) -> Iterator[None]:
        """Run one request (with any token refresh it needs) under an overall deadline: ``seconds``,
        or less if the run's time budget ends sooner. A request still open then is cut: the
        caller sees a transient failure, or :class:`OutOfTimeError` when it was the run's budget."""
        remaining = self._deadline - self._clock() if self._deadline is not None else None
        by_budget = remaining is not None and remaining <= seconds
        limit_s = remaining if remaining is not None and by_budget else seconds
        with self._watchdog.limit(limit_s) as limit:
            try:
                yield
            except (Transient, requests.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
                if not limit.expired:
                    if isinstance(error, Transient):
                        raise
                    raise Transient(type(error).__name__) from None
                if by_budget:
                    raise OutOfTimeError(self._budget_s or 0.0) from None
                raise Transient(f"no complete answer within {limit_s:.3g} s") from None

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, str | int] | None,
        json_body: object = None,
        data: bytes | None = None,
        content_type: str | None = None,
    ) -> JSON:
        self._check_deadline()
        self.stats.pacing_wait_s += self._pacer.wait_turn()
        with self._limited(self.settings.request_deadline_s):
            token = self._auth.access_token()
            self.stats.requests += 1
            headers = {"Accept": "application/json", "Authorization": f"Bearer {token}"}
            if content_type:
                headers["Content-Type"] = content_type
            answer = send(self._session, method, url, params, headers, json_body, data, self._timeout)
            try:
                response = _Answer(answer.status_code, answer.headers, read_body(answer, MAX_ANSWER_BYTES))
            except AnswerTooLarge:
                raise OversizedAnswerError(urlsplit(url).path, MAX_ANSWER_BYTES) from None
        status = response.status
        if method != "GET" and status in (200, 201, 202, 204):
            self.stats.writes += 1
            try:
                answer_body = orjson.loads(response.body) if response.body else {}
            except orjson.JSONDecodeError:
                answer_body = {}  # the write was done; an odd body is no reason to do it again
            return answer_body if isinstance(answer_body, dict) else {}
        if status == 200:
            try:
                body = orjson.loads(response.body)
            except orjson.JSONDecodeError:
                raise Transient("a malformed JSON body") from None
            if not isinstance(body, dict):
                raise Transient("a JSON body that is not an object")
            return body
        path = urlsplit(url).path
        if status == 401:
            self._auth.refresh()
            raise TokenRefreshed()
        if status == 429:
            raise TooManyRequests(retry_after_seconds(response.headers.get("Retry-After"), self._now()))
        if status in (403, 404):
            raise ForbiddenError(path, status, _error_message(response))
        if status >= 500:
            raise Transient(f"HTTP {status}")
        raise SpotifyRequestError(path, status, _error_message(response))

    # -- policy ------------------------------------------------------------------------------

    def back_off(self, failures: int) -> None:
        """Wait as a retry would after ``failures`` failed attempts (for callers that look before
        they retry a write that is not idempotent)."""
        self.stats.retries += 1
        self._sleep(self._retries.backoff(failures))

    def absolute_url(self, path_or_url: str) -> str:
        """Where a request for ``path_or_url`` goes: an API path on the configured base, a link as
        it is (:class:`SpotifyRequestError` for a link to another host: the token never goes there)."""
        return self._url(path_or_url)

    def _url(self, path_or_url: str) -> str:
        if path_or_url.startswith("/"):
            return self.settings.api_url + path_or_url
        if path_or_url.startswith(SPOTIFY_API_PREFIX) and self.settings.api_url != DEFAULT_API_URL:
            # Spotify's links name its own host even when the API is reached through another base
            # (a gateway, a stand-in replaying Spotify's answers): read them there, where the token goes
            return self.settings.api_url + path_or_url[len(DEFAULT_API_URL) :]
        target = urlsplit(path_or_url)
        if (target.scheme, target.netloc) != (self._api.scheme, self._api.netloc):
            # the bearer token only ever goes to the configured API host
            raise SpotifyRequestError(target.path, 0, f"a paging link to another host ({target.netloc})")
        return path_or_url


def _error_message(response: _Answer) -> str:
    """Spotify's own words on an error, short (secrets a server echoed are taken out before the cut)."""
    try:
        body = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message", "") if isinstance(error, dict) else error
    return redact(str(message or ""))[:200]
