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

        self.server_errors = gcp.monitoring.AlertPolicy(
            f"{name}-server-errors",
            project=args.project,
            display_name=service.apply(
                lambda s: f"{s}: more than {args.server_errors} 5xx in 5 min"
            ),
            combiner="OR",
            severity="ERROR",
            conditions=[
                gcp.monitoring.AlertPolicyConditionArgs(
                    display_name="5xx responses",
                    condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                        filter=service.apply(
                            lambda s: service_filter(
                                REQUEST_COUNT, s, 'metric.labels.response_code_class = "5xx"'
                            )
                        ),
                        aggregations=[
                            gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                                alignment_period=WINDOW,
                                per_series_aligner="ALIGN_DELTA",
                                cross_series_reducer="REDUCE_SUM",
                                group_by_fields=["resource.labels.service_name"],
                            )
                        ],
                        comparison="COMPARISON_GT",
                        threshold_value=args.server_errors,
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
                mime_type="text/markdown",
                content=(
                    "The inference function returned server errors. Check its logs: "
                    "`gcloud functions logs read <name> --gen2 --region <region>`."
                ),
            ),
            notification_channels=channels,
            opts=child,
        )
        self.latency = gcp.monitoring.AlertPolicy(
            f"{name}-latency-p99",
            project=args.project,
            display_name=service.apply(
                lambda s: f"{s}: p99 latency above {args.latency_p99_ms} ms"
            ),
            combiner="OR",
            severity="WARNING",
            conditions=[
                gcp.monitoring.AlertPolicyConditionArgs(
                    display_name="p99 request latency",
                    condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                        filter=service.apply(lambda s: service_filter(REQUEST_LATENCIES, s)),
                        aggregations=[
                            gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                                alignment_period=WINDOW,
                                per_series_aligner="ALIGN_PERCENTILE_99",
                                cross_series_reducer="REDUCE_MAX",
                                group_by_fields=["resource.labels.service_name"],
                            )
                        ],
                        comparison="COMPARISON_GT",
                        threshold_value=args.latency_p99_ms,
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
                mime_type="text/markdown",
                content=(
                    "p99 latency of the inference function is above the threshold. Check "
                    "instance count against maxInstances and the request batch sizes."
                ),
            ),
            notification_channels=channels,
            opts=child,
        )
        self.register_outputs(
            {"server_errors": self.server_errors.name, "latency": self.latency.name}
        )
