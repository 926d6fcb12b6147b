"""The HTTP layer the simulator serves through: cheroot, noting when each request arrived; the URL
map of Spotify's Web API and Accounts service (each route keyed by its path template); and a reply
before it is encoded, with the error bodies of both services."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from cheroot.wsgi import Gateway_10
from cheroot.wsgi import Server as WSGIServer
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request

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


def _rule(path: str, *methods: str) -> Rule:
    """A route; its endpoint is the path template the counters are keyed by (``<id>`` -> ``{id}``)."""
    return Rule(path, endpoint=path.replace("<", "{").replace(">", "}"), methods=list(methods))


def route_args(args: Mapping[str, Any]) -> dict[str, Any]:
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


#: environ key: when the request reached the server (``time.monotonic()``), see ``ArrivalServer``
ARRIVED_AT = "spotify_simulator.arrived_at"


class ArrivalServer(WSGIServer):
    """cheroot, noting when each request arrived, so that the latency counts from there: the
    stand-in's own HTTP parsing and thread hand-offs are part of its response time, as Spotify's are
    part of its own, instead of being added on top of the simulated latency."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gateway = ArrivalGateway

    def process_conn(self, conn: Any) -> None:
        # called once a connection has bytes to read (or was just accepted): the request is here
        conn.readable_at = time.monotonic()
        super().process_conn(conn)


class ArrivalGateway(Gateway_10):
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


def echo_request(request: Request, reply: Reply) -> None:
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
