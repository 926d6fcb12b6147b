"""Odd, broken and hostile answers from Spotify: each ends in a complete, partial or failed run with
one clear line, never a crash, a hang or a loop (issue 12). All through the simulator over HTTP."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from exporter_fixtures import NoSleep, cli_env, export_account, run_cli, write_env_file
from snapshot_checks import DATASETS, assert_matches_truth, read_csv, verify_snapshot

from spotify_exporter.authorize import AuthorizationError, exchange_code, new_request
from spotify_exporter.errors import ExporterError
from spotify_exporter.export import ExportResult
from spotify_exporter.retries import RETRY_AFTER_CAP_S, retry_after_seconds
from spotify_exporter.stores.local import LocalFolderStore
from spotify_simulator import Faults, SpotifySimulator

Simulator = Callable[..., SpotifySimulator]
PAGED = {
    "library": "/v1/me/tracks",
    "albums": "/v1/me/albums",
    "artists": "/v1/me/following",
    "shows": "/v1/me/shows",
    "episodes": "/v1/me/episodes",
    "audiobooks": "/v1/me/audiobooks",
    "playlists": "/v1/me/playlists",
}


def _export_into_429s(
    simulator: Simulator, tmp_path: Path, header: str, max_attempts: int = 6
) -> tuple[SpotifySimulator, ExportResult, NoSleep]:
    """An export where ``/me`` answers and every liked-songs request is a 429 with this ``Retry-After``."""
    sim = simulator("tiny", faults=Faults(unavailable={"/v1/me/tracks": 429}, retry_after_header=header))
    sleep = NoSleep()
    env_file = write_env_file(tmp_path / ".env", sim)
    result = export_account(sim, LocalFolderStore(tmp_path), env_file, sleep=sleep, max_attempts=max_attempts)
    return sim, result, sleep


def truth(sim: SpotifySimulator) -> dict[str, list[dict[str, str]]]:
    return {name: sim.expected_rows(name) for name in DATASETS}


# -- the pager --------------------------------------------------------------------------------


def test_null_elements_in_any_page_are_skipped_with_a_warning_and_nothing_else_is_lost(
    simulator: Simulator, tmp_path: Path
) -> None:
    everywhere = (*PAGED.values(), "/v1/playlists/{id}/items")
    sim = simulator("small", faults=Faults(null_elements=everywhere))
    expected = truth(sim)
    store = LocalFolderStore(tmp_path)
    result = export_account(sim, store, write_env_file(tmp_path / ".env", sim))

    assert result.status == "complete", result.manifest
    manifest = verify_snapshot(store, result.folder)
    # the first element of every page (every 50th) came as null: exactly those rows are missing
    for name in ("library", "albums", "artists", "shows", "episodes", "audiobooks"):
        assert manifest["datasets"][name]["skipped_elements"] >= 1, name
        expected[name] = [row for index, row in enumerate(expected[name]) if index % 50]
    playlists = expected["playlists"]
    expected["playlists"] = [row for index, row in enumerate(playlists) if index % 50]
    listed = {row["playlist_id"] for row in expected["playlists"]}
    expected["playlist_items"] = [
        row for row in expected["playlist_items"] if int(row["position"]) % 50 and row["playlist_id"] in listed
    ]
    for name in ("playlists", "playlist_items"):
        expected[name] = [dict(row, item_count=row.get("item_count", "")) for row in expected[name]]
    _, items = read_csv(store, f"{result.folder}/playlist_items.csv")
    assert {int(row["position"]) % 50 for row in items} == set(range(1, 50)), "positions stay Spotify's"
    assert_matches_truth(store, result.folder, {k: v for k, v in expected.items() if k != "playlists"})
    assert any("empty element(s) (null)" in warning for warning in manifest["warnings"])


def test_a_next_link_stuck_at_one_offset_ends_that_dataset_as_failed_not_in_a_loop(
    simulator: Simulator, tmp_path: Path
) -> None:
    sim = simulator("small", faults=Faults(repeat_next=("/v1/me/tracks",)))
    store = LocalFolderStore(tmp_path)
    result = export_account(sim, store, write_env_file(tmp_path / ".env", sim), sleep=NoSleep())

    manifest = verify_snapshot(store, result.folder)
    assert result.status == "partial"
    library = manifest["datasets"]["library"]
    assert library["status"] == "failed"
    assert "paging of /me/tracks repeated a page after 100 of 201 items" in library["error"]
    assert library["count"] == 100, "the rows read before the repeat are kept"
    assert sim.counters[("/v1/me/tracks", 200)] == 2, "the repeated page is not asked for again"
    assert manifest["datasets"]["albums"]["status"] == "complete"


def test_a_next_link_on_the_last_page_is_the_end_once_everything_announced_was_read(
    simulator: Simulator, tmp_path: Path
) -> None:
    # the small account's albums fill two pages (57): the second one links to itself
    sim = simulator("small", faults=Faults(repeat_next=("/v1/me/albums",)))
    store = LocalFolderStore(tmp_path)
    result = export_account(sim, store, write_env_file(tmp_path / ".env", sim))

    assert result.status == "complete"
    assert_matches_truth(store, result.folder, {"albums": sim.expected_rows("albums")})


# -- the retry policy -------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["0", "-5", "nan", "NaN", "-inf", "Thu, 01 Jan 1970 00:00:00 GMT", "soon"])
def test_a_retry_after_that_gives_no_usable_wait_backs_off_a_bounded_number_of_times(
    simulator: Simulator, tmp_path: Path, header: str
) -> None:
    sim, result, sleep = _export_into_429s(simulator, tmp_path, header, max_attempts=4)

    assert result.status == "partial"
    assert "kept answering 429 (too many requests) without saying for how long" in result.manifest["error"]
    assert sim.requests_total == 1 + 4, "/me, four attempts, then nothing more is sent"
    assert len(sleep.waits) == 3 and all(wait > 0 for wait in sleep.waits), "never a retry at once"
    assert {entry["status"] for entry in result.manifest["datasets"].values()} == {"failed", "skipped"}


@pytest.mark.parametrize("header", ["inf", "1e12", "Infinity", "99999999999999999999999999999999999999"])
def test_an_infinite_or_huge_retry_after_is_a_ban_that_ends_the_run_as_partial(
    simulator: Simulator, tmp_path: Path, header: str
) -> None:
    sim, result, sleep = _export_into_429s(simulator, tmp_path, header)

    assert result.status == "partial"
    manifest = verify_snapshot(LocalFolderStore(tmp_path), result.folder)
    assert "rate-limited this app for 168 h 0 min; run the export again after" in manifest["error"]
    assert sleep.waits == []
    assert sim.requests_total == 2, "/me, then one 429, then nothing"


def test_retry_after_values_are_bounded_in_one_place() -> None:
    now = datetime(2026, 11, 25, 1, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("1e12", now) == RETRY_AFTER_CAP_S
    assert retry_after_seconds("Fri, 31 Dec 9999 23:59:59 GMT", now) == RETRY_AFTER_CAP_S
    assert retry_after_seconds("Wed, 25 Nov 2026 01:00:10 -0000", now) == 10.0
    for useless in ("0", "-1", "nan", "", "Wed, 25 Nov 2026 00:59:00 GMT"):
        assert retry_after_seconds(useless, now) is None


# -- the transport: cut, dropped, dripping and oversized answers -------------------------------


def test_cut_bodies_and_dropped_connections_are_retried_into_a_complete_exact_snapshot(
    simulator: Simulator, tmp_path: Path
) -> None:
    sim = simulator("demo", faults=Faults(cut_body_rate=0.05, drop_rate=0.05, seed=11))
    store = LocalFolderStore(tmp_path)
    result = export_account(sim, store, write_env_file(tmp_path / ".env", sim), sleep=NoSleep())

    assert result.status == "complete", result.manifest
    assert result.manifest["retries"] > 0
    assert_matches_truth(store, result.folder, truth(sim))


def test_a_slow_drip_is_cut_at_the_request_deadline_and_retried_a_bounded_number_of_times(
    simulator: Simulator, tmp_path: Path
) -> None:
    sim = simulator("small", faults=Faults(drip=("/v1/me/albums",)))
    store = LocalFolderStore(tmp_path)
    result = export_account(
        sim, store, write_env_file(tmp_path / ".env", sim), sleep=NoSleep(), request_deadline_s=0.3, max_attempts=2
    )

    manifest = verify_snapshot(store, result.folder)
    assert result.status == "partial"
    albums = manifest["datasets"]["albums"]
    assert albums["status"] == "failed"
    assert "after 2 attempts (no complete answer within 0.3 s)" in albums["error"]
    assert manifest["datasets"]["artists"]["status"] == "complete", "the run goes on after it"


def test_a_slow_drip_cannot_keep_a_run_past_its_time_budget(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("small", faults=Faults(drip=("/v1/me/tracks",)))
    store = LocalFolderStore(tmp_path)
    result = export_account(sim, store, write_env_file(tmp_path / ".env", sim), sleep=NoSleep(), time_budget_s=1.0)

    manifest = verify_snapshot(store, result.folder)
    assert result.status == "partial"
    assert "reached its time budget of 1 s" in manifest["error"]
    assert manifest["datasets"]["library"]["status"] == "failed"
    assert manifest["datasets"]["audiobooks"]["status"] == "skipped"


@pytest.mark.parametrize("gzip_bomb", [False, True], ids=["40 MB on the wire", "gzip bomb"])
def test_an_answer_larger_than_any_page_is_not_read_and_fails_only_its_dataset(
    simulator: Simulator, tmp_path: Path, gzip_bomb: bool
) -> None:
    sim = simulator("small", faults=Faults(huge_body=("/v1/me/shows",), gzip_bomb=gzip_bomb))
    store = LocalFolderStore(tmp_path)
    result = export_account(sim, store, write_env_file(tmp_path / ".env", sim), sleep=NoSleep())

    manifest = verify_snapshot(store, result.folder)
    shows = manifest["datasets"]["shows"]
    assert shows["status"] == "failed"
    assert "answered /v1/me/shows with more than 32 MB; it was not read" in shows["error"]
    assert sim.counters[("/v1/me/shows", 200)] == 1, "not asked again: it would answer the same"
    assert manifest["datasets"]["episodes"]["status"] == "complete"


# -- the token endpoint and secrets -----------------------------------------------------------


class Recorder:
    """A hostile host on 127.0.0.1 that notes every request it gets (and would hand out a token)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        seen = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                seen.append(("POST", self.path, body))
                answer = b'{"access_token": "stolen-access-token", "token_type": "Bearer", "expires_in": 3600}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/steal"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    stand_in = Recorder()
    yield stand_in
    stand_in.close()


def test_a_token_endpoint_that_redirects_is_not_followed_and_nothing_goes_elsewhere(
    simulator: Simulator, tmp_path: Path, recorder: Recorder
) -> None:
    sim = simulator("tiny", faults=Faults(token_redirect=recorder.url))
    with pytest.raises(ExporterError, match=r"redirect \(HTTP 307 to 127\.0\.0\.1:\d+\); it was not followed"):
        export_account(sim, LocalFolderStore(tmp_path / "b"), write_env_file(tmp_path / ".env", sim))
    assert recorder.requests == [], "the refresh token and the client secret stayed where they were"
    assert not (tmp_path / "b").exists()


def test_the_code_exchange_of_make_auth_does_not_follow_a_redirect_either(
    simulator: Simulator, recorder: Recorder
) -> None:
    sim = simulator("tiny", faults=Faults(token_redirect=recorder.url))
    request = new_request(sim.accounts_url, sim.client_id, "http://127.0.0.1:8888/callback", ("user-read-private",))
    with pytest.raises(AuthorizationError, match=r"it was not followed.*nothing was stored"):
        exchange_code(requests.Session(), sim.accounts_url, sim.client_id, sim.client_secret, request, "a-code")
    assert recorder.requests == []


def test_an_access_token_granted_for_under_a_minute_is_not_renewed_before_every_request(
    simulator: Simulator, tmp_path: Path
) -> None:
    sim = simulator("small", faults=Faults(token_lifetime_s=30))
    result = export_account(sim, LocalFolderStore(tmp_path), write_env_file(tmp_path / ".env", sim))

    assert result.status == "complete"
    assert result.manifest["requests"] > 20
    assert sim.token_requests == 1, "renewed at half its life, not before each of the requests"


@pytest.mark.parametrize("authorized_at", ["9999-12-31T23:59:59Z", "2099-01-01T00:00:00Z"])
def test_an_authorization_time_in_the_future_is_a_warning_not_a_crash(
    simulator: Simulator, tmp_path: Path, authorized_at: str
) -> None:
    sim = simulator("tiny")
    env_file = write_env_file(tmp_path / ".env", sim)
    env_file.write_text(env_file.read_text() + f"SPOTIFY_AUTHORIZED_AT={authorized_at}\n")
    result = export_account(sim, LocalFolderStore(tmp_path / "b"), env_file)

    assert result.status == "complete"
    assert any("is in the future" in warning and "make auth" in warning for warning in result.manifest["warnings"])


def test_secrets_a_server_echoes_in_its_errors_reach_no_output_no_file(simulator: Simulator, tmp_path: Path) -> None:
    faults = Faults(
        echo_errors=True,
        unavailable={"/v1/me/shows": 400, "/v1/me/audiobooks": 403, "/v1/me/episodes": 404},
        rotate_refresh_tokens=True,
    )
    sim = simulator("small", faults=faults)
    first_refresh_token = sim.refresh_token
    env_file = write_env_file(tmp_path / ".env", sim)
    env = cli_env(sim)
    del env["SPOTIFY_REFRESH_TOKEN"]
    out = tmp_path / "b"
    result = run_cli(["export", "--out", str(out), "--verbose", "--env-file", str(env_file)], env, tmp_path)

    assert result.returncode == 2, result.stderr
    manifest = json.loads(next(out.rglob("manifest.json")).read_text())
    assert "[redacted]" in manifest["datasets"]["shows"]["error"], "the server did echo the request"
    basic = base64.b64encode(f"{sim.client_id}:{sim.client_secret}".encode()).decode()
    secrets = {sim.client_secret, basic, first_refresh_token, sim.refresh_token, *sim.issued_access_tokens}
    written = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    for secret in secrets:
        assert secret not in result.stdout and secret not in result.stderr
        assert secret.encode() not in written
