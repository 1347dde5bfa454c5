"""An uptime check of a function's `/health`, and the alert condition on it: the counterpart of
the AWS stack's scheduled health check, whose alarm treats missing data as breaching
(stacks/health.py). Request metrics go silent while nobody calls; this check does not.

The check calls the Cloud Run service's own URL (`https://<service>-<hash>.<region>.run.app`)
every minute from Google's checker regions, so it sees what callers see: whichever revisions
serve, through Cloud Run's front end and IAM. For a private function it sends an identity token
of the Monitoring service agent (`service_agent_authentication`, OIDC_TOKEN), which access.py
grants roles/run.invoker on the service; without that grant every check fails with 403.

The condition fires when more than one location fails in a 5-minute window (one location's
network trouble does not page), and when no location reports at all (missing data is an
incident: a deleted check or a stopped checker must not look healthy).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from metrics import CHECK_PASSED
from options import children_of

import pulumi_gcp as gcp

HEALTH_PATH = "/health"
PERIOD = "60s"
TIMEOUT = "10s"
WINDOW = "300s"
# Locations that may fail before the condition fires.
TOLERATED_FAILURES = 1


@dataclass(frozen=True)
class UptimeCheckArgs:
    project: str
    function_name: str
    service_uri: pulumi.Input[str]  # https://...run.app
    authenticated: bool  # send the Monitoring service agent's identity token


def host_of(uri: str) -> str:
    """`https://fn-abc-uc.a.run.app/` -> `fn-abc-uc.a.run.app`."""
    return uri.split("://", 1)[-1].split("/", 1)[0]


class UptimeCheck(pulumi.ComponentResource):
    """Exposes `check` (the UptimeCheckConfig) and `condition` (an alert condition on it)."""

    def __init__(
        self, name: str, args: UptimeCheckArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("sklearn-inference:gcp:UptimeCheck", name, None, opts)
        auth = (
            gcp.monitoring.UptimeCheckConfigHttpCheckServiceAgentAuthenticationArgs(
                type="OIDC_TOKEN"
            )
            if args.authenticated
            else None
        )
        self.check = gcp.monitoring.UptimeCheckConfig(
            f"{name}-check",
            project=args.project,
            display_name=f"{args.function_name} {HEALTH_PATH}",
            period=PERIOD,
            timeout=TIMEOUT,
            http_check=gcp.monitoring.UptimeCheckConfigHttpCheckArgs(
                path=HEALTH_PATH,
                port=443,
                use_ssl=True,
                validate_ssl=True,
                request_method="GET",
                service_agent_authentication=auth,
                accepted_response_status_codes=[
                    gcp.monitoring.UptimeCheckConfigHttpCheckAcceptedResponseStatusCodeArgs(
                        status_class="STATUS_CLASS_2XX"
                    )
                ],
            ),
            # /health answers 200 with status "ok" only while the model is loaded and verified.
            content_matchers=[
                gcp.monitoring.UptimeCheckConfigContentMatcherArgs(
                    content='"status":"ok"', matcher="CONTAINS_STRING"
                )
            ],
            monitored_resource=gcp.monitoring.UptimeCheckConfigMonitoredResourceArgs(
                type="uptime_url",
                labels={
                    "project_id": args.project,
                    "host": pulumi.Output.from_input(args.service_uri).apply(host_of),
                },
            ),
            user_labels={"app": "sklearn-inference"},
            opts=children_of(self, opts),
        )
        self.condition = gcp.monitoring.AlertPolicyConditionArgs(
            display_name=f"{HEALTH_PATH} failing from more than {TOLERATED_FAILURES} location",
            condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                filter=self.check.uptime_check_id.apply(check_filter),
                aggregations=[
                    gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                        alignment_period=WINDOW,
                        per_series_aligner="ALIGN_NEXT_OLDER",
                        cross_series_reducer="REDUCE_COUNT_FALSE",
                        group_by_fields=["resource.labels.host"],
                    )
                ],
                comparison="COMPARISON_GT",
                threshold_value=TOLERATED_FAILURES,
                duration="60s",
                trigger=gcp.monitoring.AlertPolicyConditionConditionThresholdTriggerArgs(count=1),
                evaluation_missing_data="EVALUATION_MISSING_DATA_ACTIVE",
            ),
        )
        self.register_outputs({"check_id": self.check.uptime_check_id})


def check_filter(check_id: str) -> str:
    """The check's results, one series per checker location."""
    return (
        f'metric.type = "{CHECK_PASSED}" AND resource.type = "uptime_url" AND '
        f'metric.labels.check_id = "{check_id}"'
    )
