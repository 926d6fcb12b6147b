"""Hostile transports (issue 12): what a broken network or server does to an answer, over real sockets.

* :func:`dropped`: the connection closes before any answer (a reset);
* :func:`cut`: the headers promise a body that stops half way (the connection closes);
* :func:`drip`: the body comes one byte at a time, each long before any read timeout;
* :func:`huge_page`: a valid JSON page padded to hundreds of MB, or gzip-encoded so that a few
  hundred kB on the wire inflate to that (a compression bomb);
* :class:`DeadHost` (connections refused) and :class:`BlackHole` (connections swallowed: the
  first one is accepted by the kernel and never answered, later ones are never even accepted, so
  they time out connecting), as an image host can be.

cheroot treats a ``ConnectionResetError`` raised by the application as a peer that went away: it
closes the connection without a word (``cheroot.errors.acceptable_sock_shutdown_error_codes``),
which is what a client sees when a server or a middlebox drops it.
"""

from __future__ import annotations

import errno
import functools
import socket
import time
import zlib
from collections.abc import Callable, Iterable, Iterator


def dropped() -> ConnectionResetError:
    """Raise this from the WSGI app before ``start_response``: the client gets no answer at all."""
    return ConnectionResetError(errno.ECONNRESET, "connection dropped by the simulator")


def cut(body: Iterable[bytes]) -> Iterator[bytes]:
    """The first half of the body, then the connection closes (the client wanted the rest)."""
    data = b"".join(body)
    yield data[: len(data) // 2]
    raise dropped()


def drip(body: Iterable[bytes], interval_s: float, running: Callable[[], bool]) -> Iterator[bytes]:
    """One byte every ``interval_s`` until the body is sent, the client hangs up or the server stops."""
    for byte in b"".join(body):
        if not running():
            raise dropped()
        yield bytes((byte,))
        time.sleep(interval_s)


@functools.lru_cache(maxsize=4)
def huge_page(size: int, gzipped: bool) -> bytes:
    """An empty, valid page (``items: []``, no ``next``) padded with spaces to ``size`` bytes of JSON;
    gzip-encoded when ``gzipped`` (then a few hundred kB)."""
    head = b'{"href":null,"items":[],"limit":50,"next":null,"offset":0,"previous":null,"total":0'
    padding = size - len(head) - 1
    if not gzipped:
        return head + b" " * padding + b"}"
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: a gzip container
    parts = [packer.compress(head)]
    block = b" " * (1 << 20)
    while padding > 0:
        parts.append(packer.compress(block[: min(padding, len(block))]))
        padding -= len(block)
    parts.append(packer.compress(b"}"))
    parts.append(packer.flush())
    return b"".join(parts)


class DeadHost:
    """A port on 127.0.0.1 nobody listens on (held, so that nobody else can take it): refused."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]

    def close(self) -> None:
        self._socket.close()


class BlackHole(DeadHost):
    """A port that listens with the smallest backlog and never accepts: the kernel completes the first
    handshake and then nothing ever comes back; once that backlog is full, connections time out."""

    def __init__(self) -> None:
        super().__init__()
        self._socket.listen(0)
