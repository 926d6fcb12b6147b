"""The function app as the Python worker indexes it and as the host runs it: the weekly timer that
queues one export per account, the queue-triggered export (one at a time for the whole app,
resuming itself after a ban) and the poison queue, against real stand-ins: the Spotify
simulator's household, the Key Vault stand-in, Azurite's Blob and Queue services over HTTPS
signed in by the managed identity, and the host's queue listener (``functions_host``).
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azurite import Azurite
from exporter_fixtures import NoSleep, export_account, write_env_file
from function_app_scene import FunctionAppScene, indexed_functions
from functions_host import QueueHost, QueueOptions
from keyvault_standin import KeyVaultStandIn
from snapshot_checks import DATASETS, assert_matches_truth, verify_snapshot

from spotify_exporter.errors import ConfigError
from spotify_exporter.export_queue import POISON_QUEUE_NAME, QUEUE_NAME, ExportRequest
from spotify_exporter.history import list_snapshots
from spotify_exporter.scheduled import (
    GAVE_UP,
    ActionRequiredError,
    AppSettings,
    function_timeout_s,
    time_budget_s,
)
from spotify_simulator import Faults, SimulatedUser, SpotifySimulator, build_account

FUNCTIONS = Path(__file__).resolve().parents[1] / "functions"
#: retries at once instead of host.json's five minutes, so a test sees every attempt
QUICK_RETRIES = replace(QueueOptions.from_host_json(), visibility_timeout_s=0)


def bindings(name: str) -> list[dict[str, object]]:
    result: list[dict[str, object]] = json.loads(indexed_functions()[name].get_function_json())["bindings"]
    return result


def test_the_worker_finds_the_timer_the_export_and_the_poison_functions() -> None:
    assert set(indexed_functions()) == {"weekly_export", "export_account", "export_gave_up"}
    (timer,) = bindings("weekly_export")
    assert (timer["type"], timer["schedule"], timer["useMonitor"]) == ("timerTrigger", "%EXPORT_SCHEDULE%", True)
    assert timer.get("runOnStartup", False) is False
    (export,) = bindings("export_account")
    (gave_up,) = bindings("export_gave_up")
    for trigger, queue in ((export, QUEUE_NAME), (gave_up, POISON_QUEUE_NAME)):
        assert (trigger["type"], trigger["queueName"], trigger["connection"]) == ("queueTrigger", queue, "EXPORT_QUEUE")
    assert f"{QUEUE_NAME}-poison" == POISON_QUEUE_NAME  # the name the runtime moves failed messages to


def test_host_json_hands_the_export_one_message_at_a_time() -> None:
    host = json.loads((FUNCTIONS / "host.json").read_text())
    queues = host["extensions"]["queues"]
    assert (queues["batchSize"], queues["newBatchThreshold"]) == (1, 0)
    assert queues["maxDequeueCount"] == 5 and queues["messageEncoding"] == "base64"
    assert queues["visibilityTimeout"] == "00:05:00"  # a retry waits a little (Spotify's 5xx pass)
    # dynamic concurrency would ignore batchSize (QueueListener.GetMessageReceiveCount)
    assert not host.get("concurrency", {}).get("dynamicConcurrencyEnabled", False)


def test_missing_settings_are_named() -> None:
    with pytest.raises(ConfigError, match="KEY_VAULT_NAME"):
        AppSettings.from_environ({"SNAPSHOT_ACCOUNT_URL": "https://a.blob.core.windows.net"})
    with pytest.raises(ConfigError, match="SNAPSHOT_ACCOUNT_URL"):
        AppSettings.from_environ({"KEY_VAULT_NAME": "vault"})
    settings = AppSettings.from_environ(
        {"KEY_VAULT_NAME": "v", "SNAPSHOT_ACCOUNT_URL": "https://a.blob.core.windows.net"}
    )
    assert settings.container == "spotify" and settings.accounts == ("default",)
    assert settings.secret_names.refresh_token == "Spotify-RefreshToken"
    with pytest.raises(ConfigError, match="EXPORT_QUEUE__queueServiceUri is not set"):
        settings.queue()
    with pytest.raises(ConfigError, match="EXPORT_LOCK_URL is not set"):
        settings.lock()
    with pytest.raises(ConfigError, match="EXPORT_LOCK_RETRY_S='soon' is not a number"):
        AppSettings.from_environ({"KEY_VAULT_NAME": "v", "SNAPSHOT_ACCOUNT_URL": "x", "EXPORT_LOCK_RETRY_S": "soon"})


def test_time_budget_leaves_room_before_the_host_timeout(tmp_path: Path) -> None:
    assert function_timeout_s(FUNCTIONS / "host.json") == 3600
    assert time_budget_s(3600) == 3300
    assert 0 < time_budget_s(300) < 300
    (tmp_path / "host.json").write_text('{"functionTimeout": "1.02:00:00"}')
    assert function_timeout_s(tmp_path / "host.json") == 26 * 3600
    assert function_timeout_s(tmp_path / "missing.json") == 30 * 60


# -- the app in its world ----------------------------------------------------------------------


class AzureApp(FunctionAppScene):
    """The scene, its settings in this process's environment (``monkeypatch``) for the test."""

    monkeypatch: pytest.MonkeyPatch

    @classmethod
    def of(cls, scene: FunctionAppScene, monkeypatch: pytest.MonkeyPatch) -> AzureApp:
        """The scene with its app settings in the environment."""
        app = cls(**vars(scene))
        app.monkeypatch = monkeypatch
        for name, value in app.settings.items():
            monkeypatch.setenv(name, value)
        return app

    def setting(self, name: str, value: str) -> None:
        self.monkeypatch.setenv(name, value)


@pytest.fixture
def azure_app(
    simulator: Callable[..., SpotifySimulator],
    keyvault: KeyVaultStandIn,
    azurite_oauth: Azurite,
    azurite_queue_oauth: Azurite,
    blob_container: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[AzureApp]:
    sim = simulator("small")
    scene = FunctionAppScene.prepare(
        sim, keyvault, azurite_oauth, azurite_queue_oauth, blob_container, keyvault.credential()
    )
    app = AzureApp.of(scene, monkeypatch)
    yield app
    app.close()


def household(app: AzureApp, *aliases: str) -> dict[str, SimulatedUser]:
    """More people on the app, each authorized under an alias; ``EXPORT_ACCOUNTS`` lists them all."""
    people = {"default": app.sim.users[0]}
    for seed, alias in enumerate(aliases, start=3):
        people[alias] = app.sim.add_user(build_account("small", seed=seed))
        app.authorize(alias, people[alias])
    app.setting("EXPORT_ACCOUNTS", ",".join(people))
    return people


def assert_exact(app: AzureApp, user: SimulatedUser) -> str:
    """The user's one snapshot is complete and holds their account row by row; returns its folder."""
    (info,) = [info for info in list_snapshots(app.store, user.id).finished]
    assert verify_snapshot(app.store, info.folder)["status"] == "complete"
    assert_matches_truth(app.store, info.folder, {name: user.expected_rows(name) for name in DATASETS})
    return info.folder


def test_the_timer_queues_one_export_per_account_and_nothing_else(azure_app: AzureApp) -> None:
    household(azure_app, "jane", "max")
    before = datetime.now(UTC).replace(microsecond=0)
    azure_app.run_timer()
    waiting = azure_app.visible()
    assert sorted(r.account for r in waiting) == ["default", "jane", "max"] and azure_app.pending() == 3
    assert {r.reason for r in waiting} == {"scheduled"} and all(r.requested_at >= before for r in waiting)
    assert azure_app.sim.requests_total == 0 and azure_app.manifests() == []  # no export ran in the timer


def test_a_household_is_exported_one_account_at_a_time_even_on_two_instances(azure_app: AzureApp) -> None:
    people = household(azure_app, "jane", "max")
    azure_app.run_timer()
    hosts = [azure_app.host(), azure_app.host()]  # the app scaled out to two instances

    def work(host: QueueHost) -> None:
        host.run_until(lambda: len(azure_app.manifests()) == 3 and not azure_app.pending(), timeout_s=90)

    threads = [threading.Thread(target=work, args=(host,)) for host in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    folders = {alias: assert_exact(azure_app, user) for alias, user in people.items()}
    assert len(set(folders.values())) == 3
    spans = sorted((min(u.request_times), max(u.request_times)) for u in people.values())
    assert all(earlier[1] < later[0] for earlier, later in itertools.pairwise(spans)), spans
    invocations = [i for host in hosts for i in host.invocations]
    assert all(i.error is None for i in invocations)
    assert len(invocations) >= 3  # and once for each time a message found the lock taken and went back


def test_a_message_that_finds_the_lock_taken_goes_back_on_the_queue(azure_app: AzureApp) -> None:
    azure_app.send(ExportRequest("default", "manual", datetime.now(UTC)))
    host = azure_app.host()
    with azure_app.lock.hold():  # another instance is exporting
        assert host.poll() == 1
        assert azure_app.pending() == 1 and not azure_app.visible()  # back on the queue, for a while invisible
        postponed = azure_app.next_visible()
    assert (postponed.account, postponed.postponed) == ("default", 1)
    assert azure_app.sim.requests_total == 0
    host.run_until(lambda: bool(azure_app.manifests()), timeout_s=30)
    assert_exact(azure_app, azure_app.sim.users[0])


def test_a_failing_account_retries_then_lands_in_the_poison_queue_and_is_reported(
    azure_app: AzureApp, caplog: pytest.LogCaptureFixture
) -> None:
    people = household(azure_app, "jane")
    azure_app.setting("EXPORT_ACCOUNTS", "default,jane,max")  # max was never authorized
    azure_app.run_timer()
    host = azure_app.host(QUICK_RETRIES)
    host.run_until(lambda: not azure_app.pending(), timeout_s=90)

    assert_exact(azure_app, people["default"]) and assert_exact(azure_app, people["jane"])
    failed = [i for i in host.invocations if i.error is not None]
    assert [i.dequeue_count for i in failed] == [1, 2, 3, 4, 5]
    assert all("Spotify-RefreshToken-max" in str(i.error) and "--account max" in str(i.error) for i in failed)
    (poisoned,) = [ExportRequest.from_json(base64.b64decode(m.content)) for m in azure_app.poison.peek_messages()]
    assert poisoned.account == "max"

    with caplog.at_level(logging.ERROR, logger="spotify_exporter"):
        azure_app.poison_host().run_until(lambda: not azure_app.poison.peek_messages(), timeout_s=30)
    (record,) = [r for r in caplog.records if r.getMessage().startswith(GAVE_UP)]
    assert record.levelno == logging.ERROR
    assert "scheduled export for account 'max'" in record.getMessage()
    assert 'make trigger ARGS="--account max"' in record.getMessage()


def test_a_ban_is_resumed_by_its_own_delayed_message_into_the_same_snapshot(azure_app: AzureApp) -> None:
    sim = azure_app.sim
    ban_s = 3.0
    sim.faults = Faults(ban_after_requests=int(sim.minimal_requests() * 0.4), ban_duration_s=ban_s)
    azure_app.setting("SPOTIFY_MAX_RETRY_AFTER_S", "0.5")  # a ban longer than this is not sat out
    azure_app.run_timer()
    host = azure_app.host()

    assert host.poll() == 1
    (partial,) = azure_app.manifests()
    assert partial["status"] == "partial" and "rate-limited" in str(partial["error"])
    assert azure_app.pending() == 1 and host.poll() == 0  # queued, not visible: it waits for the Retry-After
    resume = azure_app.next_visible()
    assert (resume.reason, resume.account, resume.resumes) == ("resume", "default", 1)
    assert resume.snapshot is not None and resume.snapshot.endswith(str(partial["started_at"]).replace(":", "-"))

    host.run_until(lambda: azure_app.manifests()[0]["status"] == "complete", timeout_s=30)
    (first, second) = host.invocations
    assert second.started - first.ended >= ban_s - 1  # it came back once Spotify would talk again
    folder = assert_exact(azure_app, sim.users[0])
    assert folder == resume.snapshot
    (manifest,) = azure_app.manifests()
    assert [r["status"] for r in manifest["resumes"]] == ["complete"]
    assert not azure_app.pending()


def test_a_stale_resume_is_dropped_with_a_log_line(
    azure_app: AzureApp, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sim = azure_app.sim
    sim.faults = Faults(ban_after_requests=5, ban_duration_s=0.5)
    env = write_env_file(tmp_path / ".env", sim)
    partial = export_account(sim, azure_app.store, env, sleep=NoSleep(), max_retry_after_s=0.1)
    sim.faults = Faults()
    newer = export_account(sim, azure_app.store, env)
    assert (partial.status, newer.status) == ("partial", "complete") and newer.folder > partial.folder
    requests = sim.requests_total

    azure_app.send(ExportRequest("default", "resume", datetime.now(UTC), partial.folder, resumes=1))
    with caplog.at_level(logging.INFO, logger="spotify_exporter"):
        assert azure_app.host().poll() == 1
    assert any(
        "is dropped: a newer complete snapshot" in r.getMessage() and newer.folder in r.getMessage()
        for r in caplog.records
    )
    assert sim.requests_total == requests  # nothing asked of Spotify
    assert [m["status"] for m in azure_app.manifests()] == ["partial", "complete"]
    assert not azure_app.pending()


def test_a_retried_message_finishes_what_its_first_attempt_began(azure_app: AzureApp) -> None:
    sim = azure_app.sim
    sim.faults = Faults(unavailable={"/v1/me/albums": 500})  # Spotify keeps failing one dataset
    azure_app.setting("SPOTIFY_MAX_ATTEMPTS", "1")
    azure_app.send(ExportRequest("default", "scheduled", datetime.now(UTC) - timedelta(seconds=1)))
    host = azure_app.host(QUICK_RETRIES)
    assert host.poll() == 1
    (first,) = host.invocations
    assert "partial" in str(first.error) and "albums" in str(first.error)
    sim.faults = Faults()  # Spotify recovered
    pages_before = sim.requests_total

    assert host.poll() == 1
    assert host.invocations[1].error is None and host.invocations[1].dequeue_count == 2
    folder = assert_exact(azure_app, sim.users[0])  # the same, one snapshot: finished, not begun again
    (manifest,) = azure_app.manifests()
    assert folder.endswith(str(manifest["started_at"]).replace(":", "-"))
    assert sim.requests_total - pages_before == 2  # /me and the one page of saved albums


def test_a_single_account_stack_is_unchanged(azure_app: AzureApp) -> None:
    """No EXPORT_ACCOUNTS, the vault as `make auth ARGS=--vault` always filled it: one export a week,
    the rotated refresh token saved where it was, with its authorization time."""
    sim = azure_app.sim
    sim.faults = Faults(rotate_refresh_tokens=True)
    azure_app.authorize("default", sim.users[0])
    azure_app.run_timer()
    (request,) = azure_app.visible()
    assert request.account == "default"
    azure_app.host().run_until(lambda: bool(azure_app.manifests()), timeout_s=30)
    assert_exact(azure_app, sim.users[0])
    rotated = azure_app.vault.secrets["Spotify-RefreshToken"]
    assert rotated.value == sim.refresh_token
    assert rotated.tags["authorized_at"] == "2026-10-01T00:00:00Z"
    assert sorted(azure_app.vault.secrets) == ["Spotify-ClientID", "Spotify-ClientSecret", "Spotify-RefreshToken"]


def test_a_vault_without_an_access_policy_fails_with_its_name(azure_app: AzureApp) -> None:
    azure_app.vault.deny("get")
    azure_app.send(ExportRequest("default", "manual", datetime.now(UTC)))
    host = azure_app.host()
    assert host.poll() == 1
    (invocation,) = host.invocations
    assert isinstance(invocation.error, ConfigError) and "access policy" in str(invocation.error)
    assert azure_app.sim.requests_total == 0


def test_the_pacing_window_passes_from_one_export_to_the_next(azure_app: AzureApp) -> None:
    people = household(azure_app, "jane")
    azure_app.send(ExportRequest("default", "manual", datetime.now(UTC)))
    host = azure_app.host()
    assert host.poll() == 1
    first = people["default"].request_times
    with azure_app.lock.hold() as held:  # what the next export finds in the lock
        handed_over = held.earlier_request_ages
    assert len(handed_over) == len(first) == people["default"].requests  # all within the last 30 s
    assert max(handed_over) < 30

    azure_app.send(ExportRequest("jane", "manual", datetime.now(UTC)))
    assert host.poll() == 1
    assert_exact(azure_app, people["jane"])
    with azure_app.lock.hold() as held:
        assert len(held.earlier_request_ages) == people["jane"].requests + people["default"].requests


def test_a_rotated_token_the_vault_refuses_to_keep_fails_the_run_after_a_complete_snapshot(
    azure_app: AzureApp, caplog: pytest.LogCaptureFixture
) -> None:
    """Next week's run would be refused: this week's execution fails, so the alert fires now, while
    the snapshot stays complete (its data is whole) and carries the reason."""
    azure_app.sim.faults = Faults(rotate_refresh_tokens=True)
    azure_app.vault.deny("set")
    caplog.set_level(logging.INFO, logger="spotify_exporter")
    azure_app.send(ExportRequest("default", "manual", datetime.now(UTC)))
    host = azure_app.host()
    assert host.poll() == 1

    (invocation,) = host.invocations
    assert isinstance(invocation.error, ActionRequiredError)
    assert "is complete, but Spotify issued a new refresh token but it could" in str(invocation.error)
    (manifest,) = azure_app.manifests()
    assert manifest["status"] == "complete"
    (problem,) = manifest["action_required"]
    assert "may not write secrets" in problem and problem in manifest["warnings"]
    (summary,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("spotify export finished")]
    assert json.loads(summary.partition(" finished ")[2])["action_required"] == [problem]
