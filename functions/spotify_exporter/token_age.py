"""How old the refresh token is, and when Spotify will stop honouring it.

Since mid-2026 a Spotify refresh token dies six months after the user authorized the app;
refreshing does not extend it. A scheduled backup that silently stops is the likeliest way
this product fails its user, so every run compares the authorization time stored with the
token (a Key Vault tag or ``SPOTIFY_AUTHORIZED_AT`` in ``.env``) against that limit.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

#: "six months", counted generously short so the warning never comes late
REFRESH_TOKEN_LIFETIME = timedelta(days=182)
DEFAULT_WARN_DAYS = 14
#: clocks differ a little; a recorded time further ahead than this is a mistake
FUTURE_TOLERANCE = timedelta(days=1)


def format_authorized_at(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, as it is stored (a naive time is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_authorized_at(value: str | None) -> datetime | None:
    """The stored time as an aware UTC time, or None when missing or not a time (it only feeds warnings)."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def expires_at(authorized_at: datetime) -> datetime:
    """When Spotify ends the token (the last representable time for a date near year 9999)."""
    try:
        return authorized_at + REFRESH_TOKEN_LIFETIME
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


def expiry_warning(
    authorized_at: datetime | None, now: datetime, warn_days: float = DEFAULT_WARN_DAYS, command: str = "make auth"
) -> str | None:
    """A warning once the token is within ``warn_days`` of its six-month limit (or past it); ``command``
    is what authorizes again."""
    if authorized_at is None:
        return None
    if authorized_at > now + FUTURE_TOLERANCE:
        return (
            f"the recorded authorization time {format_authorized_at(authorized_at)} is in the future, so the "
            "refresh token's six-month limit cannot be watched; correct SPOTIFY_AUTHORIZED_AT (or the Key Vault "
            "secret's authorized_at tag), or run `make auth` to record it anew"
        )
    deadline = expires_at(authorized_at)
    left = deadline - now
    if left > timedelta(days=warn_days):
        return None
    when = deadline.strftime("%Y-%m-%d")
    if left <= timedelta(0):
        return (
            f"the Spotify refresh token was authorized on {authorized_at:%Y-%m-%d}, more than six months ago, "
            f"and expired around {when}; run `{command}` to authorize again"
        )
    days_left = math.ceil(left / timedelta(days=1))
    return (
        f"the Spotify refresh token expires around {when} ({days_left} day(s) left: Spotify ends refresh "
        f"tokens six months after authorization); run `{command}` before then to keep the backups going"
    )


def age_detail(authorized_at: datetime | None, now: datetime) -> str:
    """Why a refused token was refused, when its age explains it."""
    if authorized_at is None or expires_at(authorized_at) > now:
        return ""
    return f"it was authorized on {authorized_at:%Y-%m-%d}, more than six months ago"
