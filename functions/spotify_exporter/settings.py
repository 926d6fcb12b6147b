"""Tunable client behaviour, with defaults that keep a personal app out of Spotify's penalty box."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from .errors import ConfigError

DEFAULT_API_URL = "https://api.spotify.com/v1"
DEFAULT_ACCOUNTS_URL = "https://accounts.spotify.com"
#: where the token endpoint is under the accounts service
TOKEN_PATH = "/api/token"


@dataclass(frozen=True)
class ClientSettings:
    """How the Spotify client talks to the API. Every field can be set from the environment."""

    api_url: str = DEFAULT_API_URL
    accounts_url: str = DEFAULT_ACCOUNTS_URL
    #: requests allowed in any rolling 30 s window; Spotify bans bursts, not steady traffic
    max_requests_per_30s: int = 150
    #: the longest single ``Retry-After`` we sit out; a longer one stops the run as partial
    max_retry_after_s: float = 60.0
    #: total seconds a run may spend waiting on 429s before it stops as partial
    rate_limit_budget_s: float = 300.0
    #: attempts per request on 5xx, broken connections and malformed bodies
    max_attempts: int = 6
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 30.0
    #: the longest one API request may take in all, however its bytes trickle in
    request_deadline_s: float = 60.0
    #: connect and read timeout for the image CDN (cover art is optional: give up early)
    image_timeout_s: float = 5.0
    #: the most time a run spends downloading cover images; the rest waits for the next run
    cover_budget_s: float = 30.0
    page_limit: int = 50
    #: warn this many days before the refresh token's six-month limit
    token_warn_days: float = 14.0


_ENV_NAMES = {
    "api_url": "SPOTIFY_API_URL",
    "accounts_url": "SPOTIFY_ACCOUNTS_URL",
    "max_requests_per_30s": "SPOTIFY_MAX_REQUESTS_PER_30S",
    "max_retry_after_s": "SPOTIFY_MAX_RETRY_AFTER_S",
    "rate_limit_budget_s": "SPOTIFY_RATE_LIMIT_BUDGET_S",
    "max_attempts": "SPOTIFY_MAX_ATTEMPTS",
    "backoff_initial_s": "SPOTIFY_BACKOFF_INITIAL_S",
    "backoff_max_s": "SPOTIFY_BACKOFF_MAX_S",
    "connect_timeout_s": "SPOTIFY_CONNECT_TIMEOUT_S",
    "read_timeout_s": "SPOTIFY_READ_TIMEOUT_S",
    "request_deadline_s": "SPOTIFY_REQUEST_DEADLINE_S",
    "image_timeout_s": "SPOTIFY_IMAGE_TIMEOUT_S",
    "cover_budget_s": "SPOTIFY_COVER_BUDGET_S",
    "token_warn_days": "SPOTIFY_TOKEN_WARN_DAYS",
}


def settings_from_env(environ: Mapping[str, str] | None = None, **overrides: object) -> ClientSettings:
    """Defaults, then the environment, then explicit overrides (e.g. CLI options that were given)."""
    environ = os.environ if environ is None else environ
    settings = ClientSettings()
    types = {f.name: f.type for f in fields(ClientSettings)}
    values: dict[str, object] = {}
    for name, env_name in _ENV_NAMES.items():
        raw = environ.get(env_name, "").strip()
        if not raw:
            continue
        try:
            values[name] = _convert(raw, str(types[name]))
        except ValueError:
            raise ConfigError(f"{env_name}={raw!r} is not a valid {types[name]}") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    settings = replace(settings, **values)  # type: ignore[arg-type]
    # the accounts service's base URL; its token endpoint's own URL (what Spotify's docs show) is taken too
    accounts_url = settings.accounts_url.rstrip("/").removesuffix(TOKEN_PATH)
    settings = replace(settings, api_url=settings.api_url.rstrip("/"), accounts_url=accounts_url)
    if settings.max_requests_per_30s < 1:
        raise ConfigError("SPOTIFY_MAX_REQUESTS_PER_30S must be at least 1")
    return settings


def _convert(raw: str, type_name: str) -> object:
    if type_name == "int":
        return int(raw)
    if type_name == "float":
        return float(raw)
    return raw
