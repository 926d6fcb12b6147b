"""Files on this machine that people keep (``.env``, the report, restore journals): written whole
or not at all.

A kill at any moment leaves the old file or the new one, never a mix, and no temp file that
outlives the process: the temp file gets an unpredictable name in the target's own folder
(``mkstemp``: ``O_EXCL``, mode 0600, never a followed symlink), is fsynced, then renamed over the
target. A target that is a symlink is written through (the file it points to is replaced), so a
user's linked ``.env`` stays linked.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

#: owner read/write only: these files hold tokens or personal listening data
PRIVATE = 0o600
#: a temp file this old beside its target was left by a killed writer (a live one renames in seconds)
STALE_TEMP_S = 600.0


def write_file_atomically(path: Path, data: bytes, *, mode: int = PRIVATE) -> Path:
    """Replace ``path`` with ``data`` in one step and return the file actually written.

    ``OSError`` propagates (the caller knows what the file is for and says so); nothing is
    left behind when it does.
    """
    target = Path(path).expanduser()
    if target.is_symlink():
        target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target)
    fd, temp = create_temp_beside(target)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            if hasattr(os, "fchmod"):  # POSIX; elsewhere the folder's own permissions apply
                os.fchmod(stream.fileno(), mode)
            os.fsync(stream.fileno())
        temp.replace(target)
    except BaseException:
        with suppress(OSError):
            temp.unlink()
        raise
    fsync_folder(target.parent)
    return target


def create_temp_beside(target: Path) -> tuple[int, Path]:
    """A new temp file ``.<name>.<8 random characters>.tmp`` in ``target``'s folder, open for writing:
    ``O_EXCL`` (never a planted file or symlink), mode 0600 (less if the umask says so)."""
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    return fd, Path(temp_name)


#: the names :func:`create_temp_beside` gives (``mkstemp``'s random part is 8 of ``[a-z0-9_]``)
TEMP_FILE = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")


def remove_stale_temps(target: Path, *, older_than_s: float = STALE_TEMP_S) -> None:
    """Delete what a writer killed mid-write left beside ``target`` (``.<name>.<random>.tmp``)."""
    prefix = f".{target.name}."
    _remove_stale(target.parent, lambda name: name.startswith(prefix) and len(name) == len(prefix) + 12, older_than_s)


def remove_stale_temps_in(folder: Path, *, older_than_s: float = STALE_TEMP_S) -> None:
    """Delete every temp file writers killed mid-write left in ``folder`` (one the program owns)."""
    _remove_stale(folder, lambda name: True, older_than_s)


def _remove_stale(folder: Path, wanted: Callable[[str], bool], older_than_s: float) -> None:
    cutoff = time.time() - older_than_s
    with suppress(OSError):
        for sibling in folder.iterdir():
            if TEMP_FILE.match(sibling.name) and wanted(sibling.name) and sibling.lstat().st_mtime < cutoff:
                with suppress(OSError):
                    sibling.unlink()


def fsync_folder(folder: Path) -> None:
    """Make a rename itself durable (POSIX); best effort, as some systems cannot open folders."""
    if os.name != "posix":
        return
    with suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
