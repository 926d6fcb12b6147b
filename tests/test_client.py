"""The Spotify client's policies: pacing, retries, token refresh, paging, and where the token goes."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from exporter_fixtures import NoSleep, write_env_file

from spotify_exporter.client import SpotifyClient
from spotify_exporter.connect import connect
from spotify_exporter.credentials import EnvironmentSecrets
from spotify_exporter.errors import ConfigError, ForbiddenError, RateLimitedError, SpotifyRequestError
from spotify_exporter.pacing import RequestPacer
from spotify_exporter.retries import retry_after_seconds
from spotify_exporter.settings import settings_from_env
from spotify_simulator import Faults, SpotifySimulator

Simulator = Callable[..., SpotifySimulator]


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def client_for(
    sim: SpotifySimulator, tmp_path: Path, sleep: Callable[[float], None], **settings: object
) -> SpotifyClient:
    config = settings_from_env({}, api_url=sim.api_url, accounts_url=sim.accounts_url, **settings)
    secrets = EnvironmentSecrets(environ={}, dotenv_path=write_env_file(tmp_path / ".env", sim))
    return connect(secrets, config, [], sleep=sleep)


def test_pacer_never_lets_more_than_n_requests_into_any_30_s_window() -> None:
    time = FakeTime()
    pacer = RequestPacer(10, 30.0, clock=time.clock, sleep=time.sleep)
    sent = []
    for _ in range(35):
        pacer.wait_turn()
        sent.append(time.now)
        time.now += 0.1
    for start in sent:
        assert sum(1 for t in sent if start <= t < start + 30) <= 10
    assert sent[-1] >= 90  # 35 requests at 10 per 30 s take three full windows


def test_pacer_does_not_slow_down_traffic_under_the_limit() -> None:
    time = FakeTime()
    pacer = RequestPacer(100, 30.0, clock=time.clock, sleep=time.sleep)
    assert sum(pacer.wait_turn() for _ in range(100)) == 0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("3", 3.0), ("3600", 3600.0), ("Wed, 25 Nov 2026 01:00:10 GMT", 10.0), ("soon", None), (None, None)],
)
def test_retry_after_in_seconds_or_as_a_date(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header, datetime(2026, 11, 25, 1, 0, 0, tzinfo=UTC)) == seconds


def test_429_within_the_budget_is_waited_out(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("tiny", faults=Faults(rate_limit_rate=0.5, retry_after_s=2, seed=3))
    sleep = NoSleep()
    client = client_for(sim, tmp_path, sleep)
    items = [item for page in client.pages("/me/tracks") for item in page.items]
    assert len(items) == len(sim.expected_rows("library"))
    assert 2 in sleep.waits
    assert client.stats.rate_limit_wait_s == 2 * sleep.waits.count(2)


def test_429_beyond_the_run_budget_stops_with_the_time_to_come_back(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("tiny", faults=Faults(rate_limit_rate=1.0, retry_after_s=50))
    sleep = NoSleep()
    client = client_for(sim, tmp_path, sleep, rate_limit_budget_s=120)
    with pytest.raises(RateLimitedError, match=r"rate-limited this app for 50 s; run the export again after"):
        client.get_json("/me")
    assert sleep.waits.count(50) == 2  # 50 + 50 fit into 120 s, a third wait does not


def test_forbidden_is_not_retried(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("tiny", faults=Faults(unavailable={"/v1/me/shows": 403}))
    client = client_for(sim, tmp_path, NoSleep())
    with pytest.raises(ForbiddenError, match="HTTP 403"):
        client.get_json("/me/shows")
    assert sim.requests_total == 1


def test_paging_links_to_another_host_never_get_the_token(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("tiny")
    client = client_for(sim, tmp_path, NoSleep())
    with pytest.raises(SpotifyRequestError, match="another host"):
        client.get_json("https://evil.example/v1/me")
    assert sim.requests_total == 0


def test_a_read_resumed_at_an_offset_ends_at_the_total_when_its_last_next_names_itself(
    simulator: Simulator, tmp_path: Path
) -> None:
    """A resume reads a playlist from where the partial snapshot stopped: the items before that
    offset count as read, so the last page's ``next`` stuck at its own URL (as Spotify has served
    it) is the end, neither a failure nor the same page asked for and written twice."""
    sim = simulator("small", faults=Faults(repeat_next=("/v1/me/tracks",)))  # 201 liked songs
    client = client_for(sim, tmp_path, NoSleep())
    pages = list(client.pages("/me/tracks", {"offset": 200}))
    assert [len(page.items) for page in pages] == [1]
    assert sim.counters[("/v1/me/tracks", 200)] == 1


def test_on_sent_runs_once_the_request_is_on_its_way_not_when_the_answer_is_in(
    simulator: Simulator, tmp_path: Path
) -> None:
    sim = simulator("tiny", faults=Faults(latency_s=0.3))
    client = client_for(sim, tmp_path, NoSleep())
    client.get_json("/me")  # the token is fetched: only the GET is timed below
    sent: list[float] = []
    client.get_json("/me", on_sent=lambda: sent.append(time.monotonic()))
    answered = time.monotonic()
    assert len(sent) == 1
    assert answered - sent[0] >= 0.25, "handed over before the 300 ms answer, not after it"


def test_on_sent_runs_even_when_nothing_is_sent(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("tiny")
    client = client_for(sim, tmp_path, NoSleep())
    calls: list[str] = []
    with pytest.raises(SpotifyRequestError):
        client.get_json("https://evil.example/v1/me", on_sent=lambda: calls.append("sent"))
    assert calls == ["sent"]
    assert sim.requests_total == 0


def test_every_request_has_a_timeout(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("tiny", faults=Faults(latency_s=2.0))
    sleep = NoSleep()
    client = client_for(sim, tmp_path, sleep, read_timeout_s=0.3, max_attempts=2)
    with pytest.raises(Exception, match="after 2 attempts \\(ReadTimeout\\)"):
        client.get_json("/me")


def test_settings_come_from_the_environment_and_bad_values_are_named() -> None:
    settings = settings_from_env({"SPOTIFY_API_URL": "http://127.0.0.1:1/v1/", "SPOTIFY_MAX_REQUESTS_PER_30S": "20"})
    assert settings.api_url == "http://127.0.0.1:1/v1"
    assert settings.max_requests_per_30s == 20
    with pytest.raises(ConfigError, match="SPOTIFY_MAX_REQUESTS_PER_30S='lots'"):
        settings_from_env({"SPOTIFY_MAX_REQUESTS_PER_30S": "lots"})


def test_credentials_repr_hides_secrets() -> None:
    from spotify_exporter.credentials import SpotifyCredentials

    assert "s3cret" not in repr(SpotifyCredentials("id", "s3cret", "r3fresh"))
    assert "r3fresh" not in repr(SpotifyCredentials("id", "s3cret", "r3fresh"))


def test_a_stream_nobody_reads_does_not_hang_the_client(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("small")
    client = client_for(sim, tmp_path, NoSleep())
    unread = client.pages("/me/tracks")  # 201 songs: the request thread fills two pages and waits
    deadline = time.monotonic() + 10
    while sim.requests_total < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    client.close()  # returns: the unread stream is abandoned, not waited for
    assert sim.requests_total <= 3, "it fetches at most a page beyond what fits in its queue"
    del unread


def test_after_a_long_ban_nothing_more_is_sent(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("tiny", faults=Faults(ban_after_requests=1, ban_retry_after_s=3600))
    client = client_for(sim, tmp_path, NoSleep())
    client.get_json("/me")
    for _ in range(3):
        with pytest.raises(RateLimitedError):
            client.get_json("/me/tracks")
    assert sim.requests_total == 2
