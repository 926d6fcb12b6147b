"""Who may do what with the data: every Azure role id and assignment in one place.

The function app's identity (Microsoft's "Connecting to host storage with an identity",
https://learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity,
and its permissions table for ``AzureWebJobsStorage``):

* *Storage Blob Data Owner* on the **host's own account**: the host "needs both read and write
  access to blobs and the ability to create containers" (its keys, the timer's leases and
  schedule status), and Flex Consumption's deployment reads (and the SCM site writes) the code
  package in that account's ``deployments`` container with the same identity (its deployment log
  reads "Received Token using system assigned identity", then the upload: Azure/azure-functions-
  core-tools issue 4346; ``functionAppConfig.deployment.storage.authentication``). Creating
  containers needs the role on the account, not on a container.
* *Storage Table Data Contributor* on the host's account: the host keeps diagnostic events in
  tables through ``AzureWebJobsStorage`` ("No extension (host only), with support for diagnostic
  events"). The export lock's container is in that account too, covered by the Owner role.
* On the **export queue** ``spotify-exports``: *Storage Queue Data Reader* and *Storage Queue Data
  Message Processor* for its queue trigger (Microsoft's table of roles for the Queue Storage
  extension: trigger "Storage Queue Data Reader, Storage Queue Data Message Processor"; output
  "Storage Queue Data Message Sender"), and *Storage Queue Data Message Sender*: an export sends
  its own resume, and a message that finds the lock taken is sent back. The same three on the
  **poison queue**: the runtime sends a message there after its last failed attempt, and the
  ``export_gave_up`` trigger reads it. The queues exist (`storage.py`), so nobody needs the right
  to create queues.
* *Storage Blob Data Contributor* on the **snapshots' container** only: what the exporter writes.
* *Monitoring Metrics Publisher* on Application Insights: telemetry is sent with the identity's
  token, because local (instrumentation key) authentication is off.

The deployer (whoever runs `pulumi up`) gets *Storage Blob Data Contributor* on the snapshots'
container: `make trigger` lists new snapshots there and `diff`, `report` and `restore
--blob-url` read them, and restore writes its journal there (Reader would break restore; when the
snapshots are write-once, ``spotify-exporter:immutableDays``, the journals go to the container
``spotify-journals`` instead, and the same role is given there); and
*Storage Queue Data Message Sender* on the export queue: `make trigger` puts its requests there. Its
``principalType`` is left unset because it may be a user or a service principal, and ARM refuses
a type that does not match (``UnmatchedPrincipalType``); unset, ARM looks the principal up. The
SDK fills in ``User`` when the argument is omitted, so the property is taken out before the
resource is registered.
Key Vault access is an access policy on the vault (`vault.py`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pulumi
import pulumi_azure_native.authorization as authorization

STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
STORAGE_TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
STORAGE_QUEUE_DATA_READER = "19e7f393-937e-4f77-808e-94535e297925"
STORAGE_QUEUE_DATA_MESSAGE_PROCESSOR = "8a0f0c08-91a1-4084-bc3d-661d67233fed"
STORAGE_QUEUE_DATA_MESSAGE_SENDER = "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a"
#: what a queue trigger that also sends to its queue needs there
QUEUE_CONSUMER_ROLES = (
    ("reader", STORAGE_QUEUE_DATA_READER),
    ("processor", STORAGE_QUEUE_DATA_MESSAGE_PROCESSOR),
    ("sender", STORAGE_QUEUE_DATA_MESSAGE_SENDER),
)
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"


def role_definition_id(subscription_id: str, role: str) -> str:
    """The full resource id Azure expects for a built-in role."""
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role}"


def assignment_name(scope: str, role: str, principal_id: str) -> str:
    """A GUID fixed by what the assignment grants, so re-running never creates a duplicate."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{scope}|{role}|{principal_id}"))


def assign(
    name: str,
    subscription_id: pulumi.Input[str],
    scope: pulumi.Input[str],
    role: str,
    principal_id: pulumi.Input[str],
    parent: pulumi.Resource,
    principal_type: authorization.PrincipalType | None = None,
) -> authorization.RoleAssignment:
    scope_and_principal = pulumi.Output.all(scope, principal_id)
    unset: list[pulumi.ResourceTransformation] = [] if principal_type is not None else [_without_principal_type]
    return authorization.RoleAssignment(
        name,
        scope=scope,
        principal_id=principal_id,
        principal_type=principal_type,
        role_definition_id=pulumi.Output.from_input(subscription_id).apply(lambda sub: role_definition_id(sub, role)),
        role_assignment_name=scope_and_principal.apply(lambda sp: assignment_name(sp[0], role, sp[1])),
        opts=pulumi.ResourceOptions(parent=parent, transformations=unset),
    )


def _without_principal_type(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult:
    """The role assignment's properties without the ``principalType`` the SDK defaults to ``User``."""
    props = {key: value for key, value in args.props.items() if key != "principal_type"}
    return pulumi.ResourceTransformationResult(props, args.opts)


@dataclass(frozen=True)
class AppAccessArgs:
    subscription_id: pulumi.Input[str]
    principal_id: pulumi.Input[str]
    host_storage_account_id: pulumi.Input[str]
    snapshot_container_id: pulumi.Input[str]
    app_insights_id: pulumi.Input[str]
    export_queue_id: pulumi.Input[str]
    poison_queue_id: pulumi.Input[str]


class AppAccess(pulumi.ComponentResource):
    """The function app identity's data-plane roles (see the module's docstring for why each)."""

    host_storage: authorization.RoleAssignment
    host_tables: authorization.RoleAssignment
    snapshots: authorization.RoleAssignment
    telemetry: authorization.RoleAssignment
    queues: list[authorization.RoleAssignment]

    def __init__(self, name: str, args: AppAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("spotify-exporter:azure:AppAccess", name, None, opts)
        service = authorization.PrincipalType.SERVICE_PRINCIPAL  # a managed identity: skips a directory lookup

        def app(name: str, scope: pulumi.Input[str], role: str) -> authorization.RoleAssignment:
            return assign(name, args.subscription_id, scope, role, args.principal_id, self, service)

        self.host_storage = app("host-storage", args.host_storage_account_id, STORAGE_BLOB_DATA_OWNER)
        self.host_tables = app("host-tables", args.host_storage_account_id, STORAGE_TABLE_DATA_CONTRIBUTOR)
        self.snapshots = app("snapshots", args.snapshot_container_id, STORAGE_BLOB_DATA_CONTRIBUTOR)
        self.telemetry = app("telemetry", args.app_insights_id, MONITORING_METRICS_PUBLISHER)
        self.queues = [
            app(f"{queue}-{what}", scope, role)
            for queue, scope in (("export-queue", args.export_queue_id), ("poison-queue", args.poison_queue_id))
            for what, role in QUEUE_CONSUMER_ROLES
        ]
        self.register_outputs({"host_storage_id": self.host_storage.id, "snapshots_id": self.snapshots.id})


@dataclass(frozen=True)
class DeployerAccessArgs:
    subscription_id: pulumi.Input[str]
    principal_id: pulumi.Input[str]
    """The object id of whoever runs `pulumi up` (a user or a service principal)."""
    snapshot_container_id: pulumi.Input[str]
    export_queue_id: pulumi.Input[str]
    journal_container_id: pulumi.Input[str] | None = None
    """The restore journals' container of write-once snapshots (`storage.py`), if there is one."""


class DeployerAccess(pulumi.ComponentResource):
    """The deployer's roles on the snapshots, for `make trigger` and the history commands with --blob-url,
    and on the export queue, for `make trigger`."""

    snapshots: authorization.RoleAssignment
    export_queue: authorization.RoleAssignment
    journals: authorization.RoleAssignment | None

    def __init__(self, name: str, args: DeployerAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("spotify-exporter:azure:DeployerAccess", name, None, opts)
        self.snapshots = assign(
            "snapshots", args.subscription_id, args.snapshot_container_id, STORAGE_BLOB_DATA_CONTRIBUTOR,
            args.principal_id, self,
        )  # fmt: skip
        self.export_queue = assign(
            "export-queue-sender", args.subscription_id, args.export_queue_id, STORAGE_QUEUE_DATA_MESSAGE_SENDER,
            args.principal_id, self,
        )  # fmt: skip
        self.journals = None
        if args.journal_container_id is not None:  # restore writes its journal there, not beside the snapshot
            self.journals = assign(
                "journals", args.subscription_id, args.journal_container_id, STORAGE_BLOB_DATA_CONTRIBUTOR,
                args.principal_id, self,
            )  # fmt: skip
        self.register_outputs({"snapshots_id": self.snapshots.id, "export_queue_id": self.export_queue.id})
