"""Before `make deploy-aws`: can this account and region take the stack the settings describe?

    python -m ops.preflight --env prod [-c name=value ...] [--qualifier hnb659fds]

A deploy that fails halfway leaves a stack to roll back (or, on a first deploy, to delete). Each
check here reads what CloudFormation would trip over and says how to fix it:

- credentials and a region resolve (exit 2 when they do not);
- the CDK bootstrap stack exists and is as new as the template's own rule requires;
- Lambda's concurrency quota leaves room for the reserved or provisioned concurrency the
  settings ask for, summed over the models of models.toml (new accounts start at 10, which
  allows neither);
- the stack, if it exists, is in a state CloudFormation can update;
- a prebuilt image (`image_repository`) exists in ECR, in this region.

Settings are built exactly as `app.py` builds them: cdk.json's context, `--env`, then `-c`,
then each model's overrides from models.toml (`-c models_file=...` names another).
When the caller may not read (the CI deploy role may only assume the CDK bootstrap roles), the
checks read through the bootstrap's lookup role, which has ReadOnlyAccess; what still cannot
be read is reported as unknown (`?`) and does not stop a deploy.
Exit 0: no check failed; 1: a check failed; 2: usage, credentials or connection.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from model import catalog
from stacks.settings import DeploySettings, SettingsError, build_settings, for_model

REPO_ROOT = Path(__file__).resolve().parent.parent
CDK_CONTEXT: dict[str, Any] = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
DEFAULT_QUALIFIER = "hnb659fds"
QUALIFIER_KEY = "@aws-cdk/core:bootstrapQualifier"  # where cdk.json overrides it
# What the synthesized template's CheckBootstrapVersion rule requires (a test keeps them equal).
MIN_BOOTSTRAP_VERSION = 6
# Lambda keeps this much of the account's concurrency unreserved (the whole quota while it is
# below 100, as in new accounts).
UNRESERVED_FLOOR = 100
CONCURRENCY_QUOTA_CODE = "L-B99A9384"  # Service Quotas: Lambda "Concurrent executions"
DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}
UPDATABLE = {
    "CREATE_COMPLETE",
    "UPDATE_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE",
    "IMPORT_COMPLETE",
    "IMPORT_ROLLBACK_COMPLETE",
    "REVIEW_IN_PROGRESS",
}


class Aborted(Exception):
    """When no check can run: no credentials, no region, no connection"""


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: could not tell (nothing to read it with)
    detail: str


@dataclass(frozen=True)
class Clients:
    sts: Any
    ssm: Any
    cloudformation: Any
    lambda_: Any
    ecr: Any
    region: str

    @classmethod
    def from_session(cls, session: boto3.Session) -> Clients:
        if not session.region_name:
            raise Aborted("no region: set AWS_REGION, a profile's region, or pass --region")
        return cls(
            sts=session.client("sts"),
            ssm=session.client("ssm"),
            cloudformation=session.client("cloudformation"),
            lambda_=session.client("lambda"),
            ecr=session.client("ecr"),
            region=session.region_name,
        )


def run(
    settings: DeploySettings,
    clients: Clients,
    qualifier: str,
    models: Mapping[str, DeploySettings] | None = None,
) -> tuple[str, list[Check]]:
    """Who is deploying where, and every check's result. `models`: each model's settings (by
    name; default one model with `settings`)."""
    try:
        identity = clients.sts.get_caller_identity()
    except (NoCredentialsError, NoRegionError) as error:
        raise Aborted(f"no usable credentials: {error}") from None
    except (ClientError, BotoCoreError) as error:
        raise Aborted(f"cannot reach AWS with these credentials: {error}") from None
    where = f"{identity['Account']} / {clients.region} as {identity['Arn']}"
    clients, reading_as = with_read_access(clients, identity, qualifier)
    where += reading_as

    stack: dict[str, Any] | None = None
    try:
        stack = _describe_stack(clients, settings.stack_name)
        stack_check = check_stack(settings.stack_name, stack)
    except ClientError as error:
        stack_check = Check("stack", None, f"cannot tell: {error}")
    checks = [
        _guarded("bootstrap", lambda: check_bootstrap(clients, qualifier)),
        stack_check,
        _guarded(
            "concurrency",
            lambda: _check_concurrency(models or {"": settings}, clients, stack),
        ),
    ]
    if settings.image_repository is not None:
        checks.append(_guarded("image", lambda: check_image(settings, clients)))
    return where, checks


def _guarded(name: str, check: Callable[[], Check]) -> Check:
    """A check that cannot read what it needs says so, with the reason (often a missing grant)."""
    try:
        return check()
    except ClientError as error:
        return Check(name, None, f"cannot tell: {error}")


def with_read_access(
    clients: Clients, identity: dict[str, str], qualifier: str
) -> tuple[Clients, str]:
    """The caller's own clients when they may read, else clients of the CDK bootstrap's lookup
    role (ReadOnlyAccess, assumable by the account's principals, the CI deploy role included)."""
    try:
        clients.ssm.get_parameter(Name=f"/cdk-bootstrap/{qualifier}/version")
        return clients, ""
    except ClientError as error:
        if error.response["Error"]["Code"] not in DENIED:
            return clients, ""  # e.g. no bootstrap yet: the bootstrap check says so
    partition, account = identity["Arn"].split(":")[1], identity["Account"]
    role = (
        f"arn:{partition}:iam::{account}:role/"
        f"cdk-{qualifier}-lookup-role-{account}-{clients.region}"
    )
    try:
        credentials = clients.sts.assume_role(RoleArn=role, RoleSessionName="preflight")
    except ClientError:
        return clients, ""  # each check then says what it cannot read
    keys = credentials["Credentials"]
    session = boto3.Session(
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        aws_session_token=keys["SessionToken"],
        region_name=clients.region,
    )
    return Clients.from_session(session), f", reading as {role}"


def _describe_stack(clients: Clients, stack_name: str) -> dict[str, Any] | None:
    try:
        stacks = clients.cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    return stacks[0] if stacks else None


def check_bootstrap(clients: Clients, qualifier: str) -> Check:
    parameter = f"/cdk-bootstrap/{qualifier}/version"
    bootstrap = f"npx cdk bootstrap aws://<account>/{clients.region}"
    try:
        version = int(clients.ssm.get_parameter(Name=parameter)["Parameter"]["Value"])
    except clients.ssm.exceptions.ParameterNotFound:
        return Check(
            "bootstrap", False, f"no CDK bootstrap stack here ({parameter} is missing): {bootstrap}"
        )
    if version < MIN_BOOTSTRAP_VERSION:
        return Check(
            "bootstrap",
            False,
            f"CDK bootstrap version {version}, the template needs {MIN_BOOTSTRAP_VERSION}: "
            f"run {bootstrap} again with this repository's CLI",
        )
    return Check("bootstrap", True, f"CDK bootstrap version {version} ({parameter})")


def check_stack(stack_name: str, stack: dict[str, Any] | None) -> Check:
    if stack is None:
        return Check("stack", True, f"{stack_name} does not exist yet: the deploy creates it")
    status = stack["StackStatus"]
    if status in UPDATABLE:
        return Check("stack", True, f"{stack_name} is {status}")
    if status.endswith("_IN_PROGRESS"):
        fix = "another operation (a deploy, a CodeDeploy traffic shift) is running: wait for it"
    elif status == "UPDATE_ROLLBACK_FAILED":
        fix = f"aws cloudformation continue-update-rollback --stack-name {stack_name}"
    else:  # ROLLBACK_COMPLETE and the other states of a failed first deploy
        fix = (
            "a failed first deploy cannot be updated: delete it "
            f"(aws cloudformation delete-stack --stack-name {stack_name}) and deploy again"
        )
    return Check("stack", False, f"{stack_name} is {status}: {fix}")


def _check_concurrency(
    models: Mapping[str, DeploySettings], clients: Clients, stack: dict[str, Any] | None
) -> Check:
    limits = clients.lambda_.get_account_settings()["AccountLimit"]
    return check_concurrency(
        models,
        quota=limits["ConcurrentExecutions"],
        unreserved=limits["UnreservedConcurrentExecutions"],
        already_reserved=_current_reservation(clients, stack),
        region=clients.region,
    )


def _current_reservation(clients: Clients, stack: dict[str, Any] | None) -> int:
    """What this stack's functions reserve today (a redeploy gives it back before taking it):
    `FunctionName` (the primary model) and each other model's `<Name>FunctionName`."""
    outputs = {o["OutputKey"]: o["OutputValue"] for o in (stack or {}).get("Outputs", [])}
    return sum(
        int(
            clients.lambda_.get_function_concurrency(FunctionName=name).get(
                "ReservedConcurrentExecutions", 0
            )
        )
        for key, name in sorted(outputs.items())
        if key.endswith("FunctionName")
    )


def _need(settings: DeploySettings) -> tuple[int, str]:
    """What one function takes from the account: its reservation, or, unreserved, the most
    provisioned concurrency it may have."""
    if settings.reserved_concurrency is not None:
        return settings.reserved_concurrency, "reserved_concurrency"
    if settings.autoscaling_max is not None:
        return settings.autoscaling_max, "provisioned concurrency up to autoscaling_max"
    return settings.provisioned_concurrency, "provisioned_concurrency"


def check_concurrency(
    models: Mapping[str, DeploySettings],
    *,
    quota: int,
    unreserved: int,
    already_reserved: int,
    region: str,
) -> Check:
    """What the models' functions reserve (or, unreserved, may provision) must leave the account
    its unreserved floor."""
    needs = {name: _need(settings) for name, settings in models.items()}
    need = sum(n for n, _ in needs.values())
    if len(needs) == 1:
        ((n, kind),) = needs.values()
        asked = f"{kind} {n}"
    else:
        asked = " + ".join(f"{kind} {n} ({name})" for name, (n, kind) in needs.items())
        asked += f" = {need}"
    env_name = next(iter(models.values())).env_name
    account = f"the account's Lambda quota in {region} is {quota}, {unreserved} unreserved"
    if need == 0:
        return Check("concurrency", True, f"nothing reserved or provisioned; {account}")
    floor = min(UNRESERVED_FLOOR, quota)
    available = unreserved + already_reserved - floor
    if need <= available:
        return Check("concurrency", True, f"{asked} fits: {account}")
    reserved_by_others = quota - unreserved - already_reserved
    new_account = (
        " New accounts start at 10, which allows no reserved or provisioned concurrency at all."
        if quota <= 10
        else ""
    )
    return Check(
        "concurrency",
        False,
        f"{env_name} needs {asked}, but {account} and Lambda keeps {floor} "
        f"unreserved.{new_account} Request a 'Concurrent executions' quota of at least "
        f"{reserved_by_others + need + UNRESERVED_FLOOR} (Service Quotas code "
        f"{CONCURRENCY_QUOTA_CODE}), or deploy with less: -c reserved_concurrency=none "
        "-c autoscaling_min=none -c autoscaling_max=none -c provisioned_concurrency=0",
    )


def check_image(settings: DeploySettings, clients: Clients) -> Check:
    repository = settings.image_repository or ""
    registry: dict[str, str] = {}
    if repository.startswith("arn:"):
        # arn:aws:ecr:<region>:<account>:repository/<name>
        _, _, _, region, account, resource = repository.split(":", 5)
        if region != clients.region:
            return Check(
                "image",
                False,
                f"{repository} is in {region}: Lambda pulls images only from its own region "
                f"({clients.region}); replicate the repository or deploy there",
            )
        registry, repository = {"registryId": account}, resource.removeprefix("repository/")
    image = (
        {"imageDigest": settings.image_digest}
        if settings.image_digest
        else {"imageTag": settings.image_tag or ""}
    )
    reference = (
        f"{repository}@{settings.image_digest}"
        if settings.image_digest
        else f"{repository}:{settings.image_tag}"
    )
    try:
        clients.ecr.describe_images(**registry, repositoryName=repository, imageIds=[image])
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code in ("ImageNotFoundException", "RepositoryNotFoundException"):
            return Check("image", False, f"{reference} not found in ECR ({code}): push it first")
        raise
    return Check("image", True, f"{reference} is in ECR")


def settings_from(
    env: str, overrides: Sequence[str]
) -> tuple[DeploySettings, dict[str, DeploySettings]]:
    """The stack's settings, and each declared model's (as app.py and the stack build them)."""
    context = {**CDK_CONTEXT, "env": env}
    for item in overrides:
        name, separator, value = item.partition("=")
        if not separator:
            raise SettingsError(f"-c takes name=value, got {item!r}")
        context[name.strip()] = value
    settings = build_settings(context)
    try:
        declared = catalog.load(REPO_ROOT / str(context.get("models_file") or catalog.DEFAULT_FILE))
    except catalog.CatalogError as error:
        raise SettingsError(str(error)) from None
    models = {
        entry.name: for_model(settings, entry.name, entry.overrides(settings.env_name))
        for entry in declared.models
    }
    return settings, models


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ops.preflight",
        description="Check that this account and region can take the stack, before deploying.",
    )
    parser.add_argument("--env", choices=("dev", "prod"), default="dev")
    parser.add_argument("-c", "--context", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument(
        "--qualifier",
        help="CDK bootstrap qualifier (default: the environment's bootstrap_qualifier, else "
        "cdk.json's)",
    )
    parser.add_argument("--region")
    parser.add_argument("--profile")
    args = parser.parse_args(argv)
    try:
        settings, models = settings_from(args.env, args.context)
        # AWS_REGION as the CDK CLI reads it (boto3 alone reads only AWS_DEFAULT_REGION)
        region = args.region or os.environ.get("AWS_REGION")
        session = boto3.Session(profile_name=args.profile, region_name=region)
        qualifier = (
            args.qualifier
            or settings.bootstrap_qualifier
            or str(CDK_CONTEXT.get(QUALIFIER_KEY, DEFAULT_QUALIFIER))
        )
        where, checks = run(settings, Clients.from_session(session), qualifier, models)
    except (SettingsError, Aborted, BotoCoreError) as error:
        print(f"preflight: {error}", file=sys.stderr)
        return 2
    print(f"preflight {settings.stack_name} in {where}")
    for check in checks:
        status = {True: "ok", False: "FAIL", None: "?"}[check.ok]
        print(f"  {status:<5} {check.name:<12} {check.detail}")
    return 1 if any(check.ok is False for check in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
