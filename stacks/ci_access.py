"""The identity GitHub Actions deploys with: an OIDC trust, and a role that only hands over to CDK.

Deployed once per AWS account and region by an administrator (`make deploy-ci-access
REPO=owner/name`), never by the workflows, which deploy only the inference stacks: who may deploy
changes through an administrator. `app.py` adds this stack only when the context holds
`github_repository`, so a plain `cdk synth` is unchanged.

The role may do one thing: `sts:AssumeRole` into the four roles `cdk bootstrap` created in this
account and region (deploy, file and image publishing, lookup). Everything a deploy does then
happens through those roles, which is what CDK is designed for. The trust accepts a GitHub OIDC
token only from a job of this repository that runs in one of the listed GitHub environments
(its `sub` claim is `repo:<owner>/<name>:environment:<environment>`); the environments' own
deployment-branch rule (main only) and required reviewers (prod) do the rest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import Aws, CfnOutput, RemovalPolicy, Stack, Tags
from aws_cdk import aws_iam as iam
from constructs import Construct

GITHUB_OIDC_URL = "https://token.actions.githubusercontent.com"
GITHUB_OIDC_ISSUER = "token.actions.githubusercontent.com"
STS_AUDIENCE = "sts.amazonaws.com"
DEFAULT_QUALIFIER = "hnb659fds"  # `cdk bootstrap`'s default; cdk.json may override it
QUALIFIER_CONTEXT_KEY = "@aws-cdk/core:bootstrapQualifier"  # the key CDK's synthesizer reads
BOOTSTRAP_ROLES = ("deploy", "file-publishing", "image-publishing", "lookup")
STACK_NAME = "SklearnInference-github-deploy"

# `owner/name`, or the immutable form `owner@<owner id>/name@<repo id>` that repositories created
# since 15 July 2026 (or opted in) put in the sub claim. Use exactly what yours emits.
_REPOSITORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}(?:@\d+)?/[A-Za-z0-9._-]{1,100}(?:@\d+)?$")
_ENVIRONMENT = re.compile(r"^[A-Za-z0-9._-]{1,255}$")
_PROVIDER_ARN = re.compile(
    r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/token\.actions\.githubusercontent\.com$"
)
_QUALIFIER = re.compile(r"^[a-z0-9]{1,10}$")


class CiAccessError(ValueError):
    """When the context describes a GitHub trust this stack cannot build safely"""


@dataclass(frozen=True)
class CiAccessSettings:
    """Who may deploy from GitHub Actions, read once from context by `app.py`."""

    repository: str  # context github_repository: owner/name as the sub claim spells it
    environments: tuple[str, ...] = ("dev", "prod")  # github_environments: comma-separated
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
    return CiAccessSettings(
        repository=repository,
        environments=tuple(str(e).strip() for e in environments if str(e).strip()),
        oidc_provider_arn=str(context.get("github_oidc_provider_arn") or "").strip() or None,
        qualifier=str(context.get(QUALIFIER_CONTEXT_KEY) or DEFAULT_QUALIFIER),
    )


class GitHubDeployAccessStack(Stack):
    """The GitHub OIDC provider (or the account's existing one) and the deploy role.

    Exposes `role` and `provider_arn`; outputs `DeployRoleArn` (the value of the GitHub
    variable `AWS_DEPLOY_ROLE_ARN`).
    """

    def __init__(
        self, scope: Construct, id: str, *, settings: CiAccessSettings, **kwargs: Any
    ) -> None:
        super().__init__(
            scope,
            id,
            stack_name=settings.stack_name,
            description=f"GitHub Actions deploy role for {settings.repository} (OIDC, no keys)",
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
            assumed_by=iam.WebIdentityPrincipal(
                self.provider_arn,
                conditions={
                    # StringEquals on both claims: no wildcard can admit another repository,
                    # a pull request or a job outside the listed environments.
                    "StringEquals": {
                        f"{GITHUB_OIDC_ISSUER}:aud": STS_AUDIENCE,
                        f"{GITHUB_OIDC_ISSUER}:sub": settings.subjects,
                    }
                },
            ),
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

        CfnOutput(
            self,
            "DeployRoleArn",
            value=self.role.role_arn,
            description="GitHub variable AWS_DEPLOY_ROLE_ARN (environments "
            + ", ".join(settings.environments)
            + ")",
        )
        CfnOutput(self, "OidcProviderArn", value=self.provider_arn)
