"""Answers the spec allows that our own simulator never gives, from the spec-written stand-in: a
``429`` with ``Retry-After`` from the token endpoint, cursor pages that say where to go on only
with ``cursors.after``, and relative ``next`` links."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from acceptance_contract import check_snapshot, read_csv
from acceptance_standin import JANE, StandinSpotify, World, build_world
from test_acceptance_export import run_cli, snapshots

#: a quick retry policy for the runs that back off (the CLI sleeps for real)
QUICK_BACKOFF = {"SPOTIFY_MAX_ATTEMPTS": "3", "SPOTIFY_BACKOFF_INITIAL_S": "0.05", "SPOTIFY_BACKOFF_MAX_S": "0.1"}


@pytest.fixture
def world() -> Iterator[World]:
    with StandinSpotify() as standin:
        yield build_world(standin)


def manifest_of(folder: Path) -> dict[str, Any]:
    return dict(json.loads((folder / "manifest.json").read_text()))


def export_failing(world: World, tmp_path: Path, dataset: str) -> tuple[Path, dict[str, Any]]:
    """Export; the run ends partial with ``dataset`` failed: the snapshot and that dataset's manifest entry."""
    result = run_cli(world, ["export"], tmp_path)
    assert result.returncode == 2, result.stderr
    (folder,) = snapshots(tmp_path / "backups")
    entry = manifest_of(folder)["datasets"][dataset]
    assert entry["status"] == "failed"
    return folder, entry


def ban_the_token_endpoint_mid_run(world: World, retry_after: str, seconds: float | None = None) -> None:
    """Access tokens die after 6 requests (a 401, then a refresh); from the second token request on
    the token endpoint answers 429 with this ``Retry-After`` (for ``seconds``; None: until lifted)."""
    standin = world.standin
    standin.tokens.expires_after = 6
    standin.token_ban_from, standin.token_retry_after, standin.token_ban_s = 2, retry_after, seconds


# -- a 429 from the token endpoint ------------------------------------------------------------


def test_a_short_retry_after_from_the_token_endpoint_is_waited_out_not_guessed(world: World, tmp_path: Path) -> None:
    ban_the_token_endpoint_mid_run(world, "2", seconds=2.0)
    result = run_cli(world, ["export"], tmp_path)

    assert result.returncode == 0, result.stderr
    (folder,) = snapshots(tmp_path / "backups")
    assert check_snapshot(folder, JANE) == []
    assert world.standin.token_429s == 1
    assert world.standin.early_token_requests == 0, "no token request before its Retry-After had passed"
    manifest = manifest_of(folder)
    assert manifest["status"] == "complete"
    assert float(str(manifest["rate_limit_wait_s"])) >= 2.0, "the wait counts in the run's rate-limit budget"


def test_a_long_ban_of_the_token_endpoint_ends_the_run_partial_with_the_time_to_try_again(
    world: World, tmp_path: Path
) -> None:
    standin = world.standin
    ban_the_token_endpoint_mid_run(world, "7200")
    first = run_cli(world, ["export"], tmp_path)

    assert first.returncode == 2, first.stderr
    assert "rate-limited this app for 2 h 0 min; run the export again after" in first.stderr
    assert standin.token_429s == 1, "the token request is not tried again into a ban"
    (folder,) = snapshots(tmp_path / "backups")
    assert check_snapshot(folder, JANE) == []
    manifest = manifest_of(folder)
    assert manifest["status"] == "partial"
    assert "run the export again after" in str(manifest["error"])
    client = f"{standin.tokens.client_id}:{standin.tokens.client_secret}"
    secrets = {
        standin.tokens.client_secret,
        base64.b64encode(client.encode()).decode(),
        world.jane_token,
        *standin.tokens.access,
    }
    written = b"".join(path.read_bytes() for path in (tmp_path / "backups").rglob("*") if path.is_file())
    for secret in secrets:
        assert secret not in first.stdout and secret not in first.stderr
        assert secret.encode() not in written

    standin.token_ban_from = None
    resumed = run_cli(world, ["export", "--resume"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert manifest_of(folder)["status"] == "complete"


@pytest.mark.parametrize(
    ("header", "message", "token_429s"),
    [
        ("nan", "kept answering 429 (too many requests) without saying for how long", 3),
        ("-5", "kept answering 429 (too many requests) without saying for how long", 3),
        ("inf", "rate-limited this app for 168 h 0 min; run the export again after", 1),
    ],
)
def test_odd_retry_after_values_from_the_token_endpoint_pass_the_same_guard_as_the_apis(
    world: World, tmp_path: Path, header: str, message: str, token_429s: int
) -> None:
    """No usable wait: backed off ``SPOTIFY_MAX_ATTEMPTS`` times in all, then partial; an infinite one is a ban."""
    ban_the_token_endpoint_mid_run(world, header)
    result = run_cli(world, ["export"], tmp_path, **QUICK_BACKOFF)

    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert world.standin.token_429s == token_429s
    (folder,) = snapshots(tmp_path / "backups")
    assert manifest_of(folder)["status"] == "partial"


# -- cursor pages that go on only by cursors.after ---------------------------------------------


def following_requests(world: World) -> list[dict[str, str]]:
    return [query for method, path, query in world.standin.requests if path == "/v1/me/following"]


def artist_names(folder: Path) -> list[str]:
    return sorted(row["artist_name"] for row in read_csv(folder / "artists.csv")[1])


@pytest.mark.parametrize("form", ["null next", "empty next", "no next"])
def test_cursor_pages_without_a_next_link_go_on_after_their_cursor(world: World, tmp_path: Path, form: str) -> None:
    world.standin.cursor_paging = form
    result = run_cli(world, ["export"], tmp_path)

    assert result.returncode == 0, result.stderr
    (folder,) = snapshots(tmp_path / "backups")
    assert check_snapshot(folder, JANE) == []
    assert artist_names(folder) == ["'=Minus", "'@Handle", "Björk", "Ezra Collective", "فيروز"]
    first, second = following_requests(world)
    assert "after" not in first
    assert second == {**first, "after": sorted(a["id"] for a in world.standin.accounts[JANE].artists)[2]}


def test_a_cursor_that_does_not_advance_ends_the_dataset_failed_not_in_a_loop(world: World, tmp_path: Path) -> None:
    world.standin.cursor_paging, world.standin.page_cap = "stuck", 2
    folder, artists = export_failing(world, tmp_path, "artists")
    assert "paging of /me/following repeated a page after 4 of 5 items" in artists["error"]
    assert len(following_requests(world)) == 2, "the repeated cursor is not asked for again"
    assert len(artist_names(folder)) == 4, "what was read is kept"


def test_without_a_total_a_page_with_no_next_is_the_end(world: World, tmp_path: Path) -> None:
    world.standin.cursor_paging = "no total"
    result = run_cli(world, ["export"], tmp_path)

    assert result.returncode == 0, result.stderr
    (folder,) = snapshots(tmp_path / "backups")
    assert len(following_requests(world)) == 1, "no request is made up"
    assert len(artist_names(folder)) == 3


# -- relative next links ----------------------------------------------------------------------


@pytest.mark.parametrize("form", ["path", "relative"])
def test_relative_next_links_are_resolved_against_the_request_that_returned_them(
    world: World, tmp_path: Path, form: str
) -> None:
    """``/v1/me/tracks?offset=3...`` or ``tracks?offset=3...``: the next page of the same collection."""
    world.standin.link_form = form
    result = run_cli(world, ["export"], tmp_path)

    assert result.returncode == 0, result.stderr
    (folder,) = snapshots(tmp_path / "backups")
    assert check_snapshot(folder, JANE) == []
    assert manifest_of(folder)["status"] == "complete"
    assert len(read_csv(folder / "library.csv")[1]) == 8  # three pages of three (one null element)
    assert len(read_csv(folder / "artists.csv")[1]) == 5  # the cursor pages' next links too
    paths = {path for _, path, _ in world.standin.requests}
    assert not any(path.startswith("/v1/v1/") or "/me/me/" in path for path in paths)


def test_a_relative_link_to_another_host_gets_no_token(world: World, tmp_path: Path) -> None:
    """``//elsewhere.invalid/v1/me/tracks?...`` resolves to another host: refused, as an absolute one is."""
    world.standin.link_base = "//elsewhere.invalid/v1"
    _, library = export_failing(world, tmp_path, "library")
    assert "a paging link to another host (elsewhere.invalid)" in library["error"]
