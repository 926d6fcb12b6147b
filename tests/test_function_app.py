"""The function app as the Python worker indexes it, and its settings and time budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spotify_exporter.errors import ConfigError
from spotify_exporter.scheduled import AppSettings, function_timeout_s, time_budget_s

FUNCTIONS = Path(__file__).resolve().parents[1] / "functions"


def test_the_worker_finds_one_weekly_timer_function() -> None:
    import function_app

    (function,) = function_app.app.get_functions()
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
