"""The simulator's hostile answers (``Faults`` of issue 12) do what they say, seen by a plain client.

The exporter's hardening tests trust these fault modes; these tests are why they may.
"""

from __future__ import annotations

import gzip
import statistics

import pytest
import requests

from spotify_simulator import Faults, SpotifySimulator, build_account


def session_for(sim: SpotifySimulator) -> requests.Session:
    grant = {"grant_type": "refresh_token", "refresh_token": sim.refresh_token}
    answer = requests.post(f"{sim.accounts_url}/api/token", data=grant, auth=(sim.client_id, sim.client_secret))
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
    return session


def test_a_dropped_connection_gets_no_answer_at_all() -> None:
    with (
        SpotifySimulator(build_account("tiny"), faults=Faults(drop_rate=1.0)) as sim,
        pytest.raises(requests.ConnectionError),
    ):
        session_for(sim).get(f"{sim.api_url}/me", timeout=5)


def test_a_cut_body_stops_before_the_length_its_headers_announced() -> None:
    with (
        SpotifySimulator(build_account("tiny"), faults=Faults(cut_body_rate=1.0)) as sim,
        pytest.raises(requests.exceptions.ChunkedEncodingError),
    ):
        session_for(sim).get(f"{sim.api_url}/me/tracks", timeout=5)


def test_a_drip_sends_one_byte_at_a_time() -> None:
    with SpotifySimulator(build_account("tiny"), faults=Faults(drip=("/v1/me",), drip_interval_s=0.001)) as sim:
        response = session_for(sim).get(f"{sim.api_url}/me", timeout=5, stream=True)
        chunks = list(iter(lambda: response.raw.read1(1 << 16), b""))  # what each read finds there
    # a byte at a time on the wire; a reader slowed by a busy machine may find a few waiting at once
    assert len(chunks) > 10 and statistics.median(len(chunk) for chunk in chunks) <= 2
    assert b"".join(chunks).startswith(b"{")


@pytest.mark.parametrize("bomb", [False, True])
def test_a_huge_body_is_a_valid_page_and_a_bomb_is_small_on_the_wire(bomb: bool) -> None:
    faults = Faults(huge_body=("/v1/me/shows",), huge_body_bytes=5 << 20, gzip_bomb=bomb)
    with SpotifySimulator(build_account("tiny"), faults=faults) as sim:
        response = session_for(sim).get(f"{sim.api_url}/me/shows", timeout=10, stream=True)
        wire = response.raw.read(decode_content=False)
    assert response.headers.get("Content-Encoding") == ("gzip" if bomb else None)
    body = gzip.decompress(wire) if bomb else wire
    assert len(body) == 5 << 20 and body.startswith(b'{"href"') and body.endswith(b"}")
    assert (len(wire) < 100_000) == bomb


def test_errors_echo_the_request_credentials_included() -> None:
    faults = Faults(echo_errors=True, unavailable={"/v1/me/shows": 400})
    with SpotifySimulator(build_account("tiny"), faults=faults) as sim:
        session = session_for(sim)
        message = session.get(f"{sim.api_url}/me/shows", timeout=5).json()["error"]["message"]
        assert session.headers["Authorization"] in message
        refused = requests.post(
            f"{sim.accounts_url}/api/token", data={"grant_type": "refresh_token", "refresh_token": "nope"},
            auth=(sim.client_id, sim.client_secret), timeout=5,
        ).json()  # fmt: skip
    assert "refresh_token=nope" in refused["error_description"] and "Basic " in refused["error_description"]


def test_the_token_endpoint_can_redirect_elsewhere() -> None:
    with SpotifySimulator(build_account("tiny"), faults=Faults(token_redirect="http://127.0.0.1:9/steal")) as sim:
        response = requests.post(f"{sim.accounts_url}/api/token", data={}, allow_redirects=False, timeout=5)
    assert response.status_code == 307 and response.headers["Location"] == "http://127.0.0.1:9/steal"


def test_null_elements_and_a_stuck_next_are_served_as_described() -> None:
    faults = Faults(null_elements=("/v1/me/tracks",), repeat_next=("/v1/me/tracks",))
    with SpotifySimulator(build_account("small"), faults=faults) as sim:
        session = session_for(sim)
        first = session.get(f"{sim.api_url}/me/tracks?limit=50", timeout=5).json()
        second = session.get(first["next"], timeout=5).json()
    assert first["items"][0] is None and all(first["items"][1:]) and first["total"] == 201
    assert second["items"][0] is None and second["offset"] == 50 and "offset=50" in second["next"]


@pytest.mark.parametrize(
    ("host", "failure"),
    [("down", requests.ConnectionError), ("black hole", requests.Timeout), ("not an image", None)],
)
def test_image_hosts_fail_the_way_they_say(host: str, failure: type[Exception] | None) -> None:
    account = build_account("tiny")
    with SpotifySimulator(account, faults=Faults(image_host=host)) as sim:
        session = session_for(sim)
        playlists = session.get(f"{sim.api_url}/me/playlists?limit=50", timeout=5).json()["items"]
        urls = [p["images"][0]["url"] for p in playlists if p["images"] and "/image/ab67706c" in p["images"][0]["url"]]
        assert urls
        if failure is None:
            answer = requests.get(urls[0], timeout=5)
            assert answer.status_code == 200 and not answer.content.startswith(b"\xff\xd8")
            return
        for _ in range(3):  # the black hole takes one connection, then none: timeouts either way
            with pytest.raises(failure):
                requests.get(urls[0], timeout=0.3)


def test_a_redirecting_image_host_points_at_another_host_name() -> None:
    with SpotifySimulator(build_account("tiny"), faults=Faults(image_host="redirect")) as sim:
        session = session_for(sim)
        playlists = session.get(f"{sim.api_url}/me/playlists?limit=50", timeout=5).json()["items"]
        url = next(
            p["images"][0]["url"] for p in playlists if p["images"] and "/image/ab67706c" in p["images"][0]["url"]
        )
        answer = requests.get(url, allow_redirects=False, timeout=5)
    assert answer.status_code == 302 and answer.headers["Location"].startswith(f"http://localhost:{sim.port}/image/")
