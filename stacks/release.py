"""How a new version reaches `live`: CodeDeploy traffic shifting, a pre-traffic check against the
reference predictions, and automatic rollback on failure or on the new version's own alarms.

Every deploy that changes the image or the function's configuration publishes a version; with
the CodeDeployLambdaAliasUpdate policy that CDK puts on the alias, CloudFormation hands the move
of `live` to CodeDeploy instead of making it itself:

1. BeforeAllowTraffic: the hook invokes the new version directly with the reference cases; a
   wrong answer fails the deployment before any caller sees the version.
2. CodeDeploy shifts traffic by the deployment config (prod: 10% for 5 minutes, then the rest;
   dev: all at once) while it watches the release alarms; one in ALARM rolls `live` back.
3. A failed or rolled-back deployment fails the stack update, and CloudFormation rolls the rest
   of the stack back too.

The stack's first deploy creates the alias directly; CodeDeploy and the hook gate every version
after that. CodeDeploy stops watching when the last step completes: what fails later is for the
stack's alarms and a manual rollback (docs/operate.md, "Releasing on AWS").

Why per-version release alarms and not the stack's alias-level ones. During a canary the alias's
metrics mix both versions: the old version's errors would be blamed on the canary, a canary
failing 1 request in 10 would stay under an alias-wide "more than 5 in 5 minutes" at low traffic,
and an alias alarm already firing when a deploy starts (an outage the deploy is meant to fix)
would stop every deployment, so no fix could be rolled out. The release alarms watch only the
version being deployed: Lambda's Errors and Duration by `ExecutedVersion` (the version that ran
an alias invocation), and the handler's ServerErrors by `function_version`. Their names carry
the version number, so each deploy replaces them with fresh alarms (no state carried over from
the version before); after the shift they keep watching the version that is now live. They do not
notify: the stack's alarms page, these roll back.

Provisioned concurrency during the shift (AWS Lambda documentation: "Configuring provisioned
concurrency", "Implement Lambda canary deployments using a weighted alias", the
AllocatedProvisionedConcurrentExecutions field of the API reference):
- Provisioned concurrency on an alias stays allowed while it routes by weight, and during a
  canary or linear deployment Lambda divides the alias's allocation between the two versions
  (it "fluctuates depending on the amount of concurrency that is provisioned for the function
  versions"): the amount is shared, not doubled, so the shift adds none to pay for. (AWS does
  not document how it rounds a small amount; were each version given one environment, prod's
  1 GB arm64 environment for a 5-minute canary would cost about $0.001.) Traffic a version's
  share cannot cover spills over to on-demand (cold) environments, billed as ordinary duration;
  pc-spillover's 15-minute rule keeps a 5-minute canary from paging.
- Nothing can change the alias's provisioned concurrency while it routes by weight ("Alias with
  weights can not be used with Provisioned Concurrency"): Application Auto Scaling's scaling
  activities fail until the shift ends, then resume. Long linear configs freeze autoscaling for
  their whole length; prefer a canary in prod. Change `provisioned_concurrency` in a deploy that
  publishes no new version, for the same reason.
- When the shift ends, Lambda moves the alias's whole amount to the new version. With autoscaling
  the template declares no amount on the alias (stacks/function.py), so no deploy resets it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aws_cdk import Acknowledgment, Annotations, Aws, Duration, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from handler.store import model_prefix
from stacks.findings import ENVIRONMENT_KMS, NO_NETWORK_CALLS, skip_checkov
from stacks.function import ALIAS_NAME
from stacks.logs import log_group
from stacks.model_store import StoreBinding
from stacks.monitoring import handler_dimensions, new_alarm
from stacks.naming import PRIMARY, ModelNames, alarm_name
from stacks.settings import DeploySettings

HOOK_DIR = Path(__file__).resolve().parent / "release_hook"
# The hook's own check: two invokes of a cold version and their retries (pre_traffic.Clients).
CHECK_TIMEOUT = Duration.minutes(5)
# Lambda's longest timeout is 15 minutes: what is left after the check is the canary's most.
MAX_CANARY_SECONDS = 9 * 60
# Canary requests the new version must serve before its first step ends (pre_traffic.canary).
CANARY_MIN_REQUESTS = 10
# CodeDeploy's shortest step is a minute: judge the new version minute by minute.
RELEASE_PERIOD = Duration.minutes(1)


class InferenceRelease(Construct):
    """The CodeDeploy deployment group on `live`, its release alarms and the pre-traffic hook.

    Exposes `deployment_group`, `alarms` (by concern; none when traffic moves all at once, as no
    alarm could judge it in time) and `hook` (None when `pre_traffic_hook` is off).
    `reference_file` is the golden reference the hook checks (the model's
    artifacts/reference.json); without it synthesis warns and the hook fails every release
    until it exists. A store model's reference is its pinned version's, in the model store
    (`store`): every promotion is checked against that version's own predictions. The release
    alarms of a model other than the primary one carry its name
    (`<stack>-wine-release-errors-v7`).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: DeploySettings,
        function: lambda_.IFunction,
        alias: lambda_.Alias,
        reference_file: Path,
        names: ModelNames = PRIMARY,
        store: StoreBinding | None = None,
    ) -> None:
        super().__init__(scope, id)
        version = alias.version.version
        reference: Path | StoreBinding | None = reference_file if store is None else store
        if store is None and settings.pre_traffic_hook and not reference_file.is_file():
            # Fail closed where it matters, without breaking synthesis: the hook is deployed
            # without a reference and fails every release until one exists.
            Annotations.of(self).add_warning(
                f"{reference_file} does not exist, so the pre-traffic hook will fail every "
                "release: `make train` writes it, or set pre_traffic_hook=false"
            )
            reference = None
        self.alarms = (
            _release_alarms(self, settings, function, version, names)
            if settings.gradual_release
            else {}
        )
        self.hook = (
            _PreTrafficHook(
                self, "PreTrafficHook", settings, alias.version, reference, names
            ).function
            if settings.pre_traffic_hook
            else None
        )
        self.deployment_group = codedeploy.LambdaDeploymentGroup(
            self,
            "DeploymentGroup",
            alias=alias,
            # CodeDeploy's predefined configurations, by name (settings.DEPLOYMENT_CONFIGS)
            deployment_config=codedeploy.LambdaDeploymentConfig.from_lambda_deployment_config_name(
                self, "Config", f"CodeDeployDefault.Lambda{settings.deployment_config}"
            ),
            alarms=list(self.alarms.values()),
            pre_hook=self.hook,
            auto_rollback=codedeploy.AutoRollbackConfig(
                failed_deployment=True,
                stopped_deployment=True,
                deployment_in_alarm=bool(self.alarms),
            ),
        )
        if self.hook is not None and settings.gradual_release:
            # The canary stops (and so rolls back) a deployment without evidence.
            self.hook.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["codedeploy:StopDeployment"],
                    resources=[self.deployment_group.deployment_group_arn],
                )
            )
        # The alias's update starts the deployment, so the new release alarms, the deployment
        # group that lists them and the hook that knows the new version must be updated first:
        # make the order explicit rather than trust the references inside the update policy.
        alias.node.add_dependency(self.deployment_group, *self.alarms.values())
        if self.hook is not None:
            alias.node.add_dependency(self.hook)
        acknowledgements = [
            Acknowledgment(
                id="AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSCodeDeployRoleForLambdaLimited]",
                reason="CodeDeploy's own service-role policy for Lambda deployments, the narrow "
                "variant: it may read alarms, read and update aliases and their provisioned "
                "concurrency, and invoke only functions named CodeDeployHook_*; CDK grants the "
                "invoke of this stack's hook separately.",
            )
        ]
        if self.hook is not None:
            acknowledgements.append(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::<{_logical_id(self.hook)}.Arn>:*]",
                    reason="CDK's grant for CodeDeploy to invoke the pre-traffic hook names the "
                    "hook function and its versions (function:hook:*); it covers that one "
                    "function of this stack and nothing else.",
                )
            )
        Validations.of(self.deployment_group).acknowledge(*acknowledgements)


def _release_alarms(
    scope: Construct,
    settings: DeploySettings,
    function: lambda_.IFunction,
    version: str,
    names: ModelNames,
) -> dict[str, cloudwatch.Alarm]:
    """Alarms on the new version alone, minute by minute, that roll it back."""
    stack_name = Stack.of(scope).stack_name
    executed = {
        "FunctionName": function.function_name,
        "Resource": f"{function.function_name}:{ALIAS_NAME}",
        "ExecutedVersion": version,
    }

    def lambda_metric(name: str, statistic: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/Lambda",
            metric_name=name,
            dimensions_map=executed,
            period=RELEASE_PERIOD,
            statistic=statistic,
        )

    def alarm(
        concern: str, metric: cloudwatch.IMetric, threshold: float, description: str, **rule: Any
    ) -> cloudwatch.Alarm:
        return new_alarm(
            scope,
            concern,
            name=alarm_name(stack_name, names.concern(f"release-{concern}-v{version}")),
            metric=metric,
            threshold=threshold,
            description=description + " Rolls the deployment back (CodeDeploy).",
            **rule,
        )

    # Any error or handler 5xx on the new version during the shift: it sees a tenth of the
    # traffic, so the stack alarms' "more than 5 in 5 minutes" would wave through a version
    # that fails one request in two at low traffic.
    return {
        "errors": alarm(
            "errors",
            lambda_metric("Errors", "Sum"),
            0,
            "Function errors (timeouts, out-of-memory, crashes) on the version being deployed.",
        ),
        "server-errors": alarm(
            "server-errors",
            cloudwatch.Metric(
                namespace=settings.metrics_namespace,
                metric_name="ServerErrors",
                dimensions_map=handler_dimensions(function, settings, version),
                period=RELEASE_PERIOD,
                statistic="Sum",
            ),
            0,
            "5xx responses from the handler (model unavailable, prediction failed, internal "
            "error) on the version being deployed.",
        ),
        "duration-p99": alarm(
            "duration-p99",
            lambda_metric("Duration", "p99"),
            settings.alarm_latency_p99_ms,
            f"p99 duration above {settings.alarm_latency_p99_ms} ms in 2 of 3 minutes on the "
            "version being deployed.",
            datapoints=2,
            periods=3,
            # Unlike the stack's duration-p99: at canary volumes p99 is close to the slowest
            # request, and `ignore` would leave the gate blind below 1000 requests a minute.
            # This model answers in milliseconds and Duration excludes init, so requests over a
            # second in 2 of 3 minutes are a fault of the version.
            low_samples="evaluate",
        ),
    }


def _logical_id(function: lambda_.IFunction) -> str:
    """How cdk-nag names the function in a finding (`<LogicalId.Arn>`)."""
    stack = Stack.of(function)
    return str(stack.resolve(stack.get_logical_id(function.node.default_child)))  # type: ignore[arg-type]


class _PreTrafficHook(Construct):
    """The hook function, its log group and role, and the reference it reads from S3."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        settings: DeploySettings,
        version: lambda_.IVersion,
        reference_file: Path | StoreBinding | None,
        names: ModelNames,
    ) -> None:
        super().__init__(scope, id)
        function = version.lambda_
        logs = log_group(
            self, "Logs", retention_days=settings.log_retention_days, retain=settings.retain_logs
        )
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=names.label(f"{settings.stack_name} pre-traffic hook"),
        )
        logs.grant_write(role)
        environment = {
            "FUNCTION_NAME": function.function_name,
            # Published in this same update; CloudFormation updates the hook before the
            # alias, whose update policy names it, so the hook checks what CodeDeploy ships.
            "TARGET_VERSION": version.version,
        }
        if names.route_prefix:  # not the primary model: its routes are below the prefix
            environment["ROUTE_PREFIX"] = names.route_prefix
        stored = reference_file if isinstance(reference_file, StoreBinding) else None
        window = canary_seconds(settings.deployment_config) if reference_file else 0
        if window:
            # Evidence for the canary: traffic of its own through `live` while the first step
            # holds its share on the new version (pre_traffic.canary).
            environment["CANARY_SECONDS"] = str(window)
            environment["CANARY_MIN_REQUESTS"] = str(CANARY_MIN_REQUESTS)
        if stored is not None:
            _read_stored_reference(role, stored, environment)
        elif reference_file is not None:
            reference = s3_assets.Asset(self, "Reference", path=str(reference_file))
            environment["REFERENCE_BUCKET"] = reference.s3_bucket_name
            environment["REFERENCE_KEY"] = reference.s3_object_key
            # Exactly the one object (no s3:GetObject* or bucket-wide grant).
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["s3:GetObject"],
                    resources=[reference.bucket.arn_for_objects(reference.s3_object_key)],
                )
            )
            if settings.assets_kms_key_arn is not None:
                # A bootstrap bucket encrypted with a customer-managed key: S3 decrypts the
                # object as the caller, so the hook needs the key too, only through S3.
                role.add_to_policy(
                    iam.PolicyStatement(
                        actions=["kms:Decrypt"],
                        resources=[settings.assets_kms_key_arn],
                        conditions={
                            "StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}
                        },
                    )
                )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            handler="pre_traffic.handler",
            code=lambda_.Code.from_asset(str(HOOK_DIR), exclude=["__pycache__", "*.pyc"]),
            memory_size=256,
            # Room for two slow invokes and their retries (pre_traffic.Clients): a hook that
            # times out never reports, and CodeDeploy then waits an hour before failing. Then
            # the canary's window, which ends before the timeout does.
            timeout=CHECK_TIMEOUT.plus(Duration.seconds(window)),
            role=role,
            log_group=logs,
            description=f"{settings.stack_name}: "
            + names.label("check a new version before traffic shifts"),
            environment=environment,
        )
        skip_checkov(
            self.function,
            {
                "CKV_AWS_115": "CodeDeploy alone invokes it, once per deployment; a reservation "
                "would take from the account's unreserved pool (and fail outright in new "
                "accounts) to cap a function that never runs twice at once.",
                "CKV_AWS_116": "It reports its own verdict to CodeDeploy, failures included; a "
                "hook that never reports fails the deployment, which rolls back. A dead-letter "
                "queue would add nothing to act on.",
                "CKV_AWS_117": "It calls only AWS APIs (S3, Lambda, CodeDeploy). "
                + NO_NETWORK_CALLS,
                "CKV_AWS_173": ENVIRONMENT_KMS,
            },
        )
        # Every version of this function, not just the new one: a grant naming the new version
        # would be rewritten in the very update whose hook needs it, racing IAM propagation.
        function.grant_invoke(role)
        Validations.of(role).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::<{_logical_id(function)}.Arn>:*]",
                reason="The hook invokes the version being deployed, whose number exists only "
                "once the deploy has published it; the grant covers this one function's "
                "versions so that it is in place before the deploy that needs it.",
            )
        )


def _read_stored_reference(
    role: iam.Role, stored: StoreBinding, environment: dict[str, str]
) -> None:
    """Point the hook at the pinned version's reference in the model store. The grant covers
    every version's reference.json of this model, so it does not change, and need not
    propagate, in the very update whose hook reads the new one."""
    environment["REFERENCE_BUCKET"] = stored.store.bucket.bucket_name
    environment["REFERENCE_KEY"] = stored.reference_key()
    pattern = f"{model_prefix(stored.model)}/versions/*/reference.json"
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["s3:GetObject"], resources=[stored.store.bucket.arn_for_objects(pattern)]
        )
    )
    Validations.of(role).acknowledge(
        Acknowledgment(
            id=f"AwsSolutions-IAM5[Resource::<{_bucket_id(stored)}.Arn>/{pattern}]",
            reason="The hook reads the golden reference of the version being released, one "
            "per published version of this model.",
        )
    )


def _bucket_id(stored: StoreBinding) -> str:
    bucket = stored.store.bucket
    stack = Stack.of(bucket)
    return str(stack.resolve(stack.get_logical_id(bucket.node.default_child)))  # type: ignore[arg-type]


def canary_seconds(deployment_config: str) -> int:
    """How long the first step of a gradual config holds its share on the new version, less half
    a minute for the canary's verdict to land before the step ends (at most MAX_CANARY_SECONDS;
    0 for AllAtOnce). Canary10Percent5Minutes: 270."""
    step = re.search(r"(?:Percent|Every)(\d+)Minutes?$", deployment_config)
    if step is None:
        return 0
    return min(int(step.group(1)) * 60 - 30, MAX_CANARY_SECONDS)
