"""Injected faults: what can go wrong between an exporter and Spotify, made reproducible.

Every random decision comes from ``random.Random(seed)``, drawn the same number of times per
API request, so a run with the same requests in the same order sees the same faults. Token
requests draw from a separate generator, so refreshing more or less often never shifts the
faults the API answers with.

Writes draw like reads. A write that gets a fault (5xx, 429) is not applied; truncated bodies
(``malformed_rate``) are injected into reads only, so a write is either applied and answered
in full or refused and not applied.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

SERVER_ERROR_STATUSES = (500, 502, 503)
IMAGE_HOSTS = ("cdn", "down", "black hole", "redirect", "not an image")


@dataclass(frozen=True)
class Faults:
    """Fault switches; all off by default (a perfect, instant Spotify)."""

    seed: int = 0
    #: every API response takes this long at least, counted from the request's arrival (slept in
    #: the handler thread; reading the request and building the answer count, so a benchmark's
    #: floor of requests x latency is the simulator's real pace)
    latency_s: float = 0.0
    #: share of API requests answered 500/502/503
    server_error_rate: float = 0.0
    #: share of API requests answered 429 with ``Retry-After: retry_after_s``
    rate_limit_rate: float = 0.0
    retry_after_s: int = 1
    #: share of API requests answered 200 with a truncated JSON body
    malformed_rate: float = 0.0
    #: after this many API requests every further one answers 429 (a long ban)
    ban_after_requests: int | None = None
    ban_retry_after_s: int = 3600
    #: a ban that ends: it lasts this long from the first banned request, ``Retry-After`` says how
    #: much of it is left (rounded up), and afterwards requests are served again; None: it never ends
    ban_duration_s: float | None = None
    #: access tokens expire after this many seconds (401 on use)
    token_lifetime_s: int = 3600
    #: each refresh returns a new refresh token and invalidates the old one (single use)
    rotate_refresh_tokens: bool = False
    #: share of /api/token requests answered 503
    token_error_rate: float = 0.0
    #: path template -> status for endpoints refused to the app, e.g. {"/v1/me/audiobooks": 403};
    #: a key may name one method, e.g. {"POST /v1/playlists/{id}/items": 503}
    unavailable: dict[str, int] = field(default_factory=dict)
    #: after this many applied (2xx) write requests every further write answers 503 and changes
    #: nothing: a restore "interrupted half way". The simulator copies it to its attribute
    #: ``fail_writes_after``, which a test sets to None (or a higher count) to let writes through.
    fail_writes_after: int | None = None

    # -- hostile and broken answers (issue 12): each reproduced from what Spotify or a network did --
    #: path templates (e.g. "/v1/me/tracks") whose every page carries ``null`` in place of its first
    #: element, as Spotify has sent (the element's place and the page's ``total`` stay)
    null_elements: tuple[str, ...] = ()
    #: path templates whose ``next`` link, from the second page on, is the page's own URL: a ``next``
    #: stuck at one offset, as Spotify has served
    repeat_next: tuple[str, ...] = ()
    #: the ``Retry-After`` of injected 429s exactly as sent, e.g. "0", "-5", "nan", "inf", "1e12"
    #: (None: ``retry_after_s``)
    retry_after_header: str | None = None
    #: share of API requests whose connection closes before any answer (``hostile.dropped``)
    drop_rate: float = 0.0
    #: share of API reads whose body stops half way, the connection closed (``hostile.cut``)
    cut_body_rate: float = 0.0
    #: path templates answered one byte every ``drip_interval_s`` (``hostile.drip``)
    drip: tuple[str, ...] = ()
    drip_interval_s: float = 0.02
    #: path templates answered with a valid empty page padded to ``huge_body_bytes`` of JSON; with
    #: ``gzip_bomb`` gzip-encoded, a few hundred kB on the wire (``hostile.huge_page``)
    huge_body: tuple[str, ...] = ()
    huge_body_bytes: int = 40 << 20
    gzip_bomb: bool = False
    #: error answers quote the request back (its Authorization header and form, as some proxies and
    #: frameworks do), in the Web API's ``message`` and the Accounts service's ``error_description``
    echo_errors: bool = False
    #: ``/api/token`` answers ``307`` to this URL (a redirect that would take the form elsewhere)
    token_redirect: str | None = None
    #: where custom covers are served: "cdn" (the simulator), "down" (connections refused),
    #: "black hole" (connections swallowed), "redirect" (a 302 to another host name),
    #: "not an image" (200 with an HTML page)
    image_host: str = "cdn"

    def __post_init__(self) -> None:
        rates = (
            self.server_error_rate,
            self.rate_limit_rate,
            self.malformed_rate,
            self.token_error_rate,
            self.drop_rate,
            self.cut_body_rate,
        )
        if any(not 0.0 <= rate <= 1.0 for rate in rates):
            raise ValueError("fault rates are shares between 0 and 1")
        random_faults = (self.server_error_rate, self.rate_limit_rate, self.malformed_rate, self.drop_rate)
        if sum(random_faults) + self.cut_body_rate > 1.0:
            raise ValueError("the shares of random API faults must not exceed 1 together")
        if self.image_host not in IMAGE_HOSTS:
            raise ValueError(f"image_host must be one of {', '.join(IMAGE_HOSTS)}")
        if self.latency_s < 0 or self.token_lifetime_s < 0:
            raise ValueError("latency_s and token_lifetime_s must not be negative")
        if self.fail_writes_after is not None and self.fail_writes_after < 0:
            raise ValueError("fail_writes_after must not be negative")
        if self.ban_duration_s is not None and self.ban_duration_s < 0:
            raise ValueError("ban_duration_s must not be negative")


@dataclass(frozen=True)
class Injected:
    """The fault chosen for one request: "server_error", "rate_limit", "malformed", "drop" or "cut"."""

    kind: str
    status: int


class FaultPlan:
    """Draws the random faults of a :class:`Faults` in a thread-safe, reproducible order."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._api = random.Random(faults.seed)
        self._token = random.Random(f"token:{faults.seed}")
        self._lock = threading.Lock()

    def next_api_fault(self) -> Injected | None:
        """Two draws per request whether or not a fault fires, so the sequence never drifts."""
        f = self.faults
        with self._lock:
            roll, pick = self._api.random(), self._api.random()
        server_error = SERVER_ERROR_STATUSES[int(pick * len(SERVER_ERROR_STATUSES))]
        shares = (
            ("server_error", f.server_error_rate, server_error),
            ("rate_limit", f.rate_limit_rate, 429),
            ("malformed", f.malformed_rate, 200),
            ("drop", f.drop_rate, 0),
            ("cut", f.cut_body_rate, 200),
        )
        for kind, share, status in shares:  # consecutive slices of [0, 1): one roll picks at most one
            if roll < share:
                return Injected(kind, status)
            roll -= share
        return None

    def token_fails(self) -> bool:
        if self.faults.token_error_rate <= 0:
            return False
        with self._lock:
            return self._token.random() < self.faults.token_error_rate
