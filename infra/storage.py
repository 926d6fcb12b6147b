"""Two private storage accounts, reached only by identity: one for snapshots, one for the Functions host.

Shared keys and public blobs are off on both, so nothing but an Entra identity with a data role
can read them. They are separate because the host needs *Storage Blob Data Owner* on its whole
account (it creates its own containers: timer leases, keys; see `roles.py`): on the snapshots'
account that role would let the running function delete every snapshot. The snapshots' account
has versioning and soft delete, so a deleted or overwritten snapshot stays recoverable for 30
days, and an optional lifecycle rule moves old snapshots to the cheaper cool tier. The host's
account holds the host's bookkeeping and the ``deployments`` container with the code package.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_azure_native.storage as storage

SNAPSHOT_CONTAINER = "spotify"
DEPLOYMENT_CONTAINER = "deployments"
SOFT_DELETE_DAYS = 30


def private_account(
    name: str, account_name: pulumi.Input[str], group: pulumi.Input[str], location: str, parent: pulumi.Resource
) -> storage.StorageAccount:
    """A StorageV2 account for Entra identities only: HTTPS, TLS 1.2, no public blobs, no shared keys."""
    return storage.StorageAccount(
        name,
        account_name=account_name,
        resource_group_name=group,
        location=location,
        kind=storage.Kind.STORAGE_V2,
        sku=storage.SkuArgs(name=storage.SkuName.STANDARD_LRS),
        enable_https_traffic_only=True,
        minimum_tls_version=storage.MinimumTlsVersion.TLS1_2,
        allow_blob_public_access=False,
        allow_shared_key_access=False,
        opts=pulumi.ResourceOptions(parent=parent),
    )


def private_container(
    name: str, container_name: str, account: storage.StorageAccount, group: pulumi.Input[str], parent: pulumi.Resource
) -> storage.BlobContainer:
    return storage.BlobContainer(
        name,
        container_name=container_name,
        public_access=storage.PublicAccess.NONE,
        account_name=account.name,
        resource_group_name=group,
        opts=pulumi.ResourceOptions(parent=parent),
    )


@dataclass(frozen=True)
class StorageArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    account_name: pulumi.Input[str]
    snapshot_retention_days: int
    """Move snapshot blobs to the cool tier after this many days; 0 adds no lifecycle rule."""


class Storage(pulumi.ComponentResource):
    """The snapshots' account with the ``spotify`` container (its type and name are kept from earlier
    versions of this program, so upgrading a stack never replaces the account that holds the snapshots)."""

    account: storage.StorageAccount
    blob_service: storage.BlobServiceProperties
    snapshot_container: storage.BlobContainer
    cool_tier_rule: storage.ManagementPolicy | None
    account_name: pulumi.Output[str]
    account_id: pulumi.Output[str]
    blob_endpoint: pulumi.Output[str]
    """``https://ACCOUNT.blob.core.windows.net``, without the trailing slash, as the exporter expects."""
    snapshot_container_name: pulumi.Output[str]
    snapshot_container_id: pulumi.Output[str]
    snapshot_container_url: pulumi.Output[str]

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("spotify-exporter:azure:Storage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.account = private_account("account", args.account_name, args.resource_group_name, args.location, self)
        account_name, group_name = self.account.name, args.resource_group_name
        self.blob_service = storage.BlobServiceProperties(
            "blob-service",
            blob_services_name="default",
            is_versioning_enabled=True,
            delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=True, days=SOFT_DELETE_DAYS),
            container_delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=True, days=SOFT_DELETE_DAYS),
            account_name=account_name,
            resource_group_name=group_name,
            opts=child,
        )
        self.snapshot_container = private_container("snapshots", SNAPSHOT_CONTAINER, self.account, group_name, self)
        self.cool_tier_rule = None
        if args.snapshot_retention_days > 0:
            self.cool_tier_rule = storage.ManagementPolicy(
                "cool-tier",
                management_policy_name="default",
                policy=_cool_tier_policy(args.snapshot_retention_days),
                account_name=account_name,
                resource_group_name=group_name,
                opts=child,
            )

        self.account_name = self.account.name
        self.account_id = self.account.id
        self.blob_endpoint = self.account.primary_endpoints.apply(lambda endpoints: endpoints.blob.rstrip("/"))
        self.snapshot_container_name = self.snapshot_container.name
        self.snapshot_container_id = self.snapshot_container.id
        self.snapshot_container_url = pulumi.Output.concat(self.blob_endpoint, "/", self.snapshot_container.name)
        self.register_outputs(
            {
                "account_name": self.account_name,
                "blob_endpoint": self.blob_endpoint,
                "snapshot_container_url": self.snapshot_container_url,
            }
        )


@dataclass(frozen=True)
class HostStorageArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    account_name: pulumi.Input[str]


class HostStorage(pulumi.ComponentResource):
    """The Functions host's account (``AzureWebJobsStorage``) with the ``deployments`` container."""

    account: storage.StorageAccount
    deployment_container: storage.BlobContainer
    account_name: pulumi.Output[str]
    account_id: pulumi.Output[str]
    deployment_container_url: pulumi.Output[str]
    """Where Flex Consumption keeps the code package, ``https://ACCOUNT.blob.core.windows.net/deployments``."""

    def __init__(self, name: str, args: HostStorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("spotify-exporter:azure:HostStorage", name, None, opts)
        group = args.resource_group_name
        self.account = private_account("account", args.account_name, group, args.location, self)
        self.deployment_container = private_container("deployments", DEPLOYMENT_CONTAINER, self.account, group, self)
        self.account_name = self.account.name
        self.account_id = self.account.id
        blob_endpoint = self.account.primary_endpoints.apply(lambda endpoints: endpoints.blob.rstrip("/"))
        self.deployment_container_url = pulumi.Output.concat(blob_endpoint, "/", self.deployment_container.name)
        self.register_outputs(
            {"account_name": self.account_name, "deployment_container_url": self.deployment_container_url}
        )


def _cool_tier_policy(days: int) -> storage.ManagementPolicySchemaArgs:
    """Block blobs under ``spotify/`` go to the cool tier ``days`` after they were last written."""
    return storage.ManagementPolicySchemaArgs(
        rules=[
            storage.ManagementPolicyRuleArgs(
                name="snapshots-to-cool",
                enabled=True,
                type=storage.RuleType.LIFECYCLE,
                definition=storage.ManagementPolicyDefinitionArgs(
                    filters=storage.ManagementPolicyFilterArgs(
                        blob_types=["blockBlob"], prefix_match=[f"{SNAPSHOT_CONTAINER}/"]
                    ),
                    actions=storage.ManagementPolicyActionArgs(
                        base_blob=storage.ManagementPolicyBaseBlobArgs(
                            tier_to_cool=storage.DateAfterModificationArgs(days_after_modification_greater_than=days)
                        )
                    ),
                ),
            )
        ]
    )
