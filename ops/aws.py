"""What verify and probe read from AWS with boto3: the stack's outputs and the versions it
published, the `live` alias, its provisioned concurrency, the last CodeDeploy release and the
stack's alarms. Plain data out; judging it is `ops.checks`.

Credentials and region come from the usual chain (environment, `~/.aws/config`, SSO, roles),
optionally narrowed by `--profile` / `--region`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ops.errors import CannotRun

ALIAS_NAME = "live"
# Alarm names all start with "<stack name>-" (stacks/naming.py, CONTRACTS.md §9).
ALARM_SEPARATOR = "-"


def aws_session(*, profile: str | None = None, region: str | None = None) -> Any:
    """A boto3 session; an unknown profile is a one-line CannotRun, not a traceback."""
    import boto3
    from botocore.exceptions import ProfileNotFound

    try:
        return boto3.Session(profile_name=profile, region_name=region)
    except ProfileNotFound as exc:
        raise CannotRun(str(exc)) from None


def region_of(session: Any) -> str:
    if not session.region_name:
        raise CannotRun(NO_REGION)
    return str(session.region_name)


def credentials(session: Any) -> Any:
    found = session.get_credentials()
    if found is None:
        raise CannotRun(NO_CREDENTIALS)
    return found


NO_REGION = "no AWS region configured: pass --region or set AWS_REGION"
NO_CREDENTIALS = (
    "no AWS credentials found: configure them (aws configure, aws sso login, AWS_PROFILE or "
    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and retry"
)


@dataclass(frozen=True)
class StackInfo:
    name: str
    region: str
    status: str
    status_reason: str
    outputs: dict[str, str]

    def output(self, key: str) -> str:
        try:
            return self.outputs[key]
        except KeyError:
            raise CannotRun(
                f"stack {self.name} has no output {key!r} (outputs: "
                f"{', '.join(sorted(self.outputs)) or 'none'}); is it a SklearnInference stack?"
            ) from None


def describe_stack(session: Any, name: str) -> StackInfo:
    from botocore.exceptions import ClientError

    region = region_of(session)
    client = session.client("cloudformation")
    try:
        stack = client.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as exc:
        if "does not exist" in exc.response.get("Error", {}).get("Message", ""):
            raise CannotRun(
                f"no CloudFormation stack named {name!r} in {region} "
                "(check the name, --region and --profile)"
            ) from None
        raise
    return StackInfo(
        name=name,
        region=region,
        status=stack["StackStatus"],
        status_reason=stack.get("StackStatusReason", ""),
        outputs={o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
    )


@dataclass(frozen=True)
class AliasState:
    """Where the alias points, and any weighted routing (version -> share of the traffic)."""

    exists: bool
    version: str | None
    weights: dict[str, float]


def live_alias(session: Any, function_name: str) -> AliasState:
    client = session.client("lambda")
    try:
        alias = client.get_alias(FunctionName=function_name, Name=ALIAS_NAME)
    except client.exceptions.ResourceNotFoundException:
        return AliasState(False, None, {})
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return AliasState(True, alias["FunctionVersion"], dict(weights))


def stack_versions(session: Any, stack_name: str) -> dict[str, str]:
    """Function name -> the version the stack's AWS::Lambda::Version resource published.

    What the stack deployed, as opposed to the newest version: a version whose release rolled
    back may still exist (stacks created before versions were RetainExceptOnCreate), and the
    stack's template then names the version before it."""
    paginator = session.client("cloudformation").get_paginator("list_stack_resources")
    published: dict[str, str] = {}
    for page in paginator.paginate(StackName=stack_name):
        for resource in page["StackResourceSummaries"]:
            arn = resource.get("PhysicalResourceId", "")
            # arn:<partition>:lambda:<region>:<account>:function:<name>:<version>
            parts = arn.split(":")
            if resource["ResourceType"] == "AWS::Lambda::Version" and len(parts) == 8:
                published[parts[6]] = parts[7]
    return published


@dataclass(frozen=True)
class Release:
    """A deployment group's last CodeDeploy deployment."""

    deployment_id: str
    # Created | Queued | InProgress | Baking | Succeeded | Failed | Stopped | Ready
    status: str
    target_version: str | None  # the version it shifts `live` to
    message: str  # why it failed or rolled back; "" otherwise

    @property
    def running(self) -> bool:
        return self.status in RUNNING_DEPLOYMENT


RUNNING_DEPLOYMENT = ("Created", "Queued", "InProgress", "Baking", "Ready")


def last_release(session: Any, application: str, group: str) -> Release | None:
    """The last deployment CodeDeploy attempted in the group, or None when there is none or it
    cannot be read (it explains the alias's state; it is never the verdict)."""
    from botocore.exceptions import ClientError

    client = session.client("codedeploy")
    try:
        info = client.get_deployment_group(applicationName=application, deploymentGroupName=group)[
            "deploymentGroupInfo"
        ]
        last = info.get("lastAttemptedDeployment") or {}
        if not last.get("deploymentId"):
            return None
        deployment_id = last["deploymentId"]
        deployment = client.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
        target_ids = client.list_deployment_targets(deploymentId=deployment_id).get("targetIds", [])
        targets = (
            client.batch_get_deployment_targets(
                deploymentId=deployment_id, targetIds=target_ids[:25]
            ).get("deploymentTargets", [])
            if target_ids
            else []
        )
    except ClientError:
        return None
    versions = [
        t["lambdaTarget"]["lambdaFunctionInfo"].get("targetVersion")
        for t in targets
        if "lambdaFunctionInfo" in t.get("lambdaTarget", {})
    ]
    message = (deployment.get("errorInformation") or {}).get("message") or (
        deployment.get("rollbackInfo") or {}
    ).get("rollbackMessage", "")
    return Release(deployment_id, deployment["status"], next(iter(versions), None), message)


@dataclass(frozen=True)
class ProvisionedConcurrency:
    qualifier: str
    status: str  # IN_PROGRESS | READY | FAILED
    requested: int
    allocated: int
    reason: str


def provisioned_concurrency(session: Any, function_name: str) -> list[ProvisionedConcurrency]:
    """Every provisioned-concurrency configuration of the function (any alias or version)."""
    client = session.client("lambda")
    configs = [
        config
        for page in client.get_paginator("list_provisioned_concurrency_configs").paginate(
            FunctionName=function_name
        )
        for config in page.get("ProvisionedConcurrencyConfigs", [])
    ]
    return [
        ProvisionedConcurrency(
            qualifier=config["FunctionArn"].rsplit(":", 1)[-1],
            status=config.get("Status", "UNKNOWN"),
            requested=int(config.get("RequestedProvisionedConcurrentExecutions", 0)),
            allocated=int(config.get("AllocatedProvisionedConcurrentExecutions", 0)),
            reason=config.get("StatusReason", ""),
        )
        for config in configs
    ]


@dataclass(frozen=True)
class Alarm:
    name: str
    state: str  # OK | ALARM | INSUFFICIENT_DATA
    reason: str


def stack_alarms(session: Any, stack_name: str) -> list[Alarm]:
    """Metric and composite alarms whose names start with `<stack name>-`."""
    client = session.client("cloudwatch")
    alarms = []
    for page in client.get_paginator("describe_alarms").paginate(
        AlarmNamePrefix=stack_name + ALARM_SEPARATOR,
        AlarmTypes=["MetricAlarm", "CompositeAlarm"],
    ):
        for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
            alarms.append(
                Alarm(alarm["AlarmName"], alarm["StateValue"], alarm.get("StateReason", ""))
            )
    return sorted(alarms, key=lambda a: a.name)


def describe_aws_error(exc: BaseException) -> str | None:
    """One line for a botocore error (credentials, region, network, access), else None."""
    module = type(exc).__module__
    if not module.startswith("botocore"):
        return None
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
    )

    if isinstance(exc, NoCredentialsError):
        return NO_CREDENTIALS
    if isinstance(exc, NoRegionError):
        return NO_REGION
    if isinstance(exc, EndpointConnectionError):
        return f"cannot reach AWS: {exc} (check --region and the network)"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "?"), error.get("Message", "")
        operation = exc.operation_name
        if "Expired" in code:
            return f"the AWS credentials have expired ({operation}: {message}); renew them"
        if any(word in code for word in ("AccessDenied", "Unauthorized", "InvalidClientToken")):
            return f"AWS refused {operation}: {code}: {message}"
        return f"AWS {operation} failed: {code}: {message}"
    return "AWS: " + " ".join(str(exc).split())
