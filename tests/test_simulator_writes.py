"""The simulator's write endpoints, custom covers and empty accounts, over real HTTP with ``requests``.

Every API answer of every test here is checked against Spotify's OpenAPI spec (method, path,
status and body) when its simulator stops, as ``test_simulator.py`` does for the reads.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from test_simulator import read_everything, rows_from_json

from spotify_simulator import COLUMNS, Account, Faults, Playlist, SpotifySimulator, build_account, empty_like
from spotify_simulator.covers import MAX_UPLOAD, jpeg
from spotify_simulator.spec import SpecValidator, without_documented_nulls
from spotify_simulator.tokens import DEFAULT_SCOPES
from spotify_simulator.writes import WriteError

JSON = dict[str, Any]
ITEMS = "/v1/playlists/{id}/items"
COVER_URL = re.compile(r"http://127\.0\.0\.1:\d+/image/ab67706c0000[0-9a-f]{28}\?expires=(\d+)")
BASE62_22 = re.compile(r"[0-9A-Za-z]{22}")


# -- fixtures and a tiny client ------------------------------------------------------------------


@pytest.fixture(scope="module")
def validator() -> SpecValidator:
    return SpecValidator()


Start = Callable[..., SpotifySimulator]


@pytest.fixture
def start(validator: SpecValidator) -> Iterator[Start]:
    """``start(account_or_size, faults=..., **options)`` runs a recording simulator; its answers are
    checked at the end."""
    started: list[SpotifySimulator] = []

    def run(account: Account | str = "tiny", faults: Faults | None = None, **options: Any) -> SpotifySimulator:
        built = build_account(account) if isinstance(account, str) else account
        sim = SpotifySimulator(built, faults, record=True, **options)
        started.append(sim.start())
        return sim

    yield run
    for session in Api.sessions:
        session.close()  # an open keep-alive connection holds a stopping server up for half a second
    Api.sessions.clear()
    problems = []
    for sim in started:
        sim.stop()
        for method, template, status, body in sim.responses:
            if not template.startswith("/v1/") or method == "HEAD" or isinstance(body, str):
                continue  # token answers; truncated bodies (a fault)
            problems += validator.errors(template, status, body, method=method)
            if method != "GET":  # reads are checked strictly in test_simulator.py
                strict = without_documented_nulls(template, body, method)
                problems += validator.errors(template, status, strict, relaxed=False, method=method)
    assert not problems, "\n".join(problems[:20])


class Api:
    """A session with a bearer token for ``sim`` (the default refresh token unless one is given)."""

    sessions: list[requests.Session] = []

    def __init__(self, sim: SpotifySimulator, refresh_token: str | None = None) -> None:
        self.sim = sim
        token = requests.post(
            f"{sim.accounts_url}/api/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh_token or sim.refresh_token},
            auth=(sim.client_id, sim.client_secret),
            timeout=10,
        ).json()
        self.scope: str = token["scope"]
        self.session = requests.Session()
        self.sessions.append(self.session)
        self.session.headers["Authorization"] = f"Bearer {token['access_token']}"

    def __call__(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, f"{self.sim.api_url}{path}", timeout=10, **kwargs)

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self(method, path, **kwargs)
        assert response.status_code == status, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def refused(self, method: str, path: str, status: int, message: str = "", **kwargs: Any) -> None:
        response = self(method, path, **kwargs)
        assert response.status_code == status, (method, path, response.status_code, response.text)
        assert message in response.json()["error"]["message"]

    def all(self, path: str) -> list[JSON]:
        url: str | None = f"{self.sim.api_url}{path}{'&' if '?' in path else '?'}limit=50"
        found: list[JSON] = []
        while url:
            page = self.session.get(url, timeout=10).json()
            page = page.get("artists", page)
            found += page["items"]
            url = page["next"]
        return found

    def playlists(self) -> list[JSON]:
        return self.all("/me/playlists")

    def playlist(self, playlist_id: str) -> JSON:
        return next(p for p in self.playlists() if p["id"] == playlist_id)

    def items(self, playlist_id: str) -> list[JSON]:
        return self.all(f"/playlists/{playlist_id}/items?additional_types=track,episode")

    def uris(self, playlist_id: str) -> list[str]:
        return [e["item"]["uri"] for e in self.items(playlist_id)]


def track_uri(account: Account, album: int, number: int = 0) -> str:
    catalog = account.catalog
    return f"spotify:track:{catalog.track(catalog.track_index(album, number)).id}"


def own(account: Account, name: str) -> str:
    return next(p.id for p in account.playlists if p.name == name and p.owner == 0)


def named(account: Account, name: str) -> str:
    return next(p.id for p in account.playlists if p.name == name)


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


# -- playlists -----------------------------------------------------------------------------------


def test_create_playlist_answers_201_with_the_full_object_first_in_the_list(start: Start) -> None:
    sim = start()
    api = Api(sim)
    before = api.playlists()
    made = api.ok("POST", "/me/playlists", 201, json={"name": "Restored", "description": "from a backup"})
    assert BASE62_22.fullmatch(made["id"]) and made["id"] not in {p["id"] for p in before}
    assert made["owner"]["id"] == sim.account.me.id and made["items"]["total"] == 0 and made["items"]["items"] == []
    assert (made["public"], made["collaborative"], made["images"]) == (True, False, [])  # the spec's defaults
    assert made["snapshot_id"] and made["followers"]["total"] == 0
    private = api.ok("POST", "/me/playlists", 201, json={"name": "Together", "public": False, "collaborative": True})
    after = api.playlists()
    assert [p["id"] for p in after[:2]] == [private["id"], made["id"]], "newest first"
    assert after[2:] == before
    assert (after[0]["public"], after[0]["collaborative"]) == (False, True)
    assert sim.expected_rows("playlists")[1]["playlist_name"] == "Restored"
    for body in ({"name": "x", "collaborative": True}, {"name": "x", "public": True, "collaborative": True}):
        api.refused("POST", "/me/playlists", 400, "only be private", json=body)
    api.refused("POST", "/me/playlists", 400, "name", json={"description": "no name"})
    api.refused("POST", "/me/playlists", 400, "name", json={"name": 7})
    api.refused("POST", "/me/playlists", 400, "JSON", data=b"{not json", headers={"Content-Type": "application/json"})
    assert len(api.playlists()) == len(before) + 2, "refused creations create nothing"
    ids = {api.ok("POST", "/me/playlists", 201, json={"name": "Same"})["id"] for _ in range(5)}
    assert len(ids) == 5


def test_change_details_is_for_the_owner_and_bumps_the_snapshot(start: Start) -> None:
    sim = start()
    api = Api(sim)
    chill = own(sim.account, "-minus")
    old = api.playlist(chill)
    response = api("PUT", f"/playlists/{chill}", json={"name": "Renamed", "description": "new words", "public": False})
    assert response.status_code == 200 and response.content == b""
    new = api.playlist(chill)
    assert (new["name"], new["description"], new["public"]) == ("Renamed", "new words", False)
    assert new["snapshot_id"] != old["snapshot_id"]
    api.ok("PUT", f"/playlists/{chill}", json={"collaborative": True})
    assert api.playlist(chill)["collaborative"] is True
    api.refused("PUT", f"/playlists/{chill}", 400, "only be private", json={"public": True})
    api.refused("PUT", f"/playlists/{chill}", 400, "name", json={"name": ["a list"]})
    for other in ("Friday Faves", "Band practice 🥁"):  # followed; collaborative but someone else's
        api.refused("PUT", f"/playlists/{named(sim.account, other)}", 403, json={"name": "mine now"})
    api.refused("PUT", "/playlists/NoSuchPlaylist0000000000", 404, json={"name": "x"})
    assert api.playlist(chill)["name"] == "Renamed"
    full = api.ok("GET", f"/playlists/{chill}")
    assert full["name"] == "Renamed" and full["items"]["total"] == len(sim.account.playlist(chill).entries) > 0  # type: ignore[union-attr]
    assert "items" not in api.ok("GET", f"/playlists/{named(sim.account, 'Friday Faves')}")


def test_descriptions_are_sent_html_escaped_and_cannot_be_emptied(start: Start) -> None:
    """Spotify escapes descriptions on the way out and takes what it is sent literally (rules.py)."""
    sim = start()
    api = Api(sim)
    typed = "Rock 'n' roll & R&B / <live> \"best\""
    escaped = "Rock &#x27;n&#x27; roll &amp; R&amp;B &#x2F; &lt;live&gt; &quot;best&quot;"
    made = api.ok("POST", "/me/playlists", 201, json={"name": "Escapes", "description": typed})
    assert made["description"] == escaped
    assert (
        api.playlist(made["id"])["description"] == escaped == api.ok("GET", f"/playlists/{made['id']}")["description"]
    )
    assert sim.account.playlist(made["id"]).description == typed  # type: ignore[union-attr]
    api.ok("PUT", f"/playlists/{made['id']}", json={"description": escaped})  # a client that sends back what it read
    assert api.playlist(made["id"])["description"] == escaped.replace("&", "&amp;"), "escaped twice"
    snapshot = api.playlist(made["id"])["snapshot_id"]
    api.refused("PUT", f"/playlists/{made['id']}", 400, "Attribute description is empty", json={"description": ""})
    api.refused("PUT", f"/playlists/{made['id']}", 400, "description is empty", json={"name": "x", "description": ""})
    assert (api.playlist(made["id"])["name"], api.playlist(made["id"])["snapshot_id"]) == ("Escapes", snapshot)
    bare = api.ok("POST", "/me/playlists", 201, json={"name": "No description given"})
    empty = api.ok("POST", "/me/playlists", 201, json={"name": "Empty description", "description": ""})
    assert (bare["description"], empty["description"]) == ("null", "")
    listed = " ".join(p["description"] for p in api.playlists())
    assert "&amp;" in listed and "&#x27;" in listed, "accounts carry descriptions Spotify escapes"


# -- playlist items ------------------------------------------------------------------------------


def test_add_items_inserts_or_appends_dated_now_by_the_user(start: Start) -> None:
    sim = start("small")
    api, a = Api(sim), sim.account
    target = own(a, "-minus")
    before, snapshot = api.uris(target), api.playlist(target)["snapshot_id"]
    first, second, third = (track_uri(a, n) for n in (1, 2, 3))
    episode = f"spotify:episode:{a.episode_pool[2].id}"
    started = int(time.time())
    body = api.ok("POST", f"/playlists/{target}/items", 201, json={"uris": [first, episode]})
    assert set(body) == {"snapshot_id"} and body["snapshot_id"] != snapshot
    api.ok("POST", f"/playlists/{target}/items", 201, json={"uris": [second], "position": 0})
    # query uris win over the body's
    api.ok("POST", f"/playlists/{target}/items?uris={third}&position=1", 201, json={"uris": [first]})
    assert api.uris(target) == [second, third, *before, first, episode]
    entries = api.items(target)
    new = [entries[0], entries[1], entries[-2], entries[-1]]
    assert all(e["added_by"]["id"] == a.me.id for e in new)
    stamps = [time.mktime(time.strptime(e["added_at"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone for e in new]
    assert all(started - 1 <= s <= time.time() + 1 for s in stamps), "added now, by the wall clock"
    assert api.playlist(target)["items"]["total"] == len(before) + 4
    assert [r["track_uri"] for r in sim.expected_rows("playlist_items") if r["playlist_id"] == target] == api.uris(
        target
    )
    # collaborative playlists of others take items too; followed ones do not
    api.ok("POST", f"/playlists/{named(a, 'Band practice 🥁')}/items", 201, json={"uris": [first]})
    api.refused("POST", f"/playlists/{named(a, 'Friday Faves')}/items", 403, json={"uris": [first]})


def test_add_items_refuses_bad_uris_and_limits_and_changes_nothing(start: Start) -> None:
    sim = start("small")
    api, a = Api(sim), sim.account
    target = own(a, "-minus")
    snapshot, count = api.playlist(target)["snapshot_id"], len(api.items(target))
    good = track_uri(a, 5)
    local = a.local_files[0].uri
    album = f"spotify:album:{a.catalog.album(0).id}"
    cases = [
        ({"uris": [good] * 101}, "maximum of 100"),
        ({"uris": [good, local]}, "Invalid track uri"),
        ({"uris": [good, album]}, "Invalid track uri"),
        ({"uris": [good, "spotify:track:tooShort"]}, "Invalid base62 id"),
        ({"uris": [good, "spotify:track:" + "Z" * 22]}, "non-existing ID"),
        ({"uris": [good, "https://open.spotify.com/track/x"]}, "Invalid URI"),
        ({"uris": [good], "position": 99}, "Index out of bounds"),
        ({"uris": [good], "position": -1}, "Index out of bounds"),
        ({"uris": [good], "position": "0"}, "position"),
        ({"uris": good}, "uris"),
        ({}, "No uris"),
        ({"uris": []}, "No uris"),
    ]
    for body, message in cases:
        api.refused("POST", f"/playlists/{target}/items", 400, message, json=body)
    api.refused("POST", f"/playlists/{target}/items?uris={','.join([good] * 101)}", 400, "maximum of 100")
    api.refused("POST", "/playlists/NoSuchPlaylist0000000000/items", 404, json={"uris": [good]})
    assert (api.playlist(target)["snapshot_id"], len(api.items(target))) == (snapshot, count)
    assert api.ok("POST", f"/playlists/{target}/items", 201, json={"uris": [good] * 100})


def test_replace_reorder_and_remove_items(start: Start) -> None:
    sim = start("small")
    api, a = Api(sim), sim.account
    target = own(a, "@home")
    uris = [track_uri(a, n) for n in range(6)]
    snapshots = [api.playlist(target)["snapshot_id"]]

    def put(**body: Any) -> None:
        answer = api.ok("PUT", f"/playlists/{target}/items", json=body)
        snapshots.append(answer["snapshot_id"])

    put(uris=uris)
    assert api.uris(target) == uris
    put(range_start=0, insert_before=6)  # the first to the end
    assert api.uris(target) == [*uris[1:], uris[0]]
    put(range_start=4, insert_before=0, range_length=2, snapshot_id=snapshots[-1])
    assert api.uris(target) == [uris[5], uris[0], uris[1], uris[2], uris[3], uris[4]]
    put(range_start=1, insert_before=2, snapshot_id=snapshots[1])  # an older snapshot: applied to the current items
    assert api.uris(target) == [uris[5], uris[0], uris[1], uris[2], uris[3], uris[4]]
    for body, message in (
        ({"range_start": 5, "insert_before": 0, "range_length": 2}, "Index out of bounds"),
        ({"range_start": 0, "insert_before": 7}, "Index out of bounds"),
        ({"range_start": 0, "insert_before": 1, "snapshot_id": "AAAAnotasnapshot"}, "snapshot"),
        ({"range_start": 0}, "insert_before"),
        ({"uris": [uris[0]], "range_start": 0, "insert_before": 1}, "mutually exclusive"),
        ({"uris": [uris[0]] * 101}, "maximum of 100"),
        ({}, "Missing"),
    ):
        api.refused("PUT", f"/playlists/{target}/items", 400, message, json=body)
    assert api.playlist(target)["snapshot_id"] == snapshots[-1], "refused writes change nothing"
    api.ok("POST", f"/playlists/{target}/items", 201, json={"uris": [uris[0]]})
    removed = api.ok("DELETE", f"/playlists/{target}/items", json={"items": [{"uri": uris[0]}, {"uri": uris[3]}]})
    assert api.uris(target) == [uris[5], uris[1], uris[2], uris[4]], "every occurrence goes"
    snapshots.append(removed["snapshot_id"])
    api.refused("DELETE", f"/playlists/{target}/items", 400, "items", json={"tracks": [{"uri": uris[1]}]})
    api.refused("DELETE", f"/playlists/{target}/items", 400, "maximum of 100", json={"items": [{"uri": uris[1]}] * 101})
    api.refused("DELETE", f"/playlists/{target}/items", 400, "items", json={"items": [uris[1]]})
    api.refused("DELETE", f"/playlists/{named(a, 'Friday Faves')}/items", 403, json={"items": [{"uri": uris[1]}]})
    put(uris=[])
    assert api.uris(target) == [] and api.playlist(target)["images"] == []
    assert len(set(snapshots)) == len(snapshots), "every write a new snapshot id"


def test_snapshot_ids_never_come_back_even_when_the_items_do(start: Start) -> None:
    sim = start()
    api, a = Api(sim), sim.account
    target = own(a, "-minus")
    extra = track_uri(a, 7)
    seen = [api.playlist(target)["snapshot_id"]]
    for _ in range(3):
        seen.append(api.ok("POST", f"/playlists/{target}/items", 201, json={"uris": [extra]})["snapshot_id"])
        seen.append(api.ok("DELETE", f"/playlists/{target}/items", json={"items": [{"uri": extra}]})["snapshot_id"])
    assert len(set(seen)) == len(seen)
    assert api.playlist(target)["snapshot_id"] == seen[-1] == sim.expected_rows("playlists")[11]["snapshot_id"]


# -- covers --------------------------------------------------------------------------------------


def test_custom_covers_are_listed_with_expiring_urls_served_without_a_token(start: Start) -> None:
    sim = start()
    api = Api(sim)
    custom = [p for p in api.playlists() if p["images"] and "ab67706c0000" in p["images"][0]["url"]]
    assert custom, "every account has a custom cover"
    for playlist in api.playlists():
        image = playlist["images"][0] if playlist["images"] else None
        if playlist in custom:
            assert image is not None and image["height"] is None and image["width"] is None
            match = COVER_URL.fullmatch(image["url"])
            assert match and abs(int(match[1]) - (time.time() + 86_400)) < 5
            assert sim.account.playlist(playlist["id"]) is not None
        elif image is not None:
            assert image["url"].startswith("https://i.scdn.co/image/ab67616d") and image["height"] == 640
        else:
            assert playlist["items"]["total"] == 0
    requests_before = sim.requests_total
    url = custom[0]["images"][0]["url"]
    served = requests.get(url, timeout=10)
    assert served.status_code == 200 and served.headers["Content-Type"] == "image/jpeg"
    assert served.content == sim.cover_of(custom[0]["id"]) and served.content.startswith(b"\xff\xd8\xff")
    assert api.ok("GET", f"/playlists/{custom[0]['id']}/images")[0]["url"].split("?")[0] == url.split("?")[0]
    assert requests.get(url.replace("ab67706c0000", "ab67706c0001"), timeout=10).status_code == 404
    assert requests.get(url.split("?")[0], timeout=10).status_code == 403
    real = sim.clock
    sim.clock = lambda: real() + 2 * 86_400
    assert requests.get(url, timeout=10).status_code == 403, "expired"
    sim.clock = real
    assert sim.image_requests == 4 and sim.requests_total == requests_before + 1
    assert all(not template.startswith("/image") for template, _ in sim.counters)
    others = {p.id for p in sim.account.playlists} - {c["id"] for c in custom}
    assert others and all(sim.cover_of(playlist_id) is None for playlist_id in others)
    with pytest.raises(KeyError):
        sim.cover_of("NoSuchPlaylist0000000000")


def test_cover_upload_replaces_the_image_and_refuses_what_is_not_a_small_jpeg(start: Start) -> None:
    sim = start()
    api, a = Api(sim), sim.account
    target = own(a, "-minus")
    old = api.playlist(target)
    cover = jpeg("my restored cover")
    headers = {"Content-Type": "image/jpeg"}
    response = api("PUT", f"/playlists/{target}/images", data=b64(cover), headers=headers)
    assert response.status_code == 202 and response.content == b""
    assert sim.cover_of(target) == cover
    new = api.playlist(target)
    assert new["snapshot_id"] != old["snapshot_id"]
    match = COVER_URL.fullmatch(new["images"][0]["url"])
    assert match and requests.get(new["images"][0]["url"], timeout=10).content == cover
    too_big = b64(b"\xff\xd8\xff" + bytes(MAX_UPLOAD))
    for data, message in (
        (b64(b"GIF89a not a jpeg"), "not a JPEG"),
        (b"%%% not base64 %%%", "base64"),
        (too_big, "256 KB"),
        (b"", "not a JPEG"),
    ):
        api.refused("PUT", f"/playlists/{target}/images", 400, message, data=data, headers=headers)
    api.refused("PUT", f"/playlists/{target}/images", 400, "image/jpeg", data=b64(cover))
    for other in ("Friday Faves", "Band practice 🥁"):
        api.refused("PUT", f"/playlists/{named(a, other)}/images", 403, data=b64(cover), headers=headers)
    assert sim.cover_of(target) == cover and api.playlist(target)["snapshot_id"] == new["snapshot_id"]
    largest = b64(cover + bytes(MAX_UPLOAD * 3 // 4 - len(cover)))
    assert len(largest) == MAX_UPLOAD
    assert api("PUT", f"/playlists/{target}/images", data=largest, headers=headers).status_code == 202


# -- library and followed artists ----------------------------------------------------------------


def test_library_saves_are_idempotent_and_the_last_uri_is_the_newest(start: Start) -> None:
    sim = start(empty_like(build_account("tiny")))
    api, a = Api(sim), sim.account
    one, two, three = (track_uri(a, n) for n in (1, 2, 3))
    assert api("PUT", f"/me/library?uris={one},{two}").status_code == 200
    first = api.all("/me/tracks")
    assert [s["track"]["uri"] for s in first] == [two, one]
    real = sim.clock
    sim.clock = lambda: real() + 60  # a minute later, so an unchanged added_at shows
    api.ok("PUT", f"/me/library?uris={three}, {one}")  # spaces after commas, as in Spotify's examples
    again = api.all("/me/tracks")
    assert [s["track"]["uri"] for s in again] == [three, two, one], "saved once, and not moved"
    assert again[2]["added_at"] == first[1]["added_at"] and again[0]["added_at"] > first[0]["added_at"]
    api.ok("DELETE", f"/me/library?uris={two},{two}")
    assert [s["track"]["uri"] for s in api.all("/me/tracks")] == [three, one]
    assert api.ok("GET", f"/me/library/contains?uris={one},{two},spotify:artist:{a.catalog.artist(0).id}") == [
        True,
        False,
        False,
    ]


def test_library_takes_every_kind_the_migration_guide_lists_and_refuses_the_rest(start: Start) -> None:
    source = build_account("tiny")
    sim = start(empty_like(source))
    api, a = Api(sim), sim.account
    album, show = f"spotify:album:{a.catalog.album(3).id}", f"spotify:show:{a.show_pool[0].id}"
    episode, book = f"spotify:episode:{a.episode_pool[1].id}", f"spotify:audiobook:{a.audiobook_pool[0].id}"
    followed = f"spotify:playlist:{named(source, 'Friday Faves')}"
    mine = f"spotify:playlist:{named(source, 'Chill')}"  # the source user's: gone with their account
    user = "spotify:user:spotifyfan42"
    api.ok("PUT", "/me/library?uris=" + ",".join((album, show, episode, book, followed, user)))
    assert [s["album"]["uri"] for s in api.all("/me/albums")] == [album]
    assert [s["show"]["uri"] for s in api.all("/me/shows")] == [show]
    assert [s["episode"]["uri"] for s in api.all("/me/episodes")] == [episode]
    assert [s["audiobook"]["uri"] for s in api.all("/me/audiobooks")] == [book]
    assert [p["uri"] for p in api.playlists()] == [followed]
    api.refused("GET", f"/playlists/{followed.rsplit(':', 1)[1]}/items", 403)
    chapter = "spotify:chapter:" + "A" * 22
    for uris, message in (
        ([album, chapter], "Unsupported URI type: chapter"),
        ([album, a.local_files[0].uri], "Unsupported URI type: local"),
        ([album, mine], "non-existing ID"),
        ([album, "spotify:album:short"], "Invalid base62 id"),
        ([album] * 41, "maximum is 40"),
    ):
        api.refused("PUT", "/me/library?uris=" + ",".join(uris), 400, message)
        api.refused("DELETE", "/me/library?uris=" + ",".join(uris), 400, message)
    api.refused("PUT", "/me/library", 400, "uris")
    api.refused("PUT", "/me/library?uris=", 400, "uris")
    assert len(api.all("/me/albums")) == 1, "a refused request saves nothing"
    api.ok("DELETE", f"/me/library?uris={followed},{album},{user}")
    assert api.playlists() == [] and api.all("/me/albums") == []
    # the old library endpoints are gone for development-mode apps
    api.refused("PUT", f"/me/tracks?ids={a.catalog.track(0).id}", 403, "/me/library")
    api.refused("DELETE", "/me/albums", 403, "/me/library")


def test_artists_are_followed_through_the_library_in_spotifys_id_order(start: Start) -> None:
    sim = start("tiny")
    api, a = Api(sim), sim.account
    listed = [x["id"] for x in api.all("/me/following?type=artist")]
    new = [a.catalog.artist(i).id for i in range(a.catalog.n_artists) if i not in a.artists][:3]
    uri = [f"spotify:artist:{i}" for i in new]
    response = api("PUT", f"/me/library?uris={uri[0]},{uri[1]}")
    assert response.status_code == 200 and response.content == b""
    api.ok("PUT", f"/me/library?uris={uri[2]},{uri[0]}")  # following again changes nothing
    now = [x["id"] for x in api.all("/me/following?type=artist")]
    assert now == sorted([*listed, *new]) and len(now) == len(listed) + 3
    assert api.ok("GET", f"/me/library/contains?uris={uri[0]},spotify:artist:{listed[0]}") == [True, True]
    api.ok("DELETE", f"/me/library?uris={uri[1]},spotify:artist:{listed[0]}")
    left = sorted([*listed[1:], new[0], new[2]])
    assert [x["id"] for x in api.all("/me/following?type=artist")] == left
    assert [r["artist_uri"] for r in sim.expected_rows("artists")] == [f"spotify:artist:{i}" for i in left]
    api.ok("PUT", "/me/library?uris=spotify:user:spotifyfan42")  # accepted, not modelled
    api.refused("PUT", "/me/library?uris=spotify:artist:" + "Z" * 22, 400, "non-existing ID")


def test_a_spec_literal_stand_in_follows_artists_by_id_and_not_through_the_library(start: Start) -> None:
    """``library_uri_types="spec"``: the spec's reading (rules.py): no artist URIs in ``PUT``/``DELETE
    /me/library``, the deprecated ``PUT``/``DELETE /me/following`` with its parameters and limits."""
    sim = start("tiny", library_uri_types="spec")
    api, a = Api(sim), sim.account
    listed = [x["id"] for x in api.all("/me/following?type=artist")]
    new = [a.catalog.artist(i).id for i in range(a.catalog.n_artists) if i not in a.artists][:3]
    api.refused(
        "PUT", f"/me/library?uris={track_uri(a, 1)},spotify:artist:{new[0]}", 400, "Unsupported URI type: artist"
    )
    api.refused("DELETE", f"/me/library?uris=spotify:artist:{listed[0]}", 400, "Unsupported URI type: artist")
    assert api.ok("GET", f"/me/library/contains?uris=spotify:artist:{listed[0]}") == [True], "the spec lists artists"
    assert sim.writes_applied == 0 and [x["id"] for x in api.all("/me/following?type=artist")] == listed

    response = api("PUT", f"/me/following?type=artist&ids={new[0]},{new[1]}")
    assert response.status_code == 204 and response.content == b""
    api.ok("PUT", f"/me/following?type=artist&ids={new[2]}, {new[0]}", 204)  # following again changes nothing
    assert [x["id"] for x in api.all("/me/following?type=artist")] == sorted([*listed, *new])
    api.ok("DELETE", f"/me/following?type=artist&ids={new[1]},{listed[0]}", 204)
    left = sorted([*listed[1:], new[0], new[2]])
    assert [x["id"] for x in api.all("/me/following?type=artist")] == left
    api.ok("PUT", "/me/following?type=user&ids=spotifyfan42", 204)  # accepted, not modelled
    api.ok("PUT", "/me/following?type=artist&ids=" + ",".join([new[1]] * 50), 204)
    for path, kwargs, message in (
        ("/me/following?type=artist", {"json": {"ids": [listed[0]]}}, "ids"),  # the spec wants them in the query
        (f"/me/following?ids={listed[0]}", {}, "type"),
        (f"/me/following?type=album&ids={listed[0]}", {}, "type"),
        ("/me/following?type=artist&ids=" + ",".join([listed[0]] * 51), {}, "maximum is 50"),
        ("/me/following?type=artist&ids=" + "Z" * 22, {}, "non-existing ID"),
        ("/me/following?type=artist&ids=short", {}, "Invalid base62 id"),
    ):
        api.refused("PUT", path, 400, message, **kwargs)
    reader = Api(sim, sim.issue_refresh_token("user-follow-read user-library-modify"))
    reader.refused("PUT", f"/me/following?type=artist&ids={listed[0]}", 403, "Insufficient client scope")
    assert [x["id"] for x in api.all("/me/following?type=artist")] == sorted([*left, new[1]])
    # the rest as in Spotify's reading: other library writes, and the other removed routes
    api.ok("PUT", f"/me/library?uris={track_uri(a, 1)}")
    api.refused("PUT", f"/playlists/{named(a, 'Friday Faves')}/followers", 403, "/me/library")
    api.refused("GET", f"/me/following/contains?type=artist&ids={listed[0]}", 403, "/me/library/contains")
    assert sim.writes_applied == 6
    with pytest.raises(ValueError, match="library_uri_types"):
        SpotifySimulator(build_account("tiny"), library_uri_types="literal")


def test_the_routes_development_mode_lost_answer_403_and_change_nothing(start: Start) -> None:
    """Spotify's February 2026 changelog: [REMOVED] ... Use PUT/DELETE /me/library (rules.py)."""
    sim = start("tiny")
    api, a = Api(sim), sim.account
    artist = next(a.catalog.artist(i).id for i in range(a.catalog.n_artists) if i not in a.artists)
    followed = named(a, "Friday Faves")
    mine = own(a, "-minus")
    before = (sim.expected_rows("artists"), sim.expected_rows("playlists"), sim.expected_rows("library"))
    for method, path, kwargs, instead in (
        ("PUT", f"/me/following?type=artist&ids={artist}", {}, "/me/library"),
        ("PUT", "/me/following?type=artist", {"json": {"ids": [artist]}}, "/me/library"),
        ("PUT", "/me/following?type=user&ids=spotifyfan42", {}, "/me/library"),
        ("DELETE", f"/me/following?type=artist&ids={a.catalog.artist(a.artists[0]).id}", {}, "/me/library"),
        ("GET", f"/me/following/contains?type=artist&ids={artist}", {}, "/me/library/contains"),
        ("PUT", f"/playlists/{followed}/followers", {"json": {"public": True}}, "/me/library"),
        ("DELETE", f"/playlists/{followed}/followers", {}, "/me/library"),
        ("DELETE", f"/playlists/{mine}/followers", {}, "/me/library"),
        ("GET", f"/playlists/{followed}/followers/contains?ids={a.me.id}", {}, "/me/library/contains"),
        ("PUT", f"/me/tracks?ids={a.catalog.track(0).id}", {}, "/me/library"),
        ("DELETE", f"/me/albums?ids={a.catalog.album(0).id}", {}, "/me/library"),
        ("GET", f"/me/tracks/contains?ids={a.catalog.track(0).id}", {}, "/me/library/contains"),
        ("POST", f"/playlists/{mine}/tracks", {"json": {"uris": [track_uri(a, 1)]}}, "/items"),
    ):
        api.refused(method, path, 403, instead, **kwargs)
    assert (sim.expected_rows("artists"), sim.expected_rows("playlists"), sim.expected_rows("library")) == before
    assert sim.writes_applied == 0
    assert api.ok("GET", "/me/following?type=artist&limit=1")["artists"]["total"] == len(a.artists), "still there"


# -- scopes, the pipeline and faults -------------------------------------------------------------


def test_writes_need_their_scopes_when_the_token_has_few(start: Start) -> None:
    sim = start()
    a = sim.account
    assert Api(sim).scope == DEFAULT_SCOPES
    reader = Api(sim, sim.issue_refresh_token("playlist-read-private user-library-read"))
    assert reader.scope == "playlist-read-private user-library-read"
    target, public = own(a, "-minus"), own(a, "=SUM(A1)")
    track = track_uri(a, 2)
    for method, path, kwargs in (
        ("POST", "/me/playlists", {"json": {"name": "x"}}),
        ("PUT", f"/playlists/{target}", {"json": {"name": "x"}}),
        ("POST", f"/playlists/{target}/items", {"json": {"uris": [track]}}),
        ("PUT", f"/playlists/{target}/images", {"data": b64(jpeg("x")), "headers": {"Content-Type": "image/jpeg"}}),
        ("PUT", f"/me/library?uris={track}", {}),
        ("PUT", f"/me/library?uris=spotify:artist:{a.catalog.artist(0).id}", {}),
    ):
        reader.refused(method, path, 403, "Insufficient client scope", **kwargs)
    assert reader.ok("GET", "/me/tracks?limit=1")["total"] == len(a.liked), "reads need no write scope"
    private_only = Api(sim, sim.issue_refresh_token("playlist-modify-private user-library-modify"))
    private_only.refused("POST", f"/playlists/{public}/items", 403, "scope", json={"uris": [track]})
    private_only.refused("POST", "/me/playlists", 403, "scope", json={"name": "public by default"})
    private_only.ok("POST", "/me/playlists", 201, json={"name": "private", "public": False})
    private_only.ok("PUT", f"/me/library?uris={track}")
    private_only.refused("PUT", f"/me/library?uris=spotify:playlist:{named(a, 'Friday Faves')}", 403, "scope")
    private_only.refused("PUT", f"/me/library?uris={track},spotify:artist:{a.catalog.artist(0).id}", 403, "scope")
    private_only.refused("PUT", f"/playlists/{target}/images", 403, "scope", data=b64(jpeg("x")))
    assert sim.cover_of(target) is None and a.playlists[0].name == "private"
    assert sim.writes_applied == 2 and sim.write_requests == 13


def test_writes_go_through_the_request_pipeline_and_are_counted(start: Start) -> None:
    faults = Faults(unavailable={"POST /v1/playlists/{id}/items": 503}, ban_after_requests=12)
    sim = start("tiny", faults)
    api, a = Api(sim), sim.account
    target = own(a, "-minus")
    track = track_uri(a, 2)
    anonymous = requests.post(f"{sim.api_url}/playlists/{target}/items", json={"uris": [track]}, timeout=10)
    assert anonymous.status_code == 401
    api.refused("POST", f"/playlists/{target}/items", 503, json={"uris": [track]})
    assert api.ok("PUT", f"/playlists/{target}/items", json={"uris": [track]})
    api.refused("PATCH", f"/playlists/{target}/items", 405)
    api.refused("POST", "/me/library", 405)
    api.refused("DELETE", "/me/nothing", 404)
    api.refused("POST", f"/playlists/{target}/tracks", 403, "/items")
    assert sim.counters[(ITEMS, 401)] == 1 and sim.counters[(ITEMS, 503)] == 1 and sim.counters[(ITEMS, 200)] == 1
    assert sim.write_counters[("PUT", ITEMS, 200)] == 1 and sim.write_counters[("POST", ITEMS, 503)] == 1
    assert (sim.requests_total, sim.write_requests, sim.writes_applied) == (7, 4, 1)
    while sim.requests_total < 12:
        api.ok("GET", "/me")
    response = api("PUT", f"/playlists/{target}/items", json={"uris": []})
    assert response.status_code == 429 and response.headers["Retry-After"] == "3600"
    assert sim.account.playlist(target) is not None and len(a.playlist(target).entries) == 1  # type: ignore[union-attr]


def test_a_write_that_gets_a_fault_is_not_applied(start: Start) -> None:
    faults = Faults(server_error_rate=0.3, rate_limit_rate=0.2, malformed_rate=0.2, seed=5)
    sim = start("small", faults)
    api, a = Api(sim), sim.account
    target = own(a, "+1 mix")
    before = [r["track_uri"] for r in sim.expected_rows("playlist_items") if r["playlist_id"] == target]
    applied, statuses = [], []
    for n in range(40):
        uri = track_uri(a, n)
        response = api("POST", f"/playlists/{target}/items", json={"uris": [uri]})
        statuses.append(response.status_code)
        if response.status_code == 201:
            assert set(response.json()) == {"snapshot_id"}, "writes are never truncated"
            applied.append(uri)
        else:
            assert response.json()["error"]["status"] == response.status_code
    assert {201, 429} <= set(statuses) and set(statuses) & {500, 502, 503}
    rows = [r["track_uri"] for r in sim.expected_rows("playlist_items") if r["playlist_id"] == target]
    assert rows == before + applied
    assert sim.writes_applied == len(applied) and sim.write_requests == 40


def test_fail_writes_after_interrupts_a_restore_until_cleared(start: Start) -> None:
    sim = start(empty_like(build_account("tiny")), Faults(fail_writes_after=3))
    api, a = Api(sim), sim.account
    uris = [track_uri(a, n) for n in range(6)]
    got = [api(method="PUT", path=f"/me/library?uris={uri}").status_code for uri in uris]
    assert got == [200, 200, 200, 503, 503, 503]
    assert [s["track"]["uri"] for s in api.all("/me/tracks")] == uris[2::-1], "reads still work"
    assert (sim.writes_applied, sim.write_requests) == (3, 6)
    sim.fail_writes_after = None
    api.ok("PUT", "/me/library?uris=" + ",".join(uris))
    assert [s["track"]["uri"] for s in api.all("/me/tracks")] == uris[::-1]
    sim.fail_writes_after = sim.writes_applied
    api.refused("POST", "/me/playlists", 503, json={"name": "x"})
    assert api.playlists() == []


def test_concurrent_writes_are_all_applied(start: Start) -> None:
    sim = start("small")
    a = sim.account
    target = own(a, "@home")
    apis = [Api(sim) for _ in range(6)]
    snapshots: list[str] = []

    def add(api: Api, worker: int) -> None:
        for n in range(8):
            body = api.ok("POST", f"/playlists/{target}/items", 201, json={"uris": [track_uri(a, worker * 8 + n)]})
            snapshots.append(body["snapshot_id"])

    threads = [threading.Thread(target=add, args=(api, n)) for n, api in enumerate(apis)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(a.playlist(target).entries) == 7 + 48  # type: ignore[union-attr]
    assert len(set(snapshots)) == 48


# -- an empty account to restore into -----------------------------------------------------------


def test_an_empty_account_resolves_every_uri_of_its_source(start: Start) -> None:
    source = build_account("small")
    target = empty_like(source)
    assert build_account("small", empty=True).me == target.me != source.me
    sim = start(target)
    api = Api(sim)
    me = api.ok("GET", "/me")
    assert me["id"] == "restoretarget" and me["id"] != source.me.id
    for dataset in COLUMNS:
        assert sim.expected_rows(dataset) == [], dataset
    assert sim.minimal_requests() == 8
    # liked songs, oldest first, 40 a request: the newest is saved last and listed first
    liked = [f"spotify:track:{source.catalog.track(t).id}" for t, _ in reversed(source.liked)]
    for chunk in range(0, len(liked), 40):
        api.ok("PUT", "/me/library?uris=" + ",".join(liked[chunk : chunk + 40]))
    assert [r["track_uri"] for r in sim.expected_rows("library")] == [
        r["track_uri"] for r in SpotifySimulator(source).expected_rows("library")
    ]
    others = [p for p in source.playlists if p.owner != 0]
    saved = [f"spotify:album:{source.catalog.album(i).id}" for i, _ in source.albums]
    saved += [f"spotify:show:{s.id}" for s, _ in source.shows] + [f"spotify:episode:{e.id}" for e, _ in source.episodes]
    saved += [f"spotify:audiobook:{b.id}" for b, _ in source.audiobooks]
    saved += [f"spotify:playlist:{p.id}" for p in others]
    for chunk in range(0, len(saved), 40):
        api.ok("PUT", "/me/library?uris=" + ",".join(saved[chunk : chunk + 40]))
    artists = [f"spotify:artist:{source.catalog.artist(i).id}" for i in source.artists]
    for chunk in range(0, len(artists), 40):
        api.ok("PUT", "/me/library?uris=" + ",".join(artists[chunk : chunk + 40]))
    expected = SpotifySimulator(source)
    for dataset in ("albums", "shows", "episodes", "audiobooks"):
        key = next(k for k in COLUMNS[dataset] if k.endswith("uri"))
        assert sorted(r[key] for r in sim.expected_rows(dataset)) == sorted(
            r[key] for r in expected.expected_rows(dataset)
        )
    assert sim.expected_rows("artists") == expected.expected_rows("artists")
    followed = {p["id"]: p for p in api.playlists()}
    assert set(followed) == {p.id for p in others}
    for playlist in others:
        status = api(method="GET", path=f"/playlists/{playlist.id}/items").status_code
        assert status == (200 if playlist.collaborative else 403)
        assert followed[playlist.id]["owner"]["id"] == source.users[playlist.owner].id
    band = api.items(next(p.id for p in others if p.collaborative))
    assert source.me.id in {e["added_by"]["id"] for e in band}, "the old account stays known as an adder"
    # the source's own playlists are gone: recreate them, items included (local files cannot be added)
    road_trip = source.playlists[0]
    made = api.ok("POST", "/me/playlists", 201, json={"name": road_trip.name, "description": road_trip.description})
    rows = [r for r in SpotifySimulator(source).expected_rows("playlist_items") if r["playlist_id"] == road_trip.id]
    addable = [r["track_uri"] for r in rows if r["item_type"] in ("track", "episode")]
    for chunk in range(0, len(addable), 100):
        api.ok("POST", f"/playlists/{made['id']}/items", 201, json={"uris": addable[chunk : chunk + 100]})
    assert api.uris(made["id"]) == addable
    api.refused("POST", f"/playlists/{made['id']}/items", 400, json={"uris": [a.uri for a in source.local_files]})
    api.refused("PUT", f"/me/library?uris=spotify:playlist:{road_trip.id}", 400, "non-existing ID")
    # and what is served is what the ground truth says
    served = rows_from_json(read_everything(api.session, sim))
    for dataset in COLUMNS:
        assert served[dataset] == sim.expected_rows(dataset), dataset


def test_empty_like_refuses_a_user_of_the_source() -> None:
    source = build_account("tiny")
    with pytest.raises(ValueError, match="already exists"):
        empty_like(source, source.users[1])
    target = empty_like(source)
    target.world[named(source, "Band practice 🥁")].entries.clear()
    assert source.playlist(named(source, "Band practice 🥁")).entries, "copies, not shared"  # type: ignore[union-attr]


# -- helpers for tests that change an account between exports ------------------------------------


def test_edit_helpers_change_the_account_like_the_endpoints(start: Start) -> None:
    sim = start("small")
    api, a = Api(sim), sim.account
    chill = own(a, "-minus")
    library = sim.expected_rows("library")
    old = next(r["snapshot_id"] for r in sim.expected_rows("playlists") if r["playlist_id"] == chill)
    snapshot = sim.edit.change_details(chill, name="Renamed in a test")
    snapshot = sim.edit.add_items(chill, [track_uri(a, 9)], position=0, added_by="marta.k")
    first = next(r for r in sim.expected_rows("playlist_items") if r["playlist_id"] == chill)
    assert (first["track_uri"], first["added_by"]) == (track_uri(a, 9), "marta.k")
    sim.edit.reorder_items(chill, 0, 4)
    sim.edit.remove_items(chill, [track_uri(a, 9)])
    liked, second = track_uri(a, 11), library[1]["track_uri"]
    sim.edit.save([liked])
    sim.edit.unsave([second])
    rows = {r["playlist_id"]: r for r in sim.expected_rows("playlists")}
    assert rows[chill]["playlist_name"] == "Renamed in a test" and rows[chill]["snapshot_id"] not in (old, snapshot)
    now = sim.expected_rows("library")
    assert now[0]["track_uri"] == liked and len(now) == len(library) and now[1:] == [library[0], *library[2:]]
    items = [r for r in sim.expected_rows("playlist_items") if r["playlist_id"] == chill]
    assert [r["playlist_name"] for r in items] == ["Renamed in a test"] * 3
    assert api.playlist(chill)["snapshot_id"] == rows[chill]["snapshot_id"]
    with pytest.raises(WriteError) as refused:
        sim.edit.add_items(chill, [a.local_files[0].uri])
    assert refused.value.status == 400
    made = sim.edit.create_playlist("From a test", public=False)
    assert api.playlists()[0]["id"] == made.id
    # anything else: change(), which gives every playlist it changed a new snapshot id
    untouched = {p.id: p.snapshot_id for p in a.playlists if p.id != chill}
    sim.change(lambda account: account.playlist(chill).entries.reverse())  # type: ignore[union-attr]
    assert a.playlist(chill).snapshot_id != rows[chill]["snapshot_id"]  # type: ignore[union-attr]
    assert {p.id: p.snapshot_id for p in a.playlists if p.id != chill} == untouched
    assert sim.change(lambda account: len(account.playlists)) == len(a.playlists)
    assert {p.id: p.snapshot_id for p in a.playlists if p.id != chill} == untouched
    appended = Playlist("AppendedByATest0000000", "Appended", 0, False, True, "", [])
    sim.change(lambda account: account.playlists.append(appended))
    assert a.playlist(appended.id) is appended and appended.snapshot_id, "joins the world with a snapshot id"

    def half_way(account: Account) -> None:
        appended.name = "renamed, then failed"
        raise RuntimeError("half way")

    with pytest.raises(RuntimeError):
        sim.change(half_way)
    assert appended.history, "a change that failed half way still bumps what it changed"
    assert sim.edit.set_cover(appended.id, jpeg("test")) and sim.cover_of(appended.id) == jpeg("test")
    sim.edit.set_cover(appended.id, None)
    assert sim.cover_of(appended.id) is None
    before = sim.requests_total
    served = rows_from_json(read_everything(api.session, sim))
    for dataset in COLUMNS:
        assert served[dataset] == sim.expected_rows(dataset), dataset
    assert sim.requests_total - before == sim.minimal_requests()


def test_the_validator_knows_the_write_answers(validator: SpecValidator) -> None:
    assert validator.errors("/v1/me/playlists", 201, {"id": 7}, method="POST")
    assert validator.errors(ITEMS, 201, {"snapshot_id": 7}, method="POST")
    assert validator.errors(ITEMS, 200, {"snapshot_id": "x"}, method="DELETE") == []
    assert validator.errors("/v1/playlists/{id}/images", 202, {"some": "body"}, method="PUT")
    assert validator.errors("/v1/playlists/{id}/images", 202, None, method="PUT") == []
    assert validator.errors("/v1/me/library", 400, {"status": 400, "message": "bare"}, method="PUT")
    assert validator.errors("/v1/me/library", 400, {"error": {"status": 400, "message": "x"}}, method="PUT") == []
    with pytest.raises(LookupError):
        validator.response_schema("/v1/me/library", 201, method="PUT")
