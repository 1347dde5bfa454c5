"""Alarms and the dashboard for each model's alias and the API, with one SNS topic for every
alarm and one dashboard for the stack.

`FunctionMetrics` and `ApiMetrics` decide which metrics exist; `InferenceMonitoring` turns them
into alarms and widgets; `stacks.naming` names every alarm. Each model's thresholds are its
settings (`alarm_errors`, `alarm_server_errors`, `alarm_latency_p99_ms`). docs/operate.md,
"Monitoring on AWS", says what each alarm sees and what it does not; keep the two in step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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

from stacks.findings import skip_checkov
from stacks.naming import ModelNames, alarm_name
from stacks.settings import DeploySettings

PERIOD = Duration.minutes(5)
API_5XX_THRESHOLD = 5  # 5xx responses (sum) per 5 minutes
GREATER = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD


def new_alarm(
    scope: Construct,
    concern: str,
    *,
    name: str,
    metric: cloudwatch.IMetric,
    threshold: float,
    description: str,
    periods: int = 1,
    datapoints: int = 1,
    comparison: cloudwatch.ComparisonOperator = GREATER,
    # An idle API has no data points; that is not an outage.
    missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
    low_samples: str | None = None,
) -> cloudwatch.Alarm:
    """Every alarm of the app, stack or release: `datapoints` of `periods` beyond `threshold`."""
    return cloudwatch.Alarm(
        scope,
        "".join(part.title() for part in concern.split("-")) + "Alarm",
        alarm_name=name,
        alarm_description=description,
        metric=metric,
        threshold=threshold,
        comparison_operator=comparison,
        evaluation_periods=periods,
        datapoints_to_alarm=datapoints,
        treat_missing_data=missing,
        evaluate_low_sample_count_percentile=low_samples,
    )


def handler_dimensions(
    function: lambda_.IFunction, settings: DeploySettings, version: str | None = None
) -> dict[str, str]:
    """The dimensions of the handler's EMF metrics: `function_name` is the bare function name
    (no alias); `function_version` (the executed version, "7") only on the per-version set."""
    dimensions = {"service": settings.service_name, "function_name": function.function_name}
    if version is not None:
        dimensions["function_version"] = version
    return dimensions


@dataclass(frozen=True)
class FunctionMetrics:
    """Every metric of one model's function that its alarms and widgets use: Lambda's on the
    alias (Resource=<fn>:live) and the handler's own EMF metrics."""

    invocations: cloudwatch.IMetric
    errors: cloudwatch.IMetric
    server_errors: cloudwatch.IMetric
    health: cloudwatch.IMetric
    throttles: cloudwatch.IMetric
    duration_p50: cloudwatch.IMetric
    duration_p99: cloudwatch.IMetric
    cold_starts: cloudwatch.IMetric
    concurrency: cloudwatch.IMetric
    pc_utilization: cloudwatch.IMetric
    pc_spillover: cloudwatch.IMetric

    @classmethod
    def of(
        cls, *, function: lambda_.IFunction, alias: lambda_.Alias, settings: DeploySettings
    ) -> FunctionMetrics:
        def on_alias(name: str, statistic: str) -> cloudwatch.Metric:
            return alias.metric(name, period=PERIOD, statistic=statistic)

        def emitted_by_handler(name: str, statistic: str) -> cloudwatch.Metric:
            # On the dimension set without the version: one series spans every version.
            return cloudwatch.Metric(
                namespace=settings.metrics_namespace,
                metric_name=name,
                dimensions_map=handler_dimensions(function, settings),
                period=PERIOD,
                statistic=statistic,
            )

        return cls(
            invocations=alias.metric_invocations(period=PERIOD, statistic="Sum"),
            errors=alias.metric_errors(period=PERIOD, statistic="Sum"),
            # One per response of 500 or above that the handler itself returns (model
            # unavailable, prediction failed, internal error), which Lambda's Errors never sees.
            server_errors=emitted_by_handler("ServerErrors", "Sum"),
            # 1 when a {"healthcheck": true} invoke found the model loaded, 0 when not.
            health=emitted_by_handler("HealthCheck", "Minimum"),
            throttles=alias.metric_throttles(period=PERIOD, statistic="Sum"),
            duration_p50=alias.metric_duration(period=PERIOD, statistic="p50"),
            duration_p99=alias.metric_duration(period=PERIOD, statistic="p99"),
            # One per request that waited on an environment's init (handler/metrics.py).
            cold_starts=emitted_by_handler("ColdStart", "Sum"),
            concurrency=on_alias("ConcurrentExecutions", "Maximum"),
            pc_utilization=on_alias("ProvisionedConcurrencyUtilization", "Maximum"),
            pc_spillover=on_alias("ProvisionedConcurrencySpilloverInvocations", "Sum"),
        )


@dataclass(frozen=True)
class ApiMetrics:
    """The HTTP API's metrics, shared by every model behind it."""

    requests: cloudwatch.IMetric
    latency_p50: cloudwatch.IMetric
    latency_p99: cloudwatch.IMetric
    integration_latency_p99: cloudwatch.IMetric
    client_errors: cloudwatch.IMetric
    server_errors: cloudwatch.IMetric

    @classmethod
    def of(cls, api: apigwv2.HttpApi) -> ApiMetrics:
        return cls(
            requests=api.metric_count(period=PERIOD, statistic="Sum"),
            latency_p50=api.metric_latency(period=PERIOD, statistic="p50"),
            latency_p99=api.metric_latency(period=PERIOD, statistic="p99"),
            integration_latency_p99=api.metric_integration_latency(period=PERIOD, statistic="p99"),
            client_errors=api.metric_client_error(period=PERIOD, statistic="Sum"),
            server_errors=api.metric_server_error(period=PERIOD, statistic="Sum"),
        )


@dataclass(frozen=True)
class MonitoredModel:
    """One model as its alarms and widgets see it: its names, its settings (thresholds, warm
    pool, health check), its metrics and its function's log group."""

    model: str  # its name in models.toml
    names: ModelNames
    settings: DeploySettings
    metrics: FunctionMetrics
    log_group: logs.ILogGroup


class InferenceMonitoring(Construct):
    """The alarm topic (plus optional e-mail), each model's alarms and the API's, and the
    dashboard.

    Exposes `topic`, `alarms` (by concern: `errors` for the primary model, `wine-errors` for
    another, and `api-5xx`) and `dashboard`.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: DeploySettings,
        api: ApiMetrics,
        models: Sequence[MonitoredModel],
    ) -> None:
        super().__init__(scope, id)
        stack_name = Stack.of(self).stack_name
        self.topic = sns.Topic(
            self, "AlarmTopic", display_name=f"{settings.stack_name} alarms", enforce_ssl=True
        )
        # No server-side encryption, for the reason the skip gives.
        skip_checkov(
            self.topic,
            {
                "CKV_AWS_26": "The topic carries only alarm state changes (names, metrics, "
                "thresholds). CloudWatch cannot publish to a topic encrypted with the AWS-managed "
                "SNS key, and a customer-managed key would be one more policy that can silently "
                "drop every alarm. The topic policy refuses publishing without TLS.",
            },
        )
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

        self._stack_name = stack_name
        # Each model's function alarms, the API's, then those a model's options add: the order
        # CloudFormation has always seen, so that one model's template never moves.
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        for model in models:
            self._function_alarms(model)
        # A count, like the other alarms, not a rate: at this API's volumes a 5xx rate pages on
        # one failed request out of two, while a count of 5 also catches what the handler
        # never sees (throttles, integration timeouts, crashes) when traffic is heavy. The
        # dashboard graphs the rate beside it.
        self._alarm(
            "api-5xx",
            api.server_errors,
            API_5XX_THRESHOLD,
            f"More than {API_5XX_THRESHOLD} 5xx responses from the HTTP API in 5 minutes.",
        )
        for model in models:
            self._option_alarms(model)

        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(3))
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(
                title="Alarms", alarms=list(self.alarms.values()), width=24, height=3
            ),
            *(widget for model in models for widget in _model_widgets(model, len(models) > 1)),
            *_api_widgets(api),
        )

    def _alarm(
        self,
        concern: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        description: str,
        **rule: Any,
    ) -> None:
        created = new_alarm(
            self,
            concern,
            name=alarm_name(self._stack_name, concern),
            metric=metric,
            threshold=threshold,
            description=description,
            **rule,
        )
        created.add_alarm_action(cw_actions.SnsAction(self.topic))
        created.add_ok_action(cw_actions.SnsAction(self.topic))
        self.alarms[concern] = created

    def _function_alarms(self, model: MonitoredModel) -> None:
        """What every model's function is held to, at the model's own thresholds."""
        m, s, names = model.metrics, model.settings, model.names
        # Timeouts, out-of-memory and crashes: the handler itself never raises.
        self._alarm(
            names.concern("errors"),
            m.errors,
            s.alarm_errors,
            names.label(
                f"More than {s.alarm_errors} function errors (timeouts, out-of-memory, crashes) "
                "in 5 minutes on the live alias."
            ),
        )
        # What Errors cannot see: a missing or tampered model (503 on every request) or a
        # failing prediction (500) is an answer, not an exception.
        self._alarm(
            names.concern("server-errors"),
            m.server_errors,
            s.alarm_server_errors,
            names.label(
                f"More than {s.alarm_server_errors} 5xx responses from the handler itself "
                "(model unavailable, prediction failed, internal error) in 5 minutes."
            ),
        )
        # At low traffic p99 is the single slowest request, so a percentile needs samples:
        # `ignore` holds the state while a period has fewer than 1000 (CloudWatch's rule for
        # p99: 10/(1-0.99)), and 2 of 3 periods makes one slow period not enough.
        self._alarm(
            names.concern("duration-p99"),
            m.duration_p99,
            s.alarm_latency_p99_ms,
            names.label(
                f"p99 duration above {s.alarm_latency_p99_ms} ms in 2 of 3 five-minute periods "
                "on the live alias (periods with under 1000 requests are not judged)."
            ),
            periods=3,
            datapoints=2,
            low_samples="ignore",
        )
        self._alarm(
            names.concern("throttles"),
            m.throttles,
            0,
            names.label(
                "The live alias throttled invocations (reserved concurrency or the account's "
                "limit reached)."
            ),
        )

    def _option_alarms(self, model: MonitoredModel) -> None:
        """What a warm pool and a scheduled health check add."""
        m, s, names = model.metrics, model.settings, model.names
        if s.warm:
            # Target tracking needs 3 one-minute points above target, then a minute or two to
            # initialise environments, so every burst spills over for about 5 minutes. 15
            # minutes of spill-over means the autoscaler is at its maximum or cannot keep up.
            self._alarm(
                names.concern("pc-spillover"),
                m.pc_spillover,
                0,
                names.label(
                    "Invocations spilled over provisioned concurrency onto on-demand (cold) "
                    "environments in each of 3 five-minute periods: the live alias is "
                    "under-provisioned for sustained traffic."
                ),
                periods=3,
                datapoints=3,
            )
        if s.health_check_minutes:
            # Missing data breaches: no healthy answer in 10 minutes pages, with or without
            # traffic, whether the model is unhealthy, the invoke fails or the schedule stopped.
            self._alarm(
                names.concern("health-check"),
                m.health,
                1,
                names.label(
                    "No healthy answer from the scheduled health check of the live alias in 10 "
                    "minutes: the model is not loaded, the invoke failed, or the checks stopped."
                ),
                periods=2,
                datapoints=2,
                comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                missing=cloudwatch.TreatMissingData.BREACHING,
            )


def _graph(title: str, *left: cloudwatch.IMetric, width: int = 8) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=list(left), width=width, height=6)


def _model_widgets(model: MonitoredModel, headed: bool) -> list[cloudwatch.IWidget]:
    """One model's rows; `headed` (a stack serving several) puts its name above them."""
    m, s, label = model.metrics, model.settings, model.names.label
    widgets: list[cloudwatch.IWidget] = [
        _graph(label("Invocations (live)"), m.invocations),
        _graph(
            label("Errors, handler 5xx, throttles (live)"), m.errors, m.server_errors, m.throttles
        ),
        _graph(label("Duration p50 / p99 (live, ms)"), m.duration_p50, m.duration_p99),
        _graph(label("Cold starts (the handler's ColdStart metric)"), m.cold_starts),
        cloudwatch.LogQueryWidget(
            title=label("Init duration of cold starts (REPORT lines)"),
            log_group_names=[model.log_group.log_group_name],
            query_lines=[
                "filter @type = 'REPORT' and ispresent(@initDuration)",
                "stats count() as coldStarts, avg(@initDuration) as avgInitMs, "
                "max(@initDuration) as maxInitMs by bin(5m)",
            ],
            view=cloudwatch.LogQueryVisualizationType.LINE,
            width=8,
            height=6,
        ),
        _graph(label("Concurrent executions (live)"), m.concurrency),
    ]
    if s.warm:
        widgets += [
            _graph(label("Provisioned concurrency utilization"), m.pc_utilization, width=12),
            _graph(label("Provisioned concurrency spillover"), m.pc_spillover, width=12),
        ]
    if s.health_check_minutes:
        widgets.append(
            _graph(label("Health check (1 healthy, 0 not, gap: no check)"), m.health, width=24)
        )
    if headed:
        heading = f"### Model `{model.model}`"
        widgets.insert(0, cloudwatch.TextWidget(markdown=heading, width=24, height=1))
    return widgets


def _api_widgets(m: ApiMetrics) -> list[cloudwatch.IWidget]:
    return [
        _graph("API requests", m.requests),
        _graph(
            "API latency p50 / p99, integration p99 (ms)",
            m.latency_p50,
            m.latency_p99,
            m.integration_latency_p99,
        ),
        _graph("API 4xx / 5xx", m.client_errors, m.server_errors, width=4),
        _graph(
            "API 5xx rate (%)",
            cloudwatch.MathExpression(
                expression="100 * errors / requests",
                using_metrics={"errors": m.server_errors, "requests": m.requests},
                label="5xx / requests",
                period=PERIOD,
            ),
            width=4,
        ),
    ]
