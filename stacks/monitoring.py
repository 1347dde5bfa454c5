"""Alarms and the dashboard for the alias and the API, with one SNS topic for every alarm.

`InferenceMetrics` decides which metrics exist; `InferenceMonitoring` turns them into alarms and
widgets; `stacks.naming.alarm_name` names every alarm.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from stacks.naming import alarm_name
from stacks.settings import DeploySettings

PERIOD = Duration.minutes(5)
ERRORS_THRESHOLD = 5  # function errors (sum) per 5 minutes
DURATION_P99_THRESHOLD_MS = 1000  # p99 duration per 5 minutes
API_5XX_THRESHOLD = 5  # 5xx responses (sum) per 5 minutes


@dataclass(frozen=True)
class InferenceMetrics:
    """Every metric the alarms and the dashboard use, all on the alias (Resource=<fn>:live)."""

    invocations: cloudwatch.IMetric
    errors: cloudwatch.IMetric
    throttles: cloudwatch.IMetric
    duration_p50: cloudwatch.IMetric
    duration_p99: cloudwatch.IMetric
    cold_starts: cloudwatch.IMetric
    concurrency: cloudwatch.IMetric
    pc_utilization: cloudwatch.IMetric
    pc_spillover: cloudwatch.IMetric
    api_requests: cloudwatch.IMetric
    api_latency_p50: cloudwatch.IMetric
    api_latency_p99: cloudwatch.IMetric
    api_integration_latency_p99: cloudwatch.IMetric
    api_4xx: cloudwatch.IMetric
    api_5xx: cloudwatch.IMetric

    @classmethod
    def of(
        cls,
        *,
        function: lambda_.IFunction,
        alias: lambda_.Alias,
        api: apigwv2.HttpApi,
        settings: DeploySettings,
    ) -> InferenceMetrics:
        def on_alias(name: str, statistic: str) -> cloudwatch.Metric:
            return alias.metric(name, period=PERIOD, statistic=statistic)

        return cls(
            invocations=alias.metric_invocations(period=PERIOD, statistic="Sum"),
            errors=alias.metric_errors(period=PERIOD, statistic="Sum"),
            throttles=alias.metric_throttles(period=PERIOD, statistic="Sum"),
            duration_p50=alias.metric_duration(period=PERIOD, statistic="p50"),
            duration_p99=alias.metric_duration(period=PERIOD, statistic="p99"),
            # Emitted by the handler's Powertools Metrics (capture_cold_start_metric): one per
            # new execution environment, dimensions function_name (the bare function name, not
            # the alias) and service.
            cold_starts=cloudwatch.Metric(
                namespace=settings.metrics_namespace,
                metric_name="ColdStart",
                dimensions_map={
                    "function_name": function.function_name,
                    "service": settings.service_name,
                },
                period=PERIOD,
                statistic="Sum",
            ),
            concurrency=on_alias("ConcurrentExecutions", "Maximum"),
            pc_utilization=on_alias("ProvisionedConcurrencyUtilization", "Maximum"),
            pc_spillover=on_alias("ProvisionedConcurrencySpilloverInvocations", "Sum"),
            api_requests=api.metric_count(period=PERIOD, statistic="Sum"),
            api_latency_p50=api.metric_latency(period=PERIOD, statistic="p50"),
            api_latency_p99=api.metric_latency(period=PERIOD, statistic="p99"),
            api_integration_latency_p99=api.metric_integration_latency(
                period=PERIOD, statistic="p99"
            ),
            api_4xx=api.metric_client_error(period=PERIOD, statistic="Sum"),
            api_5xx=api.metric_server_error(period=PERIOD, statistic="Sum"),
        )


class InferenceMonitoring(Construct):
    """The alarm topic (plus optional e-mail), the alarms, and the dashboard.

    Exposes `topic`, `alarms` (by concern) and `dashboard`.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: DeploySettings,
        metrics: InferenceMetrics,
        function_log_group: logs.ILogGroup,
    ) -> None:
        super().__init__(scope, id)
        stack_name = Stack.of(self).stack_name

        self.topic = sns.Topic(
            self, "AlarmTopic", display_name=f"{settings.stack_name} alarms", enforce_ssl=True
        )
        # No server-side encryption: the topic carries only alarm state changes (names, metrics,
        # thresholds), and CloudWatch cannot publish to a topic encrypted with the AWS-managed
        # SNS key; a customer-managed key would be one more policy that can silently drop alarms.
        # enforce_ssl gives the topic an explicit policy, which replaces SNS's default one (the
        # one that lets same-account sources publish). CloudWatch, a service principal with no
        # identity policy of its own, then needs this statement or every notification is
        # dropped; it is scoped to this stack's alarms by the naming helper's pattern.
        stack = Stack.of(self)
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowThisStacksAlarmsToPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name=alarm_name(stack_name, "*"),
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    },
                    "StringEquals": {"aws:SourceAccount": stack.account},
                },
            )
        )
        if settings.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(settings.alarm_email))

        def alarm(
            concern: str, metric: cloudwatch.IMetric, threshold: float, description: str
        ) -> cloudwatch.Alarm:
            created = cloudwatch.Alarm(
                self,
                "".join(part.title() for part in concern.split("-")) + "Alarm",
                alarm_name=alarm_name(stack_name, concern),
                alarm_description=description,
                metric=metric,
                threshold=threshold,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                datapoints_to_alarm=1,
                # An idle API has no data points; that is not an outage.
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            created.add_alarm_action(cw_actions.SnsAction(self.topic))
            created.add_ok_action(cw_actions.SnsAction(self.topic))
            return created

        self.alarms: dict[str, cloudwatch.Alarm] = {
            "errors": alarm(
                "errors",
                metrics.errors,
                ERRORS_THRESHOLD,
                f"More than {ERRORS_THRESHOLD} function errors in 5 minutes on the live alias.",
            ),
            "duration-p99": alarm(
                "duration-p99",
                metrics.duration_p99,
                DURATION_P99_THRESHOLD_MS,
                f"p99 duration above {DURATION_P99_THRESHOLD_MS} ms over 5 minutes on the live "
                "alias.",
            ),
            "throttles": alarm(
                "throttles",
                metrics.throttles,
                0,
                "The live alias throttled invocations (concurrency limit reached).",
            ),
            "api-5xx": alarm(
                "api-5xx",
                metrics.api_5xx,
                API_5XX_THRESHOLD,
                f"More than {API_5XX_THRESHOLD} 5xx responses from the HTTP API in 5 minutes.",
            ),
        }
        if settings.provisioned_concurrency > 0:
            self.alarms["pc-spillover"] = alarm(
                "pc-spillover",
                metrics.pc_spillover,
                0,
                "Invocations spilled over provisioned concurrency onto on-demand (cold) "
                "environments: the live alias is under-provisioned.",
            )

        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(3))
        self.dashboard.add_widgets(*_widgets(settings, metrics, self.alarms, function_log_group))


def _widgets(
    settings: DeploySettings,
    m: InferenceMetrics,
    alarms: dict[str, cloudwatch.Alarm],
    function_log_group: logs.ILogGroup,
) -> list[cloudwatch.IWidget]:
    def graph(title: str, *left: cloudwatch.IMetric, width: int = 8) -> cloudwatch.GraphWidget:
        return cloudwatch.GraphWidget(title=title, left=list(left), width=width, height=6)

    widgets: list[cloudwatch.IWidget] = [
        cloudwatch.AlarmStatusWidget(
            title="Alarms", alarms=list(alarms.values()), width=24, height=3
        ),
        graph("Invocations (live)", m.invocations),
        graph("Errors and throttles (live)", m.errors, m.throttles),
        graph("Duration p50 / p99 (live, ms)", m.duration_p50, m.duration_p99),
        graph("Cold starts (Powertools ColdStart)", m.cold_starts),
        cloudwatch.LogQueryWidget(
            title="Init duration of cold starts (REPORT lines)",
            log_group_names=[function_log_group.log_group_name],
            query_lines=[
                "filter @type = 'REPORT' and ispresent(@initDuration)",
                "stats count() as coldStarts, avg(@initDuration) as avgInitMs, "
                "max(@initDuration) as maxInitMs by bin(5m)",
            ],
            view=cloudwatch.LogQueryVisualizationType.LINE,
            width=8,
            height=6,
        ),
        graph("Concurrent executions (live)", m.concurrency),
    ]
    if settings.provisioned_concurrency > 0:
        widgets += [
            graph("Provisioned concurrency utilization", m.pc_utilization, width=12),
            graph("Provisioned concurrency spillover", m.pc_spillover, width=12),
        ]
    widgets += [
        graph("API requests", m.api_requests),
        graph(
            "API latency p50 / p99, integration p99 (ms)",
            m.api_latency_p50,
            m.api_latency_p99,
            m.api_integration_latency_p99,
        ),
        graph("API 4xx / 5xx", m.api_4xx, m.api_5xx),
    ]
    return widgets
