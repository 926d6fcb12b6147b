"""Pytest plugin: run the real exporter against a real simulator on 127.0.0.1.

Credentials go through the real ``EnvironmentSecrets`` (a ``.env`` file in a temp folder), so
rotated refresh tokens land where a user would find them.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import requests

from spotify_exporter.connect import connect
from spotify_exporter.credentials import EnvironmentSecrets
from spotify_exporter.export import ExportResult, run_export
from spotify_exporter.settings import settings_from_env
from spotify_exporter.stores import SnapshotStore
from spotify_simulator import Faults, SpotifySimulator, build_account

REPO = Path(__file__).resolve().parents[1]
EXPORTER = [sys.executable, "-m", "spotify_exporter.cli"]


class NoSleep:
    """Records the waits the client asks for instead of waiting (the simulator does not care)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def write_env_file(path: Path, sim: SpotifySimulator) -> Path:
    path.write_text(
        f"SPOTIFY_CLIENT_ID={sim.client_id}\nSPOTIFY_CLIENT_SECRET={sim.client_secret}\n"
        f"SPOTIFY_REFRESH_TOKEN={sim.refresh_token}\n# a comment the exporter must keep\n"
    )
    path.chmod(0o600)
    return path


def export_account(
    sim: SpotifySimulator,
    store: SnapshotStore,
    env_file: Path,
    *,
    sleep: Callable[[float], None] | None = None,
    time_budget_s: float | None = None,
    incremental: bool = True,
    **settings: Any,
) -> ExportResult:
    """One in-process export with the production wiring; ``sleep`` replaces real waiting."""
    config = settings_from_env({}, api_url=sim.api_url, accounts_url=sim.accounts_url, **settings)
    warnings: list[str] = []
    secrets = EnvironmentSecrets(environ={}, dotenv_path=env_file)
    client = connect(secrets, config, warnings, sleep=sleep or time.sleep, time_budget_s=time_budget_s)
    return run_export(client, store, warnings=warnings, incremental=incremental)


class SpotifyUser:
    """The account's owner changing things in "their Spotify app": real writes over the Web API."""

    def __init__(self, sim: SpotifySimulator) -> None:
        self.sim = sim
        self.session = requests.Session()
        grant = {"grant_type": "refresh_token", "refresh_token": sim.refresh_token}
        answer = self.session.post(f"{sim.accounts_url}/api/token", data=grant, auth=(sim.client_id, sim.client_secret))
        answer.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def call(self, method: str, path: str, **options: Any) -> requests.Response:
        response = self.session.request(method, self.sim.api_url + path, timeout=10, **options)
        assert response.status_code < 300, (method, path, response.status_code, response.text)
        return response

    def rename(self, playlist_id: str, name: str) -> None:
        self.call("PUT", f"/playlists/{playlist_id}", json={"name": name})

    def add(self, playlist_id: str, uris: list[str], position: int | None = None) -> None:
        body: dict[str, Any] = {"uris": uris}
        if position is not None:
            body["position"] = position
        self.call("POST", f"/playlists/{playlist_id}/items", json=body)

    def remove(self, playlist_id: str, uris: list[str]) -> None:
        self.call("DELETE", f"/playlists/{playlist_id}/items", json={"items": [{"uri": u} for u in uris]})

    def move(self, playlist_id: str, range_start: int, insert_before: int) -> None:
        body = {"range_start": range_start, "insert_before": insert_before, "range_length": 1}
        self.call("PUT", f"/playlists/{playlist_id}/items", json=body)

    def like(self, uris: list[str]) -> None:
        self.call("PUT", "/me/library", params={"uris": ",".join(uris)})

    def unlike(self, uris: list[str]) -> None:
        self.call("DELETE", "/me/library", params={"uris": ",".join(uris)})

    def follow_artists(self, ids: list[str]) -> None:
        """Development mode follows artists with ``PUT /me/library`` (``spotify_simulator/rules.py``)."""
        self.like([f"spotify:artist:{artist}" for artist in ids])


def cli_env(sim: SpotifySimulator, **extra: str) -> dict[str, str]:
    """Environment for running the CLI against ``sim`` in a subprocess."""
    env = sim.exporter_env()
    env.update(extra)
    return env


def run_cli(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*EXPORTER, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture
def simulator() -> Iterator[Callable[..., SpotifySimulator]]:
    """``simulator("small", faults=Faults(...))`` starts one; all stop at the end of the test."""
    with ExitStack() as stack:

        def start(size: str = "small", faults: Faults | None = None, **options: Any) -> SpotifySimulator:
            return stack.enter_context(SpotifySimulator(build_account(size), faults=faults, **options))

        yield start
