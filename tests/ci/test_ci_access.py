"""The GitHub Actions roles (stacks/ci_access.py): exact trusts; the deploy role may only assume
the CDK roles, the verify role only read the inference stacks and call their APIs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk import App, Stack
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint

import app as cdk_entry
from ops import verify
from ops.targets import resolve_target
from stacks.ci_access import (
    API_STAGE,
    CONSTRUCT_ID,
    CiAccessError,
    CiAccessSettings,
    EnvironmentAccess,
    GitHubDeployAccessStack,
    ci_access_settings,
)
from stacks.settings import build_settings
from stacks.stack import InferenceStack
from tests.ops.fake_aws import REGION, deploy

REPO_ROOT = Path(__file__).resolve().parents[2]
# CDK's feature flags from cdk.json, none of its settings: these tests pin upstream defaults.
CDK_CONTEXT: dict[str, Any] = {
    key: value
    for key, value in json.loads((REPO_ROOT / "cdk.json").read_text())["context"].items()
    if key.startswith("@")
}
REPOSITORY = "octo-org/octo-repo"
ISSUER = "token.actions.githubusercontent.com"
WORKFLOW = ".github/workflows/aws-deploy.yml@refs/heads/main"
# Dev and prod in one account, each with a bootstrap of its own (what the stack requires).
QUALIFIERS = {"dev": "skdev", "prod": "skprod"}

pytestmark = pytest.mark.slow


def _one_account(context: dict[str, Any]) -> dict[str, Any]:
    """`context` with each environment's bootstrap_qualifier set, as cdk.json would set it."""
    environments = {
        name: {**(context.get("environments") or {}).get(name, {}), "bootstrap_qualifier": q}
        for name, q in QUALIFIERS.items()
    }
    return {**context, "environments": environments, "github_repository": REPOSITORY}


CONTEXT = _one_account(CDK_CONTEXT)
# Each environment's stack, as a deploy of it reads cdk.json.
STACKS = {name: build_settings({**CONTEXT, "env": name}).stack_name for name in QUALIFIERS}


def _subject(environment: str, repository: str = REPOSITORY) -> str:
    return f"repo:{repository}:environment:{environment}:job_workflow_ref:{REPOSITORY}/{WORKFLOW}"


def _bootstrap_role_arn(qualifier: str, name: str) -> dict[str, Any]:
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":iam::",
                {"Ref": "AWS::AccountId"},
                f":role/cdk-{qualifier}-{name}-role-",
                {"Ref": "AWS::AccountId"},
                "-",
                {"Ref": "AWS::Region"},
            ],
        ]
    }


def _arn(service: str, resource: str) -> dict[str, Any]:
    """An ARN in this stack's partition, region and account, as CDK renders it."""
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                f":{service}:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                f":{resource}",
            ],
        ]
    }


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> tuple[App, Path]:
    """The real app (app.build, cdk-nag included) with the GitHub context, synthesized once."""
    outdir = tmp_path_factory.mktemp("cdk-ci-access")
    app = App(context=CONTEXT, outdir=str(outdir))
    cdk_entry.build(app, environ={})
    app.synth()  # raises if cdk-nag reports an unacknowledged finding
    return app, outdir


@pytest.fixture(scope="module")
def template(synthesized: tuple[App, Path]) -> dict[str, Any]:
    _, outdir = synthesized
    return json.loads((outdir / f"{CONSTRUCT_ID}.template.json").read_text())


def _of_type(template: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == type_]


def _output(environment: str, role: str) -> str:
    return f"{environment.capitalize()}{role}RoleArn"


ROLES = [(env, role) for env in QUALIFIERS for role in ("Deploy", "Verify")]


def _role_id(template: dict[str, Any], output: str) -> str:
    """The logical id of the role an output names (never a hashed id typed by hand)."""
    role_id, attribute = template["Outputs"][output]["Value"]["Fn::GetAtt"]
    assert attribute == "Arn" and template["Resources"][role_id]["Type"] == "AWS::IAM::Role"
    return str(role_id)


def _statements(template: dict[str, Any], output: str) -> list[dict[str, Any]]:
    """Every statement of every policy attached to the role an output names."""
    role = {"Ref": _role_id(template, output)}
    policies = [
        p for p in _of_type(template, "AWS::IAM::Policy") if role in p["Properties"]["Roles"]
    ]
    return [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]


def test_default_app_has_no_deploy_access_stack():
    # The snapshots of the inference stacks and `make synth` stay as they were.
    app = App(context=CDK_CONTEXT)
    cdk_entry.build(app, environ={})
    stacks = [c.node.id for c in app.node.children if isinstance(c, Stack)]
    assert stacks == [build_settings(CDK_CONTEXT).stack_name]


@pytest.mark.parametrize(("environment", "role"), ROLES)
def test_each_role_trusts_one_environment_of_the_deploy_workflow_on_main(
    template, environment, role
):
    # The verify role is assumed from the OIDC token itself, never chained through the deploy
    # role: its trust names the GitHub provider and nothing else.
    resource = template["Resources"][_role_id(template, _output(environment, role))]
    (statement,) = resource["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    (provider_id,) = [
        k for k, v in template["Resources"].items() if v["Type"] == "AWS::IAM::OIDCProvider"
    ]
    assert statement == {
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Effect": "Allow",
        "Principal": {"Federated": {"Ref": provider_id}},
        "Condition": {
            "StringEquals": {
                f"{ISSUER}:aud": "sts.amazonaws.com",
                f"{ISSUER}:sub": _subject(environment),
            }
        },
    }


def test_every_role_has_only_the_policy_this_stack_writes(template):
    roles = _of_type(template, "AWS::IAM::Role")
    assert len(roles) == len(ROLES)
    for role in roles:
        assert "ManagedPolicyArns" not in role["Properties"]
        assert "Policies" not in role["Properties"]


def _store_read(sid: str, objects: str) -> dict[str, Any]:
    return {
        "Sid": sid,
        "Action": "s3:GetObject",
        "Condition": {"StringEquals": {"s3:ResourceAccount": {"Ref": "AWS::AccountId"}}},
        "Effect": "Allow",
        "Resource": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":s3:::{objects}"]]},
    }


@pytest.mark.parametrize("environment", QUALIFIERS)
def test_a_deploy_role_may_only_assume_its_own_environments_bootstrap_roles(template, environment):
    statement, stack, pointers = _statements(template, _output(environment, "Deploy"))
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Resource"] == [
        _bootstrap_role_arn(QUALIFIERS[environment], name)
        for name in ("deploy", "file-publishing", "image-publishing", "lookup")
    ]
    # ...and, for the app that `cdk deploy` runs with these credentials, read a store model's
    # pointer (app.py): its own stack's outputs, and pointer objects of this account only
    assert stack == {
        "Sid": "ReadOwnStackOutputs",
        "Action": "cloudformation:DescribeStacks",
        "Effect": "Allow",
        "Resource": _arn("cloudformation", f"stack/{STACKS[environment]}/*"),
    }
    assert pointers == _store_read("ReadStorePointers", "*/models/*/current.json")


@pytest.mark.parametrize("environment", QUALIFIERS)
def test_each_bootstrap_may_change_its_environments_stack_and_no_other(template, environment):
    # A bootstrap's deploy role may run CloudFormation on any stack of the account: the guard
    # keeps dev's bootstrap (all dev's deploy role can reach) off prod's stack, and the reverse.
    (guard,) = [
        p["Properties"]
        for p in _of_type(template, "AWS::IAM::ManagedPolicy")
        if _rendered_roles(p) == [f"cdk-{QUALIFIERS[environment]}-deploy-role-<account>-<region>"]
    ]
    (statement,) = guard["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert {"cloudformation:CreateChangeSet", "cloudformation:DeleteStack"} <= set(
        statement["Action"]
    )
    assert statement["NotResource"] == [
        _arn("cloudformation", f"stack/{STACKS[environment]}/*"),
        _arn("cloudformation", "changeSet/*"),
    ]


def _rendered_roles(policy: dict[str, Any]) -> list[str]:
    def text(part: Any) -> str:
        if isinstance(part, str):
            return part
        return {"AWS::AccountId": "<account>", "AWS::Region": "<region>"}[part["Ref"]]

    return ["".join(text(x) for x in role["Fn::Join"][1]) for role in policy["Properties"]["Roles"]]


def test_oidc_provider_accepts_the_sts_audience_and_outlives_the_stack(template):
    (provider,) = _of_type(template, "AWS::IAM::OIDCProvider")
    assert provider["Properties"]["Url"] == f"https://{ISSUER}"
    assert provider["Properties"]["ClientIdList"] == ["sts.amazonaws.com"]
    assert provider["DeletionPolicy"] == "Retain"


@pytest.mark.parametrize("environment", QUALIFIERS)
def test_a_verify_role_may_only_read_its_stack_and_call_the_apis(template, environment):
    stack = STACKS[environment]
    assert _statements(template, _output(environment, "Verify")) == [
        {
            "Sid": "ReadInferenceStacks",
            "Action": ["cloudformation:DescribeStacks", "cloudformation:ListStackResources"],
            "Effect": "Allow",
            "Resource": _arn("cloudformation", f"stack/{stack}/*"),
        },
        {
            "Sid": "ReadInferenceFunctions",
            "Action": ["lambda:GetAlias", "lambda:ListProvisionedConcurrencyConfigs"],
            "Effect": "Allow",
            "Resource": _arn("lambda", "function:*"),
            "Condition": {
                "StringEquals": {"aws:ResourceTag/aws:cloudformation:stack-name": [stack]}
            },
        },
        {
            "Sid": "ReadReleases",
            "Action": [
                "codedeploy:BatchGetDeploymentTargets",
                "codedeploy:GetDeployment",
                "codedeploy:GetDeploymentGroup",
                "codedeploy:ListDeploymentTargets",
            ],
            "Effect": "Allow",
            "Resource": _arn("codedeploy", "deploymentgroup:*"),
        },
        {
            "Sid": "ReadAlarms",
            "Action": "cloudwatch:DescribeAlarms",
            "Effect": "Allow",
            "Resource": "*",
        },
        {
            "Sid": "CallInferenceApis",
            "Action": "execute-api:Invoke",
            "Effect": "Allow",
            "Resource": _arn("execute-api", "*/$default/*"),
        },
        # A store model: its pointer, and the pointed version's manifest and reference
        _store_read("ReadModelStore", "*/models/*"),
    ]


def test_verify_role_names_the_stack_and_the_stage_the_inference_app_builds(synthesized, template):
    # The inference stack of the same app: its environment's verify role may read it by name,
    # and its API's only stage is the one the role may call.
    app, outdir = synthesized
    (inference,) = [c for c in app.node.children if isinstance(c, InferenceStack)]
    environment = build_settings(CONTEXT).env_name
    (read_stacks,) = [
        s
        for s in _statements(template, _output(environment, "Verify"))
        if s["Sid"] == "ReadInferenceStacks"
    ]
    assert read_stacks["Resource"] == _arn("cloudformation", f"stack/{inference.stack_name}/*")
    dev = json.loads((outdir / f"{inference.artifact_id}.template.json").read_text())
    stages = _of_type(dev, "AWS::ApiGatewayV2::Stage")
    assert [s["Properties"]["StageName"] for s in stages] == [API_STAGE]
    # ...and the stack deploys through its environment's bootstrap
    parameter = dev["Parameters"]["BootstrapVersion"]["Default"]
    assert parameter == f"/cdk-bootstrap/{QUALIFIERS[environment]}/version"


def test_verify_role_grants_exactly_the_aws_calls_ops_verify_makes(template, monkeypatch):
    # GIVEN an auth=iam prod stack in moto (tests/ops/fake_aws.py), every AWS call recorded
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    calls: set[str] = set()
    with mock_aws():
        deployment = deploy(
            boto3.Session(region_name=REGION),
            stack_name=STACKS["prod"],
            api_url="https://api.invalid/",
            api_auth="iam",
        )
        deployment.session.events.register(
            # before-parameter-build.<service>.<Operation>: for these services the IAM action
            "before-parameter-build",
            lambda event_name, **_: calls.add(":".join(event_name.split(".")[1:])),
        )
        # WHEN verify resolves the stack and runs its stack checks (tests/ops covers the HTTP ones)
        args = verify.build_parser().parse_args(["--stack", deployment.stack_name])
        target = resolve_target(args, session_factory=deployment.session_factory)
        failed = [r.name for r in verify.stack_checks(target) if not r.passed]
    # THEN it signed its requests (execute-api:Invoke) and called nothing prod's verify role
    # does not grant
    assert failed == []
    assert target.auth.name == "sigv4"
    granted = {
        action
        for statement in _statements(template, _output("prod", "Verify"))
        for action in (
            [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        )
    }
    # (s3:GetObject: only a store model's verify reads its store, ops/model_store.py)
    assert calls == granted - {"execute-api:Invoke", "s3:GetObject"}


@pytest.mark.parametrize(("environment", "role"), ROLES)
def test_role_arns_are_outputs_named_for_their_environment(template, environment, role):
    output = _output(environment, role)
    assert template["Outputs"][output]["Value"] == {
        "Fn::GetAtt": [_role_id(template, output), "Arn"]
    }
    variable = {"Deploy": "AWS_DEPLOY_ROLE_ARN", "Verify": "AWS_VERIFY_ROLE_ARN"}[role]
    assert template["Outputs"][output]["Description"] == (
        f"GitHub variable {variable} of environment {environment}"
    )


def test_cdk_nag_and_cfn_lint_find_nothing(synthesized):
    app, outdir = synthesized
    assert AwsSolutionsChecks().validate_scope(app).violations == []
    text = (outdir / f"{CONSTRUCT_ID}.template.json").read_text()
    assert [f"{m.rule.id} {m.message}" for m in lint(text, config=ManualArgs())] == []


def test_one_environment_per_account_needs_no_guard_and_may_share_the_default_bootstrap():
    # GIVEN prod alone in its account, which already trusts GitHub, with an immutable-id repository
    provider_arn = f"arn:aws:iam::123456789012:oidc-provider/{ISSUER}"
    settings = ci_access_settings(
        {
            "github_repository": "octo-org@59/octo-repo@1296",
            "github_environments": "prod",
            "github_oidc_provider_arn": provider_arn,
            "@aws-cdk/core:bootstrapQualifier": "team1",
        }
    )
    assert settings is not None
    stack = GitHubDeployAccessStack(App(), "Access", settings=settings)
    template = Template.from_stack(stack)
    # THEN no second provider, no guard on a bootstrap other apps of the account may share, and
    # both roles trust prod's subject only (job_workflow_ref names the repository by name)
    template.resource_count_is("AWS::IAM::OIDCProvider", 0)
    template.resource_count_is("AWS::IAM::ManagedPolicy", 0)
    assert len(template.find_resources("AWS::IAM::Role")) == 2
    template.all_resources_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [
                    Match.object_like(
                        {
                            "Principal": {"Federated": provider_arn},
                            "Condition": {
                                "StringEquals": {
                                    f"{ISSUER}:aud": "sts.amazonaws.com",
                                    f"{ISSUER}:sub": _subject("prod", "octo-org@59/octo-repo@1296"),
                                }
                            },
                        }
                    )
                ]
            }
        },
    )
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Resource": Match.array_with([_bootstrap_role_arn("team1", "deploy")])}
                        )
                    ]
                )
            }
        },
    )
    (env,) = settings.environments
    assert env.stack == build_settings({"env": "prod"}).stack_name


@pytest.mark.parametrize("shared", ["bootstrap_qualifier", "stack_name"])
def test_two_environments_sharing_a_bootstrap_or_a_stack_are_refused(shared):
    # One account, one bootstrap (or one stack) for both: dev's role could change prod's stack.
    context = {**CONTEXT, "environments": {n: {shared: "same"} for n in QUALIFIERS}}
    with pytest.raises(CiAccessError, match=r"dev and prod share the .* 'same' in this account"):
        ci_access_settings(context)


def test_the_default_context_in_one_account_says_how_to_separate_the_environments():
    with pytest.raises(CiAccessError, match=r"bootstrap_qualifier under environments\.<env>"):
        ci_access_settings({"github_repository": REPOSITORY})


def test_environments_follow_each_deploy_context():
    # GIVEN cdk.json renaming prod's stack, as a fork might
    renamed = {"prod": {"stack_name": "Iris-prod", "bootstrap_qualifier": QUALIFIERS["prod"]}}
    settings = ci_access_settings(
        {**CONTEXT, "environments": {**CONTEXT["environments"], **renamed}}
    )
    assert settings is not None
    # THEN each role serves the stack and bootstrap a deploy of its environment would use
    assert [(e.name, e.stack, e.qualifier) for e in settings.environments] == [
        ("dev", STACKS["dev"], QUALIFIERS["dev"]),
        ("prod", "Iris-prod", QUALIFIERS["prod"]),
    ]


def test_a_github_environment_that_is_not_a_deploy_environment_is_refused():
    # aws-deploy.yml deploys GitHub environment X as `make deploy-aws ENV=X`.
    with pytest.raises(CiAccessError, match="'staging'"):
        ci_access_settings({"github_repository": REPOSITORY, "github_environments": "staging"})


def test_settings_are_absent_without_a_repository():
    assert ci_access_settings({}) is None
    assert ci_access_settings({"github_repository": " "}) is None


def _env(name: str = "prod", stack: str = "Inference-prod", qualifier: str = "hnb659fds"):
    return EnvironmentAccess(name, stack, qualifier)


@pytest.mark.parametrize(
    "overrides",
    [
        {"repository": "octo-org"},  # no repository name
        {"repository": "octo-org/octo-repo/extra"},
        {"repository": "*/octo-repo"},  # a wildcard would trust other owners
        {"repository": "octo-org/*"},
        {"environments": ()},
        {"environments": (_env("prod:ref:refs/heads/main"),)},  # would forge a longer sub claim
        {"oidc_provider_arn": "arn:aws:iam::123456789012:oidc-provider/example.com"},
        {"environments": (_env(qualifier="Not-Valid"),)},
        {"environments": (_env(stack="SklearnInference-*"),)},  # would widen the verify role
        {"environments": (_env(stack="arn:aws:cloudformation:x"),)},
        {"environments": (_env("dev"), _env("prod", stack="Other"))},  # one bootstrap for both
    ],
)
def test_settings_reject_a_trust_that_could_admit_others(overrides):
    values: dict[str, Any] = {"repository": REPOSITORY, "environments": (_env(),), **overrides}
    with pytest.raises(CiAccessError):
        CiAccessSettings(**values)


def test_a_subject_pins_repository_environment_workflow_and_branch():
    settings = CiAccessSettings(repository=REPOSITORY, environments=(_env(),))
    assert settings.subject("prod") == (
        "repo:octo-org/octo-repo:environment:prod:job_workflow_ref:"
        "octo-org/octo-repo/.github/workflows/aws-deploy.yml@refs/heads/main"
    )


def test_the_stack_name_is_a_setting_and_make_finds_the_stack_by_its_construct_id():
    # GIVEN a fork that names the stack in its own way
    app = App(
        context={
            **CDK_CONTEXT,
            "github_repository": REPOSITORY,
            "github_environments": "prod",
            "github_deploy_stack_name": "Acme-github-deploy",
        }
    )
    cdk_entry.build(app, environ={})
    stack = app.node.find_child(CONSTRUCT_ID)
    assert isinstance(stack, Stack) and stack.stack_name == "Acme-github-deploy"
    # ...and `make deploy-ci-access` deploys it by that construct id, not by a stack name
    assert f"CI_ACCESS_STACK := {CONSTRUCT_ID}" in (REPO_ROOT / "Makefile").read_text()
