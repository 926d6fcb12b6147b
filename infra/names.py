"""Resource names: readable, and globally unique where Azure needs it, without an extra provider.

Storage accounts, key vaults and function apps share one namespace across all of Azure. Their
names end in a suffix hashed from the subscription, project and stack: stable across runs (no
state to lose, no random provider to install), different for every stack and subscription.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pulumi

SUFFIX_LENGTH = 8


def name_suffix(subscription_id: str, project: str, stack: str) -> str:
    """Eight hex digits that identify this stack in this subscription."""
    digest = hashlib.sha256(f"{subscription_id}/{project}/{stack}".encode()).hexdigest()
    return digest[:SUFFIX_LENGTH]


@dataclass(frozen=True)
class Names:
    """Every name the stack gives a resource; the globally unique ones are Outputs of the suffix."""

    resource_group: str
    plan: str
    log_workspace: str
    app_insights: str
    action_group: str
    action_group_short: str
    failure_alert: str
    missed_export_alert: str
    storage_account: pulumi.Output[str]
    """The snapshots' account."""
    host_storage_account: pulumi.Output[str]
    """The Functions host's own account (AzureWebJobsStorage and the deployment package)."""
    vault: pulumi.Output[str]
    function_app: pulumi.Output[str]

    @classmethod
    def create(cls, prefix: str, project: str, stack: str, subscription_id: pulumi.Input[str]) -> Names:
        suffix = pulumi.Output.from_input(subscription_id).apply(lambda sub: name_suffix(sub, project, stack))
        return cls(
            resource_group=f"rg-{prefix}-{stack}",
            plan=f"{prefix}-plan",
            log_workspace=f"{prefix}-logs",
            app_insights=f"{prefix}-insights",
            action_group=f"{prefix}-alerts",
            action_group_short=prefix[:12],  # Azure's limit for the short name in notifications
            failure_alert=f"{prefix}-export-failed",
            missed_export_alert=f"{prefix}-export-missed",
            storage_account=suffix.apply(lambda s: f"{prefix}st{s}"),  # 3-24 lowercase letters and digits
            host_storage_account=suffix.apply(lambda s: f"{prefix}host{s}"),
            vault=suffix.apply(lambda s: f"{prefix}-kv-{s}"),  # 3-24 letters, digits and single hyphens
            function_app=suffix.apply(lambda s: f"{prefix}-func-{s}"),  # 2-60 letters, digits and hyphens
        )
