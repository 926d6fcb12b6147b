"""Wire a Spotify client from a secret source and settings: the one composition root
shared by the CLI and the function app."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import requests

from . import __version__
from .auth import SpotifyAuth
from .client import SpotifyClient
from .credentials import SecretSource
from .settings import ClientSettings
from .token_age import expiry_warning

log = logging.getLogger("spotify_exporter")


def connect(
    secrets: SecretSource,
    settings: ClientSettings,
    warnings: list[str],
    *,
    sleep: Callable[[float], None] = time.sleep,
    time_budget_s: float | None = None,
    earlier_request_ages: Sequence[float] = (),
) -> SpotifyClient:
    """A ready client; a refresh token Spotify rotates is saved back to ``secrets`` at once.

    Problems saving it are logged at once and kept in ``client.action_required``: the export puts
    them into the manifest's ``warnings`` and ``action_required`` (the next run will be refused).
    ``sleep`` is every wait the client makes (pacing, backoff, ``Retry-After``): tests pass a recorder.
    ``time_budget_s`` ends the run as partial before a host (e.g. the Functions timeout) kills it.
    ``earlier_request_ages``: the pacing window's requests of the run before this one (same app).
    """
    credentials = secrets.load()
    authorized_at = secrets.authorized_at
    warning = expiry_warning(authorized_at, datetime.now(UTC), settings.token_warn_days, secrets.auth_command)
    if warning:
        log.warning("%s", warning)
        warnings.append(warning)
    session = requests.Session()
    session.headers["User-Agent"] = f"spotify-exporter/{__version__}"
    # proxies and CA bundle from the environment (REQUESTS_CA_BUNDLE, HTTPS_PROXY, ...) are honoured,
    # but resolved once per run by requests' own rules, not again on every request
    environment = session.merge_environment_settings(settings.api_url, {}, None, None, None)
    session.proxies.update(environment["proxies"])
    session.verify = environment["verify"]
    session.trust_env = False

    def keep_rotated_token(refresh_token: str) -> str | None:
        problem = secrets.save_refresh_token(refresh_token)
        if problem:
            log.warning("%s", problem)
        else:
            log.info("Spotify issued a new refresh token; saved it to %s", secrets.description)
        return problem

    timeout = (settings.connect_timeout_s, settings.read_timeout_s)
    auth = SpotifyAuth(
        session, settings.accounts_url, credentials, keep_rotated_token,
        timeout=timeout, sleep=sleep, authorized_at=authorized_at, auth_command=secrets.auth_command,
    )  # fmt: skip
    return SpotifyClient(
        session, auth, settings, sleep=sleep, time_budget_s=time_budget_s, earlier_request_ages=earlier_request_ages
    )
