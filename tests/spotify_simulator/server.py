"""The simulator: Spotify's Web API and Accounts service over real HTTP on 127.0.0.1.

One cheroot server per simulator, in a daemon thread, with a pool of worker threads. The WSGI
app checks, in this order: a ban (429), the bearer token (401), the route (404/405), endpoints
refused to the app (``Faults.unavailable``), random faults, for writes ``fail_writes_after``
(503), and only then serves data: reads and writes alike hold one lock, so a read sees every
write before it at once and never half of one. Data changes only by writes (HTTP, ``edit``,
``change``): a retried read gets the same page unless something was written in between.

``requests_total`` counts every request under /v1 whatever its status (writes included);
``token_requests`` counts /api/token; ``counters`` holds both, keyed by (path template,
status). Custom cover images are served under ``/image/`` like a CDN: no token, not API
requests (``image_requests`` counts them).

The Web API's endpoints are in :mod:`.endpoints`, the Accounts service's in :mod:`.oauth`, the
URL map, the server and the shape of a reply in :mod:`.wsgi`.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar

import orjson
from cheroot.wsgi import Server as WSGIServer
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.wrappers import Request, Response

from . import hostile
from .covers import URL_LIFETIME_S, image_key
from .endpoints import WebApiEndpoints
from .faults import FaultPlan, Faults
from .model import Account
from .oauth import AccountsService
from .render import Renderer
from .rules import LIBRARY_URI_TYPES
from .tokens import DEFAULT_SCOPES, TokenStore
from .users import SimulatedUser
from .writes import Editor
from .wsgi import (
    ARRIVED_AT,
    AUTHORIZE_PATH,
    IMAGE_PATH,
    TOKEN_PATH,
    URLS,
    WRITE_METHODS,
    ArrivalServer,
    Reply,
    echo_request,
    error,
    route_args,
)

T = TypeVar("T")


class SpotifySimulator(WebApiEndpoints, AccountsService):
    """A faithful stand-in for Spotify's Web API and Accounts service; see the package docstring.

    Besides the reads, it serves Spotify's write endpoints (``writes.py`` for what they do and in
    which order things are listed afterwards) and custom playlist covers on a CDN path. What
    tests use beyond HTTP:

    * ``edit``: an :class:`~.writes.Editor` to change the account between exports exactly as the
      write endpoints would (new snapshot ids included), e.g. ``sim.edit.add_items(id, [uri])``;
      ``change(fn)`` for anything else (``fn(account)``, then changed playlists get new snapshot ids).
    * ``clock``: "now" in epoch seconds (``time.time``); ``added_at`` of writes and the
      ``expires`` of cover URLs come from it, so a test may move it on.
    * ``write_requests`` (requests to write endpoints, any status), ``writes_applied`` (2xx),
      ``write_counters`` (keyed by method, template and status), ``image_requests`` (CDN GETs,
      not API requests: not in ``requests_total`` nor ``counters``).
    * ``fail_writes_after``: from ``Faults.fail_writes_after``; once ``writes_applied`` reaches
      it, every write answers 503 unapplied. Set it to None to let writes through again.
    * ``on_write_applied(n)``: called after the n-th applied write, before it is answered (a
      test kills its client there: Spotify did the write, the client never heard of it).
    * ``cover_of(playlist_id)``, ``issue_refresh_token(scope)``.
    * ``library_uri_types="spec"``: how a stand-in that reads the OpenAPI spec literally follows
      artists (``PUT /me/library`` refuses artist URIs, ``PUT /me/following`` works; ``rules.py``).
    * ``empty_description_on_create=False``: ``POST /me/playlists`` with ``"description": ""``
      answers 400 as ``PUT /playlists/{id}`` does (``rules.py``: Spotify's create is not
      documented either way, so a client must cope with both).
    * ``add_user(account)``: another person using the same app (client id and secret, and so
      the same rate limit and faults), with a refresh token of their own that opens only their
      account (:class:`~.users.SimulatedUser`); ``users`` lists them, the first is ``account``.
      While a request is served, ``account``, ``edit`` and the renderer are its user's.
      ``consenting_user`` (an index into ``users``) is who answers the consent page.
    * ``api_request_times``: when each API request arrived (``time.monotonic()``), to check
      the pace an exporter keeps over rolling windows.
    """

    def __init__(
        self,
        account: Account,
        faults: Faults | None = None,
        record: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        library_uri_types: str = "changelog",
        empty_description_on_create: bool = True,
    ) -> None:
        if library_uri_types not in LIBRARY_URI_TYPES:
            raise ValueError(f"library_uri_types must be one of {LIBRARY_URI_TYPES}")
        self.library_uri_types = library_uri_types
        self.empty_description_on_create = empty_description_on_create
        self._lock = threading.Lock()  # counters
        self.faults = faults or Faults()
        self.record = record
        #: what the simulated user answers on the consent page: "allow" or "deny"
        self.consent = "allow"
        #: which user (index into ``users``) is logged in at the consent page
        self.consenting_user = 0
        self.granted_scopes: list[str] = []
        self.host = host
        self.port = port
        #: "now", in epoch seconds, for what writes date and for cover URLs' expiry
        self.clock: Callable[[], float] = time.time
        self.fail_writes_after = self.faults.fail_writes_after
        #: called with ``writes_applied`` after each applied write, before its answer is sent
        self.on_write_applied: Callable[[int], None] | None = None
        self._tokens = TokenStore(self.faults.token_lifetime_s, self.faults.rotate_refresh_tokens)
        #: the accounts' data: every read and write holds it (cheroot serves on several threads)
        self._data = threading.RLock()
        self.users: list[SimulatedUser] = []
        self._serving = threading.local()  # the user whose request this thread serves
        self.api_request_times: list[float] = []
        self.requests_total = 0
        self.token_requests = 0
        self.write_requests = 0
        self.writes_applied = 0
        self.image_requests = 0
        self.counters: Counter[tuple[str, int]] = Counter()
        self.write_counters: Counter[tuple[str, str, int]] = Counter()
        self.responses: list[tuple[str, str, int, Any]] = []
        self._cdn: dict[str, bytes] = {}  # image key -> JPEG bytes, for every cover URL handed out
        #: ``Faults.image_host`` "down" or "black hole": where cover URLs point instead of the CDN
        self._bad_image_host: hostile.DeadHost | None = None
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.add_user(account)

    @property
    def faults(self) -> Faults:
        return self._faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        """New faults from now on (a test may change them between two exports): a ban starts afresh."""
        with self._lock:
            self._faults = faults
            self._plan = FaultPlan(faults)
            self._ban_started: float | None = None
        tokens: TokenStore | None = getattr(self, "_tokens", None)
        if tokens is not None:  # the accounts service follows too
            tokens.rotate, tokens.lifetime_s = faults.rotate_refresh_tokens, faults.token_lifetime_s

    # -- users -------------------------------------------------------------------------------

    def add_user(self, account: Account) -> SimulatedUser:
        """Another person allowed to use the app, with a refresh token of their own (all scopes)."""
        index = len(self.users)
        user = SimulatedUser(
            index, account, self._data, lambda: self.clock(), Renderer(account, self.api_url, self._cover_url)
        )
        if index:
            self._tokens.mint_refresh_token(DEFAULT_SCOPES, user=index)
        user.current_refresh_token = lambda: self._tokens.current_refresh[index]
        self.users.append(user)
        return user

    def _user(self) -> SimulatedUser:
        """The user of the request being served on this thread; the first user outside a request."""
        user: SimulatedUser | None = getattr(self._serving, "user", None)
        return user or self.users[0]

    @property
    def account(self) -> Account:
        return self._user().account

    @property
    def edit(self) -> Editor:
        return self._user().edit

    @property
    def _render(self) -> Renderer:
        return self._user().render

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> SpotifySimulator:
        if self._server is not None:
            return self
        # cheroot: keep-alive and a thread pool, as a production server (and api.spotify.com) has,
        # so a client pays no TCP handshake and no thread start per request
        server = ArrivalServer((self.host, self.port), self._wsgi, numthreads=8, server_name="spotify-simulator")
        # cheroot polls its connections this often; stop() waits for the poll in progress (0.5 s by default)
        server.expiration_interval = 0.05
        server.prepare()
        self.port = server.bind_addr[1]  # a restart binds the same port again: URLs stay valid
        for user in self.users:
            user.render = Renderer(user.account, self.api_url, self._cover_url)
        if self.faults.image_host in ("down", "black hole") and self._bad_image_host is None:
            self._bad_image_host = hostile.DeadHost() if self.faults.image_host == "down" else hostile.BlackHole()
        self._server = server
        self._thread = threading.Thread(target=server.serve, name=f"spotify-simulator:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if self._bad_image_host is not None:
            self._bad_image_host.close()
            self._bad_image_host = None
        if server is not None:
            server.stop()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> SpotifySimulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- what tests read ---------------------------------------------------------------------

    @property
    def accounts_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.accounts_url}/v1"

    def exporter_env(self, base: Mapping[str, str] | None = None, user: int = 0) -> dict[str, str]:
        """``base`` (default: this process's environment) without its own ``SPOTIFY_*`` settings,
        plus those that point the exporter at this simulator with valid credentials (``user``'s token)."""
        source = os.environ if base is None else base
        env = {key: value for key, value in source.items() if not key.startswith("SPOTIFY_")}
        env.update(
            SPOTIFY_API_URL=self.api_url,
            SPOTIFY_ACCOUNTS_URL=self.accounts_url,
            SPOTIFY_CLIENT_ID=self.client_id,
            SPOTIFY_CLIENT_SECRET=self.client_secret,
            SPOTIFY_REFRESH_TOKEN=self.users[user].refresh_token,
        )
        return env

    def expected_rows(self, dataset: str) -> list[dict[str, str]]:
        """The rows a snapshot of the first user taken now must hold (writes included)."""
        return self.users[0].expected_rows(dataset)

    def minimal_requests(self) -> int:
        """The fewest API requests that read the first user's account now, at 50 per page."""
        return self.users[0].minimal_requests()

    def cover_of(self, playlist_id: str) -> bytes | None:
        """The custom cover of a playlist (JPEG bytes), None when it has Spotify's generated image."""
        with self._data:
            playlist = self.account.playlist(playlist_id)
            if playlist is None:
                raise KeyError(playlist_id)
            return playlist.cover

    def change(self, fn: Callable[[Account], T]) -> T:
        """Run ``fn(account)`` as one change of the first user's account (see :meth:`SimulatedUser.change`)."""
        return self.users[0].change(fn)

    # -- HTTP --------------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        started: float = environ.get(ARRIVED_AT) or time.monotonic()
        request = Request(environ)
        adapter = URLS.bind_to_environ(environ)
        template: str = request.path
        args: Mapping[str, Any] = {}
        routing_error: HTTPException | None = None
        try:
            endpoint, args = adapter.match()
            template = str(endpoint)
            args = route_args(args)
        except (NotFound, MethodNotAllowed) as exc:
            routing_error = exc
        api = False
        if template == AUTHORIZE_PATH:
            return self._authorize(request)(environ, start_response)
        if template == IMAGE_PATH or request.path.startswith("/image/"):
            return self._image(request, str(args.get("name", "")), routing_error)(environ, start_response)
        if template == TOKEN_PATH or (routing_error is not None and request.path == TOKEN_PATH):
            reply = self._token(request, routing_error)
        elif request.path.startswith("/v1/") or request.path == "/v1":
            api = True
            reply = self._api(request, template, args, routing_error)
        else:
            reply = error(404, "Service not found")
        if self.faults.echo_errors and reply.status >= 400:
            echo_request(request, reply)
        # status, headers and body are ready before the wait: the latency is the response time,
        # from the request's arrival; building the answer is part of it, not added to it
        body: Iterable[bytes] = self._encode(request.method, template, reply)(environ, start_response)
        if api and self.faults.latency_s:
            time.sleep(max(0.0, started + self.faults.latency_s - time.monotonic()))
        if reply.cut:
            return hostile.cut(body)
        if api and template in self.faults.drip:
            return hostile.drip(body, self.faults.drip_interval_s, lambda: self._server is not None)
        return body

    def _encode(self, method: str, template: str, reply: Reply) -> Response:
        data = b"" if reply.body is None else orjson.dumps(reply.body)
        if reply.raw is not None:
            data = reply.raw
        recorded: Any = reply.body
        if reply.malformed:
            # cut mid-document (on a character boundary): valid UTF-8, not JSON any more
            recorded = data[: max(1, len(data) // 2)].decode("utf-8", "ignore")
            data = recorded.encode("utf-8")
        with self._lock:
            self.counters[(template, reply.status)] += 1
            if method in WRITE_METHODS and template.startswith("/v1/"):
                self.write_counters[(method, template, reply.status)] += 1
            if self.record:
                self.responses.append((method, template, reply.status, recorded))
        response = Response(
            data,
            status=reply.status,
            headers=reply.headers,
            content_type="application/json; charset=utf-8",
        )
        if reply.body is None:
            del response.headers["Content-Type"]
        return response

    def _cover_url(self, jpeg: bytes) -> str:
        """A CDN URL for a custom cover, valid for a day from now (the listing that carries it)."""
        key = image_key(jpeg)
        self._cdn[key] = jpeg
        origin = self.accounts_url
        if self._bad_image_host is not None:
            origin = f"http://127.0.0.1:{self._bad_image_host.port}"
        return f"{origin}/image/{key}?expires={int(self.clock()) + URL_LIFETIME_S}"

    def _image(self, request: Request, key: str, routing_error: HTTPException | None) -> Response:
        """The image CDN: no auth; 404 for an unknown image, 403 once the URL's ``expires`` is past."""
        with self._lock:
            self.image_requests += 1
        if isinstance(routing_error, MethodNotAllowed):
            return Response("Method not allowed", status=405, content_type="text/plain")
        data = self._cdn.get(key)
        if routing_error is not None or data is None:
            return Response("Not found", status=404, content_type="text/plain")
        try:
            expires = int(request.args.get("expires", ""))
        except ValueError:
            return Response("Forbidden", status=403, content_type="text/plain")
        if self.clock() >= expires:
            return Response("URL expired", status=403, content_type="text/plain")
        if self.faults.image_host == "redirect":  # another host name for this server: a follow shows
            elsewhere = f"http://localhost:{self.port}{request.full_path}"
            return Response("Moved", status=302, headers={"Location": elsewhere}, content_type="text/plain")
        if self.faults.image_host == "not an image":
            return Response("<html><body>Sign in</body></html>", status=200, content_type="text/html")
        return Response(data, status=200, content_type="image/jpeg", headers={"Cache-Control": "max-age=86400"})

    def _api(
        self, request: Request, template: str, args: Mapping[str, Any], routing_error: HTTPException | None
    ) -> Reply:
        write = request.method in WRITE_METHODS and routing_error is None
        with self._lock:
            self.requests_total += 1
            self.write_requests += write
            number = self.requests_total
            self.api_request_times.append(time.monotonic())
        f = self.faults
        if f.ban_after_requests is not None and number > f.ban_after_requests:
            banned_for = self._ban_left()
            if banned_for is not None:
                retry = {"Retry-After": str(banned_for)}
                return Reply(429, error(429, reason="QUOTA_EXCEEDED").body, retry)
        problem = self._tokens.access_problem(request.headers.get("Authorization"))
        if problem is not None:
            return error(401, problem)
        user = self.users[self._tokens.user_of(request.headers.get("Authorization"))]
        with self._lock:
            user.requests += 1
            user.request_times.append(time.monotonic())
        self._serving.user = user
        try:
            return self._api_for_user(request, template, args, routing_error, write)
        finally:
            self._serving.user = None

    def _ban_left(self) -> int | None:
        """The ``Retry-After`` of the ban in force (whole seconds), or None once a timed ban is over.

        The app is banned, not a user: every user's requests get the same answer."""
        f = self.faults
        if f.ban_duration_s is None:
            return f.ban_retry_after_s
        now = time.monotonic()
        with self._lock:
            if self._ban_started is None:
                self._ban_started = now
            left = self._ban_started + f.ban_duration_s - now
        return math.ceil(left) if left > 0 else None

    def _api_for_user(
        self,
        request: Request,
        template: str,
        args: Mapping[str, Any],
        routing_error: HTTPException | None,
        write: bool,
    ) -> Reply:
        f = self.faults
        if isinstance(routing_error, MethodNotAllowed):
            return error(405)
        if routing_error is not None:
            return error(404, "Service not found")
        retry_after = f.retry_after_header if f.retry_after_header is not None else str(f.retry_after_s)
        status = f.unavailable.get(f"{request.method} {template}", f.unavailable.get(template))
        if status is not None:
            reply = error(status)
            if status == 429:
                reply.headers["Retry-After"] = retry_after
            return reply
        fault = self._plan.next_api_fault()
        if fault is not None and fault.kind == "drop":
            raise hostile.dropped()
        if fault is not None and fault.kind == "server_error":
            return error(fault.status)
        if fault is not None and fault.kind == "rate_limit":
            return Reply(429, error(429).body, {"Retry-After": retry_after})
        applied = 0
        with self._data:
            if write and self.fail_writes_after is not None and self.writes_applied >= self.fail_writes_after:
                return error(503)
            reply = self._serve(request, template, args)
            if write and reply.status < 300:
                self.writes_applied += 1
                applied = self.writes_applied
        if applied and self.on_write_applied is not None:
            self.on_write_applied(applied)  # applied, not yet answered (a test may kill the client here)
        if not write and reply.status == 200:
            self._spoil_page(request, template, reply)
            reply.cut = fault is not None and fault.kind == "cut"
            if template in f.huge_body:
                reply.raw = hostile.huge_page(f.huge_body_bytes, f.gzip_bomb)
                if f.gzip_bomb:
                    reply.headers["Content-Encoding"] = "gzip"
        if fault is not None and fault.kind == "malformed" and reply.status == 200 and not write:
            reply.malformed = True
        return reply

    # -- hostile pages (issue 12) -----------------------------------------------------------

    def _spoil_page(self, request: Request, template: str, reply: Reply) -> None:
        """``Faults.null_elements`` and ``repeat_next``: a page as Spotify has (wrongly) served it."""
        f = self.faults
        if template not in f.null_elements and template not in f.repeat_next:
            return
        page = reply.body.get("artists", reply.body) if isinstance(reply.body, dict) else None
        if not isinstance(page, dict) or not isinstance(page.get("items"), list):
            return
        if template in f.null_elements and page["items"]:
            page["items"] = [None, *page["items"][1:]]
        not_first = int(request.args.get("offset", "0") or 0) > 0 or "after" in request.args
        if template in f.repeat_next and not_first:
            page["next"] = self._url(request)  # also on the last page: a ``next`` that should be null
