"""Where snapshots and the function package live: one private account reached only by identity.

Shared keys and public blobs are off, so nothing but an Entra identity with a data role can read
a snapshot. Versioning and soft delete keep a deleted or overwritten snapshot recoverable for
30 days; an optional lifecycle rule moves old snapshots to the cheaper cool tier.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_azure_native.storage as storage

SNAPSHOT_CONTAINER = "spotify"
DEPLOYMENT_CONTAINER = "deployments"
SOFT_DELETE_DAYS = 30


@dataclass(frozen=True)
class StorageArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    account_name: pulumi.Input[str]
    snapshot_retention_days: int
    """Move snapshot blobs to the cool tier after this many days; 0 adds no lifecycle rule."""


class Storage(pulumi.ComponentResource):
    """The storage account with the ``spotify`` (snapshots) and ``deployments`` (package) containers."""

    account: storage.StorageAccount
    blob_service: storage.BlobServiceProperties
    snapshot_container: storage.BlobContainer
    deployment_container: storage.BlobContainer
    cool_tier_rule: storage.ManagementPolicy | None
    account_name: pulumi.Output[str]
    account_id: pulumi.Output[str]
    blob_endpoint: pulumi.Output[str]
    """``https://ACCOUNT.blob.core.windows.net``, without the trailing slash, as the exporter expects."""
    snapshot_container_name: pulumi.Output[str]
    snapshot_container_id: pulumi.Output[str]
    snapshot_container_url: pulumi.Output[str]
    deployment_container_url: pulumi.Output[str]

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("spotify-exporter:azure:Storage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.account = storage.StorageAccount(
            "account",
            account_name=args.account_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            kind=storage.Kind.STORAGE_V2,
            sku=storage.SkuArgs(name=storage.SkuName.STANDARD_LRS),
            enable_https_traffic_only=True,
            minimum_tls_version=storage.MinimumTlsVersion.TLS1_2,
            allow_blob_public_access=False,
            allow_shared_key_access=False,
            opts=child,
        )
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
        self.snapshot_container = storage.BlobContainer(
            "snapshots",
            container_name=SNAPSHOT_CONTAINER,
            public_access=storage.PublicAccess.NONE,
            account_name=account_name,
            resource_group_name=group_name,
            opts=child,
        )
        self.deployment_container = storage.BlobContainer(
            "deployments",
            container_name=DEPLOYMENT_CONTAINER,
            public_access=storage.PublicAccess.NONE,
            account_name=account_name,
            resource_group_name=group_name,
            opts=child,
        )
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
        self.deployment_container_url = pulumi.Output.concat(self.blob_endpoint, "/", self.deployment_container.name)
        self.register_outputs(
            {
                "account_name": self.account_name,
                "blob_endpoint": self.blob_endpoint,
                "snapshot_container_url": self.snapshot_container_url,
                "deployment_container_url": self.deployment_container_url,
            }
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
