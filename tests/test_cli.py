"""The `spotify-exporter` command as a user runs it: exit codes, output, crashes, secrets."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from exporter_fixtures import EXPORTER, cli_env, run_cli
from snapshot_checks import verify_snapshot

from spotify_exporter.stores.local import LocalFolderStore
from spotify_simulator import Faults, SpotifySimulator

Simulator = Callable[..., SpotifySimulator]


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


def snapshot_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*/*") if p.is_dir())


def test_help_is_available_everywhere(tmp_path: Path) -> None:
    for args in ([], ["--help"], ["export", "--help"]):
        result = run_cli(args, dict(os.environ), tmp_path)
        assert result.returncode == 0, result.stderr
        assert "Usage:" in result.stdout
    assert "--blob-connection-string" in run_cli(["export", "--help"], dict(os.environ), tmp_path).stdout


def test_complete_export_exits_0_and_prints_where_the_snapshot_is(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("tiny")
    result = run_cli(["export", "--out", str(tmp_path / "b")], cli_env(sim), tmp_path)
    assert result.returncode == 0, result.stderr
    (folder,) = snapshot_folders(tmp_path / "b")
    assert str(folder) in result.stdout
    assert "library" in result.stdout and "requests" in result.stdout
    verify_snapshot(LocalFolderStore(tmp_path / "b"), str(folder.relative_to(tmp_path / "b")))


def test_partial_export_exits_2_with_the_reason(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("small", faults=Faults(ban_after_requests=3, ban_retry_after_s=7200))
    started = time.monotonic()
    result = run_cli(["export", "--out", str(tmp_path)], cli_env(sim), tmp_path)
    assert time.monotonic() - started < 60
    assert result.returncode == 2, result.stderr
    assert "run the export again after" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_credentials_exit_1_with_one_actionable_line(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("tiny")
    sim.revoke_refresh_tokens()
    result = run_cli(["export", "--out", str(tmp_path / "b")], cli_env(sim), tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: the Spotify refresh token has expired or was revoked; run `make auth` to authorize again"
    )
    assert "Traceback" not in result.stderr
    assert not list((tmp_path / "b").rglob("manifest.json")) if (tmp_path / "b").exists() else True


def test_missing_credentials_name_the_settings(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOTIFY_")}
    result = run_cli(["export", "--out", str(tmp_path)], env, tmp_path)
    assert result.returncode == 1
    assert "SPOTIFY_CLIENT_ID, SPOTIFY_CLIENT_SECRET, SPOTIFY_REFRESH_TOKEN not set" in result.stderr


def test_conflicting_destinations_are_a_usage_error(tmp_path: Path) -> None:
    result = run_cli(
        ["export", "--out", "x", "--blob-url", "https://a.blob.core.windows.net"], {**os.environ}, tmp_path
    )
    assert result.returncode == 1
    assert "only one of --out, --blob-url" in result.stderr


def test_secrets_never_reach_output_or_snapshot(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator(
        "small", faults=Faults(rotate_refresh_tokens=True, token_lifetime_s=2, latency_s=0.01, server_error_rate=0.05)
    )
    first_refresh_token = sim.refresh_token
    env_file = tmp_path / ".env"
    env_file.write_text(f"SPOTIFY_REFRESH_TOKEN={first_refresh_token}\n")
    env = cli_env(sim)
    del env["SPOTIFY_REFRESH_TOKEN"]
    result = run_cli(["export", "--out", str(tmp_path / "b"), "--verbose", "--env-file", str(env_file)], env, tmp_path)
    assert result.returncode == 0, result.stderr
    secrets = {sim.client_secret, first_refresh_token, sim.refresh_token, *sim.issued_access_tokens}
    assert len(secrets) > 3, "tokens were rotated and refreshed during the run"
    snapshot_text = b"".join(p.read_bytes() for p in (tmp_path / "b").rglob("*") if p.is_file())
    for secret in secrets:
        assert secret not in result.stdout
        assert secret not in result.stderr
        assert secret.encode() not in snapshot_text
    assert sim.client_secret.encode() not in snapshot_text


def test_a_killed_export_leaves_no_complete_looking_snapshot_and_earlier_ones_untouched(
    simulator: Simulator, tmp_path: Path
) -> None:
    sim = simulator("demo", faults=Faults(latency_s=0.03))
    root = tmp_path / "backups"
    env = cli_env(sim)
    assert run_cli(["export", "--out", str(root)], env, tmp_path).returncode == 0
    (earlier,) = snapshot_folders(root)
    before = tree_digest(earlier)

    process = subprocess.Popen(
        [*EXPORTER, "export", "--out", str(root)], env=env, cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        started = [f for f in snapshot_folders(root) if f != earlier and any(f.glob("*.csv"))]
        if started:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    (killed,) = [f for f in snapshot_folders(root) if f != earlier]
    assert not (killed / "manifest.json").exists()

    again = run_cli(["export", "--out", str(root)], env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert tree_digest(earlier) == before
    newest = snapshot_folders(root)[-1]
    assert newest not in (earlier, killed)
    verify_snapshot(LocalFolderStore(root), str(newest.relative_to(root)))
    assert not (killed / "manifest.json").exists()


def test_a_rotated_token_that_cannot_be_saved_exits_3_with_the_snapshot_complete(
    simulator: Simulator, tmp_path: Path
) -> None:
    """The refresh token comes from the environment, so the one Spotify rotates to has nowhere to go:
    this week's snapshot is whole, next week's run would be refused. The user hears of it now."""
    sim = simulator("tiny", faults=Faults(rotate_refresh_tokens=True))
    result = run_cli(["export", "--out", str(tmp_path / "b")], cli_env(sim), tmp_path)

    assert result.returncode == 3, result.stderr
    manifest = json.loads(next((tmp_path / "b").rglob("manifest.json")).read_text())
    assert manifest["status"] == "complete"
    (problem,) = manifest["action_required"]
    assert "could not be saved" in problem and problem in manifest["warnings"]
    assert f"warning: {problem}" in result.stdout
    assert f"error: {problem}" in result.stderr
    assert "Traceback" not in result.stderr


def test_names_from_spotify_reach_the_terminal_with_their_control_characters_escaped(
    simulator: Simulator, tmp_path: Path
) -> None:
    sim = simulator("tiny")
    out = tmp_path / "b"
    assert run_cli(["export", "--out", str(out)], cli_env(sim), tmp_path).returncode == 0
    playlist = next(p for p in sim.account.playlists if p.owner == 0)
    hostile = "Evil\x1b]0;pwned\x07\x1b[2J\r\x9b31m\u202etxt.exe"
    sim.edit.change_details(playlist.id, name=hostile)
    assert run_cli(["export", "--out", str(out)], cli_env(sim), tmp_path).returncode == 0

    shown = run_cli(["diff", "--out", str(out)], cli_env(sim), tmp_path)
    as_json = run_cli(["diff", "--out", str(out), "--json"], cli_env(sim), tmp_path)

    assert shown.returncode == as_json.returncode == 0, shown.stderr
    assert "Evil\\u001b]0;pwned\\u0007\\u001b[2J\\u000d\\u009b31m\\u202etxt.exe" in shown.stdout
    for output in (shown.stdout, as_json.stdout):
        assert not any(char in output for char in "\x1b\x07\r\x9b\u202e")
    renamed = json.loads(as_json.stdout)["playlists"]["renamed"]
    assert [r["new_name"] for r in renamed] == [hostile], "the JSON still says exactly what the name is"
