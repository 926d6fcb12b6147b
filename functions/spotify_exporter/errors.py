"""One error family, each with a one-line message that tells the user what to do.

Messages never contain secrets: tokens and client secrets are never passed in, and whatever a
server put into a message (an echoed request) passes :func:`~spotify_exporter.redaction.redact`.
"""

from __future__ import annotations

from datetime import datetime

from .redaction import redact


class ExporterError(Exception):
    """Base class: the message is a complete, actionable sentence for the user (secrets redacted)."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(redact(arg) if isinstance(arg, str) else arg for arg in args))


class ConfigError(ExporterError):
    """A setting or credential is missing or malformed."""


class AuthExpiredError(ExporterError):
    """Spotify refused the refresh token (``invalid_grant``)."""

    def __init__(self, detail: str = "", command: str = "make auth") -> None:
        message = f"the Spotify refresh token has expired or was revoked; run `{command}` to authorize again"
        super().__init__(f"{message} ({detail})" if detail else message)


class ClientRejectedError(ExporterError):
    """Spotify refused the client id or secret (``invalid_client``)."""

    def __init__(self) -> None:
        super().__init__(
            "Spotify rejected the client id or client secret; check SPOTIFY_CLIENT_ID and "
            "SPOTIFY_CLIENT_SECRET against your app in the Spotify developer dashboard"
        )


class RateLimitedError(ExporterError):
    """Spotify asked us to wait longer than the wait budget allows."""

    def __init__(self, retry_at: datetime | None, retry_after_s: float | None) -> None:
        self.retry_at = retry_at
        self.retry_after_s = retry_after_s
        if retry_at is None or retry_after_s is None:
            super().__init__(
                "Spotify kept answering 429 (too many requests) without saying for how long; "
                "run the export again in a few hours"
            )
            return
        super().__init__(
            f"Spotify rate-limited this app for {_human_duration(retry_after_s)}; "
            f"run the export again after {retry_at.strftime('%Y-%m-%d %H:%M:%S UTC')}"
        )


class ForbiddenError(ExporterError):
    """The API refuses this resource to this app or user (403/404): not retried."""

    def __init__(self, path: str, status: int, reason: str = "") -> None:
        self.path = path
        self.status = status
        detail = f": {reason}" if reason else ""
        super().__init__(f"Spotify refused {path} with HTTP {status}{detail}")


class SpotifyServerError(ExporterError):
    """Server errors, broken connections or malformed bodies that outlived the retries."""

    def __init__(self, path: str, attempts: int, detail: str) -> None:
        self.path = path
        super().__init__(f"Spotify kept failing on {path} after {attempts} attempts ({detail}); try again later")


class PagingError(SpotifyServerError):
    """Spotify's pages of a collection did not end as announced (a page repeated, an empty page
    before the end, more items than the total): the dataset stops there, what was read is kept."""

    def __init__(self, path: str, detail: str) -> None:
        self.path = path
        ExporterError.__init__(self, f"Spotify's paging of {path} {detail}; the items read before are kept")


class OversizedAnswerError(SpotifyServerError):
    """An answer larger than any the API gives (or a compression bomb): not read further, not retried."""

    def __init__(self, path: str, max_bytes: int) -> None:
        self.path = path
        ExporterError.__init__(
            self, f"Spotify answered {path} with more than {max_bytes >> 20} MB; it was not read (try again later)"
        )


class OptionalWorkSkipped(ExporterError):
    """Optional work (cover images) is skipped for the rest of this run; the next run tries again."""


class SpotifyRequestError(ExporterError):
    """A 4xx we do not expect (a bug in the request or an API change): not retried."""

    def __init__(self, path: str, status: int, reason: str = "") -> None:
        self.path = path
        self.status = status
        self.reason = reason
        detail = f": {reason}" if reason else ""
        super().__init__(f"Spotify answered {path} with HTTP {status}{detail}")


class OutOfTimeError(ExporterError):
    """The run reached its time budget (e.g. the function timeout) before it finished."""

    def __init__(self, budget_s: float) -> None:
        super().__init__(
            f"the export reached its time budget of {_human_duration(budget_s)} before it finished; "
            "what was read is saved, and resuming the snapshot reads only the rest (in Azure a resume is queued "
            "on its own; locally run `export --resume`)"
        )


class StoreError(ExporterError):
    """The snapshot could not be written to or read from its store."""


def _human_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"
