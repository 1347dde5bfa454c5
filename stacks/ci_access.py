"""The identities GitHub Actions deploys and verifies with: an OIDC trust and two roles.

Deployed once per AWS account and region by an administrator (`make deploy-ci-access
REPO=owner/name`), never by the workflows, which deploy only the inference stacks: who may deploy
changes through an administrator. `app.py` adds this stack only when the context holds
`github_repository`, so a plain `cdk synth` is unchanged.

The deploy role may do one thing: `sts:AssumeRole` into the four roles `cdk bootstrap` created in
this account and region (deploy, file and image publishing, lookup). Everything a deploy does then
happens through those roles, which is what CDK is designed for.

The verify role is what `make verify STACK=...` runs as after a deploy: it reads the inference
stacks (outputs and status, their functions' `live` alias, versions and provisioned concurrency,
the alarms) and calls their APIs, which an `auth=iam` stage (prod's default) only answers for a
caller with `execute-api:Invoke`. It is a role of its own, assumed straight from the OIDC token
rather than chained through the deploy role, so the deploy role keeps its single permission and
the checks hold nothing that could change the account.

Both trusts accept a GitHub OIDC token only from a job of this repository that runs in one of the
listed GitHub environments (its `sub` claim is `repo:<owner>/<name>:environment:<environment>`);
the environments' own deployment-branch rule (main only) and required reviewers (prod) do the
rest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_cdk import Acknowledgment, Aws, CfnOutput, RemovalPolicy, Stack, Tags, Validations
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.settings import ENVIRONMENTS, SettingsError, build_settings

GITHUB_OIDC_URL = "https://token.actions.githubusercontent.com"
GITHUB_OIDC_ISSUER = "token.actions.githubusercontent.com"
STS_AUDIENCE = "sts.amazonaws.com"
DEFAULT_QUALIFIER = "hnb659fds"  # `cdk bootstrap`'s default; cdk.json may override it
QUALIFIER_CONTEXT_KEY = "@aws-cdk/core:bootstrapQualifier"  # the key CDK's synthesizer reads
BOOTSTRAP_ROLES = ("deploy", "file-publishing", "image-publishing", "lookup")
STACK_NAME = "SklearnInference-github-deploy"
# The only stage an inference stack's HTTP API has (stacks/api.py): what the verify role may call.
API_STAGE = "$default"
# CloudFormation tags every resource it creates with its stack's name; Lambda evaluates
# aws:ResourceTag on function actions, so this names "the functions of these stacks" whatever
# names CloudFormation generated for them (one per model, plus the release hook's).
STACK_NAME_TAG = "aws:cloudformation:stack-name"

# `owner/name`, or the immutable form `owner@<owner id>/name@<repo id>` that repositories created
# since 15 July 2026 (or opted in) put in the sub claim. Use exactly what yours emits.
_REPOSITORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}(?:@\d+)?/[A-Za-z0-9._-]{1,100}(?:@\d+)?$")
_ENVIRONMENT = re.compile(r"^[A-Za-z0-9._-]{1,255}$")
_PROVIDER_ARN = re.compile(
    r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/token\.actions\.githubusercontent\.com$"
)
_QUALIFIER = re.compile(r"^[a-z0-9]{1,10}$")
# What stacks/settings.py accepts as a stack name; no wildcard can slip into an ARN or condition.
_STACK = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")


class CiAccessError(ValueError):
    """When the context describes a GitHub trust this stack cannot build safely"""


@dataclass(frozen=True)
class CiAccessSettings:
    """Who may deploy from GitHub Actions, read once from context by `app.py`."""

    repository: str  # context github_repository: owner/name as the sub claim spells it
    environments: tuple[str, ...] = ("dev", "prod")  # github_environments: comma-separated
    # The inference stacks the verify role may read and call: each environment's stack_name.
    inference_stacks: tuple[str, ...] = field(kw_only=True)
    oidc_provider_arn: str | None = None  # github_oidc_provider_arn: reuse the account's provider
    qualifier: str = DEFAULT_QUALIFIER  # @aws-cdk/core:bootstrapQualifier
    stack_name: str = STACK_NAME

    def __post_init__(self) -> None:
        problems = []
        if not _REPOSITORY.fullmatch(self.repository):
            problems.append(
                f"github_repository must be owner/name (or owner@id/name@id), got "
                f"{self.repository!r}"
            )
        if not self.environments:
            problems.append("github_environments needs at least one GitHub environment")
        problems += [
            f"GitHub environment {name!r}: use letters, digits, '.', '_' and '-' (a ':' could "
            "forge a longer sub claim)"
            for name in self.environments
            if not _ENVIRONMENT.fullmatch(name)
        ]
        if self.oidc_provider_arn is not None and not _PROVIDER_ARN.fullmatch(
            self.oidc_provider_arn
        ):
            problems.append(
                "github_oidc_provider_arn must be the ARN of the account's "
                f"token.actions.githubusercontent.com provider, got {self.oidc_provider_arn!r}"
            )
        if not self.inference_stacks:
            problems.append("the verify role needs at least one inference stack to read")
        problems += [
            f"inference stack name {name!r}: use letters, digits and '-', starting with a letter"
            for name in self.inference_stacks
            if not _STACK.fullmatch(name)
        ]
        if not _QUALIFIER.fullmatch(self.qualifier):
            problems.append(f"the bootstrap qualifier must be 1-10 a-z0-9, got {self.qualifier!r}")
        if problems:
            raise CiAccessError("invalid GitHub deploy access:\n  - " + "\n  - ".join(problems))

    @property
    def subjects(self) -> list[str]:
        """The exact `sub` claims GitHub issues to this repository's jobs in each environment."""
        return [f"repo:{self.repository}:environment:{name}" for name in self.environments]


def ci_access_settings(context: Mapping[str, Any]) -> CiAccessSettings | None:
    """The settings when the context asks for the stack (`-c github_repository=...`), else None."""
    repository = str(context.get("github_repository") or "").strip()
    if not repository:
        return None
    environments = context.get("github_environments") or "dev,prod"
    if isinstance(environments, str):
        environments = environments.split(",")
    names = tuple(str(e).strip() for e in environments if str(e).strip())
    return CiAccessSettings(
        repository=repository,
        environments=names,
        inference_stacks=_inference_stacks(context, names),
        oidc_provider_arn=str(context.get("github_oidc_provider_arn") or "").strip() or None,
        qualifier=str(context.get(QUALIFIER_CONTEXT_KEY) or DEFAULT_QUALIFIER),
    )


def _inference_stacks(context: Mapping[str, Any], environments: tuple[str, ...]) -> tuple[str, ...]:
    """Each environment's stack name, from the same context a deploy reads (cdk.json): the
    workflow deploys GitHub environment `prod` as `make deploy-aws ENV=prod`."""
    unknown = [name for name in environments if name not in ENVIRONMENTS]
    if unknown:
        raise CiAccessError(
            f"GitHub environments {', '.join(map(repr, unknown))} are not deploy environments "
            f"({', '.join(ENVIRONMENTS)}): .github/workflows/aws-deploy.yml deploys each GitHub "
            "environment as the environment of the same name"
        )
    try:
        stacks = [build_settings({**context, "env": name}).stack_name for name in environments]
    except SettingsError as exc:
        raise CiAccessError(f"cannot tell the inference stacks' names: {exc}") from None
    return tuple(dict.fromkeys(stacks))


class GitHubDeployAccessStack(Stack):
    """The GitHub OIDC provider (or the account's existing one), the deploy role and the verify
    role.

    Exposes `role` (deploy), `verify_role` and `provider_arn`; outputs `DeployRoleArn` and
    `VerifyRoleArn` (the values of the GitHub variables `AWS_DEPLOY_ROLE_ARN` and
    `AWS_VERIFY_ROLE_ARN`).
    """

    def __init__(
        self, scope: Construct, id: str, *, settings: CiAccessSettings, **kwargs: Any
    ) -> None:
        super().__init__(
            scope,
            id,
            stack_name=settings.stack_name,
            description=f"GitHub Actions deploy and verify roles for {settings.repository} "
            "(OIDC, no keys)",
            **kwargs,
        )
        Tags.of(self).add("Project", "sklearn-serverless-inference")

        if settings.oidc_provider_arn is None:
            provider = iam.OidcProviderNative(
                self,
                "GitHubOidc",
                url=GITHUB_OIDC_URL,
                client_ids=[STS_AUDIENCE],
                # An account has one provider per issuer and other roles may come to trust it:
                # deleting this stack must not break them.
                removal_policy=RemovalPolicy.RETAIN,
            )
            self.provider_arn = provider.oidc_provider_arn
        else:
            self.provider_arn = settings.oidc_provider_arn

        self.role = iam.Role(
            self,
            "DeployRole",
            description=f"GitHub Actions in {settings.repository}: assume the CDK bootstrap roles",
            assumed_by=self._github_jobs(settings),
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="AssumeCdkBootstrapRolesOnly",
                actions=["sts:AssumeRole"],
                resources=[
                    f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:role/"
                    f"cdk-{settings.qualifier}-{name}-role-{Aws.ACCOUNT_ID}-{Aws.REGION}"
                    for name in BOOTSTRAP_ROLES
                ],
            )
        )

        self.verify_role = iam.Role(
            self,
            "VerifyRole",
            description=f"GitHub Actions in {settings.repository}: make verify STACK=... "
            "(read the inference stacks, call their APIs)",
            assumed_by=self._github_jobs(settings),
        )
        for statement in verify_statements(settings.inference_stacks):
            self.verify_role.add_to_principal_policy(statement)
        Validations.of(self.verify_role).acknowledge(
            *_verify_acknowledgments(settings.inference_stacks)
        )

        environments = ", ".join(settings.environments)
        for output, role, variable in (
            ("DeployRoleArn", self.role, "AWS_DEPLOY_ROLE_ARN"),
            ("VerifyRoleArn", self.verify_role, "AWS_VERIFY_ROLE_ARN"),
        ):
            CfnOutput(
                self,
                output,
                value=role.role_arn,
                description=f"GitHub variable {variable} (environments {environments})",
            )
        CfnOutput(self, "OidcProviderArn", value=self.provider_arn)

    def _github_jobs(self, settings: CiAccessSettings) -> iam.IPrincipal:
        """Jobs of this repository in the listed environments, and nothing else."""
        return iam.WebIdentityPrincipal(
            self.provider_arn,
            conditions={
                # StringEquals on both claims: no wildcard can admit another repository,
                # a pull request or a job outside the listed environments.
                "StringEquals": {
                    f"{GITHUB_OIDC_ISSUER}:aud": STS_AUDIENCE,
                    f"{GITHUB_OIDC_ISSUER}:sub": settings.subjects,
                }
            },
        )


def verify_statements(inference_stacks: tuple[str, ...]) -> list[iam.PolicyStatement]:
    """What `python -m ops.verify --stack NAME [--model M]` calls (ops/aws.py, ops/targets.py),
    on the inference stacks of this account and region, and nothing more."""
    return [
        iam.PolicyStatement(
            sid="ReadInferenceStacks",  # outputs (ApiUrl, ApiAuth, per-model names), status
            actions=["cloudformation:DescribeStacks"],
            resources=[
                f"arn:{Aws.PARTITION}:cloudformation:{Aws.REGION}:{Aws.ACCOUNT_ID}:stack/{name}/*"
                for name in inference_stacks
            ],
        ),
        iam.PolicyStatement(
            # The `live` alias, the newest version and provisioned concurrency of every function
            # of these stacks (several with several models). The names are CloudFormation's
            # (stack name, logical id, random suffix, truncated to 64 characters): the stack's
            # tag identifies them where a name pattern might not.
            sid="ReadInferenceFunctions",
            actions=[
                "lambda:GetAlias",
                "lambda:ListProvisionedConcurrencyConfigs",
                "lambda:ListVersionsByFunction",
            ],
            resources=[f"arn:{Aws.PARTITION}:lambda:{Aws.REGION}:{Aws.ACCOUNT_ID}:function:*"],
            conditions={
                "StringEquals": {f"aws:ResourceTag/{STACK_NAME_TAG}": list(inference_stacks)}
            },
        ),
        iam.PolicyStatement(
            # verify lists `<stack>-*` metric and composite alarms; CloudWatch returns composite
            # alarms only to a DescribeAlarms permission on "*" (API reference, DescribeAlarms).
            # Alarm definitions and states: no data, nothing that changes anything.
            sid="ReadAlarms",
            actions=["cloudwatch:DescribeAlarms"],
            resources=["*"],
        ),
        iam.PolicyStatement(
            # An auth=iam stage answers a SigV4-signed request only with this. API ids are
            # generated when an inference stack is created, after this stack, so the scope is the
            # account, the region and the one stage those APIs have; every method and path on it,
            # because verify sends wrong methods and unknown paths on purpose (the 404 and 405
            # checks) and a model's routes sit under /models/<name>/.
            sid="CallInferenceApis",
            actions=["execute-api:Invoke"],
            resources=[
                f"arn:{Aws.PARTITION}:execute-api:{Aws.REGION}:{Aws.ACCOUNT_ID}:*/{API_STAGE}/*"
            ],
        ),
    ]


def _verify_acknowledgments(inference_stacks: tuple[str, ...]) -> list[Acknowledgment]:
    """cdk-nag's IAM5 (wildcard) findings on the verify role, one per resource it flags."""

    def iam5(resource: str, reason: str) -> Acknowledgment:
        return Acknowledgment(id=f"AwsSolutions-IAM5[Resource::{resource}]", reason=reason)

    def arn(service: str, resource: str) -> str:  # as cdk-nag renders the role's ARNs
        return f"arn:<AWS::Partition>:{service}:<AWS::Region>:<AWS::AccountId>:{resource}"

    return [
        *(
            iam5(
                arn("cloudformation", f"stack/{name}/*"),
                "A stack's ARN ends in the id CloudFormation gives it at creation; the name is "
                "fixed, and the only action is DescribeStacks.",
            )
            for name in inference_stacks
        ),
        iam5(
            arn("lambda", "function:*"),
            "Read-only alias, version and provisioned-concurrency calls, limited by the "
            f"{STACK_NAME_TAG} tag to the functions of the inference stacks, whose names "
            "CloudFormation generates.",
        ),
        iam5(
            "*",
            "cloudwatch:DescribeAlarms returns composite alarms only when granted on '*'; it "
            "reads alarm definitions and states and changes nothing.",
        ),
        iam5(
            arn("execute-api", f"*/{API_STAGE}/*"),
            "API ids are generated after this stack exists; the grant is the account's and "
            "region's $default stages, every route, as verify calls unknown routes on purpose.",
        ),
    ]
