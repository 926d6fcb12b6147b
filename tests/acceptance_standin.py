"""A second, deliberately different Spotify stand-in, written from the spec, not from our simulator.

Acceptance is checked by others against their own stand-ins, so the exporter must not lean on
choices our simulator happens to make (``tests/spotify_simulator/``). This one is written from
Spotify's OpenAPI spec (``shared/spotify-web-api``) and the 2024-2026 facts in its README, and
makes the *other* legal choice wherever the spec leaves one:

* plain ``http.server`` (HTTP/1.1 keep-alive), one API host and a second host for the accounts
  service and the image CDN; answers as ``application/json; charset=utf-8``, in turn identity with
  a ``Content-Length``, gzip (when asked), chunked, and gzip + chunked;
* pages shorter than the ``limit`` asked for (the spec's ``limit`` is a maximum), ``next`` links
  whose parameters come in another order with an extra ``locale=*`` (as Spotify's own links have
  carried since 2024), ``previous`` and ``href`` links, ``total`` always present;
* cursor paging on ``/me/following`` with ``cursors.after`` and a null ``after`` on the last page
  (``cursor_paging``: or pages that say where to go on only with ``cursors.after``, the spec's
  ``CursorPagingObject`` requiring neither ``next`` nor ``total``); links written whole, as an
  absolute path or relative to the request's own URL (``link_form``: RFC 3986 references);
* playlist entries carrying ``item`` and ``track``, only ``track`` (the deprecated key, still
  sent), or only ``item``; episodes (only when ``additional_types`` asks for them), local files
  (``is_local``, null ids, ``spotify:local:`` URIs), null items, null ``added_by``, ``added_at``
  of 1970; playlist objects with the 2026 ``items`` ref or the older ``tracks`` ref;
* nullable fields set to null or left out: ``images`` null (Spotify's answer for a playlist without
  images since 2024: jpochyla/psst#464, aome510/spotify-player#401) or ``[]``, ``description`` null
  (the spec's prose: "otherwise null"), ``public`` null, ``external_ids`` missing, albums without
  images, artists without genres;
* a 403 on the items of a playlist the user neither owns nor collaborates on (2026), and a 403 or
  404 on ``/me/audiobooks`` (audiobooks are sold in a few markets only);
* a 429 with ``Retry-After`` on the first API request, a 429 with ``Retry-After`` from the token
  endpoint (``token_ban_from``), a 401 for an access token that expired mid-run, refresh answers
  without a ``refresh_token`` and one with a new one (after which the old one is refused with
  ``invalid_grant``: single-use, as PKCE refresh tokens are).

Writes follow the spec too (those a restore sends): ``POST /me/playlists`` (201), ``POST
/playlists/{id}/items`` (201, at most 100 URIs of tracks or episodes), ``PUT /playlists/{id}/images``
(202, base64 JPEG of at most 256 KB), ``PUT /me/library`` (200, at most 40 URIs of the types its
spec lists: no artists, 400 "unsupported URI type" for them), ``PUT /me/following`` (204,
``type`` and ``ids`` in the query). Descriptions are stored as sent and returned HTML-escaped,
as Spotify does (spotify/web-api issue 980).

Every JSON answer is recorded, so a test can validate it against the spec with the project's
validator (``spotify_simulator.spec.SpecValidator``); this stand-in uses none of the simulator's
data or code.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import gzip
import hashlib
import html
import json
import posixpath
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

JSON = dict[str, Any]
OPEN = "https://open.spotify.com"
#: a few bytes that start like a JPEG: the exporter keeps covers by their magic number
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"
LIBRARY_TYPES = ("track", "album", "episode", "show", "audiobook", "user", "playlist")  # PUT /me/library


def spotify_id(seed: str) -> str:
    """A base62-looking 22-character id, stable for ``seed``."""
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:17], "big")
    chars = []
    for _ in range(22):
        number, rest = divmod(number, 62)
        chars.append(alphabet[rest])
    return "".join(chars)


@dataclass
class Entry:
    """One playlist entry: what it holds, and which of ``item``/``track`` the answer carries."""

    item: JSON | None
    added_at: str | None = "2025-03-01T10:00:00Z"
    added_by: str | None = None  # user id; None: null ``added_by``
    keys: tuple[str, ...] = ("item", "track")
    is_local: bool = False


@dataclass
class Playlist:
    id: str
    name: str
    owner: str
    entries: list[Entry] = field(default_factory=list)
    description: str | None = None  # as the owner wrote it; answered HTML-escaped
    public: bool | None = False
    collaborative: bool = False
    images: list[JSON] | None = None
    readable: bool = True  # False: the items answer 403 (someone else's playlist, 2026)
    ref_key: str = "items"  # the 2026 name of the items ref; "tracks" before
    version: int = 1
    cover: bytes | None = None

    @property
    def snapshot_id(self) -> str:
        return base64.b64encode(f"{self.id}:{self.version}".encode()).decode()


@dataclass
class Account:
    """One user's library; lists are in the order Spotify returns them (newest first)."""

    id: str
    display_name: str | None
    liked: list[JSON | None] = field(default_factory=list)  # SavedTrackObject (None: a null element)
    playlists: list[str] = field(default_factory=list)  # ids, in list order
    albums: list[JSON] = field(default_factory=list)
    artists: list[JSON] = field(default_factory=list)
    shows: list[JSON] = field(default_factory=list)
    episodes: list[JSON] = field(default_factory=list)
    audiobooks: list[JSON] = field(default_factory=list)
    audiobooks_status: int = 200  # 403 or 404: not sold in this market


class Catalog:
    """Objects shaped as the spec's schemas; only what the accounts below need."""

    def __init__(self, api: str, images: str) -> None:
        self.api = api
        self.images = images
        self.by_uri: dict[str, JSON] = {}

    def artist(self, name: str, genres: list[str] | None = None) -> JSON:
        artist_id = spotify_id("artist:" + name)
        body: JSON = {
            "external_urls": {"spotify": f"{OPEN}/artist/{artist_id}"},
            "href": f"{self.api}/artists/{artist_id}",
            "id": artist_id,
            "name": name,
            "type": "artist",
            "uri": f"spotify:artist:{artist_id}",
        }
        if genres is not None:
            body["genres"] = genres
            body["images"] = []
        self.by_uri[body["uri"]] = body
        return body

    def album(self, name: str, artists: list[JSON], *, images: bool = True, full: bool = False) -> JSON:
        album_id = spotify_id("album:" + name)
        body: JSON = {
            "album_type": "album",
            "total_tracks": 10,
            "available_markets": [],
            "external_urls": {"spotify": f"{OPEN}/album/{album_id}"},
            "href": f"{self.api}/albums/{album_id}",
            "id": album_id,
            "images": [{"url": f"{self.images}/image/ab67616d0000b273{album_id}", "height": 640, "width": 640}]
            if images
            else [],
            "name": name,
            "release_date": "1999",
            "release_date_precision": "year",
            "type": "album",
            "uri": f"spotify:album:{album_id}",
            "artists": [_simple(a) for a in artists],
        }
        if full:
            body.update(
                tracks={
                    "href": f"{self.api}/albums/{album_id}/tracks?offset=0&limit=50",
                    "items": [],
                    "limit": 50,
                    "next": None,
                    "offset": 0,
                    "previous": None,
                    "total": 0,
                },
                copyrights=[],
                external_ids={"upc": "00602537" + album_id[:5].encode().hex()[:4]},
                genres=[],
            )
        self.by_uri[body["uri"]] = body
        return body

    def track(self, name: str, artists: list[JSON], album: JSON, *, isrc: str | None = "", ms: int = 201_000) -> JSON:
        track_id = spotify_id("track:" + name)
        body: JSON = {
            "album": {k: v for k, v in album.items() if k not in ("tracks", "copyrights", "external_ids", "genres")},
            "artists": [_simple(a) for a in artists],
            "disc_number": 1,
            "duration_ms": ms,
            "explicit": False,
            "external_urls": {"spotify": f"{OPEN}/track/{track_id}"},
            "href": f"{self.api}/tracks/{track_id}",
            "id": track_id,
            "is_local": False,
            "is_playable": True,
            "name": name,
            "preview_url": None,
            "track_number": 1,
            "type": "track",
            "uri": f"spotify:track:{track_id}",
        }
        if isrc is not None:  # None: no external_ids at all
            # an ISRC is CC-XXX-YY-NNNNN: country, registrant, year, designation
            code = (
                isrc
                or f"QZ{track_id[:3].upper()}26{int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) % 10**5:05d}"
            )
            body["external_ids"] = {"isrc": code} if isrc != "-" else {}
        self.by_uri[body["uri"]] = body
        return body

    def show(self, name: str, publisher: str) -> JSON:
        show_id = spotify_id("show:" + name)
        body: JSON = {
            "available_markets": [],
            "copyrights": [],
            "description": "A show",
            "explicit": False,
            "external_urls": {"spotify": f"{OPEN}/show/{show_id}"},
            "href": f"{self.api}/shows/{show_id}",
            "html_description": "<p>A show</p>",
            "id": show_id,
            "images": [],
            "is_externally_hosted": False,
            "languages": ["en"],
            "media_type": "audio",
            "name": name,
            "publisher": publisher,
            "total_episodes": 12,
            "type": "show",
            "uri": f"spotify:show:{show_id}",
        }
        self.by_uri[body["uri"]] = body
        return body

    def episode(self, name: str, show: JSON) -> JSON:
        episode_id = spotify_id("episode:" + name)
        body: JSON = {
            "audio_preview_url": None,
            "description": "An episode",
            "html_description": "<p>An episode</p>",
            "duration_ms": 3_600_000,
            "explicit": False,
            "external_urls": {"spotify": f"{OPEN}/episode/{episode_id}"},
            "href": f"{self.api}/episodes/{episode_id}",
            "id": episode_id,
            "images": [],
            "is_externally_hosted": False,
            "is_playable": True,
            "languages": ["en"],
            "name": name,
            "release_date": "2025-01-02",
            "release_date_precision": "day",
            "type": "episode",
            "uri": f"spotify:episode:{episode_id}",
            "show": show,
        }
        self.by_uri[body["uri"]] = body
        return body

    def audiobook(self, name: str) -> JSON:
        book_id = spotify_id("audiobook:" + name)
        body: JSON = {
            "authors": [{"name": "An Author"}],
            "available_markets": [],
            "copyrights": [],
            "description": "A book",
            "explicit": False,
            "external_urls": {"spotify": f"{OPEN}/show/{book_id}"},
            "href": f"{self.api}/audiobooks/{book_id}",
            "html_description": "<p>A book</p>",
            "id": book_id,
            "images": [],
            "languages": ["en"],
            "media_type": "audio",
            "name": name,
            "narrators": [{"name": "A Narrator"}, {"name": "Another"}],
            "publisher": "A House",
            "total_chapters": 3,
            "type": "audiobook",
            "uri": f"spotify:audiobook:{book_id}",
            "chapters": {
                "href": f"{self.api}/audiobooks/{book_id}/chapters",
                "items": [],
                "limit": 50,
                "next": None,
                "offset": 0,
                "previous": None,
                "total": 0,
            },
        }
        self.by_uri[body["uri"]] = body
        return body


def local_file(title: str, artist: str, album: str, ms: int) -> JSON:
    """A local file as Spotify's playlist guide describes it: no ids, hrefs or artist URIs."""
    uri = "spotify:local:" + ":".join(quote(part.replace(" ", "+"), safe="+") for part in (artist, album, title))
    return {
        "album": {
            "album_type": None,
            "available_markets": [],
            "external_urls": {},
            "href": None,
            "id": None,
            "images": [],
            "name": album,
            "release_date": None,
            "release_date_precision": None,
            "type": "album",
            "uri": None,
            "artists": [],
            "total_tracks": 0,
        },
        "artists": [{"external_urls": {}, "href": None, "id": None, "name": artist, "type": "artist", "uri": None}],
        "disc_number": 0,
        "duration_ms": ms,
        "explicit": False,
        "external_ids": {},
        "external_urls": {},
        "href": None,
        "id": None,
        "is_local": True,
        "name": title,
        "popularity": 0,
        "preview_url": None,
        "track_number": 0,
        "type": "track",
        "uri": uri + f":{ms // 1000}",
    }


def _simple(artist: JSON) -> JSON:
    return {k: artist[k] for k in ("external_urls", "href", "id", "name", "type", "uri")}


class TokenService:
    """Refresh tokens per user; access tokens that die after a number of API requests."""

    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> user id
        self.access: dict[str, list[Any]] = {}  # access token -> [user id, requests left or None]
        self.grants = 0
        #: the grant numbers (1-based) whose answer carries a new refresh token (the old one dies)
        self.rotate_on: set[int] = set()
        #: an access token is refused (401, expired) after this many API requests; None: never
        self.expires_after: int | None = None
        self.lock = threading.Lock()

    def add_user(self, user_id: str) -> str:
        token = "rt-" + spotify_id("refresh:" + user_id)
        self.refresh_tokens[token] = user_id
        return token

    def grant(self, form: dict[str, str], authorization: str) -> tuple[int, JSON]:
        """``POST /api/token``, refresh-token grant, client credentials by HTTP Basic or in the form."""
        client = (form.get("client_id", ""), form.get("client_secret", ""))
        if authorization.startswith("Basic "):
            try:
                pair = base64.b64decode(authorization[6:]).decode()
            except (binascii.Error, UnicodeDecodeError):
                pair = ""
            client = tuple(pair.split(":", 1)) if ":" in pair else ("", "")  # type: ignore[assignment]
        if client != (self.client_id, self.client_secret):
            return 401, {"error": "invalid_client", "error_description": "Invalid client"}
        if form.get("grant_type") != "refresh_token":
            return 400, {"error": "unsupported_grant_type", "error_description": "grant_type must be refresh_token"}
        with self.lock:
            user = self.refresh_tokens.get(form.get("refresh_token", ""))
            if user is None:
                return 400, {"error": "invalid_grant", "error_description": "Invalid refresh token"}
            self.grants += 1
            access = "at-" + spotify_id(f"access:{user}:{self.grants}")
            self.access[access] = [user, self.expires_after]
            body: JSON = {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": 3600,
                "scope": "user-library-read playlist-read-private user-follow-read",
            }
            if self.grants in self.rotate_on:
                del self.refresh_tokens[form["refresh_token"]]
                new = "rt-" + spotify_id(f"rotated:{user}:{self.grants}")
                self.refresh_tokens[new] = user
                body["refresh_token"] = new
            return 200, body

    def user_of(self, authorization: str) -> str | None:
        """The user behind a bearer token, None when it is unknown or has expired."""
        token = authorization.removeprefix("Bearer ") if authorization.startswith("Bearer ") else ""
        with self.lock:
            holder = self.access.get(token)
            if holder is None:
                return None
            if holder[1] is not None:
                if holder[1] <= 0:
                    return None
                holder[1] -= 1
            return str(holder[0])


class StandinSpotify:
    """The API on one port, the accounts service and image CDN on another; see the module doc."""

    def __init__(self) -> None:
        self._api_server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._side_server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._api_server.standin = self  # type: ignore[attr-defined]
        self._side_server.standin = self  # type: ignore[attr-defined]
        self.api_url = f"http://127.0.0.1:{self._api_server.server_address[1]}/v1"
        self.accounts_url = f"http://127.0.0.1:{self._side_server.server_address[1]}/accounts"
        self.images_url = f"http://127.0.0.1:{self._side_server.server_address[1]}"
        self.tokens = TokenService("acceptance-client", "acceptance-secret")
        self.catalog = Catalog(self.api_url, self.images_url)
        self.accounts: dict[str, Account] = {}
        self.playlists: dict[str, Playlist] = {}
        self.lock = threading.RLock()
        #: (method, path template, status, body) of every JSON answer of the API
        self.answers: list[tuple[str, str, int, Any]] = []
        #: (method, path, query) of every API request, whatever its answer
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.image_requests = 0
        #: the first API request answers 429 with this ``Retry-After`` (None: no such answer)
        self.first_retry_after: str | None = None
        #: the most items one page holds, whatever ``limit`` asks (the spec's limit is a maximum)
        self.page_cap = 3
        #: where ``href``, ``next`` and ``previous`` links point (Spotify's own links always name
        #: ``https://api.spotify.com/v1``, also when a proxy or gateway stands in between)
        self.link_base = self.api_url
        #: from this API request on (1-based), every request answers 429 with ``Retry-After: 7200``
        #: until it is set back to None: a long ban, which Spotify has been seen to impose
        self.ban_from: int | None = None
        #: how links are written: "absolute" (``link_base`` + path), "path" (an absolute-path
        #: reference, ``/v1/me/tracks?...``) or "relative" (to the request's own URL, ``tracks?...``):
        #: the spec says only "URL", and RFC 3986 references resolve against the request's URL
        self.link_form = "absolute"
        #: how ``/me/following`` pages say where to go on: "next" (a ``next`` link and ``cursors.after``),
        #: "null next", "empty next" or "no next" (only ``cursors.after``; ``next`` null, "" or left
        #: out), "stuck" (only ``cursors.after``, which stays at the first page's cursor), "no total"
        #: (only ``cursors.after``, no ``total``): the spec's ``CursorPagingObject`` requires none of
        #: ``next``, ``cursors``, ``total``
        self.cursor_paging = "next"
        #: token requests (1-based) from this one on answer 429 with ``Retry-After: token_retry_after``,
        #: for ``token_ban_s`` seconds from the first of them (None: until set back to None). The
        #: accounts service is rate-limited as the API is (clients that refresh in a loop get 429s:
        #: Oceanity/firebot-spotify#28), and any 429 may say how long to wait (RFC 6585 section 4)
        self.token_ban_from: int | None = None
        self.token_retry_after = "7200"
        self.token_ban_s: float | None = None
        #: token requests, the 429s among them, and those sent before a 429's ``Retry-After`` had passed
        self.token_requests = 0
        self.token_429s = 0
        self.early_token_requests = 0
        self._token_ban_started: float | None = None
        self._token_wait_until: float | None = None
        self._threads: list[threading.Thread] = []
        self._answer_count = 0

    # -- life --------------------------------------------------------------------------------

    def __enter__(self) -> StandinSpotify:
        for server in (self._api_server, self._side_server):
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        for server in (self._api_server, self._side_server):
            server.shutdown()
            server.server_close()

    def env_file_text(self, refresh_token: str) -> str:
        return (
            f"SPOTIFY_CLIENT_ID={self.tokens.client_id}\nSPOTIFY_CLIENT_SECRET={self.tokens.client_secret}\n"
            f"SPOTIFY_REFRESH_TOKEN={refresh_token}\n"
        )

    def add_account(self, account: Account) -> str:
        """Register ``account``; returns its refresh token."""
        self.accounts[account.id] = account
        return self.tokens.add_user(account.id)

    def add_playlist(self, playlist: Playlist, *, listed_by: str | None = None) -> Playlist:
        self.playlists[playlist.id] = playlist
        self.accounts[listed_by or playlist.owner].playlists.append(playlist.id)
        return playlist

    # -- rendering ---------------------------------------------------------------------------

    def user_ref(self, user_id: str) -> JSON:
        return {
            "external_urls": {"spotify": f"{OPEN}/user/{quote(user_id)}"},
            "href": f"{self.api_url}/users/{quote(user_id)}",
            "id": user_id,
            "type": "user",
            "uri": f"spotify:user:{user_id}",
        }

    def playlist_object(self, playlist: Playlist) -> JSON:
        owner = self.accounts.get(playlist.owner)
        images = playlist.images
        if playlist.cover is not None:
            images = [
                {"url": f"{self.images_url}/image/{playlist.id}-v{playlist.version}", "height": None, "width": None}
            ]
        body: JSON = {
            "collaborative": playlist.collaborative,
            "description": None if playlist.description is None else html.escape(playlist.description),
            "external_urls": {"spotify": f"{OPEN}/playlist/{playlist.id}"},
            "href": f"{self.api_url}/playlists/{playlist.id}",
            "id": playlist.id,
            "images": images,
            "name": playlist.name,
            "owner": {**self.user_ref(playlist.owner), "display_name": owner.display_name if owner else None},
            "public": playlist.public,
            "snapshot_id": playlist.snapshot_id,
            playlist.ref_key: {
                "href": f"{self.api_url}/playlists/{playlist.id}/{playlist.ref_key}",
                "total": len(playlist.entries),
            },
            "type": "playlist",
            "uri": f"spotify:playlist:{playlist.id}",
        }
        return body

    def entry_object(self, entry: Entry, episodes: bool) -> JSON:
        item = entry.item
        if item is not None and item.get("type") == "episode" and not episodes:
            item = None  # not asked for: Spotify sends no episode
        body: JSON = {
            "added_at": entry.added_at,
            "added_by": None if entry.added_by is None else self.user_ref(entry.added_by),
            "is_local": entry.is_local,
        }
        for key in entry.keys:
            body[key] = item
        return body

    # -- answering ---------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes, api: bool) -> _Reply:
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        if not api:
            return self._side(method, parts.path, headers, body)
        with self.lock:
            self.requests.append((method, parts.path, query))
            first = len(self.requests) == 1
        if self.ban_from is not None and len(self.requests) >= self.ban_from:
            return self._error("*", method, 429, "API rate limit exceeded", {"Retry-After": "7200"})
        if first and self.first_retry_after is not None:
            return self._error("*", method, 429, "API rate limit exceeded", {"Retry-After": self.first_retry_after})
        user = self.tokens.user_of(headers.get("authorization", ""))
        if user is None:
            return self._error("*", method, 401, "The access token expired")
        with self.lock:
            return self._route(method, parts.path.removeprefix("/v1"), query, body, headers, user)

    def _side(self, method: str, path: str, headers: dict[str, str], body: bytes) -> _Reply:
        if path == "/accounts/api/token" and method == "POST":
            retry_after = self._token_rate_limit()
            if retry_after is not None:
                answer = {"error": "too_many_requests", "error_description": "Too many requests"}
                return _Reply(429, answer, {"Retry-After": retry_after})
            if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                return _Reply(400, {"error": "invalid_request", "error_description": "form body expected"})
            form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
            status, answer = self.tokens.grant(form, headers.get("authorization", ""))
            return _Reply(status, answer)
        match = re.fullmatch(r"/image/([0-9A-Za-z]+)-v(\d+)", path)
        if method == "GET" and match and match[1] in self.playlists:
            self.image_requests += 1
            cover = self.playlists[match[1]].cover
            if cover is not None:
                return _Reply(200, None, {"Content-Type": "image/jpeg"}, raw=cover)
        return _Reply(404, None, raw=b"")

    def _token_rate_limit(self) -> str | None:
        """The ``Retry-After`` of this token request's 429, None when it is served."""
        with self.lock:
            now = time.monotonic()
            self.token_requests += 1
            if self._token_wait_until is not None and now < self._token_wait_until:
                self.early_token_requests += 1
            if self.token_ban_from is None or self.token_requests < self.token_ban_from:
                return None
            started = self._token_ban_started = self._token_ban_started or now
            if self.token_ban_s is not None and now >= started + self.token_ban_s:
                return None
            self.token_429s += 1
            with contextlib.suppress(ValueError):  # a date or junk: no wait to check against
                self._token_wait_until = now + float(self.token_retry_after)
            return self.token_retry_after

    def link(self, path: str, query: list[tuple[str, Any]], request_path: str | None = None) -> str:
        """A link to ``path`` (without ``/v1``) in the form ``link_form`` says; a relative one is
        relative to ``request_path``, the path of the request it answers (``path`` itself if None)."""
        if self.link_form == "path":
            return f"/v1{path}?{urlencode(query)}"
        if self.link_form == "relative":
            return f"{posixpath.relpath(path, posixpath.dirname(request_path or path))}?{urlencode(query)}"
        return f"{self.link_base}{path}?{urlencode(query)}"

    def _error(
        self, template: str, method: str, status: int, message: str, headers: dict[str, str] | None = None
    ) -> _Reply:
        body = {"error": {"status": status, "message": message}}
        self.answers.append((method, template, status, body))
        return _Reply(status, body, headers or {})

    def _ok(self, method: str, template: str, body: JSON | None, status: int = 200) -> _Reply:
        self.answers.append((method, template, status, body))
        return _Reply(status, body)

    def _route(
        self, method: str, path: str, query: dict[str, str], body: bytes, headers: dict[str, str], user: str
    ) -> _Reply:
        account = self.accounts[user]
        routes: list[tuple[str, str, Callable[..., _Reply]]] = [
            ("GET", r"/me", self._me),
            ("GET", r"/me/tracks", self._saved("/me/tracks", "liked")),
            ("GET", r"/me/albums", self._saved("/me/albums", "albums")),
            ("GET", r"/me/shows", self._saved("/me/shows", "shows")),
            ("GET", r"/me/episodes", self._saved("/me/episodes", "episodes")),
            ("GET", r"/me/audiobooks", self._audiobooks),
            ("GET", r"/me/following", self._following),
            ("GET", r"/me/playlists", self._my_playlists),
            ("POST", r"/me/playlists", self._create_playlist),
            ("GET", r"/playlists/([^/]+)", self._playlist),
            ("GET", r"/playlists/([^/]+)/items", self._items),
            ("POST", r"/playlists/([^/]+)/items", self._add_items),
            ("PUT", r"/playlists/([^/]+)/images", self._upload_cover),
            ("PUT", r"/me/library", self._save_library),
            ("PUT", r"/me/following", self._follow),
        ]
        for route_method, pattern, action in routes:
            match = re.fullmatch(pattern, path)
            if match and route_method == method:
                return action(account, query, body, headers, *match.groups())
        if any(re.fullmatch(pattern, path) for _, pattern, _ in routes):
            return self._error("*", method, 405, "Method not allowed")
        return self._error("*", method, 404, "Service not found")

    def _limit(self, query: dict[str, str], default: int = 20) -> int | None:
        try:
            limit = int(query.get("limit", default))
        except ValueError:
            return None
        return limit if 1 <= limit <= 50 else None

    def _page(
        self, template: str, path: str, query: dict[str, str], items: list[Any], request_path: str | None = None
    ) -> JSON | None:
        """An offset page: at most ``page_cap`` items whatever ``limit`` asks; links with the
        parameters in another order than asked, plus ``locale=*`` (relative ones to ``request_path``,
        where the page is part of another answer)."""
        limit = self._limit(query)
        try:
            offset = int(query.get("offset", 0))
        except ValueError:
            return None
        if limit is None or offset < 0:
            return None
        served = items[offset : offset + min(limit, self.page_cap)]
        kept = [(k, v) for k, v in query.items() if k not in ("limit", "offset")]

        def link(at: int) -> str:
            return self.link(path, [("offset", at), ("limit", limit), *kept, ("locale", "*")], request_path)

        end = offset + len(served)
        return {
            "href": link(offset),
            "items": served,
            "limit": limit,
            "next": link(end) if end < len(items) else None,
            "offset": offset,
            "previous": link(max(0, offset - limit)) if offset > 0 else None,
            "total": len(items),
        }

    def _paged(self, method: str, template: str, path: str, query: dict[str, str], items: list[Any]) -> _Reply:
        page = self._page(template, path, query, items)
        if page is None:
            return self._error(template, method, 400, "Invalid limit or offset")
        return self._ok(method, template, page)

    def _me(self, account: Account, query: dict[str, str], body: bytes, headers: dict[str, str]) -> _Reply:
        profile: JSON = {
            **self.user_ref(account.id),
            "display_name": account.display_name,
            "images": [],
            "followers": {"href": None, "total": 3},
        }
        return self._ok("GET", "/v1/me", profile)

    def _saved(self, path: str, attribute: str) -> Callable[..., _Reply]:
        def answer(account: Account, query: dict[str, str], body: bytes, headers: dict[str, str]) -> _Reply:
            return self._paged("GET", "/v1" + path, path, query, getattr(account, attribute))

        return answer

    def _audiobooks(self, account: Account, query: dict[str, str], body: bytes, headers: dict[str, str]) -> _Reply:
        if account.audiobooks_status != 200:
            message = "Forbidden" if account.audiobooks_status == 403 else "Non existing id"
            return self._error("/v1/me/audiobooks", "GET", account.audiobooks_status, message)
        return self._paged("GET", "/v1/me/audiobooks", "/me/audiobooks", query, account.audiobooks)

    def _following(self, account: Account, query: dict[str, str], body: bytes, headers: dict[str, str]) -> _Reply:
        """Cursor paging by artist id, at most ``page_cap`` a page; links with ``after`` first."""
        limit = self._limit(query)
        if query.get("type") != "artist" or limit is None:
            return self._error("/v1/me/following", "GET", 400, "type must be artist")
        artists = sorted(account.artists, key=lambda a: str(a["id"]))
        after = query.get("after")
        start = 0 if after is None else next((n for n, a in enumerate(artists) if a["id"] > after), len(artists))
        served = artists[start : start + min(limit, self.page_cap)]
        more = start + len(served) < len(artists)
        last = served[-1]["id"] if served else None
        cursor = last if more else None
        if self.cursor_paging == "stuck" and more:
            cursor = artists[min(limit, self.page_cap) - 1]["id"]  # the first page's, whatever was asked
        here = [("after", after)] if after else []
        paging: JSON = {
            "href": self.link("/me/following", [*here, ("type", "artist"), ("limit", limit)]),
            "items": served,
            "limit": limit,
            "cursors": {"after": cursor},
        }
        if self.cursor_paging == "next":
            link = self.link("/me/following", [("after", last), ("type", "artist"), ("limit", limit), ("locale", "*")])
            paging["next"] = link if more else None
        elif self.cursor_paging != "no next":
            paging["next"] = "" if self.cursor_paging == "empty next" else None
        if self.cursor_paging != "no total":
            paging["total"] = len(artists)
        page = {"artists": paging}
        return self._ok("GET", "/v1/me/following", page)

    def _my_playlists(self, account: Account, query: dict[str, str], body: bytes, headers: dict[str, str]) -> _Reply:
        objects = [self.playlist_object(self.playlists[pid]) for pid in account.playlists]
        return self._paged("GET", "/v1/me/playlists", "/me/playlists", query, objects)

    def _playlist(
        self, account: Account, query: dict[str, str], body: bytes, headers: dict[str, str], pid: str
    ) -> _Reply:
        playlist = self.playlists.get(pid)
        if playlist is None:
            return self._error("/v1/playlists/{id}", "GET", 404, "Not found")
        whole = self.playlist_object(playlist)
        whole["followers"] = {"href": None, "total": 0}
        ref = whole.pop(playlist.ref_key)
        episodes = "episode" in query.get("additional_types", "")
        if playlist.readable:
            page = self._page("", f"/playlists/{pid}/items", {"limit": "50"}, [
                self.entry_object(e, episodes) for e in playlist.entries
            ], request_path=f"/playlists/{pid}")  # fmt: skip
            whole["items"] = page
        else:
            whole["items"] = {"href": ref["href"], "total": ref["total"]}  # no contents for others' playlists
        if query.get("fields") == "snapshot_id":
            whole = {"snapshot_id": playlist.snapshot_id}
            self.answers.append(("GET", "(fields)", 200, whole))  # a filtered answer: not the schema's
            return _Reply(200, whole)
        return self._ok("GET", "/v1/playlists/{id}", whole)

    def _items(self, account: Account, query: dict[str, str], body: bytes, headers: dict[str, str], pid: str) -> _Reply:
        playlist = self.playlists.get(pid)
        template = "/v1/playlists/{id}/items"
        if playlist is None:
            return self._error(template, "GET", 404, "Not found")
        collaborator = playlist.collaborative and pid in account.playlists
        if playlist.owner != account.id and not (collaborator and playlist.readable):
            return self._error(template, "GET", 403, "Forbidden")
        episodes = "episode" in query.get("additional_types", "")
        entries = [self.entry_object(e, episodes) for e in playlist.entries]
        return self._paged("GET", template, f"/playlists/{pid}/items", query, entries)

    # -- writes ------------------------------------------------------------------------------

    def _json_body(self, body: bytes) -> JSON | None:
        try:
            document = json.loads(body or b"null")
        except ValueError:
            return None
        return document if isinstance(document, dict) else None

    def _create_playlist(self, account: Account, query: dict[str, str], body: bytes, headers: dict[str, str]) -> _Reply:
        template = "/v1/me/playlists"
        request = self._json_body(body)
        if request is None or not isinstance(request.get("name"), str):
            return self._error(template, "POST", 400, "Missing required field: name")
        public = request.get("public", True)
        collaborative = bool(request.get("collaborative", False))
        if collaborative and public:  # the spec: "to create a collaborative playlist you must also set public to false"
            return self._error(template, "POST", 400, "Collaborative playlists must be private")
        playlist = Playlist(
            spotify_id(f"created:{account.id}:{len(self.playlists)}"),
            request["name"],
            account.id,
            description=request.get("description"),
            public=bool(public),
            collaborative=collaborative,
            images=[],
        )
        self.playlists[playlist.id] = playlist
        account.playlists.insert(0, playlist.id)  # the newest first in the user's list
        whole = self.playlist_object(playlist)
        whole["followers"] = {"href": None, "total": 0}
        whole["items"] = self._page("", f"/playlists/{playlist.id}/items", {"limit": "50"}, [], "/me/playlists")
        return self._ok("POST", template, whole, 201)

    def _own(self, account: Account, pid: str) -> Playlist | None:
        playlist = self.playlists.get(pid)
        if playlist is None or not (playlist.owner == account.id or playlist.collaborative):
            return None
        return playlist

    def _add_items(
        self, account: Account, query: dict[str, str], body: bytes, headers: dict[str, str], pid: str
    ) -> _Reply:
        template = "/v1/playlists/{id}/items"
        playlist, request = self._own(account, pid), self._json_body(body)
        if playlist is None:
            return self._error(template, "POST", 403, "Forbidden")
        uris = query["uris"].split(",") if "uris" in query else (request or {}).get("uris")
        if not isinstance(uris, list) or not 1 <= len(uris) <= 100:
            return self._error(template, "POST", 400, "You can add at most 100 items per request")
        items = [self.catalog.by_uri.get(str(uri)) for uri in uris]
        if any(i is None or i.get("type") not in ("track", "episode") for i in items):
            return self._error(template, "POST", 400, "Invalid track uri")
        position = (request or {}).get("position", len(playlist.entries))
        new = [Entry(dict(i), added_at="2026-12-01T00:00:00Z", added_by=account.id) for i in items if i]
        playlist.entries[position:position] = new
        playlist.version += 1
        return self._ok("POST", template, {"snapshot_id": playlist.snapshot_id}, 201)

    def _upload_cover(
        self, account: Account, query: dict[str, str], body: bytes, headers: dict[str, str], pid: str
    ) -> _Reply:
        template = "/v1/playlists/{id}/images"
        playlist = self._own(account, pid)
        if playlist is None:
            return self._error(template, "PUT", 403, "Forbidden")
        if not headers.get("content-type", "").startswith("image/jpeg") or len(body) > 256 * 1024:
            return self._error(template, "PUT", 400, "Image must be base64 JPEG of at most 256 KB")
        try:
            image = base64.b64decode(body, validate=True)
        except binascii.Error:
            return self._error(template, "PUT", 400, "Invalid base64")
        if not image.startswith(b"\xff\xd8\xff"):
            return self._error(template, "PUT", 400, "Not a JPEG")
        playlist.cover = image
        playlist.version += 1
        self.answers.append(("PUT", template, 202, None))
        return _Reply(202, None, raw=b"")

    def _save_library(self, account: Account, query: dict[str, str], body: bytes, headers: dict[str, str]) -> _Reply:
        template = "/v1/me/library"
        uris = [u for u in query.get("uris", "").split(",") if u]
        if not 1 <= len(uris) <= 40:
            return self._error(template, "PUT", 400, "Between 1 and 40 URIs")
        for uri in uris:
            kind = uri.split(":")[1] if uri.count(":") == 2 else ""
            if kind not in LIBRARY_TYPES:
                return self._error(template, "PUT", 400, f"Unsupported URI type: {uri}")
            if kind != "playlist" and uri not in self.catalog.by_uri:
                return self._error(template, "PUT", 400, f"Invalid URI: {uri}")
            if kind == "playlist" and uri.rsplit(":", 1)[1] not in self.playlists:
                return self._error(template, "PUT", 400, f"Invalid URI: {uri}")
        lists: dict[str, list[Any]] = {
            "track": account.liked,
            "album": account.albums,
            "episode": account.episodes,
            "show": account.shows,
            "audiobook": account.audiobooks,
        }
        for uri in uris:
            kind, thing = uri.split(":")[1], self.catalog.by_uri.get(uri)
            if kind == "playlist":
                pid = uri.rsplit(":", 1)[1]
                if pid not in account.playlists:
                    account.playlists.insert(0, pid)
            elif kind in lists:
                saved = lists[kind]
                if not any(isinstance(s, dict) and s.get(kind, {}).get("uri") == uri for s in saved):
                    saved.insert(0, {"added_at": "2026-12-01T00:00:00Z", kind: thing})
        self.answers.append(("PUT", template, 200, None))
        return _Reply(200, None, raw=b"")

    def _follow(self, account: Account, query: dict[str, str], body: bytes, headers: dict[str, str]) -> _Reply:
        template = "/v1/me/following"
        ids = [i for i in query.get("ids", "").split(",") if i]
        if query.get("type") not in ("artist", "user") or not 1 <= len(ids) <= 50:
            return self._error(template, "PUT", 400, "type and 1 to 50 ids required")
        for artist_id in ids:
            artist = self.catalog.by_uri.get(f"spotify:artist:{artist_id}")
            if artist is None:
                return self._error(template, "PUT", 400, f"Invalid id: {artist_id}")
            if not any(a["id"] == artist_id for a in account.artists):
                account.artists.append(artist)
        self.answers.append(("PUT", template, 204, None))
        return _Reply(204, None, raw=b"")


@dataclass
class _Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet tests
        pass

    def _serve(self) -> None:
        standin: StandinSpotify = self.server.standin  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        api = self.server is standin._api_server
        reply = standin.handle(self.command, self.path, headers, body, api)
        data = reply.raw if reply.raw is not None else json.dumps(reply.body, ensure_ascii=False).encode()
        standin._answer_count += 1
        turn = standin._answer_count % 4  # identity, gzip, chunked, gzip + chunked, in turn
        gzipped = turn in (1, 3) and "gzip" in headers.get("accept-encoding", "") and reply.raw is None
        chunked = turn in (2, 3) and data != b""
        if gzipped:
            data = gzip.compress(data)
        self.send_response(reply.status)
        if reply.raw is None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if gzipped:
            self.send_header("Content-Encoding", "gzip")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            step = max(1, len(data) // 3)
            for start in range(0, len(data), step):
                piece = data[start : start + step]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _serve


# -- the accounts the acceptance tests export and restore into ---------------------------------

JANE, FRIEND, TARGET = "jane.doe_1982", "friend.one", "target.user"
LONG_NAME = "Ł" * 350 + " end"


@dataclass
class World:
    """Jane's account (exported), a friend who owns playlists Jane follows or shares, and an empty
    account to restore into; with the refresh tokens of Jane and the target."""

    standin: StandinSpotify
    jane_token: str
    target_token: str
    tracks: dict[str, JSON]
    playlists: dict[str, Playlist]


def build_world(standin: StandinSpotify) -> World:
    c = standin.catalog
    jane = Account(JANE, "ג'יין دو", audiobooks_status=403)
    friend = Account(FRIEND, None)
    target = Account(TARGET, "Target")
    jane_token = standin.add_account(jane)
    standin.add_account(friend)
    target_token = standin.add_account(target)

    ezra, fairuz = c.artist("Ezra Collective", ["jazz", "uk jazz"]), c.artist("فيروز", [])
    minus, bjork = c.artist("=Minus", ["art pop"]), c.artist("Björk", ["art pop", "icelandic pop"])
    handle = c.artist("@Handle")  # no genres key at all
    meant, bare = (
        c.album("Where I'm Meant To Be", [ezra], full=True),
        c.album("Album ohne Bilder", [fairuz], images=False, full=True),
    )
    tracks = {
        "formula": c.track("=SUM(A1:A2)", [minus], meant),
        "plus": c.track("+1 (Remix)", [ezra, bjork], meant, isrc=None),
        "hebrew": c.track("שלום עולם", [fairuz], bare, isrc="-"),
        "minus": c.track("-Minus-", [minus], bare),
        "at": c.track("@Handle live", [handle], meant),
        "quoted": c.track('Quote "and", comma\r\nnew line', [ezra], meant),
        "long": c.track(LONG_NAME, [bjork], bare),
        "tab": c.track("\tTabbed", [bjork], bare),
    }
    jane.liked = [
        {"added_at": f"2026-0{9 - n}-01T12:00:00Z", "track": track} for n, track in enumerate(tracks.values())
    ]
    jane.liked.insert(2, None)  # Spotify has sent null elements in pages
    show = c.show("Podcast «Ω»", "+Publisher")
    first, second = c.episode("First episode", show), c.episode("-Episode two", show)
    jane.shows = [{"added_at": "2026-02-02T00:00:00Z", "show": show}]
    jane.episodes = [
        {"added_at": "2026-02-03T00:00:00Z", "episode": second},
        {"added_at": "2026-02-01T00:00:00Z", "episode": first},
    ]
    jane.albums = [
        {"added_at": "2026-01-05T00:00:00Z", "album": meant},
        {"added_at": "2025-01-05T00:00:00Z", "album": bare},
    ]
    jane.artists = [ezra, fairuz, minus, bjork, handle]
    standin.jane_audiobook = c.audiobook("Ein Hörbuch")  # type: ignore[attr-defined]

    local = local_file("Demo take 3", "Jane's Band", "Garage Tapes", 187_000)
    road = standin.add_playlist(
        Playlist(
            spotify_id("road"),
            "Road Trip ☀️ / 2024",
            JANE,
            [
                Entry(tracks["formula"], added_by=JANE),
                Entry(tracks["plus"], keys=("track",)),
                Entry(first, keys=("item",), added_by=JANE),
                Entry(local, is_local=True, added_by=JANE),
                Entry(None, added_at="1970-01-01T00:00:00Z"),
                Entry(tracks["formula"], added_by=JANE),
                Entry(tracks["hebrew"], added_by=FRIEND),
                Entry(tracks["at"], added_at=None, added_by=JANE),
            ],
            description="Songs for the road & more <3",
            public=True,
            cover=JPEG,
        )
    )
    formula_name = standin.add_playlist(
        Playlist(spotify_id("formula"), '=HYPERLINK("http://x")', JANE, description=None, public=None, images=None)
    )
    others = standin.add_playlist(
        Playlist(
            spotify_id("others"), "Friend's mix", FRIEND, [Entry(tracks["minus"], added_by=FRIEND)],
            description="A mix", public=True, images=[], readable=False,
        ),
        listed_by=JANE,
    )  # fmt: skip
    shared = standin.add_playlist(
        Playlist(
            spotify_id("shared"), "Shared 🎧", FRIEND,
            [Entry(tracks["minus"], added_by=FRIEND), Entry(tracks["quoted"], added_by=JANE)],
            description="", public=False, collaborative=True, images=[], ref_key="tracks",
        ),
        listed_by=JANE,
    )  # fmt: skip
    rtl = standin.add_playlist(
        Playlist(
            spotify_id("rtl"), "قائمة تشغيل " + "x" * 300, JANE,
            [Entry(tracks["long"], added_by=JANE), Entry(tracks["tab"], added_by=JANE)],
            description="@home", public=False, images=[],
        )
    )  # fmt: skip
    playlists = {"road": road, "formula": formula_name, "others": others, "shared": shared, "rtl": rtl}
    return World(standin, jane_token, target_token, tracks, playlists)
