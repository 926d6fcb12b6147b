"""`pulumi up`: the whole Azure deployment of spotify-exporter, code included.

Order matters only where Azure needs it: monitoring before the app (its connection string is an
app setting), the app before the vault and the role assignments (they name its identity), and
those before the code is published (publishing stores the package with that identity).

Pulumi runs this file with ``infra/`` first on ``sys.path``, so its modules import by bare name,
and with the project's virtualenv (``runtime.options.virtualenv: .venv`` in Pulumi.yaml; see
https://www.pulumi.com/docs/iac/concepts/projects/project-file/#runtime-options), where
``make install`` installed the shared deploy-time package ``azure_deploy``.
"""

from __future__ import annotations

import pulumi
import pulumi_azure_native.authorization as authorization
import pulumi_azure_native.resources as resources
from code_deployment import CodeDeployment, CodeDeploymentArgs, function_package
from config import load_settings
from exporter_app import FunctionApp, FunctionAppArgs
from monitoring import Monitoring, MonitoringArgs
from names import Names
from roles import AppAccess, AppAccessArgs, DeployerAccess, DeployerAccessArgs
from schedule import Schedule
from storage import HostStorage, HostStorageArgs, Storage, StorageArgs
from vault import Vault, VaultArgs

settings = load_settings()
deployer = authorization.get_client_config_output()
names = Names.create(settings.name_prefix, pulumi.get_project(), pulumi.get_stack(), deployer.subscription_id)
package = function_package(settings.python_version, settings.package_path)

# a resource group holding write-once snapshots cannot be deleted until they are old enough: `pulumi
# destroy` then leaves it and the snapshots' account (README "Backups nobody can erase")
group = resources.ResourceGroup(
    "resource-group",
    resource_group_name=names.resource_group,
    location=settings.location,
    opts=pulumi.ResourceOptions(retain_on_delete=settings.immutable_days > 0),
)

storage = Storage(
    "storage",
    StorageArgs(
        resource_group_name=group.name,
        location=settings.location,
        account_name=names.storage_account,
        snapshot_retention_days=settings.snapshot_retention_days,
        immutable_days=settings.immutable_days,
    ),
)
host_storage = HostStorage(
    "host-storage",
    HostStorageArgs(
        resource_group_name=group.name, location=settings.location, account_name=names.host_storage_account
    ),
)
monitoring = Monitoring(
    "monitoring",
    MonitoringArgs(
        resource_group_name=group.name,
        location=settings.location,
        workspace_name=names.log_workspace,
        app_insights_name=names.app_insights,
        action_group_name=names.action_group,
        action_group_short_name=names.action_group_short,
        failure_alert_name=names.failure_alert,
        missed_alert_name=names.missed_export_alert,
        gave_up_alert_name=names.gave_up_alert,
        alert_email=settings.alert_email,
        schedule_longest_gap=Schedule.parse(settings.export_schedule).longest_gap(),
    ),
)
function_app = FunctionApp(
    "function-app",
    FunctionAppArgs(
        resource_group_name=group.name,
        location=settings.location,
        plan_name=names.plan,
        app_name=names.function_app,
        python_version=settings.python_version,
        instance_memory_mb=settings.instance_memory_mb,
        export_schedule=settings.export_schedule,
        host_storage_account_name=host_storage.account_name,
        blob_endpoint=storage.blob_endpoint,
        snapshot_container=storage.snapshot_container_name,
        deployment_container_url=host_storage.deployment_container_url,
        vault_name=names.vault,
        app_insights_connection_string=monitoring.connection_string,
        accounts=settings.accounts,
        queue_endpoint=host_storage.queue_endpoint,
        lock_url=host_storage.lock_url,
        write_once=settings.immutable_days > 0,
    ),
)
vault = Vault(
    "vault",
    VaultArgs(
        resource_group_name=group.name,
        location=settings.location,
        vault_name=names.vault,
        tenant_id=deployer.tenant_id,
        app_principal_id=function_app.principal_id,
        deployer_object_id=deployer.object_id,
    ),
)
access = AppAccess(
    "app-access",
    AppAccessArgs(
        subscription_id=deployer.subscription_id,
        principal_id=function_app.principal_id,
        host_storage_account_id=host_storage.account_id,
        snapshot_container_id=storage.snapshot_container_id,
        app_insights_id=monitoring.app_insights_id,
        export_queue_id=host_storage.export_queue_id,
        poison_queue_id=host_storage.poison_queue_id,
    ),
)
deployer_access = DeployerAccess(
    "deployer-access",
    DeployerAccessArgs(
        subscription_id=deployer.subscription_id,
        principal_id=deployer.object_id,
        snapshot_container_id=storage.snapshot_container_id,
        export_queue_id=host_storage.export_queue_id,
        journal_container_id=storage.journal_container_id,
    ),
)
code = CodeDeployment(
    "code",
    CodeDeploymentArgs(
        app_name=function_app.app_name,
        app_principal_id=function_app.principal_id,
        scm_url=function_app.scm_url,
        package=package,
        after=[access, vault, function_app],
    ),
)

pulumi.export("subscriptionId", deployer.subscription_id)
pulumi.export("resourceGroupName", group.name)
pulumi.export("functionAppName", function_app.app_name)
pulumi.export("functionAppUrl", function_app.url)
pulumi.export("functionAppScmUrl", function_app.scm_url)
pulumi.export("pythonVersion", settings.python_version)
pulumi.export("vaultName", vault.vault_name)
pulumi.export("vaultUri", vault.vault_uri)
pulumi.export("storageAccountName", storage.account_name)
pulumi.export("spotifyContainerUrl", storage.snapshot_container_url)
pulumi.export("hostStorageAccountName", host_storage.account_name)
pulumi.export("deploymentContainerUrl", host_storage.deployment_container_url)
pulumi.export("exportAccounts", list(settings.accounts))
pulumi.export("exportQueueUrl", pulumi.Output.concat(host_storage.queue_endpoint, "/", host_storage.export_queue.name))
pulumi.export("packageSha256", code.package_sha256)
pulumi.export("snapshotImmutableDays", settings.immutable_days)
