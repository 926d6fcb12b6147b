"""The Azure stack (`infra/`) under Pulumi's mocks made strict: every setting the deployment relies on.

The program (`infra/__main__.py`) runs as `pulumi up` (or `pulumi preview`) runs it, against
`pulumi.runtime.set_mocks` with the ARM stand-in of `tests/arm_standin.py`: the serialized inputs
the engine would send are checked by ARM's rules (Flex Consumption's refused properties, name
rules, role assignments without a principal, alert windows, KQL that parses) before the mocks
answer like Azure. The assertions read those serialized inputs, never the Args objects. The
code-publishing provider is tested on its own with a stand-in publisher, and unpickled in a fresh
process as Pulumi's provider host does.
"""

from __future__ import annotations

import hashlib
import json
import re
import runpy
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pulumi
import pulumi_azure_native.authorization as authorization
import pulumi_azure_native.storage as storage_sdk
import pulumi_azure_native.web as web
import pytest
import yaml
from arm_standin import (
    CONNECTION_STRING,
    DEPLOYER,
    NAME_INPUT,
    SUBSCRIPTION,
    TENANT,
    ArmMocks,
    ArmMonitor,
    Registered,
    check_web_app,
)
from kql import REQUESTS_SCHEMA, TRACES_SCHEMA, diagnostics
from pulumi.runtime.settings import _get_rpc_manager

from azure_deploy.http import DeploymentError
from azure_deploy.package import supported_python_versions

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"
if str(INFRA) not in sys.path:
    sys.path.append(str(INFRA))  # last: nothing in infra/ may shadow an installed module

import code_deployment  # noqa: E402
import names  # noqa: E402
import roles  # noqa: E402
from config import InvalidSetting, Settings, load_settings  # noqa: E402
from schedule import Schedule, ScheduleError  # noqa: E402

PROJECT = "spotify-exporter"
STACK = "dev"
LOCATION = "westeurope"
APP_PRINCIPAL = "22222222-0000-0000-0000-000000000a99"
EMAIL = "owner@example.com"
ROLE_IDS = {
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "Storage Queue Data Reader": "19e7f393-937e-4f77-808e-94535e297925",
    "Storage Queue Data Message Processor": "8a0f0c08-91a1-4084-bc3d-661d67233fed",
    "Storage Queue Data Message Sender": "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a",
}
#: the Pulumi type of each kind of Azure resource, as the README names them
ARM_TYPES = {
    "azure-native:resources:ResourceGroup": "Microsoft.Resources/resourceGroups",
    "azure-native:storage:StorageAccount": "Microsoft.Storage/storageAccounts",
    "azure-native:storage:BlobServiceProperties": "Microsoft.Storage/storageAccounts/blobServices",
    "azure-native:storage:BlobContainer": "Microsoft.Storage/storageAccounts/blobServices/containers",
    "azure-native:storage:Queue": "Microsoft.Storage/storageAccounts/queueServices/queues",
    "azure-native:storage:ManagementPolicy": "Microsoft.Storage/storageAccounts/managementPolicies",
    "azure-native:keyvault:Vault": "Microsoft.KeyVault/vaults",
    "azure-native:web:AppServicePlan": "Microsoft.Web/serverfarms",
    "azure-native:web:WebApp": "Microsoft.Web/sites",
    "azure-native:web:WebAppFtpAllowed": "Microsoft.Web/sites/basicPublishingCredentialsPolicies/ftp",
    "azure-native:web:WebAppScmAllowed": "Microsoft.Web/sites/basicPublishingCredentialsPolicies/scm",
    "azure-native:operationalinsights:Workspace": "Microsoft.OperationalInsights/workspaces",
    "azure-native:applicationinsights:Component": "Microsoft.Insights/components",
    "azure-native:monitor:ActionGroup": "Microsoft.Insights/actionGroups",
    "azure-native:monitor:ScheduledQueryRule": "Microsoft.Insights/scheduledQueryRules",
    "azure-native:authorization:RoleAssignment": "Microsoft.Authorization/roleAssignments",
    "pulumi-python:dynamic:Resource": "the code package (published to the app)",
}


@dataclass
class Deployment:
    """What one run of the program registered and exported."""

    registered: list[Registered]
    exports: dict[str, Any]
    secret_exports: set[str]
    dependencies: dict[str, list[str]]
    program: dict[str, Any] = field(repr=False)
    options: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict, repr=False)

    def all(self, typ: str) -> list[Registered]:
        return [resource for resource in self.registered if resource.typ == typ]

    def one(self, typ: str, name: str | None = None) -> Registered:
        found = [resource for resource in self.all(typ) if name is None or resource.name == name]
        assert len(found) == 1, f"{len(found)} resources {typ} {name or ''}"
        return found[0]

    def options_of(self, typ: str, name: str, parent: str = "") -> dict[str, Any]:
        """The resource options the engine received for the ``typ`` resource ``name`` (whose parent's URN
        ends with ``parent``, when several share the name)."""
        (found,) = [o for (t, n, p), o in self.options.items() if t == typ and n == name and p.endswith(parent)]
        return found

    def account(self, role: str) -> Registered:
        """The storage account for ``role`` "snapshots" or "host"."""
        infix = "st" if role == "snapshots" else "host"
        (account,) = [a for a in self.all("azure-native:storage:StorageAccount") if f"spotify{infix}" in a.azure_name]
        return account


def use_mocks(mocks: ArmMocks, monitor: ArmMonitor, *, preview: bool = False) -> None:
    """Install the mocks, forgetting what an earlier program left (a refused resource leaves its RPCs)."""
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=STACK, preview=preview, monitor=monitor)
    _get_rpc_manager().clear()


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


def run_program(config: dict[str, str], *, preview: bool = False, principal_id: str = APP_PRINCIPAL) -> Deployment:
    """``pulumi up`` (or ``preview``) of `infra/__main__.py` against the ARM stand-in, with this stack configuration."""
    mocks = ArmMocks(principal_id=principal_id)
    monitor = ArmMonitor(mocks)
    use_mocks(mocks, monitor, preview=preview)
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
    return Deployment(mocks.registered, exports, secret_exports, monitor.dependencies, program, monitor.options)


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


def assignments(deployment: Deployment) -> list[dict[str, Any]]:
    return [a.inputs for a in deployment.all("azure-native:authorization:RoleAssignment")]


def definition(role: str) -> str:
    return f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/{ROLE_IDS[role]}"


# --- the ARM stand-in itself -------------------------------------------------------------------------


def refusals(resource: Callable[[], pulumi.CustomResource]) -> list[str]:
    """What the ARM stand-in refuses in ``resource`` as the engine would send it (recorded, not raised)."""
    mocks = ArmMocks(strict=False)
    use_mocks(mocks, ArmMonitor(mocks))
    settle(lambda: resource().urn)
    return [f"{violation.code}: {violation.message}" for _, violation in mocks.refused]


def test_the_stand_in_refuses_the_sdks_site_config_defaults_on_flex() -> None:
    """``web.SiteConfigArgs`` serializes ``netFrameworkVersion: v4.6`` by itself, which Flex refuses (51021)."""

    def app() -> web.WebApp:
        return web.WebApp(
            "app",
            name="spotify-func-1",
            resource_group_name="rg",
            kind="functionapp,linux",
            identity=web.ManagedServiceIdentityArgs(type=web.ManagedServiceIdentityType.SYSTEM_ASSIGNED),
            function_app_config=web.FunctionAppConfigArgs(
                runtime=web.FunctionsRuntimeArgs(name=web.RuntimeName.PYTHON, version="3.12"),
                scale_and_concurrency=web.FunctionsScaleAndConcurrencyArgs(instance_memory_mb=2048),
            ),
            site_config=web.SiteConfigArgs(min_tls_version=web.SupportedTlsVersions.SUPPORTED_TLS_VERSIONS_1_2),
        )

    assert refusals(app) == [
        "51021: The following site configuration property (Site.SiteConfig.NetFrameworkVersion) for Flex "
        "Consumption sites is invalid. Please remove or rename it before retrying."
    ]


def test_the_stand_in_refuses_a_role_assignment_without_a_principal() -> None:
    def assignment() -> authorization.RoleAssignment:
        return authorization.RoleAssignment(
            "grant",
            scope=f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg",
            principal_id="",
            role_definition_id=definition("Storage Blob Data Contributor"),
            role_assignment_name=str(uuid.uuid4()),
        )

    assert refusals(assignment) == ["InvalidPrincipalId: a valid principal ID must be provided, not ''"]


def test_the_stand_in_refuses_the_sdks_default_principal_type_for_a_service_principal() -> None:
    """Omitting ``principal_type`` still sends ``User`` (the SDK's default), which ARM refuses for a CI principal."""

    def assignment() -> authorization.RoleAssignment:
        return authorization.RoleAssignment(
            "grant",
            scope=f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg",
            principal_id=DEPLOYER,
            role_definition_id=definition("Storage Blob Data Contributor"),
            role_assignment_name=str(uuid.uuid4()),
        )

    (refusal,) = refusals(assignment)
    assert refusal.startswith("UnmatchedPrincipalType: ") and "different from specified PrincipalType 'User'" in refusal


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"siteConfig": {"ftpsState": "Disabled"}}, "Site.SiteConfig.FtpsState"),
        ({"siteConfig": {"use32BitWorkerProcess": False}}, "Site.SiteConfig.Use32BitWorkerProcess"),
        ({"siteConfig": {"linuxFxVersion": "PYTHON|3.12"}}, "Site.SiteConfig.LinuxFxVersion"),
        (
            {"siteConfig": {"appSettings": [{"name": "FUNCTIONS_WORKER_RUNTIME", "value": "python"}]}},
            "FUNCTIONS_WORKER",
        ),
        ({"functionAppConfig": {"scaleAndConcurrency": {"instanceMemoryMB": 512}}}, "instanceMemoryMB 512"),
        ({"functionAppConfig": {"runtime": {"name": "python", "version": "3.9"}}}, "never starts"),
        (
            {"functionAppConfig": {"scaleAndConcurrency": {"instanceMemoryMB": 2048, "maximumInstanceCount": 0}}},
            "maximumInstanceCount 0 must be between 1 and 1000",
        ),
        ({"name": "-spotify"}, "InvalidResourceName"),
    ],
)
def test_the_stand_in_refuses_what_flex_consumption_refuses(change: dict[str, Any], refusal: str) -> None:
    app: dict[str, Any] = {
        "name": "spotify-func-1",
        "identity": {"type": "SystemAssigned"},
        "functionAppConfig": {
            "runtime": {"name": "python", "version": "3.12"},
            "scaleAndConcurrency": {"instanceMemoryMB": 2048},
        },
        "siteConfig": {"minTlsVersion": "1.2"},
    }
    assert list(check_web_app(app)) == []
    for key, value in change.items():
        app[key] = {**app[key], **value} if isinstance(value, dict) else value
    assert any(refusal in f"{v.code}: {v.message}" for v in check_web_app(app))


# --- the whole stack, as the README promises it ---------------------------------------------------------


def readme_inventory() -> list[dict[str, str]]:
    """The rows of the README's "What `pulumi up` creates" table."""
    text = (ROOT / "README.md").read_text()
    section = text.split("#### What `pulumi up` creates", 1)[1].split("\n\n", 2)[1]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]
    columns = ("what", "type", "name", "settings")
    return [dict(zip(columns, (cell.strip() for cell in row.strip("|").split("|")), strict=True)) for row in rows]


def promised_settings(cell: str) -> dict[str, Any]:
    """``key: value`` pairs in backticks; ``(unset)`` means the key is absent."""
    settings = {}
    for pair in re.findall(r"`([^`]+)`", cell):
        key, _, value = pair.partition(": ")
        settings[key] = "(unset)" if value == "(unset)" else yaml.safe_load(value)
    return settings


def lookup(inputs: dict[str, Any], path: str) -> Any:
    value: Any = inputs
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return "(unset)"
        value = value[part]
    return value


def fulfils(resource: Registered, row: dict[str, str], deployment: Deployment) -> bool:
    if ARM_TYPES[resource.typ] != row["type"].strip("`"):
        return False
    pattern = re.escape(row["name"].strip("`"))
    for placeholder, regex in (("<prefix>", "spotify"), ("<stack>", STACK), ("<hash>", "[0-9a-f]{8}")):
        pattern = pattern.replace(re.escape(placeholder), regex)
    name = {
        "azure-native:web:WebAppFtpAllowed": "ftp",
        "azure-native:web:WebAppScmAllowed": "scm",
        "azure-native:storage:BlobServiceProperties": str(resource.inputs.get("blobServicesName")),
        "azure-native:storage:ManagementPolicy": str(resource.inputs.get("managementPolicyName")),
    }.get(resource.typ) or (resource.azure_name if resource.typ in NAME_INPUT else resource.name)
    if row["name"] != "(GUID)" and not re.fullmatch(pattern, name):
        return False
    for key, expected in promised_settings(row["settings"]).items():
        if key == "role":
            actual = lookup(resource.inputs, "roleDefinitionId")
            expected = definition(str(expected))
        elif key == "scope":
            scope = resource.inputs["scope"]
            actual = {
                "snapshots' container": scope.endswith("/containers/spotify"),
                "host's account": re.search(r"/storageAccounts/spotifyhost[0-9a-f]{8}$", scope) is not None,
                "export queue": scope.endswith("/queues/spotify-exports"),
                "poison queue": scope.endswith("/queues/spotify-exports-poison"),
            }[str(expected)]
            expected = True
        elif key == "principal":
            actual = resource.inputs["principalId"]
            expected = {"the app": APP_PRINCIPAL, "the deployer": DEPLOYER}[str(expected)]
        else:
            actual = lookup(resource.inputs, key)
        if actual != expected:
            return False
    return True


def test_a_new_stacks_preview_lists_exactly_what_the_readme_promises(package: Path) -> None:
    preview = run_program(stack_config(package), preview=True)
    rows = readme_inventory()
    assert rows, "the README's inventory table is missing"
    matches = {
        id(resource): [row["what"] for row in rows if fulfils(resource, row, preview)]
        for resource in preview.registered
    }
    for resource in preview.registered:
        assert len(matches[id(resource)]) == 1, (resource.typ, resource.name, matches[id(resource)])
    claimed = [what for found in matches.values() for what in found]
    assert sorted(claimed) == sorted(row["what"] for row in rows)


# --- storage -------------------------------------------------------------------------------------------


def test_both_storage_accounts_are_reached_only_by_identity_over_tls(deployment: Deployment) -> None:
    accounts = deployment.all("azure-native:storage:StorageAccount")
    assert len(accounts) == 2
    for account in accounts:
        inputs = account.inputs
        assert inputs["kind"] == "StorageV2"
        assert inputs["sku"] == {"name": "Standard_LRS"}
        assert inputs["enableHttpsTrafficOnly"] is True
        assert inputs["minimumTlsVersion"] == "TLS1_2"
        assert inputs["allowBlobPublicAccess"] is False
        assert inputs["allowSharedKeyAccess"] is False
        assert inputs["location"] == LOCATION


def test_snapshots_stay_recoverable_for_30_days_and_the_hosts_account_keeps_no_versions(
    deployment: Deployment,
) -> None:
    (blob_service,) = deployment.all("azure-native:storage:BlobServiceProperties")
    assert blob_service.inputs["accountName"] == deployment.account("snapshots").azure_name
    assert blob_service.inputs["isVersioningEnabled"] is True
    assert blob_service.inputs["deleteRetentionPolicy"] == {"enabled": True, "days": 30}
    assert blob_service.inputs["containerDeleteRetentionPolicy"] == {"enabled": True, "days": 30}


def test_snapshots_and_the_package_live_in_separate_accounts(deployment: Deployment) -> None:
    containers = {c.azure_name: c.inputs for c in deployment.all("azure-native:storage:BlobContainer")}
    assert set(containers) == {"spotify", "deployments", "export-locks"}
    assert containers["spotify"]["accountName"] == deployment.account("snapshots").azure_name
    assert containers["deployments"]["accountName"] == deployment.account("host").azure_name
    assert containers["export-locks"]["accountName"] == deployment.account("host").azure_name
    assert {c["publicAccess"] for c in containers.values()} == {"None"}


def test_the_export_queue_and_its_poison_queue_are_in_the_hosts_account(deployment: Deployment) -> None:
    """Named as the function app's triggers bind them, and made beforehand: the runtime then only sends."""
    from spotify_exporter.export_queue import POISON_QUEUE_NAME, QUEUE_NAME

    queues = {q.azure_name: q.inputs for q in deployment.all("azure-native:storage:Queue")}
    assert set(queues) == {QUEUE_NAME, POISON_QUEUE_NAME} == {"spotify-exports", "spotify-exports-poison"}
    assert {q["accountName"] for q in queues.values()} == {deployment.account("host").azure_name}


def test_no_lifecycle_rule_unless_snapshot_retention_is_configured(deployment: Deployment) -> None:
    assert deployment.all("azure-native:storage:ManagementPolicy") == []


def test_snapshots_move_to_cool_tier_after_the_configured_days(package: Path) -> None:
    deployment = run_program(stack_config(package, snapshotRetentionDays="45"))
    policy = deployment.one("azure-native:storage:ManagementPolicy").inputs
    assert policy["accountName"] == deployment.account("snapshots").azure_name
    (rule,) = policy["policy"]["rules"]
    assert rule["definition"]["filters"] == {"blobTypes": ["blockBlob"], "prefixMatch": ["spotify/"]}
    assert rule["definition"]["actions"] == {"baseBlob": {"tierToCool": {"daysAfterModificationGreaterThan": 45}}}


# --- write-once snapshots (spotify-exporter:immutableDays) ---------------------------------------------


@pytest.fixture(scope="module")
def immutable(package: Path) -> Deployment:
    return run_program(stack_config(package, immutableDays="365"))


def test_immutable_days_make_new_snapshot_versions_write_once_under_an_unlocked_default_policy(
    immutable: Deployment,
) -> None:
    container = immutable.one("azure-native:storage:BlobContainer", "snapshots")
    assert container.inputs["immutableStorageWithVersioning"] == {"enabled": True}
    # versioning is on before the container asks for version-level immutability
    assert immutable.one("azure-native:storage:BlobServiceProperties").inputs["isVersioningEnabled"] is True
    options = immutable.options_of("azure-native:storage:BlobContainer", "snapshots", "azure:Storage::storage")
    assert any("BlobServiceProperties::blob-service" in urn for urn in options["dependsOn"])
    policy = immutable.one("azure-native:storage:BlobContainerImmutabilityPolicy").inputs
    assert policy == {
        "accountName": immutable.account("snapshots").azure_name,
        "containerName": "spotify",
        "immutabilityPolicyName": "default",
        "immutabilityPeriodSinceCreationInDays": 365,
        "resourceGroupName": immutable.one("azure-native:resources:ResourceGroup").azure_name,
    }  # no "state": ARM creates a policy unlocked, and only the user's `az ... lock` locks it
    assert immutable.exports["snapshotImmutableDays"] == 365


def test_pulumi_up_says_what_locking_and_destroy_mean_for_write_once_snapshots(
    package: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    said: list[str] = []
    monkeypatch.setattr(pulumi.log, "info", lambda message, *args, **kwargs: said.append(message))
    run_program(stack_config(package, immutableDays="30"))
    (message,) = [m for m in said if "write-once" in m]
    assert "30 days" in message and "unlocked" in message and "`pulumi destroy` leaves" in message


def test_without_immutable_days_nothing_is_write_once(deployment: Deployment) -> None:
    assert deployment.all("azure-native:storage:BlobContainerImmutabilityPolicy") == []
    assert (
        lookup(
            deployment.one("azure-native:storage:BlobContainer", "snapshots").inputs, "immutableStorageWithVersioning"
        )
        == "(unset)"
    )
    assert "SNAPSHOT_WRITE_ONCE" not in app_settings(deployment)
    storage = "spotify-exporter:azure:Storage::storage"
    for typ, name, parent in (
        ("azure-native:resources:ResourceGroup", "resource-group", ""),
        ("azure-native:storage:StorageAccount", "account", storage),
        ("azure-native:storage:BlobContainer", "snapshots", storage),
    ):
        assert deployment.options_of(typ, name, parent)["retainOnDelete"] is False


def test_write_once_snapshots_outlive_pulumi_destroy_and_are_never_replaced(immutable: Deployment) -> None:
    """Azure refuses to delete a container with version-level immutability that holds a blob, and the
    account and resource group around it: `pulumi destroy` forgets them instead of failing half way.
    Turning the setting on for an existing container never updates (or replaces) the container."""
    storage = "spotify-exporter:azure:Storage::storage"
    immutability = "spotify-exporter:azure:SnapshotImmutability::immutability"
    retained = [
        ("azure-native:resources:ResourceGroup", "resource-group", ""),
        ("azure-native:storage:StorageAccount", "account", storage),
        ("azure-native:storage:BlobContainer", "snapshots", storage),
        ("azure-native:storage:BlobContainerImmutabilityPolicy", "retention", immutability),
        ("azure-native:storage:BlobContainer", "journals", immutability),
    ]
    for typ, name, parent in retained:
        assert immutable.options_of(typ, name, parent)["retainOnDelete"] is True, name
    host = "spotify-exporter:azure:HostStorage::host-storage"
    assert immutable.options_of("azure-native:storage:StorageAccount", "account", host)["retainOnDelete"] is False
    snapshots = immutable.options_of("azure-native:storage:BlobContainer", "snapshots", storage)
    assert snapshots["ignoreChanges"] == ["immutableStorageWithVersioning"]
    assert not any(options["protect"] for options in immutable.options.values())


def test_restore_journals_of_write_once_snapshots_get_a_rewritable_container_the_deployer_may_write(
    immutable: Deployment,
) -> None:
    containers = {c.azure_name: c for c in immutable.all("azure-native:storage:BlobContainer")}
    journals = containers["spotify-journals"]
    assert journals.inputs["accountName"] == immutable.account("snapshots").azure_name
    assert "immutableStorageWithVersioning" not in journals.inputs
    assert [
        p.inputs["containerName"] for p in immutable.all("azure-native:storage:BlobContainerImmutabilityPolicy")
    ] == ["spotify"]
    grants = {(a["scope"], a["roleDefinitionId"], a["principalId"]) for a in assignments(immutable)}
    assert (journals.id, definition("Storage Blob Data Contributor"), DEPLOYER) in grants
    assert not any(scope == journals.id for scope, _, principal in grants if principal == APP_PRINCIPAL)
    assert app_settings(immutable)["SNAPSHOT_WRITE_ONCE"] == "true"


def test_the_stand_in_refuses_version_level_immutability_before_versioning_or_with_what_it_excludes() -> None:
    def container(blob_service: dict[str, Any] | None, account: dict[str, Any] | None = None) -> Callable[[], Any]:
        def build() -> storage_sdk.BlobContainer:
            created = storage_sdk.StorageAccount(
                "account",
                account_name="spotifyst00000000",
                resource_group_name="rg",
                kind=storage_sdk.Kind.STORAGE_V2,
                sku=storage_sdk.SkuArgs(name=storage_sdk.SkuName.STANDARD_LRS),
                **(account or {}),
            )
            after: list[pulumi.Resource] = []
            if blob_service is not None:
                after.append(
                    storage_sdk.BlobServiceProperties(
                        "blob-service",
                        blob_services_name="default",
                        account_name=created.name,
                        resource_group_name="rg",
                        **blob_service,
                    )
                )
            return storage_sdk.BlobContainer(
                "snapshots",
                container_name="spotify",
                account_name=created.name,
                resource_group_name="rg",
                immutable_storage_with_versioning=storage_sdk.ImmutableStorageWithVersioningArgs(enabled=True),
                opts=pulumi.ResourceOptions(depends_on=after),
            )

        return build

    assert refusals(container({"is_versioning_enabled": True})) == []
    assert "needs blob versioning" in " ".join(refusals(container(None)))
    assert "needs blob versioning" in " ".join(refusals(container({"is_versioning_enabled": False})))
    restore = storage_sdk.RestorePolicyPropertiesArgs(enabled=True, days=6)
    assert "point-in-time restore" in " ".join(
        refusals(container({"is_versioning_enabled": True, "restore_policy": restore}))
    )
    assert "hierarchical namespace" in " ".join(
        refusals(container({"is_versioning_enabled": True}, {"is_hns_enabled": True}))
    )


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"immutability_period_since_creation_in_days": 0}, "between 1 and 146000 days"),
        ({"immutability_period_since_creation_in_days": 146_001}, "between 1 and 146000 days"),
        ({"immutability_policy_name": "weekly"}, "must be named 'default'"),
        ({"allow_protected_append_writes": True, "allow_protected_append_writes_all": True}, "exclusive"),
    ],
)
def test_the_stand_in_refuses_what_arm_refuses_of_a_retention_policy(change: dict[str, Any], refusal: str) -> None:
    def policy(**changed: Any) -> Callable[[], Any]:
        arguments: dict[str, Any] = {
            "account_name": "spotifyst00000000",
            "container_name": "spotify",
            "resource_group_name": "rg",
            "immutability_policy_name": "default",
            "immutability_period_since_creation_in_days": 146_000,
        }
        return lambda: storage_sdk.BlobContainerImmutabilityPolicy("retention", **{**arguments, **changed})

    assert refusals(policy()) == []
    assert any(refusal in found for found in refusals(policy(**change)))


# --- function app --------------------------------------------------------------------------------------


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
    # one instance: every account shares one Spotify rate limit (the export also holds a blob lease)
    assert config["scaleAndConcurrency"] == {"instanceMemoryMB": 2048, "maximumInstanceCount": 1}


def test_site_config_carries_only_what_flex_consumption_accepts(deployment: Deployment) -> None:
    """The serialized siteConfig, SDK defaults included: exactly these keys, so no refused default slips in."""
    site_config = deployment.one("azure-native:web:WebApp").inputs["siteConfig"]
    assert set(site_config) == {"appSettings", "minTlsVersion"}
    assert site_config["minTlsVersion"] == "1.2"


def test_code_is_stored_in_the_hosts_deployments_container_by_identity(deployment: Deployment) -> None:
    storage = deployment.one("azure-native:web:WebApp").inputs["functionAppConfig"]["deployment"]["storage"]
    host = deployment.account("host").azure_name
    assert storage == {
        "type": "blobContainer",
        "value": f"https://{host}.blob.core.windows.net/deployments",
        "authentication": {"type": "SystemAssignedIdentity"},
    }


def test_app_settings_name_the_created_vault_accounts_and_container(deployment: Deployment) -> None:
    snapshots = deployment.account("snapshots").azure_name
    host = deployment.account("host").azure_name
    assert app_settings(deployment) == {
        "AzureWebJobsStorage__accountName": host,
        "APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION_STRING,
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "Authorization=AAD",
        "KEY_VAULT_NAME": deployment.one("azure-native:keyvault:Vault").azure_name,
        "EXPORT_SCHEDULE": "0 0 0 * * Sun",
        "SNAPSHOT_ACCOUNT_URL": f"https://{snapshots}.blob.core.windows.net",
        "SNAPSHOT_CONTAINER": "spotify",
        "EXPORT_ACCOUNTS": "default",
        # an identity-based connection: a service URI, no key (EXPORT_QUEUE is the triggers' connection)
        "EXPORT_QUEUE__queueServiceUri": f"https://{host}.queue.core.windows.net",
        "EXPORT_LOCK_URL": f"https://{host}.blob.core.windows.net/export-locks/spotify-api",
    }


def test_the_accounts_of_a_household_reach_the_app(package: Path) -> None:
    deployment = run_program(stack_config(package, accounts='["default", "Jane", "max"]'))
    assert app_settings(deployment)["EXPORT_ACCOUNTS"] == "default,jane,max"


def test_the_connection_string_setting_is_sent_as_a_secret(deployment: Deployment) -> None:
    assert "siteConfig.appSettings.value" in deployment.one("azure-native:web:WebApp").secret_inputs


def test_configured_schedule_python_and_memory_reach_the_app(package: Path) -> None:
    config = stack_config(package, exportSchedule="0 30 2 * * Mon", pythonVersion="3.11", instanceMemoryMb="4096")
    deployment = run_program(config)
    app = deployment.one("azure-native:web:WebApp").inputs
    assert app_settings(deployment)["EXPORT_SCHEDULE"] == "0 30 2 * * Mon"
    assert app["functionAppConfig"]["runtime"] == {"name": "python", "version": "3.11"}
    assert app["functionAppConfig"]["scaleAndConcurrency"] == {"instanceMemoryMB": 4096, "maximumInstanceCount": 1}
    assert deployment.exports["pythonVersion"] == "3.11"


def test_basic_auth_publishing_is_off_for_ftp_and_scm(deployment: Deployment) -> None:
    app = deployment.one("azure-native:web:WebApp")
    for policy_type in ("azure-native:web:WebAppFtpAllowed", "azure-native:web:WebAppScmAllowed"):
        policy = deployment.one(policy_type).inputs
        assert policy == {"name": app.azure_name, "resourceGroupName": app.inputs["resourceGroupName"], "allow": False}


# --- key vault -----------------------------------------------------------------------------------------


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


# --- role assignments ----------------------------------------------------------------------------------


def test_the_app_gets_exactly_the_roles_its_host_exporter_and_telemetry_need(deployment: Deployment) -> None:
    host = deployment.account("host").id
    container = deployment.one("azure-native:storage:BlobContainer", "snapshots").id
    insights = deployment.one("azure-native:applicationinsights:Component").id
    queues = [deployment.one("azure-native:storage:Queue", name).id for name in ("export-queue", "poison-queue")]
    granted = {
        (a["scope"], a["roleDefinitionId"]) for a in assignments(deployment) if a["principalId"] == APP_PRINCIPAL
    }
    # the queue trigger's roles (Microsoft: "Storage Queue Data Reader, Storage Queue Data Message
    # Processor"), and Sender: resumes, a message put back, and the runtime's move to the poison queue
    queue_roles = (
        "Storage Queue Data Reader",
        "Storage Queue Data Message Processor",
        "Storage Queue Data Message Sender",
    )
    assert granted == {
        (host, definition("Storage Blob Data Owner")),
        (host, definition("Storage Table Data Contributor")),
        (container, definition("Storage Blob Data Contributor")),
        (insights, definition("Monitoring Metrics Publisher")),
        *((queue, definition(role)) for queue in queues for role in queue_roles),
    }
    assert queues[0].endswith("/queueServices/default/queues/spotify-exports")
    assert container.endswith("/blobServices/default/containers/spotify")
    assert deployment.account("snapshots").id not in {scope for scope, _ in granted}  # never the whole account
    for assignment in assignments(deployment):
        if assignment["principalId"] == APP_PRINCIPAL:
            assert assignment["principalType"] == "ServicePrincipal"


def test_the_deployer_may_read_and_restore_snapshots_whatever_kind_of_principal_it_is(deployment: Deployment) -> None:
    mine = {(a["scope"], a["roleDefinitionId"]) for a in assignments(deployment) if a["principalId"] == DEPLOYER}
    assert mine == {
        (
            deployment.one("azure-native:storage:BlobContainer", "snapshots").id,
            definition("Storage Blob Data Contributor"),
        ),
        # `make trigger` queues its requests: send, nothing else (it reads no message)
        (
            deployment.one("azure-native:storage:Queue", "export-queue").id,
            definition("Storage Queue Data Message Sender"),
        ),
    }
    for assignment in assignments(deployment):
        if assignment["principalId"] == DEPLOYER:
            assert "principalType" not in assignment  # a user or a service principal: ARM finds out


def test_role_assignment_names_are_fixed_by_scope_role_and_principal(deployment: Deployment) -> None:
    for inputs in assignments(deployment):
        role = inputs["roleDefinitionId"].rsplit("/", 1)[1]
        expected = uuid.uuid5(uuid.NAMESPACE_URL, f"{inputs['scope']}|{role}|{inputs['principalId']}")
        assert inputs["roleAssignmentName"] == str(expected)


def test_role_ids_are_the_built_in_roles() -> None:
    assert ROLE_IDS["Storage Blob Data Owner"] == roles.STORAGE_BLOB_DATA_OWNER
    assert ROLE_IDS["Storage Blob Data Contributor"] == roles.STORAGE_BLOB_DATA_CONTRIBUTOR
    assert ROLE_IDS["Storage Table Data Contributor"] == roles.STORAGE_TABLE_DATA_CONTRIBUTOR
    assert ROLE_IDS["Monitoring Metrics Publisher"] == roles.MONITORING_METRICS_PUBLISHER
    assert ROLE_IDS["Storage Queue Data Reader"] == roles.STORAGE_QUEUE_DATA_READER
    assert ROLE_IDS["Storage Queue Data Message Processor"] == roles.STORAGE_QUEUE_DATA_MESSAGE_PROCESSOR
    assert ROLE_IDS["Storage Queue Data Message Sender"] == roles.STORAGE_QUEUE_DATA_MESSAGE_SENDER


# --- monitoring ----------------------------------------------------------------------------------------


def test_telemetry_is_accepted_only_with_an_entra_token(deployment: Deployment) -> None:
    workspace = deployment.one("azure-native:operationalinsights:Workspace")
    insights = deployment.one("azure-native:applicationinsights:Component").inputs
    assert insights["disableLocalAuth"] is True
    assert insights["workspaceResourceId"] == workspace.id
    assert insights["ingestionMode"] == "LogAnalytics"
    assert workspace.inputs["retentionInDays"] == 30


def test_action_group_mails_the_configured_address(deployment: Deployment) -> None:
    group = deployment.one("azure-native:monitor:ActionGroup").inputs
    assert group["emailReceivers"] == [{"name": "owner", "emailAddress": EMAIL, "useCommonAlertSchema": True}]
    assert group["location"] == "global"


def alert(deployment: Deployment, name: str) -> dict[str, Any]:
    rule = deployment.one("azure-native:monitor:ScheduledQueryRule", name).inputs
    assert rule["scopes"] == [deployment.one("azure-native:applicationinsights:Component").id]
    assert rule["actions"] == {"actionGroups": [deployment.one("azure-native:monitor:ActionGroup").id]}
    assert rule["kind"] == "LogAlert"
    assert rule["enabled"] is True
    return rule


def test_a_failed_export_alerts_once_when_its_row_arrives_however_long_it_ran(deployment: Deployment) -> None:
    rule = alert(deployment, "export-failed")
    assert (rule["evaluationFrequency"], rule["windowSize"], rule["autoMitigate"]) == ("PT1H", "PT3H", False)
    (condition,) = rule["criteria"]["allOf"]
    assert condition["query"] == (
        'requests | where name in ("weekly_export", "export_account") and tostring(success) =~ "false" '
        "| where ingestion_time() > ago(60m)"
    )
    assert (condition["timeAggregation"], condition["operator"], condition["threshold"]) == ("Count", "GreaterThan", 0)
    # the window covers the longest run (host.json's functionTimeout) plus a frequency: no row arrives unseen
    timeout = json.loads((ROOT / "functions" / "host.json").read_text())["functionTimeout"]
    hours, minutes, _ = (int(part) for part in timeout.split(":"))
    assert hours * 60 + minutes + 60 < 3 * 60


def test_no_successful_export_for_the_schedules_period_plus_a_margin_alerts(deployment: Deployment) -> None:
    rule = alert(deployment, "export-missed")
    assert (rule["evaluationFrequency"], rule["windowSize"], rule["autoMitigate"]) == ("PT1H", "P2D", True)
    (condition,) = rule["criteria"]["allOf"]
    # a complete snapshot, of any account: the summary line export_account logs (scheduled.py)
    assert condition["query"] == (
        'traces | where message startswith "spotify export finished" and message contains \'"status": "complete"\''
    )
    assert (condition["timeAggregation"], condition["operator"], condition["threshold"]) == ("Count", "LessThan", 1)
    # four windows of two days with no success each: eight days, a week's schedule plus a day
    assert condition["failingPeriods"] == {"numberOfEvaluationPeriods": 4, "minFailingPeriodsToAlert": 4}


@pytest.mark.parametrize(
    ("schedule", "window", "periods"),
    [("0 0 3 * * *", "PT6H", 5), ("0 0 */6 * * *", "PT3H", 3), ("0 0 0 * * Sun,Wed", "P1D", 5)],
)
def test_the_missed_export_window_follows_the_schedule(package: Path, schedule: str, window: str, periods: int) -> None:
    rule = alert(run_program(stack_config(package, exportSchedule=schedule)), "export-missed")
    assert rule["windowSize"] == window
    assert rule["criteria"]["allOf"][0]["failingPeriods"]["numberOfEvaluationPeriods"] == periods
    gap = Schedule.parse(schedule).longest_gap().total_seconds()
    span = {"PT3H": 3, "PT6H": 6, "P1D": 24}[window] * 3600 * periods
    assert gap + 3 * 3600 <= span < gap + 3 * 3600 + 24 * 3600


def test_a_request_given_up_on_alerts_once_when_its_line_arrives(deployment: Deployment) -> None:
    from spotify_exporter.scheduled import GAVE_UP

    rule = alert(deployment, "export-gave-up")
    assert (rule["evaluationFrequency"], rule["windowSize"], rule["autoMitigate"]) == ("PT1H", "PT3H", False)
    (condition,) = rule["criteria"]["allOf"]
    assert (
        condition["query"]
        == (f'traces | where message startswith "{GAVE_UP}" | where ingestion_time() > ago(60m)')
        == 'traces | where message startswith "spotify export gave up" | where ingestion_time() > ago(60m)'
    )
    assert (condition["timeAggregation"], condition["operator"], condition["threshold"]) == ("Count", "GreaterThan", 0)


def test_a_schedule_too_sparse_for_a_log_alert_gets_only_the_failure_alerts(package: Path) -> None:
    deployment = run_program(stack_config(package, exportSchedule="0 0 0 1 * *"))
    rules = [r.name for r in deployment.all("azure-native:monitor:ScheduledQueryRule")]
    assert rules == ["export-failed", "export-gave-up"]


@pytest.mark.parametrize("success_type", ["bool", "string"])
def test_the_alert_queries_are_valid_kql_whether_success_is_a_bool_or_a_string(
    deployment: Deployment, success_type: str
) -> None:
    """Checked by Microsoft's Kusto language service (tests/kql), against Application Insights' tables."""
    schema = {"requests": {**REQUESTS_SCHEMA, "success": success_type}, "traces": TRACES_SCHEMA}
    for rule in deployment.all("azure-native:monitor:ScheduledQueryRule"):
        for condition in rule.inputs["criteria"]["allOf"]:
            assert diagnostics(condition["query"], schema) == []
            if condition["query"].startswith("requests"):
                assert "tostring(success) =~" in condition["query"]
    assert diagnostics('requests | where nme == "weekly_export"', schema)  # the parser does find mistakes


# --- exports and secrets -------------------------------------------------------------------------------


def test_stack_outputs_name_what_make_deploy_and_make_trigger_need(deployment: Deployment) -> None:
    snapshots = deployment.account("snapshots").azure_name
    host = deployment.account("host").azure_name
    app = deployment.one("azure-native:web:WebApp").azure_name
    vault = deployment.one("azure-native:keyvault:Vault").azure_name
    assert deployment.exports == {
        "subscriptionId": SUBSCRIPTION,
        "resourceGroupName": deployment.one("azure-native:resources:ResourceGroup").azure_name,
        "functionAppName": app,
        "functionAppUrl": f"https://{app}-b6cqg2frgqcxgub4.{LOCATION}-01.azurewebsites.net",
        # the Repository host the app reports, which no rule derives from its name
        "functionAppScmUrl": f"https://{app}-b6cqg2frgqcxgub4.scm.{LOCATION}-01.azurewebsites.net",
        "pythonVersion": "3.12",
        "vaultName": vault,
        "vaultUri": f"https://{vault}.vault.azure.net/",
        "storageAccountName": snapshots,
        "spotifyContainerUrl": f"https://{snapshots}.blob.core.windows.net/spotify",
        "hostStorageAccountName": host,
        "deploymentContainerUrl": f"https://{host}.blob.core.windows.net/deployments",
        "exportQueueUrl": f"https://{host}.queue.core.windows.net/spotify-exports",
        "exportAccounts": ["default"],
        "packageSha256": deployment.one("pulumi-python:dynamic:Resource").inputs["package_sha256"],
        "snapshotImmutableDays": 0,
    }


def test_nothing_secret_is_exported_and_the_connection_string_stays_secret(deployment: Deployment) -> None:
    assert CONNECTION_STRING not in json.dumps(deployment.exports)
    connection_string = deployment.program["monitoring"].connection_string

    async def check() -> None:
        assert await connection_string.is_secret()

    settle(check)


def test_names_are_globally_unique_per_subscription_and_stack_and_fit_azure_limits(package: Path) -> None:
    suffix = names.name_suffix(SUBSCRIPTION, PROJECT, STACK)
    assert suffix != names.name_suffix(SUBSCRIPTION, PROJECT, "prod")
    assert suffix != names.name_suffix(TENANT, PROJECT, STACK)
    run_program(stack_config(package, namePrefix="a" * 12))  # the longest prefix passes every ARM name rule


# --- code deployment -----------------------------------------------------------------------------------


def test_code_deployment_publishes_the_package_by_its_hash_to_the_apps_scm_host(
    deployment: Deployment, package: Path
) -> None:
    code = deployment.one("pulumi-python:dynamic:Resource").inputs
    assert code["package_sha256"] == hashlib.sha256(package.read_bytes()).hexdigest()
    assert code["package_path"] == str(package.resolve())
    assert code["app_name"] == deployment.one("azure-native:web:WebApp").azure_name
    assert code["app_principal_id"] == APP_PRINCIPAL
    assert code["scm_url"] == deployment.exports["functionAppScmUrl"]


def test_code_is_published_only_after_the_app_may_store_it(deployment: Deployment) -> None:
    """Publishing stores the zip with the app's identity, so its roles (and the vault) come first."""
    waits_for = {urn.rsplit("::", 1)[1] for urn in deployment.dependencies["package"]}
    expected = {"host-storage", "host-tables", "telemetry", "snapshots", "vault", "app", "ftp-publishing"}
    assert expected <= waits_for


def test_the_provider_loads_in_a_process_that_cannot_import_infra(deployment: Deployment) -> None:
    """Pulumi's provider host starts with the project's virtualenv but not infra/, then unpickles the provider."""
    serialized = deployment.one("pulumi-python:dynamic:Resource").inputs["__provider"]
    script = """
import base64, json, sys
import dill
provider = dill.loads(base64.b64decode(sys.stdin.read()))
same = {"app_name": "a", "app_principal_id": "p", "package_sha256": "1", "package_path": "/x"}
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
        "publisher": "azure_deploy.publish",
    }


@dataclass
class StandInPublisher:
    """Records what would be published; fails with ``error`` when given one."""

    error: Exception | None = None
    calls: list[tuple[Path, str]] = field(default_factory=list)

    def __call__(self, zip_path: Path, *, scm_url: str) -> str:
        self.calls.append((zip_path, scm_url))
        if self.error:
            raise self.error
        return f"deployment-{len(self.calls)}"


@pytest.fixture
def props(package: Path) -> dict[str, Any]:
    return {
        "app_name": "spotify-func-1",
        "app_principal_id": APP_PRINCIPAL,
        "scm_url": "https://spotify-func-1-b6cq.scm.westeurope-01.azurewebsites.net",
        "package_path": str(package),
        "package_sha256": hashlib.sha256(package.read_bytes()).hexdigest(),
    }


def test_creating_the_deployment_publishes_the_package(props: dict[str, Any], package: Path) -> None:
    publish = StandInPublisher()
    created = code_deployment.package_provider(publish).create(props)
    assert publish.calls == [(package, props["scm_url"])]
    assert created.id == "deployment-1"
    assert created.outs == {**props, "deployment_id": "deployment-1"}


@pytest.mark.parametrize(
    ("change", "redeploys"),
    [
        ({}, False),
        ({"package_path": "/somewhere/else/function-app.zip"}, False),
        ({"scm_url": "https://spotify-func-1.scm.azurewebsites.net"}, False),
        ({"package_sha256": "0" * 64}, True),
        ({"app_name": "spotify-func-2"}, True),
        ({"app_principal_id": "33333333-0000-0000-0000-000000000a99"}, True),  # the app was re-created
    ],
)
def test_a_new_package_or_a_new_app_is_published_again(
    props: dict[str, Any], change: dict[str, str], redeploys: bool
) -> None:
    olds = {**props, "deployment_id": "deployment-1", "__provider": "old"}
    diff = code_deployment.package_provider(StandInPublisher()).diff("deployment-1", olds, {**props, **change})
    assert diff.changes is redeploys
    assert not diff.replaces


def test_a_re_created_app_is_seen_as_a_new_principal_id(package: Path) -> None:
    first = run_program(stack_config(package)).one("pulumi-python:dynamic:Resource").inputs
    again = run_program(stack_config(package), principal_id="33333333-0000-0000-0000-000000000a99")
    second = again.one("pulumi-python:dynamic:Resource").inputs
    provider = code_deployment.package_provider(StandInPublisher())
    assert provider.diff("deployment-1", first, second).changes is True


def test_a_failed_deployment_fails_pulumi_up_with_its_own_message(props: dict[str, Any]) -> None:
    error = DeploymentError("deployment 1 failed: ModuleNotFoundError: spotify_exporter; see the log")
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
def publish_stand_in(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandInPublisher]:
    """`azure_deploy.publish.publish_package` as the provider imports it lazily (the seam to the other module)."""
    import azure_deploy.publish

    publish = StandInPublisher()
    monkeypatch.setattr(azure_deploy.publish, "publish_package", publish)
    yield publish


def test_without_a_publisher_the_provider_uses_azure_deploy(
    props: dict[str, Any], publish_stand_in: StandInPublisher
) -> None:
    code_deployment.package_provider().create(props)
    assert len(publish_stand_in.calls) == 1


def test_a_prebuilt_package_is_deployed_as_it_is(package: Path) -> None:
    built = code_deployment.function_package("3.12", package)
    assert built == code_deployment.FunctionPackage(package.resolve(), hashlib.sha256(package.read_bytes()).hexdigest())


# --- configuration -------------------------------------------------------------------------------------


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


def test_the_python_versions_offered_are_exactly_those_with_a_lock() -> None:
    locks = sorted(path.name for path in (ROOT / "functions").glob("requirements-*.txt"))
    assert locks == [f"requirements-{version}.txt" for version in supported_python_versions()]
    assert supported_python_versions() == ("3.11", "3.12", "3.13")


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("namePrefix", "Spotify_Exports", "lowercase"),
        ("namePrefix", "averyveryverylongprefix", "2-12"),
        ("exportSchedule", "0 0 * * Sun", "six NCRONTAB fields"),
        ("exportSchedule", "0 0 25 * * *", "hour field '25' is outside 0-23"),
        ("exportSchedule", "0 0 0 31 2 *", "never runs"),
        ("alertEmail", "nobody", "e-mail"),
        ("pythonVersion", "3.10", "3.11, 3.12, 3.13"),
        ("pythonVersion", "3.9", "3.11, 3.12, 3.13"),
        ("snapshotRetentionDays", "-1", "days"),
        ("snapshotRetentionDays", "a month", ""),
        ("instanceMemoryMb", "512", "2048, 4096"),
        ("packagePath", "/no/such/function-app.zip", "no such file"),
        ("accounts", '["default", "Jane Doe"]', "is not an account alias"),
        ("accounts", '"jane"', "a list of account aliases"),
        ("accounts", '["a", "b", "c", "d", "e", "f"]', "admits 5 users"),
        ("immutableDays", "-1", "0 (off) or 1 to 146,000 days"),
        ("immutableDays", "146001", "0 (off) or 1 to 146,000 days"),
        ("immutableDays", "a year", ""),
    ],
)
def test_an_invalid_setting_fails_with_its_key(key: str, value: str, reason: str) -> None:
    config = {"azure-native:location": LOCATION, f"{PROJECT}:alertEmail": EMAIL, f"{PROJECT}:{key}": value}
    with pytest.raises((InvalidSetting, pulumi.ConfigTypeError), match=f"{PROJECT}:{key}.*{re.escape(reason)}"):
        settings_from(config)


@pytest.mark.parametrize(
    ("expression", "gap_hours"),
    [
        ("0 0 0 * * Sun", 7 * 24),
        ("0 30 2 * * Mon-Fri", 3 * 24),  # Friday to Monday
        ("0 0 8 1-7 * Mon", 35 * 24),  # the first Monday of the month (NCrontab: both fields must match)
        ("0 0 */6 * * *", 6),
        ("0 0,30 9 * * *", 23.5),
        ("0 0 0 * * 7", 7 * 24),  # 7 is Sunday too
    ],
)
def test_the_schedules_longest_gap_is_read_as_ncrontab_reads_it(expression: str, gap_hours: float) -> None:
    assert Schedule.parse(expression).longest_gap().total_seconds() == gap_hours * 3600


def test_an_unparseable_schedule_names_the_field() -> None:
    with pytest.raises(ScheduleError, match="the month field 'Smarch'"):
        Schedule.parse("0 0 0 * Smarch *")


# --- project files -------------------------------------------------------------------------------------


def test_project_runs_infra_with_the_project_venv() -> None:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == PROJECT
    assert project["main"] == "infra/"
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}


def test_the_example_stack_configuration_deploys(package: Path) -> None:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "Pulumi.example.yaml").read_text())["config"]
    # the CLI hands structured values (a list) to the program as JSON text
    example = {key: value if isinstance(value, str) else json.dumps(value) for key, value in loaded.items()}
    settings = settings_from(example)
    assert settings.accounts == ("default",)
    assert (settings.location, settings.alert_email, settings.export_schedule) == (
        "westeurope",
        "you@example.com",
        "0 0 0 * * Sun",
    )
    deployment = run_program({**example, f"{PROJECT}:packagePath": str(package)})
    assert deployment.exports["functionAppName"].startswith("spotify-func-")
