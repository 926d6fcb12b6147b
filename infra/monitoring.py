"""How you learn that the weekly backup is not happening: an e-mail, not a surprise months later.

The function app logs to a workspace-based Application Insights that accepts telemetry only
with an Entra token (``disableLocalAuth``; the app's identity is a Monitoring Metrics Publisher).
Two log alerts e-mail the configured address through an action group:

* **Export failed**: a failed ``weekly_export`` request arrived. A partial or failed export
  raises, so its execution is a failed request. A request row carries the run's *start* time
  but arrives when the run ends (up to the 60-minute ``functionTimeout``), so the rule reads
  three hours of rows and counts only those *ingested* since the previous hourly evaluation
  (``ingestion_time()``): each failed run alerts exactly once, however long it ran.
* **Export missed**: no successful ``weekly_export`` for longer than the schedule's longest gap
  between two runs plus a margin. A package that fails to index, a stopped app or a disabled
  timer produce no failed row at all; this dead-man's switch catches them. Log alerts look
  back at most six periods of at most two days (windowSize x numberOfEvaluationPeriods, the
  limits the Terraform provider validates for scheduledQueryRules), so schedules that pause
  for longer than 11 days get no such alert (`pulumi up` warns).

``success`` is compared as text (``tostring(success) =~ "false"``): it is a bool in Application
Insights' schema but has been a string in exported and workspace tables, and a ``== false`` on a
string column is an error, not a false.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pulumi
import pulumi_azure_native.applicationinsights as applicationinsights
import pulumi_azure_native.monitor as monitor
import pulumi_azure_native.operationalinsights as operationalinsights

FUNCTION_NAME = "weekly_export"
LOG_RETENTION_DAYS = 30
ALERT_FREQUENCY = timedelta(hours=1)
#: a failed run's row arrives up to functionTimeout (60 min) after its timestamp, plus ingestion latency
FAILED_EXPORT_WINDOW = timedelta(hours=3)
FAILED_EXPORTS_QUERY = (
    f'requests | where name == "{FUNCTION_NAME}" and tostring(success) =~ "false" '
    f"| where ingestion_time() > ago({int(ALERT_FREQUENCY.total_seconds() // 60)}m)"
)
SUCCESSFUL_EXPORTS_QUERY = f'requests | where name == "{FUNCTION_NAME}" and tostring(success) =~ "true"'
#: after the schedule's longest gap, the run itself (up to an hour) and its row's ingestion
MISSED_EXPORT_MARGIN = timedelta(hours=3)
ALERT_SEVERITY = 1  # Error
# The ARM values, not the SDK's ConditionOperator enum: in pulumi-azure-native 3.x that enum holds
# filter operators ("gt"), which the scheduled query rules API rejects.
GREATER_THAN = "GreaterThan"
LESS_THAN = "LessThan"
#: the windowSize values scheduledQueryRules accepts, and at most six evaluation periods
ALERT_WINDOWS = tuple(timedelta(minutes=m) for m in (1, 5, 10, 15, 30, 45, 60, 120, 180, 240, 300, 360, 1440, 2880))
MAX_EVALUATION_PERIODS = 6


def iso_duration(value: timedelta) -> str:
    """``PT3H``, ``P2D``: the ISO 8601 durations ARM expects for alert windows."""
    minutes = int(value.total_seconds() // 60)
    if minutes % 1440 == 0:
        return f"P{minutes // 1440}D"
    if minutes % 60 == 0:
        return f"PT{minutes // 60}H"
    return f"PT{minutes}M"


@dataclass(frozen=True)
class Lookback:
    """A log alert's lookback: ``periods`` windows of ``window`` (the service's granularity)."""

    window: timedelta
    periods: int

    @property
    def span(self) -> timedelta:
        return self.window * self.periods


def missed_export_lookback(longest_gap: timedelta) -> Lookback | None:
    """The shortest allowed lookback that covers ``longest_gap`` plus the margin; None past the service's limit."""
    needed = longest_gap + MISSED_EXPORT_MARGIN
    fits = [
        Lookback(window, periods)
        for window in ALERT_WINDOWS
        for periods in range(1, MAX_EVALUATION_PERIODS + 1)
        if window * periods >= needed
    ]
    return min(fits, key=lambda lookback: (lookback.span, lookback.periods), default=None)


@dataclass(frozen=True)
class MonitoringArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    workspace_name: str
    app_insights_name: str
    action_group_name: str
    action_group_short_name: str
    failure_alert_name: str
    missed_alert_name: str
    alert_email: str
    schedule_longest_gap: timedelta
    """The longest time between two runs of the export schedule."""


class Monitoring(pulumi.ComponentResource):
    """Log Analytics, Application Insights, the e-mail action group and the two alerts."""

    workspace: operationalinsights.Workspace
    app_insights: applicationinsights.Component
    action_group: monitor.ActionGroup
    failure_alert: monitor.ScheduledQueryRule
    missed_alert: monitor.ScheduledQueryRule | None
    app_insights_id: pulumi.Output[str]
    connection_string: pulumi.Output[str]
    """Where to send telemetry (kept secret in the state, though it no longer suffices to write telemetry)."""

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
            disable_local_auth=True,
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
        self.failure_alert = self._alert(
            "export-failed",
            args,
            rule_name=args.failure_alert_name,
            display_name="Spotify export failed",
            description=f"An execution of {FUNCTION_NAME} failed: the snapshot is partial or missing.",
            query=FAILED_EXPORTS_QUERY,
            operator=GREATER_THAN,
            lookback=Lookback(FAILED_EXPORT_WINDOW, 1),
            auto_mitigate=False,  # each failed run is one e-mail
        )
        lookback = missed_export_lookback(args.schedule_longest_gap)
        self.missed_alert = None
        if lookback is None:
            pulumi.log.warn(
                "the export schedule pauses for longer than the 11 days a log alert can look back: there is no "
                "alert for a missed export, only for a failed one"
            )
        else:
            self.missed_alert = self._alert(
                "export-missed",
                args,
                rule_name=args.missed_alert_name,
                display_name="Spotify export missed",
                description=(
                    f"No successful {FUNCTION_NAME} for {iso_duration(lookback.span)}: the schedule's longest gap "
                    "has passed without a backup (the app may be stopped, or its code may not load)."
                ),
                query=SUCCESSFUL_EXPORTS_QUERY,
                operator=LESS_THAN,
                lookback=lookback,
                auto_mitigate=True,  # one e-mail when it starts, one when a backup succeeds again
            )
        self.app_insights_id = self.app_insights.id
        self.connection_string = pulumi.Output.secret(self.app_insights.connection_string)
        self.register_outputs({"app_insights_id": self.app_insights_id, "connection_string": self.connection_string})

    def _alert(
        self,
        name: str,
        args: MonitoringArgs,
        *,
        rule_name: str,
        display_name: str,
        description: str,
        query: str,
        operator: str,
        lookback: Lookback,
        auto_mitigate: bool,
    ) -> monitor.ScheduledQueryRule:
        """A log alert on the count of ``query``'s rows per window, evaluated hourly (or each window if shorter)."""
        frequency = min(ALERT_FREQUENCY, lookback.window)
        return monitor.ScheduledQueryRule(
            name,
            rule_name=rule_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            kind=monitor.Kind.LOG_ALERT,
            display_name=display_name,
            description=description,
            enabled=True,
            severity=ALERT_SEVERITY,
            scopes=[self.app_insights.id],
            evaluation_frequency=iso_duration(frequency),
            window_size=iso_duration(lookback.window),
            auto_mitigate=auto_mitigate,
            criteria=monitor.ScheduledQueryRuleCriteriaArgs(
                all_of=[
                    monitor.ConditionArgs(
                        query=query,
                        time_aggregation=monitor.TimeAggregation.COUNT,
                        operator=operator,
                        threshold=0 if operator == GREATER_THAN else 1,
                        failing_periods=monitor.ConditionFailingPeriodsArgs(
                            number_of_evaluation_periods=lookback.periods,
                            min_failing_periods_to_alert=lookback.periods,
                        ),
                    )
                ]
            ),
            actions=monitor.ActionsArgs(action_groups=[self.action_group.id]),
            opts=pulumi.ResourceOptions(parent=self),
        )
