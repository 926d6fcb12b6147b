"""The function app as the Python worker indexes it, and its settings and time budget."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from azure.functions.decorators.function_app import Function
from azure.functions.timer import TimerRequest
from azurite import Azurite
from keyvault_standin import KeyVaultStandIn
from snapshot_checks import DATASETS, assert_matches_truth, verify_snapshot

from spotify_exporter.credentials import SpotifyCredentials
from spotify_exporter.errors import ConfigError
from spotify_exporter.keyvault import KeyVaultSecrets
from spotify_exporter.scheduled import (
    ActionRequiredError,
    AppSettings,
    ExportIncompleteError,
    function_timeout_s,
    time_budget_s,
)
from spotify_exporter.stores.blob import BlobStore
from spotify_simulator import Faults, SpotifySimulator

FUNCTIONS = Path(__file__).resolve().parents[1] / "functions"


@functools.cache
def indexed_functions() -> list[Function]:
    """Index the app once, as the worker does at start (indexing twice is an error)."""
    import function_app

    return function_app.app.get_functions()


def test_the_worker_finds_one_weekly_timer_function() -> None:
    (function,) = indexed_functions()
    assert function.get_function_name() == "weekly_export"
    binding = json.loads(function.get_function_json())
    (trigger,) = binding["bindings"]
    assert trigger["type"] == "timerTrigger"
    assert trigger["schedule"] == "%EXPORT_SCHEDULE%"
    assert trigger["useMonitor"] is True
    assert trigger.get("runOnStartup", False) is False


def test_missing_settings_are_named() -> None:
    with pytest.raises(ConfigError, match="KEY_VAULT_NAME"):
        AppSettings.from_environ({"SNAPSHOT_ACCOUNT_URL": "https://a.blob.core.windows.net"})
    with pytest.raises(ConfigError, match="SNAPSHOT_ACCOUNT_URL"):
        AppSettings.from_environ({"KEY_VAULT_NAME": "vault"})
    settings = AppSettings.from_environ(
        {"KEY_VAULT_NAME": "v", "SNAPSHOT_ACCOUNT_URL": "https://a.blob.core.windows.net"}
    )
    assert settings.container == "spotify"
    assert settings.secret_names.refresh_token == "Spotify-RefreshToken"


def test_time_budget_leaves_room_before_the_host_timeout(tmp_path: Path) -> None:
    assert function_timeout_s(FUNCTIONS / "host.json") == 3600
    assert time_budget_s(3600) == 3300
    assert 0 < time_budget_s(300) < 300
    (tmp_path / "host.json").write_text('{"functionTimeout": "1.02:00:00"}')
    assert function_timeout_s(tmp_path / "host.json") == 26 * 3600
    assert function_timeout_s(tmp_path / "missing.json") == 30 * 60


def _seed_vault(keyvault: KeyVaultStandIn, sim: SpotifySimulator, authorized_at: datetime) -> None:
    credentials = SpotifyCredentials(sim.client_id, sim.client_secret, sim.refresh_token)
    KeyVaultSecrets(keyvault.url, keyvault.credential()).store_authorization(credentials, authorized_at)


def _app_settings(
    monkeypatch: pytest.MonkeyPatch, sim: SpotifySimulator, vault_url: str, blob: Azurite, container: str
) -> None:
    for name, value in {
        "KEY_VAULT_URL": vault_url,
        "SNAPSHOT_ACCOUNT_URL": blob.blob_endpoint,
        "SNAPSHOT_CONTAINER": container,
        "SPOTIFY_API_URL": sim.api_url,
        "SPOTIFY_ACCOUNTS_URL": sim.accounts_url,
        "EXPORT_SCHEDULE": "0 0 0 * * Sun",
    }.items():
        monkeypatch.setenv(name, value)


def _invoke_timer() -> None:
    (function,) = indexed_functions()
    function.get_user_function()(TimerRequest(past_due=False))


def test_timer_run_writes_a_complete_snapshot_by_identity_and_keeps_the_rotated_token(
    simulator: Callable[..., SpotifySimulator],
    keyvault: KeyVaultStandIn,
    azurite_oauth: Azurite,
    blob_container: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = simulator("small", faults=Faults(rotate_refresh_tokens=True))
    authorized_at = datetime(2026, 10, 1, tzinfo=UTC)
    _seed_vault(keyvault, sim, authorized_at)
    _app_settings(monkeypatch, sim, keyvault.url, azurite_oauth, blob_container)

    _invoke_timer()

    store = BlobStore.from_connection_string(azurite_oauth.connection_string, blob_container)
    (manifest_path,) = [p for p in store.list_files() if p.endswith("/manifest.json")]
    folder = manifest_path.rsplit("/", 1)[0]
    assert verify_snapshot(store, folder)["status"] == "complete"
    assert_matches_truth(store, folder, {name: sim.expected_rows(name) for name in DATASETS})
    rotated = keyvault.secrets["Spotify-RefreshToken"]
    assert rotated.value == sim.refresh_token != keyvault.versions("Spotify-RefreshToken")[0].value
    assert rotated.tags["authorized_at"] == "2026-10-01T00:00:00Z"


def test_a_vault_without_an_access_policy_fails_with_its_name(
    simulator: Callable[..., SpotifySimulator],
    keyvault: KeyVaultStandIn,
    azurite_oauth: Azurite,
    blob_container: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = simulator("tiny")
    _seed_vault(keyvault, sim, datetime.now(UTC))
    keyvault.deny("get")
    _app_settings(monkeypatch, sim, keyvault.url, azurite_oauth, blob_container)
    with pytest.raises(ConfigError, match="access policy"):
        _invoke_timer()
    assert sim.requests_total == 0


def test_a_partial_export_raises_after_writing_what_it_has(
    simulator: Callable[..., SpotifySimulator],
    keyvault: KeyVaultStandIn,
    azurite_oauth: Azurite,
    blob_container: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = simulator("small", faults=Faults(ban_after_requests=4, ban_retry_after_s=3600))
    _seed_vault(keyvault, sim, datetime.now(UTC))
    _app_settings(monkeypatch, sim, keyvault.url, azurite_oauth, blob_container)
    with pytest.raises(ExportIncompleteError, match="partial: Spotify rate-limited"):
        _invoke_timer()
    store = BlobStore.from_connection_string(azurite_oauth.connection_string, blob_container)
    (manifest_path,) = [p for p in store.list_files() if p.endswith("/manifest.json")]
    assert verify_snapshot(store, manifest_path.rsplit("/", 1)[0])["status"] == "partial"


def test_a_rotated_token_the_vault_refuses_to_keep_fails_the_run_after_a_complete_snapshot(
    simulator: Callable[..., SpotifySimulator],
    keyvault: KeyVaultStandIn,
    azurite_oauth: Azurite,
    blob_container: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Next week's run would be refused: this week's execution fails, so the alert fires now, while
    the snapshot stays complete (its data is whole) and carries the reason."""
    sim = simulator("tiny", faults=Faults(rotate_refresh_tokens=True))
    _seed_vault(keyvault, sim, datetime.now(UTC))
    keyvault.deny("set")
    _app_settings(monkeypatch, sim, keyvault.url, azurite_oauth, blob_container)
    caplog.set_level(logging.INFO, logger="spotify_exporter")

    with pytest.raises(ActionRequiredError, match="is complete, but Spotify issued a new refresh token but it could"):
        _invoke_timer()

    store = BlobStore.from_connection_string(azurite_oauth.connection_string, blob_container)
    (manifest_path,) = [p for p in store.list_files() if p.endswith("/manifest.json")]
    manifest = verify_snapshot(store, manifest_path.rsplit("/", 1)[0])
    assert manifest["status"] == "complete"
    (problem,) = manifest["action_required"]
    assert "may not write secrets" in problem and problem in manifest["warnings"]
    (summary,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("spotify export finished")]
    assert json.loads(summary.partition(" finished ")[2])["action_required"] == [problem]
