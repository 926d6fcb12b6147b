"""The Spotify simulator itself: spec-valid bodies, paging, edge cases, ground truth, faults, tokens.

The exporter's tests trust the simulator; these tests are why they may. Everything goes over
real HTTP with ``requests``, as the exporter does.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from spotify_simulator import COLUMNS, Faults, SpotifySimulator, build_account
from spotify_simulator.spec import NULLABLE, SpecValidator, without_documented_nulls

JSON = dict[str, Any]
Recorded = list[tuple[str, str, int, Any]]
DATASET_PATHS = {
    "library": "/me/tracks",
    "playlists": "/me/playlists",
    "albums": "/me/albums",
    "artists": "/me/following?type=artist",
    "shows": "/me/shows",
    "episodes": "/me/episodes",
    "audiobooks": "/me/audiobooks",
}
ITEMS = "/v1/playlists/{id}/items"


# -- a tiny client: what an exporter does, nothing more ------------------------------------------


def refresh(sim: SpotifySimulator, refresh_token: str | None = None, **form: str) -> requests.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token or sim.refresh_token, **form}
    return requests.post(
        f"{sim.accounts_url}/api/token", data=data, auth=(sim.client_id, sim.client_secret), timeout=10
    )


def session_for(sim: SpotifySimulator) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + refresh(sim).json()["access_token"]
    return session


def pages(session: requests.Session, url: str, first: requests.Response | None = None) -> Iterator[JSON]:
    """Every page from ``url`` on (``first`` its answer, if already fetched), following ``next``."""
    next_url: str | None = url
    while next_url:
        response = first or session.get(next_url, timeout=10)
        first = None
        assert response.status_code == 200, (next_url, response.status_code, response.text)
        page: JSON = response.json()
        page = page.get("artists", page)  # cursor pages come wrapped
        yield page
        next_url = page["next"]


def read_everything(session: requests.Session, sim: SpotifySimulator) -> dict[str, list[Any]]:
    """A perfect exporter: pages of 50, every dataset, every readable playlist; one 403 per forbidden one."""
    found: dict[str, list[Any]] = {"me": [session.get(f"{sim.api_url}/me", timeout=10).json()]}
    for name, path in DATASET_PATHS.items():
        url = f"{sim.api_url}{path}{'&' if '?' in path else '?'}limit=50"
        found[name] = [item for page in pages(session, url) for item in page["items"]]
    found["playlist_items"] = []
    found["forbidden"] = []
    for playlist in found["playlists"]:
        url = playlist["items"]["href"] + "?limit=50&additional_types=track,episode"
        first = session.get(url, timeout=10)
        if first.status_code == 403:
            found["forbidden"].append(playlist)
            continue
        entries = [entry for page in pages(session, url, first) for entry in page["items"]]
        found["playlist_items"] += [(playlist, position, entry) for position, entry in enumerate(entries)]
    return found


# -- independent JSON -> rows, written from the snapshot contract ---------------------------------


def names(objects: list[JSON]) -> str:
    return "; ".join(o["name"] for o in objects)


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def item_columns(entry: JSON) -> JSON:
    item = entry["item"]
    if item is None:
        return {"item_type": "unavailable", **dict.fromkeys(COLUMNS["library"][1:], "")}
    if item["type"] == "episode":
        kind, artists, album, isrc = "episode", item["show"]["publisher"], item["show"]["name"], ""
    else:
        kind = "local" if entry["is_local"] else "track"
        artists, album = names(item["artists"]), item["album"]["name"]
        isrc = item.get("external_ids", {}).get("isrc", "")
    return {
        "item_type": kind,
        "track_name": item["name"],
        "artists": artists,
        "album": album,
        "track_uri": item["uri"],
        "duration_ms": str(item["duration_ms"]),
        "isrc": isrc,
    }


def rows_from_json(found: dict[str, list[Any]]) -> dict[str, list[JSON]]:
    forbidden = {p["id"] for p in found["forbidden"]}
    rows: dict[str, list[JSON]] = {
        "library": [
            {
                "added_at": s["added_at"],
                **{k: v for k, v in item_columns({"item": s["track"], "is_local": False}).items() if k != "item_type"},
            }
            for s in found["library"]
        ],
        "playlists": [
            {
                "playlist_id": p["id"],
                "playlist_name": p["name"],
                "owner_id": p["owner"]["id"],
                "collaborative": cell(p["collaborative"]),
                "public": cell(p["public"]),
                "snapshot_id": p["snapshot_id"],
                "item_count": str(p["items"]["total"]),
                "items_status": "forbidden" if p["id"] in forbidden else "exported",
            }
            for p in found["playlists"]
        ],
        "playlist_items": [
            {
                "playlist_id": p["id"],
                "playlist_name": p["name"],
                "position": str(position),
                "added_at": cell(e["added_at"]),
                "added_by": cell((e["added_by"] or {}).get("id")),
                **item_columns(e),
            }
            for p, position, e in found["playlist_items"]
        ],
        "albums": [
            {
                "added_at": s["added_at"],
                "album_name": s["album"]["name"],
                "artists": names(s["album"]["artists"]),
                "album_uri": s["album"]["uri"],
                "release_date": s["album"]["release_date"],
            }
            for s in found["albums"]
        ],
        "artists": [
            {"artist_name": a["name"], "artist_uri": a["uri"], "genres": "; ".join(a["genres"])}
            for a in found["artists"]
        ],
    }
    for name, key in (("shows", "show"), ("episodes", "episode"), ("audiobooks", "audiobook")):
        rows[name] = [{"added_at": s["added_at"], "name": s[key]["name"], "uri": s[key]["uri"]} for s in found[name]]
    return rows


# -- OpenAPI: every body the simulator serves ----------------------------------------------------


@pytest.fixture(scope="module")
def recorded() -> Iterator[tuple[Recorded, dict[str, list[Any]]]]:
    """Every endpoint through all pages, plus each error the simulator can answer with."""
    responses: Recorded = []
    with SpotifySimulator(build_account("small"), record=True) as sim:
        session = session_for(sim)
        found = read_everything(session, sim)
        mixed = found["playlists"][0]  # the odd-items playlist, with episodes
        list(pages(session, mixed["items"]["href"] + "?limit=50"))  # without additional_types
        for path in ("/me/tracks?limit=51", "/me/following", "/nowhere", f"/playlists/{mixed['id']}/tracks"):
            session.get(f"{sim.api_url}{path}", timeout=10)
        session.get(f"{sim.api_url}/playlists/NoSuchPlaylist0000000/items", timeout=10)
        session.get(f"{sim.api_url}/me", headers={"Authorization": "Bearer not-a-token"}, timeout=10)
        responses += sim.responses
    faults = Faults(server_error_rate=0.3, rate_limit_rate=0.3, token_lifetime_s=0, seed=1, ban_after_requests=40)
    with SpotifySimulator(build_account("tiny"), faults=faults, record=True) as sim:
        expired = session_for(sim)  # lifetime 0: expired at once
        expired.get(f"{sim.api_url}/me", timeout=10)
        responses += sim.responses
    faults = Faults(server_error_rate=0.3, rate_limit_rate=0.3, seed=1, ban_after_requests=40)
    with SpotifySimulator(build_account("tiny"), faults=faults, record=True) as sim:
        session = session_for(sim)
        for _ in range(45):
            session.get(f"{sim.api_url}/me/tracks?limit=5", timeout=10)
        responses += sim.responses
    yield responses, found


@pytest.fixture(scope="module")
def validator() -> SpecValidator:
    return SpecValidator()


def test_every_body_served_validates_against_the_spec(
    recorded: tuple[Recorded, dict[str, list[Any]]], validator: SpecValidator
) -> None:
    api = [(template, status, body) for _, template, status, body in recorded[0] if template.startswith("/v1/")]
    errors = [e for template, status, body in api for e in validator.errors(template, status, body)]
    assert not errors, "\n".join(errors[:20])
    seen = {(template, status) for template, status, _ in api}
    for template in ("/v1/me", "/v1/me/tracks", "/v1/me/playlists", ITEMS, "/v1/me/albums", "/v1/me/following"):
        assert (template, 200) in seen
    for expected in [(ITEMS, 403), (ITEMS, 404), ("/v1/playlists/{id}/tracks", 403), ("/v1/nowhere", 404)]:
        assert expected in seen
    assert {("/v1/me/tracks", 400), ("/v1/me/following", 400), ("/v1/me", 401), ("/v1/me/tracks", 429)} <= seen
    assert {status for _, status in seen} >= {500, 502, 503}


def test_nulls_appear_only_where_spotify_documents_them(
    recorded: tuple[Recorded, dict[str, list[Any]]], validator: SpecValidator
) -> None:
    """Strict spec (no NULLABLE relaxations) passes once exactly the documented nulls are taken out."""
    errors = [
        e
        for _, template, status, body in recorded[0]
        if template.startswith("/v1/")
        for e in validator.errors(template, status, without_documented_nulls(template, body), relaxed=False)
    ]
    assert not errors, "\n".join(errors[:20])
    # and the relaxations are really needed: each kind of documented null is served
    served = json.dumps([body for _, t, _, body in recorded[0] if t in (ITEMS, "/v1/me/playlists", "/v1/me/following")])
    for marker in ('"item":null', '"added_at":null', '"added_by":null', '"public":null', '"after":null', '"id":null'):
        assert marker in served.replace(" ", ""), marker
    assert set(NULLABLE) >= {"PlaylistTrackObject", "TrackObject"}


def test_the_validator_catches_a_drifted_shape(
    recorded: tuple[Recorded, dict[str, list[Any]]], validator: SpecValidator
) -> None:
    """The checks above mean something only if a wrong body fails: break one thing at a time."""
    page = next(b for _, t, s, b in recorded[0] if t == ITEMS and s == 200 and len(b["items"]) > 10)
    assert validator.errors(ITEMS, 200, page) == []
    kinds = {e["item"]["type"] if e["item"] else None for e in page["items"]}
    assert {"track", "episode", None} <= kinds
    episode = next(n for n, e in enumerate(page["items"]) if e["item"] and e["item"]["type"] == "episode")
    track = next(
        n for n, e in enumerate(page["items"]) if e["item"] and not e["is_local"] and e["item"]["type"] == "track"
    )

    def broken(path: list[str | int], value: Any = KeyError) -> list[str]:
        body = copy.deepcopy(page)
        holder = body
        for key in path[:-1]:
            holder = holder[key]
        if value is KeyError:
            del holder[path[-1]]
        else:
            holder[path[-1]] = value
        return validator.errors(ITEMS, 200, body)

    assert broken(["items", episode, "item", "show"])  # discriminated to EpisodeObject, which requires it
    assert broken(["items", episode, "track", "duration_ms"], "long")  # the deprecated key is checked too
    assert broken(["items", track, "item", "duration_ms"], "3:30")
    assert broken(["items", track, "item", "album", "release_date"])
    assert broken(["items", track, "item", "type"], "song")
    assert broken(["items", track, "added_at"], "yesterday")  # format: date-time
    assert broken(["next"])
    assert broken(["total"], "541")
    error_body = {"error": {"status": 404}}
    assert validator.errors("/v1/nowhere", 404, error_body)


def test_token_bodies_follow_oauth(recorded: tuple[Recorded, dict[str, list[Any]]]) -> None:
    for _, template, status, body in recorded[0]:
        if template == "/api/token":
            assert status == 200
            assert set(body) >= {"access_token", "token_type", "expires_in", "scope"}
            assert body["token_type"] == "Bearer" and isinstance(body["expires_in"], int)


# -- ground truth --------------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["tiny", "small", "demo"])
def test_ground_truth_equals_what_is_served(size: str) -> None:
    """Rows from the model (``expected_rows``) and rows from the served JSON agree, row by row."""
    with SpotifySimulator(build_account(size)) as sim:
        found = read_everything(session_for(sim), sim)
        served = rows_from_json(found)
        for dataset, columns in COLUMNS.items():
            expected = sim.expected_rows(dataset)
            assert all(tuple(row) == columns for row in expected), dataset
            assert all(isinstance(v, str) for row in expected for v in row.values()), dataset
            assert served[dataset] == expected, dataset
        assert sim.requests_total == sim.minimal_requests()


def test_ground_truth_counts_match_the_totals_spotify_reports() -> None:
    with SpotifySimulator(build_account("small")) as sim:
        session = session_for(sim)
        for dataset, path in DATASET_PATHS.items():
            first = next(pages(session, f"{sim.api_url}{path}{'&' if '?' in path else '?'}limit=1"))
            assert first["total"] == len(sim.expected_rows(dataset)), dataset
        playlists = {row["playlist_id"]: row for row in sim.expected_rows("playlists")}
        items = sim.expected_rows("playlist_items")
        for playlist_id, row in playlists.items():
            got = [i for i in items if i["playlist_id"] == playlist_id]
            assert len(got) == (int(row["item_count"]) if row["items_status"] == "exported" else 0)
            assert [i["position"] for i in got] == [str(n) for n in range(len(got))]


def test_unknown_dataset_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown dataset"):
        SpotifySimulator(build_account("tiny")).expected_rows("podcasts")


# -- accounts ------------------------------------------------------------------------------------


def test_small_account_has_every_edge_case(recorded: tuple[Recorded, dict[str, list[Any]]]) -> None:
    found = recorded[1]
    playlists, entries = found["playlists"], [e for _, _, e in found["playlist_items"]]
    me = found["me"][0]["id"]
    assert not {"email", "country", "product"} & set(found["me"][0])
    assert len(found["library"]) == 201  # pages of 50: four full ones and a last of one
    totals = {p["items"]["total"] for p in playlists if p["owner"]["id"] == me}
    assert {0, 50, 51, 101} <= totals
    assert all("tracks" not in p and p["items"]["href"].endswith(f"/playlists/{p['id']}/items") for p in playlists)
    (followed,) = found["forbidden"]
    assert followed["owner"]["id"] != me and not followed["collaborative"]
    assert any(p["collaborative"] and p["owner"]["id"] != me for p in playlists if p not in found["forbidden"])
    names = [p["name"] for p in playlists]
    assert len(names) > len(set(names)), "duplicate playlist names"
    assert "" in names and any(p["public"] is None for p in playlists)
    for needle in ("=SUM(A1)", "+1 mix", "-minus", "@home", "ع", "ש", "東京", "🥁", '"Scissors"\n'):
        assert any(needle in name for name in names), needle
    assert any(e["item"] is None and e["track"] is None for e in entries)
    assert all(e["item"] == e["track"] for e in entries)
    local = [e for e in entries if e["is_local"]]
    assert local and all(e["item"]["id"] is None and e["item"]["uri"].startswith("spotify:local:") for e in local)
    assert any(e["item"]["uri"] == "spotify:local:Artist:Album:Title:210" for e in local)
    assert any(e["item"] and e["item"]["type"] == "episode" for e in entries)
    assert any(e["added_at"] == "1970-01-01T00:00:00Z" for e in entries)
    assert any(e["added_at"] is None for e in entries) and any(e["added_by"] is None for e in entries)
    assert any(e["added_by"] and e["added_by"]["id"] != me for e in entries)
    tracks = [s["track"] for s in found["library"]]
    assert any(len(t["artists"]) >= 3 for t in tracks)
    assert any(t["external_ids"] == {} for t in tracks)
    assert any("\n" in t["name"] and "," in t["name"] and '"' in t["name"] for t in tracks)
    added = [s["added_at"] for s in found["library"]]
    assert added == sorted(added, reverse=True), "liked songs newest first"


def test_episodes_are_served_only_when_asked_for() -> None:
    with SpotifySimulator(build_account("tiny")) as sim:
        session = session_for(sim)
        href = next(pages(session, f"{sim.api_url}/me/playlists?limit=50"))["items"][0]["items"]["href"]
        plain = next(pages(session, f"{href}?limit=50"))["items"]
        episodes = next(pages(session, f"{href}?limit=50&additional_types=episode,track"))["items"]
    assert len(plain) == len(episodes)
    changed = [(a, b) for a, b in zip(plain, episodes, strict=True) if a != b]
    assert changed and all(a["item"] is None and b["item"]["type"] == "episode" for a, b in changed)


def test_accounts_are_deterministic_and_seeded() -> None:
    first, again, other = build_account("small"), build_account("small"), build_account("small", seed=1)
    for dataset in COLUMNS:
        assert SpotifySimulator(first).expected_rows(dataset) == SpotifySimulator(again).expected_rows(dataset)
    assert SpotifySimulator(first).expected_rows("library") != SpotifySimulator(other).expected_rows("library")
    with pytest.raises(ValueError, match="unknown account size"):
        build_account("gigantic")


@pytest.mark.parametrize(
    ("size", "liked", "playlists", "items"),
    [
        ("tiny", (5, 20), (10, 20), (20, 100)),
        ("demo", (500, 500), (20, 30), (1_800, 2_500)),
        ("large", (10_000, 10_000), (250, 350), (35_000, 45_000)),
        ("huge", (30_000, 30_000), (300, 1_000), (140_000, 160_000)),
    ],
)  # fmt: skip
def test_account_sizes(size: str, liked: tuple[int, int], playlists: tuple[int, int], items: tuple[int, int]) -> None:
    account = build_account(size)
    assert liked[0] <= len(account.liked) <= liked[1]
    assert playlists[0] <= len(account.playlists) <= playlists[1]
    assert items[0] <= sum(len(p.entries) for p in account.playlists) <= items[1]
    kinds = {e.kind for p in account.playlists for e in p.entries}
    assert kinds == {"track", "episode", "local", "unavailable"}, "edge cases in every size"
    assert sum(not p.readable for p in account.playlists) >= 1
    assert len({t for t, _ in account.liked}) == len(account.liked), "a song is liked once"
    assert len({p.id for p in account.playlists}) == len(account.playlists)
    assert str(len(account.liked)) in account.describe()


# -- paging --------------------------------------------------------------------------------------


def test_offset_paging_links_totals_and_limits() -> None:
    with SpotifySimulator(build_account("small")) as sim:
        session = session_for(sim)
        got = list(pages(session, f"{sim.api_url}/me/tracks?limit=50&market=SE"))
        assert [len(p["items"]) for p in got] == [50, 50, 50, 50, 1]
        assert got[0]["previous"] is None and got[-1]["next"] is None
        assert got[0]["next"] == f"{sim.api_url}/me/tracks?offset=50&limit=50&market=SE"
        assert got[1]["previous"] == f"{sim.api_url}/me/tracks?offset=0&limit=50&market=SE"
        assert got[0]["href"] == f"{sim.api_url}/me/tracks?offset=0&limit=50&market=SE"
        assert {p["total"] for p in got} == {201} and [p["offset"] for p in got] == [0, 50, 100, 150, 200]
        default = session.get(f"{sim.api_url}/me/tracks", timeout=10).json()
        assert default["limit"] == 20 and len(default["items"]) == 20
        beyond = session.get(f"{sim.api_url}/me/tracks?offset=500&limit=50", timeout=10).json()
        assert beyond["items"] == [] and beyond["next"] is None and beyond["total"] == 201
        for bad in ("limit=0", "limit=51", "limit=ten", "offset=-1"):
            response = session.get(f"{sim.api_url}/me/albums?{bad}", timeout=10)
            assert response.status_code == 400, bad
            assert response.json()["error"]["status"] == 400
        items = next(pages(session, f"{sim.api_url}/me/playlists?limit=50"))["items"]
        href = next(p for p in items if p["items"]["total"] == 101)["items"]["href"]
        sizes = [len(p["items"]) for p in pages(session, f"{href}?limit=50&additional_types=track,episode")]
        assert sizes == [50, 50, 1]


def test_cursor_paging_of_followed_artists() -> None:
    with SpotifySimulator(build_account("small")) as sim:
        session = session_for(sim)
        got = list(pages(session, f"{sim.api_url}/me/following?type=artist&limit=50"))
        assert [len(p["items"]) for p in got] == [50, 7] and {p["total"] for p in got} == {57}
        assert got[0]["cursors"]["after"] == got[0]["items"][-1]["id"]
        assert got[0]["next"] == f"{sim.api_url}/me/following?type=artist&after={got[0]['items'][-1]['id']}&limit=50"
        assert got[1]["next"] is None and got[1]["cursors"]["after"] is None
        assert "offset" not in got[0]
        ids = [a["id"] for p in got for a in p["items"]]
        assert ids == sorted(ids) and len(set(ids)) == 57
        assert [f"spotify:artist:{i}" for i in ids] == [r["artist_uri"] for r in sim.expected_rows("artists")]
        assert session.get(f"{sim.api_url}/me/following?type=user", timeout=10).status_code == 400


def test_minimal_requests_is_what_a_perfect_exporter_needs() -> None:
    with SpotifySimulator(build_account("small")) as sim:
        account = sim.account

        def pages_of(n: int) -> int:
            return max(1, -(-n // 50))

        expected = 1 + sum(pages_of(len(x)) for x in (account.liked, account.playlists, account.albums))
        expected += sum(
            pages_of(len(x)) for x in (account.artists, account.shows, account.episodes, account.audiobooks)
        )
        expected += sum(pages_of(len(p.entries)) if p.readable else 1 for p in account.playlists)
        assert sim.minimal_requests() == expected
        read_everything(session_for(sim), sim)
        assert sim.requests_total == expected
        assert sim.token_requests == 1
        assert sum(n for (template, _), n in sim.counters.items() if template != "/api/token") == expected
        assert sim.counters[(ITEMS, 403)] == 1 and sim.counters[("/v1/me/tracks", 200)] == 5


# -- faults --------------------------------------------------------------------------------------


def statuses(faults: Faults, count: int = 60) -> list[int]:
    with SpotifySimulator(build_account("tiny"), faults=faults) as sim:
        session = session_for(sim)
        return [session.get(f"{sim.api_url}/me/tracks?limit=5", timeout=10).status_code for _ in range(count)]


def test_faults_are_deterministic_per_seed() -> None:
    faults = Faults(server_error_rate=0.2, rate_limit_rate=0.2, malformed_rate=0.1, seed=3)
    first = statuses(faults)
    assert first == statuses(faults)
    assert first != statuses(Faults(server_error_rate=0.2, rate_limit_rate=0.2, malformed_rate=0.1, seed=4))
    assert {200, 429} <= set(first) and set(first) & {500, 502, 503}
    assert statuses(Faults(), 5) == [200] * 5


def test_a_retried_request_gets_the_same_page_and_malformed_bodies_are_not_json() -> None:
    faults = Faults(server_error_rate=0.25, rate_limit_rate=0.25, malformed_rate=0.25, retry_after_s=7, seed=11)
    with SpotifySimulator(build_account("small"), faults=faults) as sim:
        session = session_for(sim)
        url = f"{sim.api_url}/me/tracks?offset=50&limit=50"
        bodies, malformed = [], 0
        for _ in range(40):
            response = session.get(url, timeout=10)
            if response.status_code == 429:
                assert response.headers["Retry-After"] == "7"
            if response.status_code != 200:
                assert response.json()["error"]["status"] == response.status_code
                continue
            try:
                bodies.append(response.json())
            except ValueError:
                malformed += 1
        assert malformed and len(bodies) > 1
        assert all(body == bodies[0] for body in bodies)


def test_a_ban_answers_429_with_a_long_retry_after_from_then_on() -> None:
    with SpotifySimulator(build_account("tiny"), faults=Faults(ban_after_requests=3, ban_retry_after_s=3600)) as sim:
        session = session_for(sim)
        got = [session.get(f"{sim.api_url}/me", timeout=10) for _ in range(5)]
        assert [r.status_code for r in got] == [200, 200, 200, 429, 429]
        assert got[-1].headers["Retry-After"] == "3600"
        assert got[-1].json()["error"]["status"] == 429
        assert sim.requests_total == 5 and sim.token_requests == 1


def test_latency_and_unavailable_endpoints() -> None:
    faults = Faults(latency_s=0.2, unavailable={"/v1/me/audiobooks": 403, "/v1/me/shows": 503})
    with SpotifySimulator(build_account("tiny"), faults=faults) as sim:
        session = session_for(sim)
        started = time.monotonic()
        assert session.get(f"{sim.api_url}/me/audiobooks", timeout=10).status_code == 403
        assert time.monotonic() - started >= 0.2
        assert session.get(f"{sim.api_url}/me/shows", timeout=10).json() == {
            "error": {"status": 503, "message": "Service unavailable"}
        }
        assert session.get(f"{sim.api_url}/me/episodes", timeout=10).status_code == 200
        for _ in range(3):  # kept alive: each request's latency counts from its arrival, never less
            started = time.monotonic()
            assert session.get(f"{sim.api_url}/me", timeout=10).status_code == 200
            assert time.monotonic() - started >= 0.2


# -- Accounts service ----------------------------------------------------------------------------


def test_token_endpoint_client_auth_and_grants() -> None:
    with SpotifySimulator(build_account("tiny")) as sim:
        url = f"{sim.accounts_url}/api/token"
        form = {"grant_type": "refresh_token", "refresh_token": sim.refresh_token}
        assert requests.post(url, data=form, auth=(sim.client_id, sim.client_secret), timeout=10).status_code == 200
        in_form = {**form, "client_id": sim.client_id, "client_secret": sim.client_secret}
        ok = requests.post(url, data=in_form, timeout=10)
        assert ok.status_code == 200 and "refresh_token" not in ok.json()  # no rotation: keep the old one
        bad = requests.post(url, data=form, auth=(sim.client_id, "wrong"), timeout=10)
        assert (bad.status_code, bad.json()) == (
            401,
            {"error": "invalid_client", "error_description": "Invalid client"},
        )
        unknown = refresh(sim, "AQ-not-a-token")
        assert unknown.status_code == 400
        assert unknown.json() == {"error": "invalid_grant", "error_description": "Invalid refresh token"}
        assert refresh(sim, grant_type="client_credentials").status_code == 400
        assert requests.get(url, timeout=10).status_code == 405
        sim.revoke_refresh_tokens()
        assert refresh(sim).json()["error"] == "invalid_grant"
        assert sim.token_requests == 7 and sim.requests_total == 0


def test_token_faults_only_when_asked_for_and_bad_fault_settings_are_refused() -> None:
    with SpotifySimulator(build_account("tiny"), faults=Faults(server_error_rate=1.0)) as sim:
        assert refresh(sim).status_code == 200, "API faults never hit the token endpoint"
    with SpotifySimulator(build_account("tiny"), faults=Faults(token_error_rate=1.0)) as sim:
        response = refresh(sim)
        assert response.status_code == 503 and response.json()["error"] == "server_error"
    for bad in ({"server_error_rate": 1.5}, {"rate_limit_rate": 0.6, "malformed_rate": 0.6}, {"latency_s": -1}):
        with pytest.raises(ValueError):
            Faults(**bad)


def test_rotating_refresh_tokens_are_single_use() -> None:
    with SpotifySimulator(build_account("tiny"), faults=Faults(rotate_refresh_tokens=True)) as sim:
        first = sim.refresh_token
        body = refresh(sim, first).json()
        assert body["refresh_token"] != first and sim.refresh_token == body["refresh_token"]
        assert refresh(sim, first).json()["error"] == "invalid_grant"
        assert refresh(sim, body["refresh_token"]).status_code == 200
        assert len(sim.issued_access_tokens) == 2


def test_access_tokens_expire_and_unknown_ones_are_refused() -> None:
    with SpotifySimulator(build_account("tiny"), faults=Faults(token_lifetime_s=0)) as sim:
        response = session_for(sim).get(f"{sim.api_url}/me", timeout=10)
        assert response.status_code == 401
        assert response.json() == {"error": {"status": 401, "message": "The access token expired"}}
        anonymous = requests.get(f"{sim.api_url}/me", timeout=10)
        assert anonymous.status_code == 401 and anonymous.json()["error"]["status"] == 401
        assert sim.requests_total == 2


# -- lifecycle and command line ------------------------------------------------------------------


def test_restart_keeps_the_urls_and_recording_is_opt_in() -> None:
    sim = SpotifySimulator(build_account("tiny")).start()
    try:
        url = sim.api_url
        sim.stop()
        sim.start()
        assert sim.api_url == url
        assert session_for(sim).get(f"{url}/me", timeout=10).status_code == 200
        assert sim.responses == [] and sim.counters[("/v1/me", 200)] == 1
    finally:
        sim.stop()


def test_command_line_prints_settings_and_serves_until_sigterm() -> None:
    tests = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tests), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "spotify_simulator", "--account", "tiny", "--port", "0", "--latency-ms", "1"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        settings = dict(process.stdout.readline().strip().split("=", 1) for _ in range(5))
        assert list(settings) == [
            "SPOTIFY_API_URL", "SPOTIFY_ACCOUNTS_URL", "SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET",
            "SPOTIFY_REFRESH_TOKEN",
        ]  # fmt: skip
        token = requests.post(
            f"{settings['SPOTIFY_ACCOUNTS_URL']}/api/token",
            data={"grant_type": "refresh_token", "refresh_token": settings["SPOTIFY_REFRESH_TOKEN"]},
            auth=(settings["SPOTIFY_CLIENT_ID"], settings["SPOTIFY_CLIENT_SECRET"]),
            timeout=10,
        ).json()["access_token"]
        me = requests.get(f"{settings['SPOTIFY_API_URL']}/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert me.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()
