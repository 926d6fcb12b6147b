"""How you learn that a weekly export failed: an e-mail within the hour, not months later.

The function app logs to a workspace-based Application Insights. A partial or failed export
raises, so its execution is a failed ``weekly_export`` request; an hourly log alert counts those
and e-mails the configured address through an action group.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_azure_native.applicationinsights as applicationinsights
import pulumi_azure_native.monitor as monitor
import pulumi_azure_native.operationalinsights as operationalinsights

FUNCTION_NAME = "weekly_export"
FAILED_EXPORTS_QUERY = f'requests | where name == "{FUNCTION_NAME}" and success == false'
LOG_RETENTION_DAYS = 30
ALERT_FREQUENCY = "PT1H"
ALERT_WINDOW = "PT1H"  # equal to the frequency: each failed run is counted exactly once
ALERT_SEVERITY = 1  # Error
# The ARM value, not the SDK's ConditionOperator enum: in pulumi-azure-native 3.x that enum holds
# filter operators ("gt"), which the scheduled query rules API rejects.
ALERT_OPERATOR = "GreaterThan"


@dataclass(frozen=True)
class MonitoringArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    workspace_name: str
    app_insights_name: str
    action_group_name: str
    action_group_short_name: str
    alert_name: str
    alert_email: str


class Monitoring(pulumi.ComponentResource):
    """Log Analytics, Application Insights, the e-mail action group and the failed-export alert."""

    workspace: operationalinsights.Workspace
    app_insights: applicationinsights.Component
    action_group: monitor.ActionGroup
    failure_alert: monitor.ScheduledQueryRule
    app_insights_id: pulumi.Output[str]
    connection_string: pulumi.Output[str]
    """Secret: it lets anyone write telemetry into this Application Insights."""

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("spotify-exporter:azure:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.workspace = operationalinsights.Workspace(
            "logs",
            workspace_name=args.workspace_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            sku=operationalinsights.WorkspaceSkuArgs(name=operationalinsights.WorkspaceSkuNameEnum.PER_GB2018),
            retention_in_days=LOG_RETENTION_DAYS,
            opts=child,
        )
        self.app_insights = applicationinsights.Component(
            "insights",
            resource_name_=args.app_insights_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            kind="web",
            application_type=applicationinsights.ApplicationType.WEB,
            ingestion_mode=applicationinsights.IngestionMode.LOG_ANALYTICS,
            workspace_resource_id=self.workspace.id,
            opts=child,
        )
        self.action_group = monitor.ActionGroup(
            "alerts",
            action_group_name=args.action_group_name,
            resource_group_name=args.resource_group_name,
            location="global",
            enabled=True,
            group_short_name=args.action_group_short_name,
            email_receivers=[
                monitor.MicrosoftCommonEmailReceiverArgs(
                    name="owner", email_address=args.alert_email, use_common_alert_schema=True
                )
            ],
            opts=child,
        )
        self.failure_alert = monitor.ScheduledQueryRule(
            "export-failed",
            rule_name=args.alert_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            kind=monitor.Kind.LOG_ALERT,
            display_name="Spotify export failed",
            description=f"An execution of {FUNCTION_NAME} failed: the snapshot is partial or missing.",
            enabled=True,
            severity=ALERT_SEVERITY,
            scopes=[self.app_insights.id],
            evaluation_frequency=ALERT_FREQUENCY,
            window_size=ALERT_WINDOW,
            auto_mitigate=False,
            criteria=monitor.ScheduledQueryRuleCriteriaArgs(
                all_of=[
                    monitor.ConditionArgs(
                        query=FAILED_EXPORTS_QUERY,
                        time_aggregation=monitor.TimeAggregation.COUNT,
                        operator=ALERT_OPERATOR,
                        threshold=0,
                        failing_periods=monitor.ConditionFailingPeriodsArgs(
                            number_of_evaluation_periods=1, min_failing_periods_to_alert=1
                        ),
                    )
                ]
            ),
            actions=monitor.ActionsArgs(action_groups=[self.action_group.id]),
            opts=child,
        )
        self.app_insights_id = self.app_insights.id
        self.connection_string = pulumi.Output.secret(self.app_insights.connection_string)
        self.register_outputs({"app_insights_id": self.app_insights_id, "connection_string": self.connection_string})
