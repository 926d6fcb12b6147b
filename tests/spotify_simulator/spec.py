"""Validate response bodies against the fixed Spotify OpenAPI spec (shared/spotify-web-api).

The spec cannot be used quite as published; four kinds of correction are applied, each listed
below with its reason, and nothing else is relaxed:

* ``DISCRIMINATORS``: ``PlaylistTrackObject.item``/``track`` discriminate on ``type`` without a
  mapping, so a validator looks for schemas named ``track`` and ``episode``, which do not exist,
  and rejects every playlist item. The mapping says what the spec means.
* ``NOT_REQUIRED``: ``AlbumObject`` still requires ``label`` and ``popularity``, which Spotify
  removed from development-mode answers in February 2026 (shared/spotify-web-api/README.md).
* ``WRAPPED_ERRORS``: the 400 answers of ``/me/library`` (PUT, DELETE) and
  ``/me/library/contains``, added to the spec in 2026, give a bare ``ErrorObject``; every other
  error of the spec (the shared ``BadRequest`` response included) and of Spotify comes wrapped as
  ``{"error": ErrorObject}``, which the simulator sends there too.
* ``NULLABLE`` (relaxed mode only): places where Spotify sends ``null`` although the schema
  lacks ``nullable``: the spec's own prose says so (old playlist items' ``added_at``/
  ``added_by``, unavailable tracks, ``public``, the last cursor page), or Spotify's playlist
  guide does (local files have no ids, hrefs or URIs).

Strict mode keeps ``NULLABLE`` out; :func:`without_documented_nulls` removes exactly those
nulls from a body, so "relaxed passes and strict passes without them" proves nulls appear only
where documented.
"""

from __future__ import annotations

import copy
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from openapi_schema_validator import OAS30Validator, oas30_format_checker

SPEC_PATH = Path(
    os.environ.get(
        "SPOTIFY_OPENAPI_SPEC",
        Path(__file__).resolve().parent / "openapi" / "fixed-spotify-open-api.yml",
    )
)

REF = "#/components/schemas/"
DISCRIMINATORS = {"track": REF + "TrackObject", "episode": REF + "EpisodeObject"}
NOT_REQUIRED: dict[str, tuple[str, ...]] = {"AlbumObject": ("label", "popularity")}
NULLABLE: dict[str, tuple[str, ...]] = {
    "PlaylistTrackObject": ("added_at", "added_by", "item", "track"),
    "SimplifiedPlaylistObject": ("public",),
    "PlaylistObject": ("public",),
    "CursorPagingObject": ("next",),
    "CursorObject": ("after",),
    # local files
    "TrackObject": ("id", "href"),
    "AlbumBase": ("album_type", "href", "id", "release_date", "release_date_precision", "uri"),
    "SimplifiedArtistObject": ("href", "id", "uri"),
}
#: error statuses the spec does not list per operation, and where their body shape lives
SHARED_RESPONSES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 429: "TooManyRequests"}
ITEMS = "/v1/playlists/{id}/items"
ERROR_BODY = {"type": "object", "required": ["error"], "properties": {"error": {"$ref": REF + "ErrorObject"}}}
WRAPPED_ERRORS = (("/me/library", "put"), ("/me/library", "delete"), ("/me/library/contains", "get"))


def corrected(spec: dict[str, Any], relax_nulls: bool) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    schemas = spec["components"]["schemas"]
    for name in ("PlaylistTrackObject", "CurrentlyPlayingObject"):
        for prop in ("item", "track"):
            discriminated = schemas[name]["properties"].get(prop)
            if discriminated and "discriminator" in discriminated:
                discriminated["discriminator"]["mapping"] = dict(DISCRIMINATORS)
    for name, fields in NOT_REQUIRED.items():
        schemas[name]["required"] = [f for f in schemas[name]["required"] if f not in fields]
    for path, method in WRAPPED_ERRORS:
        spec["paths"][path][method]["responses"]["400"]["content"]["application/json"]["schema"] = copy.deepcopy(
            ERROR_BODY
        )
    if relax_nulls:
        for name, fields in NULLABLE.items():
            holder = (
                schemas[name]
                if "properties" in schemas[name]
                else next(part for part in schemas[name]["allOf"] if "properties" in part)
            )
            for field in fields:
                holder["properties"][field] = {"anyOf": [{"enum": [None]}, holder["properties"][field]]}
    return spec


@cache
def _load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as stream:
        loaded: dict[str, Any] = yaml.load(stream, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return loaded


class SpecValidator:
    """Checks a (path template, status, body) as recorded by ``SpotifySimulator(record=True)``."""

    def __init__(self, path: Path = SPEC_PATH) -> None:
        raw = _load(path)
        self.specs = {False: corrected(raw, relax_nulls=False), True: corrected(raw, relax_nulls=True)}
        self._validators: dict[tuple[str, str, int, bool], Any] = {}

    def response_schema(
        self, template: str, status: int, relaxed: bool = True, method: str = "GET"
    ) -> dict[str, Any] | None:
        """The schema of a body, or None where the spec documents an answer without one."""
        spec = self.specs[relaxed]
        path = re.sub(r"/playlists/\{id\}", "/playlists/{playlist_id}", template.removeprefix("/v1"))
        operation = spec["paths"].get(path, {}).get(method.lower(), {})
        response = operation.get("responses", {}).get(str(status))
        if response is None and status in SHARED_RESPONSES:
            response = {"$ref": "#/components/responses/" + SHARED_RESPONSES[status]}
        if response is None:
            if status < 400:
                raise LookupError(f"the spec has no {status} answer for {method} {template}")
            return ERROR_BODY  # 5xx: the spec lists none; Spotify sends its usual error body
        if "$ref" in response:
            response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
        if "content" not in response:
            return None
        schema: dict[str, Any] = response["content"]["application/json"]["schema"]
        return schema

    def errors(self, template: str, status: int, body: Any, relaxed: bool = True, method: str = "GET") -> list[str]:
        """What is wrong with ``body`` as the answer ``status`` of ``method template`` (None: no body)."""
        key = (method.upper(), template, status, relaxed)
        validator = self._validators.get(key)
        if validator is None:
            schema = self.response_schema(template, status, relaxed, method)
            if schema is None:
                return [] if body is None else [f"{method} {template} {status}: a body where the spec has none"]
            root = {**schema, "components": self.specs[relaxed]["components"]}
            validator = self._validators[key] = OAS30Validator(root, format_checker=oas30_format_checker)
        if body is None:
            return [f"{method} {template} {status}: no body where the spec has one"]
        return [_describe(template, status, e) for e in validator.iter_errors(body)]


def _describe(template: str, status: int, error: Any) -> str:
    """The most specific cause: for anyOf/oneOf, the deepest error of a branch other than "null"."""
    while error.context:
        causes = [e for e in error.context if not (e.validator == "enum" and e.validator_value == [None])]
        error = max(causes or error.context, key=lambda e: len(e.absolute_path))
    return f"{template} {status} at /{'/'.join(map(str, error.absolute_path))}: {error.message[:200]}"


def without_documented_nulls(template: str, body: Any, method: str = "GET") -> Any:
    """``body`` minus the nulls ``NULLABLE`` allows (local-file items go whole), for strict checking."""
    body = copy.deepcopy(body)
    if not isinstance(body, dict):
        return body
    full_playlist = template == "/v1/playlists/{id}" or (template == "/v1/me/playlists" and method.upper() == "POST")
    if full_playlist and body.get("public", "") is None:
        del body["public"]
    page = body if template == ITEMS else body.get("items") if full_playlist else None
    if isinstance(page, dict):
        page["items"] = [entry for entry in page.get("items", []) if not entry.get("is_local")]
        for entry in page["items"]:
            for key in ("added_at", "added_by", "item", "track"):
                if entry.get(key, "") is None:
                    del entry[key]
    elif template == "/v1/me/playlists":
        for playlist in body.get("items", []):
            if playlist.get("public", "") is None:
                del playlist["public"]
    elif template == "/v1/me/following" and isinstance(body.get("artists"), dict):
        artists = body["artists"]
        if artists.get("next", "") is None:
            del artists["next"]
        if artists.get("cursors", {}).get("after", "") is None:
            del artists["cursors"]["after"]
    return body
