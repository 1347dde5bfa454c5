"""The identities GitHub Actions deploys and verifies with: an OIDC trust and, per environment, a
deploy role and a verify role.

Deployed once per AWS account and region by an administrator (`make deploy-ci-access
REPO=owner/name`), never by the workflows, which deploy only the inference stacks: who may deploy
changes through an administrator. `app.py` adds this stack only when the context holds
`github_repository`, so a plain `cdk synth` is unchanged.

Each GitHub environment (dev, prod) gets roles of its own, trusted by that environment's subject
alone; no credential a dev job obtains can reach prod:

- The deploy role may do one thing: `sts:AssumeRole` into the four roles its environment's
  `cdk bootstrap` created (deploy, file and image publishing, lookup). Everything a deploy does
  happens through those roles, which is what CDK is designed for.
- Dev and prod in one account therefore need a bootstrap each (`bootstrap_qualifier` per
  environment in cdk.json, `cdk bootstrap --qualifier`): with a shared one, dev's deploy role
  would assume the very roles prod deploys through. A stack for two environments refuses a
  shared qualifier. And because a bootstrap's deploy role may change any stack of the account
  (CloudFormation on `*`), this stack attaches a guard to each of them: it may create, update or
  delete no stack but its environment's. Dev's path cannot reach prod's stack, nor prod's assets
  bucket and image repository, which are the other bootstrap's.
- The verify role is what `make verify STACK=...` runs as after a deploy: it reads its
  environment's stack (outputs, status, resources, the release state of its functions and
  CodeDeploy groups, the alarms) and calls the API, which an `auth=iam` stage (prod's default)
  only answers for a caller with `execute-api:Invoke`. It is assumed straight from the OIDC token
  rather than chained through the deploy role, so the deploy role keeps its single permission
  and the checks hold nothing that could change the account.

The trust names the exact `sub` claim of one job: this repository, one environment, and the
deploy workflow file on `main` (`job_workflow_ref`), the way GCP's attribute condition pins the
branch. GitHub emits that claim once the repository's OIDC subject template includes
`job_workflow_ref` (README, "CI/CD"); a job of another branch or workflow, a pull request, or an
environment GitHub created on the fly gets a different subject and no credentials, whatever the
environments' protection rules in GitHub say.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
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
# Its construct id, fixed whatever its stack_name: `make deploy-ci-access` selects it by this.
CONSTRUCT_ID = "GitHubDeployAccess"
# The reusable workflow whose jobs deploy (its job_workflow_ref), and the branch it must run from.
DEPLOY_WORKFLOW = ".github/workflows/aws-deploy.yml"
DEPLOY_REF = "refs/heads/main"
# The only stage an inference stack's HTTP API has (stacks/api.py): what the verify role may call.
API_STAGE = "$default"
# CloudFormation tags every resource it creates with its stack's name; Lambda evaluates
# aws:ResourceTag on function actions, so this names "the functions of these stacks" whatever
# names CloudFormation generated for them (one per model, plus the release hooks).
STACK_NAME_TAG = "aws:cloudformation:stack-name"
# What a bootstrap's deploy role may no longer do to any stack but its environment's. Change sets
# are named as well as stacks: an action CloudFormation authorizes on the change set's ARN stays
# as it was, and no change set can be made for another stack (CreateChangeSet names the stack).
STACK_CHANGES = (
    "cloudformation:CancelUpdateStack",
    "cloudformation:ContinueUpdateRollback",
    "cloudformation:CreateChangeSet",
    "cloudformation:CreateStack",
    "cloudformation:DeleteChangeSet",
    "cloudformation:DeleteStack",
    "cloudformation:ExecuteChangeSet",
    "cloudformation:RollbackStack",
    "cloudformation:SetStackPolicy",
    "cloudformation:SignalResource",
    "cloudformation:UpdateStack",
    "cloudformation:UpdateTerminationProtection",
)

# `owner/name`, or the immutable form `owner@<owner id>/name@<repo id>` that repositories created
# or renamed since 15 July 2026 (or opted in) put in the sub claim. Use exactly what yours emits.
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
class EnvironmentAccess:
    """One GitHub environment: the inference stack it deploys and the bootstrap it deploys with."""

    name: str  # the GitHub environment, deployed as the CDK environment of the same name
    stack: str  # its stack_name
    qualifier: str = DEFAULT_QUALIFIER  # its bootstrap_qualifier, else cdk.json's

    @property
    def title(self) -> str:
        """`Dev`, `Prod`: the prefix of this environment's construct ids and outputs."""
        return self.name[:1].upper() + self.name[1:]


@dataclass(frozen=True)
class CiAccessSettings:
    """Who may deploy from GitHub Actions, read once from context by `app.py`."""

    repository: str  # context github_repository: owner/name as the sub claim spells it
    environments: tuple[EnvironmentAccess, ...]  # github_environments, with their stacks
    oidc_provider_arn: str | None = None  # github_oidc_provider_arn: reuse the account's provider
    stack_name: str = STACK_NAME  # github_deploy_stack_name

    def __post_init__(self) -> None:
        problems = []
        if not _REPOSITORY.fullmatch(self.repository):
            problems.append(
                f"github_repository must be owner/name (or owner@id/name@id), got "
                f"{self.repository!r}"
            )
        if not self.environments:
            problems.append("github_environments needs at least one GitHub environment")
        for env in self.environments:
            if not _ENVIRONMENT.fullmatch(env.name):
                problems.append(
                    f"GitHub environment {env.name!r}: use letters, digits, '.', '_' and '-' (a "
                    "':' could forge a longer sub claim)"
                )
            if not _STACK.fullmatch(env.stack):
                problems.append(
                    f"inference stack name {env.stack!r}: use letters, digits and '-', starting "
                    "with a letter"
                )
            if not _QUALIFIER.fullmatch(env.qualifier):
                problems.append(
                    f"the bootstrap qualifier of {env.name} must be 1-10 a-z0-9, got "
                    f"{env.qualifier!r}"
                )
        problems += _shared(self.environments)
        if self.oidc_provider_arn is not None and not _PROVIDER_ARN.fullmatch(
            self.oidc_provider_arn
        ):
            problems.append(
                "github_oidc_provider_arn must be the ARN of the account's "
                f"token.actions.githubusercontent.com provider, got {self.oidc_provider_arn!r}"
            )
        if problems:
            raise CiAccessError("invalid GitHub deploy access:\n  - " + "\n  - ".join(problems))

    def subject(self, environment: str) -> str:
        """The exact `sub` claim of a job of the deploy workflow on main, in `environment`, with
        the repository's subject template `repo`, `context`, `job_workflow_ref`."""
        workflow = re.sub(r"@\d+", "", self.repository)  # job_workflow_ref names the repository
        return (
            f"repo:{self.repository}:environment:{environment}"
            f":job_workflow_ref:{workflow}/{DEPLOY_WORKFLOW}@{DEPLOY_REF}"
        )

    @property
    def guarded(self) -> bool:
        """Several environments in one account: each bootstrap may change its stack alone."""
        return len(self.environments) > 1


def _shared(environments: tuple[EnvironmentAccess, ...]) -> list[str]:
    """Two environments of one account sharing a stack or a bootstrap cannot be kept apart."""
    problems = []
    for attribute, what, fix in (
        ("stack", "stack", "give each its own stack_name in cdk.json"),
        (
            "qualifier",
            "bootstrap qualifier",
            "give each its own bootstrap_qualifier under environments.<env> in cdk.json and run "
            "`npx cdk bootstrap --qualifier <q>` for each, or deploy this stack in each "
            "environment's own account with -c github_environments=<env>",
        ),
    ):
        seen: dict[str, str] = {}
        for env in environments:
            value = getattr(env, attribute)
            if value in seen:
                problems.append(
                    f"{seen[value]} and {env.name} share the {what} {value!r} in this account, "
                    f"so {seen[value]}'s deploy role could change {env.name}'s stack: {fix}"
                )
            seen.setdefault(value, env.name)
    return problems


def ci_access_settings(context: Mapping[str, Any]) -> CiAccessSettings | None:
    """The settings when the context asks for the stack (`-c github_repository=...`), else None."""
    repository = str(context.get("github_repository") or "").strip()
    if not repository:
        return None
    environments = context.get("github_environments") or "dev,prod"
    if isinstance(environments, str):
        environments = environments.split(",")
    names = tuple(dict.fromkeys(str(e).strip() for e in environments if str(e).strip()))
    return CiAccessSettings(
        repository=repository,
        environments=_environments(context, names),
        oidc_provider_arn=str(context.get("github_oidc_provider_arn") or "").strip() or None,
        stack_name=str(context.get("github_deploy_stack_name") or STACK_NAME).strip(),
    )


def _environments(
    context: Mapping[str, Any], names: tuple[str, ...]
) -> tuple[EnvironmentAccess, ...]:
    """Each environment's stack name and bootstrap qualifier, from the same context a deploy
    reads (cdk.json): the workflow deploys GitHub environment `prod` as
    `make deploy-aws ENV=prod`."""
    unknown = [name for name in names if name not in ENVIRONMENTS]
    if unknown:
        raise CiAccessError(
            f"GitHub environments {', '.join(map(repr, unknown))} are not deploy environments "
            f"({', '.join(ENVIRONMENTS)}): .github/workflows/aws-deploy.yml deploys each GitHub "
            "environment as the environment of the same name"
        )
    default_qualifier = str(context.get(QUALIFIER_CONTEXT_KEY) or DEFAULT_QUALIFIER)
    try:
        settings = [build_settings({**context, "env": name}) for name in names]
    except SettingsError as exc:
        raise CiAccessError(f"cannot tell the inference stacks' names: {exc}") from None
    return tuple(
        EnvironmentAccess(s.env_name, s.stack_name, s.bootstrap_qualifier or default_qualifier)
        for s in settings
    )


class GitHubDeployAccessStack(Stack):
    """The GitHub OIDC provider (or the account's existing one) and, per environment, a deploy
    role, a verify role and (with several environments) the guard on its bootstrap.

    Exposes `deploy_roles` and `verify_roles` (by environment) and `provider_arn`; outputs
    `<Env>DeployRoleArn` and `<Env>VerifyRoleArn`, the values of that GitHub environment's
    variables `AWS_DEPLOY_ROLE_ARN` and `AWS_VERIFY_ROLE_ARN`.
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

        self.deploy_roles: dict[str, iam.Role] = {}
        self.verify_roles: dict[str, iam.Role] = {}
        for env in settings.environments:
            self._environment(settings, env)
        CfnOutput(self, "OidcProviderArn", value=self.provider_arn)

    def _environment(self, settings: CiAccessSettings, env: EnvironmentAccess) -> None:
        trust = self._github_jobs(settings.subject(env.name))
        deploy = iam.Role(
            self,
            f"{env.title}DeployRole",
            description=f"GitHub Actions in {settings.repository}, environment {env.name}: "
            f"assume the CDK bootstrap roles of qualifier {env.qualifier}",
            assumed_by=trust,
        )
        deploy.add_to_principal_policy(
            iam.PolicyStatement(
                sid="AssumeCdkBootstrapRolesOnly",
                actions=["sts:AssumeRole"],
                resources=[
                    f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:role/"
                    + _bootstrap_role(env.qualifier, name)
                    for name in BOOTSTRAP_ROLES
                ],
            )
        )
        for statement in store_pointer_statements(env.stack):
            deploy.add_to_principal_policy(statement)
        Validations.of(deploy).acknowledge(
            _stack_acknowledgment(env.stack), _store_acknowledgment(POINTER_OBJECTS)
        )
        verify = iam.Role(
            self,
            f"{env.title}VerifyRole",
            description=f"GitHub Actions in {settings.repository}, environment {env.name}: "
            f"make verify STACK={env.stack} (read the stack, call its API)",
            assumed_by=trust,
        )
        for statement in verify_statements((env.stack,)):
            verify.add_to_principal_policy(statement)
        Validations.of(verify).acknowledge(
            *_verify_acknowledgments((env.stack,)), _store_acknowledgment(MODEL_OBJECTS)
        )
        if settings.guarded:
            self._guard(env)
        for output, role, variable in (
            ("DeployRoleArn", deploy, "AWS_DEPLOY_ROLE_ARN"),
            ("VerifyRoleArn", verify, "AWS_VERIFY_ROLE_ARN"),
        ):
            CfnOutput(
                self,
                env.title + output,
                value=role.role_arn,
                description=f"GitHub variable {variable} of environment {env.name}",
            )
        self.deploy_roles[env.name], self.verify_roles[env.name] = deploy, verify

    def _guard(self, env: EnvironmentAccess) -> None:
        """The environment's bootstrap deploy role may change no stack but the environment's."""
        bootstrap = iam.Role.from_role_name(
            self,
            f"{env.title}BootstrapDeployRole",
            _bootstrap_role(env.qualifier, "deploy"),
            mutable=False,
        )
        iam.CfnManagedPolicy(
            self,
            f"{env.title}BootstrapGuard",
            description=f"cdk bootstrap {env.qualifier}: change the stack {env.stack} and no other",
            roles=[bootstrap.role_name],
            policy_document=iam.PolicyDocument(
                statements=[
                    iam.PolicyStatement(
                        sid="OnlyThisEnvironmentsStack",
                        effect=iam.Effect.DENY,
                        actions=list(STACK_CHANGES),
                        not_resources=[
                            _arn("cloudformation", f"stack/{env.stack}/*"),
                            _arn("cloudformation", "changeSet/*"),
                        ],
                    )
                ]
            ).to_json(),
        )

    def _github_jobs(self, subject: str) -> iam.IPrincipal:
        """Jobs of the deploy workflow on main, in one environment of this repository."""
        return iam.WebIdentityPrincipal(
            self.provider_arn,
            conditions={
                # StringEquals on both claims: no wildcard can admit another repository, branch,
                # workflow, pull request or environment.
                "StringEquals": {
                    f"{GITHUB_OIDC_ISSUER}:aud": STS_AUDIENCE,
                    f"{GITHUB_OIDC_ISSUER}:sub": subject,
                }
            },
        )


def _bootstrap_role(qualifier: str, name: str) -> str:
    return f"cdk-{qualifier}-{name}-role-{Aws.ACCOUNT_ID}-{Aws.REGION}"


def _arn(service: str, resource: str) -> str:
    return f"arn:{Aws.PARTITION}:{service}:{Aws.REGION}:{Aws.ACCOUNT_ID}:{resource}"


# A store model's objects in any bucket of this account (stacks/model_store.py): the bucket's
# name is CloudFormation's, generated after this stack exists. Pointers alone for a deploy;
# every version's manifest and reference too for verify.
POINTER_OBJECTS = "*/models/*/current.json"
MODEL_OBJECTS = "*/models/*"


def _model_store_reads(sid: str, objects: str) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid=sid,
        actions=["s3:GetObject"],
        resources=[f"arn:{Aws.PARTITION}:s3:::{objects}"],
        conditions={"StringEquals": {"s3:ResourceAccount": Aws.ACCOUNT_ID}},
    )


def store_pointer_statements(stack: str) -> list[iam.PolicyStatement]:
    """What the CDK app reads at synth under `cdk deploy` (app.py, ops/model_store.py
    `stack_pointers`) when a model is a store model: the app runs with the job's own credentials,
    not a bootstrap role's, and must pin each store model's promoted version."""
    return [
        iam.PolicyStatement(
            sid="ReadOwnStackOutputs",
            actions=["cloudformation:DescribeStacks"],
            resources=[_arn("cloudformation", f"stack/{stack}/*")],
        ),
        _model_store_reads("ReadStorePointers", POINTER_OBJECTS),
    ]


def _stack_acknowledgment(stack: str) -> Acknowledgment:
    return Acknowledgment(
        id="AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudformation:<AWS::Region>:"
        f"<AWS::AccountId>:stack/{stack}/*]",
        reason="A stack's ARN ends in the id CloudFormation gives it at creation; the name is "
        "fixed, and the actions read its description and resources.",
    )


def _store_acknowledgment(objects: str) -> Acknowledgment:
    return Acknowledgment(
        id=f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{objects}]",
        reason="A store model's objects in this account's buckets (s3:ResourceAccount): the "
        "store bucket's name is generated by CloudFormation after this stack exists. Read only; "
        "model versions and pointers hold no secret.",
    )


def verify_statements(inference_stacks: tuple[str, ...]) -> list[iam.PolicyStatement]:
    """What `python -m ops.verify --stack NAME [--model M]` calls (ops/aws.py, ops/targets.py),
    on the inference stacks of this account and region, and nothing more."""
    return [
        iam.PolicyStatement(
            # outputs (ApiUrl, ApiAuth, per-model names), status, and the version each
            # function's AWS::Lambda::Version resource published: what `live` must serve
            sid="ReadInferenceStacks",
            actions=["cloudformation:DescribeStacks", "cloudformation:ListStackResources"],
            resources=[_arn("cloudformation", f"stack/{name}/*") for name in inference_stacks],
        ),
        iam.PolicyStatement(
            # The `live` alias (version, routing weights) and provisioned concurrency of every
            # function of these stacks (several with several models). The names are
            # CloudFormation's (stack name, logical id, random suffix, truncated to 64
            # characters): the stack's tag identifies them where a name pattern might not.
            sid="ReadInferenceFunctions",
            actions=["lambda:GetAlias", "lambda:ListProvisionedConcurrencyConfigs"],
            resources=[_arn("lambda", "function:*")],
            conditions={
                "StringEquals": {f"aws:ResourceTag/{STACK_NAME_TAG}": list(inference_stacks)}
            },
        ),
        iam.PolicyStatement(
            # The release of each model: its deployment group's last deployment, that
            # deployment's status and the version it shifts to. CloudFormation generates the
            # application and group names, after this stack exists: every group of the account
            # and region, read only.
            sid="ReadReleases",
            actions=[
                "codedeploy:BatchGetDeploymentTargets",
                "codedeploy:GetDeployment",
                "codedeploy:GetDeploymentGroup",
                "codedeploy:ListDeploymentTargets",
            ],
            resources=[_arn("codedeploy", "deploymentgroup:*")],
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
            resources=[_arn("execute-api", f"*/{API_STAGE}/*")],
        ),
        # A store model: the pointer, and the pointed version's manifest and reference
        _model_store_reads("ReadModelStore", MODEL_OBJECTS),
    ]


def _verify_acknowledgments(inference_stacks: tuple[str, ...]) -> list[Acknowledgment]:
    """cdk-nag's IAM5 (wildcard) findings on a verify role, one per resource it flags."""

    def iam5(resource: str, reason: str) -> Acknowledgment:
        return Acknowledgment(id=f"AwsSolutions-IAM5[Resource::{resource}]", reason=reason)

    def arn(service: str, resource: str) -> str:  # as cdk-nag renders the role's ARNs
        return f"arn:<AWS::Partition>:{service}:<AWS::Region>:<AWS::AccountId>:{resource}"

    return [
        *(_stack_acknowledgment(name) for name in inference_stacks),
        iam5(
            arn("lambda", "function:*"),
            "Read-only alias and provisioned-concurrency calls, limited by the "
            f"{STACK_NAME_TAG} tag to the functions of the inference stacks, whose names "
            "CloudFormation generates.",
        ),
        iam5(
            arn("codedeploy", "deploymentgroup:*"),
            "Read-only calls on CodeDeploy deployment groups, whose names CloudFormation "
            "generates when the inference stack is created: the last release's status and "
            "target version.",
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
