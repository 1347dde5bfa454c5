"""Alert policies equivalent to the AWS alarms, an uptime check, and a dashboard (dashboard.py),
on the metrics and logs of the function's Cloud Run service (metrics.py).

What each policy sees (docs/operate.md, "Monitoring on Google Cloud", says what it does not):
- Server errors: `run.googleapis.com/request_count` with `response_code_class = "5xx"`, summed
  over 5 minutes across revisions; fires above `server_errors` (default 5). Cloud Run labels
  every response by the status the container returned, so the handler's own 503
  `model_unavailable` and 500s count, as do Cloud Run's own 5xx (crashed instance, timeout).
- Latency: the service's p99 of `run.googleapis.com/request_latencies` over 5 minutes, computed
  as Google's Cloud Run dashboards do (ALIGN_DELTA per series, then REDUCE_PERCENTILE_99 across
  revisions and response codes); fires when it stays above `latency_p99_ms` (default 1000) for
  10 minutes, so a single slow request at low traffic does not page. Google documents the metric
  as excluding container start-up: like Lambda's Duration, it does not see a cold start's wait.
- Refused requests: the request-log entries of requests Cloud Run refused because no instance
  was free (metrics.refused_requests_filter: request_count never counts those); a log-match
  condition, so it fires on the first one, like the AWS throttles alarm, with nothing to wait
  for (a log-based metric is unknown to alerting for up to 10 minutes after it is created).
- Uptime: a check of `/health` every minute from Google's checker regions (uptime.py); fires
  when more than one location fails, or when the check stops reporting (missing data is an
  incident), like the AWS health-check alarm whose missing data is breaching.
The metric policies treat no data as no incident (an idle function is healthy); the uptime check
is what sees an idle outage. The metric and uptime policies notify when an incident opens and
again when it closes, like an alarm's OK action; Google sends a log-match policy's notification
when it opens only, and closes its incident after `auto_close`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from dashboard import dashboard_json
from metrics import (
    GROUP_BY_SERVICE,
    REQUEST_COUNT,
    REQUEST_LATENCIES,
    SERVER_ERRORS,
    refused_requests_filter,
    service_filter,
)
from options import children_of
from uptime import UptimeCheck, UptimeCheckArgs

import pulumi_gcp as gcp

WINDOW = "300s"
MONITORING_TYPE = "sklearn-inference:gcp:Monitoring"
# A log-match policy notifies at most once per this period while refusals go on.
REFUSED_NOTIFY_PERIOD = "300s"


@dataclass(frozen=True)
class MonitoringArgs:
    project: str
    region: str
    stack: str
    function_name: str  # also the name of its Cloud Run service
    max_instances: int
    concurrency: int
    server_errors: int
    latency_p99_ms: int
    model: str  # the model it serves: rollback and output commands name it
    # The Cloud Run service's own URL (https://...run.app), which the uptime check calls.
    service_uri: pulumi.Input[str]
    # Private: the uptime check sends the Monitoring service agent's identity token.
    public: bool
    # The stack's e-mail channel (email_channel()), which every model's policies notify.
    channel: pulumi.Input[str] | None = None
    # What the uptime check waits for (the agent's invoker grant: it fails until it holds).
    uptime_after: tuple[pulumi.Resource, ...] = ()


@dataclass(frozen=True)
class PolicySpec:
    """What differs between the alert policies; everything else is shared."""

    title: str
    severity: str
    condition: str
    metric: str
    extra: str
    aligner: str
    reducer: str
    threshold: int
    duration: str
    documentation: str


def logs_command(args: MonitoringArgs, condition: str) -> str:
    """A `gcloud logging read` of the function's log lines that match `condition`."""
    query = (
        f'resource.type="cloud_run_revision" AND '
        f'resource.labels.service_name="{args.function_name}" AND {condition}'
    )
    return f"gcloud logging read '{query}' --project {args.project} --freshness 1h --limit 50"


def email_channel(
    project: str, email: str, opts: pulumi.ResourceOptions
) -> gcp.monitoring.NotificationChannel:
    """The stack's one e-mail channel, `alerts-email`, which every model's policies notify.

    The stack owns it, not a model: it exists exactly while `alertEmail` is set, whichever
    models are declared, so adding, removing or reordering models never replaces it. A stack
    deployed before models.toml had it as its only Monitoring component's child
    (`monitoring-email`); the alias keeps that channel instead of replacing it.
    """
    return gcp.monitoring.NotificationChannel(
        "alerts-email",
        project=project,
        type="email",
        display_name=f"sklearn-inference alerts ({email})",
        labels={"email_address": email},
        opts=pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(
                aliases=[
                    pulumi.Alias(
                        name="monitoring-email",
                        parent=pulumi.create_urn("monitoring", MONITORING_TYPE),
                    )
                ]
            ),
        ),
    )


@dataclass(frozen=True)
class Wording:
    """How a notification names the function and what to run, for one model or the only one."""

    where: str
    rollback: str
    scale: str
    dashboard: str
    dashboard_url: str


def wording(args: MonitoringArgs) -> Wording:
    where = f"**{args.function_name}** (region {args.region}, project {args.project})"
    rollback = f"make rollback-gcp STACK={args.stack} MODEL={args.model}"
    scale = (
        f"`pulumi config set maxInstances ...`, or max_instances under [models.{args.model}] "
        "in models.toml"
    )
    dashboard = f"the {args.model} dashboard"
    dashboard_url = f"`pulumi stack output --json models`: {args.model}.dashboard_url"
    return Wording(where, rollback, scale, dashboard, dashboard_url)


def policy_specs(args: MonitoringArgs) -> dict[str, PolicySpec]:
    """The metric-threshold policies by resource-name suffix, their documentation naming the
    real function."""
    words = wording(args)
    where, rollback, dashboard, dashboard_url = (
        words.where,
        words.rollback,
        words.dashboard,
        words.dashboard_url,
    )
    return {
        "server-errors": PolicySpec(
            title=f"more than {args.server_errors} 5xx in 5 min",
            severity="ERROR",
            condition="5xx responses",
            metric=REQUEST_COUNT,
            extra=SERVER_ERRORS,
            aligner="ALIGN_DELTA",
            reducer="REDUCE_SUM",
            threshold=args.server_errors,
            duration="0s",
            documentation=(
                f"{where} answered more than {args.server_errors} requests with a 5xx status "
                "in 5 minutes: the handler's own 503 `model_unavailable` (the model failed to "
                "load or verify) and 500 `prediction_failed` / `internal_error`, or Cloud Run's "
                "own (a crashed or out-of-memory instance, a timeout).\n\n"
                f"- Errors in the logs: `{logs_command(args, 'severity>=ERROR')}`\n"
                f"- Just released? Move traffic back to the previous revision: `{rollback}`"
            ),
        ),
        "latency-p99": PolicySpec(
            title=f"p99 latency above {args.latency_p99_ms} ms",
            severity="WARNING",
            condition="service p99 request latency",
            metric=REQUEST_LATENCIES,
            extra="",
            aligner="ALIGN_DELTA",
            reducer="REDUCE_PERCENTILE_99",
            threshold=args.latency_p99_ms,
            duration="600s",
            documentation=(
                f"The p99 latency of {where}, across all its revisions, stayed above "
                f"{args.latency_p99_ms} ms in every 5-minute window for 10 minutes. Cloud Run "
                "measures it in front of the container but leaves out container start-up, so "
                "a cold start's wait is not in it (see the startup latency chart).\n\n"
                f"- Instance count against maxInstances ({args.max_instances}) and container "
                f"startup latency: {dashboard} ({dashboard_url})\n"
                "- Batch sizes: the `rows` and `latency_ms` fields of the request log lines\n"
                f"- Slow requests: `{logs_command(args, 'jsonPayload.latency_ms>500')}`"
            ),
        ),
    }


def refused_documentation(args: MonitoringArgs, where: str, scale: str, dashboard: str) -> str:
    logs = (
        f"gcloud logging read '{refused_requests_filter(args.project, args.function_name)}' "
        f"--project {args.project} --freshness 1h --limit 50"
    )
    return (
        f"Cloud Run refused requests to {where}: no instance was free. Either all "
        f"{args.max_instances} instances (maxInstances) were serving {args.concurrency} requests "
        "each (concurrency), or traffic rose faster than new instances started. Callers got 429 "
        "(or 500 during a spike); the handler never answers 429, and Cloud Run's request "
        "metrics do not count these requests at all.\n\n"
        f"- Raise maxInstances or concurrency ({scale}), or minInstances for a steeper ramp\n"
        f"- Instance count and concurrency per instance: {dashboard}\n"
        f"- The refused requests: `{logs}`"
    )


def uptime_documentation(args: MonitoringArgs, where: str, rollback: str) -> str:
    return (
        f"GET /health of {where} failed from more than one checker location, or the uptime "
        "check stopped reporting. The function may be down while nobody calls it: the model "
        "failed to load, the serving revision cannot start, or callers cannot reach it.\n\n"
        f"- Errors in the logs: `{logs_command(args, 'severity>=ERROR')}`\n"
        f"- Just released? Move traffic back to the previous revision: `{rollback}`"
    )


class Monitoring(pulumi.ComponentResource):
    """One model's alert policies, uptime check and dashboard.

    Exposes `policies` (AlertPolicy by suffix), `uptime` (its UptimeCheck), `dashboard` and
    `dashboard_url` (its console page).
    """

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(MONITORING_TYPE, name, None, opts)
        child = children_of(self, opts)
        channels = [args.channel] if args.channel is not None else []
        console = f"https://console.cloud.google.com/run/detail/{args.region}/{args.function_name}"
        words = wording(args)

        def policy(
            suffix: str,
            title: str,
            severity: str,
            condition: gcp.monitoring.AlertPolicyConditionArgs,
            documentation: str,
            strategy: gcp.monitoring.AlertPolicyAlertStrategyArgs | None = None,
        ) -> gcp.monitoring.AlertPolicy:
            return gcp.monitoring.AlertPolicy(
                f"{name}-{suffix}",
                project=args.project,
                display_name=f"{args.function_name}: {title}",
                combiner="OR",
                severity=severity,
                conditions=[condition],
                alert_strategy=strategy
                or gcp.monitoring.AlertPolicyAlertStrategyArgs(
                    auto_close="1800s", notification_prompts=["OPENED", "CLOSED"]
                ),
                documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                    mime_type="text/markdown",
                    subject=f"[{args.function_name}] {title}",
                    content=documentation,
                    links=[
                        gcp.monitoring.AlertPolicyDocumentationLinkArgs(
                            display_name="Cloud Run metrics",
                            url=f"{console}/metrics?project={args.project}",
                        ),
                        gcp.monitoring.AlertPolicyDocumentationLinkArgs(
                            display_name="Cloud Run logs",
                            url=f"{console}/logs?project={args.project}",
                        ),
                    ],
                ),
                notification_channels=channels,
                opts=child,
            )

        specs = policy_specs(args)
        self.policies = {
            suffix: policy(
                suffix, spec.title, spec.severity, threshold(args, spec), spec.documentation
            )
            for suffix, spec in specs.items()
        }
        titles = {suffix: spec.title for suffix, spec in specs.items()}

        titles["throttled"] = "requests refused for lack of instances"
        self.policies["throttled"] = policy(
            "throttled",
            titles["throttled"],
            "ERROR",
            gcp.monitoring.AlertPolicyConditionArgs(
                display_name="request-log entries of refused requests",
                condition_matched_log=gcp.monitoring.AlertPolicyConditionConditionMatchedLogArgs(
                    filter=refused_requests_filter(args.project, args.function_name),
                ),
            ),
            refused_documentation(args, words.where, words.scale, words.dashboard),
            # A log-match policy notifies on opening only, at most once per period.
            gcp.monitoring.AlertPolicyAlertStrategyArgs(
                auto_close="1800s",
                notification_prompts=["OPENED"],
                notification_rate_limit=gcp.monitoring.AlertPolicyAlertStrategyNotificationRateLimitArgs(
                    period=REFUSED_NOTIFY_PERIOD
                ),
            ),
        )

        self.uptime = UptimeCheck(
            f"{name}-uptime",
            UptimeCheckArgs(
                project=args.project,
                function_name=args.function_name,
                service_uri=args.service_uri,
                authenticated=not args.public,
            ),
            pulumi.ResourceOptions(parent=self, depends_on=[*child.depends_on, *args.uptime_after]),
        )
        titles["uptime"] = "/health uptime check failing or silent"
        self.policies["uptime"] = policy(
            "uptime",
            titles["uptime"],
            "CRITICAL",
            self.uptime.condition,
            uptime_documentation(args, words.where, words.rollback),
        )

        by_title = {titles[suffix]: p.name for suffix, p in self.policies.items()}
        self.dashboard = gcp.monitoring.Dashboard(
            f"{name}-dashboard",
            project=args.project,
            dashboard_json=pulumi.Output.all(**by_title).apply(
                lambda names: dashboard_json(args, names)
            ),
            opts=child,
        )
        # The resource id is projects/<number>/dashboards/<id>.
        self.dashboard_url = self.dashboard.id.apply(
            lambda id_: (
                "https://console.cloud.google.com/monitoring/dashboards/custom/"
                f"{id_.rsplit('/', 1)[-1]}?project={args.project}"
            )
        )
        self.register_outputs(
            {"dashboard_url": self.dashboard_url}
            | {suffix: policy.name for suffix, policy in self.policies.items()}
        )


def threshold(args: MonitoringArgs, spec: PolicySpec) -> gcp.monitoring.AlertPolicyConditionArgs:
    """A metric-threshold condition on the function's service; no data is no incident."""
    return gcp.monitoring.AlertPolicyConditionArgs(
        display_name=spec.condition,
        condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
            filter=service_filter(spec.metric, args.function_name, spec.extra),
            aggregations=[
                gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                    alignment_period=WINDOW,
                    per_series_aligner=spec.aligner,
                    cross_series_reducer=spec.reducer,
                    group_by_fields=GROUP_BY_SERVICE,
                )
            ],
            comparison="COMPARISON_GT",
            threshold_value=spec.threshold,
            duration=spec.duration,
            trigger=gcp.monitoring.AlertPolicyConditionConditionThresholdTriggerArgs(count=1),
            evaluation_missing_data="EVALUATION_MISSING_DATA_INACTIVE",
        ),
    )
