"""The connections every request of the client goes through (API, token, images).

They say when a request has been written, before they wait for its answer (the moment a page
stream hands the previous page to its reader, see :mod:`.paging`), and they put themselves under
the request's overall deadline (:mod:`.deadlines`). Bodies are read in steps under a size cap,
so a gzip bomb counts as what it inflates to.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import requests
import requests.adapters
import urllib3
import urllib3.connection

from . import deadlines

#: bodies are read (and decompressed) this much at a time, so a size cap holds while reading
_READ_STEP = 1 << 20

#: per thread: what runs once this thread's request is on its way (see ``SpotifyClient.get_json``)
when_sent = threading.local()


def request_sent() -> None:
    callback = getattr(when_sent, "callback", None)
    if callback is not None:
        when_sent.callback = None
        callback()


class _SignallingConnection(urllib3.connection.HTTPConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        deadlines.attach(self)  # the request's overall deadline covers this connection
        super().request(*args, **kwargs)
        deadlines.attach(self)  # connected by now: a deadline that passed meanwhile cuts it
        request_sent()


class _SignallingHTTPSConnection(urllib3.connection.HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        deadlines.attach(self)
        super().request(*args, **kwargs)
        deadlines.attach(self)
        request_sent()


class _SignallingPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _SignallingConnection


class _SignallingHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _SignallingHTTPSConnection


_SIGNALLING_POOLS = {"http": _SignallingPool, "https": _SignallingHTTPSPool}


class SignallingAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter whose connections say when a request has been written, before they
    wait for its answer: the moment a page stream hands the previous page to its reader; and
    which put themselves under the request's overall deadline (:mod:`.deadlines`)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _SIGNALLING_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> urllib3.PoolManager:
        manager: urllib3.PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS has pools of its own (and signals at the answer)
            manager.pool_classes_by_scheme = _SIGNALLING_POOLS
        return manager


class AnswerTooLarge(Exception):
    """The answer ran past the size allowed for it."""


def read_body(response: requests.Response, max_bytes: int) -> bytes:
    """The whole body, decoded, in steps: past ``max_bytes`` (decoded, so a gzip bomb counts as
    what it inflates to) the connection is dropped and :class:`AnswerTooLarge` raised."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes and not response.headers.get("Content-Encoding"):
        response.close()
        raise AnswerTooLarge()
    data = bytearray()
    while chunk := response.raw.read(_READ_STEP, decode_content=True):
        data += chunk
        if len(data) > max_bytes:
            response.close()
            raise AnswerTooLarge()
    return bytes(data)


def send(
    session: requests.Session,
    method: str,
    url: str,
    params: Mapping[str, str | int] | None,
    headers: Mapping[str, str],
    json_body: object,
    data: bytes | None,
    timeout: tuple[float, float],
) -> requests.Response:
    """One request through the session's adapter, the answer's headers read, its body not yet
    (:func:`read_body`): the session still supplies headers, proxies, TLS settings and the
    connection pool, but ``Session.request``'s per-call work (merging settings, cookies, hooks,
    following redirects: none applies here) is skipped. It ran between an answer and the next
    request, where every millisecond adds to an export's wall time."""
    request = requests.PreparedRequest()
    request.prepare_method(method)
    request.prepare_url(url, params)
    request.prepare_headers({**session.headers, **headers})
    request.prepare_body(data, None, json_body)
    verify = True if session.verify is None else session.verify
    return session.get_adapter(url).send(
        request, stream=True, timeout=timeout, verify=verify, cert=session.cert, proxies=session.proxies
    )
