"""`make deploy` and `make trigger` against stand-ins of the SCM site, ARM and the function app.

The trigger test runs the real exporter against the Spotify simulator when the stand-in's admin
endpoint is called, into Azurite over HTTPS, and the script finds that snapshot by Entra token.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import sys
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest
from azure_standins import AzureStandIn, DeploymentScript, FakeCredential
from azurite import Azurite
from exporter_fixtures import export_account, write_env_file

from spotify_exporter.stores.blob import BlobStore
from spotify_simulator import SpotifySimulator

REPO = Path(__file__).resolve().parents[1]
for _path in (str(REPO / "infra"), str(REPO / "scripts")):
    if _path not in sys.path:
        sys.path.append(_path)  # last: nothing in these folders may shadow an installed module

azure_publish: ModuleType = importlib.import_module("azure_publish")
deploy: ModuleType = importlib.import_module("deploy")
trigger: ModuleType = importlib.import_module("trigger")
DeploymentError: type[Exception] = azure_publish.DeploymentError


@pytest.fixture(autouse=True)
def _quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(azure_publish, "BACKOFF_S", 0.01)


@pytest.fixture
def package_zip(tmp_path: Path) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("function_app.py", "import azure.functions as func\n")
        archive.writestr("host.json", '{"version": "2.0"}')
    path = tmp_path / "function-app.zip"
    path.write_bytes(buffer.getvalue())
    return path


def _secrets_of(standin: AzureStandIn, credential: FakeCredential) -> list[str]:
    return [standin.master_key, *credential.issued]


def _publish(standin: AzureStandIn, credential: FakeCredential, package: Path, **options: float) -> str:
    result: str = azure_publish.publish_package(
        standin.app_name,
        package,
        credential=credential,
        scm_url=standin.scm_url,
        poll_interval_s=options.pop("poll_interval_s", 0.01),
        **options,
    )
    return result


# -- publish_package ---------------------------------------------------------------------------


def test_publish_sends_the_zip_with_a_bearer_token_and_returns_once_the_status_says_success(
    azure_standin: AzureStandIn, fake_credential: FakeCredential, package_zip: Path
) -> None:
    azure_standin.script = DeploymentScript(polls=3)
    statuses: list[str] = []

    deployment_id = azure_publish.publish_package(
        azure_standin.app_name,
        package_zip,
        credential=fake_credential,
        scm_url=azure_standin.scm_url,
        poll_interval_s=0.01,
        on_status=statuses.append,
    )

    (deployment,) = azure_standin.deployments
    assert deployment_id == deployment.id
    assert deployment.package == package_zip.read_bytes()
    assert deployment.content_type == "application/zip"
    assert deployment.query == {"RemoteBuild": "false", "Deployer": "spotify_exporter"}
    publish, *polls = azure_standin.calls_to("scm")
    assert (publish.method, publish.path, publish.status) == ("POST", "/api/publish", 202)
    assert publish.bearer is not None
    assert fake_credential.issued[publish.bearer]["aud"] == "https://management.core.windows.net"
    assert [call.path for call in polls] == [f"/api/deployments/{deployment.id}"] * 4
    assert statuses[-1] == f"deployment {deployment.id}: succeeded"
    assert fake_credential.scopes == ["https://management.core.windows.net/.default"]  # one token, reused


def test_a_failed_deployment_raises_with_the_deployments_own_message(
    azure_standin: AzureStandIn, fake_credential: FakeCredential, package_zip: Path
) -> None:
    azure_standin.script = DeploymentScript(
        polls=1,
        final_status=3,
        status_text="Deployment Failed. deployer = spotify_exporter",
        log=["Extracting package", "Error: no host.json at the root of the package"],
    )
    with pytest.raises(DeploymentError) as raised:
        _publish(azure_standin, fake_credential, package_zip)
    message = str(raised.value)
    assert "Deployment Failed. deployer = spotify_exporter" in message
    assert "no host.json at the root of the package" in message
    assert azure_standin.deployments[0].id in message
    assert "\n" not in message


def test_a_deployment_that_never_finishes_times_out_saying_where_to_look(
    azure_standin: AzureStandIn, fake_credential: FakeCredential, package_zip: Path
) -> None:
    azure_standin.script = DeploymentScript(final_status=None)
    with pytest.raises(DeploymentError, match=r"did not finish within 0 s; it may still finish") as raised:
        _publish(azure_standin, fake_credential, package_zip, timeout_s=0.2, poll_interval_s=0.05)
    assert f"{azure_standin.scm_url}/api/deployments/{azure_standin.deployments[0].id}" in str(raised.value)


def test_an_expired_token_says_run_az_login_and_shows_no_token(
    azure_standin: AzureStandIn, fake_credential: FakeCredential, package_zip: Path
) -> None:
    fake_credential.expired = True
    with pytest.raises(DeploymentError, match=r"HTTP 401 ExpiredAuthenticationToken.*run `az login`") as raised:
        _publish(azure_standin, fake_credential, package_zip)
    assert not any(token in str(raised.value) for token in fake_credential.issued)
    assert azure_standin.deployments == []


def test_a_principal_without_rights_is_told_which_role_it_needs(
    azure_standin: AzureStandIn, fake_credential: FakeCredential, package_zip: Path
) -> None:
    azure_standin.deny_all = True
    with pytest.raises(DeploymentError, match=r"HTTP 403 AuthorizationFailed.*Website Contributor"):
        _publish(azure_standin, fake_credential, package_zip)


def test_a_front_end_503_is_retried_and_the_deployment_goes_through(
    azure_standin: AzureStandIn, fake_credential: FakeCredential, package_zip: Path
) -> None:
    azure_standin.publish_failures = 2
    assert _publish(azure_standin, fake_credential, package_zip) == azure_standin.deployments[0].id
    assert [c.status for c in azure_standin.calls_to("scm") if c.path == "/api/publish"] == [503, 503, 202]


def test_a_second_deployment_while_one_runs_is_refused_with_where_to_wait(
    azure_standin: AzureStandIn, fake_credential: FakeCredential, package_zip: Path
) -> None:
    azure_standin.script = DeploymentScript(final_status=None)
    with pytest.raises(DeploymentError):
        _publish(azure_standin, fake_credential, package_zip, timeout_s=0)
    with pytest.raises(DeploymentError, match=r"another deployment .* is in progress.*/api/deployments/latest"):
        _publish(azure_standin, fake_credential, package_zip)


def test_credentials_never_go_over_plain_http(fake_credential: FakeCredential, package_zip: Path) -> None:
    with pytest.raises(DeploymentError, match="must be https"):
        azure_publish.publish_package("app", package_zip, credential=fake_credential, scm_url="http://127.0.0.1:9")
    assert fake_credential.issued == {}


def test_a_file_that_is_not_a_zip_is_refused_before_any_upload(fake_credential: FakeCredential, tmp_path: Path) -> None:
    (tmp_path / "app.zip").write_text("not a zip")
    with pytest.raises(DeploymentError, match="not a zip file; run `make package`"):
        azure_publish.publish_package("app", tmp_path / "app.zip", credential=fake_credential)


# -- scripts/deploy.py -------------------------------------------------------------------------


def test_deploy_publishes_a_given_zip_and_prints_each_phase(
    azure_standin: AzureStandIn,
    fake_credential: FakeCredential,
    package_zip: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--app", azure_standin.app_name, "--zip", str(package_zip), "--scm-url", azure_standin.scm_url]
    assert deploy.main([*argv, "--poll-interval", "0.01"], credential=fake_credential) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert f"deploy: function app {azure_standin.app_name}" in out
    assert f"deployment {azure_standin.deployments[0].id} succeeded" in out.splitlines()[-1]
    assert not any(secret in out for secret in _secrets_of(azure_standin, fake_credential))


def test_deploy_failure_is_one_line_and_exit_status_1(
    azure_standin: AzureStandIn,
    fake_credential: FakeCredential,
    package_zip: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    azure_standin.script = DeploymentScript(polls=0, final_status=3, status_text="Deployment Failed.")
    argv = ["--app", "x", "--zip", str(package_zip), "--scm-url", azure_standin.scm_url, "--poll-interval", "0.01"]
    assert deploy.main(argv, credential=fake_credential) == 1
    _, err = capsys.readouterr()
    assert err.count("\n") == 1
    assert err.startswith("deploy: deployment ") and "Deployment Failed." in err


def test_deploy_without_app_or_pulumi_asks_for_app(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert deploy.main([], credential=FakeCredential()) == 1
    assert (
        capsys.readouterr().err
        == "deploy: give --app (or install the Pulumi CLI to read the stack output functionAppName)\n"
    )


def _fake_pulumi(directory: Path, outputs: dict[str, str]) -> Path:
    """A `pulumi` on PATH that answers `stack output --json` and records its arguments."""
    directory.mkdir(exist_ok=True)
    script = directory / "pulumi"
    script.write_text(f"#!/bin/sh\necho \"$@\" > '{directory}/args'\ncat <<'EOF'\n{json.dumps(outputs)}\nEOF\n")
    script.chmod(0o755)
    return directory


def test_deploy_reads_the_app_from_the_stack_and_builds_for_the_python_version(
    azure_standin: AzureStandIn,
    fake_credential: FakeCredential,
    package_zip: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bin_dir = _fake_pulumi(tmp_path / "bin", {"functionAppName": "func-from-stack", "resourceGroupName": "rg"})
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    built: list[tuple[Path, str]] = []

    def fake_build(output: Path, python_version: str) -> str:
        built.append((output, python_version))
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(package_zip.read_bytes())
        return "ab" * 32

    monkeypatch.setattr(importlib.import_module("package"), "build", fake_build)
    output = tmp_path / "out" / "app.zip"
    argv = ["--stack", "prod", "--python-version", "3.11", "--output", str(output), "--scm-url", azure_standin.scm_url]
    assert deploy.main([*argv, "--poll-interval", "0.01"], credential=fake_credential) == 0

    assert built == [(output, "3.11")]
    assert (bin_dir / "args").read_text().split() == [
        "stack",
        "output",
        "--json",
        "--non-interactive",
        "--stack",
        "prod",
    ]
    out = capsys.readouterr().out
    assert "deploy: function app func-from-stack" in out
    assert f"package sha256 {'ab' * 32}" in out
    assert azure_standin.deployments[0].package == package_zip.read_bytes()


# -- scripts/trigger.py ------------------------------------------------------------------------


def _trigger_argv(standin: AzureStandIn, container_url: str, *extra: str) -> list[str]:
    return [
        "--subscription", standin.subscription, "--resource-group", standin.resource_group, "--app", standin.app_name,
        "--container-url", container_url, "--arm-url", standin.arm_url, "--poll-interval", "0.1", *extra,
    ]  # fmt: skip


def test_trigger_runs_the_export_with_the_master_key_from_arm_and_prints_the_new_snapshot(
    azure_standin: AzureStandIn,
    fake_credential: FakeCredential,
    simulator: Callable[..., SpotifySimulator],
    azurite_oauth: Azurite,
    blob_container: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim = simulator("tiny")
    env_file = write_env_file(tmp_path / ".env", sim)
    writer = BlobStore.from_connection_string(azurite_oauth.connection_string, blob_container)
    with writer.open_write("old/2020-01-01T00-00-00Z/manifest.json") as stream:  # an earlier snapshot
        stream.write(b'{"status": "partial"}')
    azure_standin.on_trigger = lambda: export_account(sim, writer, env_file)

    container_url = f"{azurite_oauth.blob_endpoint}/{blob_container}"
    code = trigger.main(_trigger_argv(azure_standin, container_url, "--timeout", "60"), credential=fake_credential)

    out, err = capsys.readouterr()
    assert (code, err) == (0, ""), err
    assert azure_standin.trigger_errors == []
    site, listkeys = azure_standin.calls_to("arm")
    assert (site.method, site.path, site.query) == ("GET", azure_standin.site_id, {"api-version": "2023-12-01"})
    assert (listkeys.method, listkeys.path) == ("POST", azure_standin.site_id + "/host/default/listkeys")
    assert (
        listkeys.bearer is not None and fake_credential.issued[listkeys.bearer]["aud"] == "https://management.azure.com"
    )
    (run,) = azure_standin.calls_to("app")
    assert (run.path, run.status, run.function_key, run.bearer) == (
        "/admin/functions/weekly_export", 202, azure_standin.master_key, None,
    )  # fmt: skip
    assert json.loads(run.body) == {"input": ""}
    lines = out.splitlines()
    snapshot_line = next(line for line in lines if line.startswith("trigger: snapshot "))
    assert snapshot_line.endswith(": complete") and f"/{blob_container}/" in snapshot_line
    assert "/old/" not in snapshot_line
    rows = next(line for line in lines if line.startswith("trigger: rows: "))
    for dataset in ("library", "playlists", "playlist_items", "albums"):
        assert f"{dataset} {len(sim.expected_rows(dataset))}" in rows
    assert any(line.startswith("trigger: requests: ") for line in lines)
    assert any(line.startswith("trigger: warnings: ") for line in lines)
    assert not any(secret in out + err for secret in _secrets_of(azure_standin, fake_credential))


def _write_manifest(store: BlobStore, status: str) -> None:
    folder = f"jane/{datetime.now(UTC):%Y-%m-%dT%H-%M-%SZ}"
    manifest = {
        "status": status,
        "datasets": {"library": {"status": "complete", "count": 3}, "playlists": {"status": "skipped", "count": 0}},
        "requests": 7,
        "retries": 1,
        "warnings": ["Spotify rate-limited this app for 3600 s; run the export again after 01:00 UTC"],
        "error": "Spotify rate-limited this app",
    }
    with store.open_write(f"{folder}/manifest.json") as stream:
        stream.write(json.dumps(manifest).encode())


def test_trigger_exits_2_for_a_partial_snapshot_and_prints_its_warnings(
    azure_standin: AzureStandIn,
    fake_credential: FakeCredential,
    azurite_oauth: Azurite,
    blob_container: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    writer = BlobStore.from_connection_string(azurite_oauth.connection_string, blob_container)
    azure_standin.on_trigger = lambda: _write_manifest(writer, "partial")
    container_url = f"{azurite_oauth.blob_endpoint}/{blob_container}"
    assert trigger.main(_trigger_argv(azure_standin, container_url), credential=fake_credential) == 2
    out = capsys.readouterr().out
    assert "trigger: rows: library 3, playlists 0 (skipped)\n" in out
    assert "trigger: requests: 7 (1 retries)\n" in out
    assert "trigger: warnings: 1\ntrigger:   - Spotify rate-limited this app for 3600 s" in out
    assert "trigger: error: Spotify rate-limited this app\n" in out


def test_trigger_times_out_when_no_snapshot_appears(
    azure_standin: AzureStandIn,
    fake_credential: FakeCredential,
    azurite_oauth: Azurite,
    blob_container: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    container_url = f"{azurite_oauth.blob_endpoint}/{blob_container}"
    argv = _trigger_argv(azure_standin, container_url, "--timeout", "0.3")
    assert trigger.main(argv, credential=fake_credential) == 1
    out, err = capsys.readouterr()
    assert err.startswith("trigger: no new snapshot in ") and "within 0 s" in err
    assert not any(secret in out + err for secret in _secrets_of(azure_standin, fake_credential))


def test_trigger_with_an_expired_login_says_az_login_and_runs_nothing(
    azure_standin: AzureStandIn,
    fake_credential: FakeCredential,
    azurite_oauth: Azurite,
    blob_container: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_credential.expired = True
    container_url = f"{azurite_oauth.blob_endpoint}/{blob_container}"
    assert trigger.main(_trigger_argv(azure_standin, container_url), credential=fake_credential) == 1
    err = capsys.readouterr().err
    assert "Azure Resource Manager refused the token (HTTP 401 ExpiredAuthenticationToken); run `az login`" in err
    assert azure_standin.calls_to("app") == []


def test_trigger_names_a_missing_app(
    azure_standin: AzureStandIn,
    fake_credential: FakeCredential,
    azurite_oauth: Azurite,
    blob_container: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = _trigger_argv(azure_standin, f"{azurite_oauth.blob_endpoint}/{blob_container}")
    argv[argv.index("--app") + 1] = "no-such-app"
    assert trigger.main(argv, credential=fake_credential) == 1
    err = capsys.readouterr().err
    assert "the function app no-such-app in resource group rg-spotify" in err and "HTTP 404 ResourceNotFound" in err


def test_trigger_without_a_subscription_asks_for_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)
    assert trigger.main(["--app", "a"], credential=FakeCredential()) == 1
    assert capsys.readouterr().err == "trigger: give --subscription (or set AZURE_SUBSCRIPTION_ID)\n"
