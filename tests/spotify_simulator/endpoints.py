"""The Web API's endpoints, as a part of :class:`~.server.SpotifySimulator`: reads with their
offset and cursor paging, and writes (playlists, items, covers, library, follows) with the checks
Spotify makes on a request before :mod:`.writes` changes the account."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlencode

import orjson
from werkzeug.wrappers import Request

from .covers import MAX_UPLOAD, is_jpeg
from .model import PAGE, Account, Playlist
from .render import JSON, Renderer
from .rules import (
    EMPTY_DESCRIPTION,
    LIBRARY_SCOPES,
    MAX_FOLLOW_IDS,
    SPEC_LIBRARY_WRITES,
    UNSET_DESCRIPTION,
    removed,
)
from .tokens import TokenStore
from .writes import LIBRARY_KINDS, Editor, WriteError
from .wsgi import Reply, error

T = TypeVar("T")
MAX_ITEMS = 100  # URIs per playlist write
MAX_LIBRARY = 40  # URIs per library write
MODIFY_PUBLIC, MODIFY_PRIVATE = "playlist-modify-public", "playlist-modify-private"


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


class WebApiEndpoints:
    """Reads and writes of the Web API; the simulator's WSGI app calls :meth:`_serve` for a request
    that passed the ban, the token, the route and the faults. It works on the data of the user the
    request is for (``account``, ``edit``, the renderer), under the simulator's data lock."""

    if TYPE_CHECKING:  # what the simulator gives them (see SpotifySimulator)
        library_uri_types: str
        empty_description_on_create: bool
        _tokens: TokenStore

        @property
        def account(self) -> Account: ...

        @property
        def edit(self) -> Editor: ...

        @property
        def _render(self) -> Renderer: ...

        @property
        def accounts_url(self) -> str: ...

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
        if body.get("description") == "" and not self.empty_description_on_create:
            raise WriteError(400, EMPTY_DESCRIPTION)
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
