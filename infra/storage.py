"""Two private storage accounts, reached only by identity: one for snapshots, one for the Functions host.

The host's account also holds the export queue ``spotify-exports`` (one message per export; the
weekly timer, `make trigger` and resumes send them, ``export_account`` takes them), its poison
queue ``spotify-exports-poison`` (created here, so the runtime only needs to *send* a failed
message there: the queues extension creates the poison queue only when a send finds it missing,
``AddMessageAndCreateIfNotExistsAsync`` in Azure/azure-sdk-for-net's WebJobs queues extension),
and the ``export-locks`` container whose blob lease lets one export run at a time.

Shared keys and public blobs are off on both, so nothing but an Entra identity with a data role
can read them. They are separate because the host needs *Storage Blob Data Owner* on its whole
account (it creates its own containers: timer leases, keys; see `roles.py`): on the snapshots'
account that role would let the running function delete every snapshot. The snapshots' account
has versioning and soft delete, so a deleted or overwritten snapshot stays recoverable for 30
days, and an optional lifecycle rule moves old snapshots to the cheaper cool tier. The host's
account holds the host's bookkeeping and the ``deployments`` container with the code package.

With ``spotify-exporter:immutableDays`` set, the snapshots are also **write-once** for that many
days (version-level WORM, :class:`SnapshotImmutability`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_azure_native.storage as storage

from spotify_exporter.export_queue import POISON_QUEUE_NAME, QUEUE_NAME
from spotify_exporter.stores.blob import journal_container_name

SNAPSHOT_CONTAINER = "spotify"
#: restore journals, rewritten as a restore goes on: beside the snapshots, never under their policy
JOURNAL_CONTAINER = journal_container_name(SNAPSHOT_CONTAINER)
DEPLOYMENT_CONTAINER = "deployments"
LOCK_CONTAINER = "export-locks"
LOCK_BLOB = "spotify-api"
#: the queue names the function app's triggers bind to (functions/spotify_exporter/export_queue.py)
EXPORT_QUEUE = QUEUE_NAME
POISON_QUEUE = POISON_QUEUE_NAME
SOFT_DELETE_DAYS = 30


def private_account(
    name: str,
    account_name: pulumi.Input[str],
    group: pulumi.Input[str],
    location: str,
    parent: pulumi.Resource,
    retain_on_delete: bool = False,
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
        opts=pulumi.ResourceOptions(parent=parent, retain_on_delete=retain_on_delete),
    )


def private_container(
    name: str,
    container_name: str,
    account: storage.StorageAccount,
    group: pulumi.Input[str],
    parent: pulumi.Resource,
    opts: pulumi.ResourceOptions | None = None,
    versioned_immutability: storage.ImmutableStorageWithVersioningArgs | None = None,
) -> storage.BlobContainer:
    return storage.BlobContainer(
        name,
        container_name=container_name,
        public_access=storage.PublicAccess.NONE,
        account_name=account.name,
        resource_group_name=group,
        immutable_storage_with_versioning=versioned_immutability,
        opts=pulumi.ResourceOptions.merge(pulumi.ResourceOptions(parent=parent), opts),
    )


@dataclass(frozen=True)
class StorageArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    account_name: pulumi.Input[str]
    snapshot_retention_days: int
    """Move snapshot blobs to the cool tier after this many days; 0 adds no lifecycle rule."""
    immutable_days: int = 0
    """Keep every snapshot blob version write-once for this many days; 0 is off."""


class Storage(pulumi.ComponentResource):
    """The snapshots' account with the ``spotify`` container (its type and name are kept from earlier
    versions of this program, so upgrading a stack never replaces the account that holds the snapshots)."""

    account: storage.StorageAccount
    blob_service: storage.BlobServiceProperties
    snapshot_container: storage.BlobContainer
    cool_tier_rule: storage.ManagementPolicy | None
    immutability: SnapshotImmutability | None
    account_name: pulumi.Output[str]
    account_id: pulumi.Output[str]
    blob_endpoint: pulumi.Output[str]
    """``https://ACCOUNT.blob.core.windows.net``, without the trailing slash, as the exporter expects."""
    snapshot_container_name: pulumi.Output[str]
    snapshot_container_id: pulumi.Output[str]
    snapshot_container_url: pulumi.Output[str]
    journal_container_id: pulumi.Output[str] | None
    """Where restore journals go when the snapshots are write-once (None: in the snapshots' container)."""

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("spotify-exporter:azure:Storage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        immutable = args.immutable_days > 0
        # Azure refuses to delete an account that holds a container with version-level immutability:
        # `pulumi destroy` leaves it (and its resource group, `__main__.py`) instead of failing there
        self.account = private_account(
            "account", args.account_name, args.resource_group_name, args.location, self, retain_on_delete=immutable
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
        self.snapshot_container = private_container(
            "snapshots",
            SNAPSHOT_CONTAINER,
            self.account,
            group_name,
            self,
            pulumi.ResourceOptions(
                # versioning first: ARM enables version-level immutability only where it is on
                depends_on=[self.blob_service],
                # only a new container can be created with it; an existing one is migrated (README), and
                # an update that tried to set it would be refused, or worse, replace the container
                ignore_changes=["immutableStorageWithVersioning"],
                retain_on_delete=immutable,
            ),
            storage.ImmutableStorageWithVersioningArgs(enabled=True) if immutable else None,
        )
        self.immutability = (
            SnapshotImmutability("immutability", self, args.immutable_days, group_name, child) if immutable else None
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
        self.journal_container_id = self.immutability.journal_container.id if self.immutability else None
        self.register_outputs(
            {
                "account_name": self.account_name,
                "blob_endpoint": self.blob_endpoint,
                "snapshot_container_url": self.snapshot_container_url,
            }
        )


class SnapshotImmutability(pulumi.ComponentResource):
    """Version-level WORM for the snapshots' container: a default time-based retention policy of
    ``days``, and a separate container for what is rewritten (restore journals).

    What Azure then refuses and allows (Microsoft, "Version-level WORM policies for immutable blob
    data", "Scenarios"; "Store business-critical blob data with immutable storage", "Summary of
    immutability scenarios"), for every blob version younger than ``days``, whoever asks (an
    account key or an Owner included):

    * refused with 409 ``BlobImmutableDueToPolicy``: Delete Blob, Set Blob Metadata, Put Page,
      Append Block (``allowProtectedAppendWrites`` is a container-level-WORM option only);
    * allowed: creating blobs, reading, listing, Set Blob Tier (so the cool-tier lifecycle rule
      keeps working: "All blob access tiers support immutable storage"); an overwrite (Put Blob,
      Put Block List, Copy Blob) is allowed too but *creates a new version*: the old one stays,
      protected, so nothing written is ever lost (the exporter still writes each file once:
      `functions/spotify_exporter/stores/blob.py`);
    * soft delete: "a blob or version that hasn't yet been soft deleted is protected by the
      immutability policy and can't be soft deleted" until the policy expires;
    * a container with version-level immutability and at least one blob cannot be deleted, nor an
      account with such a container, locked or not: hence ``retain_on_delete`` here (`pulumi
      destroy` forgets them instead of failing half way; README "Backups nobody can erase").

    The policy is created **unlocked**: it protects, but an Owner can still shorten or delete it.
    Locking (README) makes it permanent; it cannot be undone, only extended. Its deletion by
    Pulumi fails anyway (pulumi/pulumi-azure-native issue 2156: the DELETE lacks the policy's ETag),
    one more reason to retain it. Version-level immutability needs blob versioning, is not
    supported with a hierarchical namespace, NFS 3.0 or SFTP, and is incompatible with
    point-in-time restore and last-access-time tracking: the account here uses none of those.
    """

    policy: storage.BlobContainerImmutabilityPolicy
    journal_container: storage.BlobContainer

    def __init__(
        self,
        name: str,
        snapshots: Storage,
        days: int,
        group: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("spotify-exporter:azure:SnapshotImmutability", name, None, opts)
        retained = pulumi.ResourceOptions(parent=self, retain_on_delete=True)
        # "default" is the only name ARM accepts; on a container with version-level immutability it is
        # the default policy every new blob version inherits, on an older container (not migrated yet)
        # a container-level policy, which is what `az storage container-rm migrate-vlw` then converts
        self.policy = storage.BlobContainerImmutabilityPolicy(
            "retention",
            immutability_policy_name="default",
            immutability_period_since_creation_in_days=days,
            account_name=snapshots.account.name,
            container_name=snapshots.snapshot_container.name,
            resource_group_name=group,
            opts=retained,
        )
        self.journal_container = private_container(
            "journals", JOURNAL_CONTAINER, snapshots.account, group, self, pulumi.ResourceOptions(retain_on_delete=True)
        )
        self.register_outputs({"journal_container_id": self.journal_container.id})
        pulumi.log.info(
            f"snapshots are write-once for {days} days; the retention policy stays unlocked (an Owner can still "
            "remove it) until you lock it, which cannot be undone (README: Backups nobody can erase). "
            "`pulumi destroy` leaves the resource group and the snapshots' account: Azure refuses to delete them "
            "while they hold snapshots under retention",
            resource=self,
        )


@dataclass(frozen=True)
class HostStorageArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    account_name: pulumi.Input[str]


class HostStorage(pulumi.ComponentResource):
    """The Functions host's account (``AzureWebJobsStorage``) with the ``deployments`` container, the
    export queue and its poison queue, and the export lock's container."""

    account: storage.StorageAccount
    deployment_container: storage.BlobContainer
    export_queue: storage.Queue
    poison_queue: storage.Queue
    lock_container: storage.BlobContainer
    account_name: pulumi.Output[str]
    account_id: pulumi.Output[str]
    deployment_container_url: pulumi.Output[str]
    """Where Flex Consumption keeps the code package, ``https://ACCOUNT.blob.core.windows.net/deployments``."""
    queue_endpoint: pulumi.Output[str]
    """``https://ACCOUNT.queue.core.windows.net``: the queue triggers' identity-based connection."""
    export_queue_id: pulumi.Output[str]
    poison_queue_id: pulumi.Output[str]
    lock_url: pulumi.Output[str]
    """The blob whose lease serializes exports."""

    def __init__(self, name: str, args: HostStorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("spotify-exporter:azure:HostStorage", name, None, opts)
        group = args.resource_group_name
        self.account = private_account("account", args.account_name, group, args.location, self)
        self.deployment_container = private_container("deployments", DEPLOYMENT_CONTAINER, self.account, group, self)
        self.export_queue = self._queue("export-queue", EXPORT_QUEUE, group)
        self.poison_queue = self._queue("poison-queue", POISON_QUEUE, group)
        self.lock_container = private_container("export-locks", LOCK_CONTAINER, self.account, group, self)
        self.account_name = self.account.name
        self.account_id = self.account.id
        blob_endpoint = self.account.primary_endpoints.apply(lambda endpoints: endpoints.blob.rstrip("/"))
        self.deployment_container_url = pulumi.Output.concat(blob_endpoint, "/", self.deployment_container.name)
        self.queue_endpoint = self.account.primary_endpoints.apply(lambda endpoints: endpoints.queue.rstrip("/"))
        self.export_queue_id = self.export_queue.id
        self.poison_queue_id = self.poison_queue.id
        self.lock_url = pulumi.Output.concat(blob_endpoint, "/", self.lock_container.name, "/", LOCK_BLOB)
        self.register_outputs(
            {
                "account_name": self.account_name,
                "deployment_container_url": self.deployment_container_url,
                "queue_endpoint": self.queue_endpoint,
                "lock_url": self.lock_url,
            }
        )

    def _queue(self, name: str, queue_name: str, group: pulumi.Input[str]) -> storage.Queue:
        return storage.Queue(
            name,
            queue_name=queue_name,
            account_name=self.account.name,
            resource_group_name=group,
            opts=pulumi.ResourceOptions(parent=self),
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
