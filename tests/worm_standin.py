"""Version-level immutability (WORM) in front of Azurite: a reverse proxy that answers as Azure does.

Azurite implements neither "Version Level Worm" nor "Blob Versions" (both under "NOT supported" in
its README, 3.37). :class:`WormProxy` listens on 127.0.0.1 (HTTP, or HTTPS with the tests' CA),
forwards every request unchanged over a real socket to Azurite, and, for the containers it is told
are protected, applies what Microsoft documents for a container with version-level immutability
and a default time-based retention policy ("Version-level WORM policies for immutable blob data",
"Scenarios"; "Store business-critical blob data with immutable storage", "Summary of immutability
scenarios"; error codes from "Blob Storage error codes"):

* a blob version written after the policy began is protected until its write time plus the
  policy's days (the default policy "isn't automatically applied to blob versions that existed
  before the default policy was configured");
* while protected: **Delete Blob, Set Blob Metadata, Put Page and Append Block are refused**
  with ``409 BlobImmutableDueToPolicy`` ("This operation is not permitted as the blob is
  immutable due to a policy."), whoever asks: the account key is no exception;
* **an overwrite is allowed and creates a new version**: "Overwriting a blob with Put Blob, Put
  Block List, or Copy Blob creates a new version"; the replaced content is kept here as a
  previous version (:meth:`WormProxy.versions`), protected for its own days, since Azurite keeps
  no versions (listing versions over REST is not emulated);
* allowed as ever: creating blobs, Put Block, reads, listing, Set Blob Tier ("You can change the
  access tier of a blob with the Set Blob Tier operation"), Set Blob Properties, leases;
* the container cannot be deleted over the data plane: ``409
  ContainerImmutableStorageWithVersioningEnabled`` ("The requested operation is not allowed as the
  container has a immutable storage with versioning enabled.", Azure/azure-sdk-for-python issue
  22255);
* Get Container Properties says ``x-ms-immutable-storage-with-versioning-enabled: true`` and
  ``x-ms-has-immutability-policy: true``; a protected blob's properties carry
  ``x-ms-immutability-policy-until-date`` and ``x-ms-immutability-policy-mode: unlocked``.

The proxy reads what it needs to decide (a blob's write time, the content an overwrite replaces)
from Azurite with the real SDK and the emulator's public account key. Its clock can be moved on
(:meth:`WormProxy.later`) to show what happens once the retention has passed.
"""

from __future__ import annotations

import contextlib
import http.client
import ssl
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient
from azurite import ACCOUNT_NAME, Azurite
from keyvault_standin import LocalCA

#: Azure's answers (status, message), "Blob Storage error codes" and the SDK issue above
ERRORS = {
    "BlobImmutableDueToPolicy": (409, "This operation is not permitted as the blob is immutable due to a policy."),
    "ContainerImmutableStorageWithVersioningEnabled": (
        409,
        "The requested operation is not allowed as the container has a immutable storage with versioning enabled.",
    ),
}
#: what a protected version refuses, by REST operation
REFUSED_WHILE_PROTECTED = frozenset({"Delete Blob", "Set Blob Metadata", "Put Page", "Append Block"})
#: writes that replace a blob's content: allowed, the replaced content becomes a previous version
VERSIONING_WRITES = frozenset({"Put Blob", "Put Block List", "Copy Blob"})
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te"})


def operation(method: str, blob: str | None, query: dict[str, list[str]], headers: Any) -> str:
    """The Blob service REST operation a request is, by the names Microsoft's reference uses."""
    comp = (query.get("comp") or [""])[0].lower()
    if blob is None:
        if comp:
            return f"container {comp}"
        return {"DELETE": "Delete Container", "PUT": "Create Container"}.get(method, "Get Container Properties")
    if method == "DELETE":
        return "Delete Blob" if not comp else f"delete {comp}"
    if method in ("GET", "HEAD"):
        return {"": "Get Blob" if method == "GET" else "Get Blob Properties"}.get(comp, f"get {comp}")
    if method == "PUT":
        if not comp:
            return "Copy Blob" if headers.get("x-ms-copy-source") else "Put Blob"
        return {
            "block": "Put Block",
            "blocklist": "Put Block List",
            "metadata": "Set Blob Metadata",
            "properties": "Set Blob Properties",
            "tier": "Set Blob Tier",
            "page": "Put Page",
            "appendblock": "Append Block",
            "lease": "Lease Blob",
            "snapshot": "Snapshot Blob",
        }.get(comp, f"put {comp}")
    return f"{method.lower()} {comp}"


@dataclass(frozen=True)
class PreviousVersion:
    """Content an overwrite replaced, kept as Azure keeps a version."""

    container: str
    name: str
    data: bytes
    written_at: datetime
    until: datetime | None
    version_id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass
class Protection:
    days: int
    since: datetime


class WormProxy:
    """Azurite's Blob service behind version-level immutability for the containers :meth:`protect` names."""

    def __init__(
        self,
        upstream: Azurite,
        *,
        server_context: ssl.SSLContext | None = None,
        ca_bundle: Path | None = None,
    ) -> None:
        self.upstream = upstream
        self._server_context = server_context
        self._upstream_context = ssl.create_default_context(cafile=str(ca_bundle)) if ca_bundle else None
        verify: Any = str(ca_bundle) if ca_bundle else True
        self._azurite = BlobServiceClient.from_connection_string(upstream.connection_string, connection_verify=verify)
        self._protected: dict[str, Protection] = {}
        self._versions: list[PreviousVersion] = []
        self._offset = timedelta()
        self._lost: list[tuple[str, str]] = []
        #: how many answers :meth:`lose_answer` has dropped
        self.answers_lost = 0
        self._lock = threading.RLock()
        #: every request refused, as (operation, container/blob, error code)
        self.refused: list[tuple[str, str, str]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- the test's controls ------------------------------------------------------------------

    def protect(self, container: str, days: int = 365) -> None:
        """Give ``container`` version-level immutability with a default policy of ``days`` from now on."""
        with self._lock:
            self._protected[container] = Protection(days, self.now())

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def lose_answer(self, op: str, blob_suffix: str) -> None:
        """The next ``op`` on a blob whose name ends with ``blob_suffix`` is carried out by Azurite, but
        its answer never reaches the client (the connection drops): the client cannot tell it landed."""
        with self._lock:
            self._lost.append((op, blob_suffix))

    def _answer_lost(self, op: str, blob: str | None) -> bool:
        with self._lock:
            for rule in self._lost:
                if blob is not None and rule[0] == op and blob.endswith(rule[1]):
                    self._lost.remove(rule)
                    self.answers_lost += 1
                    return True
        return False

    @contextlib.contextmanager
    def later(self, delta: timedelta) -> Iterator[None]:
        """The proxy's clock ``delta`` ahead for the ``with`` block (retention passes; Azurite's clock
        does not move, so blobs written meanwhile are as old as ever)."""
        with self._lock:
            self._offset += delta
        try:
            yield
        finally:
            with self._lock:
                self._offset -= delta

    def versions(self, container: str, name: str | None = None) -> list[PreviousVersion]:
        """Previous versions the container's overwrites created (of ``name`` only, when given), oldest first."""
        with self._lock:
            return [v for v in self._versions if v.container == container and name in (None, v.name)]

    @property
    def address(self) -> Azurite:
        """Where clients connect: the proxy, with Azurite's account and key."""
        assert self._server is not None, "start the proxy first"
        host, port = self._server.server_address[:2]
        return Azurite(str(host), int(port), self.upstream.scheme, "blob")

    # -- running ------------------------------------------------------------------------------

    def start(self) -> WormProxy:
        proxy = self

        class Handler(_ProxyHandler):
            owner = proxy

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        if self._server_context is not None:
            server.socket = self._server_context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="worm-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._azurite.close()

    def __enter__(self) -> WormProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def connect_upstream(self) -> http.client.HTTPConnection:
        if self.upstream.scheme == "https":
            return http.client.HTTPSConnection(
                self.upstream.host, self.upstream.port, timeout=60, context=self._upstream_context
            )
        return http.client.HTTPConnection(self.upstream.host, self.upstream.port, timeout=60)

    # -- the rules ----------------------------------------------------------------------------

    def protection(self, container: str) -> Protection | None:
        with self._lock:
            return self._protected.get(container)

    def protected_until(self, container: str, written_at: datetime) -> datetime | None:
        """When the version written at ``written_at`` stops being protected (None: it never was)."""
        protection = self.protection(container)
        if protection is None or written_at < protection.since - timedelta(seconds=1):
            return None
        return written_at + timedelta(days=protection.days)

    def current(self, container: str, blob: str) -> tuple[datetime, datetime | None] | None:
        """The current version's write time and protection end, or None when there is no such blob."""
        try:
            properties = self._azurite.get_blob_client(container, blob).get_blob_properties()
        except ResourceNotFoundError:
            return None
        written_at = properties.last_modified.astimezone(UTC)
        return written_at, self.protected_until(container, written_at)

    def keep_previous(self, container: str, blob: str) -> PreviousVersion | None:
        """The current content, read before an overwrite replaces it."""
        found = self.current(container, blob)
        if found is None:
            return None
        data = self._azurite.get_blob_client(container, blob).download_blob().readall()
        return PreviousVersion(container, blob, data, found[0], found[1])

    def decide(self, op: str, container: str, blob: str | None) -> str | None:
        """The error code that refuses ``op``, or None to forward it."""
        if self.protection(container) is None:
            return None
        if op == "Delete Container":
            return "ContainerImmutableStorageWithVersioningEnabled"
        if blob is not None and op in REFUSED_WHILE_PROTECTED:
            found = self.current(container, blob)
            if found is not None and found[1] is not None and found[1] > self.now():
                return "BlobImmutableDueToPolicy"
        return None


class _ProxyHandler(BaseHTTPRequestHandler):
    owner: WormProxy
    protocol_version = "HTTP/1.1"
    _upstream: http.client.HTTPConnection | None = None

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests stay quiet

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        body = self._read_body()
        parts = urlsplit(self.path)
        segments = [unquote(s) for s in parts.path.split("/")]
        # path-style: /<account>/<container>[/<blob>]
        container = segments[2] if len(segments) > 2 and segments[1] == ACCOUNT_NAME and segments[2] else None
        blob = ("/".join(segments[3:]) or None) if container else None
        query = parse_qs(parts.query)
        op = operation(self.command, blob, query, self.headers)
        owner = self.owner
        if container is None:
            self._forward(body)
            return
        if owner._answer_lost(op, blob):
            self._forward(body, lose_answer=True)
            return
        with owner._lock if owner.protection(container) and op in VERSIONING_WRITES else contextlib.nullcontext():
            refusal = owner.decide(op, container, blob)
            if refusal is not None:
                owner.refused.append((op, f"{container}/{blob}" if blob else container, refusal))
                self._refuse(refusal)
                return
            previous = owner.keep_previous(container, blob) if blob and op in VERSIONING_WRITES else None
            status = self._forward(body, extra=self._extra_headers(op, container, blob))
            if previous is not None and 200 <= status < 300:
                owner._versions.append(previous)

    def _extra_headers(self, op: str, container: str, blob: str | None) -> dict[str, str]:
        owner = self.owner
        if owner.protection(container) is None:
            return {}
        if op == "Get Container Properties":
            return {
                "x-ms-immutable-storage-with-versioning-enabled": "true",
                "x-ms-has-immutability-policy": "true",
                "x-ms-has-legal-hold": "false",
            }
        if blob is not None and op in ("Get Blob", "Get Blob Properties"):
            found = owner.current(container, blob)
            if found is not None and found[1] is not None:
                return {
                    "x-ms-immutability-policy-until-date": format_datetime(found[1], usegmt=True),
                    "x-ms-immutability-policy-mode": "unlocked",
                }
        return {}

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _forward(self, body: bytes, extra: dict[str, str] | None = None, lose_answer: bool = False) -> int:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        if body or self.command in ("PUT", "POST"):
            headers["Content-Length"] = str(len(body))
        for attempt in (1, 2):  # Azurite may have closed an idle kept-alive connection
            if self._upstream is None:
                self._upstream = self.owner.connect_upstream()
            try:
                self._upstream.request(self.command, self.path, body=body, headers=headers)
                response = self._upstream.getresponse()
                data = response.read()
                break
            except (TimeoutError, ConnectionError, http.client.HTTPException):
                self._upstream.close()
                self._upstream = None
                if attempt == 2:
                    raise
        if lose_answer:
            self.close_connection = True  # nothing sent back: the client sees the connection drop
            return int(response.status)
        extra = extra or {}
        replaced = {name.lower() for name in extra} | _HOP_BY_HOP
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in replaced and not (name.lower() == "content-length" and self.command != "HEAD"):
                self.send_header(name, value)
        for name, value in extra.items():
            self.send_header(name, value)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        return int(response.status)

    def _refuse(self, code: str) -> None:
        status, message = ERRORS[code]
        request_id = str(uuid.uuid4())
        moment = datetime.now(UTC)
        text = f"{message}\nRequestId:{request_id}\nTime:{moment.strftime('%Y-%m-%dT%H:%M:%S.%f0Z')}"
        data = (
            f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{text}</Message></Error>'
        ).encode()
        self.send_response_only(status, message)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-ms-error-code", code)
        self.send_header("x-ms-request-id", request_id)
        self.send_header("x-ms-version", self.headers.get("x-ms-version", ""))
        self.send_header("Date", format_datetime(moment, usegmt=True))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def worm_azurite(azurite: Azurite) -> Iterator[WormProxy]:
    """The session's Azurite behind the WORM proxy (HTTP, shared key): protect a container to use it."""
    with WormProxy(azurite) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def worm_azurite_oauth(azurite_oauth: Azurite, local_ca: LocalCA) -> Iterator[WormProxy]:
    """The HTTPS, Entra-token Azurite behind the WORM proxy, itself on HTTPS with the tests' CA."""
    with WormProxy(azurite_oauth, server_context=local_ca.server_context(), ca_bundle=local_ca.bundle_path) as proxy:
        yield proxy


@pytest.fixture
def worm_container(worm_azurite: WormProxy, blob_container: str) -> str:
    """A container no other test uses, under a default retention policy of 365 days."""
    worm_azurite.protect(blob_container, days=365)
    return blob_container
