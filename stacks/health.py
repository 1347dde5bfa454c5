"""A scheduled health check of the `live` alias: keeps a signal flowing when no traffic does.

Every `health_check_minutes` an EventBridge rule invokes the alias with `{"healthcheck": true}`.
The handler answers whether its model is loaded and emits the EMF metric `HealthCheck` (1 healthy,
0 not); the `health-check` alarm (stacks/monitoring.py) treats missing data as breaching, so a
stopped schedule, a failing invoke and an unhealthy model all page, with or without traffic.

Why a direct invoke and not a CloudWatch Synthetics canary: a canary costs about $0.0012 a run
(about $52 a month at one run a minute, against well under a cent here), needs an artifacts
bucket and, with auth=iam, SigV4 signing inside the canary script. What the direct invoke does not
see (API Gateway itself, auth, routing) is seen by the api-5xx alarm whenever there is traffic,
and checked end to end by `make verify` after each deploy.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.naming import PRIMARY, ModelNames
from stacks.settings import DeploySettings

HEALTH_CHECK_EVENT = {"healthcheck": True}


class InferenceHealthCheck(Construct):
    """The schedule. Exposes `rule`."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: DeploySettings,
        alias: lambda_.IAlias,
        names: ModelNames = PRIMARY,
    ) -> None:
        super().__init__(scope, id)
        if settings.health_check_minutes < 1:
            raise ValueError("InferenceHealthCheck needs health_check_minutes >= 1")
        self.rule = events.Rule(
            self,
            "Schedule",
            description=f"{settings.stack_name}: " + names.label("health check of the live alias"),
            schedule=events.Schedule.rate(Duration.minutes(settings.health_check_minutes)),
            targets=[
                targets.LambdaFunction(
                    alias,
                    event=events.RuleTargetInput.from_object(HEALTH_CHECK_EVENT),
                    # A check delivered late says nothing about now: drop it, the alarm's
                    # missing data is the signal.
                    max_event_age=Duration.minutes(2),
                    retry_attempts=1,
                )
            ],
        )
