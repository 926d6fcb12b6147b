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
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import orjson
from cheroot.wsgi import Gateway_10
from cheroot.wsgi import Server as WSGIServer
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from . import hostile
from .covers import MAX_UPLOAD, URL_LIFETIME_S, image_key, is_jpeg
from .faults import FaultPlan, Faults
from .model import PAGE, Account, Playlist
from .render import JSON, Renderer
from .rules import (
    EMPTY_DESCRIPTION,
    LIBRARY_SCOPES,
    LIBRARY_URI_TYPES,
    MAX_FOLLOW_IDS,
    SPEC_LIBRARY_WRITES,
    UNSET_DESCRIPTION,
    removed,
)
from .tokens import DEFAULT_SCOPES, TokenStore
from .users import SimulatedUser
from .writes import LIBRARY_KINDS, Editor, WriteError

T = TypeVar("T")
TOKEN_PATH = "/api/token"
AUTHORIZE_PATH = "/authorize"
ERROR_MESSAGES = {
    400: "Bad request",
    401: "Invalid access token",
    403: "Forbidden",
    404: "Resource not found",
    405: "Method not allowed",
    429: "API rate limit exceeded",
    500: "Server error",
    502: "Bad gateway",
    503: "Service unavailable",
}

IMAGE_PATH = "/image/{name}"
WRITE_METHODS = frozenset({"POST", "PUT", "DELETE"})
#: library endpoints whose writes development mode replaced by PUT/DELETE /me/library (Feb 2026)
OLD_LIBRARY = ("/v1/me/tracks", "/v1/me/albums", "/v1/me/shows", "/v1/me/episodes", "/v1/me/audiobooks")
MAX_ITEMS = 100  # URIs per playlist write
MAX_LIBRARY = 40  # URIs per library write
MODIFY_PUBLIC, MODIFY_PRIVATE = "playlist-modify-public", "playlist-modify-private"


def _rule(path: str, *methods: str) -> Rule:
    """A route; its endpoint is the path template the counters are keyed by (``<id>`` -> ``{id}``)."""
    return Rule(path, endpoint=path.replace("<", "{").replace(">", "}"), methods=list(methods))


def _route_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """cheroot leaves ``%2F`` quoted in the path (so that it cannot split a segment): an id holding
    ``/`` (hostile-id tests) arrives as one segment and is unquoted here."""
    return {key: re.sub("(?i)%2F", "/", value) if isinstance(value, str) else value for key, value in args.items()}


URLS = Map(
    [
        _rule("/v1/me", "GET"),
        *(_rule(path, "GET", "PUT", "DELETE") for path in OLD_LIBRARY),
        # -- routes development mode lost (rules.REMOVED): matched only to answer 403 --
        *(_rule(f"{path}/contains", "GET") for path in OLD_LIBRARY),
        _rule("/v1/me/following/contains", "GET"),
        _rule("/v1/playlists/<id>/followers", "PUT", "DELETE"),
        _rule("/v1/playlists/<id>/followers/contains", "GET"),
        # --
        _rule("/v1/me/playlists", "GET", "POST"),
        _rule("/v1/playlists/<id>", "GET", "PUT"),
        _rule("/v1/playlists/<id>/items", "GET", "POST", "PUT", "DELETE"),
        _rule("/v1/playlists/<id>/tracks", "GET", "POST", "PUT", "DELETE"),
        _rule("/v1/playlists/<id>/images", "GET", "PUT"),
        _rule("/v1/me/following", "GET", "PUT", "DELETE"),
        _rule("/v1/me/library", "PUT", "DELETE"),
        _rule("/v1/me/library/contains", "GET"),
        _rule(TOKEN_PATH, "POST"),
        _rule(AUTHORIZE_PATH, "GET"),
        _rule("/image/<name>", "GET"),
    ],
    strict_slashes=False,
    merge_slashes=False,
)


#: environ key: when the request reached the server (``time.monotonic()``), see ``_ArrivalServer``
ARRIVED_AT = "spotify_simulator.arrived_at"


class _ArrivalServer(WSGIServer):
    """cheroot, noting when each request arrived, so that the latency counts from there: the
    stand-in's own HTTP parsing and thread hand-offs are part of its response time, as Spotify's are
    part of its own, instead of being added on top of the simulated latency."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gateway = _ArrivalGateway

    def process_conn(self, conn: Any) -> None:
        # called once a connection has bytes to read (or was just accepted): the request is here
        conn.readable_at = time.monotonic()
        super().process_conn(conn)


class _ArrivalGateway(Gateway_10):
    def respond(self) -> None:
        conn = self.req.conn
        # a new connection is handed over on accept, maybe before its first request was sent:
        # that request counts from now, once it has been read
        self.env[ARRIVED_AT] = conn.readable_at if getattr(conn, "kept_alive", False) else time.monotonic()
        conn.kept_alive = True
        super().respond()


class Reply:
    """A response before it is encoded: status, JSON body (None: no body), extra headers."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None, malformed: bool = False) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.malformed = malformed
        #: hostile transports (``hostile.py``): bytes sent as they are instead of ``body``, and a
        #: body that stops half way
        self.raw: bytes | None = None
        self.cut = False


def error(status: int, message: str | None = None, **extra: Any) -> Reply:
    """Spotify's Web API error body."""
    return Reply(
        status, {"error": {"status": status, "message": message or ERROR_MESSAGES.get(status, "Error"), **extra}}
    )


def oauth_error(status: int, code: str, description: str) -> Reply:
    """The Accounts service's (OAuth 2) error body."""
    return Reply(status, {"error": code, "error_description": description})


def _echo_request(request: Request, reply: Reply) -> None:
    """``Faults.echo_errors``: the error quotes the request back, credentials included."""
    form = urlencode(list(request.form.items(multi=True)))  # a parsed form is no longer in get_data()
    quoted = (
        f"{request.method} {request.full_path} Authorization: {request.headers.get('Authorization', '')} "
        f"body: {form or request.get_data(cache=True, as_text=True)[:2000]}"
    )
    if isinstance(reply.body, dict) and isinstance(reply.body.get("error"), dict):
        reply.body["error"]["message"] = f"{reply.body['error'].get('message')} (request was: {quoted})"
    elif isinstance(reply.body, dict):
        reply.body["error_description"] = f"{reply.body.get('error_description')} (request was: {quoted})"


def modify_scope(public: bool | None) -> str:
    """The scope that changing a playlist of this visibility takes (``public`` null counts as private)."""
    return MODIFY_PUBLIC if public else MODIFY_PRIVATE


def _typed(body: Mapping[str, Any], key: str, kind: type[T], default: T) -> T:
    """``body[key]`` when it is a ``kind`` (null or absent: ``default``), else 400."""
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise WriteError(400, f"Invalid value for {key}")
    return value


def _strings(value: Any, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise WriteError(400, f"Invalid value for {key}: a JSON array of strings is expected")
    return value


def _split(text: str) -> list[str]:
    """A comma-separated query parameter (Spotify's examples put spaces after the commas)."""
    return [part.strip() for part in text.split(",")]


class SpotifySimulator:
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
    ) -> None:
        if library_uri_types not in LIBRARY_URI_TYPES:
            raise ValueError(f"library_uri_types must be one of {LIBRARY_URI_TYPES}")
        self.library_uri_types = library_uri_types
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
        server = _ArrivalServer((self.host, self.port), self._wsgi, numthreads=8, server_name="spotify-simulator")
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

    @property
    def client_id(self) -> str:
        return self._tokens.client_id

    @property
    def client_secret(self) -> str:
        return self._tokens.client_secret

    @property
    def refresh_token(self) -> str:
        """The refresh token that works now (the newest one when tokens rotate)."""
        return self._tokens.refresh_token

    @property
    def issued_access_tokens(self) -> list[str]:
        return list(self._tokens.issued_access_tokens)

    @property
    def authorize_url(self) -> str:
        return f"{self.accounts_url}/authorize"

    def register_redirect_uri(self, uri: str) -> None:
        """Add a redirect URI to the app, as in Spotify's developer dashboard."""
        self._tokens.redirect_uris.add(uri)

    def issue_refresh_token(self, scope: str) -> str:
        """Another valid refresh token, granting only ``scope`` (space-separated), as if the user
        had authorized the app for it; ``refresh_token`` (and ``exporter_env``) stay as they are."""
        return self._tokens.mint_refresh_token(scope)

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

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token answers ``invalid_grant`` from now on (as after 6 months, or a revoked app)."""
        self._tokens.revoke_refresh_tokens()

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
            args = _route_args(args)
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
            _echo_request(request, reply)
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

    def _authorize(self, request: Request) -> Response:
        """The consent page, answered at once as the user would: ``consent`` says allow or deny.

        Like Spotify, a bad client id or an unregistered redirect URI gets an error page, never
        a redirect; otherwise the browser is sent back with ``code`` (or ``error``) and ``state``.
        """
        query = request.args
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self._tokens.client_id:
            return Response("INVALID_CLIENT: Invalid client", status=400, content_type="text/plain")
        if redirect_uri not in self._tokens.redirect_uris:
            return Response("INVALID_CLIENT: Invalid redirect URI", status=400, content_type="text/plain")
        if query.get("response_type") != "code":
            return Response("unsupported_response_type", status=400, content_type="text/plain")
        if query.get("code_challenge") and query.get("code_challenge_method") != "S256":
            return Response("code_challenge_method must be S256", status=400, content_type="text/plain")
        answer: dict[str, str] = {}
        if self.consent == "allow":
            scope = query.get("scope", "")
            challenge = query.get("code_challenge", "")
            answer["code"] = self._tokens.new_code(redirect_uri, challenge, scope, self.consenting_user)
            self.granted_scopes = scope.split()
        else:
            answer["error"] = "access_denied"
        if "state" in query:
            answer["state"] = query["state"]
        return redirect(f"{redirect_uri}?{urlencode(answer)}", code=302)

    def _token(self, request: Request, routing_error: HTTPException | None) -> Reply:
        with self._lock:
            self.token_requests += 1
        if routing_error is not None:
            return oauth_error(405, "invalid_request", "Only POST is supported")
        if self.faults.token_redirect:
            return Reply(307, None, {"Location": self.faults.token_redirect})
        if self._plan.token_fails():
            return oauth_error(503, "server_error", "The server is temporarily unavailable")
        form = {key: request.form[key] for key in request.form}
        if not self._tokens.client_ok(request.headers.get("Authorization"), form):
            return oauth_error(401, "invalid_client", "Invalid client")
        grant = form.get("grant_type")
        if grant == "authorization_code":
            if not form.get("code") or not form.get("redirect_uri"):
                return oauth_error(400, "invalid_request", "code and redirect_uri must be supplied")
            exchanged = self._tokens.exchange(form["code"], form["redirect_uri"], form.get("code_verifier", ""))
            if isinstance(exchanged, str):
                return oauth_error(400, "invalid_grant", exchanged)
            return Reply(200, exchanged)
        if grant != "refresh_token":
            return oauth_error(400, "unsupported_grant_type", "grant_type must be refresh_token or authorization_code")
        if not form.get("refresh_token"):
            return oauth_error(400, "invalid_request", "refresh_token must be supplied")
        body = self._tokens.refresh(form["refresh_token"])
        if body is None:
            return oauth_error(400, "invalid_grant", "Invalid refresh token")
        return Reply(200, body)

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

    # -- data --------------------------------------------------------------------------------

    def _serve(self, request: Request, template: str, args: Mapping[str, Any]) -> Reply:
        method = "GET" if request.method == "HEAD" else request.method
        try:
            refusal = None if self._spec_follow_route(method, template) else removed(method, template)
            if refusal is not None:
                return error(403, refusal)
            if method == "GET":
                return self._read(request, template, args)
            return self._write(request, template, str(args.get("id", "")))
        except WriteError as exc:
            return error(exc.status, exc.message)

    def _read(self, request: Request, template: str, args: Mapping[str, Any]) -> Reply:
        a, r = self.account, self._render
        if template == "/v1/me":
            return Reply(200, r.private_user())
        if template == "/v1/me/following":
            return self._following(request)
        if template == "/v1/me/library/contains":
            return Reply(200, self.edit.contains(self._library_uris(request)))
        episodes = "episode" in {t.strip() for t in request.args.get("additional_types", "").split(",")}
        if template.startswith("/v1/playlists/{id}"):
            playlist = self.edit.playlist(str(args["id"]))
            if template == "/v1/playlists/{id}":
                return Reply(200, r.playlist_full(playlist, episodes))
            if template == "/v1/playlists/{id}/images":
                return Reply(200, r.playlist_images(playlist))
            if not playlist.readable:
                return error(403, "Forbidden")
            return self._offset_page(request, playlist.entries, lambda e: r.playlist_item(e, episodes))
        saved: dict[str, tuple[Sequence[Any], Callable[[Any], JSON]]] = {
            "/v1/me/tracks": (a.liked, r.saved_track),
            "/v1/me/playlists": (a.playlists, r.playlist_simple),
            "/v1/me/albums": (a.albums, r.saved_album),
            "/v1/me/shows": (a.shows, r.saved_show),
            "/v1/me/episodes": (a.episodes, r.saved_episode),
            "/v1/me/audiobooks": (a.audiobooks, r.saved_audiobook),
        }
        things, render = saved[template]
        return self._offset_page(request, things, render)

    # -- writes ------------------------------------------------------------------------------

    def _write(self, request: Request, template: str, playlist_id: str) -> Reply:
        method = request.method
        if template == "/v1/me/playlists":
            return self._create_playlist(request)
        if template == "/v1/playlists/{id}":
            return self._change_details(request, playlist_id)
        if template == "/v1/playlists/{id}/items":
            if method == "POST":
                return self._add_items(request, playlist_id)
            if method == "PUT":
                return self._update_items(request, playlist_id)
            return self._remove_items(request, playlist_id)
        if template == "/v1/playlists/{id}/images":
            return self._upload_cover(request, playlist_id)
        if template == "/v1/me/following":
            return self._follow_by_id(request)
        return self._library(request)

    def _need(self, request: Request, scopes: Iterable[str]) -> None:
        """403 unless the bearer token was granted every one of ``scopes``."""
        if not set(scopes) <= self._tokens.scopes(request.headers.get("Authorization")):
            raise WriteError(403, "Insufficient client scope")

    def _body(self, request: Request) -> dict[str, Any]:
        """The JSON object in the body ({} for none); 400 for anything else."""
        data = request.get_data(cache=True)
        if not data.strip():
            return {}
        try:
            body = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise WriteError(400, "Error parsing JSON.") from None
        if not isinstance(body, dict):
            raise WriteError(400, "Error parsing JSON: an object is expected.")
        return body

    def _changeable(self, request: Request, playlist_id: str, *scopes: str, owner_only: bool = False) -> Playlist:
        """The playlist if this request may change it: 404 unknown, 403 without the scopes or the right."""
        playlist = self.edit.playlist(playlist_id)
        self._need(request, {modify_scope(playlist.public), *scopes})
        allowed = playlist.owner == 0 if owner_only else playlist.readable
        if not allowed:
            raise WriteError(403, "You cannot change a playlist you do not own.")
        return playlist

    def _create_playlist(self, request: Request) -> Reply:
        """``POST /me/playlists``: 201 with the new (full) playlist object, first in the user's list."""
        body = self._body(request)
        if body.get("name") is None:
            raise WriteError(400, "Missing required field: name")
        name = _typed(body, "name", str, "")
        description = _typed(body, "description", str, UNSET_DESCRIPTION)
        public = _typed(body, "public", bool, True)
        collaborative = _typed(body, "collaborative", bool, False)
        self._need(request, {modify_scope(public)} | ({MODIFY_PUBLIC, MODIFY_PRIVATE} if collaborative else set()))
        playlist = self.edit.create_playlist(name, description=description, public=public, collaborative=collaborative)
        return Reply(201, self._render.playlist_full(playlist, episodes=False))

    def _change_details(self, request: Request, playlist_id: str) -> Reply:
        """``PUT /playlists/{id}``: the owner only; 200 without a body."""
        body = self._body(request)
        public = _typed(body, "public", bool, None)
        collaborative = _typed(body, "collaborative", bool, None)
        scopes = {modify_scope(public)} if public is not None else set()
        self._changeable(request, playlist_id, *scopes, *([MODIFY_PRIVATE] if collaborative else []), owner_only=True)
        if body.get("description") == "":
            raise WriteError(400, EMPTY_DESCRIPTION)
        self.edit.change_details(
            playlist_id,
            name=_typed(body, "name", str, None),
            description=_typed(body, "description", str, None),
            public=public,
            collaborative=collaborative,
        )
        return Reply(200, None)

    def _uris(self, request: Request, body: Mapping[str, Any], required: bool) -> list[str] | None:
        """``uris`` from the query (which wins) or the body; at most 100."""
        if "uris" in request.args:
            uris = _split(request.args["uris"]) if request.args["uris"].strip() else []
        elif "uris" in body:
            uris = _strings(body["uris"], "uris")
        elif required:
            raise WriteError(400, "No uris provided")
        else:
            return None
        if required and not uris:
            raise WriteError(400, "No uris provided")
        if len(uris) > MAX_ITEMS:
            raise WriteError(400, f"You can add a maximum of {MAX_ITEMS} tracks per request.")
        return uris

    def _add_items(self, request: Request, playlist_id: str) -> Reply:
        """``POST /playlists/{id}/items``: owner or collaborative playlist; 201 with the snapshot id."""
        self._changeable(request, playlist_id)
        body = self._body(request)
        uris = self._uris(request, body, required=True) or []
        position: int | None
        if "position" in request.args:
            try:
                position = int(request.args["position"])
            except ValueError:
                raise WriteError(400, "Invalid value for position") from None
        else:
            position = _typed(body, "position", int, None)
        return Reply(201, {"snapshot_id": self.edit.add_items(playlist_id, uris, position)})

    def _update_items(self, request: Request, playlist_id: str) -> Reply:
        """``PUT /playlists/{id}/items``: replace (``uris``) or reorder (``range_start``, ``insert_before``)."""
        self._changeable(request, playlist_id)
        body = self._body(request)
        uris = self._uris(request, body, required=False)
        reorder = "range_start" in body or "insert_before" in body
        if uris is not None and reorder:
            raise WriteError(400, "Replace and reorder are mutually exclusive")
        if uris is not None:
            return Reply(200, {"snapshot_id": self.edit.replace_items(playlist_id, uris)})
        if not reorder:
            raise WriteError(400, "Missing parameters: uris, or range_start and insert_before")
        range_start = _typed(body, "range_start", int, None)
        insert_before = _typed(body, "insert_before", int, None)
        if range_start is None or insert_before is None:
            raise WriteError(400, "range_start and insert_before are both required to reorder")
        snapshot = self.edit.reorder_items(
            playlist_id,
            range_start,
            insert_before,
            _typed(body, "range_length", int, 1),
            _typed(body, "snapshot_id", str, None),
        )
        return Reply(200, {"snapshot_id": snapshot})

    def _remove_items(self, request: Request, playlist_id: str) -> Reply:
        """``DELETE /playlists/{id}/items`` with ``{"items": [{"uri": ...}], "snapshot_id"?}`` (the spec's body)."""
        self._changeable(request, playlist_id)
        body = self._body(request)
        items = body.get("items")
        if items is None:
            raise WriteError(400, "Missing required field: items")
        if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("uri"), str) for i in items):
            raise WriteError(400, 'Invalid value for items: [{"uri": "spotify:track:..."}] is expected')
        if len(items) > MAX_ITEMS:
            raise WriteError(400, f"You can remove a maximum of {MAX_ITEMS} tracks per request.")
        uris = [item["uri"] for item in items]
        return Reply(
            200, {"snapshot_id": self.edit.remove_items(playlist_id, uris, _typed(body, "snapshot_id", str, None))}
        )

    def _upload_cover(self, request: Request, playlist_id: str) -> Reply:
        """``PUT /playlists/{id}/images``: base64 JPEG text, ``image/jpeg``, at most 256 KB; 202, no body."""
        self._changeable(request, playlist_id, "ugc-image-upload", owner_only=True)
        if request.mimetype != "image/jpeg":
            raise WriteError(400, "Content-Type must be image/jpeg")
        data = request.get_data(cache=True)
        if len(data) > MAX_UPLOAD:
            raise WriteError(400, "Image too large: the maximum payload is 256 KB")
        try:
            jpeg = base64.b64decode(data.strip(), validate=True)
        except binascii.Error:
            raise WriteError(400, "Image data is not valid base64") from None
        if not is_jpeg(jpeg):
            raise WriteError(400, "Image is not a JPEG")
        self.edit.set_cover(playlist_id, jpeg)
        return Reply(202, None)

    def _library_uris(self, request: Request, key: str = "uris", maximum: int = MAX_LIBRARY) -> list[str]:
        """A required comma-separated query parameter of at most ``maximum`` values."""
        raw = request.args.get(key, "")
        if not raw.strip():
            raise WriteError(400, f"Missing required parameter: {key}")
        values = _split(raw)
        if len(values) > maximum:
            raise WriteError(400, f"Too many {'URIs' if key == 'uris' else key}: the maximum is {maximum}")
        return values

    def _library(self, request: Request) -> Reply:
        """``PUT``/``DELETE /me/library?uris=``: 200 without a body."""
        uris = self._library_uris(request)
        allowed = SPEC_LIBRARY_WRITES if self.library_uri_types == "spec" else LIBRARY_KINDS
        kinds = {uri.kind for uri, _ in self.edit.resolve(uris, allowed)}
        self._need(request, {LIBRARY_SCOPES[kind] for kind in kinds})
        if request.method == "PUT":
            self.edit.save(uris)
        else:
            self.edit.unsave(uris)
        return Reply(200, None)

    # -- PUT/DELETE /me/following of a spec-literal stand-in (library_uri_types="spec") ------

    def _spec_follow_route(self, method: str, template: str) -> bool:
        return self.library_uri_types == "spec" and template == "/v1/me/following" and method in ("PUT", "DELETE")

    def _follow_by_id(self, request: Request) -> Reply:
        """``PUT``/``DELETE /me/following?type=artist|user&ids=``, as the spec has it: both in the
        query and required (a body is ignored), at most 50 ids, user-follow-modify; 204, no body."""
        kind = request.args.get("type")
        if kind not in ("artist", "user"):
            raise WriteError(400, "Missing parameter type" if kind is None else "Valid types are artist and user")
        uris = [f"spotify:{kind}:{i}" for i in self._library_uris(request, "ids", MAX_FOLLOW_IDS)]
        self.edit.resolve(uris, (kind,))  # 400 for a bad or unknown id, before the scope is looked at
        self._need(request, {"user-follow-modify"})
        if request.method == "PUT":
            self.edit.save(uris)
        else:
            self.edit.unsave(uris)
        return Reply(204, None)

    # -- paging ------------------------------------------------------------------------------

    def _limit(self, request: Request) -> int | Reply:
        raw = request.args.get("limit", "20")
        try:
            limit = int(raw)
        except ValueError:
            return error(400, "Invalid limit")
        return limit if 1 <= limit <= PAGE else error(400, "Invalid limit")

    def _url(self, request: Request, **overrides: str | int) -> str:
        """This request's URL on the simulator with some query parameters replaced (in front)."""
        rest = [(k, v) for k, v in request.args.items(multi=True) if k not in overrides]
        query = urlencode([*((k, str(v)) for k, v in overrides.items()), *rest], quote_via=quote, safe=",")
        return f"{self.accounts_url}{request.path}?{query}"

    def _offset_page(self, request: Request, things: Sequence[T], render: Callable[[T], JSON]) -> Reply:
        limit = self._limit(request)
        if isinstance(limit, Reply):
            return limit
        try:
            offset = int(request.args.get("offset", "0"))
        except ValueError:
            return error(400, "Invalid offset")
        if offset < 0:
            return error(400, "Invalid offset")
        total = len(things)
        end = min(offset + limit, total)
        return Reply(
            200,
            {
                "href": self._url(request, offset=offset, limit=limit),
                "items": [render(thing) for thing in things[offset:end]],
                "limit": limit,
                "next": self._url(request, offset=offset + limit, limit=limit) if offset + limit < total else None,
                "offset": offset,
                "previous": self._url(request, offset=max(0, offset - limit), limit=limit) if offset > 0 else None,
                "total": total,
            },
        )

    def _following(self, request: Request) -> Reply:
        """Cursor paging: artists in id order, ``after`` the last id seen; next and after null at the end."""
        kind = request.args.get("type")
        if kind is None:
            return error(400, "Missing parameter type")
        if kind != "artist":
            return error(400, "Only valid type is artist")
        limit = self._limit(request)
        if isinstance(limit, Reply):
            return limit
        catalog = self.account.catalog
        artists = [catalog.artist(i) for i in self.account.artists]
        after = request.args.get("after")
        start = 0 if after is None else next((n for n, x in enumerate(artists) if x.id > after), len(artists))
        page = artists[start : start + limit]
        more = start + limit < len(artists)
        last = page[-1].id if page and more else None
        return Reply(
            200,
            {
                "artists": {
                    "href": self._url(request, type="artist", limit=limit),
                    "items": [self._render.artist_full(x) for x in page],
                    "limit": limit,
                    "next": self._url(request, type="artist", after=last or "", limit=limit) if more else None,
                    "cursors": {"after": last},
                    "total": len(artists),
                }
            },
        )
