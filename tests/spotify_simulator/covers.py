"""Custom playlist covers: tiny valid JPEGs, and the CDN URLs Spotify serves them under.

``jpeg(text)`` is a fixed 1x1 baseline JPEG (the example image of Spotify's own spec for
``PUT /playlists/{id}/images``) with ``text`` in a comment (COM) segment right after the start
of image, so every cover has its own bytes without an image library.
"""

from __future__ import annotations

import base64
import hashlib

#: the spec's example cover (``PUT /playlists/{playlist_id}/images``), 1x1 pixel, 273 bytes
_EXAMPLE = base64.b64decode(
    "/9j/2wCEABoZGSccJz4lJT5CLy8vQkc9Ozs9R0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0cBHCcnMyYzPSYm"
    "PUc9Mj1HR0dEREdHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR//dAAQAAf/uAA5BZG9iZQBkwAAAAAH/wAARCAAB"
    "AAEDACIAAREBAhEB/8QASwABAQAAAAAAAAAAAAAAAAAAAAYBAQAAAAAAAAAAAAAAAAAAAAAQAQAAAAAAAAAAAAAAAAAAAAARAQAAAAAAAAAAAAAAAAAA"
    "AAD/2gAMAwAAARECEQA/AJgAH//Z"
)
SOI = b"\xff\xd8"
#: what a JPEG starts with once decoded (start of image, then the next marker's 0xFF)
JPEG_MAGIC = b"\xff\xd8\xff"
#: the largest request body ``PUT /playlists/{id}/images`` takes: 256 KB of base64 text
MAX_UPLOAD = 256 * 1024
#: Spotify's prefix for custom (user-uploaded) playlist covers; generated ones use ab67616d
CUSTOM_PREFIX = "ab67706c0000"
#: custom cover URLs expire this long after the listing that carried them was served
URL_LIFETIME_S = 86_400


def jpeg(text: str) -> bytes:
    """A valid 1x1 JPEG carrying ``text`` (UTF-8, at most 65,533 bytes) in a COM segment."""
    comment = text.encode("utf-8")
    if len(comment) > 0xFFFF - 2:
        raise ValueError("comment too long for one JPEG segment")
    return SOI + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + _EXAMPLE[len(SOI) :]


def is_jpeg(data: bytes) -> bool:
    return data.startswith(JPEG_MAGIC)


def image_key(data: bytes) -> str:
    """The CDN name of a cover: Spotify's custom-cover prefix and a digest of the bytes (40 hex digits)."""
    return CUSTOM_PREFIX + hashlib.sha1(data, usedforsecurity=False).hexdigest()[:28]
