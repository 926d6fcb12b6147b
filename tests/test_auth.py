"""`make auth` end to end: the test plays the browser against the simulator's consent page."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from azurite import free_port
from dotenv import dotenv_values
from exporter_fixtures import export_account
from keyvault_standin import KeyVaultStandIn
from snapshot_checks import verify_snapshot

from spotify_exporter.errors import AuthExpiredError
from spotify_exporter.stores.local import LocalFolderStore
from spotify_simulator import Faults, SpotifySimulator

REPO = Path(__file__).resolve().parents[1]
Simulator = Callable[..., SpotifySimulator]


class AuthRun:
    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process = process
        self.url = url
        self.stdout = ""
        self.stderr = ""

    def finish(self) -> int:
        out, err = self.process.communicate(timeout=30)
        self.stdout += out
        self.stderr += err
        return self.process.returncode


@contextmanager
def make_auth(
    sim: SpotifySimulator, *args: str, env: dict[str, str] | None = None, stdin: int | None = None
) -> Iterator[AuthRun]:
    """Run scripts/auth.py headless; yield once it printed the consent URL (``stdin=PIPE`` to paste into it)."""
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    sim.register_redirect_uri(redirect_uri)
    environment = {k: v for k, v in (env or dict(os.environ)).items() if not k.startswith("SPOTIFY_")}
    environment.update(
        SPOTIFY_ACCOUNTS_URL=sim.accounts_url, SPOTIFY_CLIENT_ID=sim.client_id, SPOTIFY_CLIENT_SECRET=sim.client_secret
    )
    command = [sys.executable, str(REPO / "scripts" / "auth.py"), "--no-browser", "--redirect-uri", redirect_uri, *args]
    process = subprocess.Popen(
        command, env=environment, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    printed = ""
    url = ""
    for line in process.stdout:
        printed += line
        if line.strip().startswith(sim.authorize_url):
            url = line.strip()
            break
    run = AuthRun(process, url)
    run.stdout = printed
    try:
        yield run
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def play_browser(url: str, *, tamper_state: bool = False) -> requests.Response:
    """What a browser does: open the consent page, follow Spotify's redirect to the loopback listener."""
    consent = requests.get(url, allow_redirects=False, timeout=10)
    assert consent.status_code == 302, consent.text
    location = consent.headers["Location"]
    if tamper_state:
        location = location.replace("state=", "state=forged")
    return requests.get(location, timeout=10)


def assert_no_secrets(sim: SpotifySimulator, *texts: str) -> None:
    for secret in (sim.client_secret, sim.refresh_token, *sim.issued_access_tokens):
        for text in texts:
            assert secret not in text


def test_authorization_lands_in_dotenv_readable_only_by_the_user(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("tiny")
    env_file = tmp_path / ".env"
    env_file.write_text("# my settings\nOTHER_SETTING=keep me\n")
    with make_auth(sim, "--env-file", str(env_file)) as run:
        assert "code_challenge_method=S256" in run.url and "state=" in run.url
        assert "user-library-read" in run.url and "playlist-modify" not in run.url
        page = play_browser(run.url)
        assert "Authorized" in page.text
        assert run.finish() == 0, run.stderr
    text = env_file.read_text()
    assert text.startswith("# my settings\nOTHER_SETTING=keep me\n")
    stored = dotenv_values(env_file)
    assert stored["SPOTIFY_REFRESH_TOKEN"] == sim.refresh_token
    assert stored["SPOTIFY_CLIENT_ID"] == sim.client_id
    assert str(stored["SPOTIFY_AUTHORIZED_AT"]).startswith("20")
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert "Authorized." in run.stdout
    assert_no_secrets(sim, run.stdout, run.stderr)
    # and the exporter signs in with what was stored
    result = export_account(sim, LocalFolderStore(tmp_path / "backups"), env_file)
    assert result.status == "complete"


def test_authorization_lands_in_key_vault_with_its_time(
    simulator: Simulator, keyvault: KeyVaultStandIn, tmp_path: Path
) -> None:
    sim = simulator("tiny")
    with make_auth(sim, "--vault", keyvault.url, "--restore", "--env-file", str(tmp_path / ".env")) as run:
        assert "playlist-modify-private" in run.url
        play_browser(run.url)
        assert run.finish() == 0, run.stderr
    stored = keyvault.secrets
    assert stored["Spotify-RefreshToken"].value == sim.refresh_token
    assert stored["Spotify-ClientID"].value == sim.client_id
    assert stored["Spotify-ClientSecret"].value == sim.client_secret
    authorized_at = datetime.fromisoformat(stored["Spotify-RefreshToken"].tags["authorized_at"])
    assert abs(datetime.now(UTC) - authorized_at) < timedelta(minutes=5)
    assert not (tmp_path / ".env").exists()
    assert_no_secrets(sim, run.stdout, run.stderr)


def test_a_forged_state_is_refused_and_nothing_is_written(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("tiny")
    with make_auth(sim, "--env-file", str(tmp_path / ".env")) as run:
        play_browser(run.url, tamper_state=True)
        assert run.finish() == 1
    assert run.stderr.strip().splitlines() == [
        "error: the answer on the redirect URI did not carry this run's state (a stale or forged redirect); "
        "nothing was stored; run `make auth` again"
    ]
    assert not (tmp_path / ".env").exists()


def test_a_declined_consent_ends_with_one_line_and_writes_nothing(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("tiny")
    sim.consent = "deny"
    with make_auth(sim, "--env-file", str(tmp_path / ".env")) as run:
        play_browser(run.url)
        assert run.finish() == 1
    assert run.stderr.strip().splitlines() == [
        "error: the authorization was declined in Spotify (access_denied); nothing was stored"
    ]
    assert not (tmp_path / ".env").exists()


def test_no_answer_times_out_with_one_line(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("tiny")
    with make_auth(sim, "--env-file", str(tmp_path / ".env"), "--timeout", "1") as run:
        assert run.finish() == 1
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith("error: no answer from Spotify on http://127.0.0.1:")
    assert "within 1 s; nothing was stored" in line
    assert not (tmp_path / ".env").exists()


def _idle_connection_to(url: str) -> socket.socket:
    """Connect to the listener on the redirect URI carried by the consent URL, and send nothing."""
    redirect_uri = parse_qs(urlsplit(url).query)["redirect_uri"][0]
    target = urlsplit(redirect_uri)
    assert target.hostname is not None and target.port is not None
    return socket.create_connection((target.hostname, target.port), timeout=5)


def test_an_idle_local_connection_does_not_hold_up_the_real_redirect(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("tiny")
    with make_auth(sim, "--env-file", str(tmp_path / ".env")) as run, _idle_connection_to(run.url):
        page = play_browser(run.url)
        assert "Authorized" in page.text
        assert run.finish() == 0, run.stderr
    assert dotenv_values(tmp_path / ".env")["SPOTIFY_REFRESH_TOKEN"] == sim.refresh_token


def test_an_idle_local_connection_does_not_hold_up_the_timeout(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("tiny")
    with make_auth(sim, "--env-file", str(tmp_path / ".env"), "--timeout", "1") as run, _idle_connection_to(run.url):
        assert run.finish() == 1
    assert "no answer from Spotify" in run.stderr


def test_secrets_an_echoing_token_endpoint_sends_back_stay_out_of_the_message(
    simulator: Simulator, tmp_path: Path
) -> None:
    sim = simulator("tiny", faults=Faults(echo_errors=True, token_error_rate=1.0))
    with make_auth(sim, "--env-file", str(tmp_path / ".env")) as run:
        play_browser(run.url)
        assert run.finish() == 1
    (line,) = run.stderr.strip().splitlines()
    assert "Spotify refused to exchange the authorization code (HTTP 503 server_error" in line
    assert "[redacted]" in line, "the server did echo the request"
    basic = base64.b64encode(f"{sim.client_id}:{sim.client_secret}".encode()).decode()
    for secret in (sim.client_secret, basic, basic[:12]):
        assert secret not in run.stdout + run.stderr


def test_localhost_redirect_uris_are_refused_up_front(tmp_path: Path) -> None:
    env = {**os.environ, "SPOTIFY_CLIENT_ID": "id", "SPOTIFY_CLIENT_SECRET": "secret"}
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "auth.py"), "--redirect-uri", "http://localhost:8888/callback",
         "--env-file", str(tmp_path / ".env")],
        env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Spotify rejects `localhost`; use 127.0.0.1" in result.stderr


def _env_with_age(sim: SpotifySimulator, path: Path, days: int) -> Path:
    authorized = (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    path.write_text(
        f"SPOTIFY_CLIENT_ID={sim.client_id}\nSPOTIFY_CLIENT_SECRET={sim.client_secret}\n"
        f"SPOTIFY_REFRESH_TOKEN={sim.refresh_token}\nSPOTIFY_AUTHORIZED_AT={authorized}\n"
    )
    return path


def test_a_token_170_days_old_warns_in_the_manifest(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("tiny")
    store = LocalFolderStore(tmp_path / "b")
    result = export_account(sim, store, _env_with_age(sim, tmp_path / ".env", 170))
    manifest = verify_snapshot(store, result.folder)
    assert manifest["status"] == "complete"
    (warning,) = [w for w in manifest["warnings"] if "refresh token expires around" in w]
    assert "12 day(s) left" in warning and "run `make auth`" in warning


def test_a_token_190_days_old_that_spotify_refuses_names_make_auth(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("tiny")
    env_file = _env_with_age(sim, tmp_path / ".env", 190)
    sim.revoke_refresh_tokens()
    with pytest.raises(AuthExpiredError) as failure:
        export_account(sim, LocalFolderStore(tmp_path / "b"), env_file)
    message = str(failure.value)
    assert "run `make auth`" in message and "more than six months ago" in message


def test_a_fresh_token_does_not_warn(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("tiny")
    result = export_account(sim, LocalFolderStore(tmp_path / "b"), _env_with_age(sim, tmp_path / ".env", 30))
    assert not [w for w in result.manifest["warnings"] if "refresh token" in w]


def test_a_rotated_token_keeps_its_authorization_time_in_dotenv(simulator: Simulator, tmp_path: Path) -> None:
    from spotify_simulator import Faults

    sim = simulator("tiny", faults=Faults(rotate_refresh_tokens=True))
    env_file = _env_with_age(sim, tmp_path / ".env", 100)
    before = dotenv_values(env_file)["SPOTIFY_AUTHORIZED_AT"]
    export_account(sim, LocalFolderStore(tmp_path / "b"), env_file)
    stored = dotenv_values(env_file)
    assert stored["SPOTIFY_REFRESH_TOKEN"] == sim.refresh_token
    assert stored["SPOTIFY_AUTHORIZED_AT"] == before
