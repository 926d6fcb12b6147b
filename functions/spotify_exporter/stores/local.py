"""Snapshots in a folder on this machine.

Each file is written to a hidden temp file next to its final name, fsynced and
then renamed over it, so a crash or an error leaves either the old file or the
new one, never a truncated one; the temp files of a writer that was killed are
removed by the next write into that folder once they are surely stale.

Snapshots hold personal listening data, so files are created readable by their
owner only (0600) and folders 0700, whatever the umask (a stricter umask still
applies). Symbolic links *inside* the backup folder are never followed: a linked
account folder would send the snapshot somewhere nobody asked for. The folder
itself may be a link (it is resolved once, when the store is opened).
"""

from __future__ import annotations

import errno
import io
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path, PureWindowsPath
from typing import BinaryIO, cast

from ..errors import StoreError
from ..files import TEMP_FILE, create_temp_beside, fsync_folder, remove_stale_temps_in

#: ``.<name>.<16 hex>.tmp``: the temp names of earlier versions, still never listed
_OLD_TEMP_FILE = re.compile(r"^\..+\.[0-9a-f]{16}\.tmp$")
#: folders the store creates
FOLDER_MODE = 0o700


class _KeepOpenWriter(io.BufferedWriter):
    """A writer whose ``close()`` only flushes.

    Wrappers such as ``io.TextIOWrapper`` close the stream they wrap; the store
    still needs it afterwards to fsync and rename, so the real close is ours.
    """

    def close(self) -> None:
        if not self.closed:
            self.flush()

    def really_close(self) -> None:
        super().close()


class LocalFolderStore:
    """A :class:`~spotify_exporter.stores.SnapshotStore` rooted at a local folder."""

    def __init__(self, root: str | Path) -> None:
        # absolute so that ``location`` still means something if the process changes directory
        self._root = Path(root).expanduser().resolve()
        self._cleaned: set[Path] = set()  # folders whose stale temp files are gone

    def __repr__(self) -> str:
        return f"LocalFolderStore({str(self._root)!r})"

    @property
    def location(self) -> str:
        """The absolute folder path."""
        return str(self._root)

    @property
    def root(self) -> Path:
        return self._root

    @property
    def write_once(self) -> bool:
        """A folder's files can always be replaced."""
        return False

    def journal_store(self) -> LocalFolderStore:
        return self

    def _target(self, path: str) -> Path:
        """The file for ``path``; a key that would land outside the root is a bug, not a user error
        (names from Spotify pass :func:`~spotify_exporter.pathnames.path_part` first)."""
        parts = path.split("/")
        if (
            any(part in ("", ".", "..") for part in parts)
            or PureWindowsPath(path).drive
            or "\\" in path
            or "\0" in path
        ):
            raise ValueError(f"store paths are relative POSIX keys without '..', '.' or empty parts, not {path!r}")
        return self._root.joinpath(*parts)

    def _no_links(self, path: str, folder: Path, *, create: bool = False) -> None:
        """Refuse ``folder`` (inside the root) if it or a folder above it is a symbolic link;
        with ``create``, make the missing ones (mode 0700)."""
        current = self._root
        if create and not current.is_dir():
            current.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
        for part in folder.relative_to(self._root).parts:
            current = current / part
            if current.is_symlink():
                raise StoreError(
                    f"could not use {path} in the folder {self.location}: "
                    f"{current.relative_to(self._root).as_posix()} is a symbolic link, and links inside the "
                    "backup folder are not followed; remove the link, or point --out at the folder it names"
                )
            if create and not current.is_dir():
                with suppress(FileExistsError):
                    current.mkdir(mode=FOLDER_MODE)

    @contextmanager
    def open_write(self, path: str) -> Iterator[BinaryIO]:
        """Write to a temp file beside the target, then atomically rename it on a clean exit."""
        target = self._target(path)
        try:
            self._no_links(path, target.parent, create=True)
            if target.parent not in self._cleaned:
                remove_stale_temps_in(target.parent)
                self._cleaned.add(target.parent)
            fd, temp = create_temp_beside(target)  # O_EXCL, 0600
        except OSError as exc:
            raise self._error("write", path, exc) from exc
        stream = _KeepOpenWriter(io.FileIO(fd, "wb"), buffer_size=1 << 16)
        done = False
        try:
            yield cast(BinaryIO, stream)
            try:
                stream.flush()
                os.fsync(stream.fileno())
                stream.really_close()
                temp.replace(target)
            except OSError as exc:
                raise self._error("write", path, exc) from exc
            done = True
            fsync_folder(target.parent)
        finally:
            if not done:
                with suppress(OSError, ValueError):
                    stream.really_close()
                with suppress(OSError):
                    temp.unlink()

    @contextmanager
    def open_read(self, path: str) -> Iterator[BinaryIO]:
        """Open the file; ``FileNotFoundError`` when it is missing (or is a folder)."""
        target = self._target(path)
        self._no_links(path, target.parent)
        try:
            fd = os.open(target, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0))
            try:
                stream = os.fdopen(fd, "rb")
            except OSError:
                os.close(fd)
                raise
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise FileNotFoundError(f"{path} does not exist in {self.location}") from exc
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise StoreError(
                    f"could not read {path} from the folder {self.location}: it is a symbolic link, and links "
                    "inside the backup folder are not followed"
                ) from None
            raise self._error("read", path, exc) from exc
        with stream:
            yield stream

    def list_files(self, prefix: str = "") -> Iterator[str]:
        """Every file under the root whose key starts with ``prefix``, sorted; temp files are skipped."""
        # walk only the deepest folder the prefix names in full, not the whole backup tree
        folder_key = prefix.rpartition("/")[0]
        start = self._target(folder_key) if folder_key else self._root
        self._no_links(prefix, start)  # os.walk would follow a linked top folder (never the ones below)
        found: list[str] = []
        errors: list[OSError] = []
        for dirpath, dirnames, filenames in os.walk(start, onerror=errors.append):
            dirnames.sort()
            relative = Path(dirpath).relative_to(self._root).as_posix()
            base = "" if relative == "." else relative + "/"
            for name in filenames:
                key = base + name
                if key.startswith(prefix) and not TEMP_FILE.match(name) and not _OLD_TEMP_FILE.match(name):
                    found.append(key)
        # a missing root or prefix folder just means there is nothing there yet
        errors = [e for e in errors if not isinstance(e, FileNotFoundError | NotADirectoryError)]
        if errors:
            raise self._error("list", prefix or "the files", errors[0])
        return iter(sorted(found))

    def _error(self, action: str, path: str, exc: OSError) -> StoreError:
        reason = exc.strerror or type(exc).__name__
        preposition = {"write": "to", "read": "from", "list": "in"}[action]
        hint = (
            "check that the folder can be created and written to and that the disk is not full"
            if action == "write"
            else "check that this user may read the folder"
        )
        return StoreError(f"could not {action} {path} {preposition} the folder {self.location}: {reason}; {hint}")
