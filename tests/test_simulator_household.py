"""The simulator's household: several people on one app, each token opening one account, and a
rate-limit ban on the app that ends after a set time.

Spotify's development mode admits up to five allow-listed users per app; they share its client
id and so its rate limit. These tests pin that down over real HTTP, as the exporter sees it.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from spotify_simulator import Faults, SpotifySimulator, build_account


def token_for(sim: SpotifySimulator, refresh_token: str) -> requests.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return requests.post(
        f"{sim.accounts_url}/api/token", data=data, auth=(sim.client_id, sim.client_secret), timeout=10
    )


def get(sim: SpotifySimulator, access_token: str, path: str) -> requests.Response:
    return requests.get(f"{sim.api_url}{path}", headers={"Authorization": f"Bearer {access_token}"}, timeout=10)


def test_each_refresh_token_opens_its_own_account_only() -> None:
    with SpotifySimulator(build_account("tiny", seed=1)) as sim:
        jane = sim.add_user(build_account("small", seed=2))
        assert jane.id != sim.users[0].id and jane.refresh_token != sim.refresh_token
        first = token_for(sim, sim.refresh_token).json()["access_token"]
        second = token_for(sim, jane.refresh_token).json()["access_token"]

        assert get(sim, first, "/me").json()["id"] == sim.users[0].id
        assert get(sim, second, "/me").json()["id"] == jane.id
        assert get(sim, second, "/me/tracks?limit=1").json()["total"] == len(jane.account.liked) == 201
        assert get(sim, first, "/me/tracks?limit=1").json()["total"] == len(sim.account.liked) == 12
        assert (sim.users[0].requests, jane.requests) == (2, 2)
        assert jane.expected_rows("library") != sim.expected_rows("library")
        assert jane.minimal_requests() > sim.minimal_requests()


def test_a_write_with_one_users_token_changes_that_users_account() -> None:
    with SpotifySimulator(build_account("tiny", seed=1)) as sim:
        jane = sim.add_user(build_account("tiny", seed=2))
        access = token_for(sim, jane.refresh_token).json()["access_token"]
        uri = "spotify:track:" + jane.account.catalog.track(jane.account.liked[-1][0]).id
        answer = requests.delete(
            f"{sim.api_url}/me/library", params={"uris": uri}, headers={"Authorization": f"Bearer {access}"}, timeout=10
        )
        assert answer.status_code == 200
        assert len(jane.account.liked) == 11 and len(sim.account.liked) == 12


def test_rotated_refresh_tokens_stay_with_their_user() -> None:
    with SpotifySimulator(build_account("tiny", seed=1), faults=Faults(rotate_refresh_tokens=True)) as sim:
        jane = sim.add_user(build_account("tiny", seed=2))
        old = jane.refresh_token
        answer = token_for(sim, old).json()
        assert answer["refresh_token"] == jane.refresh_token != old
        assert get(sim, answer["access_token"], "/me").json()["id"] == jane.id
        assert token_for(sim, old).json()["error"] == "invalid_grant"
        assert token_for(sim, sim.refresh_token).status_code == 200  # the first user's token is untouched


def test_the_consenting_user_gets_the_code() -> None:
    with SpotifySimulator(build_account("tiny", seed=1)) as sim:
        jane = sim.add_user(build_account("tiny", seed=2))
        sim.consenting_user = jane.index
        redirect = "http://127.0.0.1:8888/callback"
        answer = requests.get(
            sim.authorize_url,
            params={"client_id": sim.client_id, "response_type": "code", "redirect_uri": redirect, "scope": ""},
            allow_redirects=False,
            timeout=10,
        )
        code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
        tokens = requests.post(
            f"{sim.accounts_url}/api/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect},
            auth=(sim.client_id, sim.client_secret),
            timeout=10,
        ).json()
        assert tokens["refresh_token"] == jane.refresh_token
        assert get(sim, tokens["access_token"], "/me").json()["id"] == jane.id


def test_a_timed_ban_bans_the_app_for_every_user_and_then_ends() -> None:
    faults = Faults(ban_after_requests=2, ban_duration_s=1.2)
    with SpotifySimulator(build_account("tiny", seed=1), faults=faults) as sim:
        jane = sim.add_user(build_account("tiny", seed=2))
        first = token_for(sim, sim.refresh_token).json()["access_token"]
        second = token_for(sim, jane.refresh_token).json()["access_token"]
        assert get(sim, first, "/me").status_code == 200
        assert get(sim, second, "/me").status_code == 200
        banned = get(sim, first, "/me/tracks")
        assert banned.status_code == 429 and banned.headers["Retry-After"] == "2"  # 1.2 s, rounded up
        assert banned.json()["error"]["status"] == 429
        assert get(sim, second, "/me/tracks").status_code == 429  # the app is banned, not the user
        time.sleep(1.3)
        assert get(sim, first, "/me/tracks").status_code == 200
        assert get(sim, second, "/me").status_code == 200
        assert len(sim.api_request_times) == sim.requests_total == 6
        assert sim.api_request_times == sorted(sim.api_request_times)


def test_an_endless_ban_keeps_its_retry_after() -> None:
    with SpotifySimulator(build_account("tiny"), faults=Faults(ban_after_requests=0, ban_retry_after_s=7200)) as sim:
        access = token_for(sim, sim.refresh_token).json()["access_token"]
        answers = [get(sim, access, "/me") for _ in range(2)]
        assert [(a.status_code, a.headers["Retry-After"]) for a in answers] == [(429, "7200")] * 2


def test_a_ban_duration_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="ban_duration_s"):
        Faults(ban_duration_s=-1)
