"""The simulator: Spotify's Web API and Accounts service over real HTTP on 127.0.0.1.

One werkzeug server per simulator, in a daemon thread, one thread per connection. The WSGI app
checks, in this order: a ban (429), the bearer token (401), the route (404/405), endpoints
refused to the app (``Faults.unavailable``), random faults, and only then serves data. Data
never changes while the server runs, so a retried request always gets the same page.

``requests_total`` counts every request under /v1 whatever its status; ``token_requests``
counts /api/token; ``counters`` holds both, keyed by (path template, status).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import orjson
from cheroot.wsgi import Server as WSGIServer
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from . import truth
from .faults import FaultPlan, Faults
from .model import Account
from .render import JSON, Renderer
from .tokens import TokenStore

T = TypeVar("T")
PAGE = 50  # the largest page Spotify serves; what a perfect exporter asks for
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

# endpoint names are the path templates the counters are keyed by
URLS = Map(
    [
        Rule("/v1/me", endpoint="/v1/me", methods=["GET"]),
        Rule("/v1/me/tracks", endpoint="/v1/me/tracks", methods=["GET"]),
        Rule("/v1/me/playlists", endpoint="/v1/me/playlists", methods=["GET"]),
        Rule("/v1/playlists/<id>/items", endpoint="/v1/playlists/{id}/items", methods=["GET"]),
        Rule("/v1/playlists/<id>/tracks", endpoint="/v1/playlists/{id}/tracks", methods=["GET"]),
        Rule("/v1/me/albums", endpoint="/v1/me/albums", methods=["GET"]),
        Rule("/v1/me/following", endpoint="/v1/me/following", methods=["GET"]),
        Rule("/v1/me/shows", endpoint="/v1/me/shows", methods=["GET"]),
        Rule("/v1/me/episodes", endpoint="/v1/me/episodes", methods=["GET"]),
        Rule("/v1/me/audiobooks", endpoint="/v1/me/audiobooks", methods=["GET"]),
        Rule(TOKEN_PATH, endpoint=TOKEN_PATH, methods=["POST"]),
        Rule(AUTHORIZE_PATH, endpoint=AUTHORIZE_PATH, methods=["GET"]),
    ],
    strict_slashes=False,
    merge_slashes=False,
)


class Reply:
    """A response before it is encoded: status, JSON body, extra headers."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None, malformed: bool = False) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.malformed = malformed


def error(status: int, message: str | None = None, **extra: Any) -> Reply:
    """Spotify's Web API error body."""
    return Reply(
        status, {"error": {"status": status, "message": message or ERROR_MESSAGES.get(status, "Error"), **extra}}
    )


def oauth_error(status: int, code: str, description: str) -> Reply:
    """The Accounts service's (OAuth 2) error body."""
    return Reply(status, {"error": code, "error_description": description})


class SpotifySimulator:
    """A faithful stand-in for Spotify's Web API and Accounts service; see the package docstring."""

    def __init__(
        self,
        account: Account,
        faults: Faults | None = None,
        record: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.account = account
        self.faults = faults or Faults()
        self.record = record
        #: what the simulated user answers on the consent page: "allow" or "deny"
        self.consent = "allow"
        self.granted_scopes: list[str] = []
        self.host = host
        self.port = port
        self._tokens = TokenStore(self.faults.token_lifetime_s, self.faults.rotate_refresh_tokens)
        self._plan = FaultPlan(self.faults)
        self._lock = threading.Lock()
        self.requests_total = 0
        self.token_requests = 0
        self.counters: Counter[tuple[str, int]] = Counter()
        self.responses: list[tuple[str, str, int, Any]] = []
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._render = Renderer(account, self.api_url)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> SpotifySimulator:
        if self._server is not None:
            return self
        # cheroot: keep-alive and a thread pool, as a production server (and api.spotify.com) has,
        # so a client pays no TCP handshake and no thread start per request
        server = WSGIServer((self.host, self.port), self._wsgi, numthreads=8, server_name="spotify-simulator")
        server.prepare()
        self.port = server.bind_addr[1]  # a restart binds the same port again: URLs stay valid
        self._render = Renderer(self.account, self.api_url)
        self._server = server
        self._thread = threading.Thread(target=server.serve, name=f"spotify-simulator:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
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

    def exporter_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) without its own ``SPOTIFY_*`` settings,
        plus those that point the exporter at this simulator with valid credentials."""
        source = os.environ if base is None else base
        env = {key: value for key, value in source.items() if not key.startswith("SPOTIFY_")}
        env.update(
            SPOTIFY_API_URL=self.api_url,
            SPOTIFY_ACCOUNTS_URL=self.accounts_url,
            SPOTIFY_CLIENT_ID=self.client_id,
            SPOTIFY_CLIENT_SECRET=self.client_secret,
            SPOTIFY_REFRESH_TOKEN=self.refresh_token,
        )
        return env

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token answers ``invalid_grant`` from now on (as after 6 months, or a revoked app)."""
        self._tokens.revoke_refresh_tokens()

    def expected_rows(self, dataset: str) -> list[dict[str, str]]:
        return truth.expected_rows(self.account, dataset)

    def minimal_requests(self) -> int:
        """The fewest API requests that read everything, at 50 per page (an empty list still takes one)."""
        a = self.account

        def pages(n: int) -> int:
            return max(1, math.ceil(n / PAGE))

        total = 1 + sum(
            pages(len(things))
            for things in (a.liked, a.playlists, a.albums, a.artists, a.shows, a.episodes, a.audiobooks)
        )
        return total + sum(pages(len(p.entries)) if p.readable else 1 for p in a.playlists)

    # -- HTTP --------------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        started = time.monotonic()
        request = Request(environ)
        adapter = URLS.bind_to_environ(environ)
        template: str = request.path
        args: Mapping[str, Any] = {}
        routing_error: HTTPException | None = None
        try:
            endpoint, args = adapter.match()
            template = str(endpoint)
        except (NotFound, MethodNotAllowed) as exc:
            routing_error = exc
        api = False
        if template == AUTHORIZE_PATH:
            return self._authorize(request)(environ, start_response)
        if template == TOKEN_PATH or (routing_error is not None and request.path == TOKEN_PATH):
            reply = self._token(request, routing_error)
        elif request.path.startswith("/v1/") or request.path == "/v1":
            api = True
            reply = self._api(request, template, args, routing_error)
        else:
            reply = error(404, "Service not found")
        response = self._encode(request.method, template, reply)
        if api and self.faults.latency_s:
            # the latency is the response time: building the answer is part of it, not added to it
            time.sleep(max(0.0, started + self.faults.latency_s - time.monotonic()))
        return response(environ, start_response)

    def _encode(self, method: str, template: str, reply: Reply) -> Response:
        data = orjson.dumps(reply.body)
        recorded: Any = reply.body
        if reply.malformed:
            # cut mid-document (on a character boundary): valid UTF-8, not JSON any more
            recorded = data[: max(1, len(data) // 2)].decode("utf-8", "ignore")
            data = recorded.encode("utf-8")
        with self._lock:
            self.counters[(template, reply.status)] += 1
            if self.record:
                self.responses.append((method, template, reply.status, recorded))
        return Response(
            data,
            status=reply.status,
            headers=reply.headers,
            content_type="application/json; charset=utf-8",
        )

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
            answer["code"] = self._tokens.new_code(redirect_uri, query.get("code_challenge", ""), scope)
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
        with self._lock:
            self.requests_total += 1
            number = self.requests_total
        f = self.faults
        if f.ban_after_requests is not None and number > f.ban_after_requests:
            retry = {"Retry-After": str(f.ban_retry_after_s)}
            return Reply(429, error(429, reason="QUOTA_EXCEEDED").body, retry)
        problem = self._tokens.access_problem(request.headers.get("Authorization"))
        if problem is not None:
            return error(401, problem)
        if isinstance(routing_error, MethodNotAllowed):
            return error(405)
        if routing_error is not None:
            return error(404, "Service not found")
        if template in f.unavailable:
            status = f.unavailable[template]
            reply = error(status)
            if status == 429:
                reply.headers["Retry-After"] = str(f.retry_after_s)
            return reply
        fault = self._plan.next_api_fault()
        if fault is not None and fault.kind == "server_error":
            return error(fault.status)
        if fault is not None and fault.kind == "rate_limit":
            return Reply(429, error(429).body, {"Retry-After": str(f.retry_after_s)})
        reply = self._serve(request, template, args)
        if fault is not None and fault.kind == "malformed" and reply.status == 200:
            reply.malformed = True
        return reply

    # -- data --------------------------------------------------------------------------------

    def _serve(self, request: Request, template: str, args: Mapping[str, Any]) -> Reply:
        a, r = self.account, self._render
        if template == "/v1/me":
            return Reply(200, r.private_user())
        if template == "/v1/me/following":
            return self._following(request)
        if template == "/v1/playlists/{id}/tracks":
            return error(403, "Forbidden: use /playlists/{id}/items")
        if template == "/v1/playlists/{id}/items":
            playlist = a.playlist(str(args["id"]))
            if playlist is None:
                return error(404, "Resource not found")
            if not playlist.readable:
                return error(403, "Forbidden")
            types = {t.strip() for t in request.args.get("additional_types", "").split(",")}
            episodes = "episode" in types
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
