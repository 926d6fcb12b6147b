"""The weekly export's host: a Flex Consumption function app that holds no keys at all.

Its system-assigned identity reaches host storage, the deployment package, the snapshots, Key
Vault and Application Insights (``APPLICATIONINSIGHTS_AUTHENTICATION_STRING=Authorization=AAD``);
the connection string only says where telemetry goes. FTP and SCM basic-auth publishing are off:
code is published with an Entra token (`code_deployment.py`).

``siteConfig`` is sent as a plain dict, not ``web.SiteConfigArgs``: the Args class fills in
defaults of its own (``netFrameworkVersion: v4.6``...), and Flex Consumption refuses
``netFrameworkVersion``, ``ftpsState``, ``use32BitWorkerProcess``, ``preWarmedInstanceCount``,
``functionsRuntimeScaleMonitoringEnabled``, ``linuxFxVersion`` and more there (ARM error 51021;
pulumi/pulumi-azure-native issue 4168, Azure/azure-cli issue 31414). The runtime, memory and
deployment storage live in ``functionAppConfig`` instead, and FTP is off through
``WebAppFtpAllowed``. App settings that Flex rejects (``FUNCTIONS_WORKER_RUNTIME``,
``FUNCTIONS_EXTENSION_VERSION``, ``WEBSITE_RUN_FROM_PACKAGE``...) are never set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_azure_native.web as web

from spotify_exporter.stores.blob import WRITE_ONCE_SETTING

SNAPSHOT_CONTAINER_SETTING = "SNAPSHOT_CONTAINER"
#: One instance per scale group: the exports of every account share one Spotify rate limit, so the
#: queue-triggered export must not run on two instances at once. On Flex Consumption "the lowest
#: maximum instance count value is 1" and it "applies to on-demand instances in each per-function
#: scale group", where every queue-triggered function scales on its own (Microsoft, event-driven
#: scaling: "Limit scale-out", "Per-function scaling"). A draining instance can still overlap a new
#: one, so the export also holds a blob lease (functions/spotify_exporter/locking.py).
MAXIMUM_INSTANCE_COUNT = 1


@dataclass(frozen=True)
class FunctionAppArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    plan_name: str
    app_name: pulumi.Input[str]
    python_version: str
    instance_memory_mb: int
    export_schedule: str
    host_storage_account_name: pulumi.Input[str]
    """The account of ``AzureWebJobsStorage`` (the host's leases, keys and diagnostic events)."""
    blob_endpoint: pulumi.Input[str]
    """The snapshots' account."""
    snapshot_container: pulumi.Input[str]
    deployment_container_url: pulumi.Input[str]
    vault_name: pulumi.Input[str]
    app_insights_connection_string: pulumi.Input[str]
    accounts: tuple[str, ...]
    """The aliases exported every week (``EXPORT_ACCOUNTS``)."""
    queue_endpoint: pulumi.Input[str]
    """The host account's queue endpoint, where the export queue is (``EXPORT_QUEUE__queueServiceUri``)."""
    lock_url: pulumi.Input[str]
    """The blob whose lease lets one export run at a time (``EXPORT_LOCK_URL``)."""
    write_once: bool = False
    """The snapshots' container is write-once (``spotify-exporter:immutableDays``): ``SNAPSHOT_WRITE_ONCE``."""


class FunctionApp(pulumi.ComponentResource):
    """The FC1 plan, the Linux Python function app, and its publishing-credential policies."""

    plan: web.AppServicePlan
    app: web.WebApp
    ftp_publishing: web.WebAppFtpAllowed
    scm_publishing: web.WebAppScmAllowed
    app_name: pulumi.Output[str]
    default_host_name: pulumi.Output[str]
    url: pulumi.Output[str]
    scm_url: pulumi.Output[str]
    """The Kudu endpoint the package is published to: the ``Repository`` entry of ``hostNameSslStates``."""
    principal_id: pulumi.Output[str]
    """Object id of the app's system-assigned identity, for role assignments and the vault policy."""

    def __init__(self, name: str, args: FunctionAppArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("spotify-exporter:azure:FunctionApp", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.plan = web.AppServicePlan(
            "plan",
            name=args.plan_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            kind="functionapp",
            reserved=True,  # Linux
            sku=web.SkuDescriptionArgs(name="FC1", tier="FlexConsumption"),
            opts=child,
        )
        self.app = web.WebApp(
            "app",
            name=args.app_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            kind="functionapp,linux",
            server_farm_id=self.plan.id,
            identity=web.ManagedServiceIdentityArgs(type=web.ManagedServiceIdentityType.SYSTEM_ASSIGNED),
            https_only=True,
            function_app_config=web.FunctionAppConfigArgs(
                deployment=web.FunctionsDeploymentArgs(
                    storage=web.FunctionsDeploymentStorageArgs(
                        type=web.FunctionsDeploymentStorageType.BLOB_CONTAINER,
                        value=args.deployment_container_url,
                        authentication=web.FunctionsDeploymentStorageAuthenticationArgs(
                            type=web.AuthenticationType.SYSTEM_ASSIGNED_IDENTITY
                        ),
                    )
                ),
                runtime=web.FunctionsRuntimeArgs(name=web.RuntimeName.PYTHON, version=args.python_version),
                scale_and_concurrency=web.FunctionsScaleAndConcurrencyArgs(
                    instance_memory_mb=args.instance_memory_mb, maximum_instance_count=MAXIMUM_INSTANCE_COUNT
                ),
            ),
            site_config={
                "min_tls_version": web.SupportedTlsVersions.SUPPORTED_TLS_VERSIONS_1_2,
                "app_settings": _app_settings(args),
            },
            opts=child,
        )
        self.ftp_publishing = web.WebAppFtpAllowed(
            "ftp-publishing",
            name=self.app.name,
            resource_group_name=args.resource_group_name,
            allow=False,
            opts=child,
        )
        self.scm_publishing = web.WebAppScmAllowed(
            "scm-publishing",
            name=self.app.name,
            resource_group_name=args.resource_group_name,
            allow=False,
            opts=child,
        )

        self.app_name = self.app.name
        self.default_host_name = self.app.default_host_name
        self.url = pulumi.Output.concat("https://", self.app.default_host_name)
        self.scm_url = self.app.host_name_ssl_states.apply(scm_url_of)
        self.principal_id = self.app.identity.apply(_principal_id)
        self.register_outputs(
            {
                "app_name": self.app_name,
                "url": self.url,
                "scm_url": self.scm_url,
                "principal_id": self.principal_id,
            }
        )


def scm_url_of(states: Sequence[web.outputs.HostNameSslStateResponse] | None) -> str:
    """``https://`` + the ``Repository`` host, as the Azure CLI finds the SCM site (``_get_scm_url``)."""
    for state in states or []:
        if str(state.host_type).lower() == "repository" and state.name:
            return f"https://{state.name}"
    raise ValueError("the function app reports no SCM (Repository) host name")


def _principal_id(identity: web.outputs.ManagedServiceIdentityResponse | None) -> str:
    if identity is None:
        raise ValueError("the function app has no managed identity")
    return identity.principal_id


def _app_settings(args: FunctionAppArgs) -> list[web.NameValuePairArgsDict]:
    """Everything the host and `functions/function_app.py` read, all by identity, no keys."""
    settings: dict[str, pulumi.Input[str]] = {
        "AzureWebJobsStorage__accountName": args.host_storage_account_name,
        "APPLICATIONINSIGHTS_CONNECTION_STRING": args.app_insights_connection_string,
        # telemetry signed with the system-assigned identity's token (local auth is off)
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "Authorization=AAD",
        "KEY_VAULT_NAME": args.vault_name,
        "EXPORT_SCHEDULE": args.export_schedule,
        "SNAPSHOT_ACCOUNT_URL": args.blob_endpoint,
        SNAPSHOT_CONTAINER_SETTING: args.snapshot_container,
        "EXPORT_ACCOUNTS": ",".join(args.accounts),
        # the identity-based connection EXPORT_QUEUE of the queue triggers: no key, no connection string
        "EXPORT_QUEUE__queueServiceUri": args.queue_endpoint,
        "EXPORT_LOCK_URL": args.lock_url,
    }
    if args.write_once:
        # the exporter also sees it on the container; the setting makes it sure from the first export on
        settings[WRITE_ONCE_SETTING] = "true"
    return [{"name": name, "value": value} for name, value in settings.items()]
