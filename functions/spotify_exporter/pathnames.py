"""Names from Spotify that become parts of paths (account ids, playlist ids): one place makes them
safe and unique.

An id is the API's text: nothing stops it from being ``..``, holding ``/``, ``\\`` or NUL, or
running to hundreds of characters. Refusing such an id would throw away a whole export, and
using it as it is would nest folders that listings never find, or write outside the backup
folder. So every such name passes :func:`path_part`: one folder or file name on every file
system and in Blob Storage, the same name for the same id every time, different names for
different ids. Ordinary Spotify ids (base62, or ``[a-z0-9._-]`` user names) come out unchanged.
"""

from __future__ import annotations

import hashlib
import re
import string
from urllib.parse import unquote

#: kept as they are; every other character is percent-encoded as UTF-8 (``%`` itself too)
_SAFE = frozenset(string.ascii_letters + string.digits + "-_.")
#: names Windows reserves whatever their extension; their first letter is encoded
_WINDOWS_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"COM{n}" for n in range(10)), *(f"LPT{n}" for n in range(10))}
)
#: longer encoded names are cut and get a digest of the whole name (``~`` never appears otherwise)
MAX_PART = 120
_ENCODED = re.compile(r"%[0-9A-F]{2}")


def _encode(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))


def path_part(name: str) -> str:
    """``name`` as one safe path component (never empty, ``.`` or ``..``, no separator, at most
    :data:`MAX_PART` characters); injective: two different names never share a part."""
    encoded = "".join(char if char in _SAFE else _encode(char) for char in name)
    if not encoded:
        return "%"  # the one part no other name encodes to
    if encoded[0] == "." or encoded.split(".")[0].upper() in _WINDOWS_DEVICES:
        encoded = _encode(name[0]) + encoded[1:]  # hidden, ".", "..", or a device name such as NUL
    if encoded.endswith("."):
        encoded = encoded[:-1] + "%2E"  # Windows drops a trailing dot
    if len(encoded) > MAX_PART:
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        encoded = f"{encoded[: MAX_PART - 17]}~{digest}"
    return encoded


def name_of_part(part: str) -> str:
    """The name a part was made from (a cut, over-long name stays as its part)."""
    if part == "%":
        return ""
    if "~" in part or not _ENCODED.search(part):
        return part
    return unquote(part, errors="surrogatepass")
