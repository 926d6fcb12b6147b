"""`make deploy` and `make trigger` against stand-ins of the SCM site, ARM, Entra ID and the function app.

Publishing is followed as the Azure CLI follows it, against a stand-in that behaves as Azure has
been seen to: a failed deployment answering 404 by id, a role assignment that takes minutes to
apply, a cold SCM site. The client's clock and sleep are the stand-in's fake clock, so those
minutes pass without waiting. The trigger test runs the real exporter against the Spotify
simulator when the stand-in's admin endpoint is called, into Azurite over HTTPS, and the script
finds that snapshot by Entra token.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import re
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import azure.identity
import msal.authority
import pytest
from azure_standins import AzureStandIn, DeploymentScript, EntraStandIn, FakeClock, FakeCredential, ServicePrincipal
from azurite import Azurite
from exporter_fixtures import export_account, write_env_file
from keyvault_standin import HOST, LocalCA

from azure_deploy import credentials, http
from azure_deploy.http import DeploymentError, HttpClient
from azure_deploy.package import PackageError
from azure_deploy.publish import publish_package
from spotify_exporter.stores.blob import BlobStore
from spotify_simulator import SpotifySimulator

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "scripts") not in sys.path:
    sys.path.append(str(REPO / "scripts"))  # last: nothing in scripts/ may shadow an installed module

deploy: ModuleType = importlib.import_module("deploy")
trigger: ModuleType = importlib.import_module("trigger")

ENTRA_VARIABLES = (
    "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_FEDERATED_TOKEN_FILE", "AZURE_USERNAME", "ARM_CLIENT_ID", "ARM_TENANT_ID", "ARM_CLIENT_SECRET",
    "ARM_CLIENT_CERTIFICATE_PATH", "ARM_USE_OIDC", "ARM_USE_MSI", "ARM_OIDC_TOKEN", "ARM_SUBSCRIPTION_ID",
    "AZURE_SUBSCRIPTION_ID",
)  # fmt: skip


@pytest.fixture(autouse=True)
def _no_ambient_sign_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test picks up the machine's own Azure variables."""
    for name in ENTRA_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(http, "BACKOFF_S", 0.01)


@pytest.fixture
def clock(azure_standin: AzureStandIn) -> FakeClock:
    """One fake clock for the client and the stand-in."""
    fake = FakeClock()
    azure_standin.clock = fake.monotonic
    return fake


@pytest.fixture
def said() -> list[str]:
    return []


@pytest.fixture
def client(clock: FakeClock, said: list[str]) -> Iterator[HttpClient]:
    """The HTTP client of the scripts, on the fake clock, saying its notices into ``said``."""
    client = HttpClient(clock=clock.monotonic, sleep=clock.sleep, say=said.append)
    with client.session:
        yield client


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


@dataclass
class Publishing:
    """One app's SCM site, the deployer's credential, a package and the client on the shared fake clock."""

    standin: AzureStandIn
    credential: FakeCredential
    package: Path
    client: HttpClient
    said: list[str]
    clock: FakeClock

    def publish(self, **options: float) -> str:
        result: str = publish_package(
            self.package,
            scm_url=self.standin.scm_url,
            credential=self.credential,
            http=self.client,
            on_status=self.said.append,
            poll_interval_s=options.pop("poll_interval_s", 2),
            **options,
        )
        return result


@pytest.fixture
def pub(
    azure_standin: AzureStandIn,
    fake_credential: FakeCredential,
    package_zip: Path,
    client: HttpClient,
    said: list[str],
    clock: FakeClock,
) -> Publishing:
    return Publishing(azure_standin, fake_credential, package_zip, client, said, clock)


# -- publish_package ---------------------------------------------------------------------------


def test_publish_sends_the_zip_with_an_app_service_token_and_follows_latest_until_success(pub: Publishing) -> None:
    pub.standin.script = DeploymentScript(polls=3)
    deployment_id = pub.publish()

    (deployment,) = pub.standin.deployments
    assert deployment_id == deployment.id
    assert deployment.package == pub.package.read_bytes()
    assert deployment.content_type == "application/zip"
    assert deployment.query == {"RemoteBuild": "false", "Deployer": "spotify_exporter"}
    publish, *polls = pub.standin.calls_to("scm")
    assert (publish.method, publish.path, publish.status) == ("POST", "/api/publish", 202)
    assert publish.bearer is not None
    assert pub.credential.issued[publish.bearer]["aud"] == "https://appservice.azure.com"
    assert [call.path for call in polls] == ["/api/deployments/latest"] * 4
    assert pub.said[-1] == f"deployment {deployment.id}: succeeded"
    assert pub.credential.scopes == ["https://appservice.azure.com/.default"]  # one token, reused


def test_a_failed_deployment_that_answers_404_by_id_is_reported_with_its_log(pub: Publishing) -> None:
    """Polling by id would read 404 ("not there yet") until the timeout; /latest tells the truth at once."""
    pub.standin.script = DeploymentScript(
        polls=1,
        final_status=3,
        status_text="Deployment Failed. deployer = spotify_exporter",
        log=["Extracting package", "Error: no host.json at the root of the package"],
    )
    with pytest.raises(DeploymentError) as raised:
        pub.publish()
    message = str(raised.value)
    deployment_id = pub.standin.deployments[0].id
    assert message.startswith(f"deployment {deployment_id} failed: Deployment Failed. deployer = spotify_exporter")
    assert "no host.json at the root of the package" in message
    assert "\n" not in message
    # the whole log on the console, read from latest since the id-based log answers 404 too
    assert "  log: Extracting package" in pub.said
    assert "  log: Error: no host.json at the root of the package" in pub.said
    assert f"/api/deployments/{deployment_id}/log" in [c.path for c in pub.standin.calls_to("scm") if c.status == 404]
    assert message.endswith(f"see {pub.standin.scm_url}/api/deployments/latest/log")
    assert len(pub.standin.deployments) == 1  # not a storage refusal: no second publish


@pytest.mark.parametrize(
    ("status", "verb"),
    [
        (-1, "was cancelled"),
        (5, "was cancelled: another deployment is in progress"),
        (6, "only partially succeeded (some instances did not take the new code; publish again)"),
    ],
)
def test_cancelled_conflicting_and_partial_deployments_are_failures(pub: Publishing, status: int, verb: str) -> None:
    pub.standin.script = DeploymentScript(polls=1, final_status=status, log=["Deployment stopped."])
    with pytest.raises(DeploymentError, match=rf"deployment \w+ {re.escape(verb)}: Deployment stopped"):
        pub.publish()


def test_a_deployment_listed_late_is_waited_for(pub: Publishing) -> None:
    pub.standin.script = DeploymentScript(polls=1, unlisted_polls=3)
    assert pub.publish() == pub.standin.deployments[0].id


def test_a_deployment_that_is_never_listed_fails_within_a_minute_not_at_the_timeout(pub: Publishing) -> None:
    pub.standin.script = DeploymentScript(unlisted_polls=None)
    started = pub.clock.now
    with pytest.raises(
        DeploymentError, match=r"has not listed deployment \w+ for 60 s \(HTTP 404 at /api/deployments/latest\)"
    ):
        pub.publish(timeout_s=900)
    assert 60 <= pub.clock.now - started <= 65


def test_a_deployment_that_never_finishes_times_out_saying_where_to_look(pub: Publishing) -> None:
    pub.standin.script = DeploymentScript(final_status=None)
    with pytest.raises(DeploymentError, match=r"did not finish within 900 s; it may still finish") as raised:
        pub.publish(timeout_s=900)
    assert f"{pub.standin.scm_url}/api/deployments/latest" in str(raised.value)


def test_while_the_apps_role_propagates_the_package_is_published_again_and_says_why(pub: Publishing) -> None:
    pub.standin.storage_refuses_until = pub.clock.now + 4 * 60  # the role assignment applies after four minutes
    deployment_id = pub.publish()
    assert [d.script.final_status for d in pub.standin.deployments][-1] == 4
    assert deployment_id == pub.standin.deployments[-1].id
    assert len(pub.standin.deployments) >= 3
    notices = [line for line in pub.said if "a new role assignment can take up to 10 minutes" in line]
    assert len(notices) == len(pub.standin.deployments) - 1
    assert notices[0].startswith("storage refused the app's identity (HTTP 403)")
    assert pub.clock.now - 1000 < 10 * 60


def test_a_role_that_never_applies_fails_after_ten_minutes_naming_the_role(pub: Publishing) -> None:
    pub.standin.storage_refuses_until = float("inf")
    with pytest.raises(DeploymentError, match=r"403 .* for 10 minutes: check that the app's identity has Storage Blob"):
        pub.publish()
    assert 10 * 60 <= pub.clock.now - 1000 < 12 * 60


def test_a_cold_scm_site_is_waited_for_up_to_two_minutes(pub: Publishing) -> None:
    pub.standin.cold_until = pub.clock.now + 90
    assert pub.publish()
    assert any(line.startswith("the SCM site is not answering yet") for line in pub.said)
    assert {c.status for c in pub.standin.calls_to("scm") if c.path == "/api/publish"} == {503, 202}


def test_a_scm_site_cold_for_longer_fails_after_two_minutes(pub: Publishing) -> None:
    pub.standin.cold_until = float("inf")
    with pytest.raises(DeploymentError, match=r"the SCM site at .* answered HTTP 503 for 1[23]\d s"):
        pub.publish()
    assert pub.standin.deployments == []


def test_an_expired_token_says_run_az_login_and_shows_no_token(pub: Publishing) -> None:
    pub.credential.expired = True
    with pytest.raises(DeploymentError, match=r"HTTP 401 ExpiredAuthenticationToken\); run `az login`") as raised:
        pub.publish()
    assert not any(token in str(raised.value) for token in pub.credential.issued)
    assert pub.standin.deployments == []


def test_a_principal_without_rights_is_told_which_role_it_needs(pub: Publishing) -> None:
    pub.standin.deny_all = True
    with pytest.raises(DeploymentError, match=r"HTTP 403 AuthorizationFailed.*Website Contributor"):
        pub.publish()


def test_a_second_deployment_while_one_runs_is_refused_with_where_to_wait(pub: Publishing) -> None:
    pub.standin.script = DeploymentScript(final_status=None)
    with pytest.raises(DeploymentError):
        pub.publish(timeout_s=0)
    with pytest.raises(DeploymentError, match=r"another deployment is in progress.*/api/deployments/latest"):
        pub.publish()


def test_credentials_never_go_over_plain_http(fake_credential: FakeCredential, package_zip: Path) -> None:
    with pytest.raises(DeploymentError, match="must be https"):
        publish_package(package_zip, credential=fake_credential, scm_url="http://127.0.0.1:9")
    assert fake_credential.issued == {}


def test_a_file_that_is_not_a_zip_is_refused_before_any_upload(fake_credential: FakeCredential, tmp_path: Path) -> None:
    (tmp_path / "app.zip").write_text("not a zip")
    with pytest.raises(DeploymentError, match="not a zip file; run `make package`"):
        publish_package(tmp_path / "app.zip", credential=fake_credential, scm_url="https://127.0.0.1:9")
    assert fake_credential.issued == {}


# -- signing in with Pulumi's ARM_* variables ------------------------------------------------------------


@pytest.fixture
def entra(
    local_ca: LocalCA, fake_credential: FakeCredential, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EntraStandIn]:
    """Entra ID's token endpoint, trusted like login.microsoftonline.com (MSAL skips instance discovery for it)."""
    principal = ServicePrincipal("33333333-0000-0000-0000-0000000000c1", "a-client-secret")
    standin = EntraStandIn(local_ca, fake_credential, principal).start()
    known = msal.authority.WELL_KNOWN_AUTHORITY_HOSTS | {HOST}  # MSAL compares host names, without the port
    monkeypatch.setattr(msal.authority, "WELL_KNOWN_AUTHORITY_HOSTS", known)
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", standin.authority_host)
    try:
        yield standin
    finally:
        standin.stop()


def pulumi_variables(monkeypatch: pytest.MonkeyPatch, entra: EntraStandIn, tenant: str, secret: str) -> None:
    """The service principal as a CI job gives it to Pulumi, and nothing else."""
    monkeypatch.setenv("ARM_CLIENT_ID", entra.principal.client_id)
    monkeypatch.setenv("ARM_TENANT_ID", tenant)
    monkeypatch.setenv("ARM_CLIENT_SECRET", secret)


def test_publishing_signs_in_with_pulumis_arm_variables(
    pub: Publishing, entra: EntraStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CI job configured for Pulumi (ARM_CLIENT_ID, ARM_TENANT_ID, ARM_CLIENT_SECRET) publishes with nothing more."""
    pulumi_variables(monkeypatch, entra, pub.credential.tenant_id, entra.principal.secret)
    deployment_id = publish_package(pub.package, scm_url=pub.standin.scm_url, http=pub.client, poll_interval_s=2)
    assert deployment_id == pub.standin.deployments[0].id
    (grant,) = entra.grants
    assert (grant["client_id"], grant["grant_type"]) == (entra.principal.client_id, "client_credentials")
    assert grant["scope"] == "https://appservice.azure.com/.default"


def test_a_wrong_arm_client_secret_says_how_to_sign_in(
    pub: Publishing, entra: EntraStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    pulumi_variables(monkeypatch, entra, pub.credential.tenant_id, "not-the-secret")
    with pytest.raises(DeploymentError, match=r"could not get a Microsoft Entra token .*ARM_CLIENT_SECRET") as raised:
        publish_package(pub.package, scm_url=pub.standin.scm_url, http=pub.client)
    assert "not-the-secret" not in str(raised.value)
    assert pub.standin.deployments == []


@pytest.mark.parametrize(
    ("environment", "kind"),
    [
        ({"AZURE_CLIENT_ID": "a", "AZURE_TENANT_ID": "t", "ARM_CLIENT_ID": "b"}, azure.identity.DefaultAzureCredential),
        ({"ARM_CLIENT_ID": "b", "ARM_TENANT_ID": "t", "ARM_CLIENT_SECRET": "s"}, azure.identity.ClientSecretCredential),
        ({"ARM_USE_MSI": "true", "ARM_CLIENT_ID": "b"}, azure.identity.ManagedIdentityCredential),
        ({"ARM_CLIENT_ID": "b", "ARM_TENANT_ID": "t", "ARM_USE_OIDC": "true", "ARM_OIDC_TOKEN": "jwt"},
         azure.identity.ClientAssertionCredential),
        ({}, azure.identity.DefaultAzureCredential),
    ],
)  # fmt: skip
def test_the_deployers_credential_follows_azure_then_pulumi_conventions(
    environment: dict[str, str], kind: type
) -> None:
    assert isinstance(credentials.deploy_credential(environment), kind)


# -- scripts/deploy.py -------------------------------------------------------------------------


def test_deploy_publishes_a_given_zip_and_prints_each_phase(
    azure_standin: AzureStandIn,
    fake_credential: FakeCredential,
    package_zip: Path,
    client: HttpClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--app", azure_standin.app_name, "--zip", str(package_zip), "--scm-url", azure_standin.scm_url]
    assert deploy.main(argv, credential=fake_credential, http=client) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert f"deploy: function app {azure_standin.app_name}" in out
    assert f"deployment {azure_standin.deployments[0].id} succeeded" in out.splitlines()[-1]
    assert not any(secret in out for secret in _secrets_of(azure_standin, fake_credential))


def test_deploy_failure_prints_the_log_and_one_error_line_with_exit_status_1(
    azure_standin: AzureStandIn,
    fake_credential: FakeCredential,
    package_zip: Path,
    client: HttpClient,
    said: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    azure_standin.script = DeploymentScript(polls=0, final_status=3, status_text="Deployment Failed.", log=["Oops."])
    argv = ["--app", "x", "--zip", str(package_zip), "--scm-url", azure_standin.scm_url]
    assert deploy.main(argv, credential=fake_credential, http=client) == 1
    out, err = capsys.readouterr()
    assert err.count("\n") == 1
    assert err.startswith("deploy: deployment ") and "Deployment Failed." in err
    assert "deploy:   log: Oops." in out


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


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch, package_zip: Path) -> list[tuple[Path, str]]:
    """What deploy.py builds, as (output, python version); the zip is the test's package."""
    calls: list[tuple[Path, str]] = []

    def fake_build(output: Path, python_version: str) -> str:
        calls.append((output, python_version))
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(package_zip.read_bytes())
        return "ab" * 32

    monkeypatch.setattr(deploy, "build", fake_build)
    return calls


def test_deploy_builds_for_the_stacks_python_and_publishes_to_its_scm_host(
    azure_standin: AzureStandIn,
    fake_credential: FakeCredential,
    package_zip: Path,
    client: HttpClient,
    built: list[tuple[Path, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    outputs = {
        "functionAppName": "func-from-stack",
        "functionAppScmUrl": azure_standin.scm_url,
        "pythonVersion": "3.13",
    }
    bin_dir = _fake_pulumi(tmp_path / "bin", outputs)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    output = tmp_path / "out" / "app.zip"
    assert deploy.main(["--stack", "prod", "--output", str(output)], credential=fake_credential, http=client) == 0

    assert built == [(output, "3.13")]
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
    assert f"deploy: publishing to {azure_standin.scm_url}" in out
    assert azure_standin.deployments[0].package == package_zip.read_bytes()


def test_deploy_without_the_pulumi_cli_asks_the_app_for_its_scm_host_and_python(
    azure_standin: AzureStandIn,
    fake_credential: FakeCredential,
    client: HttpClient,
    built: list[tuple[Path, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi
    azure_standin.python_version = "3.11"
    argv = [
        "--app", azure_standin.app_name, "--resource-group", azure_standin.resource_group,
        "--subscription", azure_standin.subscription, "--arm-url", azure_standin.arm_url,
        "--output", str(tmp_path / "app.zip"),
    ]  # fmt: skip
    assert deploy.main(argv, credential=fake_credential, http=client) == 0
    assert built == [(tmp_path / "app.zip", "3.11")]
    (site,) = [c for c in azure_standin.calls_to("arm") if c.method == "GET"]
    assert site.path == azure_standin.site_id
    assert len(azure_standin.deployments) == 1  # published to the Repository host ARM named


def test_deploy_prints_pips_own_error_when_the_package_cannot_be_built(
    azure_standin: AzureStandIn,
    fake_credential: FakeCredential,
    client: HttpClient,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def failing_build(output: Path, python_version: str) -> str:
        raise PackageError(f"pip could not install requirements-{python_version}.txt:\nERROR: No matching distribution")

    monkeypatch.setattr(deploy, "build", failing_build)
    argv = ["--app", "a", "--scm-url", azure_standin.scm_url, "--python-version", "3.12"]
    assert deploy.main(argv, credential=fake_credential, http=client) == 1
    assert "ERROR: No matching distribution" in capsys.readouterr().err
    assert azure_standin.deployments == []


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


def test_a_bare_trigger_after_make_up_takes_everything_from_the_stack(
    azure_standin: AzureStandIn,
    fake_credential: FakeCredential,
    azurite_oauth: Azurite,
    blob_container: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Subscription, resource group, app and container all come from the stack outputs (no flags)."""
    writer = BlobStore.from_connection_string(azurite_oauth.connection_string, blob_container)
    azure_standin.on_trigger = lambda: _write_manifest(writer, "partial")
    outputs = {
        "subscriptionId": azure_standin.subscription,
        "resourceGroupName": azure_standin.resource_group,
        "functionAppName": azure_standin.app_name,
        "spotifyContainerUrl": f"{azurite_oauth.blob_endpoint}/{blob_container}",
    }
    bin_dir = _fake_pulumi(tmp_path / "bin", outputs)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    argv = ["--arm-url", azure_standin.arm_url, "--poll-interval", "0.1"]
    assert trigger.main(argv, credential=fake_credential) == 2
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


def test_trigger_without_a_subscription_or_pulumi_asks_for_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert trigger.main(["--app", "a"], credential=FakeCredential()) == 1
    assert capsys.readouterr().err.startswith("trigger: give --subscription (or set AZURE_SUBSCRIPTION_ID")


def test_trigger_takes_the_subscription_from_pulumis_arm_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("ARM_SUBSCRIPTION_ID", "sub-from-arm")
    assert trigger.main(["--app", "a"], credential=FakeCredential()) == 1
    assert "--resource-group" in capsys.readouterr().err  # past the subscription, to the next missing name
