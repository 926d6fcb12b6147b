"""Where the Spotify credentials live: a Key Vault only the app and the deployer can read.

Pulumi never handles the secrets themselves; `make auth --vault NAME` writes them. The app may
get and set secrets (Spotify can rotate the refresh token); whoever runs `pulumi up` may also
list them, which `make auth` needs. Both access policies sit on the vault itself: Azure replaces
a vault's policy list on every update, so standalone AccessPolicy resources next to it would be
wiped, and the app's principal id is known before the vault is created because the app finds the
vault by its (precomputed) name.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_azure_native.keyvault as keyvault

APP_SECRET_PERMISSIONS = [keyvault.SecretPermissions.GET, keyvault.SecretPermissions.SET]
DEPLOYER_SECRET_PERMISSIONS = [
    keyvault.SecretPermissions.GET,
    keyvault.SecretPermissions.SET,
    keyvault.SecretPermissions.LIST,
]


@dataclass(frozen=True)
class VaultArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    vault_name: pulumi.Input[str]
    tenant_id: pulumi.Input[str]
    app_principal_id: pulumi.Input[str]
    deployer_object_id: pulumi.Input[str]


class Vault(pulumi.ComponentResource):
    """A standard Key Vault with soft delete, purge protection and two access policies."""

    vault: keyvault.Vault
    vault_name: pulumi.Output[str]
    vault_uri: pulumi.Output[str]

    def __init__(self, name: str, args: VaultArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("spotify-exporter:azure:Vault", name, None, opts)
        self.vault = keyvault.Vault(
            "vault",
            vault_name=args.vault_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            properties=keyvault.VaultPropertiesArgs(
                tenant_id=args.tenant_id,
                sku=keyvault.SkuArgs(family=keyvault.SkuFamily.A, name=keyvault.SkuName.STANDARD),
                enable_soft_delete=True,
                enable_purge_protection=True,
                enable_rbac_authorization=False,
                access_policies=[
                    _secrets_policy(args.tenant_id, args.app_principal_id, APP_SECRET_PERMISSIONS),
                    _secrets_policy(args.tenant_id, args.deployer_object_id, DEPLOYER_SECRET_PERMISSIONS),
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.vault_name = self.vault.name
        self.vault_uri = self.vault.properties.apply(lambda properties: properties.vault_uri)
        self.register_outputs({"vault_name": self.vault_name, "vault_uri": self.vault_uri})


def _secrets_policy(
    tenant_id: pulumi.Input[str], object_id: pulumi.Input[str], secrets: list[keyvault.SecretPermissions]
) -> keyvault.AccessPolicyEntryArgs:
    return keyvault.AccessPolicyEntryArgs(
        tenant_id=tenant_id,
        object_id=object_id,
        permissions=keyvault.PermissionsArgs(secrets=list(secrets)),
    )
