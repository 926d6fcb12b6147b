"""Cover images: optional work, in a budget of their own, so that they never stretch or break a run.

Only the covers people set themselves are kept (:func:`custom_cover_url`; Spotify makes the others
from the items). The client downloads them (``SpotifyClient.download``) under
:class:`OptionalDownloads`; :func:`image_type` says whether what came back is an image, and under
which extension it is kept.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from .errors import OptionalWorkSkipped
from .rows import JSON

#: how image files start, and the extension each is kept under (Spotify's covers are JPEGs)
IMAGE_TYPES = {b"\xff\xd8\xff": "jpg", b"\x89PNG\r\n\x1a\n": "png", b"GIF87a": "gif", b"GIF89a": "gif"}


def image_type(data: bytes) -> str | None:
    """The extension of an image file by its first bytes (WebP: ``RIFF....WEBP``), None for anything else."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return next((extension for magic, extension in IMAGE_TYPES.items() if data.startswith(magic)), None)


#: connection failures in a row after which the image host is given up on for the run
IMAGE_HOST_FAILURES_IN_A_ROW = 3


class OptionalDownloads:
    """The run's budget for optional downloads (cover art), which must never stretch or break a run.

    It closes for the rest of the run after :data:`IMAGE_HOST_FAILURES_IN_A_ROW` connection
    failures in a row (the image host is down or swallows connections) or once ``budget_s``
    seconds went into downloads; :meth:`check` then raises :class:`OptionalWorkSkipped`. Every
    download's own deadline is cut to what is left, so the budget holds during a request too.
    """

    def __init__(self, budget_s: float) -> None:
        self.budget_s = budget_s
        self._spent_s = 0.0
        self._failures_in_a_row = 0
        #: why the remaining downloads are skipped (None while open)
        self.closed: str | None = None

    def remaining_s(self) -> float:
        return max(0.0, self.budget_s - self._spent_s)

    def check(self) -> None:
        if self.closed is None and self.remaining_s() <= 0:
            self.closed = f"the {self.budget_s:.0f} s allowed per run for cover images were spent"
        if self.closed is not None:
            raise OptionalWorkSkipped(self.closed)

    def spent(self, seconds: float, *, connection_failed: bool = False) -> None:
        self._spent_s += max(0.0, seconds)
        self._failures_in_a_row = self._failures_in_a_row + 1 if connection_failed else 0
        if self._failures_in_a_row >= IMAGE_HOST_FAILURES_IN_A_ROW and self.closed is None:
            self.closed = f"the image host failed to answer {self._failures_in_a_row} times in a row"


#: covers Spotify makes itself: a mosaic of the first albums, or one album's art
_GENERATED_IMAGE_PREFIX = "ab67616d"


def custom_cover_url(playlist: JSON, account_id: str) -> str | None:
    """The URL of a playlist's cover if the user set it themselves (and owns the playlist)."""
    owner = playlist.get("owner")
    if not isinstance(owner, dict) or owner.get("id") != account_id:
        return None
    images = playlist.get("images")
    first = images[0] if isinstance(images, list) and images and isinstance(images[0], dict) else {}
    url = first.get("url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        return None
    parts = urlsplit(url)
    if parts.netloc.startswith("mosaic.") or parts.path.rsplit("/", 1)[-1].startswith(_GENERATED_IMAGE_PREFIX):
        return None
    return url
