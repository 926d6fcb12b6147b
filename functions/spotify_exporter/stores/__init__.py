"""Where snapshots are kept: one small protocol, two implementations.

Paths are POSIX-style keys relative to the store root, e.g.
``"<account_id>/<started_at>/library.csv"``. A file becomes visible only once
its writer closes without error, so a crash never leaves a half-written file
under its final name (the snapshot writer relies on this for the manifest).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import BinaryIO, Protocol, runtime_checkable


@runtime_checkable
class SnapshotStore(Protocol):
    """A place to write snapshot files to and read them back from."""

    @property
    def location(self) -> str:
        """Where the store is, for humans (a folder path or a container URL without credentials)."""
        ...

    def open_write(self, path: str) -> AbstractContextManager[BinaryIO]:
        """A binary stream for ``path``; the file appears (replacing any old one) only on a clean exit."""
        ...

    def open_read(self, path: str) -> AbstractContextManager[BinaryIO]:
        """A binary stream of an existing file; raises ``FileNotFoundError`` when it does not exist."""
        ...

    def list_files(self, prefix: str = "") -> Iterator[str]:
        """Paths of the files whose path starts with ``prefix``, in sorted order."""
        ...

    @property
    def write_once(self) -> bool:
        """Whether a file, once written, can never be replaced (an immutable Blob container): the
        exporter then writes every file once and never rewrites one (see ``resume.py``)."""
        ...

    def journal_store(self) -> SnapshotStore:
        """Where files rewritten as work goes on (restore journals) are kept: the store itself unless
        it is write-once."""
        ...
