"""Names from Spotify that become parts of paths (account ids, playlist ids): one place makes them
safe and unique.

An id is the API's text: nothing stops it from being ``..``, holding ``/``, ``\\`` or NUL, or
running to hundreds of characters. Refusing such an id would throw away a whole export, and
using it as it is would nest folders that listings never find, or write outside the backup
folder. So every such name passes :func:`path_part`: one folder or file name on every file
system and in Blob Storage, the same name for the same id every time, different names for
different ids. Ordinary Spotify ids (base62, or ``[a-z0-9._-]`` user names) come out unchanged.

Titles (a playlist's name in the name of its portable files) pass :func:`safe_title`: readable
rather than injective, so a file name made from one also holds the id it belongs to.
"""

from __future__ import annotations

import hashlib
import re
import string
import unicodedata
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


#: characters Windows forbids in file names; "/" also separates folders everywhere
_FORBIDDEN_IN_NAMES = re.compile(r'[<>:"/\\|?*]')
#: a title's share of a file name, in UTF-8 bytes: room for the id and extension under the
#: 255-byte name limit of Linux and macOS file systems (Windows counts 255 UTF-16 units)
_TITLE_BYTES = 120
#: invisible or unsafe code points: controls, format characters (bidi overrides), surrogates,
#: private use, unassigned, line and paragraph separators
_DROPPED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
_ZERO_WIDTH_JOINER = "\u200d"  # keeps emoji sequences such as family emoji whole


def safe_title(title: str, fallback: str = "Untitled") -> str:
    """``title`` as the readable part of a file name that Windows, macOS and Linux all accept.

    NFC (macOS stores names decomposed but compares them normalized), no characters Windows
    forbids, no controls or bidi overrides, whitespace collapsed, no leading or trailing dots
    or spaces (Windows drops trailing ones, a leading dot hides a file), no leading "-", at most
    ``_TITLE_BYTES``.
    """
    text = unicodedata.normalize("NFC", title)
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if char.isspace() or category == "Zs":
            kept.append(" ")
        elif category not in _DROPPED_CATEGORIES or char == _ZERO_WIDTH_JOINER:
            kept.append(char)
    text = " ".join(_FORBIDDEN_IN_NAMES.sub("_", "".join(kept)).split())
    encoded = text.encode()
    if len(encoded) > _TITLE_BYTES:
        text = encoded[:_TITLE_BYTES].decode(errors="ignore")
    text = text.strip(" .")
    # a name starting with "-" reads as an option to shell commands (rm *, mv *)
    return "_" + text[1:] if text.startswith("-") else text or fallback
