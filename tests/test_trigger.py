"""`make trigger`: export requests put on the app's queue with your login, picked up by the real
``export_account`` (through the host's queue listener stand-in), and the new snapshots printed."""

from __future__ import annotations

import base64
import importlib
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pytest
from azure_standins import FakeCredential
from test_deploy import _fake_pulumi
from test_function_app import AzureApp, azure_app, household

from spotify_exporter.export_queue import QUEUE_NAME, ExportRequest
from spotify_simulator import Faults

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "scripts") not in sys.path:
    sys.path.append(str(REPO / "scripts"))
trigger: ModuleType = importlib.import_module("trigger")

__all__ = ["azure_app"]  # the fixture, shared with test_function_app


def urls(app: AzureApp) -> list[str]:
    return [
        "--queue-url", f"{app.settings['EXPORT_QUEUE__queueServiceUri']}/{QUEUE_NAME}",
        "--container-url", f"{app.blob.blob_endpoint}/{app.container}",
    ]  # fmt: skip


@contextmanager
def function_app_at_work(app: AzureApp, snapshots: int) -> Iterator[list[ExportRequest]]:
    """The app's queue trigger taking requests in the background until ``snapshots`` manifests exist;
    yields the requests it took."""
    host = app.host()
    worker = threading.Thread(target=host.run_until, args=(lambda: len(app.manifests()) >= snapshots, 60), daemon=True)
    worker.start()
    taken: list[ExportRequest] = []
    try:
        yield taken
    finally:
        worker.join(timeout=90)
        taken.extend(ExportRequest.from_json(base64.b64decode(i.body)) for i in host.invocations)


def test_a_bare_trigger_queues_every_account_of_the_stack_and_prints_each_snapshot(
    azure_app: AzureApp,
    fake_credential: FakeCredential,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    people = household(azure_app, "jane")
    queue_url, container_url = urls(azure_app)[1], urls(azure_app)[3]
    outputs = {"exportQueueUrl": queue_url, "spotifyContainerUrl": container_url, "exportAccounts": ["default", "jane"]}
    bin_dir = _fake_pulumi(tmp_path / "bin", outputs)  # type: ignore[arg-type]
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    with function_app_at_work(azure_app, snapshots=2) as taken:
        code = trigger.main(["--poll-interval", "0.1", "--timeout", "60"], credential=fake_credential)

    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert sorted((r.account, r.reason) for r in taken) == [("default", "manual"), ("jane", "manual")]
    snapshot_lines = [line for line in out.splitlines() if line.startswith("trigger: snapshot ")]
    assert len(snapshot_lines) == 2 and all(line.endswith(": complete") for line in snapshot_lines)
    assert {line.split("/")[-2] for line in snapshot_lines} == {people["default"].id, people["jane"].id}
    assert "queued the export of default, jane on spotify-exports" in out
    assert not any(token in out for token in fake_credential.issued)


def test_trigger_account_exports_that_person_only(
    azure_app: AzureApp, fake_credential: FakeCredential, capsys: pytest.CaptureFixture[str]
) -> None:
    people = household(azure_app, "jane")
    with function_app_at_work(azure_app, snapshots=1) as taken:
        code = trigger.main(
            [*urls(azure_app), "--account", "jane", "--poll-interval", "0.1"], credential=fake_credential
        )
    assert code == 0, capsys.readouterr().err
    assert [r.account for r in taken] == ["jane"]
    (manifest,) = azure_app.manifests()
    assert manifest["account_id"] == people["jane"].id


def test_a_partial_snapshot_exits_2_and_its_resume_is_queued(
    azure_app: AzureApp, fake_credential: FakeCredential, capsys: pytest.CaptureFixture[str]
) -> None:
    azure_app.sim.faults = Faults(ban_after_requests=5, ban_duration_s=600)
    azure_app.setting("SPOTIFY_MAX_RETRY_AFTER_S", "1")
    with function_app_at_work(azure_app, snapshots=1):
        code = trigger.main(
            [*urls(azure_app), "--account", "default", "--poll-interval", "0.1"], credential=fake_credential
        )
    out = capsys.readouterr().out
    assert code == 2
    assert "trigger: error: Spotify rate-limited this app for 10 min 0 s" in out
    assert azure_app.pending() == 1  # the resume, waiting for the ban to end


def test_trigger_gives_up_waiting_with_what_it_saw(
    azure_app: AzureApp, fake_credential: FakeCredential, capsys: pytest.CaptureFixture[str]
) -> None:
    code = trigger.main([*urls(azure_app), "--account", "default", "--timeout", "0.3", "--poll-interval", "0.1"],
                        credential=fake_credential)  # fmt: skip
    assert code == 1
    assert capsys.readouterr().err.startswith("trigger: 0 of 1 new snapshot(s) in ")
    assert [r.account for r in azure_app.visible()] == ["default"]  # queued all the same: it runs when the app does


def test_trigger_names_a_missing_queue(
    azure_app: AzureApp, fake_credential: FakeCredential, capsys: pytest.CaptureFixture[str]
) -> None:
    args = urls(azure_app)
    args[1] = args[1].replace(QUEUE_NAME, "no-such-queue")
    assert trigger.main([*args, "--account", "default"], credential=fake_credential) == 1
    err = capsys.readouterr().err
    assert "the queue no-such-queue at " in err and "does not exist; run `pulumi up` to create it" in err


def test_trigger_without_pulumi_asks_for_the_queue_and_refuses_a_bad_alias(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert trigger.main(["--account", "jane"], credential=FakeCredential()) == 1
    assert capsys.readouterr().err.startswith("trigger: give --queue-url (or install the Pulumi CLI")
    argv = ["--queue-url", "https://a.queue.core.windows.net/q", "--container-url", "https://a.blob.core.windows.net/c"]
    assert trigger.main([*argv, "--account", "Jane Doe"], credential=FakeCredential()) == 1
    assert "'Jane Doe' is not an account alias" in capsys.readouterr().err


def test_a_complete_snapshot_that_needs_you_to_act_exits_3(
    azure_app: AzureApp, fake_credential: FakeCredential, capsys: pytest.CaptureFixture[str]
) -> None:
    azure_app.sim.faults = Faults(rotate_refresh_tokens=True)
    azure_app.vault.deny("set")  # Spotify rotates the token, the vault will not keep it
    with function_app_at_work(azure_app, snapshots=1):
        argv = [*urls(azure_app), "--account", "default", "--poll-interval", "0.1"]
        code = trigger.main(argv, credential=fake_credential)
    out = capsys.readouterr().out
    assert code == 3
    assert "trigger: snapshot " in out and ": complete" in out
    assert "trigger: action required: Spotify issued a new refresh token but it could not be saved" in out
