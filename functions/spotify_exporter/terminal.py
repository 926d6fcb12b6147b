"""Text for a terminal: names from Spotify (playlists, songs, artists, ids) never reach it raw.

A playlist may be called anything, escape sequences included, and a terminal obeys what it is
sent: clear the screen, retitle the window, rewrite the previous line, move the cursor, or
reorder text with bidirectional overrides. Everything the command line prints passes
:func:`printable`, which shows such characters as ``\\u001b``-style escapes (tabs and newlines
stay). In JSON output that is the same character, escaped the way JSON escapes it.
"""

from __future__ import annotations

import logging
import re

from .redaction import RewritingFilter

#: C0 controls but tab and newline, DEL, C1 controls, and the bidirectional marks and overrides
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with every control character written out as ``\\uXXXX``."""
    return _UNPRINTABLE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def printable_filter() -> logging.Filter:
    """For handlers that write to a terminal: log messages pass :func:`printable`."""
    return RewritingFilter(printable)
