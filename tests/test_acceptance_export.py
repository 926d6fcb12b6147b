"""`spotify-exporter export` as acceptance runs it: against a different, spec-written stand-in
(``acceptance_standin``), checked with the contract's own words (``acceptance_contract``)."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from acceptance_contract import check_snapshot, read_csv
from acceptance_standin import JANE, LONG_NAME, StandinSpotify, World, build_world
from dotenv import dotenv_values

from spotify_simulator.spec import SPEC_PATH, SpecValidator

EXPORTER = [sys.executable, "-m", "spotify_exporter.cli"]


@pytest.fixture
def world() -> Iterator[World]:
    with StandinSpotify() as standin:
        yield build_world(standin)


def run_cli(
    world: World, args: list[str], cwd: Path, token: str | None = None, **settings: str
) -> subprocess.CompletedProcess[str]:
    """The command as a user runs it: settings in the environment, credentials in ``.env``."""
    env_file = cwd / ".env"
    if token is not None or not env_file.exists():
        env_file.write_text(world.standin.env_file_text(token or world.jane_token))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOTIFY_")}
    env.update(SPOTIFY_API_URL=world.standin.api_url, SPOTIFY_ACCOUNTS_URL=world.standin.accounts_url)
    env.update(settings)
    return subprocess.run(
        [*EXPORTER, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def snapshots(root: Path, account: str = JANE) -> list[Path]:
    return sorted(p for p in (root / account).iterdir() if (p / "manifest.json").exists())


def json_lines(path: Path) -> list[Any]:
    return [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]


#: where the stand-in sends null although the fixed spec's schema has no ``nullable`` (template, field
#: of a page element; None: the element itself), and why
DOCUMENTED_NULLS: tuple[tuple[str, str | None], ...] = (
    # a null element in a page: Spotify is known to send them (issue 12)
    ("/v1/me/tracks", None),
    # "description: ... Only returned for modified, verified playlists, otherwise null" (the spec's prose)
    ("/v1/me/playlists", "description"),
    # a playlist without images has had "images": null since 2024 (jpochyla/psst#464, aome510/spotify-player#401)
    ("/v1/me/playlists", "images"),
)


def without_documented_nulls(template: str, body: Any) -> Any:
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        return body
    items = body["items"]
    for known, field in DOCUMENTED_NULLS:
        if known != template:
            continue
        if field is None:
            items = [item for item in items if item is not None]
            continue
        for item in items:
            if isinstance(item, dict) and item.get(field, "") is None:
                del item[field]
    return {**body, "items": items}


def test_the_standin_answers_as_the_spec_says(world: World, tmp_path: Path) -> None:
    """The stand-in is a legal Spotify: every answer the export got validates against the spec."""
    result = run_cli(world, ["export"], tmp_path)
    assert result.returncode == 0, result.stderr
    validator = SpecValidator()
    checked = 0
    for method, template, status, body in world.standin.answers:
        if template.startswith("/v1/"):
            copy = json.loads(json.dumps(body))
            assert validator.errors(template, status, without_documented_nulls(template, copy), method=method) == []
            checked += 1
    assert checked >= 15


def test_the_export_meets_the_contract_against_another_standin(world: World, tmp_path: Path) -> None:
    standin = world.standin
    standin.first_retry_after = "1"  # the very first API request: 429, Retry-After 1
    standin.tokens.rotate_on = {2}  # the second token answer carries a new refresh token; the old one dies
    standin.tokens.expires_after = 6  # and each access token dies after 6 requests: 401 mid-run

    result = run_cli(world, ["export"], tmp_path)

    assert result.returncode == 0, result.stderr
    (folder,) = snapshots(tmp_path / "backups")
    assert check_snapshot(folder, JANE) == []
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["requests"] == len(standin.requests)  # every request counted, the 429 and 401s too
    assert manifest["retries"] >= 2
    assert manifest["datasets"]["audiobooks"]["status"] != "complete"
    assert any("audiobooks" in warning for warning in manifest["warnings"])
    # the rotated refresh token was kept where it came from: the next run is not refused
    kept = dotenv_values(tmp_path / ".env")["SPOTIFY_REFRESH_TOKEN"]
    assert kept != world.jane_token and standin.tokens.refresh_tokens.get(str(kept)) == JANE
    assert run_cli(world, ["export", "--full"], tmp_path).returncode == 0

    _, library = read_csv(folder / "library.csv")
    assert [row["track_name"] for row in library][:2] == ["'=SUM(A1:A2)", "'+1 (Remix)"]
    assert library[1]["isrc"] == "" and library[1]["artists"] == "Ezra Collective; Björk"
    assert library[5]["track_name"] == 'Quote "and", comma\r\nnew line'
    assert library[6]["track_name"] == LONG_NAME and library[7]["track_name"] == "'\tTabbed"
    assert json_lines(folder / "json/library.jsonl.gz")[0]["track"]["name"] == "=SUM(A1:A2)"  # exact in JSON

    _, playlists = read_csv(folder / "playlists.csv")
    by_name = {row["playlist_name"]: row for row in playlists}
    assert [row["items_status"] for row in playlists] == ["exported", "exported", "forbidden", "exported", "exported"]
    assert by_name["Shared 🎧"]["item_count"] == "2"  # the older "tracks" ref
    assert by_name['\'=HYPERLINK("http://x")']["public"] == ""  # public null: an empty cell
    assert by_name["Road Trip ☀️ / 2024"]["description"] == "Songs for the road & more <3"

    _, items = read_csv(folder / "playlist_items.csv")
    road = [row for row in items if row["playlist_id"] == world.playlists["road"].id]
    assert [row["item_type"] for row in road] == [
        "track", "track", "episode", "local", "unavailable", "track", "track", "track",
    ]  # fmt: skip
    assert [row["position"] for row in road] == [str(n) for n in range(8)]
    assert road[1]["track_name"] == "'+1 (Remix)"  # the deprecated "track" key alone
    assert road[2]["track_name"] == "First episode"  # "item" alone
    assert road[3]["track_uri"].startswith("spotify:local:") and road[3]["track_name"] == "Demo take 3"
    assert road[3]["artists"] == "Jane's Band" and road[3]["album"] == "Garage Tapes"
    assert (road[4]["added_at"], road[4]["added_by"]) == ("1970-01-01T00:00:00Z", "")
    assert road[7]["added_at"] == ""
    assert (folder / f"covers/{world.playlists['road'].id}.jpg").read_bytes().startswith(b"\xff\xd8\xff")

    _, artists = read_csv(folder / "artists.csv")
    assert sorted(row["artist_name"] for row in artists) == ["'=Minus", "'@Handle", "Björk", "Ezra Collective", "فيروز"]
    assert {row["artist_name"]: row["genres"] for row in artists}["Björk"] == "art pop; icelandic pop"


def test_paging_links_that_name_spotifys_own_api_host_are_followed_on_the_configured_one(
    world: World, tmp_path: Path
) -> None:
    """Spotify's links always name ``https://api.spotify.com/v1``; behind a gateway (or a stand-in
    replaying recorded answers) they still do. They are read from the configured API host: the
    token goes nowhere else, and no dataset fails for it."""
    world.standin.link_base = "https://api.spotify.com/v1"
    result = run_cli(world, ["export"], tmp_path)
    assert result.returncode == 0, result.stderr
    (folder,) = snapshots(tmp_path / "backups")
    assert check_snapshot(folder, JANE) == []
    _, library = read_csv(folder / "library.csv")
    assert len(library) == 8  # three pages of three (one null element)


def test_a_playlist_spotify_lists_twice_is_exported_once(world: World, tmp_path: Path) -> None:
    """``/me/playlists`` has been seen listing one playlist twice (a Blend:
    MaximoMachado/spotify-playlist-manager#40); it is one playlist, with one set of items."""
    jane = world.standin.accounts[JANE]
    road = world.playlists["road"].id
    jane.playlists.insert(3, road)
    result = run_cli(world, ["export"], tmp_path)
    assert result.returncode == 0, result.stderr
    (folder,) = snapshots(tmp_path / "backups")
    assert check_snapshot(folder, JANE) == []
    _, playlists = read_csv(folder / "playlists.csv")
    assert [row["playlist_id"] for row in playlists].count(road) == 1
    assert len(playlists) == 5
    reads = [path for method, path, _ in world.standin.requests if path == f"/v1/playlists/{road}/items"]
    assert len(reads) == 3  # its three pages, once
    manifest = json.loads((folder / "manifest.json").read_text())
    assert any("twice" in warning for warning in manifest["warnings"])


def test_a_long_ban_mid_playlist_ends_partial_and_a_resume_finishes_that_snapshot(world: World, tmp_path: Path) -> None:
    world.standin.ban_from = 8  # the second page of the first playlist's items: Retry-After two hours
    first = run_cli(world, ["export"], tmp_path)
    assert first.returncode == 2, first.stderr
    assert "run the export again after" in first.stderr
    (folder,) = snapshots(tmp_path / "backups")
    assert check_snapshot(folder, JANE) == []
    assert json.loads((folder / "manifest.json").read_text())["status"] == "partial"

    world.standin.ban_from = None
    resumed = run_cli(world, ["export", "--resume"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert snapshots(tmp_path / "backups") == [folder]
    assert check_snapshot(folder, JANE) == []
    assert json.loads((folder / "manifest.json").read_text())["status"] == "complete"

    assert run_cli(world, ["export", "--full"], tmp_path).returncode == 0
    _, straight = snapshots(tmp_path / "backups")
    for name in ("library.csv", "playlists.csv", "playlist_items.csv", "artists.csv", "episodes.csv"):
        assert read_csv(folder / name) == read_csv(straight / name), name


def test_the_accounts_url_may_name_the_token_endpoint_itself(world: World, tmp_path: Path) -> None:
    """``SPOTIFY_ACCOUNTS_URL`` is the accounts service; its token endpoint's URL works as well."""
    token_url = world.standin.accounts_url + "/api/token/"
    result = run_cli(world, ["export"], tmp_path, SPOTIFY_ACCOUNTS_URL=token_url)
    assert result.returncode == 0, result.stderr


def spec_operations() -> list[tuple[str, re.Pattern[str], dict[str, Any]]]:
    """(method, path pattern, operation) of every operation in the spec, parameters resolved."""
    spec = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    shared = spec["components"]["parameters"]
    found = []
    for path, operations in spec["paths"].items():
        pattern = re.compile("/v1" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$")
        for method, operation in operations.items():
            params = [
                shared[p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p for p in operation.get("parameters", [])
            ]
            found.append((method.upper(), pattern, {**operation, "parameters": params}))
    return found


def test_every_request_is_one_the_spec_documents(world: World, tmp_path: Path) -> None:
    """What the exporter and the restore send: documented operations, documented query parameters,
    required ones present, numbers in their documented range."""
    assert run_cli(world, ["export"], tmp_path).returncode == 0
    target = tmp_path / "target"
    target.mkdir()
    restored = run_cli(world, ["restore", "latest", "--out", str(tmp_path / "backups")], target, world.target_token)
    assert restored.returncode == 0, restored.stderr
    operations = spec_operations()
    for method, path, sent in world.standin.requests:
        query = {k: v for k, v in sent.items() if k != "locale"}  # the stand-in's own, in its next links
        operation = next((op for m, pattern, op in operations if m == method and pattern.match(path)), None)
        assert operation is not None, f"{method} {path} is not in the spec"
        assert not operation.get("deprecated") or path == "/v1/me/following", f"{method} {path} is deprecated"
        params = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
        assert set(query) <= set(params), f"{method} {path}: {set(query) - set(params)} undocumented"
        assert {n for n, p in params.items() if p.get("required")} <= set(query), f"{method} {path}"
        for name, value in query.items():
            schema = params[name].get("schema", {})
            if schema.get("type") == "integer":
                assert schema.get("minimum", 0) <= int(value) <= schema.get("maximum", 10**9), (path, name, value)


def test_settings_may_sit_in_dotenv_beside_the_credentials(world: World, tmp_path: Path) -> None:
    """``.env`` holds the client settings too (``SPOTIFY_API_URL`` ...), the environment winning."""
    standin = world.standin
    (tmp_path / ".env").write_text(
        standin.env_file_text(world.jane_token)
        + f"SPOTIFY_API_URL={standin.api_url}\nSPOTIFY_ACCOUNTS_URL={standin.accounts_url}\n"
        + "SPOTIFY_MAX_ATTEMPTS=not-a-number\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOTIFY_")}
    env["SPOTIFY_MAX_ATTEMPTS"] = "3"  # the environment wins over the file
    result = subprocess.run(
        [*EXPORTER, "export"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert len(snapshots(tmp_path / "backups")) == 1
