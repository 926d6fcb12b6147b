"""The retry policy: which failures of a request are tried again, and after how long.

* 5xx, broken connections and malformed bodies (:class:`Transient`): bounded exponential backoff;
* 429 (:class:`TooManyRequests`), from the API or from the accounts service while the access
  token is renewed: ``Retry-After`` is honoured while it fits the wait budget; odd values pass one
  guard (:func:`retry_after_seconds`);
* 401 (:class:`TokenRefreshed`): the access token is refreshed once, then tried at once.

:class:`RetryPolicy` is the client's; :class:`Attempts` runs one request's tries with tenacity.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from tenacity import RetryCallState, Retrying, retry_if_exception_type

from .settings import ClientSettings

if TYPE_CHECKING:
    from .client import RequestStats


class Transient(Exception):
    """Worth another try after a backoff: 5xx, connection trouble, a body that is not JSON."""


class TooManyRequests(Exception):
    def __init__(self, retry_after_s: float | None) -> None:
        super().__init__("HTTP 429")
        self.retry_after_s = retry_after_s


class TokenRefreshed(Exception):
    """The API said 401 and we renewed the token: retry at once."""


#: the longest ``Retry-After`` taken as it is; a longer one (``inf``, ``1e12``) is a ban of this length
RETRY_AFTER_CAP_S = 7 * 86_400.0


def retry_after_seconds(header: str | None, now: datetime) -> float | None:
    """The wait a ``Retry-After`` asks for, in seconds, at most :data:`RETRY_AFTER_CAP_S`.

    The retry policy's one guard against odd values: None when the header gives no usable wait
    (absent, not a number or date, ``nan``, zero, negative, a date already past), and the request
    then backs off exponentially for a bounded number of attempts, never retrying at once in a loop;
    infinite or huge values become the cap, a ban that stops the run instead of overflowing a date.
    """
    if not header:
        return None
    try:
        seconds = float(header)
    except ValueError:
        try:
            when = parsedate_to_datetime(header)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:  # "-0000": UTC with no claim about local time
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    if math.isnan(seconds) or seconds <= 0:
        return None
    return min(seconds, RETRY_AFTER_CAP_S)


#: what a request is tried again after; anything else reaches the caller at once
RETRIED = (Transient, TooManyRequests, TokenRefreshed)


class RetryPolicy:
    """The client's retry policy: how long a backoff lasts, and how much waiting for rate limits
    one wait and the whole run may take (``stats`` counts the retries and the waits)."""

    def __init__(self, settings: ClientSettings, stats: RequestStats, rng: random.Random) -> None:
        self.settings = settings
        self.stats = stats
        self._rng = rng

    def attempts(self, retry_failures: bool, sleep: Callable[[float], None]) -> Attempts:
        """The tries of one request; ``retry_failures=False`` tries a transient failure only once."""
        return Attempts(self, retry_failures, sleep)

    def can_wait(self, retry_after_s: float) -> bool:
        return (
            retry_after_s <= self.settings.max_retry_after_s
            and self.stats.rate_limit_wait_s + retry_after_s <= self.settings.rate_limit_budget_s
        )

    def backoff(self, failures: int) -> float:
        ceiling = min(self.settings.backoff_max_s, self.settings.backoff_initial_s * 2 ** max(0, failures - 1))
        return float(ceiling / 2 + self._rng.uniform(0, ceiling / 2))


class Attempts:
    """One request's tries, as tenacity runs them (``for attempt in attempts: with attempt: ...``):
    a 401 is tried again at once, once; a 429 after its ``Retry-After`` while the policy can wait;
    anything transient after a backoff, up to ``max_attempts`` in all."""

    def __init__(self, policy: RetryPolicy, retry_failures: bool, sleep: Callable[[float], None]) -> None:
        self._policy = policy
        self._retry_failures = retry_failures
        self._sleep = sleep
        self._refreshed = False
        #: failed tries that were not a 401 or a 429 with a usable ``Retry-After``
        self.transient_failures = 0

    def __iter__(self) -> Iterator[Any]:
        return iter(
            Retrying(
                retry=retry_if_exception_type(RETRIED),
                stop=self._should_stop,
                wait=self._wait,
                sleep=self._sleep,
                before_sleep=self._count_retry,
                reraise=True,
            )
        )

    def _should_stop(self, state: RetryCallState) -> bool:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, TokenRefreshed):
            if self._refreshed:
                return True
            self._refreshed = True
            return False
        if isinstance(error, TooManyRequests) and error.retry_after_s is not None:
            return not self._policy.can_wait(error.retry_after_s)
        self.transient_failures += 1  # includes a 429 without a usable Retry-After: backed off like a 5xx
        return not self._retry_failures or self.transient_failures >= self._policy.settings.max_attempts

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, TokenRefreshed):
            return 0.0
        if isinstance(error, TooManyRequests) and error.retry_after_s is not None:
            return error.retry_after_s
        return self._policy.backoff(self.transient_failures)

    def _count_retry(self, state: RetryCallState) -> None:
        # tenacity computes the wait before it asks ``stop``, so waits are counted only here,
        # once it is settled that we do wait
        self._policy.stats.retries += 1
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, TooManyRequests) and error.retry_after_s is not None:
            self._policy.stats.rate_limit_wait_s += error.retry_after_s
