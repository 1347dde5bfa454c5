"""Alert policies equivalent to the AWS alarms, on the function's Cloud Run request metrics.

- Server errors: `run.googleapis.com/request_count` with response_code_class 5xx, summed over
  a 5-minute window across revisions; fires above `server_errors` (default 5).
- Latency: `run.googleapis.com/request_latencies` (a distribution in milliseconds), p99 per
  revision over a 5-minute window, worst revision; fires above `latency_p99_ms` (default 1000).
Both windows slide, so "duration 0s" fires as soon as one window is over the threshold, like a
single 5-minute CloudWatch period. No data means no incident (an idle function is healthy).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from options import children_of

import pulumi_gcp as gcp

WINDOW = "300s"
REQUEST_COUNT = "run.googleapis.com/request_count"
REQUEST_LATENCIES = "run.googleapis.com/request_latencies"


@dataclass(frozen=True)
class MonitoringArgs:
    project: str
    service_name: pulumi.Input[str]
    server_errors: int
    latency_p99_ms: int
    alert_email: str | None


@dataclass(frozen=True)
class _PolicySpec:
    """What differs between the two alert policies; everything else is shared."""

    title: str
    severity: str
    condition: str
    metric: str
    extra: str
    aligner: str
    reducer: str
    threshold: int
    documentation: str


def service_filter(metric: str, service_name: str, extra: str = "") -> str:
    """A Monitoring filter for one metric of one Cloud Run service."""
    parts = [
        f'metric.type = "{metric}"',
        'resource.type = "cloud_run_revision"',
        f'resource.labels.service_name = "{service_name}"',
    ]
    if extra:
        parts.append(extra)
    return " AND ".join(parts)


class Monitoring(pulumi.ComponentResource):
    """Exposes `server_errors`, `latency` (AlertPolicy) and `channel` (or None)."""

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sklearn-inference:gcp:Monitoring", name, None, opts)
        child = children_of(self, opts)

        self.channel = None
        if args.alert_email:
            self.channel = gcp.monitoring.NotificationChannel(
                f"{name}-email",
                project=args.project,
                type="email",
                display_name=f"sklearn-inference alerts ({args.alert_email})",
                labels={"email_address": args.alert_email},
                opts=child,
            )
        channels = [self.channel.id] if self.channel else []
        service = pulumi.Output.from_input(args.service_name)

        def threshold_policy(suffix: str, spec: _PolicySpec) -> gcp.monitoring.AlertPolicy:
            return gcp.monitoring.AlertPolicy(
                f"{name}-{suffix}",
                project=args.project,
                display_name=service.apply(lambda s: f"{s}: {spec.title}"),
                combiner="OR",
                severity=spec.severity,
                conditions=[
                    gcp.monitoring.AlertPolicyConditionArgs(
                        display_name=spec.condition,
                        condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                            filter=service.apply(
                                lambda s: service_filter(spec.metric, s, spec.extra)
                            ),
                            aggregations=[
                                gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                                    alignment_period=WINDOW,
                                    per_series_aligner=spec.aligner,
                                    cross_series_reducer=spec.reducer,
                                    group_by_fields=["resource.labels.service_name"],
                                )
                            ],
                            comparison="COMPARISON_GT",
                            threshold_value=spec.threshold,
                            duration="0s",
                            trigger=gcp.monitoring.AlertPolicyConditionConditionThresholdTriggerArgs(
                                count=1
                            ),
                            evaluation_missing_data="EVALUATION_MISSING_DATA_INACTIVE",
                        ),
                    )
                ],
                alert_strategy=gcp.monitoring.AlertPolicyAlertStrategyArgs(auto_close="1800s"),
                documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                    mime_type="text/markdown", content=spec.documentation
                ),
                notification_channels=channels,
                opts=child,
            )

        self.server_errors = threshold_policy(
            "server-errors",
            _PolicySpec(
                title=f"more than {args.server_errors} 5xx in 5 min",
                severity="ERROR",
                condition="5xx responses",
                metric=REQUEST_COUNT,
                extra='metric.labels.response_code_class = "5xx"',
                aligner="ALIGN_DELTA",
                reducer="REDUCE_SUM",
                threshold=args.server_errors,
                documentation=(
                    "The inference function returned server errors. Check its logs: "
                    "`gcloud functions logs read <name> --gen2 --region <region>`."
                ),
            ),
        )
        self.latency = threshold_policy(
            "latency-p99",
            _PolicySpec(
                title=f"p99 latency above {args.latency_p99_ms} ms",
                severity="WARNING",
                condition="p99 request latency",
                metric=REQUEST_LATENCIES,
                extra="",
                aligner="ALIGN_PERCENTILE_99",
                reducer="REDUCE_MAX",
                threshold=args.latency_p99_ms,
                documentation=(
                    "p99 latency of the inference function is above the threshold. Check "
                    "instance count against maxInstances and the request batch sizes."
                ),
            ),
        )
        self.register_outputs(
            {"server_errors": self.server_errors.name, "latency": self.latency.name}
        )
