"""What verify and probe read from AWS with boto3: the stack's outputs, the `live` alias, its
provisioned concurrency and the stack's alarms. Plain data out; judging it is `ops.checks`.

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
    """Where the alias points, any weighted routing, and the newest published version."""

    exists: bool
    version: str | None
    weights: dict[str, float]
    newest_version: str | None


def live_alias(session: Any, function_name: str) -> AliasState:
    client = session.client("lambda")
    versions = [
        v["Version"]
        for page in client.get_paginator("list_versions_by_function").paginate(
            FunctionName=function_name
        )
        for v in page["Versions"]
        if v["Version"].isdigit()
    ]
    newest = max(versions, key=int) if versions else None
    try:
        alias = client.get_alias(FunctionName=function_name, Name=ALIAS_NAME)
    except client.exceptions.ResourceNotFoundException:
        return AliasState(False, None, {}, newest)
    weights = alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})
    return AliasState(True, alias["FunctionVersion"], dict(weights), newest)


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
