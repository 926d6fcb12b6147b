"""The Azure stack (`infra/`) under Pulumi's mocks: every setting the deployment relies on, and the wiring.

The program (`infra/__main__.py`) runs as `pulumi up` runs it, against `pulumi.runtime.set_mocks`:
no Pulumi CLI, no Azure, no network. The mocks record what each resource would be created with
(the values Azure would receive) and answer with the outputs Azure would give (ids, the app's
principal id, blob endpoints), so the assertions check both settings and which output feeds which
input. The code-publishing provider is tested on its own with a stand-in publisher, and unpickled
in a fresh process as Pulumi's provider host does.
"""

from __future__ import annotations

import hashlib
import json
import runpy
import subprocess
import sys
import types
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pulumi
import pytest
import yaml
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.rpc import _special_secret_sig, _special_sig_key

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"
if str(INFRA) not in sys.path:
    sys.path.append(str(INFRA))  # last: nothing in infra/ may shadow an installed module

import code_deployment  # noqa: E402
import names  # noqa: E402
import roles  # noqa: E402
from azure_publish import DeploymentError  # noqa: E402
from config import InvalidSetting, Settings, load_settings  # noqa: E402

PROJECT = "spotify-exporter"
STACK = "dev"
LOCATION = "westeurope"
SUBSCRIPTION = "00000000-0000-0000-0000-00000000005b"
TENANT = "00000000-0000-0000-0000-0000000000a1"
DEPLOYER = "11111111-0000-0000-0000-00000000d3b1"
APP_PRINCIPAL = "22222222-0000-0000-0000-000000000a99"
EMAIL = "owner@example.com"
CONNECTION_STRING = "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://x/"
OWNER_ROLE = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
CONTRIBUTOR_ROLE = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"

# The input that names each Azure resource; the mocks answer with it as the resource's `name`.
NAME_INPUT = {
    "azure-native:resources:ResourceGroup": "resourceGroupName",
    "azure-native:storage:StorageAccount": "accountName",
    "azure-native:storage:BlobContainer": "containerName",
    "azure-native:keyvault:Vault": "vaultName",
    "azure-native:web:AppServicePlan": "name",
    "azure-native:web:WebApp": "name",
    "azure-native:applicationinsights:Component": "resourceName",
    "azure-native:operationalinsights:Workspace": "workspaceName",
    "azure-native:monitor:ActionGroup": "actionGroupName",
    "azure-native:monitor:ScheduledQueryRule": "ruleName",
}


def plain(value: Any, secrets: set[str], path: str = "") -> Any:
    """``value`` without Pulumi's secret wrappers; the paths that were secret go into ``secrets``."""
    if isinstance(value, dict):
        if value.get(_special_sig_key) == _special_secret_sig:
            secrets.add(path)
            return plain(value["value"], secrets, path)
        return {key: plain(item, secrets, f"{path}.{key}".lstrip(".")) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item, secrets, path) for item in value]
    return value


@dataclass
class Registered:
    """One resource as the program registered it: the inputs Azure would receive and the id it got."""

    typ: str
    name: str
    inputs: dict[str, Any]
    id: str
    secret_inputs: set[str]

    @property
    def azure_name(self) -> str:
        return str(self.inputs[NAME_INPUT[self.typ]])


class AzureMocks(pulumi.runtime.Mocks):
    """Answers like Azure would: ARM ids, names, the app's identity, blob endpoints, the client config."""

    def __init__(self) -> None:
        self.registered: list[Registered] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        secrets: set[str] = set()
        inputs = plain(dict(args.inputs), secrets)
        state = dict(args.inputs)
        name_input = NAME_INPUT.get(args.typ)
        azure_name = inputs[name_input] if name_input else args.name
        group = inputs.get("resourceGroupName", "")
        resource_id = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/providers/{args.typ}/{azure_name}"
        if name_input:
            state["name"] = azure_name
        if args.typ == "azure-native:resources:ResourceGroup":
            resource_id = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{azure_name}"
        elif args.typ == "azure-native:storage:StorageAccount":
            resource_id = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/providers/Microsoft.Storage/storageAccounts/{azure_name}"  # noqa: E501
            state["primaryEndpoints"] = {"blob": f"https://{azure_name}.blob.core.windows.net/"}
        elif args.typ == "azure-native:storage:BlobContainer":
            account = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/providers/Microsoft.Storage/storageAccounts/{inputs['accountName']}"  # noqa: E501
            resource_id = f"{account}/blobServices/default/containers/{azure_name}"
        elif args.typ == "azure-native:web:WebApp":
            state["identity"] = {"type": "SystemAssigned", "principalId": APP_PRINCIPAL, "tenantId": TENANT}
            state["defaultHostName"] = f"{azure_name}.azurewebsites.net"
        elif args.typ == "azure-native:keyvault:Vault":
            state["properties"] = {**inputs["properties"], "vaultUri": f"https://{azure_name}.vault.azure.net/"}
        elif args.typ == "azure-native:applicationinsights:Component":
            state["connectionString"] = CONNECTION_STRING
        self.registered.append(Registered(args.typ, args.name, inputs, resource_id, secrets))
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        if args.token == "azure-native:authorization:getClientConfig":
            return {"clientId": "cli", "objectId": DEPLOYER, "subscriptionId": SUBSCRIPTION, "tenantId": TENANT}, []
        raise NotImplementedError(args.token)


class DependencyRecorder(MockMonitor):
    """The mocks' resource monitor, noting what each resource waits for (the engine orders by it)."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.dependencies: dict[str, list[str]] = {}

    def RegisterResource(self, request: Any) -> Any:
        self.dependencies[request.name] = list(request.dependencies)
        register: Callable[[Any], Any] = super().RegisterResource  # untyped in the SDK
        return register(request)


@dataclass
class Deployment:
    """What one run of the program registered and exported."""

    registered: list[Registered]
    exports: dict[str, Any]
    secret_exports: set[str]
    dependencies: dict[str, list[str]]
    program: dict[str, Any] = field(repr=False)

    def all(self, typ: str) -> list[Registered]:
        return [resource for resource in self.registered if resource.typ == typ]

    def one(self, typ: str, name: str | None = None) -> Registered:
        found = [resource for resource in self.all(typ) if name is None or resource.name == name]
        assert len(found) == 1, f"{len(found)} resources {typ} {name or ''}"
        return found[0]


def settle(program: Callable[[], Any]) -> None:
    """Run ``program`` as Pulumi runs one: wait for what it returns and for every resource it registered."""
    pulumi_test = cast(Callable[[Callable[[], Any]], Callable[[], None]], pulumi.runtime.test)
    pulumi_test(program)()


def stack_config(package: Path, **settings: str) -> dict[str, str]:
    config = {
        "azure-native:location": LOCATION,
        f"{PROJECT}:alertEmail": EMAIL,
        f"{PROJECT}:packagePath": str(package),
    }
    config.update({f"{PROJECT}:{key}": value for key, value in settings.items()})
    return {key: value for key, value in config.items() if value}


def run_program(config: dict[str, str]) -> Deployment:
    """``pulumi up`` of `infra/__main__.py` against the mocks, with exactly this stack configuration."""
    mocks = AzureMocks()
    monitor = DependencyRecorder(mocks)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=STACK, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(config, [])
    root = pulumi.runtime.get_root_resource()
    assert isinstance(root, pulumi.runtime.stack.Stack)
    root.outputs.clear()  # the mocks keep one root stack for the whole test session
    program: dict[str, Any] = {}
    exports: dict[str, Any] = {}
    secret_exports: set[str] = set()

    async def resolve_exports() -> None:
        for name, value in root.outputs.items():
            output = pulumi.Output.from_input(value)
            exports[name] = await output.future()
            if await output.is_secret():
                secret_exports.add(name)

    def up() -> Any:
        program.update(runpy.run_path(str(INFRA / "__main__.py"), run_name="__main__"))
        return resolve_exports()

    settle(up)
    return Deployment(mocks.registered, exports, secret_exports, monitor.dependencies, program)


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in for `build/function-app.zip`: only its bytes and hash matter here."""
    path = tmp_path_factory.mktemp("build") / "function-app.zip"
    path.write_bytes(b"PK\x03\x04 the function app")
    return path


@pytest.fixture(scope="module")
def deployment(package: Path) -> Deployment:
    """The stack with only the required settings: every default in play."""
    return run_program(stack_config(package))


def app_settings(deployment: Deployment) -> dict[str, str]:
    site_config = deployment.one("azure-native:web:WebApp").inputs["siteConfig"]
    return {setting["name"]: setting["value"] for setting in site_config["appSettings"]}


# --- storage -------------------------------------------------------------------------------------


def test_storage_account_is_reached_only_by_identity_over_tls(deployment: Deployment) -> None:
    account = deployment.one("azure-native:storage:StorageAccount").inputs
    assert account["kind"] == "StorageV2"
    assert account["sku"] == {"name": "Standard_LRS"}
    assert account["enableHttpsTrafficOnly"] is True
    assert account["minimumTlsVersion"] == "TLS1_2"
    assert account["allowBlobPublicAccess"] is False
    assert account["allowSharedKeyAccess"] is False
    assert account["location"] == LOCATION
    assert account["resourceGroupName"] == deployment.one("azure-native:resources:ResourceGroup").azure_name


def test_deleted_or_overwritten_snapshots_stay_recoverable_for_30_days(deployment: Deployment) -> None:
    account = deployment.one("azure-native:storage:StorageAccount")
    blob_service = deployment.one("azure-native:storage:BlobServiceProperties").inputs
    assert blob_service["accountName"] == account.azure_name
    assert blob_service["blobServicesName"] == "default"
    assert blob_service["isVersioningEnabled"] is True
    assert blob_service["deleteRetentionPolicy"] == {"enabled": True, "days": 30}
    assert blob_service["containerDeleteRetentionPolicy"] == {"enabled": True, "days": 30}


def test_snapshot_and_deployment_containers_are_private(deployment: Deployment) -> None:
    account = deployment.one("azure-native:storage:StorageAccount")
    containers = {
        container.azure_name: container.inputs for container in deployment.all("azure-native:storage:BlobContainer")
    }
    assert set(containers) == {"spotify", "deployments"}
    for container in containers.values():
        assert container["publicAccess"] == "None"
        assert container["accountName"] == account.azure_name


def test_no_lifecycle_rule_unless_snapshot_retention_is_configured(deployment: Deployment) -> None:
    assert deployment.all("azure-native:storage:ManagementPolicy") == []


def test_snapshots_move_to_cool_tier_after_the_configured_days(package: Path) -> None:
    deployment = run_program(stack_config(package, snapshotRetentionDays="45"))
    policy = deployment.one("azure-native:storage:ManagementPolicy").inputs
    assert policy["accountName"] == deployment.one("azure-native:storage:StorageAccount").azure_name
    (rule,) = policy["policy"]["rules"]
    assert rule["enabled"] is True
    assert rule["type"] == "Lifecycle"
    assert rule["definition"]["filters"] == {"blobTypes": ["blockBlob"], "prefixMatch": ["spotify/"]}
    assert rule["definition"]["actions"] == {"baseBlob": {"tierToCool": {"daysAfterModificationGreaterThan": 45}}}


# --- function app --------------------------------------------------------------------------------


def test_flex_consumption_plan(deployment: Deployment) -> None:
    plan = deployment.one("azure-native:web:AppServicePlan").inputs
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan["kind"] == "functionapp"
    assert plan["reserved"] is True


def test_function_app_runs_python_on_flex_with_its_own_identity(deployment: Deployment) -> None:
    app = deployment.one("azure-native:web:WebApp").inputs
    assert app["kind"] == "functionapp,linux"
    assert app["serverFarmId"] == deployment.one("azure-native:web:AppServicePlan").id
    assert app["identity"] == {"type": "SystemAssigned"}
    assert app["httpsOnly"] is True
    config = app["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.12"}
    assert config["scaleAndConcurrency"] == {"instanceMemoryMB": 2048}
    assert app["siteConfig"]["ftpsState"] == "Disabled"
    assert app["siteConfig"]["minTlsVersion"] == "1.2"


def test_code_is_stored_in_the_deployments_container_by_identity(deployment: Deployment) -> None:
    storage = deployment.one("azure-native:web:WebApp").inputs["functionAppConfig"]["deployment"]["storage"]
    account = deployment.one("azure-native:storage:StorageAccount").azure_name
    assert storage == {
        "type": "blobContainer",
        "value": f"https://{account}.blob.core.windows.net/deployments",
        "authentication": {"type": "SystemAssignedIdentity"},
    }


def test_app_settings_name_the_created_vault_account_and_container(deployment: Deployment) -> None:
    account = deployment.one("azure-native:storage:StorageAccount").azure_name
    assert app_settings(deployment) == {
        "AzureWebJobsStorage__accountName": account,
        "APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION_STRING,
        "KEY_VAULT_NAME": deployment.one("azure-native:keyvault:Vault").azure_name,
        "EXPORT_SCHEDULE": "0 0 0 * * Sun",
        "SNAPSHOT_ACCOUNT_URL": f"https://{account}.blob.core.windows.net",
        "SNAPSHOT_CONTAINER": deployment.one("azure-native:storage:BlobContainer", "snapshots").azure_name,
    }
    assert app_settings(deployment)["SNAPSHOT_CONTAINER"] == "spotify"


def test_app_settings_are_kept_as_a_secret_because_of_the_connection_string(deployment: Deployment) -> None:
    assert "siteConfig" in deployment.one("azure-native:web:WebApp").secret_inputs


def test_configured_schedule_python_and_memory_reach_the_app(package: Path) -> None:
    config = stack_config(package, exportSchedule="0 30 2 * * Mon", pythonVersion="3.11", instanceMemoryMb="4096")
    app = run_program(config).one("azure-native:web:WebApp").inputs
    settings = {setting["name"]: setting["value"] for setting in app["siteConfig"]["appSettings"]}
    assert settings["EXPORT_SCHEDULE"] == "0 30 2 * * Mon"
    assert app["functionAppConfig"]["runtime"] == {"name": "python", "version": "3.11"}
    assert app["functionAppConfig"]["scaleAndConcurrency"] == {"instanceMemoryMB": 4096}


def test_basic_auth_publishing_is_off_for_ftp_and_scm(deployment: Deployment) -> None:
    app = deployment.one("azure-native:web:WebApp")
    for policy_type in ("azure-native:web:WebAppFtpAllowed", "azure-native:web:WebAppScmAllowed"):
        policy = deployment.one(policy_type).inputs
        assert policy == {"name": app.azure_name, "resourceGroupName": app.inputs["resourceGroupName"], "allow": False}


# --- key vault -----------------------------------------------------------------------------------


def test_vault_is_standard_with_soft_delete_and_purge_protection(deployment: Deployment) -> None:
    properties = deployment.one("azure-native:keyvault:Vault").inputs["properties"]
    assert properties["sku"] == {"family": "A", "name": "standard"}
    assert properties["tenantId"] == TENANT
    assert properties["enableSoftDelete"] is True
    assert properties["enablePurgeProtection"] is True
    assert properties["enableRbacAuthorization"] is False


def test_vault_policies_give_the_app_get_set_and_the_deployer_get_set_list(deployment: Deployment) -> None:
    policies = deployment.one("azure-native:keyvault:Vault").inputs["properties"]["accessPolicies"]
    by_object = {policy["objectId"]: policy for policy in policies}
    assert set(by_object) == {APP_PRINCIPAL, DEPLOYER}
    assert by_object[APP_PRINCIPAL]["permissions"] == {"secrets": ["get", "set"]}
    assert by_object[DEPLOYER]["permissions"] == {"secrets": ["get", "set", "list"]}
    assert {policy["tenantId"] for policy in policies} == {TENANT}


def test_the_app_policy_is_for_the_created_app_identity(deployment: Deployment) -> None:
    """The policy's object id is the principal id Azure gave the app, not a configured value."""
    principal_id = deployment.program["function_app"].principal_id
    policies = deployment.one("azure-native:keyvault:Vault").inputs["properties"]["accessPolicies"]
    app_policy_objects = [p["objectId"] for p in policies if p["permissions"]["secrets"] == ["get", "set"]]

    settle(lambda: principal_id.apply(lambda principal: assert_equal(app_policy_objects, [principal])))
    assert app_policy_objects == [APP_PRINCIPAL]


def assert_equal(actual: object, expected: object) -> None:
    assert actual == expected


# --- role assignments ----------------------------------------------------------------------------


def test_app_owns_blob_data_on_the_account_and_contributes_on_the_container(deployment: Deployment) -> None:
    account = deployment.one("azure-native:storage:StorageAccount")
    container = deployment.one("azure-native:storage:BlobContainer", "snapshots")
    assignments = {
        item.inputs["scope"]: item.inputs for item in deployment.all("azure-native:authorization:RoleAssignment")
    }
    assert set(assignments) == {account.id, container.id}
    definitions = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions"
    assert assignments[account.id]["roleDefinitionId"] == f"{definitions}/{OWNER_ROLE}"
    assert assignments[container.id]["roleDefinitionId"] == f"{definitions}/{CONTRIBUTOR_ROLE}"
    assert container.id.endswith("/blobServices/default/containers/spotify")
    for assignment in assignments.values():
        assert assignment["principalId"] == APP_PRINCIPAL
        assert assignment["principalType"] == "ServicePrincipal"


def test_role_assignment_names_are_fixed_by_scope_role_and_principal(deployment: Deployment) -> None:
    for assignment in deployment.all("azure-native:authorization:RoleAssignment"):
        inputs = assignment.inputs
        role = inputs["roleDefinitionId"].rsplit("/", 1)[1]
        expected = uuid.uuid5(uuid.NAMESPACE_URL, f"{inputs['scope']}|{role}|{inputs['principalId']}")
        assert inputs["roleAssignmentName"] == str(expected)
    assert roles.assignment_name("s", OWNER_ROLE, "p") == roles.assignment_name("s", OWNER_ROLE, "p")
    assert roles.assignment_name("s", OWNER_ROLE, "p") != roles.assignment_name("s", CONTRIBUTOR_ROLE, "p")


def test_role_ids_are_the_built_in_storage_roles() -> None:
    assert roles.STORAGE_BLOB_DATA_OWNER == OWNER_ROLE
    assert roles.STORAGE_BLOB_DATA_CONTRIBUTOR == CONTRIBUTOR_ROLE


# --- monitoring ----------------------------------------------------------------------------------


def test_logs_go_to_a_workspace_based_application_insights(deployment: Deployment) -> None:
    workspace = deployment.one("azure-native:operationalinsights:Workspace")
    assert workspace.inputs["sku"] == {"name": "PerGB2018"}
    assert workspace.inputs["retentionInDays"] == 30
    insights = deployment.one("azure-native:applicationinsights:Component").inputs
    assert insights["kind"] == "web"
    assert insights["applicationType"] == "web"
    assert insights["workspaceResourceId"] == workspace.id
    assert insights["ingestionMode"] == "LogAnalytics"


def test_action_group_mails_the_configured_address(deployment: Deployment) -> None:
    group = deployment.one("azure-native:monitor:ActionGroup").inputs
    assert group["emailReceivers"] == [{"name": "owner", "emailAddress": EMAIL, "useCommonAlertSchema": True}]
    assert group["enabled"] is True
    assert group["location"] == "global"
    assert 1 <= len(group["groupShortName"]) <= 12


def test_a_failed_weekly_export_fires_the_alert_within_the_hour(deployment: Deployment) -> None:
    rule = deployment.one("azure-native:monitor:ScheduledQueryRule").inputs
    assert rule["scopes"] == [deployment.one("azure-native:applicationinsights:Component").id]
    assert rule["actions"] == {"actionGroups": [deployment.one("azure-native:monitor:ActionGroup").id]}
    assert rule["kind"] == "LogAlert"
    assert rule["enabled"] is True
    assert rule["severity"] == 1
    assert rule["evaluationFrequency"] == "PT1H"
    assert rule["windowSize"] == "PT1H"
    (condition,) = rule["criteria"]["allOf"]
    assert condition["query"] == 'requests | where name == "weekly_export" and success == false'
    assert condition["timeAggregation"] == "Count"
    assert condition["operator"] == "GreaterThan"
    assert condition["threshold"] == 0
    assert condition["failingPeriods"] == {"numberOfEvaluationPeriods": 1, "minFailingPeriodsToAlert": 1}


# --- exports and secrets -------------------------------------------------------------------------


def test_stack_outputs_name_what_make_deploy_and_make_trigger_need(deployment: Deployment) -> None:
    account = deployment.one("azure-native:storage:StorageAccount").azure_name
    app = deployment.one("azure-native:web:WebApp").azure_name
    vault = deployment.one("azure-native:keyvault:Vault").azure_name
    assert deployment.exports == {
        "resourceGroupName": deployment.one("azure-native:resources:ResourceGroup").azure_name,
        "functionAppName": app,
        "functionAppUrl": f"https://{app}.azurewebsites.net",
        "vaultName": vault,
        "vaultUri": f"https://{vault}.vault.azure.net/",
        "storageAccountName": account,
        "spotifyContainerUrl": f"https://{account}.blob.core.windows.net/spotify",
        "deploymentContainerUrl": f"https://{account}.blob.core.windows.net/deployments",
        "packageSha256": deployment.one("pulumi-python:dynamic:Resource").inputs["package_sha256"],
    }


def test_nothing_secret_is_exported_and_the_connection_string_stays_secret(deployment: Deployment) -> None:
    assert CONNECTION_STRING not in json.dumps(deployment.exports)
    connection_string = deployment.program["monitoring"].connection_string

    async def check() -> None:
        assert await connection_string.is_secret()
        assert await connection_string.future() == CONNECTION_STRING

    settle(check)


def test_names_are_globally_unique_per_subscription_and_stack_and_fit_azure_limits() -> None:
    suffix = names.name_suffix(SUBSCRIPTION, PROJECT, STACK)
    assert suffix == names.name_suffix(SUBSCRIPTION, PROJECT, STACK)
    assert suffix != names.name_suffix(SUBSCRIPTION, PROJECT, "prod")
    assert suffix != names.name_suffix(TENANT, PROJECT, STACK)
    longest = "a" * 12
    assert len(f"{longest}st{suffix}") <= 24  # storage account
    assert len(f"{longest}-kv-{suffix}") <= 24  # key vault


# --- code deployment -----------------------------------------------------------------------------


def test_code_deployment_publishes_the_package_by_its_hash_to_the_app(deployment: Deployment, package: Path) -> None:
    app = deployment.one("azure-native:web:WebApp").azure_name
    code = deployment.one("pulumi-python:dynamic:Resource").inputs
    assert code["package_sha256"] == hashlib.sha256(package.read_bytes()).hexdigest()
    assert code["package_path"] == str(package.resolve())
    assert code["app_name"] == app
    assert code["scm_url"] == f"https://{app}.scm.azurewebsites.net"


def test_code_is_published_only_after_the_app_may_store_it(deployment: Deployment) -> None:
    """Publishing stores the zip with the app's identity, so its roles (and the vault) come first."""
    waits_for = {urn.rsplit("::", 1)[1] for urn in deployment.dependencies["package"]}
    assert {"host-storage", "snapshots", "vault", "app", "ftp-publishing", "scm-publishing"} <= waits_for


def test_the_provider_loads_in_a_process_that_cannot_import_infra(deployment: Deployment) -> None:
    """Pulumi's provider host starts in the project root with a bare sys.path, then unpickles the provider."""
    serialized = deployment.one("pulumi-python:dynamic:Resource").inputs["__provider"]
    script = """
import base64, json, sys
import dill
provider = dill.loads(base64.b64decode(sys.stdin.read()))
same = {"app_name": "a", "package_sha256": "1", "package_path": "/x"}
print(json.dumps({
    "infra_imported": "code_deployment" in sys.modules or "config" in sys.modules,
    "unchanged": provider.diff("id", same, dict(same, package_path="/elsewhere")).changes,
    "new_code": provider.diff("id", same, dict(same, package_sha256="2")).changes,
    "publisher": provider.azure_publish().__module__,
}))
"""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, input=serialized, capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "infra_imported": False,
        "unchanged": False,
        "new_code": True,
        "publisher": "azure_publish",
    }


@dataclass
class StandInPublisher:
    """Records what would be published; fails with ``error`` when given one."""

    error: Exception | None = None
    calls: list[tuple[str, Path, str]] = field(default_factory=list)

    def __call__(self, app_name: str, zip_path: Path, *, scm_url: str) -> str:
        self.calls.append((app_name, zip_path, scm_url))
        if self.error:
            raise self.error
        return f"deployment-{len(self.calls)}"


@pytest.fixture
def props(package: Path) -> dict[str, Any]:
    return {
        "app_name": "spotify-func-1",
        "scm_url": "https://spotify-func-1.scm.azurewebsites.net",
        "package_path": str(package),
        "package_sha256": hashlib.sha256(package.read_bytes()).hexdigest(),
    }


def test_creating_the_deployment_publishes_the_package(props: dict[str, Any], package: Path) -> None:
    publish = StandInPublisher()
    created = code_deployment.package_provider(publish).create(props)
    assert publish.calls == [("spotify-func-1", package, "https://spotify-func-1.scm.azurewebsites.net")]
    assert created.id == "deployment-1"
    assert created.outs == {**props, "deployment_id": "deployment-1"}


@pytest.mark.parametrize(
    ("change", "redeploys"),
    [
        ({}, False),
        ({"package_path": "/somewhere/else/function-app.zip"}, False),
        ({"scm_url": "https://spotify-func-1.scm.westeurope-01.azurewebsites.net"}, False),
        ({"package_sha256": "0" * 64}, True),
        ({"app_name": "spotify-func-2"}, True),
    ],
)
def test_only_a_new_package_or_a_new_app_is_published_again(
    props: dict[str, Any], change: dict[str, str], redeploys: bool
) -> None:
    olds = {**props, "deployment_id": "deployment-1", "__provider": "old"}
    diff = code_deployment.package_provider(StandInPublisher()).diff("deployment-1", olds, {**props, **change})
    assert diff.changes is redeploys
    assert not diff.replaces


def test_updating_publishes_again_and_records_the_new_deployment(props: dict[str, Any]) -> None:
    publish = StandInPublisher()
    updated = code_deployment.package_provider(publish).update("deployment-0", props, props)
    assert len(publish.calls) == 1
    assert updated.outs == {**props, "deployment_id": "deployment-1"}


def test_a_failed_deployment_fails_pulumi_up_with_its_own_message(props: dict[str, Any]) -> None:
    error = DeploymentError("the deployment failed: ModuleNotFoundError: spotify_exporter (see the log)")
    provider = code_deployment.package_provider(StandInPublisher(error))
    with pytest.raises(DeploymentError, match="ModuleNotFoundError: spotify_exporter") as failure:
        provider.create(props)
    assert failure.value is error


def test_a_package_rebuilt_since_planning_is_refused(props: dict[str, Any]) -> None:
    publish = StandInPublisher()
    with pytest.raises(RuntimeError, match="changed since this update was planned"):
        code_deployment.package_provider(publish).create({**props, "package_sha256": "0" * 64})
    assert publish.calls == []


@pytest.fixture
def azure_publish_stand_in(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandInPublisher]:
    """`azure_publish` as the provider imports it lazily (the seam to the other module)."""
    publish = StandInPublisher()
    module = types.ModuleType("azure_publish")
    module.publish_package = publish  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azure_publish", module)
    yield publish


def test_without_a_publisher_the_provider_uses_azure_publish(
    props: dict[str, Any], azure_publish_stand_in: StandInPublisher
) -> None:
    code_deployment.package_provider().create(props)
    assert len(azure_publish_stand_in.calls) == 1


def test_a_prebuilt_package_is_deployed_as_it_is(package: Path) -> None:
    built = code_deployment.function_package("3.12", package)
    assert built == code_deployment.FunctionPackage(package.resolve(), hashlib.sha256(package.read_bytes()).hexdigest())


# --- configuration -------------------------------------------------------------------------------


def test_a_missing_alert_email_fails_with_its_key(package: Path) -> None:
    config = stack_config(package)
    del config[f"{PROJECT}:alertEmail"]
    with pytest.raises(pulumi.ConfigMissingError, match="spotify-exporter:alertEmail"):
        run_program(config)


def settings_from(config: dict[str, str]) -> Settings:
    pulumi.runtime.set_all_config(config, [])
    return load_settings()


def test_defaults_apply_when_only_location_and_alert_email_are_set() -> None:
    assert settings_from({"azure-native:location": LOCATION, f"{PROJECT}:alertEmail": EMAIL}) == Settings(
        location=LOCATION,
        name_prefix="spotify",
        export_schedule="0 0 0 * * Sun",
        alert_email=EMAIL,
        python_version="3.12",
        snapshot_retention_days=0,
        instance_memory_mb=2048,
        package_path=None,
    )


def test_a_missing_location_fails_with_its_key() -> None:
    with pytest.raises(pulumi.ConfigMissingError, match="azure-native:location"):
        settings_from({f"{PROJECT}:alertEmail": EMAIL})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("namePrefix", "Spotify_Exports"),
        ("namePrefix", "averyveryverylongprefix"),
        ("exportSchedule", "0 0 * * Sun"),
        ("alertEmail", "nobody"),
        ("pythonVersion", "3.9"),
        ("snapshotRetentionDays", "-1"),
        ("snapshotRetentionDays", "a month"),
        ("instanceMemoryMb", "1000"),
        ("packagePath", "/no/such/function-app.zip"),
    ],
)
def test_an_invalid_setting_fails_with_its_key(key: str, value: str) -> None:
    config = {"azure-native:location": LOCATION, f"{PROJECT}:alertEmail": EMAIL, f"{PROJECT}:{key}": value}
    with pytest.raises((InvalidSetting, pulumi.ConfigTypeError), match=f"{PROJECT}:{key}"):
        settings_from(config)


# --- project files -------------------------------------------------------------------------------


def test_project_runs_infra_with_the_project_venv() -> None:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == PROJECT
    assert project["main"] == "infra/"
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}


def test_the_example_stack_configuration_deploys(package: Path) -> None:
    example: dict[str, str] = yaml.safe_load((ROOT / "Pulumi.example.yaml").read_text())["config"]
    settings = settings_from(example)
    assert (settings.location, settings.alert_email, settings.export_schedule) == (
        "westeurope",
        "you@example.com",
        "0 0 0 * * Sun",
    )
    deployment = run_program({**example, f"{PROJECT}:packagePath": str(package)})
    assert deployment.exports["functionAppName"].startswith("spotify-func-")
