"""What the function app's identity may do in storage: every Azure role id in one place.

Host storage and the deployment package need *Storage Blob Data Owner* on the account (the
host takes blob leases for the timer); the exporter only needs *Storage Blob Data Contributor*
on the ``spotify`` container. Key Vault access is an access policy on the vault (`vault.py`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pulumi
import pulumi_azure_native.authorization as authorization

STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"


def role_definition_id(subscription_id: str, role: str) -> str:
    """The full resource id Azure expects for a built-in role."""
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role}"


def assignment_name(scope: str, role: str, principal_id: str) -> str:
    """A GUID fixed by what the assignment grants, so re-running never creates a duplicate."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{scope}|{role}|{principal_id}"))


@dataclass(frozen=True)
class AppAccessArgs:
    subscription_id: pulumi.Input[str]
    principal_id: pulumi.Input[str]
    storage_account_id: pulumi.Input[str]
    snapshot_container_id: pulumi.Input[str]


class AppAccess(pulumi.ComponentResource):
    """The function app identity's data-plane roles on the storage account and the snapshot container."""

    host_storage: authorization.RoleAssignment
    snapshots: authorization.RoleAssignment

    def __init__(self, name: str, args: AppAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("spotify-exporter:azure:AppAccess", name, None, opts)
        self.host_storage = self._assign("host-storage", args, args.storage_account_id, STORAGE_BLOB_DATA_OWNER)
        self.snapshots = self._assign("snapshots", args, args.snapshot_container_id, STORAGE_BLOB_DATA_CONTRIBUTOR)
        self.register_outputs({"host_storage_id": self.host_storage.id, "snapshots_id": self.snapshots.id})

    def _assign(
        self, name: str, args: AppAccessArgs, scope: pulumi.Input[str], role: str
    ) -> authorization.RoleAssignment:
        scope_and_principal = pulumi.Output.all(scope, args.principal_id)
        return authorization.RoleAssignment(
            name,
            scope=scope,
            principal_id=args.principal_id,
            principal_type=authorization.PrincipalType.SERVICE_PRINCIPAL,
            role_definition_id=pulumi.Output.from_input(args.subscription_id).apply(
                lambda sub: role_definition_id(sub, role)
            ),
            role_assignment_name=scope_and_principal.apply(lambda sp: assignment_name(sp[0], role, sp[1])),
            opts=pulumi.ResourceOptions(parent=self),
        )
