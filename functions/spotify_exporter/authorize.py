"""Spotify's Authorization Code flow with PKCE, for the user's own app (``make auth``).

The browser is sent to Spotify's consent page; Spotify redirects back to a one-shot listener
on a loopback literal (Spotify rejects ``localhost``); the code is exchanged for tokens with
the PKCE verifier and the app's client secret. A random ``state`` ties the answer to this
run. Nothing is stored unless every check passes.

The person who consents may be elsewhere (another member of a household): their browser is
then sent to a loopback address on *their* device, which does not answer, and the address it
shows can be pasted back instead (``pasted``); it passes the same checks.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from typing import Any, TextIO
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from .auth import redirect_refused
from .errors import ClientRejectedError, ConfigError, ExporterError
from .redaction import redact, remember, remember_basic_credential

DEFAULT_REDIRECT_URI = "http://127.0.0.1:8888/callback"
EXPORT_SCOPES = (
    "user-read-private",  # /me
    "user-library-read",  # liked songs, saved albums, shows, episodes, audiobooks
    "playlist-read-private",
    "playlist-read-collaborative",
    "user-follow-read",  # followed artists
    "user-read-playback-position",  # saved episodes
)
RESTORE_SCOPES = (
    "playlist-modify-public",
    "playlist-modify-private",
    "user-library-modify",
    "user-follow-modify",
    "ugc-image-upload",  # playlist cover art
)


class AuthorizationError(ExporterError):
    """The authorization did not complete; nothing was stored."""


@dataclass(frozen=True)
class AuthorizationRequest:
    """One authorization attempt: the URL for the browser and what the answer must match."""

    url: str
    redirect_uri: str
    state: str = field(repr=False)
    code_verifier: str = field(repr=False)


@dataclass(frozen=True)
class Authorization:
    refresh_token: str = field(repr=False)
    scope: str
    authorized_at: datetime


def scopes(restore: bool = False) -> tuple[str, ...]:
    return EXPORT_SCOPES + (RESTORE_SCOPES if restore else ())


def check_redirect_uri(redirect_uri: str) -> tuple[str, int, str]:
    """Host, port and path of a loopback redirect URI Spotify accepts; a clear error otherwise."""
    parts = urlsplit(redirect_uri)
    host = parts.hostname or ""
    try:
        loopback = parts.scheme == "http" and ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback or not parts.port:
        hint = " (Spotify rejects `localhost`; use 127.0.0.1)" if host == "localhost" else ""
        raise ConfigError(
            f"the redirect URI must be http://127.0.0.1:PORT/PATH or http://[::1]:PORT/PATH, not {redirect_uri!r}{hint}"
        )
    return host, parts.port, parts.path or "/"


def new_request(
    accounts_url: str, client_id: str, redirect_uri: str, scope: tuple[str, ...], *, show_dialog: bool = True
) -> AuthorizationRequest:
    """A fresh state and PKCE pair, and the consent URL that carries them."""
    check_redirect_uri(redirect_uri)
    state = secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(64)
    remember(verifier)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {
        "client_id": client_id,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "state": state,
        "scope": " ".join(scope),
        "code_challenge_method": "S256",
        "code_challenge": challenge,
        "show_dialog": "true" if show_dialog else "false",
    }
    url = f"{accounts_url.rstrip('/')}/authorize?{urlencode(query)}"
    return AuthorizationRequest(url, redirect_uri, state, verifier)


#: how long the redirect listener waits on one connection's request before dropping it
CONNECTION_TIMEOUT_S = 10.0

PAGE = (
    "<!doctype html><meta charset=utf-8><title>spotify-exporter</title>"
    "<body style='font-family:sans-serif;margin:3em'><h1>{title}</h1><p>{text}</p></body>"
)


def redirect_answer(request: AuthorizationRequest, text: str) -> dict[str, list[str]] | None:
    """The query of a pasted redirect address (the redirect URI with ``code`` or ``error``), or None."""
    target = urlsplit(text.strip())
    expected = urlsplit(request.redirect_uri)
    if (target.scheme, target.netloc, target.path) != (expected.scheme, expected.netloc, expected.path or "/"):
        return None
    answer = parse_qs(target.query)
    return answer if "code" in answer or "error" in answer else None


def wait_for_redirect(
    request: AuthorizationRequest,
    timeout_s: float,
    on_listening: Callable[[], None] = lambda: None,
    pasted: TextIO | None = None,
) -> str:
    """Listen on the redirect URI until Spotify sends the browser back (or the address it was sent
    to is pasted into ``pasted``); return the code.

    Wrong ``state``, a refused consent and silence each end with one clear error. Each connection
    is served on a thread of its own with a socket timeout, so an idle or slow local connection
    (another program, a browser's speculative pre-connect) never holds up the real redirect, nor
    ``timeout_s``.
    """
    host, port, path = check_redirect_uri(request.redirect_uri)
    answers: list[dict[str, list[str]]] = []
    arrived = threading.Event()

    def read_pasted(lines: TextIO) -> None:
        for line in lines:
            answer = redirect_answer(request, line)
            if answer is not None:
                answers.append(answer)
                arrived.set()
                return

    if pasted is not None:  # a daemon: a terminal left waiting for a line never holds the process
        threading.Thread(target=read_pasted, args=(pasted,), daemon=True).start()

    class Callback(BaseHTTPRequestHandler):
        timeout = CONNECTION_TIMEOUT_S  # the socket's: a silent connection is dropped

        def do_GET(self) -> None:
            target = urlsplit(self.path)
            if target.path != path:
                self.send_error(404)
                return
            answers.append(parse_qs(target.query))
            ok = "code" in answers[-1] and answers[-1].get("state") == [request.state]
            title, text = (
                ("Authorized", "spotify-exporter has the token it needs. You can close this tab.")
                if ok
                else ("Not authorized", "Nothing was stored. Go back to the terminal for details.")
            )
            body = PAGE.format(title=title, text=text).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            arrived.set()

        def log_message(self, format: str, *args: Any) -> None:  # the query holds the code: never log it
            pass

    server_class = _IPv6HTTPServer if ":" in host else ThreadingHTTPServer
    try:
        server = server_class((host, port), Callback)
    except OSError as error:
        raise ConfigError(
            f"cannot listen on {host}:{port} for the redirect ({error.strerror}); free the port or pass another "
            "--redirect-uri (and register it in the Spotify dashboard)"
        ) from None
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        on_listening()
        if not arrived.wait(timeout_s):
            raise AuthorizationError(
                f"no answer from Spotify on {request.redirect_uri} within {timeout_s:.0f} s; nothing was stored. "
                "Check that this redirect URI is registered for your app in the Spotify dashboard and try again"
            )
    finally:
        server.shutdown()
        server.server_close()
    answer = answers[-1]
    if answer.get("state") != [request.state]:
        raise AuthorizationError(
            "the answer on the redirect URI did not carry this run's state (a stale or forged redirect); "
            "nothing was stored; run `make auth` again"
        )
    if "error" in answer:
        reason = answer["error"][0]
        if reason == "access_denied":
            raise AuthorizationError("the authorization was declined in Spotify (access_denied); nothing was stored")
        raise AuthorizationError(f"Spotify refused the authorization ({redact(reason)[:80]}); nothing was stored")
    if not answer.get("code"):
        raise AuthorizationError("the answer on the redirect URI carried no code; nothing was stored")
    remember(answer["code"][0])
    return answer["code"][0]


class _IPv6HTTPServer(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def exchange_code(
    session: requests.Session,
    accounts_url: str,
    client_id: str,
    client_secret: str,
    request: AuthorizationRequest,
    code: str,
    *,
    timeout: tuple[float, float] = (10.0, 30.0),
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Authorization:
    """Trade the code (with the PKCE verifier) for a refresh token (a redirect is never followed)."""
    remember_basic_credential(client_id, client_secret)
    try:
        response = session.post(
            f"{accounts_url.rstrip('/')}/api/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": request.redirect_uri,
                "code_verifier": request.code_verifier,
            },
            auth=(client_id, client_secret),
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.RequestException as error:
        raise AuthorizationError(f"could not reach the Spotify accounts service ({type(error).__name__})") from None
    if response.is_redirect:
        raise AuthorizationError(f"{redirect_refused(response, 'SPOTIFY_ACCOUNTS_URL')}; nothing was stored")
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    if response.status_code == 200 and isinstance(body.get("refresh_token"), str):
        remember(body["refresh_token"], str(body.get("access_token") or ""))
        return Authorization(body["refresh_token"], str(body.get("scope", "")), now())
    code_name = str(body.get("error", ""))
    if code_name == "invalid_client" or response.status_code == 401:
        raise ClientRejectedError()
    description = redact(str(body.get("error_description", "")))[:120]
    raise AuthorizationError(
        f"Spotify refused to exchange the authorization code (HTTP {response.status_code} {code_name}"
        f"{': ' + description if description else ''}); nothing was stored; run `make auth` again"
    )
