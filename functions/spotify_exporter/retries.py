"""The retry policy: which failures of a request are tried again, and after how long.

* 5xx, broken connections and malformed bodies (:class:`_Transient`): bounded exponential backoff;
* 429 (:class:`_TooManyRequests`): ``Retry-After`` is honoured while it fits the wait budget;
  odd values pass one guard (:func:`_retry_after_seconds`);
* 401 (:class:`_TokenRefreshed`): the access token is refreshed once, then tried at once.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


class _Transient(Exception):
    """Worth another try after a backoff: 5xx, connection trouble, a body that is not JSON."""


class _TooManyRequests(Exception):
    def __init__(self, retry_after_s: float | None) -> None:
        super().__init__("HTTP 429")
        self.retry_after_s = retry_after_s


class _TokenRefreshed(Exception):
    """The API said 401 and we renewed the token: retry at once."""


#: the longest ``Retry-After`` taken as it is; a longer one (``inf``, ``1e12``) is a ban of this length
RETRY_AFTER_CAP_S = 7 * 86_400.0


def _retry_after_seconds(header: str | None, now: datetime) -> float | None:
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
